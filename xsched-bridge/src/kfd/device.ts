/**
 * The KFD through libxsbkfd: version, debugger session (DBG_TRAP) and UPDATE_QUEUE.
 * Every failure throws KfdError with the library's diagnosis.
 */
import { KfdError } from './errors.js';
import { big, decodeAt, lib, sizeOf, T, type Handle } from './native.js';

/** enum xsb_kfd_op (native/kfd/include/xsb_kfd.h). */
export const KfdOp = {
  open: 1,
  version: 2,
  dbgEnable: 3,
  dbgDisable: 4,
  suspend: 5,
  resume: 6,
  snapshot: 7,
  updateQueue: 8,
} as const;
export type KfdOpName = keyof typeof KfdOp;

const OP_NAMES: Record<KfdOpName, string> = {
  open: 'open',
  version: 'GET_VERSION',
  dbgEnable: 'DBG_TRAP ENABLE',
  dbgDisable: 'DBG_TRAP DISABLE',
  suspend: 'DBG_TRAP SUSPEND_QUEUES',
  resume: 'DBG_TRAP RESUME_QUEUES',
  snapshot: 'DBG_TRAP GET_QUEUE_SNAPSHOT',
  updateQueue: 'UPDATE_QUEUE',
};

export const RUNTIME_STATE_UNKNOWN = 0xffffffff;
export const QUEUE_INVALID = 0x80000000;
export const QUEUE_ERROR = 0x40000000;
export const EC_MASK_QUEUE_NEW = 0x40000000n;
export const EC_MASK_PROCESS_RUNTIME = 0x800000000000n;
/** The debugger API needs KFD 1.13 (Linux 6.5). */
export const DEBUG_MIN_MINOR = 13;

/** One line: cause and fix for errno `err` of `op` (runtime_state disambiguates EPERM). */
export function diagnose(op: KfdOpName, err: number, runtimeState: number = RUNTIME_STATE_UNKNOWN): string {
  const buf = Buffer.alloc(1024);
  return lib().diagnose(KfdOp[op], err, runtimeState >>> 0, buf, buf.length);
}

function fail(op: KfdOpName, r: number, runtimeState: number = RUNTIME_STATE_UNKNOWN): never {
  throw new KfdError(OP_NAMES[op], -r, diagnose(op, r, runtimeState));
}

export interface QueueStatus {
  id: number;
  /** bit 31: no such queue, new (EC_QUEUE_NEW pending) or being destroyed */
  invalid: boolean;
  /** bit 30: hardware/scheduler failure */
  error: boolean;
  raw: number;
}

export function queueStatus(raw: number): QueueStatus {
  const u = raw >>> 0;
  return { id: (u & 0x3fffffff) >>> 0, invalid: (u & QUEUE_INVALID) >>> 0 !== 0, error: (u & QUEUE_ERROR) !== 0, raw: u };
}

export interface SuspendResult {
  /** The ioctl's count of queues suspended (resumed). */
  count: number;
  statuses: QueueStatus[];
}

export interface SnapshotEntry {
  exceptionStatus: bigint;
  ringBase: bigint;
  writePointer: bigint;
  readPointer: bigint;
  ctxSaveRestoreAddress: bigint;
  queueId: number;
  gpuId: number;
  ringSize: number;
  queueType: number;
  ctxSaveRestoreAreaSize: number;
}

interface RawSnapshot {
  exception_status: number | bigint;
  ring_base_address: number | bigint;
  write_pointer_address: number | bigint;
  read_pointer_address: number | bigint;
  ctx_save_restore_address: number | bigint;
  queue_id: number;
  gpu_id: number;
  ring_size: number;
  queue_type: number;
  ctx_save_restore_area_size: number;
}

export class Kfd {
  #h: Handle | null;

  private constructor(h: Handle) {
    this.#h = h;
  }

  /** Opens path (default /dev/kfd) with O_RDWR|O_CLOEXEC through libc open(). */
  static open(path?: string): Kfd {
    const out: [Handle | null] = [null];
    const r = lib().open(out, path ?? null);
    if (r < 0 || out[0] === null) fail('open', r < 0 ? r : -12);
    return new Kfd(out[0]);
  }

