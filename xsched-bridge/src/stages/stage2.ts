/** Stage 2 scheduling: fixed priority, multi-queue management, basic preemption (Lv1, suspend). */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinatorProc, programEnv, queryRegistry, spawnWorkload, specArgs, until, type Registry } from '../compare/orchestrate.js';
import type { ModeResult } from '../compare/result.js';
import { requireArtifact } from '../paths.js';
import type { Check } from './checks.js';
import { evaluate, expectTrue, sharedCompare, type Outcome, type StageContext } from './context.js';
import type { Criterion } from './record.js';

export function modeOf(modes: ModeResult[], name: string): ModeResult {
  const m = modes.find((x) => x.mode === name);
  if (m === undefined) throw new Error(`the compare run has no mode ${name}`);
  return m;
}

async function fixedPriority(ctx: StageContext): Promise<Outcome> {
  const c = await sharedCompare(ctx);
  const none = modeOf(c.modes, 'none');
  const hybrid = modeOf(c.modes, 'hybrid');
  const metrics: Record<string, unknown> = { standalone_p99_ms: c.standalone?.online?.p99_ms ?? null };
  for (const m of c.modes) metrics[`${m.mode}.p99_ms`] = m.online.p99_ms;
  return {
    metrics,
    criteria: [
      evaluate(ctx.criteria, 'online_p99_ms', hybrid.online.p99_ms, 'online_p99_ms (hybrid, the default policy)'),
      expectTrue('scheduled p99 (hybrid) below unscheduled p99 (none)', hybrid.online.p99_ms < none.online.p99_ms),
    ],
    notes: `online p99 under offline load: ${none.online.p99_ms.toFixed(1)} ms without scheduling (none), ${hybrid.online.p99_ms.toFixed(1)} ms with the default policy (hybrid); alone ${(c.standalone?.online?.p99_ms ?? NaN).toFixed(1)} ms`,
  };
}

interface DevQueue {
  id: number;
  priority: number | null;
}

/** The device's own view of a process's queues: the emulator's status, or KFD's sysfs. */
export function deviceQueues(ctx: StageContext, pid: number): DevQueue[] {
  if (ctx.target.backend === 'emu') {
    const out = execFileSync(requireArtifact('ctl'), ['--dir', ctx.target.emuDir ?? '', 'status'], { encoding: 'utf8' });
    const s = JSON.parse(out) as { processes: { pid: number; queues: { queue_id: number; priority: number }[] }[] };
    return (s.processes.find((p) => p.pid === pid)?.queues ?? []).map((q) => ({ id: q.queue_id, priority: q.priority }));
  }
  const dir = `/sys/class/kfd/kfd/proc/${pid}/queues`;
  return readdirSync(dir).map((d) => ({ id: Number(d), priority: null }));
}

async function multiQueue(ctx: StageContext): Promise<Outcome> {
  const socket = join(ctx.workDir, 'multiqueue.sock');
  const coord = await CoordinatorProc.start(socket, ['--policy', 'none']);
  const env = (cls: string): NodeJS.ProcessEnv => programEnv(ctx.target, { shim: true, vars: { XSB_SOCKET: socket, XSB_CLASS: cls } });
  const offSpec = { kernelUs: 5000, count: 400, streams: 8 };
  const onSpec = { kernelUs: 1000, count: 40, streams: 2, periodMs: 50, requests: 40, kernelsPerRequest: 1 };
  const off = spawnWorkload('mq-offline', ctx.workDir, specArgs(offSpec), env('offline'));
  const on = spawnWorkload('mq-online', ctx.workDir, specArgs(onSpec), env('online'));
  const crit: Criterion[] = [];
  const metrics: Record<string, unknown> = {};
  try {
    const pids = { online: on.proc.pid ?? -1, offline: off.proc.pid ?? -1 };
    // both attached with their stream queues (offline: 8 streams share HIP's pooled queues)
    const reg: Registry = await until(
      'both workloads attached with their queues',
      async () => {
        const r = await queryRegistry(socket).catch(() => null);
        const ok = r !== null && [pids.online, pids.offline].every((pid) => (r.processes.find((p) => p.pid === pid)?.queues.length ?? 0) >= 2);
        return ok ? r : undefined;
      },
      20_000,
      25,
    );
    for (const cls of ['online', 'offline'] as const) {
      const p = reg.processes.find((x) => x.pid === pids[cls]);
      const want = cls === 'online' ? 15 : 2;
      const regIds = (p?.queues ?? []).map((q) => q.id).sort((a, b) => a - b);
      const dev = deviceQueues(ctx, pids[cls]);
      const devIds = dev.map((q) => q.id).sort((a, b) => a - b);
      metrics[`${cls}.registry_queues`] = regIds;
      metrics[`${cls}.device_queues`] = devIds;
      metrics[`${cls}.priorities_applied`] = (p?.queues ?? []).map((q) => q.priority_applied ?? null);
      crit.push(expectTrue(`${cls}: reported with class ${cls}`, p?.class === cls));
      crit.push(expectTrue(`${cls}: every device queue reported by the coordinator`, JSON.stringify(regIds) === JSON.stringify(devIds)));
      crit.push(expectTrue(`${cls}: every queue at priority ${want} (registry)`, (p?.queues ?? []).every((q) => q.priority_applied === want)));
      if (ctx.target.backend === 'emu') crit.push(expectTrue(`${cls}: every queue at priority ${want} in the device`, dev.every((q) => q.priority === want)));
    }
    const offQueues = (metrics['offline.registry_queues'] as number[]).length;
    metrics['offline_streams'] = offSpec.streams;
    crit.push(expectTrue('offline: 8 streams share fewer hardware queues (GPU_MAX_HW_QUEUES pooling)', offQueues < offSpec.streams));
    const [oc, fc] = await Promise.all([on.done, off.done]);
    crit.push(expectTrue('both workloads completed', oc === 0 && fc === 0 && off.result().kernels_completed === offSpec.count));
  } finally {
    for (const w of [on, off]) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
    await coord.stop();
  }
  return {
    metrics,
    criteria: crit,
    notes: `online (2 streams) and offline (8 streams) shimmed processes: the coordinator's registry and the ${ctx.target.backend === 'emu' ? "emulated device's status" : 'KFD sysfs'} list the same queue ids with the class priorities (online 15, offline 2)`,
  };
}

