// Helpers for the coordinator tests: the coordinator as a user runs it (dist/cli.js, JSON log
// on stderr), raw socket clients, registry queries, fake shims (control blocks written like
// libxsb_hip.so writes them), shimmed workloads on the emulated device and its queue state,
// and bounded waits on real conditions.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { startDevice } from '../src/emu.js';
import { buildDir } from '../src/paths.js';
import { loadEngine } from '../src/coordinator/engine.js';
import { until } from '../src/compare/orchestrate.js';
import { emuDir } from './helpers.js';

export const engine = loadEngine();
export const GATE_OPEN = 0x4e45504f;
export const GATE_CLOSED = 0x44534c43;
export const REQ_RUN = 0x4e555252;
export const REQ_HOLD = 0x444c4f48;

export function bin(name: string): string {
  return join(buildDir(), 'bin', name);
}

// The coordinator as compare and the stages run it (src/compare/orchestrate.ts).
export { CoordinatorProc as Coord, until, type LogEvent } from '../src/compare/orchestrate.js';

/** A raw client: lines received, and whether the server closed the connection. */
export class Client {
  readonly lines: string[] = [];
  closed = false;
  private buf = '';
  readonly sock: Socket;
  readonly ready: Promise<void>;

  constructor(path: string) {
    this.sock = createConnection(path);
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
    });
    this.sock.on('close', () => (this.closed = true));
    this.sock.on('error', () => (this.closed = true));
    this.ready = new Promise((resolve) => this.sock.once('connect', () => resolve()));
  }

  send(s: string): void {
    this.sock.write(s);
  }

  async waitClosed(ms = 5000): Promise<void> {
    await until('the server to close the connection', () => this.closed, ms);
  }

  end(): void {
    this.sock.destroy();
  }
}

export async function query(path: string): Promise<Registry> {
  const c = new Client(path);
  await c.ready;
  c.send(`${JSON.stringify({ v: 1, type: 'query', what: 'registry' })}\n`);
  await until('the registry answer', () => c.lines.length > 0 && c.closed, 5000);
  return JSON.parse(c.lines[0] ?? '{}') as Registry;
}

export interface RegProc {
  pid: number;
  class: string;
  priority: number;
  gpus: number[];
  mechanism: string;
  gate: string;
  exec_state: string;
  activity: string;
  held_queues: number;
  queues: { id: number; gpu_id: number; state: string }[];
  counters: Record<string, number>;
  engine: { gate_closed: boolean; hold: boolean; preemptions: number; gate_closed_ms: number; held_ms: number };
}
export interface Registry {
  v: number;
  type: string;
  policy: { name: string; mechanism: string | null };
  processes: RegProc[];
  gpus: { gpu_id: number; processes: number[] }[];
}

let fakeSeq = 0;
/** A control block like the shim's (POSIX shm, mode 0600 by default) and its hello line. */
export function fakeShim(cls: 'online' | 'offline', o: { pid?: number; mode?: number; corruptSum?: boolean; gpus?: number[]; helloPid?: number } = {}) {
  const name = `/xsb-test-${process.pid}-${++fakeSeq}-${cls}`;
  engine.fake.create(name, { pid: o.pid ?? process.pid, cls: cls === 'online' ? 1 : 2, mode: o.mode ?? 0o600, ...(o.corruptSum ? { corruptSum: true } : {}) });
  const hello = {
    v: 1,
    type: 'hello',
    pid: o.helloPid ?? process.pid,
    class: cls,
    priority: null,
    exe: `/fake/${cls}`,
    gpus: o.gpus ?? [7],
    mechanism: 'dbg-trap',
    lv1: { threshold: 16, batch: 8 },
    shm: name,
    shm_size: 4096,
    ctrl_version: 1,
  };
  return { name, hello: `${JSON.stringify(hello)}\n`, get: () => engine.fake.get(name)!, set: (f: string, v: number) => engine.fake.set(name, f, v), remove: () => engine.fake.remove(name) };
}

