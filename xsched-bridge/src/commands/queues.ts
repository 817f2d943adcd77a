/**
 * `xsb queues`: live processes and their KFD queues, from the coordinator's registry when one
 * runs, else from sysfs (<root>/class/kfd/kfd/proc/<pid>/queues, names from /proc/<pid>/comm),
 * plus debugfs mqds/hqds when readable (root only). `--from-debugfs FILE` / `--from-log FILE`
 * analyse captures instead. `--watch` refreshes until Ctrl-C.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseBackend } from '../backend.js';
import { emuEnv } from '../env.js';
import { XsbError } from '../errors.js';
import { KfdError, readProcQueues, sysfsRoot } from '../kfd/index.js';
import { resolveSocketPath } from '../socket-path.js';
import {
  analyseFile,
  analyseHqds,
  analyseMqds,
  formatCapture,
  formatHqds,
  formatMqds,
  internalRings,
  type CaptureView,
  type HqdsView,
  type LogView,
  type MqdsView,
} from './captures.js';
import { emitJson, gpuHex, hex, readCapture, renderTable } from './common.js';
import { queryRegistry, type Registry } from './registry.js';

export interface QueuesOptions {
  json?: string | boolean | undefined;
  watch?: boolean | undefined;
  interval?: number | undefined;
  fromDebugfs?: string[] | undefined;
  fromLog?: string[] | undefined;
  sysfsRoot?: string | undefined;
  socket?: string | undefined;
  emulate?: boolean | undefined;
  dir?: string | undefined;
}

/** sysfs queue types are the kernel's enum kfd_queue_type; registry qtypes are the ioctl's. */
const SYSFS_QTYPE = ['compute', 'sdma', 'hiq', 'diq', 'sdma-xgmi', 'sdma-by-eng'];
const IOCTL_QTYPE = ['compute', 'sdma', 'compute-aql', 'sdma-xgmi', 'sdma-by-eng'];

export interface LiveQueue {
  id: number | null;
  gpu_id: string | null;
  type: string;
  ring_size: number | null;
  ring_base: string | null;
  priority: number | null;
  state: string | null;
}

export interface LiveProcess {
  pid: number;
  name: string | null;
  class: string | null;
  priority: number | null;
  mechanism: string | null;
  gate: string | null;
  exec_state: string | null;
  activity: string | null;
  queues: LiveQueue[];
}

export interface LiveView {
  source: 'coordinator' | 'sysfs';
  socket: string;
  sysfs_root: string;
  backend: string;
  processes: LiveProcess[];
  debugfs: { mqds: MqdsView | null; hqds: HqdsView | null; note: string | null };
}

function comm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

const str = (v: unknown): string | null => (v === undefined || v === null ? null : typeof v === 'string' ? v : String(v));
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

function fromRegistry(reg: Registry): LiveProcess[] {
  return reg.processes.map((p) => ({
    pid: p.pid,
    name: p.exe ?? comm(p.pid),
    class: str(p.class),
    priority: num(p.priority),
    mechanism: str(p.mechanism),
    gate: str(p.gate),
    exec_state: str(p.exec_state),
    activity: str(p.activity),
    queues: (p.queues ?? []).map((q) => ({
      id: num(q.id),
      gpu_id: typeof q.gpu_id === 'number' ? gpuHex(q.gpu_id) : null,
      type: typeof q.qtype === 'number' ? (IOCTL_QTYPE[q.qtype] ?? String(q.qtype)) : '-',
      ring_size: num(q.ring_size),
      ring_base: typeof q.ring_base === 'string' && /^\d+$/.test(q.ring_base) ? hex(BigInt(q.ring_base)) : str(q.ring_base),
      priority: num(q.priority_applied) ?? num(q.priority_requested),
      state: str(q.state),
    })),
  }));
}

