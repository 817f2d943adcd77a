/**
 * Running an online and an offline workload together under a coordinator, as a user would:
 * the coordinator is `xsched-bridge coordinator` in its own process (JSON log on stderr), each
 * workload is the project's workload program with the shim preloaded (and, on the emulator,
 * the emulated /dev/kfd after it). Used by `compare`, the stages and the coordinator tests.
 *
 * Preemption latencies come from the shims themselves: the registry's per-process counters
 * (suspend_ns_last, resume_ns_last and their counts) are polled during the run and each new
 * suspend/resume adds a sample; the coordinator's ack events (request posted -> shim
 * acknowledged) are kept beside them as the end-to-end view.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { emuEnv } from '../env.js';
import { XsbError } from '../errors.js';
import { buildDir, packageRoot, requireArtifact } from '../paths.js';
import { workloadResultSchema, type WorkloadResult } from '../workload.js';

export type Cls = 'online' | 'offline';
export type Mechanism = 'dbg-trap' | 'deactivate';

/** Where processes run: the emulated device in dir, or the real KFD. */
export interface Target {
  backend: 'emu' | 'kfd';
  emuDir?: string | undefined;
  profile?: string | undefined;
}

export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000, everyMs = 5): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new XsbError(`timed out after ${ms} ms waiting for ${what}`, 'see the coordinator and device logs');
    await delay(everyMs);
  }
}

/** The compiled CLI (dist/cli.js), which runs the coordinator. */
export function cliPath(): string {
  const p = join(packageRoot(), 'dist', 'cli.js');
  if (!existsSync(p)) throw new XsbError(`${p} is missing`, 'build the CLI with `npm run build`');
  return p;
}

export function shimPath(env: NodeJS.ProcessEnv = process.env): string {
  const p = join(buildDir(env), 'lib', 'libxsb_hip.so');
  if (!existsSync(p)) throw new XsbError(`the shim ${p} is missing`, 'build the native parts with `npm install`');
  return p;
}

/** Environment of a program on the target, with the shim (first) when shim is set, and extra
 * preloads (e.g. XSched's shim) after it. */
export function programEnv(t: Target, o: { shim: boolean; extraPreload?: string[]; vars?: Record<string, string> }): NodeJS.ProcessEnv {
  const pre = [...(o.shim ? [shimPath()] : []), ...(o.extraPreload ?? [])];
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base['LD_PRELOAD'];
  for (const k of Object.keys(base)) if (k.startsWith('XSB_') && k !== 'XSB_BUILD_DIR' && k !== 'XSB_EMU_DIR') delete base[k];
  if (pre.length > 0) base['LD_PRELOAD'] = pre.join(':');
  let env: NodeJS.ProcessEnv = base;
  if (t.backend === 'emu') {
    env = { ...base, ...emuEnv({ dir: t.emuDir, profile: t.profile, base }), XSB_EMU_NO_AUTOSTART: '1' };
  }
  return { ...env, ...(o.vars ?? {}) };
}

/** p, or 'timeout' after ms; the timer never keeps the process alive after p settled. */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export interface LogEvent {
  level: string;
  msg: string;
  event?: string;
  [k: string]: unknown;
}

/** `xsched-bridge coordinator` in a child process, its JSON log collected. */
export class CoordinatorProc {
  readonly events: LogEvent[] = [];
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;
  /** The metrics port its `listening` event named (null: metrics off). */
  metricsPort: number | null = null;
  private buf = '';

  private constructor(
    readonly socket: string,
    readonly proc: ChildProcess,
  ) {
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const l = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        try {
          this.events.push(JSON.parse(l) as LogEvent);
        } catch {
          this.events.push({ level: 'raw', msg: l });
        }
      }
    });
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve((this.exitCode = code))));
  }

  static async start(socket: string, args: string[] = [], env: Record<string, string> = {}): Promise<CoordinatorProc> {
    const proc = spawn(process.execPath, [cliPath(), 'coordinator', '--socket', socket, '--log-format', 'json', '--log-level', 'debug', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const c = new CoordinatorProc(socket, proc);
    const ok = await until(
      'the coordinator to listen',
      () => (c.events.some((e) => e.event === 'listening') ? 'ok' : c.exitCode !== null ? 'exited' : undefined),
      15_000,
    );
    if (ok === 'exited') {
      throw new XsbError(`the coordinator exited at start: ${c.events.map((e) => e.msg).join(' | ')}`, 'run `xsched-bridge coordinator` by hand to see why');
    }
    c.metricsPort = (c.find((e) => e.event === 'listening')?.['metrics_port'] as number | null | undefined) ?? null;
    return c;
  }

  find(pred: (e: LogEvent) => boolean): LogEvent | undefined {
    return this.events.find(pred);
  }

  /** The first logged event matching pred, waiting up to ms for it. */
  async waitFor(what: string, pred: (e: LogEvent) => boolean, ms = 10_000): Promise<LogEvent> {
    return until(what, () => this.events.find(pred), ms);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.exitCode === null) this.proc.kill(signal);
    return this.exited;
  }
}

