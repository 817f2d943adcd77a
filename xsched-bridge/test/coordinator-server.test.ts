// The coordinator's socket server and data plane with fake shims (control blocks written like
// libxsb_hip.so writes them): protocol validation, peer identity, trust checks on control
// blocks, the decision table applied to gates and suspend requests, leases, release on exit.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginePath } from '../src/coordinator/engine.js';
import { Client, Coord, connectFake, engine, fakeShim, GATE_CLOSED, GATE_OPEN, query, REQ_HOLD, REQ_RUN, until } from './coordinator-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'xsb-coord-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('protocol validation', () => {
  const socket = join(dir, 'p.sock');
  let coord: Coord;
  beforeAll(async () => {
    coord = await Coord.start(socket, ['--policy', 'hybrid']);
  });
  afterAll(async () => {
    expect(await coord.stop()).toBe(0);
  });

  const refused = async (payload: string, reason: string): Promise<void> => {
    const before = coord.events.filter((e) => e.event === 'rejected' && e['reason'] === reason).length;
    const c = new Client(socket);
    await c.ready;
    c.send(payload);
    await c.waitClosed();
    await coord.waitFor(`a ${reason} rejection`, () => coord.events.filter((e) => e.event === 'rejected' && e['reason'] === reason).length > before);
    // and the server keeps serving
    expect((await query(socket)).type).toBe('registry');
  };

  it('closes a connection that sends something that is not JSON', () => refused('{"v":1,"type":\n', 'malformed'));
  it('closes a connection that sends a JSON array', () => refused('[1,2]\n', 'malformed'));
  it('closes a connection with another wire version', () => refused('{"v":2,"type":"hello"}\n', 'version'));
  it('closes a connection with an unknown message type', () => refused('{"v":1,"type":"format-disk"}\n', 'type'));
  it('closes a connection whose hello has fields of the wrong type', () => refused('{"v":1,"type":"hello","pid":"1"}\n', 'malformed'));
  it('closes a connection that speaks before hello', () => refused('{"v":1,"type":"bye","reason":"x"}\n', 'protocol'));

  it('closes a connection that sends an oversized line', async () => {
    const c = new Client(socket);
    await c.ready;
    c.send(`{"v":1,"type":"hello","exe":"${'x'.repeat(70_000)}"}\n`);
    await c.waitClosed();
    await coord.waitFor('the oversized-line log', (e) => /longer than 65536/.test(e.msg));
    expect((await query(socket)).type).toBe('registry');
  });

  it('rejects a hello that claims another pid (the kernel says who the peer is)', async () => {
    const f = fakeShim('offline', { helloPid: process.pid + 1 });
    try {
      await refused(f.hello, 'spoofing');
      const ev = coord.find((e) => e['reason'] === 'spoofing');
      expect(ev?.msg).toContain(`the peer is pid ${process.pid}`);
      expect((await query(socket)).processes).toEqual([]);
    } finally {
      f.remove();
    }
  });

  it('rejects control blocks it cannot trust', async () => {
    const cases = [fakeShim('offline', { mode: 0o620 }), fakeShim('offline', { corruptSum: true }), fakeShim('offline', { pid: 1 })];
    try {
      for (const f of cases) await refused(f.hello, 'untrusted');
      const msgs = coord.events.filter((e) => e['reason'] === 'untrusted').map((e) => e.msg);
      expect(msgs.join('\n')).toMatch(/writable by others/);
      expect(msgs.join('\n')).toMatch(/header checksum/);
      expect(msgs.join('\n')).toMatch(/wrong pid 1 \(the peer is pid/);
      expect((await query(socket)).processes).toEqual([]);
    } finally {
      for (const f of cases) f.remove();
    }
  });

  it.runIf(process.getuid?.() === 0)('refuses peers of another uid even where the file mode would let them in', async () => {
    // only SO_PEERCRED stands between them and the coordinator now
    chmodSync(dir, 0o755);
    chmodSync(socket, 0o666);
    const child = spawn(
      process.execPath,
      ['-e', `const s=require('net').createConnection(${JSON.stringify(socket)});s.on('close',()=>process.exit(0));setTimeout(()=>process.exit(3),5000)`],
      { uid: 65534, gid: 65534, stdio: 'ignore', cwd: '/' },
    );
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    await coord.waitFor('the refusal', (e) => e.event === 'refused' && e['uid'] === 65534);
    chmodSync(socket, 0o600);
  });
});

describe('data plane with fake shims', () => {
  const socket = join(dir, 'd.sock');
  let coord: Coord;
  const on = fakeShim('online');
  const off = fakeShim('offline');
  const far = fakeShim('offline', { gpus: [8] });
  let cOn: Client, cOff: Client, cFar: Client;
  beforeAll(async () => {
    engine.fake.executor(off.name, true);
    engine.fake.executor(far.name, true);
    coord = await Coord.start(socket, ['--policy', 'hybrid', '--hysteresis-us', '20000', '--lease-ms', '1000']);
    cOn = await connectFake(socket, on);
    cOff = await connectFake(socket, off);
    cFar = await connectFake(socket, far);
  });
  afterAll(async () => {
    cOn.end();
    cOff.end();
    cFar.end();
    await coord.stop();
    for (const f of [on, off, far]) f.remove();
  });

  it('registers every process with its class, priority and GPUs', async () => {
    const r = await query(socket);
    expect(r.processes.map((p) => [p.class, p.priority, p.gpus])).toEqual([
      ['online', 15, [7]],
      ['offline', 2, [7]],
      ['offline', 2, [8]],
    ]);
    expect(r.processes.every((p) => p.pid === process.pid && p.gate === 'open' && p.exec_state === 'running')).toBe(true);
    expect(r.policy.name).toBe('hybrid');
  });

  it('renews the lease in each control block', async () => {
    const now = engine.monoNs();
    const d = off.get()['lease_deadline_ns']!;
    expect(d).toBeGreaterThan(now);
    expect(d).toBeLessThanOrEqual(now + 1e9 + 1e6);
    // renewed every lease/4
    await until('a renewal', () => off.get()['lease_deadline_ns']! > d, 2000);
  });

  it('online busy: closes the gate then posts HOLD on the same GPU only; idle: RUN, ack, then open', async () => {
    on.set('activity', 1);
    await until('the offline gate closed and HOLD acknowledged', () => {
      const g = off.get();
      return g['gate'] === GATE_CLOSED && g['suspend_req'] === REQ_HOLD && g['exec_state'] === 3;
    });
    expect(far.get()['gate']).toBe(GATE_OPEN);
    expect(far.get()['suspend_req']).not.toBe(REQ_HOLD);
    const r = await query(socket);
    const p = r.processes[1]!;
    expect([p.gate, p.exec_state, p.engine.gate_closed, p.engine.hold]).toEqual(['closed', 'held', true, true]);
    expect(r.processes[0]!.activity).toBe('busy');

    on.set('activity', 0);
    await until('the offline released', () => off.get()['gate'] === GATE_OPEN && off.get()['suspend_req'] === REQ_RUN, 5000);
    // order of the data plane's steps, from its timestamps
    const ev = (pred: (e: Record<string, unknown>) => boolean) => coord.waitFor('an engine event', pred);
    const closed = await ev((e) => e.event === 'gate' && e['closed'] === true);
    const hold = await ev((e) => e.event === 'request' && e['what'] === 'hold');
    const run = await ev((e) => e.event === 'request' && e['what'] === 'run');
    const runAck = await ev((e) => e.event === 'ack' && e['what'] === 'run');
    const opened = await ev((e) => e.event === 'gate' && e['closed'] === false);
    const t = (e: Record<string, unknown>) => e['t'] as number;
    expect(t(closed)).toBeLessThanOrEqual(t(hold));
    expect(t(run)).toBeLessThanOrEqual(t(runAck));
    expect(t(runAck)).toBeLessThanOrEqual(t(opened));
    // released only after the hysteresis (20 ms) following idle
    const idle = await ev((e) => e.event === 'activity' && e['busy'] === false);
    expect(t(run) - (idle['t_seen'] as number)).toBeGreaterThanOrEqual(20e6);
    // the decision carries the online transition's timestamps
    expect(closed['t_busy']).toBeGreaterThan(0);
    expect(t(closed)).toBeGreaterThanOrEqual(closed['t_busy'] as number);
  });

  it('releases a held process whose connection closes', async () => {
    const extra = fakeShim('offline');
    try {
      engine.fake.executor(extra.name, true);
      const c = await connectFake(socket, extra);
      on.set('activity', 1);
      await until('held', () => extra.get()['suspend_req'] === REQ_HOLD && extra.get()['gate'] === GATE_CLOSED);
      c.end();
      await until('released on disconnect', () => extra.get()['suspend_req'] === REQ_RUN && extra.get()['gate'] === GATE_OPEN);
      await until('gone from the registry', async () => (await query(socket)).processes.length === 3);
    } finally {
      on.set('activity', 0);
      extra.remove();
    }
  });
});

describe('control block names in /dev/shm', () => {
  const socket = join(dir, 'n.sock');
  let coord: Coord;
  beforeAll(async () => {
    coord = await Coord.start(socket, ['--policy', 'lv1', '--lease-ms', '1000']);
  });
  afterAll(async () => {
    expect(await coord.stop()).toBe(0);
  });

  it('the coordinator unlinks a name once it mapped and verified the block; both mappings keep working', async () => {
    // fake shims never unlink their names themselves: what disappears, the coordinator removed
    const on = fakeShim('online');
    const off = fakeShim('offline');
    const bad = fakeShim('offline', { corruptSum: true });
    try {
      for (const f of [on, off, bad]) expect(existsSync(`/dev/shm${f.name}`)).toBe(true);
      const cOn = await connectFake(socket, on);
      const cOff = await connectFake(socket, off);
      expect(existsSync(`/dev/shm${on.name}`)).toBe(false);
      expect(existsSync(`/dev/shm${off.name}`)).toBe(false);
      // shim -> coordinator (activity) and coordinator -> shim (gate, lease) through the mappings
      on.set('activity', 1);
      await until('the offline gate closed', () => off.get()['gate'] === GATE_CLOSED);
      const r = await query(socket);
      expect(r.processes.map((p) => [p.class, p.activity, p.gate])).toEqual([
        ['online', 'busy', 'open'],
        ['offline', 'idle', 'closed'],
      ]);
      expect(off.get()['lease_deadline_ns']).toBeGreaterThan(engine.monoNs());
      on.set('activity', 0);
      await until('the offline gate open again', () => off.get()['gate'] === GATE_OPEN);
      // a block that is not trusted is not touched: its name stays
      const c = new Client(socket);
      await c.ready;
      c.send(bad.hello);
      await c.waitClosed();
      expect(existsSync(`/dev/shm${bad.name}`)).toBe(true);
      cOn.end();
      cOff.end();
      await until('both detached', async () => (await query(socket)).processes.length === 0);
    } finally {
      for (const f of [on, off, bad]) f.remove();
    }
  });

  it('a shim SIGKILLed right after hello (before the ack) leaves no name behind once the coordinator saw the hello', async () => {
    const name = `/xsb-test-${process.pid}-killed-${Date.now()}`;
    // a separate process, so the peer really dies: it creates its block like a shim, sends
    // hello and is killed as soon as the kernel took the line
    const script = `
      const eng = require(process.env.ENGINE);
      eng.fake.create(process.env.NAME, { pid: process.pid, cls: 2, mode: 0o600 });
      const hello = JSON.stringify({ v: 1, type: 'hello', pid: process.pid, class: 'offline', priority: null, exe: '/fake/killed',
        gpus: [7], mechanism: 'dbg-trap', lv1: { threshold: 16, batch: 8 }, shm: process.env.NAME, shm_size: 4096, ctrl_version: 1 });
      const s = require('net').createConnection(process.env.SOCK, () => s.write(hello + '\\n', () => process.kill(process.pid, 'SIGKILL')));
      setTimeout(() => process.exit(3), 10000);`;
    const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, ENGINE: enginePath(), NAME: name, SOCK: socket }, stdio: 'ignore' });
    const pid = child.pid!;
    try {
      const how = await new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, sig) => r(sig ?? code)));
      expect(how).toBe('SIGKILL');
      await coord.waitFor('the dead shim attached', (e) => e.event === 'attached' && e['pid'] === pid);
      await coord.waitFor('the dead shim detached', (e) => e.event === 'detached' && e['pid'] === pid);
      expect(existsSync(`/dev/shm${name}`)).toBe(false);
    } finally {
      rmSync(`/dev/shm${name}`, { force: true });
    }
  });
});

