// A shim's shared-memory control block corrupted while it runs (written by this test through
// the block's shm object, as another writer could): words that hold impossible values are not
// trusted. An invalid gate opens (the shim fails open rather than wait on garbage); a lease
// deadline beyond the maximum releases the held queues at once instead of extending the hold;
// a header that no longer checks out makes the coordinator drop the block (and the connection).
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client, connectFake, Coord, deviceTestDir, emuQueues, engine, fakeShim, query, REQ_HOLD, startWorkload, until, workloadResult as result } from './coordinator-harness.js';

const dir = deviceTestDir('xsb-fault-ctrl-');

const OFF_GATE = 32;
const OFF_SUSPEND_REQ = 36;
const OFF_LEASE = 56;
const CTRL_MAGIC = 0x4c544358;
const GATE_GARBAGE = 0xdeadbeef;

const workload = (socket: string, args: string[]) => startWorkload({ dir, socket, cls: 'offline', args, env: { XSB_LOG: 'warn' } });

const held = async (pid: number): Promise<boolean> => (await emuQueues(pid)).some((q) => q.flags.includes('suspended'));

/** The shm object behind the shim's current control block (its /dev/shm name is unlinked once
 * the coordinator attached, so it is reached through /proc/<pid>/map_files). */
function blockPath(pid: number): string {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  const own = maps.filter((l) => new RegExp(`/dev/shm/xsb-\\d+-${pid}-[0-9a-f]+`).test(l));
  const last = own[own.length - 1];
  if (last === undefined) throw new Error(`pid ${pid} maps no control block`);
  return `/proc/${pid}/map_files/${last.split(' ')[0]}`;
}

/** The /dev/shm name of the shim's current control block (each attachment has its own). */
function blockName(pid: number): string {
  const m = readFileSync(`/proc/${pid}/maps`, 'utf8').match(new RegExp(`/dev/shm(/xsb-\\d+-${pid}-[0-9a-f]+)`, 'g'));
  const last = m?.[m.length - 1];
  if (last === undefined) throw new Error(`pid ${pid} maps no control block`);
  return last.slice('/dev/shm'.length);
}

