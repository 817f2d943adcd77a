/**
 * `compare`: the same online/offline pair under every mode, after the online job alone.
 * Default pair: offline 20 ms spin kernels back to back (the device is never idle), online
 * 100 requests of five 2 ms kernels every 100 ms. The offline job gets a fixed kernel count
 * sized to outlast the online run and always runs to its end, so every mode completes the
 * same offline work.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chooseBackend } from '../backend.js';
import { deviceRunning, deviceState, startDevice, stopDevice } from '../emu.js';
import { emuDir } from '../env.js';
import { XsbError } from '../errors.js';
import { packageVersion } from '../paths.js';
import { runAlone, runPair, type Mechanism, type PairRun, type Target, type WorkloadSpec } from './orchestrate.js';
import { resolveProfile, type ProfileInfo } from './profile.js';
import { mean, percentile, round, type CompareResult, type ModeResult } from './result.js';

export interface ModeDef {
  mode: string;
  policy: 'none' | 'lv1' | 'suspend' | 'hybrid' | 'adaptive';
  mechanism: Mechanism;
  xsched?: boolean;
}

export const MODES: ModeDef[] = [
  { mode: 'none', policy: 'none', mechanism: 'dbg-trap' },
  { mode: 'lv1', policy: 'lv1', mechanism: 'dbg-trap' },
  { mode: 'suspend/dbg-trap', policy: 'suspend', mechanism: 'dbg-trap' },
  { mode: 'suspend/deactivate', policy: 'suspend', mechanism: 'deactivate' },
  { mode: 'hybrid', policy: 'hybrid', mechanism: 'dbg-trap' },
  { mode: 'adaptive', policy: 'adaptive', mechanism: 'dbg-trap' },
  { mode: 'xsched-lv1', policy: 'none', mechanism: 'dbg-trap', xsched: true },
  { mode: 'xsched-lv1+suspend', policy: 'suspend', mechanism: 'dbg-trap', xsched: true },
];

export interface CompareOptions {
  emulate?: boolean | undefined;
  /** Emulator directory and profile (emulator backend). */
  dir?: string | undefined;
  profile?: string | undefined;
  xsched?: string | undefined;
  onlineRequests: number;
  periodMs: number;
  onlineKernelUs: number;
  kernelsPerRequest: number;
  offlineKernelUs: number;
  /** Offline kernel count; default sized to outlast the online run. */
  offlineCount?: number | undefined;
  /** Scales the number of online requests (and so the offline count). */
  duration: number;
  hysteresisUs?: number | undefined;
  lv1Threshold?: number | undefined;
  lv1Batch?: number | undefined;
  /** Only these modes (names as in MODES). */
  modes?: string[] | undefined;
  /** Working directory for sockets and workload JSON (default: a temp dir, removed after). */
  workDir?: string | undefined;
  progress?: ((p: CompareProgress) => void) | undefined;
}

export interface CompareProgress {
  step: number;
  steps: number;
  what: string;
}

export const COMPARE_DEFAULTS = {
  onlineRequests: 100,
  periodMs: 100,
  onlineKernelUs: 2000,
  kernelsPerRequest: 5,
  offlineKernelUs: 20000,
  duration: 1,
} as const;

export interface CompareWorkload {
  online: WorkloadSpec & { periodMs: number; requests: number; kernelsPerRequest: number };
  offline: WorkloadSpec;
}

export function compareWorkload(o: Pick<CompareOptions, 'onlineRequests' | 'periodMs' | 'onlineKernelUs' | 'kernelsPerRequest' | 'offlineKernelUs' | 'offlineCount' | 'duration'>): CompareWorkload {
  const requests = Math.max(3, Math.round(o.onlineRequests * o.duration));
  const windowMs = requests * o.periodMs;
  // start-up of the online process (~1 s on the emulator) plus 25 % for the offline job's loss
  const count = o.offlineCount ?? Math.ceil(((windowMs + 1500) * 1.25 * 1000) / o.offlineKernelUs);
  return {
    online: { kernelUs: o.onlineKernelUs, count: requests * o.kernelsPerRequest, periodMs: o.periodMs, requests, kernelsPerRequest: o.kernelsPerRequest },
    offline: { kernelUs: o.offlineKernelUs, count },
  };
}

/** XSched's preload and variables for its Lv1 (its shim after ours, the global scheduler). */
export function xschedSetup(prefix: string | undefined): { ok: true; shim: string; prefix: string } | { ok: false; reason: string; enable: string } {
  if (prefix === undefined) {
    return { ok: false, reason: 'no XSched installation given', enable: 'pass --xsched PREFIX (an XSched build for HIP: PREFIX/lib/libshimhip.so, PREFIX/bin/xserver)' };
  }
  const p = resolve(prefix);
  const shim = join(p, 'lib', 'libshimhip.so');
  if (!existsSync(shim)) return { ok: false, reason: `${shim} is missing`, enable: 'build XSched for HIP (make hip INSTALL_PATH=PREFIX) and pass that PREFIX' };
  return { ok: true, shim, prefix: p };
}