  get handle(): Handle {
    if (this.#h === null) throw new KfdError('use', 9, 'this Kfd is closed; open a new one');
    return this.#h;
  }

  get fd(): number {
    return lib().fd(this.handle);
  }

  close(): void {
    if (this.#h !== null) lib().close(this.#h);
    this.#h = null;
  }

  version(): { major: number; minor: number } {
    const ma: [number] = [0];
    const mi: [number] = [0];
    const r = lib().version(this.handle, ma, mi);
    if (r < 0) fail('version', r);
    return { major: ma[0], minor: mi[0] };
  }

  /** Enables the debug trap on pid. Throws (EPERM, with the runtime diagnosis) when the target's
   * runtime_state is not 1; the library has already disabled the session again then. */
  dbgEnable(pid: number): { runtimeState: number } {
    const rs: [number] = [RUNTIME_STATE_UNKNOWN];
    const r = lib().dbgEnable(this.handle, pid, rs);
    if (r < 0) fail('dbgEnable', r, rs[0]);
    return { runtimeState: rs[0] };
  }

  dbgDisable(pid: number): void {
    const r = lib().dbgDisable(this.handle, pid);
    if (r < 0) fail('dbgDisable', r);
  }

  /** clearMask: exceptions to clear (EC_MASK_QUEUE_NEW before suspending new queues). */
  suspend(pid: number, ids: readonly number[], gracePeriod = 1, clearMask = 0n): SuspendResult {
    const a = Uint32Array.from(ids);
    const r = lib().suspend(this.handle, pid, a, a.length, gracePeriod, clearMask);
    if (r < 0) fail('suspend', r);
    return { count: r, statuses: Array.from(a, queueStatus) };
  }

  resume(pid: number, ids: readonly number[]): SuspendResult {
    const a = Uint32Array.from(ids);
    const r = lib().resume(this.handle, pid, a, a.length);
    if (r < 0) fail('resume', r);
    return { count: r, statuses: Array.from(a, queueStatus) };
  }

  /** GET_QUEUE_SNAPSHOT: every queue of pid (asks for the count first). */
  queueSnapshot(pid: number, clearMask = 0n): { total: number; entries: SnapshotEntry[] } {
    const total: [number] = [0];
    let r = lib().snapshot(this.handle, pid, 0n, null, 0, total);
    if (r < 0) fail('snapshot', r);
    for (let attempt = 0; attempt < 4; attempt++) {
      const cap = total[0] + 4;
      const buf = Buffer.alloc(cap * sizeOf(T.snapshotEntry));
      r = lib().snapshot(this.handle, pid, clearMask, buf, cap, total);
      if (r < 0) fail('snapshot', r);
      if (total[0] <= cap) {
        const entries: SnapshotEntry[] = [];
        for (let i = 0; i < r; i++) {
          const e = decodeAt<RawSnapshot>(buf, i, T.snapshotEntry);
          entries.push({
            exceptionStatus: big(e.exception_status),
            ringBase: big(e.ring_base_address),
            writePointer: big(e.write_pointer_address),
            readPointer: big(e.read_pointer_address),
            ctxSaveRestoreAddress: big(e.ctx_save_restore_address),
            queueId: e.queue_id,
            gpuId: e.gpu_id,
            ringSize: e.ring_size,
            queueType: e.queue_type,
            ctxSaveRestoreAreaSize: e.ctx_save_restore_area_size,
          });
        }
        return { total: total[0], entries };
      }
    }
    throw new KfdError(OP_NAMES.snapshot, 11, 'the number of queues kept growing while reading the snapshot; retry');
  }

  /** UPDATE_QUEUE on the caller's own queue: pass its original ring base and size. */
  updateQueue(queueId: number, ringBase: bigint, ringSize: number, percentage: number, priority: number): void {
    const r = lib().updateQueue(this.handle, queueId, ringBase, ringSize, percentage, priority);
    if (r < 0) fail('updateQueue', r);
  }
}
