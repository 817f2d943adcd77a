/**
 * The coordinator: the native engine's socket server and data plane, driven from here.
 * Lines from peers are validated (protocol.ts); a hello is checked against the peer's kernel
 * pid (SO_PEERCRED) and its control block against the peer's uid before the engine maps it;
 * the registry and the plan follow hellos, queue events and disconnects; the engine's decision
 * events feed the registry, the log and the metrics. Nothing here is on the hot path: the
 * engine applies the plan without entering JavaScript.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { XsbError } from '../errors.js';
import { loadEngine, type Engine, type EngineEvent } from './engine.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { adaptiveUpdate, type Plan, type PolicyName } from './policy.js';
import { line, parseLine, WIRE_VERSION, type Hello } from './protocol.js';
import { gpusOf, procJson, Registry, type ProcEntry } from './registry.js';

export interface CoordinatorOptions {
  socket: string;
  policy: PolicyName;
  /** sent to every shim in config (it wins over XSB_MECHANISM); undefined: each shim's own */
  mechanism?: 'dbg-trap' | 'deactivate' | undefined;
  /** false: XSched provides Lv1 (--lv1 xsched), our gates stay open. */
  gateEnabled: boolean;
  leaseMs: number;
  hysteresisUs: number;
  ackTimeoutMs: number;
  groupGid?: number | undefined;
  allowUids: number[];
  lv1?: { threshold: number; batch: number } | undefined;
  metricsPort?: number | undefined;
  pollUs?: number | undefined;
  /** Adaptive: assumed suspend+resume cost before one was measured (ns). */
  adaptiveCostNs?: number | undefined;
}

interface Pending {
  pid: number;
  uid: number;
  gid: number;
}

const TICK_MS = 100;

export class Coordinator {
  readonly registry = new Registry();
  readonly metrics = new Metrics();
  private readonly engine: Engine;
  private readonly pending = new Map<number, Pending>();
  private readonly admin = new Set<number>();
  private tick: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private started = false;
  private configSeq = 1;
  metricsPort: number | undefined;

  constructor(
    readonly opts: CoordinatorOptions,
    private readonly log: Logger,
    engine?: Engine,
  ) {
    this.engine = engine ?? loadEngine();
  }

  async start(): Promise<void> {
    const dir = dirname(this.opts.socket);
    try {
      mkdirSync(dir, { recursive: true, mode: this.opts.groupGid === undefined ? 0o700 : 0o750 });
    } catch (err) {
      throw new XsbError(`cannot create the socket directory ${dir}`, 'choose a writable --socket path', { cause: err });
    }
    this.engine.setPlan(this.plan());
    try {
      this.engine.start(
        {
          socket: this.opts.socket,
          mode: this.opts.groupGid === undefined ? 0o600 : 0o660,
          ...(this.opts.groupGid === undefined ? {} : { gid: this.opts.groupGid, allowGid: this.opts.groupGid, groupWritableOk: true }),
          allowUids: this.opts.allowUids,
        },
        (evs) => this.onEvents(evs),
      );
    } catch (err) {
      throw new XsbError(err instanceof Error ? err.message : String(err), 'see the message; --socket chooses another path', { cause: err });
    }
    this.started = true;
    if (this.opts.metricsPort !== undefined) {
      try {
        this.metricsPort = await this.metrics.listen(this.opts.metricsPort);
      } catch (err) {
        this.stop();
        throw new XsbError(`cannot listen on 127.0.0.1:${this.opts.metricsPort} for metrics`, 'choose another --metrics-port', { cause: err });
      }
    }
    this.tick = setInterval(() => this.onTick(), TICK_MS);
    this.tick.unref();
    if (this.opts.leaseMs > 0) {
      // the engine renews the deadline in shared memory; the message renews it for a shim
      // that only reads the socket
      this.leaseTimer = setInterval(() => {
        for (const conn of this.registry.procs.keys()) this.engine.send(conn, line({ type: 'lease', lease_ms: this.opts.leaseMs }));
      }, Math.max(50, this.opts.leaseMs / 4));
      this.leaseTimer.unref();
    }
    this.log.log('info', `listening on ${this.opts.socket}`, {
      event: 'listening',
      socket: this.opts.socket,
      policy: this.opts.policy,
      mechanism: this.opts.mechanism ?? null,
      gate: this.opts.gateEnabled,
      lease_ms: this.opts.leaseMs,
      metrics_port: this.metricsPort ?? null,
    });
  }

