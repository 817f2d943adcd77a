/**
 * Capture parsers (debugfs kfd/mqds, kfd/hqds, AMD_LOG_LEVEL logs), implemented in C in
 * libxsbkfd (pure functions over a buffer, fuzzed natively). Malformed input throws
 * KfdParseError with the line number.
 */
import { KfdParseError } from './errors.js';
import { big, decodeAt, lib, LOG_MAX_STREAMS, sizeOf, T, type TypeObject } from './native.js';

interface RawParseError {
  line: number;
  err: number;
  msg: string;
}

function input(text: string | Buffer): Buffer {
  return typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
}

function parseFail(what: string, r: number, err: Buffer): never {
  const e = decodeAt<RawParseError>(err, 0, T.parseError);
  throw new KfdParseError(what, -r, e.line, e.msg !== '' ? e.msg : `failed with errno ${-r}`);
}

/** Calls a "fill up to cap, return the total" parser until everything fits. */
function collect<R>(what: string, t: TypeObject, call: (out: Buffer, cap: number, err: Buffer) => number): R[] {
  const err = Buffer.alloc(sizeOf(T.parseError));
  let cap = 64;
  for (;;) {
    const out = Buffer.alloc(cap * sizeOf(t));
    const r = call(out, cap, err);
    if (r < 0) parseFail(what, r, err);
    if (r > cap) {
      cap = r;
      continue;
    }
    const items: R[] = [];
    for (let i = 0; i < r; i++) items.push(decodeAt<R>(out, i, t));
    return items;
  }
}

export interface MqdXcc {
  ringBase: bigint;
  active: boolean;
  vmid: number;
  pipePriority: number;
  queuePriority: number;
  line: number;
}

export interface MqdQueue {
  pid: number;
  pasid: number;
  gpuId: number;
  kind: 'compute' | 'sdma';
  line: number;
  /** ring base of XCC 0 (HWq in HIP logs, ring_base_address in KFD) */
  ringBase: bigint;
  /** 0 low, 1 medium, 2 high (XCC 0) */
  pipePriority: number;
  /** 0..15 (XCC 0) */
  queuePriority: number;
  xcc: MqdXcc[];
}

export interface MqdProcess {
  pid: number;
  pasid: number;
  queues: MqdQueue[];
}

interface RawXcc {
  ring_base: number | bigint;
  active: number;
  vmid: number;
  pipe_priority: number;
  queue_priority: number;
  line: number;
}
interface RawMqdQueue {
  pid: number;
  pasid: number;
  gpu_id: number;
  kind: number;
  line: number;
  n_xcc: number;
  ring_base: number | bigint;
  pipe_priority: number;
  queue_priority: number;
  xcc: RawXcc[];
}

/** Queues in capture order (newest first on real kernels). */
export function parseMqds(text: string | Buffer): MqdQueue[] {
  const buf = input(text);
  const raw = collect<RawMqdQueue>('parse mqds', T.mqdQueue, (out, cap, err) => lib().parseMqds(buf, buf.length, out, cap, err));
  return raw.map((q) => ({
    pid: q.pid,
    pasid: q.pasid,
    gpuId: q.gpu_id,
    kind: q.kind === 0 ? 'compute' : 'sdma',
    line: q.line,
    ringBase: big(q.ring_base),
    pipePriority: q.pipe_priority,
    queuePriority: q.queue_priority,
    xcc: q.xcc.slice(0, q.n_xcc).map((x) => ({
      ringBase: big(x.ring_base),
      active: x.active !== 0,
      vmid: x.vmid,
      pipePriority: x.pipe_priority,
      queuePriority: x.queue_priority,
      line: x.line,
    })),
  }));
}

/** The same, grouped by process. */
export function mqdProcesses(queues: readonly MqdQueue[]): MqdProcess[] {
  const by = new Map<number, MqdProcess>();
  for (const q of queues) {
    let p = by.get(q.pid);
    if (p === undefined) {
      p = { pid: q.pid, pasid: q.pasid, queues: [] };
      by.set(q.pid, p);
    }
    p.queues.push(q);
  }
  return [...by.values()];
}

export interface HqdSlot {
  node: number;
  gpuId: number;
  kind: 'hiq' | 'cp' | 'sdma';
  /** XCC instance (HIQ/CP) */
  inst: number;
  mec: number;
  pipe: number;
  queue: number;
  engine: number;
  rlc: number;
  registers: number;
  /** CP/HIQ: CP_HQD_ACTIVE bit 0 (the queue is mapped on the hardware right now) */
  active: boolean;
  vmid: number;
  pipePriority: number;
  queuePriority: number;
  ringBase: bigint;
  line: number;
}

interface RawHqd {
  node: number;
  gpu_id: number;
  kind: number;
  inst: number;
  mec: number;
  pipe: number;
  queue: number;
  engine: number;
  rlc: number;
  n_regs: number;
  active: number;
  vmid: number;
  pipe_priority: number;
  queue_priority: number;
  ring_base: number | bigint;
  line: number;
}

