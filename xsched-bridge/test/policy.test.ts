// The policy decision table: the TS copy (used for planning and documentation) and the
// engine's C++ copy (applied by the data plane) must agree case by case.
import { describe, expect, it } from 'vitest';
import { loadEngine } from '../src/coordinator/engine.js';
import { adaptiveInit, adaptiveUpdate, decide, POLICIES, type ActivityIn, type Plan, type PlanProc, type PolicyName } from '../src/coordinator/policy.js';

const proc = (conn: number, cls: PlanProc['cls'], priority: number, gpus: number[], allowHold = true): PlanProc => ({ conn, cls, priority, gpus, allowHold });
const plan = (policy: PolicyName, procs: PlanProc[], extra: Partial<Plan> = {}): Plan => ({
  policy,
  gateEnabled: true,
  hysteresisUs: 1000,
  leaseMs: 2000,
  ackTimeoutMs: 1000,
  procs,
  ...extra,
});
const NOW = 10_000_000_000;

interface Case {
  name: string;
  plan: Plan;
  acts: ActivityIn[];
  now?: number;
}

function cases(): Case[] {
  const out: Case[] = [];
  const two = [proc(1, 'online', 15, [7]), proc(2, 'offline', 2, [7])];
  for (const p of POLICIES) {
    out.push({ name: `${p}: online busy`, plan: plan(p, two), acts: [{ conn: 1, busy: true, idleSinceNs: 0 }] });
    out.push({ name: `${p}: online idle`, plan: plan(p, two), acts: [{ conn: 1, busy: false, idleSinceNs: 0 }] });
    out.push({ name: `${p}: within hysteresis`, plan: plan(p, two), acts: [{ conn: 1, busy: false, idleSinceNs: NOW - 500_000 }] });
    out.push({ name: `${p}: after hysteresis`, plan: plan(p, two), acts: [{ conn: 1, busy: false, idleSinceNs: NOW - 1_500_000 }] });
    out.push({ name: `${p}: xsched lv1`, plan: plan(p, two, { gateEnabled: false }), acts: [{ conn: 1, busy: true, idleSinceNs: 0 }] });
  }
  out.push({
    name: 'adaptive: hold not worth it',
    plan: plan('adaptive', [proc(1, 'online', 15, [7]), proc(2, 'offline', 2, [7], false)]),
    acts: [{ conn: 1, busy: true, idleSinceNs: 0 }],
  });
  out.push({
    name: 'per GPU scope',
    plan: plan('hybrid', [proc(1, 'online', 15, [7]), proc(2, 'offline', 2, [7]), proc(3, 'offline', 2, [8]), proc(4, 'offline', 2, [8, 7])]),
    acts: [{ conn: 1, busy: true, idleSinceNs: 0 }],
  });
  out.push({
    name: 'three classes: highest busy wins',
    plan: plan('hybrid', [proc(1, 'online', 15, [7]), proc(2, 'online', 10, [7]), proc(3, 'offline', 2, [7])]),
    acts: [
      { conn: 1, busy: true, idleSinceNs: 0 },
      { conn: 2, busy: true, idleSinceNs: 0 },
    ],
  });
  out.push({
    name: 'three classes: middle busy only',
    plan: plan('lv1', [proc(1, 'online', 15, [7]), proc(2, 'online', 10, [7]), proc(3, 'offline', 2, [7])]),
    acts: [{ conn: 2, busy: true, idleSinceNs: 0 }],
  });
  out.push({
    name: 'class none is never throttled and never throttles',
    plan: plan('hybrid', [proc(1, 'none', 15, [7]), proc(2, 'offline', 2, [7]), proc(3, 'none', 0, [7]), proc(4, 'online', 15, [7])]),
    acts: [
      { conn: 1, busy: true, idleSinceNs: 0 },
      { conn: 4, busy: true, idleSinceNs: 0 },
    ],
  });
  out.push({
    name: 'equal priorities do not throttle each other',
    plan: plan('hybrid', [proc(1, 'online', 15, [7]), proc(2, 'online', 15, [7])]),
    acts: [
      { conn: 1, busy: true, idleSinceNs: 0 },
      { conn: 2, busy: true, idleSinceNs: 0 },
    ],
  });
  return out;
}

