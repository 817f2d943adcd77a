/**
 * The policy decision table, pure. native/engine/src/policy.cpp implements the same table for
 * the data plane (which applies it without entering JavaScript); test/policy.test.ts checks
 * that both agree. Per GPU, the winning level is the highest priority among processes that are
 * busy or went idle less than the hysteresis ago; a process on a GPU whose level is above its
 * own priority is throttled:
 *   none: nothing (observe and record) · lv1: gate closed · suspend: HOLD ·
 *   hybrid: gate closed + HOLD · adaptive: gate closed + HOLD where allowHold.
 * gateEnabled = false (XSched provides Lv1) leaves every gate open.
 */
export const POLICIES = ['none', 'lv1', 'suspend', 'hybrid', 'adaptive'] as const;
export type PolicyName = (typeof POLICIES)[number];
export type ProcClass = 'online' | 'offline' | 'none';

export interface PlanProc {
  conn: number;
  cls: ProcClass;
  priority: number;
  gpus: number[];
  allowHold: boolean;
}

export interface Plan {
  policy: PolicyName;
  gateEnabled: boolean;
  hysteresisUs: number;
  leaseMs: number;
  ackTimeoutMs: number;
  /** > 0: the engine polls every pollUs instead of waiting on doorbells (benchmarks only). */
  pollUs?: number;
  procs: PlanProc[];
}

export interface ActivityIn {
  conn: number;
  busy: boolean;
  /** CLOCK_MONOTONIC ns when it went idle (0 = never busy). */
  idleSinceNs: number;
}

export interface Decision {
  conn: number;
  throttled: boolean;
  gateClosed: boolean;
  hold: boolean;
  byConn: number;
}

export function decide(plan: Plan, acts: ActivityIn[], nowNs: number): { decisions: Decision[]; wakeAtNs: number } {
  const act = new Map(acts.map((a) => [a.conn, a]));
  const hyst = plan.hysteresisUs * 1000;
  let wake = 0;
  const level = new Map<number, { prio: number; conn: number }>();
  for (const p of plan.procs) {
    if (p.cls === 'none') continue;
    const a = act.get(p.conn);
    if (a === undefined) continue;
    let active = a.busy;
    if (!active && a.idleSinceNs > 0 && nowNs < a.idleSinceNs + hyst) {
      active = true;
      const end = a.idleSinceNs + hyst;
      if (wake === 0 || end < wake) wake = end;
    }
    if (!active) continue;
    for (const g of p.gpus) {
      const l = level.get(g);
      if (l === undefined || p.priority > l.prio) level.set(g, { prio: p.priority, conn: p.conn });
    }
  }
  const decisions = plan.procs.map((p): Decision => {
    const d: Decision = { conn: p.conn, throttled: false, gateClosed: false, hold: false, byConn: 0 };
    if (p.cls !== 'none') {
      for (const g of p.gpus) {
        const l = level.get(g);
        if (l !== undefined && l.prio > p.priority) {
          d.throttled = true;
          d.byConn = l.conn;
          break;
        }
      }
    }
    if (d.throttled) {
      const gate = plan.gateEnabled;
      switch (plan.policy) {
        case 'lv1':
          d.gateClosed = gate;
          break;
        case 'suspend':
          d.hold = true;
          break;
        case 'hybrid':
          d.gateClosed = gate;
          d.hold = true;
          break;
        case 'adaptive':
          d.gateClosed = gate;
          d.hold = p.allowHold;
          break;
        default:
          break;
      }
    }
    return d;
  });
  return { decisions, wakeAtNs: wake };
}

/**
 * Adaptive: is suspending an offline process worth it? Its in-flight work drains in about
 * inFlight x kernel time; a suspend/resume pair costs suspend + resume, and on HWS GPUs every
 * suspend also unmaps the online queue (the whole runlist), so the cost counts twice the
 * unmap/remap. Hold only when draining takes longer; hysteresis keeps the answer from flapping.
 *
 * The kernel time is measured from the offline process's counters while it is bound by Lv1
 * (its lv1_waits grow: each launch waited for a completion, so launches per second equal
 * completions per second); the in-flight count is its Lv1 threshold then.
 */
export interface AdaptiveSample {
  tNs: number;
  launches: number;
  lv1Waits: number;
  lv1Threshold: number;
  gateClosed: boolean;
}

export interface AdaptiveState {
  kernelNsEst: number | null;
  allowHold: boolean;
  last: AdaptiveSample | null;
}

export interface AdaptiveParams {
  /** Assumed suspend+resume cost before any was measured. */
  defaultCostNs: number;
  /** Relative band: hold above cost*(1+h), stop holding below cost*(1-h). */
  hysteresis: number;
  /** Smoothing of the kernel time estimate (EWMA weight of a new sample). */
  alpha: number;
}

export const ADAPTIVE_DEFAULTS: AdaptiveParams = { defaultCostNs: 4_000_000, hysteresis: 0.25, alpha: 0.3 };

export function adaptiveInit(): AdaptiveState {
  return { kernelNsEst: null, allowHold: true, last: null };
}

/** costNs: measured suspend + resume averages (null before any), doubled on HWS by the caller. */
export function adaptiveUpdate(st: AdaptiveState, s: AdaptiveSample, costNs: number | null, p: AdaptiveParams = ADAPTIVE_DEFAULTS): AdaptiveState {
  let est = st.kernelNsEst;
  const prev = st.last;
  if (prev !== null && !s.gateClosed && !prev.gateClosed) {
    const dl = s.launches - prev.launches;
    const dw = s.lv1Waits - prev.lv1Waits;
    const dt = s.tNs - prev.tNs;
    // bound by Lv1 over the interval: launches complete at the rate they are admitted
    if (dl > 0 && dw > 0 && dt > 0) {
      const k = dt / dl;
      est = est === null ? k : est + p.alpha * (k - est);
    }
  }
  let allow = st.allowHold;
  if (est !== null) {
    const inFlight = s.lv1Threshold > 0 ? s.lv1Threshold : Number.POSITIVE_INFINITY;
    const drain = inFlight * est;
    const cost = costNs ?? p.defaultCostNs;
    if (allow && drain < cost * (1 - p.hysteresis)) allow = false;
    else if (!allow && drain > cost * (1 + p.hysteresis)) allow = true;
  }
  return { kernelNsEst: est, allowHold: allow, last: s };
}
