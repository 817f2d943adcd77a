/**
 * `xsb kfd version|snapshot|suspend|resume`: thin commands over libxsbkfd for inspection and
 * testing. A debug session on another process needs this thread to be its ptrace tracer, so
 * the commands attach with PTRACE_SEIZE (the target keeps running) for the session's length.
 *
 * KFD ends a debugger's sessions when the debugger process exits (kfd_process.c,
 * kfd_process_notifier_release_internal -> kfd_dbg_trap_deactivate), and DISABLE resumes every
 * suspended queue: a suspension cannot outlive this command. `kfd suspend` therefore holds the
 * queues until Ctrl-C, SIGTERM, --hold-ms or `xsb kfd resume --pid` (which finds the holder
 * through a hold file) and then resumes them.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { chooseBackend } from '../backend.js';
import { XsbError } from '../errors.js';
import {
  DEBUG_MIN_MINOR,
  EC_MASK_QUEUE_NEW,
  Kfd,
  KfdError,
  type QueueStatus,
  type SnapshotEntry,
} from '../kfd/index.js';
import { defaultSocketPath } from '../socket-path.js';
import { emitJson, gpuHex, hex, reexecInEmulator, renderTable } from './common.js';
import { detach, pump, PtraceError, seize } from './ptrace.js';

export interface KfdCommonOptions {
  emulate?: boolean | undefined;
  dir?: string | undefined;
  profile?: string | undefined;
  json?: string | boolean | undefined;
  device?: string | undefined;
}

export interface KfdPidOptions extends KfdCommonOptions {
  pid: number;
  queues?: number[] | undefined;
  grace?: number | undefined;
  holdMs?: number | undefined;
}

/** Runs `body` in a process that reaches the chosen backend's /dev/kfd (re-executing this
 * command with the emulator environment when needed). */
export async function onBackend(o: KfdCommonOptions, body: (backend: string) => Promise<number>): Promise<number> {
  const choice = chooseBackend({ emulate: o.emulate });
  if (choice.backend === 'emu') {
    const code = await reexecInEmulator({ dir: o.dir, profile: o.profile });
    if (code !== null) return code;
  }
  return body(choice.backend);
}

function openKfd(o: KfdCommonOptions, backend: string): Kfd {
  try {
    return Kfd.open(o.device);
  } catch (err) {
    if (err instanceof KfdError) {
      const fix =
        backend === 'emu'
          ? 'start the emulated device (xsb emu start) or check XSB_EMU_DIR'
          : 'load amdgpu and join the render group (sudo usermod -aG render,video $USER), or use --emulate';
      throw new XsbError(`cannot open ${o.device ?? '/dev/kfd'} (${err.code}: ${err.diagnosis})`, fix, { cause: err });
    }
    throw err;
  }
}

export function versionCommand(o: KfdCommonOptions): Promise<number> {
  return onBackend(o, async (backend) => {
    const k = openKfd(o, backend);
    let v;
    try {
      v = k.version();
    } catch (err) {
      throw kfdFailure('GET_VERSION', err, 'is the device node a KFD? check the amdgpu driver');
    } finally {
      k.close();
    }
    const debugApi = v.major === 1 && v.minor >= DEBUG_MIN_MINOR;
    const out = { backend, major: v.major, minor: v.minor, debug_api: debugApi };
    if (emitJson(o.json, out)) {
      process.stdout.write(
        `KFD ${v.major}.${v.minor} (backend ${backend}); debugger API (DBG_TRAP, needs 1.${DEBUG_MIN_MINOR}): ${debugApi ? 'yes' : 'no'}\n`,
      );
    }
    return 0;
  });
}

function kfdFailure(what: string, err: unknown, fallbackFix: string): XsbError {
  if (err instanceof KfdError) {
    // The diagnosis repeats the operation and errno before its explanation: keep the explanation.
    const why = err.diagnosis.replace(/^.*? failed with [A-Z0-9]+ \(errno \d+\):\s*/, '');
    return new XsbError(`${what} failed (${err.code})`, why, { cause: err });
  }
  return new XsbError(`${what} failed (${err instanceof Error ? err.message : String(err)})`, fallbackFix, { cause: err });
}

function checkPid(pid: number): void {
  try {
    readFileSync(`/proc/${pid}/stat`);
  } catch {
    throw new XsbError(`no process with pid ${pid}`, 'pass the pid of a running GPU program (xsb queues lists them)', { exitCode: 1 });
  }
}

