/**
 * Stage 4 workloads: the multi-process scenario and the seed test cases (basic and frequent
 * preemption, edge cases, latency, offline loss, stability and stress), and user-supplied
 * online/offline commands.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cliPath, CoordinatorProc, programEnv, queryRegistry, runPair, spawnWorkload, specArgs, until, withTimeout, type WorkloadSpec } from '../compare/orchestrate.js';
import { percentile, round } from '../compare/result.js';
import type { Check } from './checks.js';
import { evaluate, expectTrue, sharedCompare, skipped, type Outcome, type StageContext } from './context.js';
import type { Criterion } from './record.js';
import { deviceQueues, modeOf } from './stage2.js';

const scaled = (ctx: StageContext, n: number, min: number): number => Math.max(min, Math.round(n * ctx.duration));
const offlineFor = (requests: number, periodMs: number, kernelUs: number, extra: Partial<WorkloadSpec> = {}): WorkloadSpec => ({
  kernelUs,
  count: Math.ceil(((requests * periodMs + 1500) * 1.3 * 1000) / kernelUs / (extra.streams ?? 1)) * (extra.streams ?? 1),
  ...extra,
});

async function scenario(ctx: StageContext): Promise<Outcome> {
  const c = await sharedCompare(ctx);
  const h = modeOf(c.modes, 'hybrid');
  return {
    metrics: { online_p99_ms: h.online.p99_ms, suspends: h.preempt?.count ?? 0, gate_closed_seen: h['gate_closed_seen'] ?? null, offline_loss_pct: h.offline.loss_pct },
    criteria: [
      expectTrue('every online request and offline kernel completed', h.offline.kernels_completed === h.offline.kernels_expected && h.online.count === c.workload?.online.requests),
      expectTrue('the policy acted: gate closed and queues suspended', h['gate_closed_seen'] === true && (h.preempt?.count ?? 0) > 0),
      evaluate(ctx.criteria, 'online_p99_ms', h.online.p99_ms, 'online_p99_ms (hybrid)'),
    ],
    notes: `an online and an offline HIP process under the coordinator's default policy (hybrid): online p99 ${h.online.p99_ms.toFixed(1)} ms, ${h.preempt?.count ?? 0} suspends, offline loss ${h.offline.loss_pct?.toFixed(1) ?? '—'} %`,
  };
}

async function basicPreemption(ctx: StageContext): Promise<Outcome> {
  const c = await sharedCompare(ctx);
  const m = modeOf(c.modes, 'suspend/dbg-trap');
  return {
    metrics: { suspends: m.preempt?.count ?? 0, online_p99_ms: m.online.p99_ms, none_p99_ms: modeOf(c.modes, 'none').online.p99_ms },
    criteria: [expectTrue('the offline queues were suspended for online requests', (m.preempt?.count ?? 0) > 0), evaluate(ctx.criteria, 'online_p99_ms', m.online.p99_ms, 'online_p99_ms (suspend/dbg-trap)')],
    notes: `seed case "basic preemption": an online request preempts the running offline job (suspend, dbg-trap): p99 ${m.online.p99_ms.toFixed(1)} ms vs ${modeOf(c.modes, 'none').online.p99_ms.toFixed(1)} ms unscheduled`,
  };
}

async function frequentPreemption(ctx: StageContext): Promise<Outcome> {
  const c = await sharedCompare(ctx);
  const m = modeOf(c.modes, 'hybrid');
  const req = c.workload?.online.requests ?? m.online.count;
  const sus = m.preempt?.count ?? 0;
  const res = (m.preempt?.['resumes'] as number | undefined) ?? 0;
  return {
    metrics: { requests: req, period_ms: c.workload?.online.period_ms ?? null, suspends: sus, resumes: res },
    criteria: [
      expectTrue('a suspend for (nearly) every request: suspends >= 90 % of requests', sus >= 0.9 * req),
      expectTrue('every suspend resumed (resumes >= suspends - 1, the last may follow the run)', res >= sus - 1),
      expectTrue('every offline kernel completed', m.offline.kernels_completed === m.offline.kernels_expected),
    ],
    notes: `seed case "frequent preemption": an online request every ${c.workload?.online.period_ms ?? '?'} ms, ${sus} suspends and ${res} resumes for ${req} requests`,
  };
}

async function edgeEmpty(ctx: StageContext): Promise<Outcome> {
  const socket = join(ctx.workDir, 'empty.sock');
  const coord = await CoordinatorProc.start(socket, ['--policy', 'hybrid']);
  try {
    const before = await queryRegistry(socket);
    const requests = scaled(ctx, 10, 5);
    const w = spawnWorkload('empty-online', ctx.workDir, specArgs({ kernelUs: 2000, count: requests * 5, periodMs: 100, requests, kernelsPerRequest: 5 }), programEnv(ctx.target, { shim: true, vars: { XSB_SOCKET: socket, XSB_CLASS: 'online' } }));
    const code = await w.done;
    const r = w.result();
    const holds = coord.events.filter((e) => e.event === 'request' && e['what'] === 'hold').length;
    const raw = (r as { latency_ms_raw?: number[] }).latency_ms_raw ?? [];
    return {
      metrics: { processes_before: before.processes.length, online_p99_ms: round(percentile(raw, 99)), hold_requests: holds },
      criteria: [
        expectTrue('an idle coordinator answers with an empty registry', before.processes.length === 0),
        expectTrue('an online job with no offline job completes', code === 0 && r.kernels_completed === r.kernels_expected),
        expectTrue('nothing to suspend: no hold requests', holds === 0),
        evaluate(ctx.criteria, 'online_p99_ms', percentile(raw, 99), 'online_p99_ms (no offline job)'),
      ],
      notes: 'edge case "empty": the coordinator with no processes, then an online job with no offline job to preempt',
    };
  } finally {
    await coord.stop();
  }
}

async function edgeRepeated(ctx: StageContext): Promise<Outcome> {
  const requests = scaled(ctx, 60, 20);
  const online: WorkloadSpec = { kernelUs: 2000, count: requests, periodMs: 20, requests, kernelsPerRequest: 1 };
  const r = await runPair({ target: ctx.target, outDir: ctx.workDir, name: 'repeated', policy: 'suspend', mechanism: 'dbg-trap', online, offline: offlineFor(requests, 20, 20000) });
  const p = r.preempt;
  const errors = r.events.filter((e) => e.level === 'error').length;
  return {
    metrics: { requests, suspends: p.suspends, resumes: p.resumes, coordinator_errors: errors },
    criteria: [
      expectTrue('repeated suspend/resume: one suspend per request or more', p.suspends >= Math.floor(requests / 2)),
      expectTrue('every suspend resumed', p.resumes >= p.suspends - 1),
      expectTrue('every offline kernel completed', r.offline.kernels_completed === r.offline.kernels_expected),
      expectTrue('no errors in the coordinator log', errors === 0),
    ],
    notes: `edge case "repeated suspend/resume": a 2 ms online request every 20 ms, ${p.suspends} suspends and ${p.resumes} resumes`,
  };
}

async function edgeUnknownQueue(ctx: StageContext): Promise<Outcome> {
  // long enough to outlast the kfd command's start-up (~1 s) at any --duration
  const spec: WorkloadSpec = { kernelUs: 20000, count: scaled(ctx, 150, 150) };
  const w = spawnWorkload('unknown-queue', ctx.workDir, specArgs(spec), programEnv(ctx.target, { shim: false }));
  try {
    // once the program has its queues, suspend a queue id it does not have
    const pid = w.proc.pid ?? -1;
    await until('the workload to create its queues', () => {
      try {
        return deviceQueues(ctx, pid).length > 0;
      } catch {
        return false;
      }
    }, 15_000, 50);
    const args = [cliPath(), ...(ctx.target.backend === 'emu' ? ['--emulate'] : []), 'kfd', 'suspend', '--pid', String(w.proc.pid), '--queues', '1000', '--hold-ms', '1', '--json', '-'];
    if (ctx.target.emuDir !== undefined) args.push('--dir', ctx.target.emuDir);
    // the emulator's environment (as `eval "$(xsb emu env)"` gives it) without our preloads
    const env = programEnv(ctx.target, { shim: false });
    delete env['LD_PRELOAD'];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000, env });
    let out: { suspended?: number; statuses?: { id: number; invalid: boolean }[] } = {};
    try {
      out = JSON.parse(r.stdout) as typeof out;
    } catch {
      /* judged below */
    }
    const code = await w.done;
    const res = w.result();
    return {
      metrics: { kfd_exit: r.status, suspended: out.suspended ?? null, statuses: out.statuses ?? null, workload_exit: code, kernels_completed: res.kernels_completed, kernels_expected: res.kernels_expected },
      criteria: [
        expectTrue('SUSPEND of an unknown queue id reports it INVALID (bit 31) and suspends nothing', out.suspended === 0 && out.statuses?.[0]?.invalid === true),
        expectTrue('the process carries on and completes', code === 0 && res.kernels_completed === res.kernels_expected),
      ],
      notes: `edge case "unknown queues": DBG_TRAP SUSPEND_QUEUES with queue id 1000 on a running process${r.status !== 0 ? `; kfd suspend said: ${(r.stderr ?? '').trim().slice(-300)}` : ''}`,
    };
  } finally {
    if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  }
}