function poke(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

/** A coordinator, a real offline program attached, and a fake online one busy on its GPU. */
async function setup(name: string, args: string[], wargs: string[]) {
  const socket = join(dir, `${name}.sock`);
  const coord = await Coord.start(socket, args);
  const off = workload(socket, wargs);
  const entry = await until('the offline program attached with its queues', async () => (await query(socket)).processes.find((p) => p.pid === off.pid && p.queues.length > 0), 15_000, 10);
  const on = fakeShim('online', { gpus: entry.gpus });
  const conn: Client = await connectFake(socket, on);
  const cleanup = async () => {
    off.proc.kill('SIGKILL');
    conn.end();
    coord.proc.kill('SIGKILL');
    await coord.exited;
    on.remove();
  };
  return { socket, coord, off, on, cleanup };
}

describe('a corrupted control block', () => {
  it('invalid gate value while the launching thread waits at a closed gate: the shim fails open and finishes', async () => {
    const s = await setup('gate', ['--policy', 'lv1'], ['--kernel-us', '5000', '--count', '200']);
    try {
      s.on.set('activity', 1); // busy for the whole test: the gate would stay closed
      const blocked = await until(
        'the offline launcher waiting at the closed gate',
        async () => (await query(s.socket)).processes.find((p) => p.pid === s.off.pid && p.gate === 'closed' && p.counters['gated_waits']! >= 1),
        10_000,
        5,
      );
      expect(blocked.counters['launches']!).toBeLessThan(200);
      poke(blockPath(s.off.pid), OFF_GATE, u32(GATE_GARBAGE));
      // nothing opens the gate but the garbage: the program completes anyway
      expect(await s.off.done).toBe(0);
      const r = result(s.off);
      expect(r.kernels_completed).toBe(r.kernels_expected);
      expect(s.off.stderr()).toMatch(/gate word holds 0xdeadbeef, neither OPEN nor CLOSED: failing open/);
    } finally {
      await s.cleanup();
    }
  });

  it('the coordinator reports the invalid gate and the shim counts it as an error', async () => {
    const s = await setup('gate2', ['--policy', 'lv1'], ['--kernel-us', '5000', '--count', '400']);
    try {
      s.on.set('activity', 1);
      await until('the gate closed', async () => (await query(s.socket)).processes.find((p) => p.pid === s.off.pid && p.gate === 'closed' && p.counters['gated_waits']! >= 1), 10_000, 5);
      poke(blockPath(s.off.pid), OFF_GATE, u32(GATE_GARBAGE));
      const p = await until('launches past the garbage', async () => (await query(s.socket)).processes.find((x) => x.pid === s.off.pid && x.counters['errors']! >= 1), 5000, 5);
      expect(p.gate).toBe('invalid');
      expect(p.engine.gate_closed).toBe(true); // the coordinator's decision stands; the word is what is not trusted
    } finally {
      await s.cleanup();
    }
  });

  it('a lease deadline beyond the maximum while held by a frozen coordinator: released at once, not extended', async () => {
    const LEASE = 20_000; // the honest lease would hold the queues 20 s
    const s = await setup('lease', ['--policy', 'suspend', '--hysteresis-us', '10000000', '--lease-ms', String(LEASE)], ['--kernel-us', '10000', '--count', '100']);
    try {
      s.on.set('activity', 1);
      await until('the offline queues suspended in the device', () => held(s.off.pid), 10_000, 5);
      s.coord.proc.kill('SIGSTOP'); // no renewal, no socket close: only the lease can release
      const t0 = Date.now();
      const deadline = Buffer.alloc(8);
      deadline.writeBigUInt64LE(BigInt(engine.monoNs()) + 3600n * 1_000_000_000n);
      poke(blockPath(s.off.pid), OFF_LEASE, deadline);
      await until('the offline queues resumed', async () => !(await held(s.off.pid)), 5000, 5);
      const dt = Date.now() - t0;
      process.stdout.write(`corrupt lease deadline: released ${dt} ms after the write (lease ${LEASE} ms)\n`);
      expect(dt).toBeLessThan(2000);
      expect(s.off.stderr()).toMatch(/lease deadline in the control block is corrupt/);
      expect(await s.off.done).toBe(0);
      expect(result(s.off).kernels_completed).toBe(100);
    } finally {
      s.coord.proc.kill('SIGCONT');
      await s.cleanup();
    }
  });

  // The engine re-checks every attached block's header (magic, version, size, FNV sum, pid) at
  // each step: every lease/4 with the renewal, and after every doorbell before acting on it.
  it('a header corrupted while attached: dropped within lease/4 and never written again; the shim fails open, re-attaches with a new block and finishes', async () => {
    const LEASE = 1000;
    const s = await setup('header', ['--policy', 'suspend', '--hysteresis-us', '20000', '--lease-ms', String(LEASE)], ['--kernel-us', '5000', '--count', '600']);
    let oldFd: number | undefined;
    try {
      const first = await s.coord.waitFor('the offline attachment', (e) => e.event === 'attached' && e['pid'] === s.off.pid);
      // held on the strength of this block: the engine would post RUN into it when it lets go
      s.on.set('activity', 1);
      await until('the offline queues suspended in the device', () => held(s.off.pid), 10_000, 5);
      const path = blockPath(s.off.pid);
      expect(blockName(s.off.pid)).toBe(first['shm']);
      oldFd = openSync(path, 'r'); // the old block stays readable after everyone unmapped it
      const word = (off: number) => {
        const b = Buffer.alloc(4);
        readSync(oldFd!, b, 0, 4, off);
        return b.readUInt32LE(0);
      };
      expect(word(OFF_SUSPEND_REQ)).toBe(REQ_HOLD);
      const t0 = engine.monoNs();
      poke(path, 0, u32(0x41414141)); // magic
      const ev = await s.coord.waitFor('the block no longer trusted', (e) => e.event === 'untrusted' && e['pid'] === s.off.pid, 5000);
      const detectMs = ((ev['t'] as number) - t0) / 1e6;
      process.stdout.write(`corrupt header: dropped ${detectMs.toFixed(1)} ms after the write (lease/4 = ${LEASE / 4} ms)\n`);
      expect(detectMs).toBeLessThanOrEqual(LEASE / 4 + 30); // one renewal period, plus a late wakeup
      expect(ev['conn']).toBe(first['conn']);
      expect(ev['shm']).toBe(first['shm']);
      expect(ev.msg).toMatch(/wrong magic 0x41414141/);
      const gone = await s.coord.waitFor('the untrusted connection closed', (e) => e.event === 'detached' && e['conn'] === first['conn']);
      expect(String(gone['reason'])).toMatch(/control block no longer trusted/);
      expect(s.coord.find((e) => e.event === 'rejected' && e['pid'] === s.off.pid)).toBeUndefined();
      // nothing written to it after the check failed: no RUN posted (a detach would post one), no gate
      expect(s.coord.events.filter((e) => (e.event === 'request' || e.event === 'gate') && e['conn'] === first['conn'] && (e['t'] as number) >= (ev['t'] as number))).toEqual([]);
      expect(word(OFF_SUSPEND_REQ)).toBe(REQ_HOLD);
      // the shim released itself (fail-open on the closed socket) and came back with a new block
      const again = await s.coord.waitFor('the offline re-attached', (e) => e.event === 'attached' && e['pid'] === s.off.pid && e['conn'] !== first['conn'], 5000);
      expect(again['shm']).not.toBe(first['shm']);
      expect(s.off.stderr()).toMatch(/coordinator closed the connection: releasing queues, opening the gate, continuing alone/);
      expect(blockName(s.off.pid)).toBe(again['shm']);
      expect(readFileSync(blockPath(s.off.pid)).readUInt32LE(0)).toBe(CTRL_MAGIC);
      // the new block is trusted and used: one entry for the pid, held again while online is busy
      const entry = await until(
        'the re-attached offline held again',
        async () => {
          const ps = (await query(s.socket)).processes.filter((p) => p.pid === s.off.pid);
          return ps.length === 1 && ps[0]!.exec_state === 'held' && ps[0]!.engine.hold ? ps : undefined;
        },
        10_000,
        10,
      );
      expect((entry[0] as unknown as { untrusted: string | null }).untrusted).toBeNull();
      expect(entry[0]!.queues.length).toBeGreaterThan(0);
      s.on.set('activity', 0);
      expect(await s.off.done).toBe(0);
      expect(result(s.off).kernels_completed).toBe(600);
    } finally {
      if (oldFd !== undefined) closeSync(oldFd);
      await s.cleanup();
    }
  });
});
