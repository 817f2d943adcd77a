// The coordinator with real shimmed processes on the emulated GPU: every policy against an
// offline job of 20 ms kernels and an online job issuing a request every 100 ms. Effects are
// observed where they happen: held queues in the device's state (xsb-emu-ctl status), gates
// in the shims' control blocks (the registry reads them), besides the latencies.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Coord, deviceTestDir, emuQueues, query, startWorkload, until, workloadResult as result, type Registry, type Workload, type WorkloadResult } from './coordinator-harness.js';

const dir = deviceTestDir('xsb-coord-emu-');

/** mechanism: the process's own XSB_MECHANISM (undefined: not set, the coordinator's --mechanism or dbg-trap). */
const workload = (name: string, cls: 'online' | 'offline', socket: string, mechanism: string | undefined, args: string[]): Workload =>
  startWorkload({ dir, name, socket, cls, args, env: mechanism === undefined ? {} : { XSB_MECHANISM: mechanism }, reportExit: (code) => code !== 0 && code !== null });

const OFFLINE = ['--kernel-us', '20000', '--count', '200'];
const ONLINE = ['--kernel-us', '2000', '--count', '100', '--period-ms', '100', '--requests', '20', '--kernels-per-request', '5'];

interface ModeResult {
  p99: number;
  offline: WorkloadResult;
  online: WorkloadResult;
  heldFlags: Set<string>;
  gateClosedSeen: boolean;
  holdRequests: number;
  gateEvents: number;
  mechanisms: Set<string>;
}

async function runMode(policy: string, mechanism: string): Promise<ModeResult> {
  const socket = join(dir, `${policy}-${mechanism}.sock`);
  // 20 ms of hysteresis: offline work stays held between the kernels of a request; the
  // mechanism comes from the coordinator (config), not from the processes' environment
  const coord = await Coord.start(socket, ['--policy', policy, '--hysteresis-us', '20000', '--mechanism', mechanism]);
  const off = workload(`${policy}-${mechanism}-off`, 'offline', socket, undefined, OFFLINE);
  try {
    const pid = off.proc.pid!;
    await until('the offline process to attach', async () => (await query(socket)).processes.some((p) => p.pid === pid && p.queues.length > 0), 15_000, 50);
    const on = workload(`${policy}-${mechanism}-on`, 'online', socket, undefined, ONLINE);
    const heldFlags = new Set<string>();
    const mechanisms = new Set<string>();
    let gateClosedSeen = false;
    let onDone = false;
    void on.done.then(() => (onDone = true));
    while (!onDone) {
      const [qs, reg] = await Promise.all([emuQueues(pid), query(socket).catch(() => null as Registry | null)]);
      for (const q of qs) for (const f of q.flags) if (f === 'suspended' || f === 'deactivated') heldFlags.add(f);
      const p = reg?.processes.find((x) => x.pid === pid);
      if (p?.gate === 'closed') gateClosedSeen = true;
      if (p !== undefined) mechanisms.add(p.mechanism);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await on.done).toBe(0);
    expect(await off.done).toBe(0);
    const online = result(on);
    return {
      p99: online.latency_ms!.p99,
      offline: result(off),
      online,
      heldFlags,
      gateClosedSeen,
      holdRequests: coord.events.filter((e) => e.event === 'request' && e['what'] === 'hold').length,
      gateEvents: coord.events.filter((e) => e.event === 'gate' && e['closed'] === true).length,
      mechanisms,
    };
  } finally {
    off.proc.kill('SIGKILL');
    expect(await coord.stop()).toBe(0);
  }
}

describe('policies on the emulated GPU', () => {
  const results = new Map<string, ModeResult>();
  const modes: [string, string][] = [
    ['none', 'dbg-trap'],
    ['lv1', 'dbg-trap'],
    ['suspend', 'dbg-trap'],
    ['suspend', 'deactivate'],
    ['hybrid', 'dbg-trap'],
    ['adaptive', 'dbg-trap'],
  ];
  for (const [policy, mech] of modes) {
    it(`${policy} (${mech}): every kernel completes; the policy shows in the device and the control blocks`, async () => {
      const r = await runMode(policy, mech);
      results.set(`${policy}/${mech}`, r);
      expect(r.offline.kernels_completed).toBe(r.offline.kernels_expected);
      expect(r.online.kernels_completed).toBe(r.online.kernels_expected);
      const holds = policy === 'suspend' || policy === 'hybrid' || policy === 'adaptive';
      const gates = policy === 'lv1' || policy === 'hybrid' || policy === 'adaptive';
      expect(r.holdRequests > 0).toBe(holds);
      expect(r.gateEvents > 0).toBe(gates);
      expect(r.gateClosedSeen).toBe(gates);
      expect([...r.heldFlags]).toEqual(holds ? [mech === 'deactivate' ? 'deactivated' : 'suspended'] : []);
      // the shim acknowledged the coordinator's mechanism (registry: the one in effect)
      expect([...r.mechanisms].at(-1)).toBe(mech);
    });
  }

  it('online p99 under suspend and hybrid is below both lv1 and none', () => {
    const p99 = (k: string) => {
      const r = results.get(k);
      if (r === undefined) throw new Error(`mode ${k} did not run`);
      return r.p99;
    };
    const worst = Math.min(p99('none/dbg-trap'), p99('lv1/dbg-trap'));
    for (const k of ['suspend/dbg-trap', 'suspend/deactivate', 'hybrid/dbg-trap']) expect(p99(k)).toBeLessThan(worst);
    process.stdout.write(`online p99 ms: ${[...results].map(([k, r]) => `${k} ${r.p99.toFixed(1)}`).join(', ')}\n`);
  });
});