describe('exit', () => {
  it('releases everything on SIGTERM', async () => {
    const socket = join(dir, 'e.sock');
    const coord = await Coord.start(socket, ['--policy', 'hybrid', '--hysteresis-us', '10000000']);
    const on = fakeShim('online');
    const off = fakeShim('offline');
    engine.fake.executor(off.name, true);
    try {
      await connectFake(socket, on);
      await connectFake(socket, off);
      on.set('activity', 1);
      await until('held', () => off.get()['exec_state'] === 3 && off.get()['gate'] === GATE_CLOSED);
      on.set('activity', 0); // the long hysteresis keeps it held
      expect(await coord.stop('SIGTERM')).toBe(0);
      expect(off.get()['gate']).toBe(GATE_OPEN);
      expect(off.get()['suspend_req']).toBe(REQ_RUN);
      expect(off.get()['exec_state']).toBe(1);
      expect(coord.find((e) => e.event === 'stopped')?.['still_held']).toBe(0);
    } finally {
      on.remove();
      off.remove();
    }
  });

  it('refuses to start on a socket another coordinator serves, and replaces a stale one', async () => {
    const socket = join(dir, 's.sock');
    const a = await Coord.start(socket);
    await expect(Coord.start(socket)).rejects.toThrow(/already listens/);
    await a.stop('SIGKILL');
    const b = await Coord.start(socket);
    expect((await query(socket)).type).toBe('registry');
    await b.stop();
  });
});
