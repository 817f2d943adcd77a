/**
 * Analyses of captured queue state (what the seeds' queue_finder tried to do): debugfs
 * kfd/mqds and kfd/hqds dumps and AMD_LOG_LEVEL logs, through libxsbkfd's parsers. The ring
 * base joins every source (HIP's HWq= = KFD ring_base_address = MQD cp_hqd_pq_base << 8).
 */
import { KfdParseError, mqdProcesses, parseAmdLog, parseHqds, parseMqds, type HqdSlot, type LogQueue, type MqdQueue } from '../kfd/index.js';
import { XsbError } from '../errors.js';
import { gpuHex, hex, renderTable } from './common.js';

const PIPE_PRIORITY = ['low', 'medium', 'high'];
const LOG_PRIORITY = ['low', 'normal', 'high'];
const named = (names: string[], v: number | null): string => (v === null ? '-' : `${names[v] ?? '?'} (${v})`);

export type DebugfsKind = 'mqds' | 'hqds';

/** mqds: "Process <pid> PASID <n>:" headers; hqds: "Node <n>, gpu_id <hex>:" headers. */
export function detectDebugfs(text: string): DebugfsKind | null {
  if (/^\s*Process \d+ PASID \S+:/m.test(text) || /^\s*(Compute|SDMA) queue on device/m.test(text)) return 'mqds';
  if (/^\s*Node \d+, gpu_id [0-9a-fA-F]+:/m.test(text)) return 'hqds';
  return null;
}

export interface MqdsQueueView {
  index: number;
  gpu_id: string;
  kind: string;
  ring_base: bigint;
  pipe_priority: number;
  queue_priority: number;
  xccs: number;
  active_xccs: number;
  line: number;
}

export interface MqdsView {
  kind: 'mqds';
  processes: { pid: number; pasid: number; queues_per_gpu: Record<string, number>; queues: MqdsQueueView[] }[];
}

export function analyseMqds(text: string): MqdsView {
  const procs = mqdProcesses(parseMqds(text));
  return {
    kind: 'mqds',
    processes: procs.map((p) => {
      const perGpu: Record<string, number> = {};
      for (const q of p.queues) perGpu[gpuHex(q.gpuId)] = (perGpu[gpuHex(q.gpuId)] ?? 0) + 1;
      return {
        pid: p.pid,
        pasid: p.pasid,
        queues_per_gpu: perGpu,
        queues: p.queues.map((q: MqdQueue, i) => ({
          index: i,
          gpu_id: gpuHex(q.gpuId),
          kind: q.kind,
          ring_base: q.ringBase,
          pipe_priority: q.pipePriority,
          queue_priority: q.queuePriority,
          xccs: q.xcc.length,
          active_xccs: q.xcc.filter((x) => x.active).length,
          line: q.line,
        })),
      };
    }),
  };
}

export interface HqdsRingView {
  ring_base: bigint;
  slots: number;
  xccs: number[];
  pipe_priority: number;
  queue_priority: number;
  vmid: number;
}

export interface HqdsView {
  kind: 'hqds';
  gpus: { node: number; gpu_id: string; cp_slots: number; active_cp_slots: number; active_hiq: number; rings: HqdsRingView[] }[];
}

export function analyseHqds(text: string): HqdsView {
  const slots = parseHqds(text);
  const byGpu = new Map<number, HqdSlot[]>();
  for (const s of slots) {
    const l = byGpu.get(s.gpuId) ?? [];
    l.push(s);
    byGpu.set(s.gpuId, l);
  }
  return {
    kind: 'hqds',
    gpus: [...byGpu.entries()].map(([gpuId, l]) => {
      const active = l.filter((s) => s.kind === 'cp' && s.active);
      const rings = new Map<bigint, HqdsRingView>();
      for (const s of active) {
        const r = rings.get(s.ringBase) ?? {
          ring_base: s.ringBase,
          slots: 0,
          xccs: [],
          pipe_priority: s.pipePriority,
          queue_priority: s.queuePriority,
          vmid: s.vmid,
        };
        r.slots++;
        if (!r.xccs.includes(s.inst)) r.xccs.push(s.inst);
        rings.set(s.ringBase, r);
      }
      return {
        node: l[0]?.node ?? 0,
        gpu_id: gpuHex(gpuId),
        cp_slots: l.filter((s) => s.kind === 'cp').length,
        active_cp_slots: active.length,
        active_hiq: l.filter((s) => s.kind === 'hiq' && s.active).length,
        rings: [...rings.values()],
      };
    }),
  };
}