export function hardwareName(backend: 'emu' | 'kfd', profile: ProfileInfo): string {
  return backend === 'emu' ? `emulated AMD GPU (profile ${profile.name}, ${profile.values.num_cus} CUs) on ${hostname()}` : `AMD GPU via /dev/kfd on ${hostname()}`;
}

function onlineSummary(raw: number[], standaloneP99: number | null): ModeResult['online'] {
  return {
    count: raw.length,
    p50_ms: round(percentile(raw, 50)) ?? 0,
    p99_ms: round(percentile(raw, 99)) ?? 0,
    max_ms: round(raw.length ? Math.max(...raw) : 0) ?? 0,
    mean_ms: round(mean(raw)) ?? 0,
    standalone_p99_ms: standaloneP99,
    latency_ms_raw: raw,
  };
}

/** Offline loss while the online job ran: the offline job's extra time over the online window. */
export function offlineSummary(r: PairRun, spec: WorkloadSpec, aloneKernelMs: number | null): ModeResult['offline'] {
  const off = r.offline;
  let loss: number | null = null;
  let tput: number | null = null;
  if (aloneKernelMs !== null && aloneKernelMs > 0 && r.online.elapsed_ms > 0) {
    const extra = off.elapsed_ms - off.kernels_completed * aloneKernelMs;
    loss = Math.min(1, Math.max(0, extra / r.online.elapsed_ms));
    tput = (1000 / aloneKernelMs) * (1 - loss);
  }
  return {
    kernels_completed: off.kernels_completed,
    kernels_expected: off.kernels_expected,
    throughput_per_s: round(tput),
    loss_pct: loss === null ? null : round(loss * 100, 2),
    elapsed_ms: off.elapsed_ms,
    overall_throughput_per_s: round(off.elapsed_ms > 0 ? (off.kernels_completed * 1000) / off.elapsed_ms : null),
    kernel_count: spec.count,
  };
}

export function preemptSummary(r: PairRun): ModeResult['preempt'] {
  const p = r.preempt;
  if (p.suspends === 0 && p.ackHoldNs.length === 0) return null;
  const sus = p.suspendNs.map((n) => n / 1000);
  const res = p.resumeNs.map((n) => n / 1000);
  return {
    count: p.suspends,
    resumes: p.resumes,
    suspend_p50_us: round(percentile(sus, 50), 1),
    suspend_p99_us: round(percentile(sus, 99), 1),
    resume_p50_us: round(percentile(res, 50), 1),
    resume_p99_us: round(percentile(res, 99), 1),
    suspend_mean_us: round(p.suspends > 0 ? p.suspendNsSum / p.suspends / 1000 : null, 1),
    resume_mean_us: round(p.resumes > 0 ? p.resumeNsSum / p.resumes / 1000 : null, 1),
    suspend_us_raw: sus.map((v) => round(v, 1) ?? 0),
    resume_us_raw: res.map((v) => round(v, 1) ?? 0),
    ack_hold_p50_us: round(percentile(p.ackHoldNs, 50) === null ? null : (percentile(p.ackHoldNs, 50) ?? 0) / 1000, 1),
    ack_hold_p99_us: round(percentile(p.ackHoldNs, 99) === null ? null : (percentile(p.ackHoldNs, 99) ?? 0) / 1000, 1),
    ack_run_p50_us: round(percentile(p.ackRunNs, 50) === null ? null : (percentile(p.ackRunNs, 50) ?? 0) / 1000, 1),
    source: 'shim counters (suspend_ns_last/resume_ns_last per event); ack_* = coordinator request posted -> shim acknowledged',
  };
}

/** Starts a device for the emulator backend unless one runs; returns how to stop it. */
export async function prepareTarget(o: { emulate?: boolean | undefined; dir?: string | undefined; profile?: string | undefined }): Promise<{ target: Target; reason: string; cleanup: () => Promise<void> }> {
  const choice = chooseBackend({ emulate: o.emulate });
  if (choice.backend === 'kfd') return { target: { backend: 'kfd', profile: o.profile }, reason: choice.reason, cleanup: async () => undefined };
  const dir = resolve(o.dir ?? emuDir());
  let started = false;
  if (!deviceRunning(deviceState(dir))) {
    await startDevice({ dir, profile: o.profile });
    started = true;
  }
  return {
    target: { backend: 'emu', emuDir: dir, profile: o.profile },
    reason: choice.reason,
    cleanup: async () => {
      if (started) await stopDevice({ dir });
    },
  };
}