async function preemptLv1(ctx: StageContext): Promise<Outcome> {
  const c = await sharedCompare(ctx);
  const lv1 = modeOf(c.modes, 'lv1');
  const none = modeOf(c.modes, 'none');
  return {
    metrics: { gate_closed_seen: lv1['gate_closed_seen'] ?? null, online_p99_ms: lv1.online.p99_ms, none_p99_ms: none.online.p99_ms, offline_loss_pct: lv1.offline.loss_pct },
    criteria: [
      expectTrue("the offline process's gate closed while the online job ran", lv1['gate_closed_seen'] === true),
      expectTrue('every offline kernel completed', lv1.offline.kernels_completed === lv1.offline.kernels_expected),
      expectTrue('every online request completed', lv1.online.count === (c.workload?.online.requests ?? lv1.online.count)),
    ],
    notes:
      `Lv1 held the offline launches (gate closed) and released them; online p99 ${lv1.online.p99_ms.toFixed(1)} ms vs ${none.online.p99_ms.toFixed(1)} ms without scheduling: ` +
      `with ${c.workload?.lv1?.threshold ?? 16} offline kernels allowed in flight Lv1 cannot shorten a request of ${c.workload?.online.kernels_per_request ?? 5} kernels (see the report's Lv1 plot and stage 3's sweep)`,
  };
}

async function preemptSuspend(ctx: StageContext): Promise<Outcome> {
  const c = await sharedCompare(ctx);
  const crit: Criterion[] = [];
  const metrics: Record<string, unknown> = {};
  for (const name of ['suspend/dbg-trap', 'suspend/deactivate']) {
    const m = modeOf(c.modes, name);
    metrics[`${name}.suspends`] = m.preempt?.count ?? 0;
    metrics[`${name}.online_p99_ms`] = m.online.p99_ms;
    crit.push(expectTrue(`${name}: the offline queues were suspended and resumed`, (m.preempt?.count ?? 0) > 0 && (m.preempt?.['resumes'] as number | undefined ?? 0) >= (m.preempt?.count ?? 0) - 1));
    crit.push(expectTrue(`${name}: every offline kernel completed`, m.offline.kernels_completed === m.offline.kernels_expected));
    crit.push(evaluate(ctx.criteria, 'online_p99_ms', m.online.p99_ms, `online_p99_ms (${name})`));
  }
  return { metrics, criteria: crit, notes: 'queue suspend with both mechanisms preempts the offline job for every online request, and its work completes after resume' };
}

export const STAGE2: Check[] = [
  { id: 'S2.1', stage: 2, name: 'fixed priority: online latency under offline load, with and without scheduling', run: fixedPriority },
  { id: 'S2.2', stage: 2, name: 'multi-queue management: every KFD queue reported with class and priority, streams sharing queues', run: multiQueue },
  { id: 'S2.3', stage: 2, name: 'basic preemption with Lv1', run: preemptLv1 },
  { id: 'S2.4', stage: 2, name: 'basic preemption with queue suspend (dbg-trap and deactivate)', run: preemptSuspend },
];
