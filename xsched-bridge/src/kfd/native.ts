/**
 * koffi bindings of libxsbkfd.so (native/kfd). Struct layouts mirror native/kfd/include/*.h and
 * are checked against the library's own sizeof at load, so a drift fails loudly.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { buildDir } from '../paths.js';
import { KfdError } from './errors.js';

export type TypeObject = ReturnType<typeof koffi.struct>;

const u32 = 'uint32_t';
const i32 = 'int32_t';
const u64 = 'uint64_t';

export const T = {
  snapshotEntry: koffi.struct('xsb_kfd_queue_snapshot_entry', {
    exception_status: u64,
    ring_base_address: u64,
    write_pointer_address: u64,
    read_pointer_address: u64,
    ctx_save_restore_address: u64,
    queue_id: u32,
    gpu_id: u32,
    ring_size: u32,
    queue_type: u32,
    ctx_save_restore_area_size: u32,
    reserved: u32,
  }),
  sysfsError: koffi.struct('xsb_sysfs_error', {
    err: i32,
    path: koffi.array('char', 512, 'String'),
    msg: koffi.array('char', 256, 'String'),
  }),
  topoNode: koffi.struct('xsb_topo_node', {
    node: u32,
    gpu_id: u32,
    name: koffi.array('char', 64, 'String'),
    gfx_name: koffi.array('char', 16, 'String'),
    gfx_target_version: u32,
    simd_count: u32,
    simd_per_cu: u32,
    cu_count: u32,
    capability: u32,
    fw_debug: u32,
    num_cp_queues: u32,
    fw_version: u32,
    drm_render_minor: i32,
    missing: u32,
  }),
  procQueue: koffi.struct('xsb_proc_queue', { queue_id: u32, type: u32, gpu_id: u32, pad: u32, size: u64 }),
  amdgpuParams: koffi.struct('xsb_amdgpu_params', {
    sched_policy: i32,
    cwsr_enable: i32,
    queue_preemption_timeout_ms: i32,
    mes: i32,
    sched_policy_errno: i32,
    cwsr_enable_errno: i32,
    queue_preemption_timeout_ms_errno: i32,
    mes_errno: i32,
  }),
  parseError: koffi.struct('xsb_parse_error', { line: u32, err: i32, msg: koffi.array('char', 200, 'String') }),
  mqdXcc: koffi.struct('xsb_mqd_xcc', {
    ring_base: u64,
    active: u32,
    vmid: u32,
    pipe_priority: u32,
    queue_priority: u32,
    line: u32,
    pad: u32,
  }),
  mqdQueue: undefined as unknown as TypeObject,
  hqdSlot: koffi.struct('xsb_hqd_slot', {
    node: u32,
    gpu_id: u32,
    kind: u32,
    inst: u32,
    mec: u32,
    pipe: u32,
    queue: u32,
    engine: u32,
    rlc: u32,
    n_regs: u32,
    active: u32,
    vmid: u32,
    pipe_priority: u32,
    queue_priority: u32,
    ring_base: u64,
    line: u32,
    pad: u32,
  }),
  logEvent: koffi.struct('xsb_log_event', {
    line: u32,
    kind: u32,
    hwq: u64,
    swq: u64,
    stream: u64,
    refcount: i32,
    priority: i32,
    size: u32,
    pad: u32,
  }),
  logQueue: koffi.struct('xsb_log_queue', {
    hwq: u64,
    swq: u64,
    size: u32,
    priority: i32,
    created_line: u32,
    deleted_line: u32,
    acquires: u32,
    selects: u32,
    releases: u32,
    max_refcount: i32,
    last_refcount: i32,
    n_streams: u32,
    pad: u32,
    streams: koffi.array(u64, 64, 'Array'),
  }),
};
export const MQD_MAX_XCC = 16;
export const LOG_MAX_STREAMS = 64;
T.mqdQueue = koffi.struct('xsb_mqd_queue', {
  pid: u32,
  pasid: u32,
  gpu_id: u32,
  kind: u32,
  line: u32,
  n_xcc: u32,
  ring_base: u64,
  pipe_priority: u32,
  queue_priority: u32,
  xcc: koffi.array(T.mqdXcc, MQD_MAX_XCC, 'Array'),
});

type Ptr = Buffer | null;
/** Opaque xsb_kfd_t* handle. */
export type Handle = { readonly __brand: 'xsb_kfd_t' };

export interface Lib {
  open(out: [Handle | null], path: string | null): number;
  close(k: Handle): void;
  fd(k: Handle): number;
  version(k: Handle, major: [number], minor: [number]): number;
  dbgEnable(k: Handle, pid: number, rs: [number]): number;
  dbgDisable(k: Handle, pid: number): number;
  suspend(k: Handle, pid: number, ids: Uint32Array, n: number, grace: number, clear: bigint): number;
  resume(k: Handle, pid: number, ids: Uint32Array, n: number): number;
  snapshot(k: Handle, pid: number, clear: bigint, entries: Ptr, cap: number, total: [number]): number;
  updateQueue(k: Handle, id: number, ring: bigint, size: number, pct: number, prio: number): number;
  diagnose(op: number, err: number, rs: number, buf: Buffer, len: number): string;
  topology(root: string | null, nodes: Ptr, cap: number, err: Buffer): number;
  procQueues(root: string | null, pid: number, out: Ptr, cap: number, err: Buffer): number;
  amdgpuParams(root: string | null, out: Buffer): number;
  gfxName(v: number, buf: Buffer, len: number): number;
  sysfsRoot(root: string | null): string;
  parseMqds(buf: Buffer, len: number, out: Ptr, cap: number, err: Buffer): number;
  parseHqds(buf: Buffer, len: number, out: Ptr, cap: number, err: Buffer): number;
  parseAmdlog(buf: Buffer, len: number, q: Ptr, qcap: number, ev: Ptr, ecap: number, nEv: [number], err: Buffer): number;
}

