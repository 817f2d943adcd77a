// Helpers for the coordinator tests: the coordinator as a user runs it (dist/cli.js, JSON log
// on stderr), raw socket clients, registry queries, fake shims (control blocks written like
// libxsb_hip.so writes them) and bounded waits on real conditions.
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { buildDir } from '../src/paths.js';
import { loadEngine } from '../src/coordinator/engine.js';
import { until } from '../src/compare/orchestrate.js';

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