describe('decide (TypeScript)', () => {
  it('maps throttling to each policy', () => {
    const two = [proc(1, 'online', 15, [7]), proc(2, 'offline', 2, [7])];
    const busy = [{ conn: 1, busy: true, idleSinceNs: 0 }];
    const off = (p: PolicyName, extra: Partial<Plan> = {}) => decide(plan(p, two, extra), busy, NOW).decisions[1];
    expect(off('none')).toMatchObject({ throttled: true, gateClosed: false, hold: false, byConn: 1 });
    expect(off('lv1')).toMatchObject({ gateClosed: true, hold: false });
    expect(off('suspend')).toMatchObject({ gateClosed: false, hold: true });
    expect(off('hybrid')).toMatchObject({ gateClosed: true, hold: true });
    expect(off('adaptive')).toMatchObject({ gateClosed: true, hold: true });
    expect(off('hybrid', { gateEnabled: false })).toMatchObject({ gateClosed: false, hold: true });
    // the online process itself is never throttled
    expect(decide(plan('hybrid', two), busy, NOW).decisions[0]).toMatchObject({ throttled: false });
  });

  it('keeps holding within the hysteresis and says when to look again', () => {
    const two = [proc(1, 'online', 15, [7]), proc(2, 'offline', 2, [7])];
    const idle = NOW - 400_000;
    const r = decide(plan('hybrid', two), [{ conn: 1, busy: false, idleSinceNs: idle }], NOW);
    expect(r.decisions[1]?.hold).toBe(true);
    expect(r.wakeAtNs).toBe(idle + 1_000_000);
    const later = decide(plan('hybrid', two), [{ conn: 1, busy: false, idleSinceNs: idle }], idle + 1_000_000);
    expect(later.decisions[1]?.hold).toBe(false);
    expect(later.wakeAtNs).toBe(0);
  });

  it('scopes throttling to the GPUs shared with the busy process', () => {
    const c = cases().find((x) => x.name === 'per GPU scope');
    const d = decide(c!.plan, c!.acts, NOW).decisions;
    expect(d.map((x) => x.throttled)).toEqual([false, true, false, true]);
  });

  it('lets the highest busy class win', () => {
    const c = cases().find((x) => x.name === 'three classes: highest busy wins');
    const d = decide(c!.plan, c!.acts, NOW).decisions;
    expect(d.map((x) => [x.throttled, x.byConn])).toEqual([
      [false, 0],
      [true, 1],
      [true, 1],
    ]);
  });
});

describe('adaptive estimate', () => {
  const s = (tMs: number, launches: number, lv1Waits: number, gateClosed = false) => ({ tNs: tMs * 1e6, launches, lv1Waits, lv1Threshold: 16, gateClosed });

  it('suspends long kernels and lets short ones drain', () => {
    // 20 ms kernels bound by Lv1: 50 launches/s; 16 in flight drain in 320 ms >> 4 ms
    let st = adaptiveUpdate(adaptiveInit(), s(0, 0, 0), 4e6);
    st = adaptiveUpdate(st, s(1000, 50, 50), 4e6);
    expect(st.kernelNsEst).toBeCloseTo(20e6, -3);
    expect(st.allowHold).toBe(true);
    // 10 us kernels: 16 x 10 us = 160 us drain << 4 ms
    let sh = adaptiveUpdate(adaptiveInit(), s(0, 0, 0), 4e6);
    sh = adaptiveUpdate(sh, s(100, 10_000, 10_000), 4e6);
    expect(sh.allowHold).toBe(false);
  });

  it('does not flap inside the hysteresis band', () => {
    // drain = 16 x 250 us = 4 ms, exactly the cost: inside the band, the answer stays
    let st = adaptiveUpdate(adaptiveInit(), s(0, 0, 0), 4e6);
    st = adaptiveUpdate(st, s(1000, 4000, 4000), 4e6);
    expect(st.allowHold).toBe(true);
    const off = { ...st, allowHold: false };
    expect(adaptiveUpdate(off, s(2000, 8000, 8000), 4e6).allowHold).toBe(false);
  });

  it('learns nothing while the process is throttled or not Lv1-bound', () => {
    let st = adaptiveUpdate(adaptiveInit(), s(0, 0, 0), 4e6);
    st = adaptiveUpdate(st, s(1000, 50, 50, true), 4e6);
    expect(st.kernelNsEst).toBeNull();
    st = adaptiveUpdate(st, s(2000, 100, 50), 4e6);
    expect(st.kernelNsEst).toBeNull();
  });
});

describe('decide: TypeScript and the native engine agree', () => {
  const engine = loadEngine(); // a missing build fails here, naming what to build
  for (const c of cases()) {
    it(c.name, () => {
      const now = c.now ?? NOW;
      const ts = decide(c.plan, c.acts, now);
      const native = engine.decide(c.plan, c.acts, now);
      expect(native.decisions).toEqual(ts.decisions);
      expect(native.wakeAtNs).toBe(ts.wakeAtNs);
    });
  }
});