async function edgeConcurrent(ctx: StageContext): Promise<Outcome> {
  const requests = scaled(ctx, 30, 10);
  const online: WorkloadSpec = { kernelUs: 2000, count: requests * 5, periodMs: 100, requests, kernelsPerRequest: 5 };
  const other: WorkloadSpec = { ...online, periodMs: 70, requests: Math.round((requests * 100) / 70), count: Math.round((requests * 100) / 70) * 5 };
  const r = await runPair({ target: ctx.target, outDir: ctx.workDir, name: 'concurrent', policy: 'hybrid', mechanism: 'dbg-trap', online, offline: offlineFor(requests, 100, 20000), extraOnline: [other] });
  const p1 = percentile(r.online.latency_ms_raw ?? [], 99);
  const p2 = percentile(r.extraOnline[0]?.latency_ms_raw ?? [], 99);
  return {
    metrics: { online1_p99_ms: round(p1), online2_p99_ms: round(p2), suspends: r.preempt.suspends },
    criteria: [
      evaluate(ctx.criteria, 'online_p99_ms', p1, 'online_p99_ms (online job 1, every 100 ms)'),
      evaluate(ctx.criteria, 'online_p99_ms', p2, 'online_p99_ms (online job 2, every 70 ms)'),
      expectTrue('every kernel of all three processes completed', r.offline.kernels_completed === r.offline.kernels_expected && r.extraOnline.every((x) => x.kernels_completed === x.kernels_expected)),
    ],
    notes: 'edge case "concurrent requests": two online processes (every 100 ms and every 70 ms) and one offline job under hybrid',
  };
}