  /** Releases everything (gates open, RUN posted, bounded wait for the acks), then stops. */
  stop(): number {
    if (!this.started) return 0;
    this.started = false;
    if (this.tick) clearInterval(this.tick);
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    const left = this.engine.releaseAll(1000);
    this.engine.stop(true);
    void this.metrics.close();
    if (left > 0) this.log.log('warn', `${left} process(es) did not confirm the release; their lease releases them`);
    this.log.log('info', 'stopped; every process released', { event: 'stopped', still_held: left });
    return left;
  }

  plan(): Plan {
    return {
      policy: this.opts.policy,
      gateEnabled: this.opts.gateEnabled,
      hysteresisUs: this.opts.hysteresisUs,
      leaseMs: this.opts.leaseMs,
      ackTimeoutMs: this.opts.ackTimeoutMs,
      ...(this.opts.pollUs ? { pollUs: this.opts.pollUs } : {}),
      procs: this.registry.planProcs((e) => e.adaptive.allowHold),
    };
  }

  private replan(): void {
    this.engine.setPlan(this.plan());
  }

  /** The registry query's answer (see protocol.ts). */
  registryJson(): Record<string, unknown> {
    const snaps = new Map(this.engine.snapshot().map((s) => [s.conn, s]));
    const now = this.engine.monoNs();
    const processes = [...this.registry.procs.values()].map((e) => procJson(e, snaps.get(e.conn), now));
    const gpus = new Map<number, { gpu_id: number; processes: number[]; busy: number[] }>();
    for (const e of this.registry.procs.values()) {
      for (const g of gpusOf(e)) {
        const entry = gpus.get(g) ?? { gpu_id: g, processes: [], busy: [] };
        entry.processes.push(e.pid);
        if (snaps.get(e.conn)?.activity === 1) entry.busy.push(e.pid);
        gpus.set(g, entry);
      }
    }
    return {
      v: WIRE_VERSION,
      type: 'registry',
      policy: {
        name: this.opts.policy,
        mechanism: this.opts.mechanism ?? null,
        lv1: this.opts.gateEnabled ? 'xsb' : 'xsched',
        lease_ms: this.opts.leaseMs,
        hysteresis_us: this.opts.hysteresisUs,
      },
      processes,
      gpus: [...gpus.values()].sort((a, b) => a.gpu_id - b.gpu_id),
    };
  }

  private reject(conn: number, pid: number | undefined, reason: string, why: string): void {
    this.metrics.refused.inc({ reason });
    this.log.log('warn', `connection from pid ${pid ?? '?'} closed: ${why}`, { event: 'rejected', conn, pid, reason });
    this.engine.close(conn, why);
  }

  /** One engine batch. Each event is handled on its own: one that fails is logged with its
   * cause and counted, and the rest of the batch (a close, a release) is still handled. */
  private onEvents(evs: EngineEvent[]): void {
    for (const e of evs) {
      try {
        this.onEvent(e);
      } catch (err) {
        this.eventFailed(e, err);
      }
    }
  }

  private eventFailed(e: EngineEvent, err: unknown): void {
    const kind = typeof e?.kind === 'string' ? e.kind : 'invalid';
    const msg = err instanceof Error ? err.message : String(err);
    const causes: string[] = [];
    for (let c = err instanceof Error ? err.cause : undefined, n = 0; c !== undefined && n < 5; n++) {
      causes.push(c instanceof Error ? c.message : String(c));
      c = c instanceof Error ? c.cause : undefined;
    }
    try {
      this.metrics.eventErrors.inc({ kind });
      this.log.log('error', `handling the engine's "${kind}" event failed: ${msg}${causes.length ? ` (cause: ${causes.join(': ')})` : ''}; the other events are handled`, {
        event: 'event_error',
        kind,
        conn: e?.conn ?? null,
        pid: e?.pid ?? this.registry.procs.get(e?.conn ?? 0)?.pid ?? null,
        error: msg,
        cause: causes.length ? causes.join(': ') : null,
        stack: err instanceof Error ? err.stack : undefined,
      });
    } catch {
      // a failing logger must not take the rest of the batch with it
    }
  }