/** A debug session on pid: attach (other pids), ENABLE, body, DISABLE, detach. */
async function withSession<T>(k: Kfd, pid: number, body: () => Promise<T> | T): Promise<T> {
  const foreign = pid !== process.pid;
  if (foreign) {
    try {
      seize(pid);
    } catch (err) {
      const e = err as PtraceError;
      throw new XsbError(
        `cannot attach to pid ${pid} with ptrace (${e.code}): a KFD debug session on another process needs its ptrace tracer`,
        e.code === 'EPERM'
          ? 'run as the same user with kernel.yama.ptrace_scope 0, or as root (sudo); only one tracer per process (detach rocgdb/strace)'
          : 'check the pid',
        { cause: err },
      );
    }
  }
  try {
    try {
      k.dbgEnable(pid);
    } catch (err) {
      throw kfdFailure(`DBG_TRAP ENABLE on pid ${pid}`, err, 'check the process');
    }
    try {
      return await body();
    } finally {
      try {
        k.dbgDisable(pid);
      } catch {
        // the target exited: its session is gone with it
      }
    }
  } finally {
    if (foreign) detach(pid);
  }
}

const QTYPE = ['compute', 'sdma', 'compute-aql', 'sdma-xgmi', 'sdma-by-eng'];
const isCompute = (e: SnapshotEntry): boolean => e.queueType === 0 || e.queueType === 2;

function snapshotRows(entries: SnapshotEntry[]): (string | number)[][] {
  return entries.map((e) => [
    e.queueId,
    gpuHex(e.gpuId),
    QTYPE[e.queueType] ?? String(e.queueType),
    hex(e.ringBase),
    e.ringSize,
    hex(e.exceptionStatus),
    (e.exceptionStatus & EC_MASK_QUEUE_NEW) !== 0n ? 'yes' : 'no',
  ]);
}

const SNAP_HEAD = ['queue', 'gpu', 'type', 'ring base', 'ring bytes', 'exceptions', 'new'];

export function snapshotCommand(o: KfdPidOptions): Promise<number> {
  return onBackend(o, async (backend) => {
    checkPid(o.pid);
    const k = openKfd(o, backend);
    try {
      // exception_mask 0: read without clearing anything, so the target's own debugger (if it
      // later enables one) still sees its EC_QUEUE_NEW bits.
      const snap = await withSession(k, o.pid, () => {
        try {
          return k.queueSnapshot(o.pid, 0n);
        } catch (err) {
          throw kfdFailure(`GET_QUEUE_SNAPSHOT of pid ${o.pid}`, err, 'check the process');
        }
      });
      const out = { backend, pid: o.pid, total: snap.total, queues: snap.entries };
      if (emitJson(o.json, out)) {
        process.stdout.write(`pid ${o.pid}: ${snap.total} KFD queue(s) (backend ${backend})\n`);
        if (snap.entries.length > 0) process.stdout.write(`${renderTable(SNAP_HEAD, snapshotRows(snap.entries))}\n`);
      }
      return 0;
    } finally {
      k.close();
    }
  });
}

function statusText(s: QueueStatus): string {
  if (s.invalid) return 'INVALID (no such queue, new, or being destroyed)';
  if (s.error) return 'ERROR (hardware/scheduler failure)';
  return 'ok';
}

/** The hold file a running `kfd suspend` leaves so `kfd resume` can find it. */
export function holdFile(pid: number, env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(defaultSocketPath(env)), `kfd-hold-${pid}.json`);
}

function readHolder(pid: number): number | null {
  try {
    const h = JSON.parse(readFileSync(holdFile(pid), 'utf8')) as { holder?: unknown };
    const holder = typeof h.holder === 'number' ? h.holder : null;
    if (holder === null) return null;
    readFileSync(`/proc/${holder}/stat`);
    return holder;
  } catch {
    return null;
  }
}

function warn(line: string): void {
  process.stderr.write(`xsched-bridge: WARNING: ${line}\n`);
}

