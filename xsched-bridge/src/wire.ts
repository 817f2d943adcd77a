/**
 * TypeScript mirror of native/include/xsb_wire.h (the shim <-> coordinator wire and the
 * shared-memory control block). This is the one TS copy: change both together.
 *
 * Wire: Unix stream socket at $XSB_SOCKET, one JSON object per line ('\n'), at most
 * XSB_WIRE_MAX_LINE bytes. Every message carries `v: XSB_WIRE_VERSION` and `type`.
 * Peers are identified by SO_PEERCRED; the pid in hello is informational. A shim that lost
 * its coordinator fails open and reconnects (new control block, hello, queues replayed):
 * see xsb_wire.h.
 */
export const XSB_WIRE_VERSION = 1;
export const XSB_WIRE_MAX_LINE = 65536;

/** Environment understood by the shim (DESIGN.md contract). */
export const XSB_ENV = {
  CLASS: 'XSB_CLASS', // online | offline
  PRIORITY: 'XSB_PRIORITY', // 0..15
  SOCKET: 'XSB_SOCKET',
  LV1_THRESHOLD: 'XSB_LV1_THRESHOLD',
  LV1_BATCH: 'XSB_LV1_BATCH',
  MECHANISM: 'XSB_MECHANISM', // dbg-trap | deactivate
  LOG: 'XSB_LOG', // error | warn | info | debug
  IDLE_HYSTERESIS_US: 'XSB_IDLE_HYSTERESIS_US',
  STATS_MS: 'XSB_STATS_MS',
} as const;

export type XsbClass = 'online' | 'offline';
export type XsbMechanism = 'dbg-trap' | 'deactivate';

export const XSB_PRIORITY_ONLINE_DEFAULT = 15;
export const XSB_PRIORITY_OFFLINE_DEFAULT = 2;
export const XSB_LV1_THRESHOLD_DEFAULT = 16;
export const XSB_LV1_BATCH_DEFAULT = 8;
export const XSB_LV1_MAX = 65536; // threshold 0 = unbounded; batch 1..threshold
export const XSB_IDLE_HYSTERESIS_US_DEFAULT = 200;
export const XSB_LEASE_MAX_MS = 600000;

// ---- messages: shim -> coordinator ----
export interface HelloMsg {
  v: number;
  type: 'hello';
  pid: number;
  class: XsbClass | null;
  priority: number | null;
  exe: string;
  gpus: number[];
  mechanism: XsbMechanism;
  lv1: { threshold: number; batch: number };
  /** shm_open name of the control block; the coordinator unlinks it after mapping (ack of hello). */
  shm: string;
  shm_size: number;
  ctrl_version: number;
}

export type QueueEvent = 'create' | 'update' | 'destroy';
export interface QueueMsg {
  v: number;
  type: 'queue';
  event: QueueEvent;
  id: number;
  gpu_id: number;
  /** KFD queue_type: 0 compute, 1 SDMA, 2 compute AQL, 3 SDMA XGMI, 4 SDMA by engine */
  qtype: number;
  /** decimal string: a u64 does not fit a JSON number */
  ring_base: string;
  ring_size: number;
  priority_requested: number;
  priority_applied: number;
  percentage: number;
  state: 'active' | 'held' | 'destroying';
}

/** The shim's counters: what a `stats` message reports and what the engine reads from the
 * control block (ProcSnapshot in coordinator/engine.ts). */
export interface ShimCounters {
  launches: number;
  gated_waits: number;
  gated_wait_ns: number;
  lv1_waits: number;
  suspends: number;
  resumes: number;
  suspend_ns_last: number;
  suspend_ns_max: number;
  suspend_ns_sum: number;
  resume_ns_last: number;
  resume_ns_max: number;
  resume_ns_sum: number;
}

export interface StatsMsg extends ShimCounters {
  v: number;
  type: 'stats';
  queues: number;
  exec_state: number;
  activity: number;
  /** the mechanism in effect */
  mechanism?: XsbMechanism;
}

export interface AckMsg {
  v: number;
  type: 'ack';
  of: string;
  seq?: number;
  /** ack of config: the mechanism in effect after it */
  mechanism?: XsbMechanism;
  /** ack of config: the requested mechanism, applied after the held queues are released */
  mechanism_pending?: XsbMechanism;
}

export interface ByeMsg {
  v: number;
  type: 'bye';
  reason: string;
}

export type ShimMessage = HelloMsg | QueueMsg | StatsMsg | AckMsg | ByeMsg;

// ---- messages: coordinator -> shim ----
export interface ConfigMsg {
  v: number;
  type: 'config';
  class?: XsbClass;
  priority?: number;
  lv1?: { threshold?: number; batch?: number };
  /** the shim fails open when the lease is not renewed within lease_ms */
  lease_ms?: number;
  /** wins over the shim's XSB_MECHANISM; switched only while nothing is held */
  mechanism?: XsbMechanism;
  seq?: number;
}
export interface LeaseMsg {
  v: number;
  type: 'lease';
  lease_ms: number;
  seq?: number;
}
export type CoordinatorMessage = ConfigMsg | LeaseMsg | AckMsg;

const SHIM_TYPES = new Set(['hello', 'queue', 'stats', 'ack', 'bye']);

