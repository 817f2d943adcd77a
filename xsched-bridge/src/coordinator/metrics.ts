/**
 * Prometheus exposition (prom-client, text format 0.0.4) on 127.0.0.1 only. Per process and
 * GPU: class, queues, preemptions, hold time, suspend/resume latency histograms (the shim's
 * ioctl times), online busy time, gate-closed time; plus the engine's decision latencies
 * (online idle->busy in the shim to the offline gate closed / suspend request posted).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { gpusOf, type ProcEntry } from './registry.js';

const LAT_BUCKETS = [1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1];

export class Metrics {
  readonly registry = new Registry();
  private readonly labels = ['pid', 'class', 'gpu'] as const;
  readonly info = new Gauge({ name: 'xsb_process_info', help: 'attached process (value 1)', labelNames: ['pid', 'class', 'exe', 'mechanism', 'priority'], registers: [this.registry] });
  readonly queues = new Gauge({ name: 'xsb_process_queues', help: 'KFD queues of the process on the GPU', labelNames: this.labels, registers: [this.registry] });
  readonly preemptions = new Counter({ name: 'xsb_preemptions_total', help: 'acknowledged holds (KFD suspend/deactivate of the process queues)', labelNames: this.labels, registers: [this.registry] });
  readonly held = new Counter({ name: 'xsb_hold_seconds_total', help: 'time the process queues were held', labelNames: this.labels, registers: [this.registry] });
  readonly suspendLat = new Histogram({ name: 'xsb_suspend_latency_seconds', help: "the shim's hold operation (suspend ioctl) latency", labelNames: this.labels, buckets: LAT_BUCKETS, registers: [this.registry] });
  readonly resumeLat = new Histogram({ name: 'xsb_resume_latency_seconds', help: "the shim's release operation (resume ioctl) latency", labelNames: this.labels, buckets: LAT_BUCKETS, registers: [this.registry] });
  readonly busy = new Counter({ name: 'xsb_online_busy_seconds_total', help: 'time the (online) process was busy', labelNames: this.labels, registers: [this.registry] });
  readonly gateClosed = new Counter({ name: 'xsb_gate_closed_seconds_total', help: 'time the Lv1 gate of the process was closed', labelNames: this.labels, registers: [this.registry] });
  readonly decision = new Histogram({
    name: 'xsb_engine_decision_latency_seconds',
    help: 'from the online idle->busy transition (shim timestamp) to an engine step: seen, gate_closed, suspend_posted; and request to ack',
    labelNames: ['step'],
    buckets: LAT_BUCKETS,
    registers: [this.registry],
  });
  readonly refused = new Counter({ name: 'xsb_connections_refused_total', help: 'connections refused or closed for a protocol or trust violation', labelNames: ['reason'], registers: [this.registry] });
  readonly eventErrors = new Counter({ name: 'xsb_engine_event_errors_total', help: 'engine events whose handling failed (logged; the other events were handled)', labelNames: ['kind'], registers: [this.registry] });
  readonly processes = new Gauge({ name: 'xsb_processes', help: 'attached processes', registers: [this.registry] });
  private server: Server | undefined;

  private each(e: ProcEntry, fn: (l: Record<string, string>) => void): void {
    for (const gpu of gpusOf(e)) fn({ pid: String(e.pid), class: e.cls, gpu: String(gpu) });
  }

  attached(e: ProcEntry): void {
    this.info.set({ pid: String(e.pid), class: e.cls, exe: e.exe, mechanism: e.mechanism, priority: String(e.priority) }, 1);
  }

  /** A label of the info series changes (e.g. the mechanism a shim reports): no stale series. */
  relabel(e: ProcEntry, change: () => void): void {
    this.info.remove({ pid: String(e.pid), class: e.cls, exe: e.exe, mechanism: e.mechanism, priority: String(e.priority) });
    change();
    this.attached(e);
  }

  detached(e: ProcEntry): void {
    this.info.remove({ pid: String(e.pid), class: e.cls, exe: e.exe, mechanism: e.mechanism, priority: String(e.priority) });
    this.each(e, (l) => {
      for (const m of [this.queues, this.preemptions, this.held, this.suspendLat, this.resumeLat, this.busy, this.gateClosed]) m.remove(l);
    });
  }

  queueCount(e: ProcEntry): void {
    this.each(e, (l) => this.queues.set(l, [...e.queues.values()].filter((q) => q.gpu_id === Number(l['gpu'])).length));
  }

  add(m: Counter, e: ProcEntry, v: number): void {
    if (v > 0) this.each(e, (l) => m.inc(l, v));
  }

  observe(m: Histogram, e: ProcEntry, v: number): void {
    this.each(e, (l) => m.observe(l, v));
  }

  /** Listens on 127.0.0.1:port (0 = any free port); resolves to the bound port. */
  listen(port: number): Promise<number> {
    const srv = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    this.server = srv;
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve((srv.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    return new Promise((resolve) => (s === undefined ? resolve() : s.close(() => resolve())));
  }
}
