/**
 * Helpers shared by the user-facing commands: text tables, `--json [FILE]` output, hex
 * formatting and running a command inside the emulator environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { emuEnv } from '../env.js';
import { XsbError } from '../errors.js';
import { artifactPath, requireArtifact } from '../paths.js';

export type Cell = string | number | boolean | bigint | null | undefined;

/** Plain aligned columns (no borders: easy to grep and to paste into an issue). */
export function renderTable(headers: string[], rows: Cell[][], indent = '  '): string {
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    indent + cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...text.map(line)].join('\n');
}

function cellText(v: Cell): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

export function hex(v: bigint | number, width = 0): string {
  return `0x${v.toString(16).padStart(width, '0')}`;
}

/** gpu_ids are printed in hex as the kernel's debugfs does (f7bc). */
export function gpuHex(id: number): string {
  return id.toString(16);
}

/** JSON with bigints as hex strings (ring bases and masks do not fit a JSON number). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v), 2);
}

/**
 * `--json [FILE]`: true or "-" means stdout (instead of the table); a path writes the file
 * and the table still goes to stdout. Returns whether the table should be printed.
 */
export function emitJson(json: string | boolean | undefined, value: unknown): boolean {
  if (json === undefined || json === false) return true;
  const text = `${toJson(value)}\n`;
  if (json === true || json === '-') {
    process.stdout.write(text);
    return false;
  }
  try {
    writeFileSync(resolve(json), text);
  } catch (err) {
    throw new XsbError(`cannot write ${json}`, 'pass a --json path in a writable directory (or - for stdout)', { cause: err });
  }
  return true;
}

export function readCapture(file: string, what: string): string {
  try {
    // latin1: captures may hold stray bytes and ANSI escapes; the parsers want the raw bytes.
    return readFileSync(file, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new XsbError(`cannot read the ${what} ${file} (${code})`, 'pass the path of a readable capture file', { cause: err });
  }
}

/** Integer option parser for commander (which names the option in its message). */
export function intInRange(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer ${min}..${max}.`);
    }
    return n;
  };
}

const REEXEC_MARK = 'XSB_CLI_IN_EMULATOR';

/** Whether this process has the emulated /dev/kfd interposer mapped (LD_PRELOAD works only
 * when a process starts, so a Node process has it only if it was started with it). */
export function emulatorInterposed(): boolean {
  try {
    const lib = artifactPath('emuKfd');
    return readFileSync('/proc/self/maps', 'utf8').includes(lib);
  } catch {
    return false;
  }
}

/**
 * Runs this CLI invocation again with the emulator environment (emuEnv: its LD_PRELOAD
 * interposer, sysfs root and device dir) so koffi's libxsbkfd reaches the emulated /dev/kfd.
 * Resolves to the child's exit code; null when this process already runs in it.
 */
export async function reexecInEmulator(opts: { dir?: string | undefined; profile?: string | undefined }): Promise<number | null> {
  if (emulatorInterposed()) return null;
  if (process.env[REEXEC_MARK] === '1') {
    throw new XsbError(
      `the emulated /dev/kfd interposer (${artifactPath('emuKfd')}) did not load into the CLI`,
      'rebuild the native parts with `npm install` and check LD_PRELOAD',
    );
  }
  requireArtifact('emuKfd');
  const env = { ...process.env, ...emuEnv({ dir: opts.dir, profile: opts.profile }), [REEXEC_MARK]: '1' };
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  return waitChild(child, forwardedSignals, terminalSentToGroup);
}

/**
 * True for SIGINT/SIGQUIT while our process group is the terminal's foreground group: a typed
 * ^C or ^\ went to the whole group, a child in it included, and forwarding it would deliver it
 * twice. (A `kill -INT` aimed at this process alone is then not forwarded: the cost of not
 * knowing the sender.)
 */
export function terminalSentToGroup(sig: NodeJS.Signals): boolean {
  if (sig !== 'SIGINT' && sig !== 'SIGQUIT') return false;
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // fields after "(comm) ": state ppid pgrp session tty_nr tpgid
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(f[2]);
    const tpgid = Number(f[5]);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}

export const forwardedSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** The exit code of a shell for a child that ended by `signal`: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  const n = osSignals[signal];
  return 128 + (typeof n === 'number' ? n : 0);
}

const osSignals = constants.signals as Record<string, number | undefined>;

/**
 * Waits for a child while forwarding `signals` to it (the handlers also keep this process
 * alive through them). `skip` decides per signal that the child got it already, e.g. a
 * terminal's SIGINT reaches the whole foreground process group.
 */
export function waitChild(
  child: ChildProcess,
  signals: NodeJS.Signals[],
  skip: (sig: NodeJS.Signals) => boolean = () => false,
): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of signals) {
      const h = (): void => {
        if (!skip(sig) && child.exitCode === null && child.signalCode === null) child.kill(sig);
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    const cleanup = (): void => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child.once('error', (err) => {
      cleanup();
      reject(err);
    });
    child.once('exit', (code, signal) => {
      cleanup();
      resolvePromise(signal !== null ? signalExitCode(signal) : (code ?? 1));
    });
  });
}