export function suspendCommand(o: KfdPidOptions): Promise<number> {
  return onBackend(o, async (backend) => {
    checkPid(o.pid);
    const k = openKfd(o, backend);
    const file = holdFile(o.pid);
    try {
      return await withSession(k, o.pid, async () => {
        // Clear EC_QUEUE_NEW first: SUSPEND skips (INVALID) queues that still carry it.
        const snap = k.queueSnapshot(o.pid, EC_MASK_QUEUE_NEW);
        const ids = o.queues ?? snap.entries.filter(isCompute).map((e) => e.queueId);
        if (ids.length === 0) throw new XsbError(`pid ${o.pid} has no compute queues to suspend`, 'pass --queues or a pid with GPU work');
        let res;
        try {
          res = k.suspend(o.pid, ids, o.grace ?? 1, 0n);
        } catch (err) {
          throw kfdFailure(`SUSPEND_QUEUES on pid ${o.pid}`, err, 'check the process');
        }
        const held = res.statuses.filter((s) => !s.invalid && !s.error).map((s) => s.id);
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        writeFileSync(file, `${JSON.stringify({ holder: process.pid, pid: o.pid, queues: held })}\n`);
        const report = { backend, pid: o.pid, suspended: res.count, statuses: res.statuses, hold_file: file };
        if (emitJson(o.json, report)) {
          process.stdout.write(`pid ${o.pid}: ${res.count} queue(s) suspended (backend ${backend})\n`);
          process.stdout.write(`${renderTable(['queue', 'status'], res.statuses.map((s) => [s.id, statusText(s)]))}\n`);
        }
        warn(
          `${held.length} queue(s) of pid ${o.pid} are SUSPENDED: their work stops, and destroying them ` +
            '(hipStreamDestroy, process exit) BLOCKS until they are resumed.',
        );
        warn(
          `they are held while this command runs; resume with Ctrl-C, \`kill ${process.pid}\` or \`xsb kfd resume --pid ${o.pid}\`` +
            (o.holdMs !== undefined ? ` (or after ${o.holdMs} ms)` : '') +
            '. KFD resumes them anyway if this process dies.',
        );
        const ended = await hold(o.pid, o.holdMs);
        let back;
        try {
          back = k.resume(o.pid, ids);
        } catch (err) {
          if (ended === 'exited') return 0;
          throw kfdFailure(`RESUME_QUEUES on pid ${o.pid}`, err, 'DISABLE (at exit) resumes every queue; check the process');
        }
        process.stderr.write(`xsched-bridge: resumed ${back.count} queue(s) of pid ${o.pid} (${ended})\n`);
        return 0;
      });
    } finally {
      rmSync(file, { force: true });
      k.close();
    }
  });
}

/** Waits for a signal, the deadline or the target's exit, passing the target's signals on. */
async function hold(pid: number, holdMs: number | undefined): Promise<string> {
  let why: string | null = null;
  const onSig = (sig: NodeJS.Signals) => (): void => {
    why = sig;
  };
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, onSig(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const deadline = holdMs !== undefined ? Date.now() + holdMs : Infinity;
  try {
    while (why === null) {
      if (pid !== process.pid && pump(pid) === 'exited') return 'exited';
      if (Date.now() >= deadline) return 'hold time over';
      await delay(Math.min(50, Math.max(1, deadline - Date.now())));
    }
    return why;
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
  }
}

export function resumeCommand(o: KfdPidOptions): Promise<number> {
  const holder = readHolder(o.pid);
  if (holder !== null && holder !== process.pid) return resumeThroughHolder(o, holder);
  return onBackend(o, async (backend) => {
    checkPid(o.pid);
    const k = openKfd(o, backend);
    try {
      const res = await withSession(k, o.pid, () => {
        const ids = o.queues ?? k.queueSnapshot(o.pid, 0n).entries.filter(isCompute).map((e) => e.queueId);
        try {
          return k.resume(o.pid, ids);
        } catch (err) {
          throw kfdFailure(`RESUME_QUEUES on pid ${o.pid}`, err, 'check the process');
        }
      });
      if (emitJson(o.json, { backend, pid: o.pid, resumed: res.count, statuses: res.statuses })) {
        process.stdout.write(`pid ${o.pid}: ${res.count} queue(s) resumed (backend ${backend})\n`);
        process.stdout.write(`${renderTable(['queue', 'status'], res.statuses.map((s) => [s.id, statusText(s)]))}\n`);
      }
      return 0;
    } finally {
      k.close();
    }
  });
}

/** Another `kfd suspend` holds the session (one debugger per process): ask it to resume. */
async function resumeThroughHolder(o: KfdPidOptions, holder: number): Promise<number> {
  process.kill(holder, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (readHolder(o.pid) === null) {
      if (emitJson(o.json, { pid: o.pid, resumed_by: holder })) {
        process.stdout.write(`pid ${o.pid}: the holding \`xsb kfd suspend\` (pid ${holder}) resumed its queues\n`);
      }
      return 0;
    }
    await delay(20);
  }
  throw new XsbError(
    `the \`xsb kfd suspend\` holding pid ${o.pid}'s queues (pid ${holder}) did not finish within 10 s`,
    `kill it (kill -9 ${holder}): KFD resumes the queues when their debugger exits`,
  );
}