function fromSysfs(root: string): LiveProcess[] {
  const dir = join(root, 'class', 'kfd', 'kfd', 'proc');
  let pids: number[];
  try {
    pids = readdirSync(dir)
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new XsbError(
        `no KFD process list at ${dir}`,
        'load the amdgpu driver, pass --sysfs-root, or use --emulate (with a running emulated device: xsb emu start)',
        { cause: err },
      );
    }
    throw new XsbError(`cannot list ${dir} (${code ?? String(err)})`, 'check its permissions', { cause: err });
  }
  const out: LiveProcess[] = [];
  for (const pid of pids) {
    let queues;
    try {
      queues = readProcQueues(pid, root);
    } catch (err) {
      if (err instanceof KfdError && err.errno === 2) continue; // exited while we read
      throw err;
    }
    out.push({
      pid,
      name: comm(pid),
      class: null,
      priority: null,
      mechanism: null,
      gate: null,
      exec_state: null,
      activity: null,
      queues: queues.map((q) => ({
        id: q.queueId,
        gpu_id: gpuHex(q.gpuId),
        type: SYSFS_QTYPE[q.type] ?? String(q.type),
        ring_size: Number(q.size),
        ring_base: null,
        priority: null,
        state: null,
      })),
    });
  }
  return out;
}

function readDebugfs(root: string): LiveView['debugfs'] {
  const base = join(root, 'kernel', 'debug', 'kfd');
  const read = (name: string): string | NodeJS.ErrnoException => {
    try {
      return readFileSync(join(base, name), 'latin1');
    } catch (err) {
      return err as NodeJS.ErrnoException;
    }
  };
  const m = read('mqds');
  const h = read('hqds');
  const notes: string[] = [];
  const mqds = typeof m === 'string' ? analyseMqds(m) : null;
  const hqds = typeof h === 'string' ? analyseHqds(h) : null;
  if (typeof m !== 'string') notes.push(`${join(base, 'mqds')}: ${m.code ?? m.message}`);
  if (typeof h !== 'string') notes.push(`${join(base, 'hqds')}: ${h.code ?? h.message}`);
  let note: string | null = null;
  if (!existsSync(base)) note = `no debugfs at ${base} (the emulator has none; on a GPU host it needs root and a mounted debugfs)`;
  else if (notes.length > 0) note = `debugfs not read (${notes.join('; ')}); ring bases and CP slots need root (sudo xsb queues)`;
  return { mqds, hqds, note };
}

export async function gatherLive(o: QueuesOptions): Promise<LiveView> {
  const choice = chooseBackend({ emulate: o.emulate });
  let root = o.sysfsRoot;
  if (root === undefined && process.env['XSB_SYSFS_ROOT'] === undefined && choice.backend === 'emu') {
    root = emuEnv({ dir: o.dir })['XSB_SYSFS_ROOT'];
  }
  const sysRoot = sysfsRoot(root);
  const socket = resolveSocketPath(o.socket);
  const reg = await queryRegistry(socket);
  return {
    source: reg !== null ? 'coordinator' : 'sysfs',
    socket,
    sysfs_root: sysRoot,
    backend: choice.backend,
    processes: reg !== null ? fromRegistry(reg) : fromSysfs(sysRoot),
    debugfs: readDebugfs(sysRoot),
  };
}

export function formatLive(v: LiveView): string {
  const src =
    v.source === 'coordinator' ? `the coordinator at ${v.socket}` : `sysfs ${v.sysfs_root} (no coordinator at ${v.socket})`;
  const out = [`backend ${v.backend}; ${v.processes.length} process(es) with KFD queues, from ${src}`];
  if (v.processes.length > 0) {
    out.push(
      '',
      renderTable(
        ['pid', 'name', 'class', 'prio', 'mechanism', 'gate', 'exec', 'activity', 'queues', 'gpus'],
        v.processes.map((p) => [
          p.pid,
          p.name,
          p.class,
          p.priority,
          p.mechanism,
          p.gate,
          p.exec_state,
          p.activity,
          p.queues.length,
          [...new Set(p.queues.map((q) => q.gpu_id).filter((g) => g !== null))].join(','),
        ]),
      ),
    );
    const rows = v.processes.flatMap((p) => p.queues.map((q) => [p.pid, q.id, q.gpu_id, q.type, q.ring_size, q.ring_base, q.priority, q.state]));
    if (rows.length > 0) out.push('', renderTable(['pid', 'queue', 'gpu', 'type', 'ring bytes', 'ring base', 'prio', 'state'], rows));
  }
  if (v.debugfs.mqds !== null) out.push('', formatMqds(v.debugfs.mqds, 'kfd/mqds'));
  if (v.debugfs.hqds !== null) out.push('', formatHqds(v.debugfs.hqds, 'kfd/hqds'));
  if (v.debugfs.note !== null) out.push('', v.debugfs.note);
  return out.join('\n');
}

