// `xsb kfd` on the emulator: version; snapshot, suspend (held) and resume of a real HIP
// workload process this test starts, observed in the device's own state; one-line errors.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { emuEnv } from '../src/env.js';
import { build, cli, emuDir, needBuilt, xsb } from './helpers.js';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface DevQueue {
  queue_id: number;
  flags: string[];
  suspend_count: number;
  resume_count: number;
}

async function deviceQueues(pid: number): Promise<DevQueue[]> {
  const s = await execa(join(build, 'bin', 'xsb-emu-ctl'), ['--dir', emuDir(), 'status']);
  const procs = (JSON.parse(s.stdout) as { processes: { pid: number; queues: DevQueue[] }[] }).processes;
  return procs.find((p) => p.pid === pid)?.queues ?? [];
}

function sysfsQueues(pid: number): number[] {
  const d = join(emuDir(), 'sysfs', 'class', 'kfd', 'kfd', 'proc', String(pid), 'queues');
  return existsSync(d) ? readdirSync(d).map(Number).sort((a, b) => a - b) : [];
}

async function until<T>(what: string, f: () => Promise<T | null> | T | null, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** A HIP workload on the emulator (2 streams + the runtime's utility queue = 3 queues). */
async function startWorkload(count: number): Promise<{ child: ChildProcess; pid: number; exit: Promise<number | null> }> {
  needBuilt('bin/xsb-workload', 'bin/xsb-emu-ctl', 'lib/libxsb_emu_kfd.so');
  const child = spawn(join(build, 'bin', 'xsb-workload'), ['--kernel-us', '10000', '--count', String(count), '--streams', '2'], {
    env: { ...process.env, ...emuEnv({ dir: emuDir() }) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  const exit = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  const pid = child.pid ?? 0;
  await until('the workload queues in sysfs', () => (sysfsQueues(pid).length >= 3 ? true : null));
  return { child, pid, exit };
}

describe('xsb kfd on the emulator', () => {
  it('version', async () => {
    const r = await xsb(['kfd', 'version', '--emulate', '--json', '-']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ backend: 'emu', major: 1, minor: 17, debug_api: true });
    const t = await xsb(['kfd', 'version', '--emulate']);
    expect(t.stdout).toMatch(/^KFD 1\.17 \(backend emu\); debugger API .*: yes$/m);
  });

  it("snapshot of the test's own child: the queues sysfs lists, the session closed again", async () => {
    const w = await startWorkload(400);
    const r = await xsb(['kfd', 'snapshot', '--emulate', '--pid', String(w.pid), '--json', '-']);
    expect(r.exitCode, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as { pid: number; total: number; queues: { queueId: number; ringSize: number; ringBase: string }[] };
    expect(snap.pid).toBe(w.pid);
    expect(snap.queues.map((q) => q.queueId).sort((a, b) => a - b)).toEqual(sysfsQueues(w.pid));
    expect(snap.queues.every((q) => /^0x[0-9a-f]+$/.test(q.ringBase) && q.ringSize > 0)).toBe(true);
    const s = await execa(join(build, 'bin', 'xsb-emu-ctl'), ['--dir', emuDir(), 'status']);
    const proc = (JSON.parse(s.stdout) as { processes: { pid: number; debug_trap_enabled: boolean }[] }).processes.find((p) => p.pid === w.pid);
    expect(proc?.debug_trap_enabled).toBe(false);
    const t = await xsb(['kfd', 'snapshot', '--emulate', '--pid', String(w.pid)]);
    expect(t.stdout).toMatch(new RegExp(`^pid ${w.pid}: 3 KFD queue\\(s\\)`, 'm'));
    w.child.kill('SIGTERM');
    await w.exit;
  });

  it('suspend holds the queues (device state) until `kfd resume`, with loud warnings; the work completes', async () => {
    const w = await startWorkload(150);
    const hold = spawn(process.execPath, [cli, 'kfd', 'suspend', '--emulate', '--pid', String(w.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(hold);
    let out = '';
    let err = '';
    hold.stdout.on('data', (d: Buffer) => (out += d.toString()));
    hold.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const holdExit = new Promise<number | null>((res) => hold.once('exit', (c) => res(c)));
    await until('the suspend report', () => (/WARNING: they are held/.test(err) ? true : null));
    expect(out).toMatch(new RegExp(`pid ${w.pid}: 3 queue\\(s\\) suspended`));
    expect(err).toMatch(/SUSPENDED.*BLOCKS until they are resumed/);
    expect(err).toMatch(/xsb kfd resume --pid/);
    const held = await deviceQueues(w.pid);
    expect(held).toHaveLength(3);
    for (const q of held) expect(q.flags, JSON.stringify(q)).toContain('suspended');

    const r = await xsb(['kfd', 'resume', '--emulate', '--pid', String(w.pid)]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/resumed its queues/);
    expect(await holdExit).toBe(0);
    expect(err).toMatch(/resumed 3 queue\(s\)/);
    for (const q of await deviceQueues(w.pid)) {
      expect(q.flags).not.toContain('suspended');
      expect(q.resume_count).toBeGreaterThanOrEqual(1);
    }
    expect(await w.exit).toBe(0);
  });

  it('--hold-ms resumes by itself; a direct resume without a holder works', async () => {
    // long enough (5 s of 10 ms kernels) to outlive two CLI starts on a loaded 2-core machine
    const w = await startWorkload(500);
    const r = await xsb(['kfd', 'suspend', '--emulate', '--pid', String(w.pid), '--hold-ms', '200', '--grace', '0']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resumed 3 queue\(s\) .*hold time over/);
    const d = await xsb(['kfd', 'resume', '--emulate', '--pid', String(w.pid), '--json', '-']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect((JSON.parse(d.stdout) as { statuses: unknown[] }).statuses).toHaveLength(3);
    expect(await w.exit).toBe(0);
  });

  it('errors are one line with the fix, no stack without --verbose', async () => {
    const gone = await xsb(['kfd', 'snapshot', '--emulate', '--pid', '999999999']);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toMatch(/^xsched-bridge: no process with pid 999999999; /);
    // a live process with no KFD process: the library's diagnosis reaches the user
    const sleeper = spawn('sleep', ['30']);
    children.push(sleeper);
    const r = await xsb(['kfd', 'snapshot', '--emulate', '--pid', String(sleeper.pid)]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^xsched-bridge: DBG_TRAP ENABLE on pid \d+ failed \(E[A-Z]+\); .+/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const v = await xsb(['--verbose', 'kfd', 'snapshot', '--emulate', '--pid', String(sleeper.pid)]);
    expect(v.stderr).toMatch(/\n\s+at /);
    sleeper.kill();
    const bad = await xsb(['kfd', 'suspend', '--emulate', '--pid', '1', '--queues', '1,x']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
