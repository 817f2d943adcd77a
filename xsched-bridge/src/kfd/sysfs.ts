/**
 * sysfs readers: KFD topology, per-process queues and amdgpu parameters. `root` stands for the
 * sysfs mount (/sys); default $XSB_SYSFS_ROOT, else /sys (the emulator's tree is
 * $XSB_EMU_DIR/sysfs). Unreadable files throw KfdError naming the path; missing properties are
 * listed, never guessed.
 */
import { KfdError } from './errors.js';
import { big, cstr, decodeAt, lib, sizeOf, T } from './native.js';

export const CAP_FW_DEBUG = 0x20000000;

const MISSING_BITS = [
  'gfx_target_version',
  'simd_count',
  'simd_per_cu',
  'capability',
  'num_cp_queues',
  'fw_version',
  'drm_render_minor',
  'name',
] as const;
export type TopoProperty = (typeof MISSING_BITS)[number];

export interface TopologyNode {
  node: number;
  /** 0 for CPU nodes */
  gpuId: number;
  name: string;
  /** "gfx942" from gfx_target_version 90402; "" for CPU nodes */
  gfxName: string;
  gfxTargetVersion: number;
  simdCount: number;
  simdPerCu: number;
  cuCount: number;
  capability: number;
  /** capability bit 0x20000000: firmware supports the debugger */
  fwDebug: boolean;
  numCpQueues: number;
  fwVersion: number;
  /** null when the property is missing */
  drmRenderMinor: number | null;
  missing: TopoProperty[];
}

interface RawNode {
  node: number;
  gpu_id: number;
  name: string;
  gfx_name: string;
  gfx_target_version: number;
  simd_count: number;
  simd_per_cu: number;
  cu_count: number;
  capability: number;
  fw_debug: number;
  num_cp_queues: number;
  fw_version: number;
  drm_render_minor: number;
  missing: number;
}

interface RawSysfsError {
  err: number;
  path: string;
  msg: string;
}

function sysfsFail(what: string, r: number, errBuf: Buffer): never {
  const e = decodeAt<RawSysfsError>(errBuf, 0, T.sysfsError);
  throw new KfdError(what, -r, e.msg !== '' ? e.msg : `failed with errno ${-r}`);
}

export function sysfsRoot(root?: string): string {
  return lib().sysfsRoot(root ?? null);
}

export function readTopology(root?: string): TopologyNode[] {
  const err = Buffer.alloc(sizeOf(T.sysfsError));
  let cap = 16;
  for (;;) {
    const buf = Buffer.alloc(cap * sizeOf(T.topoNode));
    const r = lib().topology(root ?? null, buf, cap, err);
    if (r < 0) sysfsFail('sysfs topology', r, err);
    if (r > cap) {
      cap = r;
      continue;
    }
    const out: TopologyNode[] = [];
    for (let i = 0; i < r; i++) {
      const n = decodeAt<RawNode>(buf, i, T.topoNode);
      out.push({
        node: n.node,
        gpuId: n.gpu_id,
        name: n.name,
        gfxName: n.gfx_name,
        gfxTargetVersion: n.gfx_target_version,
        simdCount: n.simd_count,
        simdPerCu: n.simd_per_cu,
        cuCount: n.cu_count,
        capability: n.capability >>> 0,
        fwDebug: n.fw_debug !== 0,
        numCpQueues: n.num_cp_queues,
        fwVersion: n.fw_version,
        drmRenderMinor: n.missing & (1 << 6) ? null : n.drm_render_minor,
        missing: MISSING_BITS.filter((_, bit) => (n.missing & (1 << bit)) !== 0),
      });
    }
    return out;
  }
}

export function gpuNodes(root?: string): TopologyNode[] {
  return readTopology(root).filter((n) => n.gpuId !== 0);
}

/** gfx_target_version (major*10000 + minor*100 + stepping) -> "gfx942", "gfx90a". */
export function gfxName(gfxTargetVersion: number): string {
  const buf = Buffer.alloc(16);
  const r = lib().gfxName(gfxTargetVersion, buf, buf.length);
  if (r < 0) throw new KfdError('gfx name', -r, `gfx_target_version ${gfxTargetVersion} is not a valid major*10000+minor*100+stepping value`);
  return cstr(buf);
}

export interface ProcQueue {
  queueId: number;
  /** kernel enum kfd_queue_type: 0 compute, 1 SDMA, 2 HIQ, 3 DIQ, 4 SDMA XGMI, 5 SDMA by engine */
  type: number;
  gpuId: number;
  /** ring size in bytes */
  size: bigint;
}

interface RawProcQueue {
  queue_id: number;
  type: number;
  gpu_id: number;
  size: number | bigint;
}

/** <root>/class/kfd/kfd/proc/<pid>/queues: throws KfdError ENOENT when pid has no KFD entry. */
export function readProcQueues(pid: number, root?: string): ProcQueue[] {
  const err = Buffer.alloc(sizeOf(T.sysfsError));
  let cap = 64;
  for (;;) {
    const buf = Buffer.alloc(cap * sizeOf(T.procQueue));
    const r = lib().procQueues(root ?? null, pid, buf, cap, err);
    if (r < 0) sysfsFail(`sysfs queues of pid ${pid}`, r, err);
    if (r > cap) {
      cap = r;
      continue;
    }
    const out: ProcQueue[] = [];
    for (let i = 0; i < r; i++) {
      const q = decodeAt<RawProcQueue>(buf, i, T.procQueue);
      out.push({ queueId: q.queue_id, type: q.type, gpuId: q.gpu_id, size: big(q.size) });
    }
    return out;
  }
}

/** A module parameter: its value, or the errno that kept it from being read. */
export type Param = { value: number; errno: 0 } | { value: null; errno: number };

export interface AmdgpuParams {
  /** 0 HWS, 1 HWS without oversubscription, 2 NO_HWS (debugger path refused) */
  schedPolicy: Param;
  cwsrEnable: Param;
  queuePreemptionTimeoutMs: Param;
  mes: Param;
}

interface RawParams {
  sched_policy: number;
  cwsr_enable: number;
  queue_preemption_timeout_ms: number;
  mes: number;
  sched_policy_errno: number;
  cwsr_enable_errno: number;
  queue_preemption_timeout_ms_errno: number;
  mes_errno: number;
}

function param(value: number, errno: number): Param {
  return errno === 0 ? { value, errno: 0 } : { value: null, errno };
}

export function readAmdgpuParams(root?: string): AmdgpuParams {
  const buf = Buffer.alloc(sizeOf(T.amdgpuParams));
  const r = lib().amdgpuParams(root ?? null, buf);
  if (r < 0) throw new KfdError('sysfs amdgpu parameters', -r, `reading amdgpu module parameters failed (errno ${-r})`);
  const p = decodeAt<RawParams>(buf, 0, T.amdgpuParams);
  return {
    schedPolicy: param(p.sched_policy, p.sched_policy_errno),
    cwsrEnable: param(p.cwsr_enable, p.cwsr_enable_errno),
    queuePreemptionTimeoutMs: param(p.queue_preemption_timeout_ms, p.queue_preemption_timeout_ms_errno),
    mes: param(p.mes, p.mes_errno),
  };
}