/** Path of libxsbkfd.so: $XSB_KFD_LIB, else <build>/lib/libxsbkfd.so. */
export function libraryPath(env: NodeJS.ProcessEnv = process.env): string {
  const p = env['XSB_KFD_LIB'];
  return p !== undefined && p !== '' ? p : join(buildDir(env), 'lib', 'libxsbkfd.so');
}

let cached: Lib | undefined;

function bind<F>(lib: ReturnType<typeof koffi.load>, decl: string): F {
  const f: unknown = lib.func(decl);
  return f as F;
}

export function lib(): Lib {
  if (cached !== undefined) return cached;
  const path = libraryPath();
  if (!existsSync(path)) {
    throw new KfdError('load libxsbkfd', 2, `${path} is missing; build the native parts (npm install) or set XSB_KFD_LIB`);
  }
  let l: ReturnType<typeof koffi.load>;
  try {
    l = koffi.load(path);
  } catch (e) {
    throw new KfdError('load libxsbkfd', 8, `cannot load ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  koffi.opaque('xsb_kfd_t');
  const sizeOf = bind<(n: string) => number>(l, 'size_t xsb_kfd_sizeof(const char *name)');
  for (const [name, t] of Object.entries(T)) {
    const cname = t.name;
    const want = sizeOf(cname);
    if (want !== koffi.sizeof(t)) {
      throw new KfdError('load libxsbkfd', 22, `layout of ${cname} (T.${name}) is ${koffi.sizeof(t)} bytes in the bindings but ${want} in ${path}; update xsched-bridge/src/kfd/native.ts`);
    }
  }
  cached = {
    open: bind(l, 'int xsb_kfd_open(_Out_ xsb_kfd_t **k, const char *path)'),
    close: bind(l, 'void xsb_kfd_close(xsb_kfd_t *k)'),
    fd: bind(l, 'int xsb_kfd_fd(xsb_kfd_t *k)'),
    version: bind(l, 'int xsb_kfd_version(xsb_kfd_t *k, _Out_ uint32_t *major, _Out_ uint32_t *minor)'),
    dbgEnable: bind(l, 'int xsb_kfd_dbg_enable(xsb_kfd_t *k, uint32_t pid, _Out_ uint32_t *rs)'),
    dbgDisable: bind(l, 'int xsb_kfd_dbg_disable(xsb_kfd_t *k, uint32_t pid)'),
    suspend: bind(l, 'int xsb_kfd_suspend(xsb_kfd_t *k, uint32_t pid, _Inout_ uint32_t *ids, uint32_t n, uint32_t grace, uint64_t clear)'),
    resume: bind(l, 'int xsb_kfd_resume(xsb_kfd_t *k, uint32_t pid, _Inout_ uint32_t *ids, uint32_t n)'),
    snapshot: bind(l, 'int xsb_kfd_queue_snapshot(xsb_kfd_t *k, uint32_t pid, uint64_t clear, void *entries, uint32_t cap, _Out_ uint32_t *total)'),
    updateQueue: bind(l, 'int xsb_kfd_update_queue(xsb_kfd_t *k, uint32_t id, uint64_t ring, uint32_t size, uint32_t pct, uint32_t prio)'),
    diagnose: bind(l, 'const char *xsb_kfd_diagnose(int op, int err, uint32_t rs, void *buf, size_t len)'),
    topology: bind(l, 'int xsb_sysfs_topology(const char *root, void *nodes, uint32_t cap, void *err)'),
    procQueues: bind(l, 'int xsb_sysfs_proc_queues(const char *root, uint32_t pid, void *out, uint32_t cap, void *err)'),
    amdgpuParams: bind(l, 'int xsb_sysfs_amdgpu_params(const char *root, void *out)'),
    gfxName: bind(l, 'int xsb_gfx_name(uint32_t v, void *buf, size_t len)'),
    sysfsRoot: bind(l, 'const char *xsb_sysfs_root(const char *root)'),
    parseMqds: bind(l, 'int xsb_parse_mqds(const void *buf, size_t len, void *out, uint32_t cap, void *err)'),
    parseHqds: bind(l, 'int xsb_parse_hqds(const void *buf, size_t len, void *out, uint32_t cap, void *err)'),
    parseAmdlog: bind(l, 'int xsb_parse_amdlog(const void *buf, size_t len, void *q, uint32_t qcap, void *ev, uint32_t ecap, _Out_ uint32_t *n, void *err)'),
  };
  return cached;
}

/** koffi.decode of element i of an array of t in buf, typed by the caller's interface. */
export function decodeAt<R>(buf: Buffer, i: number, t: TypeObject): R {
  const v: unknown = koffi.decode(buf, i * koffi.sizeof(t), t);
  return v as R;
}

export function sizeOf(t: TypeObject): number {
  return koffi.sizeof(t);
}

/** uint64 fields come back as number when they fit, else bigint. */
export function big(v: number | bigint): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

/** C string in a char buffer. */
export function cstr(buf: Buffer): string {
  const z = buf.indexOf(0);
  return buf.toString('utf8', 0, z < 0 ? buf.length : z);
}
