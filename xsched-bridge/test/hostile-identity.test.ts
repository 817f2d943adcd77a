// Hostile peers: processes that claim to be someone else (pid spoofing, another process's
// control block) and processes of another uid (a child that drops to uid 65534 with
// process.setuid). The coordinator believes the kernel (SO_PEERCRED) and the block's owner,
// never what a peer says; the victim, a real shimmed program, is not disturbed.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevice } from '../src/emu.js';
import { buildDir } from '../src/paths.js';
import { bin, Coord, engine, query, until } from './coordinator-harness.js';
import { emuDir } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'xsb-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await startDevice({ dir: emuDir() });
});
const isRoot = process.getuid?.() === 0;

// The hostile peer: optionally drops to another uid, then reads one JSON request on stdin
// ({line} to send on the socket, or {open} to try opening a file for writing) and prints what
// happened as one JSON line.
const PEER = `
const uid = Number(process.argv[1]);
if (uid > 0) { process.setgid(uid); process.setuid(uid); }
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  if (!buf.includes('\\n')) return;
  const req = JSON.parse(buf);
  if (req.open) {
    let r;
    try { require('fs').closeSync(require('fs').openSync(req.open, 'r+')); r = { opened: true }; }
    catch (e) { r = { opened: false, code: e.code }; }
    process.stdout.write(JSON.stringify(r) + '\\n');
    process.exit(0);
  }
  const s = require('net').createConnection(req.socket);
  let got = '', connected = false;
  const done = (extra) => { process.stdout.write(JSON.stringify({ uid: process.getuid(), connected, lines: got.split('\\n').filter(Boolean), ...extra }) + '\\n'); process.exit(0); };
  s.on('connect', () => { connected = true; s.write(req.line); });
  s.on('data', (d) => (got += d));
  s.on('error', (e) => done({ error: e.code }));
  s.on('close', () => done({ closed: true }));
  setTimeout(() => done({ closed: false }), 4000);
});`;

interface PeerResult {
  uid: number;
  connected?: boolean;
  lines?: string[];
  closed?: boolean;
  error?: string;
  opened?: boolean;
  code?: string;
}

function peer(uid = 0): { proc: ChildProcess; pid: number; ask: (req: Record<string, unknown>) => Promise<PeerResult> } {
  const proc = spawn(process.execPath, ['-e', PEER, String(uid)], { stdio: ['pipe', 'pipe', 'inherit'], cwd: '/' });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return {
    proc,
    pid: proc.pid!,
    ask: async (req) => {
      proc.stdin?.write(`${JSON.stringify(req)}\n`);
      await exited;
      return JSON.parse(out.trim()) as PeerResult;
    },
  };
}

function helloLine(pid: number, shm: string): string {
  return `${JSON.stringify({ v: 1, type: 'hello', pid, class: 'online', priority: 15, exe: '/evil', gpus: [1], mechanism: 'dbg-trap', lv1: { threshold: 16, batch: 8 }, shm, shm_size: 4096, ctrl_version: 1 })}\n`;
}

function victim(socket: string): { proc: ChildProcess; done: Promise<number | null> } {
  const b = buildDir();
  const proc = spawn(bin('xsb-workload'), ['--kernel-us', '5000', '--count', '400'], {
    env: {
      ...process.env,
      LD_PRELOAD: `${join(b, 'lib', 'libxsb_hip.so')} ${join(b, 'lib', 'libxsb_emu_kfd.so')}`,
      LD_LIBRARY_PATH: join(b, 'lib', 'emu'),
      XSB_EMU_DIR: emuDir(),
      XSB_SYSFS_ROOT: join(emuDir(), 'sysfs'),
      XSB_SOCKET: socket,
      XSB_CLASS: 'offline',
    },
    stdio: 'ignore',
  });
  return { proc, done: new Promise((r) => proc.on('exit', (c) => r(c))) };
}

let seq = 0;
/** A control block (mode 0600, owned by us) whose header names `pid`. */
function block(pid: number): { name: string; remove: () => void } {
  const name = `/xsb-identity-${process.pid}-${++seq}`;
  engine.fake.create(name, { pid, cls: 1, mode: 0o600 });
  return { name, remove: () => engine.fake.remove(name) };
}