const HQD_KINDS = ['hiq', 'cp', 'sdma'] as const;

export function parseHqds(text: string | Buffer): HqdSlot[] {
  const buf = input(text);
  const raw = collect<RawHqd>('parse hqds', T.hqdSlot, (out, cap, err) => lib().parseHqds(buf, buf.length, out, cap, err));
  return raw.map((s) => ({
    node: s.node,
    gpuId: s.gpu_id,
    kind: HQD_KINDS[s.kind] ?? 'sdma',
    inst: s.inst,
    mec: s.mec,
    pipe: s.pipe,
    queue: s.queue,
    engine: s.engine,
    rlc: s.rlc,
    registers: s.n_regs,
    active: s.active !== 0,
    vmid: s.vmid,
    pipePriority: s.pipe_priority,
    queuePriority: s.queue_priority,
    ringBase: big(s.ring_base),
    line: s.line,
  }));
}

export type LogEventKind = 'created' | 'acquire' | 'selected' | 'release' | 'delete';
const LOG_KINDS: Record<number, LogEventKind> = { 1: 'created', 2: 'acquire', 3: 'selected', 4: 'release', 5: 'delete' };

export interface LogEvent {
  line: number;
  kind: LogEventKind;
  hwq: bigint;
  swq: bigint | null;
  stream: bigint | null;
  refCount: number | null;
  /** created: 0 low, 1 normal, 2 high */
  priority: number | null;
  /** created: ring size in packets */
  size: number | null;
}

export interface LogQueue {
  /** ring base (KFD ring_base_address, mqds cp_hqd_pq_base << 8) */
  hwq: bigint;
  swq: bigint | null;
  size: number | null;
  priority: number | null;
  createdLine: number | null;
  deletedLine: number | null;
  acquires: number;
  selects: number;
  releases: number;
  maxRefCount: number | null;
  lastRefCount: number | null;
  /** streams attributed to this hardware queue (those sharing it) */
  streams: bigint[];
  /** number of distinct streams (may exceed streams.length beyond 64) */
  streamCount: number;
}

interface RawLogQueue {
  hwq: number | bigint;
  swq: number | bigint;
  size: number;
  priority: number;
  created_line: number;
  deleted_line: number;
  acquires: number;
  selects: number;
  releases: number;
  max_refcount: number;
  last_refcount: number;
  n_streams: number;
  streams: (number | bigint)[];
}
interface RawLogEvent {
  line: number;
  kind: number;
  hwq: number | bigint;
  swq: number | bigint;
  stream: number | bigint;
  refcount: number;
  priority: number;
  size: number;
}

const orNull = (v: number): number | null => (v < 0 ? null : v);
const bigOrNull = (v: number | bigint): bigint | null => (big(v) === 0n ? null : big(v));

export function parseAmdLog(text: string | Buffer): { queues: LogQueue[]; events: LogEvent[] } {
  const buf = input(text);
  const err = Buffer.alloc(sizeOf(T.parseError));
  let qcap = 32;
  let ecap = 256;
  for (;;) {
    const qb = Buffer.alloc(qcap * sizeOf(T.logQueue));
    const eb = Buffer.alloc(ecap * sizeOf(T.logEvent));
    const ne: [number] = [0];
    const r = lib().parseAmdlog(buf, buf.length, qb, qcap, eb, ecap, ne, err);
    if (r === -28) {
      qcap *= 4; // ENOSPC: more hardware queues than room
      continue;
    }
    if (r < 0) parseFail('parse AMD log', r, err);
    if (ne[0] > ecap) {
      ecap = ne[0];
      continue;
    }
    const queues: LogQueue[] = [];
    for (let i = 0; i < r; i++) {
      const q = decodeAt<RawLogQueue>(qb, i, T.logQueue);
      queues.push({
        hwq: big(q.hwq),
        swq: bigOrNull(q.swq),
        size: q.size === 0 ? null : q.size,
        priority: orNull(q.priority),
        createdLine: q.created_line === 0 ? null : q.created_line,
        deletedLine: q.deleted_line === 0 ? null : q.deleted_line,
        acquires: q.acquires,
        selects: q.selects,
        releases: q.releases,
        maxRefCount: orNull(q.max_refcount),
        lastRefCount: orNull(q.last_refcount),
        streams: q.streams.slice(0, Math.min(q.n_streams, LOG_MAX_STREAMS)).map(big),
        streamCount: q.n_streams,
      });
    }
    const events: LogEvent[] = [];
    for (let i = 0; i < ne[0]; i++) {
      const e = decodeAt<RawLogEvent>(eb, i, T.logEvent);
      const kind = LOG_KINDS[e.kind];
      if (kind === undefined) continue;
      events.push({
        line: e.line,
        kind,
        hwq: big(e.hwq),
        swq: bigOrNull(e.swq),
        stream: bigOrNull(e.stream),
        refCount: orNull(e.refcount),
        priority: orNull(e.priority),
        size: kind === 'created' ? e.size : null,
      });
    }
    return { queues, events };
  }
}