async function latency(ctx: StageContext): Promise<Outcome> {
  const c = await sharedCompare(ctx);
  const h = modeOf(c.modes, 'hybrid');
  const metrics: Record<string, unknown> = {};
  for (const m of c.modes) metrics[m.mode] = { p50_ms: m.online.p50_ms, p99_ms: m.online.p99_ms, max_ms: m.online.max_ms };
  return {
    metrics,
    criteria: [evaluate(ctx.criteria, 'online_p99_ms', h.online.p99_ms, 'online_p99_ms (hybrid)')],
    notes: `seed case "latency": online end-to-end p99 ${h.online.p99_ms.toFixed(1)} ms under hybrid (criterion < ${ctx.criteria['online_p99_ms']?.value} ms, ideal < ${ctx.criteria['online_p99_ms']?.target ?? '?'} ms); alone ${(c.standalone?.online?.p99_ms ?? NaN).toFixed(1)} ms`,
  };
}

async function offlineLoss(ctx: StageContext): Promise<Outcome> {
  const c = await sharedCompare(ctx);
  const h = modeOf(c.modes, 'hybrid');
  const metrics: Record<string, unknown> = {};
  for (const m of c.modes) metrics[`${m.mode}.loss_pct`] = m.offline.loss_pct;
  const share = ((c.workload?.online.kernels_per_request ?? 5) * (c.workload?.online.kernel_us ?? 2000)) / 1000 / (c.workload?.online.period_ms ?? 100);
  return {
    metrics: { ...metrics, online_device_share_pct: round(share * 100, 1) },
    criteria: [evaluate(ctx.criteria, 'offline_loss_pct', h.offline.loss_pct, 'offline_loss_pct (hybrid)'), expectTrue('every offline kernel completed in every mode', c.modes.every((m) => m.offline.kernels_completed === m.offline.kernels_expected))],
    notes: `seed case "offline throughput loss": ${h.offline.loss_pct?.toFixed(1) ?? '—'} % under hybrid, of which ${(share * 100).toFixed(0)} % is the device time the online job itself uses; per mode: ${c.modes.map((m) => `${m.mode} ${m.offline.loss_pct?.toFixed(1) ?? '—'} %`).join(', ')}`,
  };
}

