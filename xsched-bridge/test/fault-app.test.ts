// Faults of the applications, with real processes on the emulated GPU: an offline program
// SIGKILLed while its queues are suspended. The registry forgets it within 1 s, and nobody
// else notices: the online program keeps completing requests with its queues never held, the
// other offline program stays governed (held while online work runs, then released) and
// completes every kernel.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anyHeld as held, Coord, deviceTestDir, emuStatus, query, startWorkload, until, workloadResult as result, type Workload } from './coordinator-harness.js';

const dir = deviceTestDir('xsb-fault-app-');
const workload = (cls: 'online' | 'offline', socket: string, args: string[]): Workload =>
  startWorkload({ dir, socket, cls, args, reportExit: (code, sig) => code !== 0 && sig !== 'SIGKILL' });

describe('an application SIGKILLed while held', () => {
  it('is gone from the registry within 1 s; the online and the other offline program are unaffected', async () => {
    const socket = join(dir, 'app.sock');
    // 300 ms of hysteresis: offline work stays held between the online requests (100 ms apart)
    const coord = await Coord.start(socket, ['--policy', 'suspend', '--hysteresis-us', '300000', '--lease-ms', '2000']);
    const victim = workload('offline', socket, ['--kernel-us', '20000', '--count', '1000']);
    const other = workload('offline', socket, ['--kernel-us', '20000', '--count', '60']);
    let on: Workload | undefined;
    try {
      await until('both offline programs attached', async () => (await query(socket)).processes.filter((p) => (p.pid === victim.pid || p.pid === other.pid) && p.queues.length > 0).length === 2, 15_000, 20);
      on = workload('online', socket, ['--kernel-us', '2000', '--count', '60', '--period-ms', '100', '--requests', '30', '--kernels-per-request', '2']);
      const online = on;
      let onlineDone = false;
      void online.done.then(() => (onlineDone = true));
      await until('both offline programs suspended in the device', async () => {
        const s = await emuStatus();
        return held(s.get(victim.pid)) && held(s.get(other.pid));
      }, 10_000, 5);

      // the online program's queues, watched from now until it finishes
      let onlineHeld = false;
      let otherHeldAfterKill = false;
      const watch = (async () => {
        while (!onlineDone) {
          const s = await emuStatus();
          if (held(s.get(online.pid))) onlineHeld = true;
          if (held(s.get(other.pid))) otherHeldAfterKill = true;
          await new Promise((r) => setTimeout(r, 10));
        }
      })();

      const t0 = Date.now();
      victim.proc.kill('SIGKILL');
      await until('the victim gone from the registry', async () => !(await query(socket)).processes.some((p) => p.pid === victim.pid), 1000, 5);
      const dt = Date.now() - t0;
      process.stdout.write(`registry cleaned ${dt} ms after SIGKILL\n`);
      expect(dt).toBeLessThan(1000);
      const ev = await coord.waitFor('the detach', (e) => e.event === 'detached' && e['pid'] === victim.pid);
      expect(ev['reason']).toMatch(/closed/);
      // the device dropped its queues too (KFD tears a dead process's queues down)
      await until('the victim’s queues gone from the device', async () => !(await emuStatus()).has(victim.pid), 5000, 10);

      expect(await online.done).toBe(0);
      await watch;
      const onR = result(online);
      expect(onR.kernels_completed).toBe(onR.kernels_expected);
      expect(onlineHeld).toBe(false);
      // still governed after the kill, then released: it finishes
      expect(otherHeldAfterKill).toBe(true);
      expect(await other.done).toBe(0);
      const oR = result(other);
      expect(oR.kernels_completed).toBe(oR.kernels_expected);
      const reg = await query(socket);
      expect(reg.processes.map((p) => p.pid)).toEqual([]);
    } finally {
      victim.proc.kill('SIGKILL');
      other.proc.kill('SIGKILL');
      on?.proc.kill('SIGKILL');
      expect(await coord.stop()).toBe(0);
    }
  });
});