interface CaptureResult {
  file: string;
  source: 'debugfs' | 'log';
  analysis: CaptureView;
}

function analyseCaptures(o: QueuesOptions): { captures: CaptureResult[]; internal_rings: bigint[] | null } {
  const captures: CaptureResult[] = [
    ...(o.fromDebugfs ?? []).map((file) => ({ file, source: 'debugfs' as const, analysis: analyseFile(file, readCapture(file, 'debugfs capture'), 'debugfs') })),
    ...(o.fromLog ?? []).map((file) => ({ file, source: 'log' as const, analysis: analyseFile(file, readCapture(file, 'AMD log'), 'log') })),
  ];
  const mqds = captures.map((c) => c.analysis).find((a): a is MqdsView => a.kind === 'mqds');
  const log = captures.map((c) => c.analysis).find((a): a is LogView => a.kind === 'log');
  return { captures, internal_rings: mqds !== undefined && log !== undefined ? internalRings(mqds, log) : null };
}

function formatCaptures(r: ReturnType<typeof analyseCaptures>): string {
  const parts = r.captures.map((c) => formatCapture(c.analysis, c.file));
  if (r.internal_rings !== null) {
    const total = r.captures.flatMap((c) => (c.analysis.kind === 'mqds' ? c.analysis.processes.flatMap((p) => p.queues) : [])).length;
    parts.push(
      r.internal_rings.length === 0
        ? 'every mqds queue was created by a logged HIP stream'
        : r.internal_rings.length === total
          ? 'the mqds and log captures share no ring base: they come from different runs'
          : `mqds queues no logged HIP stream created (ROCr's internal/utility queues): ${r.internal_rings.map((x) => hex(x)).join(' ')}`,
    );
  }
  return parts.join('\n\n');
}

const sleep = (ms: number, stop: { stopped: boolean; wake?: () => void }): Promise<void> =>
  new Promise((res) => {
    const t = setTimeout(res, ms);
    stop.wake = () => {
      clearTimeout(t);
      res();
    };
  });

export async function queuesCommand(o: QueuesOptions): Promise<number> {
  if ((o.fromDebugfs?.length ?? 0) > 0 || (o.fromLog?.length ?? 0) > 0) {
    if (o.watch === true) throw new XsbError('--watch shows live state; captures do not change', 'drop --watch or the --from-* options', { exitCode: 2 });
    const r = analyseCaptures(o);
    if (emitJson(o.json, { source: 'capture', ...r })) process.stdout.write(`${formatCaptures(r)}\n`);
    return 0;
  }
  if (o.watch !== true) {
    const v = await gatherLive(o);
    if (emitJson(o.json, v)) process.stdout.write(`${formatLive(v)}\n`);
    return 0;
  }
  const interval = o.interval ?? 1000;
  const stop: { stopped: boolean; wake?: () => void } = { stopped: false };
  const onSig = (): void => {
    stop.stopped = true;
    stop.wake?.();
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  const tty = process.stdout.isTTY === true;
  try {
    while (!stop.stopped) {
      const v = await gatherLive(o);
      const stdoutJson = o.json === true || o.json === '-';
      if (stdoutJson) process.stdout.write(`${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? hex(x) : x))}\n`);
      else {
        emitJson(o.json, v);
        const text = `${new Date().toISOString()}  (every ${interval} ms, Ctrl-C to stop)\n${formatLive(v)}\n`;
        // In place on a terminal; plain repeated blocks when piped.
        process.stdout.write(tty ? `\u001b[H\u001b[2J${text}` : `${text}\n`);
      }
      if (!stop.stopped) await sleep(interval, stop);
    }
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
  return 0;
}
