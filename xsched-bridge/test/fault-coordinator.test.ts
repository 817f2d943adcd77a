// Faults of the coordinator, with real processes on the emulated GPU: SIGKILL while the offline
// process is held (XSB_KILL_TRIALS trials, 10 by default; `npm run soak` runs 100), and a
// restart while the programs run (the shims reconnect and the new coordinator re-learns them).
// Held/released is read where it happens: the queues' flags in the emulated device.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anyHeld as held, connectFake, Coord, deviceTestDir, emuQueues, fakeShim, query, startWorkload, until, workloadResult as result, type Workload } from './coordinator-harness.js';

const TRIALS = Number(process.env['XSB_KILL_TRIALS'] ?? 10);
const dir = deviceTestDir('xsb-fault-coord-');
const workload = (cls: 'online' | 'offline', socket: string, args: string[]): Workload =>
  startWorkload({ dir, socket, cls, args, reportExit: (code) => code !== 0 });

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

describe(`coordinator SIGKILL while the offline process is held (${TRIALS} trials)`, () => {
  const LEASE = 1000;
  const releaseMs: number[] = [];

  it(`every trial: released within the ${LEASE} ms lease, every kernel completes`, async () => {
    for (let i = 0; i < TRIALS; i++) {
      const socket = join(dir, `kill-${i}.sock`);
      // a long hysteresis: once held, the offline process stays held until something breaks
      const coord = await Coord.start(socket, ['--policy', 'suspend', '--lease-ms', String(LEASE), '--hysteresis-us', '10000000', '--log-level', 'info']);
      const off = workload('offline', socket, ['--kernel-us', '10000', '--count', '60']);
      let on: ReturnType<typeof fakeShim> | undefined;
      try {
        const entry = await until('the offline process attached with its queues', async () => (await query(socket)).processes.find((p) => p.pid === off.pid && p.queues.length > 0), 15_000, 10);
        // the online side: a control block of this process, busy on the offline process's GPU
        on = fakeShim('online', { gpus: entry.gpus });
        const c = await connectFake(socket, on);
        on.set('activity', 1);
        await until(`trial ${i}: the offline queues suspended in the device`, async () => held(await emuQueues(off.pid)), 10_000, 5);
        const t0 = Date.now();
        coord.proc.kill('SIGKILL');
        await until(`trial ${i}: the offline queues resumed`, async () => !held(await emuQueues(off.pid)), LEASE + 2000, 5);
        const dt = Date.now() - t0;
        releaseMs.push(dt);
        expect(dt).toBeLessThan(LEASE);
        expect(await off.done).toBe(0);
        const r = result(off);
        expect(r.kernels_completed).toBe(r.kernels_expected);
        c.end();
      } finally {
        off.proc.kill('SIGKILL');
        coord.proc.kill('SIGKILL');
        await coord.exited;
        on?.remove();
      }
    }
    process.stdout.write(`SIGKILL trials: ${releaseMs.length}, release after kill p50 ${q(releaseMs, 50)} ms, max ${Math.max(...releaseMs)} ms (lease ${LEASE} ms)\n`);
    expect(releaseMs).toHaveLength(TRIALS);
  }, 60_000 + TRIALS * 10_000);
});

describe('coordinator restart while the programs run', () => {
  it('the shims reconnect, the new coordinator re-learns them and their queues and applies its policy; every kernel completes', async () => {
    const socket = join(dir, 'restart.sock');
    const args = ['--policy', 'suspend', '--hysteresis-us', '20000', '--lease-ms', '1000'];
    let coord = await Coord.start(socket, args);
    const off = workload('offline', socket, ['--kernel-us', '20000', '--count', '250']);
    const on = workload('online', socket, ['--kernel-us', '2000', '--count', '200', '--period-ms', '100', '--requests', '40', '--kernels-per-request', '5']);
    try {
      const both = async () => {
        const r = await query(socket);
        const o = r.processes.find((p) => p.pid === off.pid && p.queues.length > 0);
        const n = r.processes.find((p) => p.pid === on.pid && p.queues.length > 0);
        return o !== undefined && n !== undefined ? { o, n } : undefined;
      };
      await until('both programs attached', both, 15_000, 20);
      await coord.waitFor('a first hold acknowledged', (e) => e.event === 'ack' && e['what'] === 'hold' && e['exec_state'] === 3, 10_000);

      coord.proc.kill('SIGKILL');
      await coord.exited;
      const t0 = Date.now();
      coord = await Coord.start(socket, args);
      const again = await until('both programs re-learned by the new coordinator', both, 10_000, 20);
      process.stdout.write(`restart: both shims re-attached ${Date.now() - t0} ms after the new coordinator started\n`);
      expect(again.o.class).toBe('offline');
      expect(again.n.class).toBe('online');
      // the queues it re-learned are the ones the device has
      const devIds = (await emuQueues(off.pid)).map((x) => x.queue_id).sort((a, b) => a - b);
      expect(again.o.queues.map((x) => x.id).sort((a, b) => a - b)).toEqual(devIds);
      // and it governs them: the offline process is held again while the online one works
      await coord.waitFor('a hold acknowledged by the re-attached shim', (e) => e.event === 'ack' && e['what'] === 'hold' && e['exec_state'] === 3 && e['pid'] === off.pid, 10_000);
      await until('the offline queues suspended in the device again', async () => held(await emuQueues(off.pid)), 10_000, 5);

      expect(await on.done).toBe(0);
      expect(await off.done).toBe(0);
      for (const w of [on, off]) {
        const r = result(w);
        expect(r.kernels_completed).toBe(r.kernels_expected);
      }
    } finally {
      on.proc.kill('SIGKILL');
      off.proc.kill('SIGKILL');
      expect(await coord.stop()).toBe(0);
    }
  });
});
