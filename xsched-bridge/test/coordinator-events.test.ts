// The coordinator's handling of the engine's event batches, driven in-process through a stand-in
// engine (the Engine interface; no socket, no threads): one event that fails to be handled is
// logged with its cause and counted, and the events after it in the same batch are still
// handled; an "untrusted" event (a control block whose header stopped checking out) marks the
// process, counts it and closes its connection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../src/coordinator/coordinator.js';
import type { Engine, EngineEvent, ProcSnapshot } from '../src/coordinator/engine.js';
import type { Level } from '../src/coordinator/log.js';

const dir = mkdtempSync(join(tmpdir(), 'xsb-coord-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Logged {
  level: Level;
  msg: string;
  fields: Record<string, unknown>;
}

/** An engine that records what the coordinator asks of it; tests deliver event batches. */
function standIn() {
  const calls = { closed: [] as [number, string | undefined][], detached: [] as number[], sent: [] as [number, string][] };
  let deliver: ((evs: EngineEvent[]) => void) | undefined;
  let snapshot: () => ProcSnapshot[] = () => [];
  const engine = {
    start: (_o: unknown, cb: (evs: EngineEvent[]) => void) => {
      deliver = cb;
    },
    stop: () => {},
    send: (conn: number, l: string) => {
      calls.sent.push([conn, l]);
      return true;
    },
    close: (conn: number, why?: string) => {
      calls.closed.push([conn, why]);
      return true;
    },
    peer: () => null,
    attach: () => ({ ok: true }),
    detach: (conn: number) => {
      calls.detached.push(conn);
      return true;
    },
    setPlan: () => {},
    releaseAll: () => 0,
    snapshot: () => snapshot(),
    stats: () => ({ wakeups: 0, decisions: 0, futexFallback: false, polling: false, untrusted: 0 }),
    decide: () => ({ decisions: [], wakeAtNs: 0 }),
    monoNs: () => 1e9,
    groupId: () => -1,
    fake: {} as Engine['fake'],
  } satisfies Engine;
  return {
    engine,
    calls,
    batch: (evs: EngineEvent[]) => deliver!(evs),
    failSnapshot: (err: Error) => {
      snapshot = () => {
        throw err;
      };
    },
  };
}

let seq = 0;
async function coordinator() {
  const s = standIn();
  const logged: Logged[] = [];
  const c = new Coordinator(
    { socket: join(dir, `c${++seq}`, 'sock'), policy: 'suspend', gateEnabled: true, leaseMs: 0, hysteresisUs: 2000, ackTimeoutMs: 1000, allowUids: [] },
    { log: (level, msg, fields = {}) => logged.push({ level, msg, fields }) },
    s.engine,
  );
  await c.start();
  return { c, s, logged };
}

const PID = 4242;
const hello = JSON.stringify({
  v: 1,
  type: 'hello',
  pid: PID,
  class: 'offline',
  priority: null,
  exe: '/x/offline',
  gpus: [7],
  mechanism: 'dbg-trap',
  lv1: { threshold: 16, batch: 8 },
  shm: `/xsb-0-${PID}-00000000000000aa`,
  shm_size: 4096,
  ctrl_version: 1,
});

async function attached() {
  const t = await coordinator();
  t.s.batch([
    { kind: 'open', conn: 1, pid: PID, uid: 0, gid: 0 },
    { kind: 'line', conn: 1, text: hello, pid: PID, uid: 0 },
  ]);
  expect([...t.c.registry.procs.values()].map((e) => e.pid)).toEqual([PID]);
  return t;
}

let stopAfter: Coordinator | undefined;
afterEach(() => {
  stopAfter?.stop();
  stopAfter = undefined;
});

describe('engine event batches', () => {
  it('an event whose handling throws is logged with its cause and counted; the close after it is still handled', async () => {
    const { c, s, logged } = await attached();
    stopAfter = c;
    s.failSnapshot(new Error('snapshot failed', { cause: new Error('EFAULT: the block was unmapped') }));
    s.batch([
      { kind: 'ack', conn: 1, what: 'hold', seq: 1, t: 2e9, t_posted: 1e9, exec_state: 3, timeout: 0 },
      null as unknown as EngineEvent, // not even an object
      { kind: 'close', conn: 1, text: 'peer closed the connection', pid: PID },
    ]);
    // the close was handled: gone from the registry, detached in the engine, logged
    expect(c.registry.procs.size).toBe(0);
    expect(s.calls.detached).toEqual([1]);
    expect(logged.find((l) => l.fields['event'] === 'detached')?.fields).toMatchObject({ conn: 1, pid: PID, reason: 'peer closed the connection' });
    // both failures logged, with the cause where there is one
    const errs = logged.filter((l) => l.fields['event'] === 'event_error');
    expect(errs.map((l) => [l.level, l.fields['kind']])).toEqual([
      ['error', 'ack'],
      ['error', 'invalid'],
    ]);
    expect(errs[0]!.msg).toMatch(/"ack" event failed: snapshot failed \(cause: EFAULT: the block was unmapped\)/);
    expect(errs[0]!.fields).toMatchObject({ conn: 1, pid: PID, error: 'snapshot failed', cause: 'EFAULT: the block was unmapped' });
    const counted = await c.metrics.eventErrors.get();
    expect(Object.fromEntries(counted.values.map((v) => [v.labels['kind'], v.value]))).toEqual({ ack: 1, invalid: 1 });
  });

  it('later batches are handled too', async () => {
    const { c, s } = await attached();
    stopAfter = c;
    s.failSnapshot(new Error('snapshot failed'));
    s.batch([{ kind: 'ack', conn: 1, what: 'run', seq: 2, t: 2e9, t_posted: 1e9, exec_state: 1, timeout: 0 }]);
    s.batch([{ kind: 'close', conn: 1, text: 'peer closed the connection', pid: PID }]);
    expect(c.registry.procs.size).toBe(0);
  });

  it('an untrusted block: marked in the registry, counted, its connection closed; the close then detaches it', async () => {
    const { c, s, logged } = await attached();
    stopAfter = c;
    const why = `control block /xsb-0-${PID}-00000000000000aa of pid ${PID} now has a wrong magic 0x41414141`;
    s.batch([{ kind: 'untrusted', conn: 1, pid: PID, text: why, t: 3e9, shm: `/xsb-0-${PID}-00000000000000aa`, field: 'magic 0x41414141' }]);
    expect(s.calls.closed).toEqual([[1, `control block no longer trusted: ${why}`]]);
    const reg = c.registryJson() as { processes: { pid: number; untrusted: string | null }[] };
    expect(reg.processes).toEqual([expect.objectContaining({ pid: PID, untrusted: why })]);
    expect(logged.find((l) => l.fields['event'] === 'untrusted')).toMatchObject({ level: 'warn', fields: { conn: 1, pid: PID, field: 'magic 0x41414141' } });
    const refused = await c.metrics.refused.get();
    expect(refused.values.find((v) => v.labels['reason'] === 'corrupt')?.value).toBe(1);
    s.batch([{ kind: 'close', conn: 1, text: `control block no longer trusted: ${why}`, pid: PID }]);
    expect(c.registry.procs.size).toBe(0);
    expect(logged.find((l) => l.fields['event'] === 'detached')?.fields['reason']).toMatch(/no longer trusted/);
  });
});