describe('a coordinator that fails while the offline process is held', () => {
  interface HoldOpts {
    coordArgs?: string[];
    offMechanism?: string;
    offArgs?: string[];
    onRequests?: number;
  }
  async function holdOffline(socket: string, lease: number, o: HoldOpts = {}) {
    // ten seconds of hysteresis: once the online process was busy, the offline one stays held
    const args = ['--policy', 'suspend', '--lease-ms', String(lease), '--hysteresis-us', '10000000', ...(o.coordArgs ?? ['--mechanism', 'dbg-trap'])];
    const coord = await Coord.start(socket, args);
    const off = workload(`${socket}-off`.replaceAll('/', '_'), 'offline', socket, o.offMechanism, o.offArgs ?? ['--kernel-us', '20000', '--count', '100']);
    const pid = off.proc.pid!;
    await until('the offline process to attach', async () => (await query(socket)).processes.some((p) => p.pid === pid && p.queues.length > 0), 15_000, 50);
    const on = workload(`${socket}-on`.replaceAll('/', '_'), 'online', socket, undefined, ['--kernel-us', '2000', '--count', '100', '--period-ms', '100', '--requests', String(o.onRequests ?? 40), '--kernels-per-request', '1']);
    return { coord, off, on, pid, args };
  }
  const heldBy = async (pid: number, flag: string) => (await emuQueues(pid)).some((q) => q.flags.includes(flag));

  it('SIGKILL: the shim releases itself within the lease and finishes; a restarted coordinator serves again', async () => {
    const socket = join(dir, 'kill.sock');
    const lease = 1000;
    const { coord, off, on, pid } = await holdOffline(socket, lease);
    try {
      await until('the offline queues suspended in the device', () => heldBy(pid, 'suspended'), 10_000, 10);
      const t0 = Date.now();
      coord.proc.kill('SIGKILL');
      await until('the offline queues resumed', async () => (await emuQueues(pid)).every((q) => !q.flags.includes('suspended')), lease + 1000, 10);
      const dt = Date.now() - t0;
      process.stdout.write(`released ${dt} ms after SIGKILL (lease ${lease} ms)\n`);
      expect(dt).toBeLessThan(lease + 500);
      expect(await off.done).toBe(0);
      const r = result(off);
      expect(r.kernels_completed).toBe(r.kernels_expected);
      const again = await Coord.start(socket, ['--policy', 'suspend']);
      try {
        expect((await query(socket)).type).toBe('registry');
      } finally {
        await again.stop();
      }
    } finally {
      on.proc.kill('SIGKILL');
      off.proc.kill('SIGKILL');
      await on.done;
    }
  });

  it('frozen (SIGSTOP): the lease expires and the shim releases itself', async () => {
    const socket = join(dir, 'stop.sock');
    const lease = 800;
    const { coord, off, on, pid } = await holdOffline(socket, lease);
    try {
      await until('the offline queues suspended in the device', () => heldBy(pid, 'suspended'), 10_000, 10);
      const t0 = Date.now();
      coord.proc.kill('SIGSTOP');
      await until('the offline queues resumed', async () => (await emuQueues(pid)).every((q) => !q.flags.includes('suspended')), lease + 2000, 10);
      const dt = Date.now() - t0;
      process.stdout.write(`released ${dt} ms after SIGSTOP (lease ${lease} ms)\n`);
      expect(dt).toBeLessThan(lease + 1000);
      expect(await off.done).toBe(0);
      expect(result(off).kernels_completed).toBe(100);
    } finally {
      coord.proc.kill('SIGKILL');
      on.proc.kill('SIGKILL');
      off.proc.kill('SIGKILL');
      await on.done;
    }
  });

  it('a restarted coordinator re-learns running shims and holds them again', async () => {
    const socket = join(dir, 'relearn.sock');
    const lease = 1000;
    // long enough to outlive the first coordinator, the restart and a second hold
    const { coord, off, on, pid, args } = await holdOffline(socket, lease, { offArgs: ['--kernel-us', '20000', '--count', '500'], onRequests: 150 });
    let again: Coord | undefined;
    try {
      await until('the offline queues suspended in the device', () => heldBy(pid, 'suspended'), 10_000, 10);
      const before = (await query(socket)).processes.find((p) => p.pid === pid)!;
      const t0 = Date.now();
      coord.proc.kill('SIGKILL');
      await until('the offline queues resumed', async () => (await emuQueues(pid)).every((q) => !q.flags.includes('suspended')), lease + 1000, 10);
      process.stdout.write(`released ${Date.now() - t0} ms after SIGKILL (lease ${lease} ms)\n`);

      again = await Coord.start(socket, args);
      const t1 = Date.now();
      // the shims reconnect on their own: hello and the queue table replayed
      const relearned = await until(
        'the restarted coordinator to list the running shim with its queues',
        async () => (await query(socket)).processes.find((p) => p.pid === pid && p.queues.length >= before.queues.length),
        5000,
        10,
      );
      process.stdout.write(`re-learned ${Date.now() - t1} ms after the new coordinator listened\n`);
      expect(relearned.class).toBe('offline');
      expect(relearned.queues.map((q) => q.id).sort()).toEqual(before.queues.map((q) => q.id).sort());
      expect(relearned.gpus).toEqual(before.gpus);
      expect(relearned.counters['launches']).toBeGreaterThanOrEqual(before.counters['launches'] ?? 0);
      expect(again.find((e) => e.event === 'attached' && e['pid'] === pid)).toBeDefined();

      // and holds it again: the online process re-attached too and is busy every 100 ms
      await until('the offline queues suspended again in the device', () => heldBy(pid, 'suspended'), 10_000, 10);
      const held = await until('the registry to show the process held', async () => (await query(socket)).processes.find((p) => p.pid === pid && p.exec_state === 'held'), 5000, 10);
      expect(held.held_queues).toBeGreaterThan(0);
      expect(held.engine.hold).toBe(true);

      expect(await again.stop()).toBe(0); // releases everything
      expect(await off.done).toBe(0);
      const r = result(off);
      expect(r.kernels_completed).toBe(r.kernels_expected);
    } finally {
      await again?.stop();
      coord.proc.kill('SIGKILL');
      on.proc.kill('SIGKILL');
      off.proc.kill('SIGKILL');
      await on.done;
    }
  });
});

