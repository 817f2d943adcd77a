/**
 * Just enough ptrace (through libc with koffi) for `xsb kfd` to debug another process: KFD's
 * DBG_TRAP accepts a foreign pid only when the calling *thread* is the target's ptrace tracer
 * (kfd_chardev.c, kfd_ioctl_set_debug_trap). PTRACE_SEIZE attaches without stopping the target;
 * while attached, signals sent to it stop it until the tracer passes them on (pump()).
 */
import { constants } from 'node:os';
import koffi from 'koffi';

const PTRACE_CONT = 7;
const PTRACE_DETACH = 17;
const PTRACE_SEIZE = 0x4206;
const PTRACE_INTERRUPT = 0x4207;
const PTRACE_LISTEN = 0x4208;
const PTRACE_EVENT_STOP = 128;
const WNOHANG = 1;
const WALL = 0x40000000;

interface Libc {
  ptrace: (req: number, ...args: unknown[]) => number;
  waitpid: (pid: number, status: [number], options: number) => number;
}

let libc: Libc | undefined;
function c(): Libc {
  if (libc === undefined) {
    const l = koffi.load('libc.so.6');
    libc = {
      ptrace: l.func('long ptrace(int request, ...)') as Libc['ptrace'],
      waitpid: l.func('int waitpid(int pid, _Out_ int *status, int options)') as Libc['waitpid'],
    };
  }
  return libc;
}

function call(req: number, pid: number, data = 0): number {
  return c().ptrace(req, 'int', pid, 'long', 0, 'long', data);
}

export class PtraceError extends Error {
  constructor(
    readonly errno: number,
    readonly code: string,
  ) {
    super(`ptrace: ${code}`);
  }
}

function errnoCode(e: number): string {
  for (const [k, v] of Object.entries(constants.errno)) if (v === e) return k;
  return `errno ${e}`;
}

/** Attaches to pid (PTRACE_SEIZE: the target keeps running). */
export function seize(pid: number): void {
  if (call(PTRACE_SEIZE, pid) !== 0) {
    const e = koffi.errno();
    throw new PtraceError(e, errnoCode(e));
  }
}

export type PumpResult = 'running' | 'exited';

/** Passes on signal stops of the target without blocking; 'exited' once it is gone. */
export function pump(pid: number): PumpResult {
  for (;;) {
    const st: [number] = [0];
    const r = c().waitpid(pid, st, WNOHANG | WALL);
    if (r === 0) return 'running';
    if (r < 0) return 'exited'; // ECHILD: no longer our tracee
    const s = st[0];
    if ((s & 0xff) !== 0x7f) return 'exited'; // not WIFSTOPPED: exited or killed
    const sig = (s >> 8) & 0xff;
    const event = s >>> 16;
    // group-stop under SEIZE: LISTEN keeps it stopped as without a tracer; otherwise deliver.
    if (event === PTRACE_EVENT_STOP) call(PTRACE_LISTEN, pid);
    else call(PTRACE_CONT, pid, sig);
  }
}

/** Detaches: interrupt, wait for the stop, detach delivering any signal it held. */
export function detach(pid: number): void {
  if (call(PTRACE_INTERRUPT, pid) !== 0) return; // gone already
  for (let i = 0; i < 1000; i++) {
    const st: [number] = [0];
    const r = c().waitpid(pid, st, WALL);
    if (r < 0) return;
    const s = st[0];
    if ((s & 0xff) !== 0x7f) return; // exited or killed
    const sig = (s >> 8) & 0xff;
    const event = s >>> 16;
    if (call(PTRACE_DETACH, pid, event === PTRACE_EVENT_STOP ? 0 : sig) === 0) return;
  }
}