  /** The engine stopped trusting a block: the process counts as detached there; here it is
   * marked, counted and its connection closed (the shim fails open and reconnects afresh). */
  private onUntrusted(conn: number, e: EngineEvent): void {
    const p = this.registry.procs.get(conn);
    const why = e.text ?? 'control block header no longer checks out';
    if (p !== undefined) p.untrusted = why;
    this.metrics.refused.inc({ reason: 'corrupt' });
    this.log.log('warn', `${why}: not trusted any more; nothing is written to it, connection closed (the shim fails open and reconnects with a new block)`, {
      event: 'untrusted',
      conn,
      pid: p?.pid ?? e.pid,
      shm: e.shm,
      field: e.field,
      t: e.t,
    });
    this.engine.close(conn, `control block no longer trusted: ${why}`);
  }

  private onEvent(e: EngineEvent): void {
    const conn = e.conn ?? 0;
    switch (e.kind) {
      case 'open':
        this.pending.set(conn, { pid: e.pid ?? 0, uid: e.uid ?? 0, gid: e.gid ?? 0 });
        return;
      case 'line':
        this.onLine(conn, e.text ?? '');
        return;
      case 'close':
        this.onClose(conn, e.text ?? '');
        return;
      case 'untrusted':
        this.onUntrusted(conn, e);
        return;
      case 'refused':
        this.metrics.refused.inc({ reason: 'uid' });
        this.log.log('warn', `connection refused: ${e.text ?? ''}`, { event: 'refused', pid: e.pid, uid: e.uid });
        return;
      case 'log':
        this.log.log(e.level === 'error' ? 'error' : e.level === 'warn' ? 'warn' : 'info', `engine: ${e.text ?? ''}`);
        if (/longer than/.test(e.text ?? '')) this.metrics.refused.inc({ reason: 'oversized' });
        return;
      default:
        this.onDataPlane(e);
    }
  }

  private onLine(conn: number, text: string): void {
    const attached = this.registry.procs.get(conn);
    const pend = this.pending.get(conn);
    const pid = attached?.pid ?? pend?.pid;
    const p = parseLine(text);
    if ('error' in p) {
      const reason = /version/.test(p.error) ? 'version' : /unknown message type/.test(p.error) ? 'type' : 'malformed';
      this.reject(conn, pid, reason, p.error);
      return;
    }
    if (attached === undefined) {
      if (pend === undefined) return; // closing
      if (p.type === 'query') {
        this.admin.add(conn);
        this.engine.send(conn, JSON.stringify(this.registryJson()));
        this.engine.close(conn, 'query answered');
        return;
      }
      if (p.type !== 'hello') {
        this.reject(conn, pid, 'protocol', `first message is "${p.type}", expected hello or query`);
        return;
      }
      this.onHello(conn, pend, p.msg);
      return;
    }
    switch (p.type) {
      case 'queue':
        if (this.registry.queue(conn, p.msg)) this.replan();
        this.metrics.queueCount(attached);
        return;
      case 'stats':
        attached.stats = p.msg;
        if (p.msg.mechanism !== undefined) this.setMechanism(attached, p.msg.mechanism, undefined);
        return;
      case 'ack':
        if (p.msg.of === 'config' && p.msg.mechanism !== undefined) this.setMechanism(attached, p.msg.mechanism, p.msg.mechanism_pending);
        return;
      case 'bye':
        this.log.log('info', `pid ${attached.pid} says bye: ${p.msg.reason ?? ''}`, { event: 'bye', pid: attached.pid });
        return;
      default:
        this.reject(conn, pid, 'protocol', `unexpected "${p.type}" after hello`);
    }
  }

