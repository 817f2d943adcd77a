/**
 * Readable rendering of `emu status`: the STATUS JSON of the device (native/emu/device/status.c)
 * as tables. Keys this view does not know are listed at the end, so nothing the device reports
 * is hidden when it grows.
 */
import type { StatusResult } from './emu.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function objs(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

function num(o: Obj, k: string): number | undefined {
  const v = o[k];
  return typeof v === 'number' ? v : undefined;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (typeof v === 'string') return v === '' ? '-' : v;
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(cell).join(',');
  return JSON.stringify(v);
}

/** A text table: columns are [header, key] pairs, or the union of the rows' keys. */
export function table(rows: Obj[], columns?: [string, string][]): string {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))].map((k): [string, string] => [k, k]);
  const data = rows.map((r) => cols.map(([, k]) => cell(r[k])));
  const widths = cols.map(([h], i) => Math.max(h.length, ...data.map((d) => (d[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(cols.map(([h]) => h)), ...data.map(line)].map((l) => `  ${l}`).join('\n');
}

/** ns -> "1.23 ms" / "45.6 us" / "789 ns". */
function dur(ns: number | undefined): string {
  if (ns === undefined) return '-';
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} us`;
  return `${Math.round(ns)} ns`;
}

function profileLine(p: Obj): string {
  const policy = num(p, 'sched_policy') === 0 ? 'HWS' : `sched_policy ${cell(p['sched_policy'])}`;
  return (
    `profile    ${cell(p['name'])}: ${cell(p['num_cus'])} CUs, gpu_id ${cell(p['gpu_id'])}, ${policy}, ` +
    `launch ${dur(num(p, 'launch_ns'))}, runlist unmap ${dur(num(p, 'runlist_unmap_ns'))} / remap ${dur(num(p, 'runlist_remap_ns'))}`
  );
}

const PROCESS_COLUMNS: [string, string][] = [
  ['pid', 'pid'],
  ['kfd', 'kfd_process'],
  ['debug-trap', 'debug_trap_enabled'],
  ['runtime-state', 'runtime_state'],
  ['blocked-calls', 'blocked_runtime_calls'],
  ['queues', 'nqueues'],
];
const QUEUE_COLUMNS: [string, string][] = [
  ['pid', 'pid'],
  ['queue', 'queue_id'],
  ['type', 'type'],
  ['prio', 'priority'],
  ['pct', 'percentage'],
  ['ring', 'ring_slot'],
  ['cu-limit', 'cu_limit'],
  ['state', 'flags'],
  ['suspends', 'suspend_count'],
  ['resumes', 'resume_count'],
];
const RING_COLUMNS: [string, string][] = [
  ['slot', 'slot'],
  ['owner', 'owner_pid'],
  ['state', 'state'],
  ['queue', 'queue_id'],
  ['dispatched', 'dispatched'],
  ['completed', 'completed'],
];

/** KFD queue types (native/include/xsb_kfd_abi.h XSB_KFD_QUEUE_TYPE_*). */
const QUEUE_TYPES = ['compute', 'sdma', 'compute-aql', 'sdma-xgmi', 'sdma-eng'];

function queueType(v: unknown): unknown {
  return typeof v === 'number' ? (QUEUE_TYPES[v] ?? v) : v;
}

const KNOWN = new Set(['device_pid', 'dir', 'uptime_s', 'shm_size', 'profile', 'processes', 'rings', 'stats', 'model']);

export function formatStatus(s: StatusResult): string {
  if (!s.running) {
    return s.pid !== null
      ? `device: pid ${s.pid} is alive but has no socket in ${s.dir}`
      : `device: not running in ${s.dir} (start it with \`xsb emu start\`)`;
  }
  const d = isObj(s.device) ? s.device : {};
  const up = num(d, 'uptime_s');
  const out = [`device     running, pid ${s.pid}${up !== undefined ? `, up ${up.toFixed(1)} s` : ''}, dir ${s.dir}`];
  if (isObj(d['profile'])) out.push(profileLine(d['profile']));

  const procs = objs(d['processes']);
  const queues = procs.flatMap((p) => objs(p['queues']).map((q) => ({ pid: p['pid'], ...q, type: queueType(q['type']) })));
  out.push(`processes  ${procs.length}`);
  if (procs.length > 0) out.push(table(procs.map((p) => ({ ...p, nqueues: objs(p['queues']).length })), PROCESS_COLUMNS));
  out.push(`queues     ${queues.length}`);
  if (queues.length > 0) out.push(table(queues, QUEUE_COLUMNS));
  const rings = objs(d['rings']);
  out.push(`rings      ${rings.length}`);
  if (rings.length > 0) out.push(table(rings, RING_COLUMNS));

  const st = isObj(d['stats']) ? d['stats'] : {};
  const model = isObj(d['model']) ? d['model'] : {};
  const pending = num(model, 'pending_transitions');
  out.push(
    `runlist    ${cell(st['runlist_transitions'])} transitions` +
      (model['in_transition'] === true ? ', one in progress' : '') +
      (pending ? `, ${pending} pending` : ''),
  );
  const late = isObj(st['lateness_ns']) ? st['lateness_ns'] : {};
  out.push(
    `timing     ${cell(st['completions'])} completions, busy ${dur(num(st, 'busy_ns'))}; ` +
      `lateness p50 <= ${dur(num(late, 'p50'))}, p99 <= ${dur(num(late, 'p99'))}, max ${dur(num(late, 'max'))}, mean ${dur(num(late, 'mean'))}`,
  );
  for (const [k, v] of Object.entries(d)) if (!KNOWN.has(k)) out.push(`${k.padEnd(10)} ${cell(v)}`);
  return out.join('\n');
}
