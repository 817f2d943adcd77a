// Permissions: the coordinator's socket (and its directory) and every shim control block in
// /dev/shm are never writable by others, with and without --group, even when the programs run
// under umask 000. Modes are sampled the whole time the shimmed programs run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevice } from '../src/emu.js';
import { buildDir } from '../src/paths.js';
import { bin, connectFake, Coord, fakeShim, query, until } from './coordinator-harness.js';
import { emuDir } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'xsb-perm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await startDevice({ dir: emuDir() });
});

/** A shimmed workload started under umask 000: whatever it creates gets the mode it asks for. */
function workload(cls: 'online' | 'offline', socket: string, args: string[]): { proc: ChildProcess; done: Promise<number | null> } {
  const b = buildDir();
  const proc = spawn('/bin/sh', ['-c', 'umask 000; exec "$0" "$@"', bin('xsb-workload'), ...args], {
    env: {
      ...process.env,
      LD_PRELOAD: `${join(b, 'lib', 'libxsb_hip.so')} ${join(b, 'lib', 'libxsb_emu_kfd.so')}`,
      LD_LIBRARY_PATH: join(b, 'lib', 'emu'),
      XSB_EMU_DIR: emuDir(),
      XSB_SYSFS_ROOT: join(emuDir(), 'sysfs'),
      XSB_SOCKET: socket,
      XSB_CLASS: cls,
    },
    stdio: 'ignore',
  });
  return { proc, done: new Promise((r) => proc.on('exit', (code) => r(code))) };
}

const WORLD_W = 0o002;

interface Seen {
  name: string;
  mode: number;
  uid: number;
}

/** Control blocks the processes map, whether or not their /dev/shm name is still linked (a
 * shim unlinks it once the coordinator has attached): stat through /proc/<pid>/map_files. */
function blocksOf(pids: number[]): Seen[] {
  const out: Seen[] = [];
  for (const pid of pids) {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      continue; // exited
    }
    for (const l of maps.split('\n')) {
      const m = /^([0-9a-f]+-[0-9a-f]+) \S+ \S+ \S+ \S+\s+\/dev\/shm\/(xsb-\S+)/.exec(l);
      if (m === null) continue;
      try {
        const st = statSync(`/proc/${pid}/map_files/${m[1]}`);
        out.push({ name: `${pid}:${m[2]}`, mode: st.mode & 0o7777, uid: st.uid });
      } catch {
        // unmapped meanwhile
      }
    }
  }
  return out;
}

async function checkRun(socket: string, extra: string[]): Promise<{ socketMode: number; dirMode: number; socketGid: number; blocks: Map<string, number> }> {
  const coord = await Coord.start(socket, ['--policy', 'hybrid', '--hysteresis-us', '20000', ...extra]);
  const st = statSync(socket);
  const dst = statSync(join(socket, '..'));
  const off = workload('offline', socket, ['--kernel-us', '5000', '--count', '150']);
  const on = workload('online', socket, ['--kernel-us', '1000', '--count', '40', '--period-ms', '50', '--requests', '20', '--kernels-per-request', '2']);
  const pids = [off.proc.pid!, on.proc.pid!];
  const mapping = [...pids, coord.proc.pid!];
  const blocks = new Map<string, number>();
  try {
    await until('both programs attached', async () => (await query(socket)).processes.filter((p) => pids.includes(p.pid)).length === 2, 15_000, 20);
    let running = 2;
    void off.done.then(() => running--);
    void on.done.then(() => running--);
    // sampled while they run: a block never changes to a looser mode
    while (running > 0) {
      for (const b of blocksOf(mapping)) {
        blocks.set(b.name, blocks.get(b.name) ?? b.mode);
        expect(b.mode & WORLD_W, `${b.name} mode ${b.mode.toString(8)}`).toBe(0);
        expect(b.mode, `${b.name} mode ${b.mode.toString(8)}`).toBe(0o600);
        expect(b.uid).toBe(process.getuid!());
      }
      expect(statSync(socket).mode & WORLD_W).toBe(0);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await off.done).toBe(0);
    expect(await on.done).toBe(0);
  } finally {
    off.proc.kill('SIGKILL');
    on.proc.kill('SIGKILL');
    await coord.stop();
  }
  return { socketMode: st.mode & 0o7777, dirMode: dst.mode & 0o7777, socketGid: st.gid, blocks };
}

describe('modes of the socket and the control blocks', () => {
  it('default: socket 0600 in a 0700 directory; every control block 0600 (programs under umask 000)', async () => {
    const r = await checkRun(join(dir, 'default', 'c.sock'), []);
    expect(r.socketMode).toBe(0o600);
    expect(r.dirMode).toBe(0o700);
    // one block per attached program at least (the coordinator maps the same ones)
    expect(r.blocks.size).toBeGreaterThanOrEqual(2);
    process.stdout.write(`default: socket ${r.socketMode.toString(8)}, dir ${r.dirMode.toString(8)}, blocks ${[...r.blocks.values()].map((m) => m.toString(8)).join(' ')}\n`);
  });

  it('--group: socket 0660 owned by the group in a 0750 directory; control blocks still 0600', async () => {
    const r = await checkRun(join(dir, 'group', 'c.sock'), ['--group', 'nogroup']);
    expect(r.socketMode).toBe(0o660);
    expect(r.socketGid).toBe(65534);
    expect(r.dirMode).toBe(0o750);
    expect(r.dirMode & WORLD_W).toBe(0);
    expect(r.blocks.size).toBeGreaterThanOrEqual(2);
  });

  it('the coordinator refuses a control block others can write, even with --group', async () => {
    // --group lets the group write blocks, never everybody
    const socket = join(dir, 'ww', 'c.sock');
    const coord = await Coord.start(socket, ['--group', 'nogroup']);
    const bad = fakeShim('offline', { mode: 0o606 });
    const groupOk = fakeShim('offline', { mode: 0o660 });
    try {
      await expect(connectFake(socket, bad)).rejects.toThrow(/closed the fake shim/);
      expect(coord.find((e) => e['reason'] === 'untrusted')?.msg).toMatch(/mode 0606 \(writable by others\)/);
      const c = await connectFake(socket, groupOk);
      c.end();
    } finally {
      bad.remove();
      groupOk.remove();
      await coord.stop();
    }
  });
});
