// `xsb run`: exit codes, signal forwarding, LD_PRELOAD composition (shim first, the emulator's
// interposer last), one-line argument errors, and a shimmed workload on the emulator whose
// queues carry the class priority in the device's own state.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { defaultSocketPath as coordinatorDefault } from '../src/socket-path.js';
import { build, cli, emuDir, needBuilt, xsb } from './helpers.js';

const shim = join(build, 'lib', 'libxsb_hip.so');
const emuKfd = join(build, 'lib', 'libxsb_emu_kfd.so');
const libm = '/lib/x86_64-linux-gnu/libm.so.6';

function oneLineError(stderr: string): void {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^xsched-bridge: .+; .+/);
  expect(stderr).not.toMatch(/\n\s+at /);
}

/** Starts `xsb run ...`, resolving once the program printed `ready`. */
async function startRun(args: string[]) {
  const child = spawn(process.execPath, [cli, 'run', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const rl = createInterface({ input: child.stdout });
  const ready = new Promise<void>((res, rej) => {
    rl.on('line', (l) => {
      out.push(l);
      if (l === 'ready') res();
    });
    child.once('exit', (c) => rej(new Error(`exited (${c}) before ready: ${err}`)));
  });
  const exit = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  await ready;
  return { child, out, exit, stderr: () => err };
}

describe('xsb run', () => {
  it("returns the program's exit code, and 128+signal when it is killed", async () => {
    expect((await xsb(['run', '--quiet', '--', 'sh', '-c', 'exit 7'])).exitCode).toBe(7);
    expect((await xsb(['run', '--quiet', '--', 'true'])).exitCode).toBe(0);
    expect((await xsb(['run', '--quiet', '--', 'sh', '-c', 'kill -KILL $$'])).exitCode).toBe(137);
  });

  it('forwards SIGTERM and SIGUSR1 to the program', async () => {
    // The loop of short sleeps lets the shell run its traps promptly.
    const script = `trap 'echo got USR1' USR1; trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.02; done`;
    const r = await startRun(['--', 'bash', '-c', script]);
    r.child.kill('SIGUSR1');
    for (let i = 0; i < 250 && !r.out.includes('got USR1'); i++) await delay(20);
    expect(r.out).toContain('got USR1');
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(42);
    expect(r.out).toContain('got TERM');
    expect(r.stderr()).toBe('');
  });

  it('composes LD_PRELOAD with the shim first and sets the shim environment', async () => {
    const show = ['--', 'sh', '-c', 'printf "%s\\n" "$LD_PRELOAD" "$XSB_CLASS" "$XSB_PRIORITY" "$XSB_MECHANISM" "$XSB_SOCKET"'];
    const r = await xsb(['run', '--quiet', '--emulate', '--class', 'offline', '--priority', '3', '--mechanism', 'deactivate', '--socket', '/tmp/x.sock', ...show], {
      LD_PRELOAD: `${libm} ${shim}`,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const [preload, cls, prio, mech, sock] = r.stdout.split('\n');
    // the user's entries keep their order, no duplicate shim, the emulator's /dev/kfd last
    expect(preload?.split(':')).toEqual([shim, libm, emuKfd]);
    expect([cls, prio, mech, sock]).toEqual(['offline', '3', 'deactivate', '/tmp/x.sock']);

    // without options: the environment's class stays, XSB_SOCKET gets the shared default
    const d = await xsb(['run', '--quiet', ...show], { XSB_CLASS: 'online', XSB_SOCKET: undefined, XDG_RUNTIME_DIR: '/run/user/4242', LD_PRELOAD: undefined });
    const lines = d.stdout.split('\n');
    expect(lines[0]?.split(':')[0]).toBe(shim);
    expect(lines[1]).toBe('online');
    // the one default the coordinator also listens on: /run as root, else XDG
    const uid = process.getuid?.() ?? -1;
    expect(lines[4]).toBe(uid === 0 ? '/run/xsched-bridge/coordinator.sock' : '/run/user/4242/xsched-bridge/coordinator.sock');
    expect(lines[4]).toBe(coordinatorDefault({ XDG_RUNTIME_DIR: '/run/user/4242' }));
  });

  it('rejects bad arguments with one line and a non-zero exit', async () => {
    for (const args of [
      ['--class', 'batch', '--', 'true'],
      ['--priority', '16', '--class', 'online', '--', 'true'],
      ['--priority', '3', '--', 'true'],
      ['--mechanism', 'freeze', '--', 'true'],
    ]) {
      const r = await xsb(['run', ...args], { XSB_CLASS: undefined });
      expect(r.exitCode, args.join(' ')).not.toBe(0);
      oneLineError(r.stderr);
    }
    const bad = await xsb(['run', '--quiet', '--', 'sh'], { XSB_CLASS: 'sometimes' });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/XSB_CLASS "sometimes"/);
    const missing = await xsb(['run', '--quiet', '--', '/nonexistent/prog']);
    expect(missing.exitCode).toBe(127);
    oneLineError(missing.stderr);
    expect(missing.stderr).toMatch(/command not found: \/nonexistent\/prog/);
    const verbose = await xsb(['--verbose', 'run', '--quiet', '--', '/nonexistent/prog']);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });

  it("a shimmed workload on the emulator: its queues carry the class priority", async () => {
    needBuilt('lib/libxsb_hip.so', 'bin/xsb-workload', 'bin/xsb-emu-ctl', 'lib/libxsb_emu_kfd.so');
    const workload = join(build, 'bin', 'xsb-workload');
    const ctl = join(build, 'bin', 'xsb-emu-ctl');
    interface Q {
      queue_id: number;
      priority: number;
    }
    interface P {
      pid: number;
      queues: Q[];
    }
    const deviceQueues = async (pid: number): Promise<Q[] | null> => {
      const s = await execa(ctl, ['--dir', emuDir(), 'status'], { reject: false });
      if (s.exitCode !== 0) return null;
      const procs = (JSON.parse(s.stdout) as { processes: P[] }).processes;
      return procs.find((p) => p.pid === pid)?.queues ?? null;
    };
    for (const [args, want] of [
      [['--class', 'offline'], 2],
      [['--class', 'online'], 15],
      [['--class', 'offline', '--priority', '5'], 5],
    ] as const) {
      const child = spawn(process.execPath, [cli, 'run', '--quiet', '--emulate', ...args, '--', workload, '--kernel-us', '20000', '--count', '60', '--streams', '2'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exit = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
      // the workload is run's child: find it, then its queues in the device's state
      let seen: Q[] | null = null;
      for (let i = 0; i < 300 && seen === null; i++) {
        const kids = await execa('pgrep', ['-P', String(child.pid), '-x', 'xsb-workload'], { reject: false });
        const pid = Number(kids.stdout.trim().split('\n')[0]);
        if (pid > 0) {
          const qs = await deviceQueues(pid);
          // 2 streams + the runtime's utility queue
          if (qs !== null && qs.length >= 3) seen = qs;
        }
        if (seen === null) await delay(20);
      }
      expect(seen, `no queues seen for ${args.join(' ')}: ${err}`).not.toBeNull();
      for (const q of seen ?? []) expect(q.priority, `${args.join(' ')} queue ${q.queue_id}`).toBe(want);
      expect(await exit, err).toBe(0);
    }
  });
});