export interface LogQueueView {
  hwq: bigint;
  swq: bigint | null;
  size_packets: number | null;
  priority: number | null;
  streams: bigint[];
  stream_count: number;
  acquires: number;
  selects: number;
  releases: number;
  max_refcount: number | null;
  created_line: number | null;
  deleted_line: number | null;
}

export interface LogView {
  kind: 'log';
  /** from "[pid:N tid:...]" prefixes, else the program's "Process ID: N" line */
  pids: number[];
  /** "maximum per priority is: N" (GPU_MAX_HW_QUEUES as HIP applied it) */
  max_hw_queues_per_priority: number | null;
  streams: number;
  hw_queues: LogQueueView[];
}

export function analyseLog(text: string): LogView {
  const { queues } = parseAmdLog(text);
  // "[pid:N tid:...]" prefixes (HIP with pid/tid logging), else a program's own "Process ID: N".
  let pids = [...new Set([...text.matchAll(/\[pid:(\d+)\s/g)].map((m) => Number(m[1])))];
  if (pids.length === 0) pids = [...new Set([...text.matchAll(/^Process ID:\s*(\d+)\s*$/gm)].map((m) => Number(m[1])))];
  const maxMatch = /maximum per priority is:\s*(\d+)/.exec(text);
  return {
    kind: 'log',
    pids,
    max_hw_queues_per_priority: maxMatch ? Number(maxMatch[1]) : null,
    streams: new Set(queues.flatMap((q) => q.streams)).size,
    hw_queues: queues.map((q: LogQueue) => ({
      hwq: q.hwq,
      swq: q.swq,
      size_packets: q.size,
      priority: q.priority,
      streams: q.streams,
      stream_count: q.streamCount,
      acquires: q.acquires,
      selects: q.selects,
      releases: q.releases,
      max_refcount: q.maxRefCount,
      created_line: q.createdLine,
      deleted_line: q.deletedLine,
    })),
  };
}

export type CaptureView = MqdsView | HqdsView | LogView;

/** Parser failures become one-line errors naming the file and line. */
export function analyseFile(file: string, text: string, as: 'debugfs' | 'log'): CaptureView {
  try {
    if (as === 'log') return analyseLog(text);
    const kind = detectDebugfs(text);
    if (kind === null) {
      throw new XsbError(
        `${file} is neither a debugfs mqds nor an hqds capture (no "Process <pid> PASID" or "Node <n>, gpu_id" header)`,
        'capture it with `sudo cat /sys/kernel/debug/kfd/mqds` (or hqds); AMD_LOG_LEVEL logs go to --from-log',
      );
    }
    return kind === 'mqds' ? analyseMqds(text) : analyseHqds(text);
  } catch (err) {
    if (err instanceof KfdParseError) {
      throw new XsbError(`${file}:${err.line}: ${err.diagnosis}`, 'pass an unmodified capture (the parser stops at the first malformed line)', {
        cause: err,
      });
    }
    throw err;
  }
}

/** Rings of an mqds capture that no logged HIP stream created: ROCr's internal (utility) queues. */
export function internalRings(mqds: MqdsView, log: LogView): bigint[] {
  const logged = new Set(log.hw_queues.map((q) => q.hwq));
  return mqds.processes.flatMap((p) => p.queues.map((q) => q.ring_base)).filter((r) => !logged.has(r));
}

export function formatMqds(v: MqdsView, file: string): string {
  const out = [`debugfs mqds capture ${file}: ${v.processes.length} process(es)`];
  for (const p of v.processes) {
    const perGpu = Object.entries(p.queues_per_gpu)
      .map(([g, n]) => `${n} on gpu ${g}`)
      .join(', ');
    out.push('', `process ${p.pid} (PASID ${p.pasid}): ${p.queues.length} queue(s): ${perGpu}`);
    out.push(
      renderTable(
        ['#', 'gpu', 'kind', 'ring base', 'pipe priority', 'queue priority', 'XCCs', 'active XCCs'],
        p.queues.map((q) => [q.index, q.gpu_id, q.kind, hex(q.ring_base), named(PIPE_PRIORITY, q.pipe_priority), q.queue_priority, q.xccs, q.active_xccs]),
      ),
    );
  }
  out.push('', 'queues are listed newest first; mqds carries no KFD queue ids (join with sysfs or a snapshot by ring base)');
  return out.join('\n');
}

export function formatHqds(v: HqdsView, file: string): string {
  const out = [`debugfs hqds capture ${file}: ${v.gpus.length} GPU(s)`, ''];
  out.push(
    renderTable(
      ['node', 'gpu', 'CP slots', 'active CP slots', 'queues (rings)', 'active HIQ'],
      v.gpus.map((g) => [g.node, g.gpu_id, g.cp_slots, g.active_cp_slots, g.rings.length, g.active_hiq]),
    ),
  );
  for (const g of v.gpus.filter((x) => x.rings.length > 0)) {
    out.push('', `gpu ${g.gpu_id}: ${g.active_cp_slots} active CP slots = ${g.rings.length} queue(s) mapped on the hardware`);
    out.push(
      renderTable(
        ['ring base', 'slots', 'XCCs', 'vmid', 'pipe priority', 'queue priority'],
        g.rings.map((r) => [hex(r.ring_base), r.slots, r.xccs.join(','), r.vmid, named(PIPE_PRIORITY, r.pipe_priority), r.queue_priority]),
      ),
    );
  }
  return out.join('\n');
}

export function formatLog(v: LogView, file: string): string {
  const pids = v.pids.length > 0 ? `process ${v.pids.join(', ')}` : 'process unknown (no [pid:] prefixes in the log)';
  const out = [
    `AMD_LOG_LEVEL capture ${file}: ${pids}; ${v.streams} stream(s) on ${v.hw_queues.length} hardware queue(s)` +
      (v.max_hw_queues_per_priority !== null ? ` (at most ${v.max_hw_queues_per_priority} per priority: GPU_MAX_HW_QUEUES)` : ''),
    '',
    renderTable(
      ['HWq (ring base)', 'SWq', 'packets', 'priority', 'streams', 'acquires', 'selects', 'releases', 'deleted'],
      v.hw_queues.map((q) => [
        hex(q.hwq),
        q.swq === null ? null : hex(q.swq),
        q.size_packets,
        named(LOG_PRIORITY, q.priority),
        q.stream_count,
        q.acquires,
        q.selects,
        q.releases,
        q.deleted_line === null ? null : `line ${q.deleted_line}`,
      ]),
    ),
  ];
  const shared = v.hw_queues.filter((q) => q.stream_count > 1);
  if (shared.length > 0) {
    out.push('', 'streams sharing a hardware queue (suspending the queue stops all of them: the process is the unit):');
    for (const q of shared) out.push(`  ${hex(q.hwq)}: ${q.streams.map((s) => hex(s)).join(' ')}`);
  }
  out.push(
    '',
    "HIP logs only the streams' queues: ROCr also creates an internal utility queue per GPU (one more KFD queue in mqds/sysfs).",
  );
  return out.join('\n');
}

export function formatCapture(v: CaptureView, file: string): string {
  if (v.kind === 'mqds') return formatMqds(v, file);
  if (v.kind === 'hqds') return formatHqds(v, file);
  return formatLog(v, file);
}