/** Parses one line from a shim; throws an Error naming the defect. */
export function parseShimLine(line: string): ShimMessage {
  if (line.length > XSB_WIRE_MAX_LINE) throw new Error(`line longer than ${XSB_WIRE_MAX_LINE} bytes`);
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    throw new Error('not JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error('not a JSON object');
  const o = m as Record<string, unknown>;
  if (o.v !== XSB_WIRE_VERSION) throw new Error(`wire version ${String(o.v)}, expected ${XSB_WIRE_VERSION}`);
  if (typeof o.type !== 'string' || !SHIM_TYPES.has(o.type)) throw new Error(`unknown type ${String(o.type)}`);
  return o as unknown as ShimMessage;
}

/** One line (with its newline) for a shim. */
export function encodeLine(msg: CoordinatorMessage): string {
  return JSON.stringify(msg) + '\n';
}

// ---- control block (POSIX shm, XSB_CTRL_SIZE bytes, little-endian, atomics) ----
export const XSB_CTRL_MAGIC = 0x4c544358; // "XCTL"
export const XSB_CTRL_VERSION = 1;
export const XSB_CTRL_SIZE = 4096;

export const XSB_GATE_OPEN = 0x4e45504f; // "OPEN"
export const XSB_GATE_CLOSED = 0x44534c43; // "CLSD"
export const XSB_REQ_RUN = 0x4e555252; // "RRUN"
export const XSB_REQ_HOLD = 0x444c4f48; // "HOLD"

export const XSB_EXEC = { IDLE: 0, RUNNING: 1, SUSPENDING: 2, HELD: 3, RESUMING: 4, ERROR: 5 } as const;
export const XSB_ACT = { IDLE: 0, BUSY: 1 } as const;
export const XSB_CLASS_CODE = { NONE: 0, ONLINE: 1, OFFLINE: 2 } as const;
export const XSB_MECH_CODE = { DBG_TRAP: 1, DEACTIVATE: 2 } as const;

/**
 * Byte offsets of struct xsb_ctrl. [C] written by the coordinator, [S] by the shim.
 * u32 words at multiples of 4, u64 at multiples of 8; futex words are the u32 ones marked.
 */
export const XSB_CTRL_OFF = {
  magic: 0, // u32
  version: 4, // u32
  size: 8, // u32
  pid: 12, // u32
  cls: 16, // u32 XSB_CLASS_CODE
  mechanism: 20, // u32 XSB_MECH_CODE
  header_sum: 24, // u32 FNV-1a 32 of bytes 0..23
  gate: 32, // u32 [C] futex launching threads wait on
  suspend_req: 36, // u32 [C] XSB_REQ_*
  req_seq: 40, // u32 [C] bump after suspend_req + FUTEX_WAKE (the shim bumps it too)
  lv1_threshold: 44, // u32 [C/S]
  lv1_batch: 48, // u32 [C/S]
  lease_deadline_ns: 56, // u64 [C/S] CLOCK_MONOTONIC, 0 = none
  ack_seq: 64, // u32 [S] futex: req_seq answered by exec_state (wait until (int32)(ack - seq) >= 0)
  exec_state: 68, // u32 [S] XSB_EXEC
  exec_error: 72, // i32 [S] -errno
  held_queues: 76, // u32 [S]
  activity: 80, // u32 [S] XSB_ACT
  activity_doorbell: 84, // u32 [S] futex, +1 per transition
  busy_since_ns: 88, // u64 [S]
  idle_since_ns: 96, // u64 [S]
  activity_transitions: 104, // u64 [S]
  launches: 112, // u64 [S]
  gated_waits: 120,
  gated_wait_ns: 128,
  lv1_waits: 136,
  suspends: 144,
  resumes: 152,
  suspend_ns_last: 160,
  suspend_ns_max: 168,
  suspend_ns_sum: 176,
  resume_ns_last: 184,
  resume_ns_max: 192,
  resume_ns_sum: 200,
  queues: 208, // u32 [S]
  errors: 212, // u32 [S]
  fail_open_ns: 216, // u64 [S] 0 = attached
} as const;

/** FNV-1a 32 over the first 24 header bytes (xsb_ctrl_header_sum). */
export function ctrlHeaderSum(block: Uint8Array): number {
  let h = 2166136261;
  for (let i = 0; i < 24; i++) {
    h ^= block[i] ?? 0;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

/** Checks magic, version, size and header checksum of a mapped control block. */
export function validateCtrlHeader(block: Uint8Array): string | null {
  if (block.byteLength < XSB_CTRL_SIZE) return `control block is ${block.byteLength} bytes, expected ${XSB_CTRL_SIZE}`;
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (dv.getUint32(XSB_CTRL_OFF.magic, true) !== XSB_CTRL_MAGIC) return 'bad magic';
  if (dv.getUint32(XSB_CTRL_OFF.version, true) !== XSB_CTRL_VERSION) return 'unsupported control block version';
  if (dv.getUint32(XSB_CTRL_OFF.size, true) !== XSB_CTRL_SIZE) return 'bad size field';
  if (dv.getUint32(XSB_CTRL_OFF.header_sum, true) !== ctrlHeaderSum(block)) return 'header checksum mismatch';
  return null;
}