export interface RegQueue {
  id: number;
  gpu_id: number;
  qtype?: number;
  priority_requested?: number;
  priority_applied?: number;
  state: string;
}
export interface RegProc {
  pid: number;
  class: string | null;
  priority: number | null;
  mechanism?: string;
  gate: string;
  exec_state: string;
  activity: string;
  held_queues: number;
  queues: RegQueue[];
  counters: Record<string, number>;
  engine: Record<string, unknown>;
}
export interface Registry {
  v: number;
  type: string;
  policy: { name: string; [k: string]: unknown };
  processes: RegProc[];
  gpus: { gpu_id: number; processes: number[] }[];
}

/** One registry query (protocol.ts): the answer, then the coordinator closes. */
export function queryRegistry(socket: string, timeoutMs = 5000): Promise<Registry> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new XsbError(`no registry answer from ${socket} within ${timeoutMs} ms`, 'check that the coordinator runs'));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify({ v: 1, type: 'query', what: 'registry' })}\n`));
    s.on('data', (d: string) => (buf += d));
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(new XsbError(`cannot query the coordinator at ${socket}`, 'check that the coordinator runs', { cause: err }));
    });
    s.on('close', () => {
      clearTimeout(timer);
      const first = buf.split('\n')[0] ?? '';
      try {
        resolve(JSON.parse(first) as Registry);
      } catch (err) {
        reject(new XsbError(`the coordinator answered the registry query with no JSON`, 'check the coordinator log', { cause: err }));
      }
    });
  });
}

export interface WorkloadProc {
  name: string;
  proc: ChildProcess;
  json: string;
  stderr: () => string;
  done: Promise<number | null>;
  result: () => WorkloadResult & { latency_ms_raw?: number[] };
}

/** The workload program with args (its --json goes to outDir/name.json). */
export function spawnWorkload(name: string, outDir: string, args: string[], env: NodeJS.ProcessEnv): WorkloadProc {
  const json = join(outDir, `${name}.json`);
  const proc = spawn(requireArtifact('workload'), [...args, '--json', json], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (err.length < 20_000) err += d.toString();
  });
  const done = new Promise<number | null>((r) => {
    proc.on('error', () => r(-1));
    proc.on('exit', (code, sig) => r(code ?? (sig !== null ? -1 : null)));
  });
  const result = (): WorkloadResult & { latency_ms_raw?: number[] } => {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(json, 'utf8'));
    } catch (e) {
      throw new XsbError(`workload ${name} wrote no result (${err.trim().split('\n').slice(-2).join(' | ') || 'no output'})`, 'see the device log', { cause: e });
    }
    return workloadResultSchema.parse(raw) as WorkloadResult & { latency_ms_raw?: number[] };
  };
  return { name, proc, json, stderr: () => err, done, result };
}

export interface WorkloadSpec {
  kernelUs: number;
  count: number;
  periodMs?: number;
  requests?: number;
  kernelsPerRequest?: number;
  streams?: number;
  /** CUs each kernel occupies (default: all). */
  cus?: number;
}

export function specArgs(s: WorkloadSpec): string[] {
  const a = ['--kernel-us', String(s.kernelUs), '--count', String(s.count)];
  if (s.streams !== undefined) a.push('--streams', String(s.streams));
  if (s.cus !== undefined) a.push('--cus', String(s.cus));
  if (s.periodMs !== undefined) a.push('--period-ms', String(s.periodMs));
  if (s.requests !== undefined) a.push('--requests', String(s.requests));
  if (s.kernelsPerRequest !== undefined) a.push('--kernels-per-request', String(s.kernelsPerRequest));
  return a;
}

export interface PreemptSamples {
  /** Shim-measured durations of each suspend/resume (ns), from the counters. */
  suspendNs: number[];
  resumeNs: number[];
  /** Suspends/resumes the shim counted (some may have no sample when two fell between polls). */
  suspends: number;
  resumes: number;
  suspendNsSum: number;
  resumeNsSum: number;
  /** Coordinator view: hold/run request posted -> acknowledged by the shim (ns). */
  ackHoldNs: number[];
  ackRunNs: number[];
}

export interface PairOptions {
  target: Target;
  outDir: string;
  name: string;
  policy: string;
  mechanism: Mechanism;
  online: WorkloadSpec;
  offline: WorkloadSpec;
  coordinatorArgs?: string[];
  /** Extra preloads after our shim (XSched's) and extra variables for both workloads. */
  extraPreload?: string[];
  vars?: Record<string, string>;
  pollMs?: number;
  /** Called while the online job runs (e.g. to sample the device state). */
  onPoll?: (reg: Registry | null) => void | Promise<void>;
  /** Whole-run bound; default from the workload sizes. */
  timeoutMs?: number;
  /** More online processes started with the first (concurrent requests). */
  extraOnline?: WorkloadSpec[];
}

export interface PairRun {
  online: WorkloadResult & { latency_ms_raw?: number[] };
  offline: WorkloadResult;
  preempt: PreemptSamples;
  offlinePid: number;
  onlinePid: number;
  events: LogEvent[];
  /** Registry seen just before the online job ended (both attached). */
  lastRegistry: Registry | null;
  gateClosedSeen: boolean;
  extraOnline: (WorkloadResult & { latency_ms_raw?: number[] })[];
}

function expectedMs(s: WorkloadSpec): number {
  if (s.periodMs !== undefined) return (s.requests ?? 1) * s.periodMs + (s.kernelsPerRequest ?? 1) * s.kernelUs / 1000;
  return (s.count * s.kernelUs) / 1000 / (s.streams ?? 1);
}

/**
 * Offline first (attached, queues known), then online; polls the registry while the online job
 * runs; waits for both to finish. Every process started here is gone when this returns.
 */
export async function runPair(o: PairOptions): Promise<PairRun> {
  const socket = join(o.outDir, `${o.name}.sock`);
  const coord = await CoordinatorProc.start(socket, ['--policy', o.policy, '--mechanism', o.mechanism, ...(o.coordinatorArgs ?? [])]);
  const vars = { XSB_SOCKET: socket, XSB_MECHANISM: o.mechanism, ...(o.vars ?? {}) };
  const envOf = (cls: Cls): NodeJS.ProcessEnv => programEnv(o.target, { shim: true, extraPreload: o.extraPreload, vars: { ...vars, XSB_CLASS: cls } });
  const bound = o.timeoutMs ?? 60_000 + 4 * (expectedMs(o.online) + expectedMs(o.offline));
  const off = spawnWorkload(`${o.name}-offline`, o.outDir, specArgs(o.offline), envOf('offline'));
  let on: WorkloadProc | undefined;
  const extra: WorkloadProc[] = [];
  const samples: PreemptSamples = { suspendNs: [], resumeNs: [], suspends: 0, resumes: 0, suspendNsSum: 0, resumeNsSum: 0, ackHoldNs: [], ackRunNs: [] };
  try {
    const offPid = off.proc.pid ?? -1;
    let offExit: number | null | undefined;
    void off.done.then((c) => (offExit = c));
    await until(
      'the offline workload to attach with its queues',
      async () => {
        if (offExit !== undefined) throw new XsbError(`the offline workload exited early (${offExit}): ${off.stderr().trim()}`, 'see the device log');
        const reg = await queryRegistry(socket).catch(() => null);
        return reg?.processes.some((p) => p.pid === offPid && p.queues.length > 0) === true;
      },
      20_000,
      25,
    );
    on = spawnWorkload(`${o.name}-online`, o.outDir, specArgs(o.online), envOf('online'));
    (o.extraOnline ?? []).forEach((spec, i) => extra.push(spawnWorkload(`${o.name}-online${i + 2}`, o.outDir, specArgs(spec), envOf('online'))));
    const onProc = on;
    let onDone = false;
    void Promise.all([onProc.done, ...extra.map((w) => w.done)]).then(() => (onDone = true));
    let last: { s: number; r: number } | null = null;
    let lastRegistry: Registry | null = null;
    let gateClosedSeen = false;
    const deadline = Date.now() + bound;
    while (!onDone) {
      if (Date.now() > deadline) throw new XsbError(`${o.name}: the online workload did not finish within ${bound} ms`, 'see the coordinator and device logs');
      const reg = await queryRegistry(socket).catch(() => null);
      const p = reg?.processes.find((x) => x.pid === offPid);
      if (p !== undefined && reg !== null) {
        lastRegistry = reg;
        if (p.gate === 'closed') gateClosedSeen = true;
        const c = p.counters;
        const s = c['suspends'] ?? 0;
        const r = c['resumes'] ?? 0;
        // a sample per counted event when exactly one happened since the last poll
        if (last !== null && s === last.s + 1 && (c['suspend_ns_last'] ?? 0) > 0) samples.suspendNs.push(c['suspend_ns_last'] ?? 0);
        if (last !== null && r === last.r + 1 && (c['resume_ns_last'] ?? 0) > 0) samples.resumeNs.push(c['resume_ns_last'] ?? 0);
        if (last === null && s === 1 && (c['suspend_ns_last'] ?? 0) > 0) samples.suspendNs.push(c['suspend_ns_last'] ?? 0);
        if (last === null && r === 1 && (c['resume_ns_last'] ?? 0) > 0) samples.resumeNs.push(c['resume_ns_last'] ?? 0);
        last = { s, r };
        samples.suspends = s;
        samples.resumes = r;
        samples.suspendNsSum = c['suspend_ns_sum'] ?? 0;
        samples.resumeNsSum = c['resume_ns_sum'] ?? 0;
      }
      if (o.onPoll) await o.onPoll(reg);
      await withTimeout(onProc.done, o.pollMs ?? 20);
    }
    const onCode = await onProc.done;
    if (onCode !== 0) throw new XsbError(`${o.name}: the online workload failed (exit ${onCode}): ${onProc.stderr().trim().slice(-400)}`, 'see the device log');
    for (const w of extra) {
      const c = await w.done;
      if (c !== 0) throw new XsbError(`${o.name}: online workload ${w.name} failed (exit ${c}): ${w.stderr().trim().slice(-400)}`, 'see the device log');
    }
    // the offline job must complete every kernel: let it run to its end
    const offCode = await withTimeout(off.done, bound);
    if (offCode === 'timeout') throw new XsbError(`${o.name}: the offline workload did not finish within ${bound} ms`, 'see the coordinator and device logs');
    if (offCode !== 0) throw new XsbError(`${o.name}: the offline workload failed (exit ${offCode}): ${off.stderr().trim().slice(-400)}`, 'see the device log');
    // the last resume may land after the online job ended: take the final counters from the acks
    for (const e of coord.events) {
      if (e.event !== 'ack' || e['pid'] !== offPid || e['timeout'] === true) continue;
      const t = Number(e['t']);
      const tp = Number(e['t_posted']);
      if (!Number.isFinite(t) || !Number.isFinite(tp) || tp <= 0 || t < tp) continue;
      if (e['what'] === 'hold' && e['exec_state'] === 3) samples.ackHoldNs.push(t - tp);
      else if (e['what'] === 'run') samples.ackRunNs.push(t - tp);
    }
    return {
      online: onProc.result(),
      offline: off.result(),
      preempt: samples,
      offlinePid: offPid,
      onlinePid: onProc.proc.pid ?? -1,
      events: coord.events,
      lastRegistry,
      gateClosedSeen,
      extraOnline: extra.map((w) => w.result()),
    };
  } finally {
    for (const w of [off, on, ...extra]) {
      if (w !== undefined && w.proc.exitCode === null && w.proc.signalCode === null) {
        w.proc.kill('SIGKILL');
        await w.done;
      }
    }
    await coord.stop();
  }
}

/** One workload alone (no coordinator); with shim: false it runs without our shim. */
export async function runAlone(o: { target: Target; outDir: string; name: string; spec: WorkloadSpec; shim: boolean; vars?: Record<string, string>; timeoutMs?: number }): Promise<WorkloadResult & { latency_ms_raw?: number[] }> {
  const w = spawnWorkload(o.name, o.outDir, specArgs(o.spec), programEnv(o.target, { shim: o.shim, vars: o.vars }));
  const bound = o.timeoutMs ?? 60_000 + 4 * expectedMs(o.spec);
  const code = await withTimeout(w.done, bound);
  if (code === 'timeout') {
    w.proc.kill('SIGKILL');
    await w.done;
    throw new XsbError(`${o.name}: the workload did not finish within ${bound} ms`, 'see the device log');
  }
  if (code !== 0) throw new XsbError(`${o.name}: the workload failed (exit ${code}): ${w.stderr().trim().slice(-400)}`, 'see the device log');
  return w.result();
}