/** Connects a fake shim and waits for the coordinator's config (it attached). */
export async function connectFake(socket: string, f: ReturnType<typeof fakeShim>): Promise<Client> {
  const c = new Client(socket);
  await c.ready;
  c.send(f.hello);
  await until('the config answering hello', () => c.lines.some((l) => l.includes('"config"')) || (c.closed && 'closed'), 5000);
  if (!c.lines.some((l) => l.includes('"config"'))) throw new Error('the coordinator closed the fake shim');
  return c;
}

/** A scratch directory for this test file (removed after it); the file's emulated device
 * (test/setup.ts gave it its own XSB_EMU_DIR) is started before its tests. */
export function deviceTestDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(async () => {
    await startDevice({ dir: emuDir() });
  });
  return dir;
}

/** Environment of a shimmed program on this file's emulated device: the shim first in
 * LD_PRELOAD, then the emulated /dev/kfd it forwards to; extra variables last. */
export function shimmedEnv(socket: string, cls: 'online' | 'offline', extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const b = buildDir();
  return {
    ...process.env,
    LD_PRELOAD: `${join(b, 'lib', 'libxsb_hip.so')} ${join(b, 'lib', 'libxsb_emu_kfd.so')}`,
    LD_LIBRARY_PATH: join(b, 'lib', 'emu'),
    XSB_EMU_DIR: emuDir(),
    XSB_SYSFS_ROOT: join(emuDir(), 'sysfs'),
    XSB_SOCKET: socket,
    XSB_CLASS: cls,
    ...extra,
  };
}

export interface Workload {
  proc: ChildProcess;
  pid: number;
  json: string;
  stderr: () => string;
  done: Promise<number | null>;
}
export interface WorkloadResult {
  kernels_expected: number;
  kernels_completed: number;
  latency_ms?: { p50: number; p99: number; max: number };
}

let workloadSeq = 0;
/** xsb-workload with args, shimmed (shimmedEnv, plus env), its --json result in dir/name.json.
 * reportExit: which exits are worth a line on stderr with the end of the program's stderr. */
export function startWorkload(o: {
  dir: string;
  name?: string;
  socket: string;
  cls: 'online' | 'offline';
  args: string[];
  env?: Record<string, string>;
  reportExit?: (code: number | null, signal: NodeJS.Signals | null) => boolean;
}): Workload {
  const json = join(o.dir, `${o.name ?? `w${++workloadSeq}`}.json`);
  const proc = spawn(bin('xsb-workload'), [...o.args, '--json', json], { env: shimmedEnv(o.socket, o.cls, o.env), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const label = o.name ?? `workload ${proc.pid} (${o.cls})`;
  const done = new Promise<number | null>((r) =>
    proc.on('exit', (code, sig) => {
      if (o.reportExit?.(code, sig) === true) process.stderr.write(`${label} exited ${code}: ${err.slice(-2000)}\n`);
      r(code);
    }),
  );
  return { proc, pid: proc.pid!, json, stderr: () => err, done };
}
export const workloadResult = (w: Workload): WorkloadResult => JSON.parse(readFileSync(w.json, 'utf8')) as WorkloadResult;

export interface EmuQueue {
  queue_id: number;
  flags: string[];
  suspend_count: number;
}
const run = promisify(execFile);
/** The queues the emulated device holds, by process (xsb-emu-ctl status). */
export async function emuStatus(): Promise<Map<number, EmuQueue[]>> {
  const r = await run(bin('xsb-emu-ctl'), ['--dir', emuDir(), 'status']);
  const s = JSON.parse(r.stdout) as { processes: { pid: number; queues: EmuQueue[] }[] };
  return new Map(s.processes.map((p) => [p.pid, p.queues]));
}
export async function emuQueues(pid: number): Promise<EmuQueue[]> {
  return (await emuStatus()).get(pid) ?? [];
}
/** Any of the queues suspended or deactivated in the device. */
export const anyHeld = (qs: EmuQueue[] | undefined): boolean => (qs ?? []).some((q) => q.flags.includes('suspended') || q.flags.includes('deactivated'));