export async function runCompare(o: CompareOptions, preparedTarget?: Target): Promise<CompareResult> {
  const t0 = Date.now();
  const profile = resolveProfile(o.profile);
  const wl = compareWorkload(o);
  const xs = xschedSetup(o.xsched);
  const wanted = o.modes ?? MODES.map((m) => m.mode);
  for (const w of wanted) if (!MODES.some((m) => m.mode === w)) throw new XsbError(`unknown mode ${w}`, `use one of ${MODES.map((m) => m.mode).join(', ')}`);
  const modes = MODES.filter((m) => wanted.includes(m.mode));
  const skipped: { mode: string; reason: string; enable: string }[] = [];
  const toRun = modes.filter((m) => {
    if (m.xsched !== true || xs.ok) return true;
    skipped.push({ mode: m.mode, reason: xs.reason, enable: xs.enable });
    return false;
  });

  const prepared = preparedTarget === undefined ? await prepareTarget(o) : { target: preparedTarget, reason: 'given', cleanup: async () => undefined };
  const work = o.workDir ?? mkdtempSync(join(tmpdir(), 'xsb-compare-'));
  mkdirSync(work, { recursive: true });
  const steps = toRun.length + 3;
  let step = 0;
  const tell = (what: string): void => o.progress?.({ step: step++, steps, what });
  try {
    const target = prepared.target;
    tell('online job alone');
    const aloneOn = await runAlone({ target, outDir: work, name: 'standalone-online', spec: wl.online, shim: false });
    const onRaw = aloneOn.latency_ms_raw ?? [];
    const standaloneP99 = round(percentile(onRaw, 99));
    tell('offline job alone');
    const aloneCount = Math.max(5, Math.min(50, Math.round(1_000_000 / wl.offline.kernelUs)));
    const aloneOff = await runAlone({ target, outDir: work, name: 'standalone-offline', spec: { ...wl.offline, count: aloneCount }, shim: false });
    const aloneKernelMs = aloneOff.elapsed_ms / aloneOff.kernels_completed;

    const coordArgs: string[] = [];
    if (o.hysteresisUs !== undefined) coordArgs.push('--hysteresis-us', String(o.hysteresisUs));
    if (o.lv1Threshold !== undefined || o.lv1Batch !== undefined) {
      const th = o.lv1Threshold ?? 16;
      coordArgs.push('--lv1-threshold', String(th), '--lv1-batch', String(o.lv1Batch ?? Math.max(1, Math.floor(th / 2))));
    }
    const results: ModeResult[] = [];
    for (const m of toRun) {
      tell(`mode ${m.mode}`);
      const tm = Date.now();
      const xsArgs = m.xsched === true && xs.ok ? ['--lv1', 'xsched', '--xsched', xs.prefix] : [];
      const r = await runPair({
        target,
        outDir: work,
        name: m.mode.replace(/[^a-z0-9]+/gi, '-'),
        policy: m.policy === 'none' && m.xsched === true ? 'lv1' : m.policy,
        mechanism: m.mechanism,
        online: wl.online,
        offline: wl.offline,
        coordinatorArgs: [...coordArgs, ...xsArgs],
        ...(m.xsched === true && xs.ok
          ? {
              extraPreload: [xs.shim],
              vars: { XSCHED_AUTO_XQUEUE: 'ON', XSCHED_AUTO_XQUEUE_LEVEL: '1', XSCHED_SCHEDULER: 'GLB', XSCHED_POLICY: 'HPF' },
            }
          : {}),
      });
      results.push({
        mode: m.mode,
        policy: m.policy,
        mechanism: m.policy === 'none' || m.policy === 'lv1' ? null : m.mechanism,
        online: onlineSummary(r.online.latency_ms_raw ?? [], standaloneP99),
        offline: offlineSummary(r, wl.offline, aloneKernelMs),
        preempt: preemptSummary(r),
        gate_closed_seen: r.gateClosedSeen,
        offline_queues: r.lastRegistry?.processes.find((x) => x.pid === r.offlinePid)?.queues.length ?? null,
        wall_s: round((Date.now() - tm) / 1000, 1),
      });
    }
    tell('done');
    return {
      kind: 'xsched-bridge.compare',
      version: 1,
      date: new Date().toISOString(),
      backend: target.backend,
      backend_reason: prepared.reason,
      hardware: hardwareName(target.backend, profile),
      xsched_bridge_version: packageVersion(),
      profile: { name: profile.name, source: profile.source, assumed: profile.assumed, values: profile.values },
      workload: {
        online: { kernel_us: wl.online.kernelUs, kernels_per_request: wl.online.kernelsPerRequest, requests: wl.online.requests, period_ms: wl.online.periodMs },
        offline: { kernel_us: wl.offline.kernelUs, count: wl.offline.count },
        duration_scale: o.duration,
        lv1: { threshold: o.lv1Threshold ?? 16, batch: o.lv1Batch ?? (o.lv1Threshold !== undefined ? Math.max(1, Math.floor(o.lv1Threshold / 2)) : 8) },
        hysteresis_us: o.hysteresisUs ?? 2000,
      },
      standalone: {
        online: { ...onlineSummary(onRaw, null), standalone_p99_ms: undefined },
        offline: { throughput_per_s: round(1000 / aloneKernelMs) ?? 0, kernel_ms: round(aloneKernelMs) ?? 0, kernels: aloneOff.kernels_completed },
      },
      modes: results,
      skipped,
      wall_s: round((Date.now() - t0) / 1000, 1),
    };
  } finally {
    if (o.workDir === undefined) rmSync(work, { recursive: true, force: true });
    if (preparedTarget === undefined) await prepared.cleanup();
  }
}