  private onHello(conn: number, peer: Pending, h: Hello): void {
    if (h.pid !== peer.pid) {
      this.reject(conn, peer.pid, 'spoofing', `hello claims pid ${h.pid} but the kernel says the peer is pid ${peer.pid}`);
      return;
    }
    const r = this.engine.attach(conn, h.shm);
    if (!r.ok) {
      this.reject(conn, peer.pid, 'untrusted', `control block rejected, not trusted: ${r.error ?? ''}`);
      return;
    }
    this.pending.delete(conn);
    const e = this.registry.add(conn, peer, h);
    this.metrics.attached(e);
    this.metrics.processes.set(this.registry.procs.size);
    this.replan();
    this.engine.send(conn, line({ type: 'ack', of: 'hello' }));
    const cfg: Record<string, unknown> = { type: 'config', seq: this.configSeq++, lease_ms: this.opts.leaseMs };
    if (this.opts.mechanism !== undefined) cfg['mechanism'] = this.opts.mechanism;
    if (this.opts.lv1 !== undefined) cfg['lv1'] = this.opts.lv1;
    this.engine.send(conn, line(cfg));
    this.log.log('info', `pid ${e.pid} attached: ${e.cls} priority ${e.priority}, ${e.exe}`, {
      event: 'attached',
      conn,
      pid: e.pid,
      class: e.cls,
      priority: e.priority,
      gpus: gpusOf(e),
      mechanism: e.mechanism,
      shm: h.shm,
    });
  }

  /** The mechanism a shim reports in effect (ack of config, stats). */
  private setMechanism(e: ProcEntry, m: string, pending: string | undefined): void {
    if (pending !== undefined) this.log.log('info', `pid ${e.pid} switches to ${pending} once its queues are released`, { event: 'mechanism', pid: e.pid, mechanism: e.mechanism, pending });
    if (m === e.mechanism) return;
    this.metrics.relabel(e, () => (e.mechanism = m));
    this.log.log('info', `pid ${e.pid} suspends by ${m}`, { event: 'mechanism', pid: e.pid, mechanism: m, pending: pending ?? null });
  }

  private onClose(conn: number, reason: string): void {
    this.pending.delete(conn);
    if (this.admin.delete(conn)) return;
    const e = this.registry.remove(conn);
    this.engine.detach(conn);
    if (e === undefined) return;
    const now = this.engine.monoNs();
    this.account(e, now);
    this.metrics.detached(e);
    this.metrics.processes.set(this.registry.procs.size);
    this.replan();
    this.log.log('info', `pid ${e.pid} detached: ${reason}`, { event: 'detached', conn, pid: e.pid, reason });
  }

  /** Closes open intervals (gate closed, held, busy) into the totals. */
  private account(e: ProcEntry, now: number): void {
    if (e.gateClosedSinceNs !== null) {
      const d = now - e.gateClosedSinceNs;
      e.gateClosedNs += d;
      this.metrics.add(this.metrics.gateClosed, e, d / 1e9);
      e.gateClosedSinceNs = null;
    }
    if (e.holdAckedAtNs !== null) {
      const d = now - e.holdAckedAtNs;
      e.heldNs += d;
      this.metrics.add(this.metrics.held, e, d / 1e9);
      e.holdAckedAtNs = null;
    }
    if (e.busySinceNs !== null) {
      const d = now - e.busySinceNs;
      e.busyNs += d;
      this.metrics.add(this.metrics.busy, e, d / 1e9);
      e.busySinceNs = null;
    }
  }