describe('pid spoofing', () => {
  const socket = join(dir, 'spoof.sock');
  let coord: Coord;
  let v: ReturnType<typeof victim>;
  beforeAll(async () => {
    coord = await Coord.start(socket, ['--policy', 'hybrid']);
    v = victim(socket);
    await until('the victim attached with its queues', async () => (await query(socket)).processes.some((p) => p.pid === v.proc.pid && p.queues.length > 0), 15_000, 20);
  });
  afterAll(async () => {
    v.proc.kill('SIGKILL');
    await v.done;
    await coord.stop();
  });

  const victimEntry = async () => (await query(socket)).processes.filter((p) => p.pid === v.proc.pid);

  it('a hello claiming a running shim’s pid is refused; the shim stays as it was', async () => {
    const before = await victimEntry();
    const b = block(v.proc.pid!); // even a block that names the victim
    try {
      const p = peer();
      const r = await p.ask({ socket, line: helloLine(v.proc.pid!, b.name) });
      expect(r.connected).toBe(true);
      expect(r.closed).toBe(true);
      expect(r.lines).toEqual([]); // no ack, no config
      const ev = await coord.waitFor('the spoofing rejection', (e) => e['reason'] === 'spoofing' && e['pid'] === p.pid);
      expect(ev.msg).toContain(`claims pid ${v.proc.pid} but the kernel says the peer is pid ${p.pid}`);
      const after = await victimEntry();
      expect(after).toHaveLength(1);
      expect(after[0]!.class).toBe('offline');
      expect(after[0]!.queues.map((q) => q.id)).toEqual(before[0]!.queues.map((q) => q.id));
      expect((await query(socket)).processes.some((x) => x.pid === p.pid)).toBe(false);
    } finally {
      b.remove();
    }
  });

  it('a peer presenting a control block that names another process is refused', async () => {
    const b = block(v.proc.pid!);
    try {
      const p = peer();
      const r = await p.ask({ socket, line: helloLine(p.pid, b.name) });
      expect(r.closed).toBe(true);
      expect(r.lines).toEqual([]);
      const ev = await coord.waitFor('the untrusted rejection', (e) => e['reason'] === 'untrusted' && e['pid'] === p.pid);
      expect(ev.msg).toMatch(new RegExp(`wrong pid ${v.proc.pid} \\(the peer is pid ${p.pid}\\)`));
      expect(await victimEntry()).toHaveLength(1);
    } finally {
      b.remove();
    }
  });

  it('a peer naming a path outside /dev/shm as its control block is refused', async () => {
    const p = peer();
    const r = await p.ask({ socket, line: helloLine(p.pid, '/../../etc/passwd') });
    expect(r.closed).toBe(true);
    const ev = await coord.waitFor('the rejection', (e) => e['reason'] === 'untrusted' && e['pid'] === p.pid);
    expect(ev.msg).toMatch(/is not a shm name/);
  });

  it('the victim is still attached, never held or gated by the intruders', async () => {
    const e = (await victimEntry())[0]!;
    expect(e.engine.preemptions).toBe(0);
    expect(e.engine.gate_closed_ms).toBe(0);
    expect(e.exec_state).toBe('running');
  });
});

describe.runIf(isRoot)('a client of another uid (a child dropped to uid 65534)', () => {
  it('is refused by SO_PEERCRED even when the socket file lets it in; a query gets no answer', async () => {
    const socket = join(dir, 'uid', 'c.sock');
    const coord = await Coord.start(socket);
    try {
      // misconfigured on purpose: only the kernel's credentials stand in the way now
      chmodSync(join(dir, 'uid'), 0o755);
      chmodSync(dir, 0o755);
      chmodSync(socket, 0o666);
      const p = peer(65534);
      const r = await p.ask({ socket, line: '{"v":1,"type":"query","what":"registry"}\n' });
      expect(r.uid).toBe(65534);
      expect(r.lines).toEqual([]);
      expect(r.closed || r.error !== undefined).toBe(true);
      const ev = await coord.waitFor('the refusal', (e) => e.event === 'refused' && e['uid'] === 65534);
      expect(ev.msg).toMatch(/uid 65534 is not allowed/);
      expect(ev['pid']).toBe(p.pid);
    } finally {
      chmodSync(dir, 0o700);
      await coord.stop();
    }
  });

  it('with --allow-uid, it still cannot attach a control block it does not own', async () => {
    const socket = join(dir, 'allow', 'c.sock');
    const coord = await Coord.start(socket, ['--allow-uid', '65534']);
    try {
      chmodSync(join(dir, 'allow'), 0o755);
      chmodSync(dir, 0o755);
      chmodSync(socket, 0o666);
      const p = peer(65534);
      const b = block(p.pid); // the header names it: only the owner stands in the way
      try {
        const r = await p.ask({ socket, line: helloLine(p.pid, b.name) });
        expect(r.lines).toEqual([]);
        expect(r.closed).toBe(true);
        const ev = await coord.waitFor('the rejection', (e) => e['reason'] === 'untrusted' && e['pid'] === p.pid);
        expect(ev.msg).toMatch(/owned by uid 0, the peer is uid 65534/);
        expect((await query(socket)).processes).toEqual([]);
      } finally {
        b.remove();
      }
    } finally {
      chmodSync(dir, 0o700);
      await coord.stop();
    }
  });

  it('cannot open a control block for writing', async () => {
    const b = block(process.pid);
    try {
      const r = await peer(65534).ask({ open: `/dev/shm${b.name}` });
      expect(r).toEqual({ opened: false, code: 'EACCES' });
    } finally {
      b.remove();
    }
  });
});
