/**
 * What an online request waited for in each mode, computed from the device profile and the
 * workload (never fixed text): the model the emulator implements (native/emu/device/model.c)
 * and the HWS behaviour of KFD-FACTS.md. The measured numbers are set beside the prediction.
 *
 * Model, for a request of K kernels of t_k arriving while the offline job runs kernels of T
 * that occupy the whole device:
 * - none / Lv1: running waves are never evicted by priority; the online kernel starts when the
 *   running offline kernel ends (on average T/2 later, at most T). Each following kernel of the
 *   request is dispatched launch_ns after the previous one ended, and in that gap the free CUs
 *   go to the offline queue's next dispatch if it has one in flight: so every kernel of the
 *   request waits for one offline kernel while the offline job has kernels in flight. Lv1
 *   stops new offline launches but not the n in flight (between threshold - batch and
 *   threshold): min(K, n) offline kernels still interleave.
 * - suspend / hybrid / adaptive: the hold request makes the shim suspend its queues; on HWS
 *   this unmaps the whole runlist (runlist_unmap_ns), CWSR-saves the resident waves
 *   (cwsr_bytes_full_queue x occupancy / cwsr_bytes_per_s) and maps the runlist again
 *   (runlist_remap_ns); the online kernels then run back to back.
 */
import type { DeviceProfile } from '../compare/profile.js';
import { transitionMs } from '../compare/profile.js';
import type { CompareResult, ModeResult } from '../compare/result.js';

export interface Workload {
  kernelMs: number; // online t_k
  k: number; // kernels per request
  offlineMs: number; // T
  threshold: number;
  batch: number;
}

export function workloadOf(r: CompareResult): Workload {
  const w = r.workload;
  return {
    kernelMs: (w?.online.kernel_us ?? 2000) / 1000,
    k: w?.online.kernels_per_request ?? 5,
    offlineMs: (w?.offline.kernel_us ?? 20000) / 1000,
    threshold: w?.lv1?.threshold ?? 16,
    batch: w?.lv1?.batch ?? 8,
  };
}

export interface Prediction {
  /** Expected mean and worst request latency (ms). */
  meanMs: number;
  maxMs: number;
  /** One paragraph: what the request waited for, with the profile's numbers. */
  text: string;
}

const f = (v: number, d = 1): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(d));

/** Offline kernels in flight under Lv1 with this threshold and batch (0 = unbounded). */
export function lv1InFlight(threshold: number, batch: number): number {
  if (threshold <= 0) return Infinity;
  return Math.max(1, threshold - Math.min(batch, threshold) / 2);
}

/** Mean request latency under Lv1 (or none, with inFlight = Infinity). */
export function lv1LatencyMs(w: Workload, inFlight: number, launchMs: number): { mean: number; max: number } {
  const n = Math.min(w.k, Math.max(1, Math.ceil(inFlight)));
  const own = w.k * (w.kernelMs + launchMs);
  return { mean: w.offlineMs / 2 + (n - 1) * w.offlineMs + own, max: n * w.offlineMs + own };
}