  private onDataPlane(e: EngineEvent): void {
    const p = this.registry.procs.get(e.conn ?? 0);
    if (p === undefined) return;
    const t = e.t ?? this.engine.monoNs();
    switch (e.kind) {
      case 'activity': {
        const seen = e.t_seen ?? t;
        if (e.busy === 1) {
          p.busySinceNs = seen;
          if (e.t_shim !== undefined && e.t_shim > 0 && seen >= e.t_shim) this.metrics.decision.observe({ step: 'seen' }, (seen - e.t_shim) / 1e9);
        } else if (p.busySinceNs !== null) {
          const d = seen - p.busySinceNs;
          p.busyNs += d;
          this.metrics.add(this.metrics.busy, p, d / 1e9);
          p.busySinceNs = null;
        }
        this.log.log('debug', `pid ${p.pid} ${e.busy === 1 ? 'busy' : 'idle'}`, { event: 'activity', conn: p.conn, pid: p.pid, busy: e.busy === 1, t_shim: e.t_shim, t_seen: seen });
        return;
      }
      case 'gate':
        if (e.closed === 1) {
          p.gateClosedSinceNs = t;
          if (e.t_busy !== undefined && e.t_busy > 0 && t >= e.t_busy) this.metrics.decision.observe({ step: 'gate_closed' }, (t - e.t_busy) / 1e9);
        } else if (p.gateClosedSinceNs !== null) {
          const d = t - p.gateClosedSinceNs;
          p.gateClosedNs += d;
          this.metrics.add(this.metrics.gateClosed, p, d / 1e9);
          p.gateClosedSinceNs = null;
        }
        this.log.log('debug', `pid ${p.pid} gate ${e.closed === 1 ? 'closed' : 'open'}`, { event: 'gate', conn: p.conn, pid: p.pid, closed: e.closed === 1, t, t_busy: e.t_busy, t_seen: e.t_seen });
        return;
      case 'request':
        if (e.what === 'hold' && e.t_busy !== undefined && e.t_busy > 0 && t >= e.t_busy) this.metrics.decision.observe({ step: 'suspend_posted' }, (t - e.t_busy) / 1e9);
        this.log.log('debug', `pid ${p.pid} ${e.what ?? ''} posted`, { event: 'request', conn: p.conn, pid: p.pid, what: e.what, seq: e.seq, t, t_busy: e.t_busy, t_seen: e.t_seen });
        return;
      case 'ack': {
        const snap = this.engine.snapshot().find((s) => s.conn === p.conn);
        if (e.timeout !== 1 && e.t_posted !== undefined) this.metrics.decision.observe({ step: e.what === 'hold' ? 'hold_acked' : 'run_acked' }, (t - e.t_posted) / 1e9);
        if (e.what === 'hold' && e.timeout !== 1 && e.exec_state === 3) {
          p.preemptions++;
          p.holdAckedAtNs = t;
          this.metrics.add(this.metrics.preemptions, p, 1);
          if (snap && snap.suspend_ns_last > 0) this.metrics.observe(this.metrics.suspendLat, p, snap.suspend_ns_last / 1e9);
        } else if (e.what === 'run') {
          if (p.holdAckedAtNs !== null) {
            const d = t - p.holdAckedAtNs;
            p.heldNs += d;
            this.metrics.add(this.metrics.held, p, d / 1e9);
            p.holdAckedAtNs = null;
          }
          if (snap && snap.resume_ns_last > 0 && e.timeout !== 1) this.metrics.observe(this.metrics.resumeLat, p, snap.resume_ns_last / 1e9);
        }
        this.log.log(e.timeout === 1 || e.exec_state === 5 ? 'warn' : 'debug', `pid ${p.pid} ${e.what ?? ''} acknowledged`, {
          event: 'ack',
          conn: p.conn,
          pid: p.pid,
          what: e.what,
          exec_state: e.exec_state,
          exec_error: e.exec_error,
          held_queues: e.held_queues,
          timeout: e.timeout === 1,
          t,
          t_posted: e.t_posted,
        });
        return;
      }
      default:
        return;
    }
  }

  /** Adaptive estimates from the control blocks; re-plans when an answer flips. */
  private onTick(): void {
    if (this.opts.policy !== 'adaptive') return;
    const snaps = this.engine.snapshot();
    const now = this.engine.monoNs();
    let costNs: number | null = null;
    for (const s of snaps) {
      if (s.suspends > 0 && s.resumes > 0) {
        const c = s.suspend_ns_sum / s.suspends + s.resume_ns_sum / s.resumes;
        costNs = Math.max(costNs ?? 0, c);
      }
    }
    // HWS: every suspend and resume also unmaps/remaps the online queue (KFD-FACTS)
    const cost = costNs === null ? (this.opts.adaptiveCostNs ?? null) : costNs * 2;
    let changed = false;
    for (const s of snaps) {
      const e = this.registry.procs.get(s.conn);
      if (e === undefined || e.cls !== 'offline') continue;
      const before = e.adaptive.allowHold;
      e.adaptive = adaptiveUpdate(
        e.adaptive,
        { tNs: now, launches: s.launches, lv1Waits: s.lv1_waits, lv1Threshold: s.lv1_threshold, gateClosed: s.engine_gate_closed || s.engine_hold },
        cost,
      );
      if (e.adaptive.allowHold !== before) {
        changed = true;
        this.log.log('info', `adaptive: pid ${e.pid} ${e.adaptive.allowHold ? 'will' : 'will not'} be suspended`, {
          event: 'adaptive',
          pid: e.pid,
          kernel_ns_est: e.adaptive.kernelNsEst,
          cost_ns: cost,
        });
      }
    }
    if (changed) this.replan();
  }
}
