/**
 * The coordinator's registry: attached processes (keyed by connection), their queues and
 * GPUs, the counters their shims report, and what the engine did to them (gate and hold time,
 * preemptions, busy time), accumulated from the engine's events.
 */
import type { Hello, QueueMsg, Stats } from './protocol.js';
import { adaptiveInit, type AdaptiveState, type PlanProc, type ProcClass } from './policy.js';
import { EXEC_STATES, GATE_CLOSED, GATE_OPEN, type ProcSnapshot } from './engine.js';

export const DEFAULT_PRIORITY: Record<ProcClass, number> = { online: 15, offline: 2, none: 0 };

export interface QueueInfo {
  id: number;
  gpu_id: number;
  qtype: number;
  ring_base: string;
  ring_size: number;
  priority_requested: number;
  priority_applied: number;
  percentage: number;
  state: string;
}

export interface ProcEntry {
  conn: number;
  pid: number;
  uid: number;
  gid: number;
  cls: ProcClass;
  priority: number;
  exe: string;
  helloGpus: number[];
  mechanism: string;
  shm: string;
  queues: Map<number, QueueInfo>;
  stats: Stats | null;
  attachedAtMs: number;
  gateClosedSinceNs: number | null;
  gateClosedNs: number;
  holdAckedAtNs: number | null;
  heldNs: number;
  preemptions: number;
  busySinceNs: number | null;
  busyNs: number;
  adaptive: AdaptiveState;
  /** why the engine stopped trusting the control block (the connection is being closed); null: trusted */
  untrusted: string | null;
}

export class Registry {
  readonly procs = new Map<number, ProcEntry>();

  add(conn: number, peer: { pid: number; uid: number; gid: number }, h: Hello): ProcEntry {
    const cls: ProcClass = h.class ?? 'none';
    const e: ProcEntry = {
      conn,
      pid: peer.pid,
      uid: peer.uid,
      gid: peer.gid,
      cls,
      priority: h.priority ?? DEFAULT_PRIORITY[cls],
      exe: h.exe,
      helloGpus: [...new Set(h.gpus)],
      mechanism: h.mechanism,
      shm: h.shm,
      queues: new Map(),
      stats: null,
      attachedAtMs: Date.now(),
      gateClosedSinceNs: null,
      gateClosedNs: 0,
      holdAckedAtNs: null,
      heldNs: 0,
      preemptions: 0,
      busySinceNs: null,
      busyNs: 0,
      adaptive: adaptiveInit(),
      untrusted: null,
    };
    this.procs.set(conn, e);
    return e;
  }

  remove(conn: number): ProcEntry | undefined {
    const e = this.procs.get(conn);
    this.procs.delete(conn);
    return e;
  }

  /** Returns true when the process's GPU set changed. */
  queue(conn: number, q: QueueMsg): boolean {
    const e = this.procs.get(conn);
    if (e === undefined) return false;
    const before = gpusOf(e).join(',');
    if (q.event === 'destroy') e.queues.delete(q.id);
    else {
      const { v: _v, type: _t, event: _e, ...info } = q;
      e.queues.set(q.id, info);
    }
    return gpusOf(e).join(',') !== before;
  }

  planProcs(allowHold: (e: ProcEntry) => boolean): PlanProc[] {
    return [...this.procs.values()].map((e) => ({
      conn: e.conn,
      cls: e.cls,
      priority: e.priority,
      gpus: gpusOf(e),
      allowHold: allowHold(e),
    }));
  }
}

/** GPUs a process uses: those of its KFD queues, or every GPU it can see before it has any. */
export function gpusOf(e: ProcEntry): number[] {
  const q = [...new Set([...e.queues.values()].map((x) => x.gpu_id))].filter((g) => g !== 0);
  return (q.length > 0 ? q : e.helloGpus).sort((a, b) => a - b);
}

export function gateName(w: number): 'open' | 'closed' | 'invalid' {
  return w === GATE_OPEN ? 'open' : w === GATE_CLOSED ? 'closed' : 'invalid';
}

export function execName(s: number): string {
  return EXEC_STATES[s] ?? `unknown(${s})`;
}

/** One process as the registry query reports it (see protocol.ts). */
export function procJson(e: ProcEntry, snap: ProcSnapshot | undefined, nowNs: number): Record<string, unknown> {
  const counters =
    snap === undefined
      ? null
      : {
          launches: snap.launches,
          gated_waits: snap.gated_waits,
          gated_wait_ns: snap.gated_wait_ns,
          lv1_waits: snap.lv1_waits,
          suspends: snap.suspends,
          resumes: snap.resumes,
          suspend_ns_last: snap.suspend_ns_last,
          suspend_ns_max: snap.suspend_ns_max,
          suspend_ns_sum: snap.suspend_ns_sum,
          resume_ns_last: snap.resume_ns_last,
          resume_ns_max: snap.resume_ns_max,
          resume_ns_sum: snap.resume_ns_sum,
          queues: snap.queues,
          errors: snap.errors,
        };
  const open = (since: number | null): number => (since === null ? 0 : Math.max(0, nowNs - since));
  return {
    pid: e.pid,
    uid: e.uid,
    class: e.cls,
    priority: e.priority,
    exe: e.exe,
    gpus: gpusOf(e),
    mechanism: e.mechanism,
    queues: [...e.queues.values()],
    gate: snap === undefined ? null : gateName(snap.gate),
    exec_state: snap === undefined ? null : execName(snap.exec_state),
    activity: snap === undefined ? null : snap.activity === 1 ? 'busy' : 'idle',
    held_queues: snap?.held_queues ?? null,
    counters,
    untrusted: e.untrusted,
    engine: {
      gate_closed: snap?.engine_gate_closed ?? false,
      hold: snap?.engine_hold ?? false,
      awaiting_ack: snap?.awaiting_ack ?? false,
      gate_closed_ms: (e.gateClosedNs + open(e.gateClosedSinceNs)) / 1e6,
      held_ms: (e.heldNs + open(e.holdAckedAtNs)) / 1e6,
      preemptions: e.preemptions,
      busy_ms: (e.busyNs + open(e.busySinceNs)) / 1e6,
      kernel_ns_est: e.adaptive.kernelNsEst,
      allow_hold: e.adaptive.allowHold,
    },
  };
}