describe('the suspend mechanism: the coordinator\'s --mechanism wins, XSB_MECHANISM without it', () => {
  it('without --mechanism the process\'s XSB_MECHANISM=deactivate holds; with --mechanism deactivate it wins over XSB_MECHANISM=dbg-trap', async () => {
    for (const [name, coordArgs, own] of [
      ['own', [], 'deactivate'],
      ['override', ['--mechanism', 'deactivate'], 'dbg-trap'],
    ] as const) {
      const socket = join(dir, `mech-${name}.sock`);
      const args = ['--policy', 'suspend', '--lease-ms', '2000', '--hysteresis-us', '10000000', ...coordArgs];
      const coord = await Coord.start(socket, args);
      const off = workload(`mech-${name}-off`, 'offline', socket, own, ['--kernel-us', '20000', '--count', '100']);
      const pid = off.proc.pid!;
      const on = workload(`mech-${name}-on`, 'online', socket, undefined, ['--kernel-us', '2000', '--count', '100', '--period-ms', '100', '--requests', '20', '--kernels-per-request', '1']);
      try {
        await until('the offline process to attach', async () => (await query(socket)).processes.some((p) => p.pid === pid && p.queues.length > 0), 15_000, 50);
        await until(`${name}: the offline queues deactivated in the device`, async () => (await emuQueues(pid)).some((q) => q.flags.includes('deactivated')), 10_000, 10);
        expect((await emuQueues(pid)).some((q) => q.flags.includes('suspended'))).toBe(false);
        const reg = await query(socket);
        expect(reg.policy.mechanism).toBe(name === 'own' ? null : 'deactivate');
        expect(reg.processes.find((p) => p.pid === pid)?.mechanism).toBe('deactivate');
        expect(await coord.stop()).toBe(0);
        expect(await off.done).toBe(0);
        expect(result(off).kernels_completed).toBe(100);
      } finally {
        await coord.stop();
        on.proc.kill('SIGKILL');
        off.proc.kill('SIGKILL');
        await on.done;
      }
    }
  });
});