async function stress(ctx: StageContext): Promise<Outcome> {
  const requests = scaled(ctx, 400, 50);
  const online: WorkloadSpec = { kernelUs: 2000, count: requests, periodMs: 10, requests, kernelsPerRequest: 1 };
  const r = await runPair({ target: ctx.target, outDir: ctx.workDir, name: 'stress', policy: 'hybrid', mechanism: 'dbg-trap', online, offline: offlineFor(requests, 10, 20000, { streams: 10 }) });
  const raw = r.online.latency_ms_raw ?? [];
  const errors = r.events.filter((e) => e.level === 'error').length;
  const queues = r.lastRegistry?.processes.find((p) => p.pid === r.offlinePid)?.queues.length ?? null;
  return {
    metrics: { requests, online_p99_ms: round(percentile(raw, 99)), online_max_ms: round(raw.length ? Math.max(...raw) : null), suspends: r.preempt.suspends, offline_streams: 10, offline_queues: queues, coordinator_errors: errors },
    criteria: [
      evaluate(ctx.criteria, 'stress_online_p99_ms', percentile(raw, 99)),
      expectTrue('every online request and offline kernel completed', raw.length === requests && r.offline.kernels_completed === r.offline.kernels_expected),
      expectTrue('no errors in the coordinator log', errors === 0),
    ],
    notes: `stability and stress: an online request every 10 ms for ${((requests * 10) / 1000).toFixed(1)} s against an offline job on 10 streams (${queues ?? '?'} KFD queues), hybrid`,
  };
}

async function userCommands(ctx: StageContext): Promise<Outcome> {
  if (ctx.onlineCmd === undefined || ctx.offlineCmd === undefined) {
    return skipped('no --online-cmd and --offline-cmd given', 'pass --online-cmd CMD and --offline-cmd CMD (e.g. PyTorch inference and training scripts) on a real MI300');
  }
  const socket = join(ctx.workDir, 'user.sock');
  const sh = (cmd: string, env: NodeJS.ProcessEnv) => spawn('sh', ['-c', cmd], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exit = (p: ReturnType<typeof sh>): Promise<number | null> => new Promise((r) => p.on('exit', (c) => r(c)));
  const t0 = Date.now();
  const alone = await exit(sh(ctx.onlineCmd, programEnv(ctx.target, { shim: false })));
  const aloneMs = Date.now() - t0;
  const coord = await CoordinatorProc.start(socket, ['--policy', 'hybrid']);
  try {
    const off = sh(ctx.offlineCmd, programEnv(ctx.target, { shim: true, vars: { XSB_SOCKET: socket, XSB_CLASS: 'offline' } }));
    const offExit = exit(off);
    await new Promise((r) => setTimeout(r, 3000));
    const t1 = Date.now();
    const onCode = await exit(sh(ctx.onlineCmd, programEnv(ctx.target, { shim: true, vars: { XSB_SOCKET: socket, XSB_CLASS: 'online' } })));
    const sharedMs = Date.now() - t1;
    const suspends = coord.events.filter((e) => e.event === 'ack' && e['what'] === 'hold').length;
    if (off.exitCode === null) off.kill('SIGTERM');
    const offCode = await withTimeout(offExit, 30_000);
    const crit: Criterion[] = [expectTrue('the online command succeeded alone and beside the offline command', alone === 0 && onCode === 0)];
    return {
      metrics: { online_alone_s: aloneMs / 1000, online_shared_s: sharedMs / 1000, slowdown_pct: round((sharedMs / aloneMs - 1) * 100, 1), suspends, offline_exit: offCode },
      criteria: crit,
      notes: `online command: ${(aloneMs / 1000).toFixed(1)} s alone, ${(sharedMs / 1000).toFixed(1)} s beside the offline command under hybrid (${suspends} suspends); the offline command was stopped with SIGTERM when the online one ended`,
    };
  } finally {
    await coord.stop();
  }
}

export const STAGE4: Check[] = [
  { id: 'S4.1', stage: 4, name: 'multi-process online/offline scenario (default policy)', run: scenario },
  { id: 'S4.2', stage: 4, name: 'basic preemption', run: basicPreemption },
  { id: 'S4.3', stage: 4, name: 'frequent preemption (online every 100 ms)', run: frequentPreemption },
  { id: 'S4.4', stage: 4, name: 'edge case: empty (no processes, no offline job)', run: edgeEmpty },
  { id: 'S4.5', stage: 4, name: 'edge case: repeated suspend/resume', run: edgeRepeated },
  { id: 'S4.6', stage: 4, name: 'edge case: unknown queues', run: edgeUnknownQueue },
  { id: 'S4.7', stage: 4, name: 'edge case: concurrent requests (two online processes)', run: edgeConcurrent },
  { id: 'S4.8', stage: 4, name: 'latency: online end-to-end', run: latency },
  { id: 'S4.9', stage: 4, name: 'offline throughput loss', run: offlineLoss },
  { id: 'S4.10', stage: 4, name: 'stability and stress (online every 10 ms, 10 offline streams)', run: stress },
  { id: 'S4.11', stage: 4, name: 'user-supplied online and offline commands', run: userCommands },
];