export function predict(mode: string, p: DeviceProfile, w: Workload, offlineQueues = 1): Prediction {
  const launchMs = p.launch_ns / 1e6;
  const own = w.k * (w.kernelMs + launchMs);
  const tr = transitionMs(p, 1);
  const ownText = `its own ${w.k} × ${f(w.kernelMs)} ms (+ ${f(p.launch_ns / 1000, 0)} µs launch each) = ${f(own)} ms`;
  const trText =
    `the HWS runlist transition of the suspend: unmap ${f(tr.unmap, 2)} ms + CWSR save of the resident offline waves ` +
    `(${f(p.cwsr_bytes_full_queue / 2 ** 20, 0)} MiB at ${f(p.cwsr_bytes_per_s / 1e12, 2)} TB/s = ${f(tr.save * 1000, 0)} µs) + remap ${f(tr.remap, 2)} ms ≈ ${f(tr.total, 2)} ms`;
  if (mode === 'none' || mode === 'xsched-lv1' || mode === 'lv1') {
    const lv1 = mode !== 'none';
    const inflight = lv1 ? lv1InFlight(w.threshold, w.batch) : Infinity;
    const l = lv1LatencyMs(w, inflight, launchMs);
    const n = Math.min(w.k, Math.ceil(inflight));
    const head = lv1
      ? `Lv1 holds new offline launches, but about ${Number.isFinite(inflight) ? f(inflight, 0) : 'all'} offline kernels stay in flight (threshold ${w.threshold}, batch ${w.batch}); running waves are not evicted, so `
      : 'Nothing holds the offline job back and running waves are not evicted by priority, so ';
    return {
      meanMs: l.mean,
      maxMs: l.max,
      text:
        head +
        `the request waited for the offline kernel running when it arrived (${f(w.offlineMs)} ms kernels: ${f(w.offlineMs / 2)} ms on average, up to ${f(w.offlineMs)} ms)` +
        (n > 1 ? `, then for one more offline kernel before each of its next ${n - 1} kernels (the free CUs go to the offline queue's next dispatch during the ${f(p.launch_ns / 1000, 0)} µs launch gap)` : '') +
        `, plus ${ownText}: ≈ ${f(l.mean)} ms on average, up to ${f(l.max)} ms.`,
    };
  }
  if (mode.startsWith('suspend') || mode === 'hybrid' || mode === 'adaptive' || mode === 'xsched-lv1+suspend') {
    // UPDATE_QUEUE deactivates one queue per call: one runlist transition per offline queue
    const transitions = mode === 'suspend/deactivate' ? Math.max(1, offlineQueues) : 1;
    const mean = transitions * tr.total + own;
    const gate = mode === 'hybrid' || mode === 'adaptive' ? 'The gate closes first (new offline launches wait), then ' : '';
    const mech = mode === 'suspend/deactivate' ? 'UPDATE_QUEUE with queue_percentage 0 (deactivate)' : 'DBG_TRAP SUSPEND_QUEUES';
    const adapt =
      mode === 'adaptive'
        ? ` Adaptive suspends only once it estimates that the offline work in flight (≈ ${f(w.offlineMs)} ms kernels) takes longer to drain than a suspend and resume cost (≈ ${f(2 * tr.total, 1)} ms); until it has that estimate its first requests wait as under Lv1, which shows in its tail.`
        : '';
    const perQueue =
      transitions > 1 ? ` Deactivation goes through UPDATE_QUEUE one queue at a time, and each of the offline job's ${transitions} queues costs its own runlist transition: ≈ ${f(transitions * tr.total, 2)} ms in all.` : '';
    return {
      meanMs: mean,
      maxMs: mean + tr.total,
      text:
        `${gate}the offline queues are suspended (${mech}) as soon as the online job turns busy. The request waited for ${trText}, ` +
        `plus ${ownText}: ≈ ${f(mean)} ms. A request arriving while the previous resume is still in its transition waits up to one more transition (≈ ${f(mean + tr.total)} ms).` +
        perQueue +
        adapt,
    };
  }
  return { meanMs: own, maxMs: own, text: `Unknown mode: only ${ownText} is predicted.` };
}

/** The explanation line for one measured mode. */
export function explainMode(r: CompareResult, m: ModeResult): Prediction & { measured: string } {
  const p = r.profile.values;
  const w = workloadOf(r);
  if (p === null) {
    return { meanMs: NaN, maxMs: NaN, text: 'No device profile was given for this run: no model prediction.', measured: measuredText(m) };
  }
  const q = typeof m['offline_queues'] === 'number' ? m['offline_queues'] : 1;
  return { ...predict(m.mode, p, w, q), measured: measuredText(m) };
}

function measuredText(m: ModeResult): string {
  const o = m.online;
  const parts = [`measured: p50 ${f(o.p50_ms)} ms, p99 ${f(o.p99_ms)} ms, max ${f(o.max_ms)} ms`];
  if (m.preempt !== null && m.preempt.suspend_p50_us !== null) {
    parts.push(`suspend p50 ${f((m.preempt.suspend_p50_us ?? 0) / 1000, 2)} ms, resume p50 ${f((m.preempt.resume_p50_us ?? 0) / 1000, 2)} ms`);
  }
  if (m.offline.loss_pct !== null) parts.push(`offline loss ${f(m.offline.loss_pct)} %`);
  return parts.join('; ');
}
