// Hostile input on the coordinator's socket, property-based (fast-check): valid lines, valid
// lines mutated (bytes flipped, cut, fields retyped or dropped), random bytes, partial lines,
// lines over the 64 KiB limit, connections that stall mid-line, several connections at once.
// After every batch the coordinator process is alive, answers a registry query within a
// deadline, and forgets every connection of the batch (the registry empties again).
//
// XSB_FUZZ_MESSAGES sets how many lines to send (3000 by default; `npm run soak` sends 10^5).
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coord, fakeShim, query, until } from './coordinator-harness.js';

const TARGET = Number(process.env['XSB_FUZZ_MESSAGES'] ?? 3000);
const MAX_LINE = 65536;

const dir = mkdtempSync(join(tmpdir(), 'xsb-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Real control blocks (of this process, which is the peer) so that some hellos attach and the
// lines after them reach the attached-process paths of the coordinator.
const blocks = [fakeShim('offline'), fakeShim('online'), fakeShim('offline')];
afterAll(() => {
  for (const b of blocks) b.remove();
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const count = fc.oneof(fc.nat(), fc.maxSafeNat());
const hostileShm = fc.constantFrom('/../../etc/passwd', '/xsb/../x', '//', '/', 'xsb-no-slash', `/${'a'.repeat(300)}`, '/xsb-does-not-exist', '/dev/shm/x');

const hello = fc.record({
  v: fc.constant(1),
  type: fc.constant('hello'),
  pid: fc.oneof({ weight: 4, arbitrary: fc.constant(process.pid) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4_194_304 }) }),
  class: fc.constantFrom('online', 'offline', null),
  priority: fc.option(fc.integer({ min: 0, max: 15 })),
  exe: fc.string({ maxLength: 64 }),
  gpus: fc.array(u32, { maxLength: 4 }),
  mechanism: fc.constantFrom('dbg-trap', 'deactivate'),
  lv1: fc.record({ threshold: u32, batch: u32 }),
  shm: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...blocks.map((b) => b.name)) }, { weight: 1, arbitrary: hostileShm }),
  shm_size: fc.constant(4096),
  ctrl_version: fc.constant(1),
});
const queue = fc.record({
  v: fc.constant(1),
  type: fc.constant('queue'),
  event: fc.constantFrom('create', 'update', 'destroy'),
  id: fc.integer({ min: 0, max: 64 }),
  gpu_id: fc.constantFrom(7, 8, 0xffffffff),
  qtype: fc.integer({ min: 0, max: 3 }),
  ring_base: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  ring_size: u32,
  priority_requested: fc.integer({ min: 0, max: 15 }),
  priority_applied: fc.integer({ min: 0, max: 15 }),
  percentage: fc.integer({ min: 0, max: 100 }),
  state: fc.constantFrom('active', 'held', 'destroying'),
});
const stats = fc.record({
  v: fc.constant(1),
  type: fc.constant('stats'),
  launches: count,
  gated_waits: count,
  gated_wait_ns: count,
  lv1_waits: count,
  suspends: count,
  resumes: count,
  suspend_ns_last: count,
  suspend_ns_max: count,
  suspend_ns_sum: count,
  resume_ns_last: count,
  resume_ns_max: count,
  resume_ns_sum: count,
  queues: count,
  exec_state: fc.integer({ min: 0, max: 9 }),
  activity: fc.integer({ min: 0, max: 3 }),
});
const ack = fc.record({ v: fc.constant(1), type: fc.constant('ack'), of: fc.constantFrom('config', 'lease', 'x'), seq: fc.integer() });
const bye = fc.record({ v: fc.constant(1), type: fc.constant('bye'), reason: fc.string({ maxLength: 40 }) });
const after = fc.oneof({ weight: 6, arbitrary: queue }, { weight: 3, arbitrary: stats }, { weight: 1, arbitrary: ack }, { weight: 1, arbitrary: bye });

type Obj = Record<string, unknown>;
const jsonValue = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 20 }), fc.array(fc.integer(), { maxLength: 3 }), fc.constant({}));

/** A valid message made invalid (or, sometimes, still valid) in one of several ways. */
const mutate = (base: fc.Arbitrary<Obj>): fc.Arbitrary<string> =>
  fc.oneof(
    // a field retyped, dropped or added
    fc.tuple(base, fc.nat(), jsonValue).map(([o, i, val]) => {
      const keys = Object.keys(o);
      const k = keys[i % keys.length] ?? 'v';
      return JSON.stringify({ ...o, [k]: val });
    }),
    fc.tuple(base, fc.nat()).map(([o, i]) => {
      const keys = Object.keys(o);
      const copy = { ...o };
      delete copy[keys[i % keys.length] ?? 'v'];
      return JSON.stringify(copy);
    }),
    fc.tuple(base, fc.string({ minLength: 1, maxLength: 8 }), jsonValue).map(([o, k, val]) => JSON.stringify({ ...o, [k]: val })),
    // bytes of the text flipped, cut, inserted
    fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 0xffff })), { minLength: 1, maxLength: 4 })).map(([o, flips]) => {
      const s = [...JSON.stringify(o)];
      for (const [at, code] of flips) s[at % s.length] = String.fromCharCode(code === 10 ? 11 : code);
      return s.join('');
    }),
    fc.tuple(base, fc.nat()).map(([o, at]) => {
      const s = JSON.stringify(o);
      return s.slice(0, at % s.length);
    }),
    // type confusions at the top level
    fc.constantFrom('null', '[]', '1', '"hello"', '{}', '{"v":1}', '{"v":"1","type":"hello"}', '{"v":1,"type":"__proto__"}', '{"v":1,"type":"constructor"}', '{"v":1,"type":"toString"}'),
    fc.constant('{"__proto__":{"v":1},"type":"query","what":"registry"}'),
  );

// One connection: its lines, and how they go out.
interface Session {
  lines: string[];
  /** bytes appended without a newline: the connection ends mid-line */
  tail: string;
  /** the connection stays open, mid-line, until the batch's query was answered */
  stall: boolean;
  /** write sizes the bytes are cut into */
  cuts: number[];
  raw: Buffer | null;
}

const session: fc.Arbitrary<Session> = fc.oneof(
  // a shim-like conversation: hello, then lines, some of them mutated
  {
    weight: 5,
    arbitrary: fc.record({
      lines: fc
        .tuple(fc.oneof({ weight: 5, arbitrary: hello.map((h) => JSON.stringify(h)) }, { weight: 1, arbitrary: mutate(hello) }), fc.array(fc.oneof({ weight: 8, arbitrary: after.map((m) => JSON.stringify(m)) }, { weight: 1, arbitrary: mutate(after) }), { maxLength: 40 }))
        .map(([h, rest]) => [h, ...rest]),
      tail: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.string({ maxLength: 30 }) }),
      stall: fc.constant(false),
      cuts: fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 8 }),
      raw: fc.constant(null),
    }),
  },
  // an admin query, maybe mutated
  { weight: 1, arbitrary: fc.record({ lines: fc.oneof(fc.constant<string[]>(['{"v":1,"type":"query","what":"registry"}']), mutate(fc.constant<Obj>({ v: 1, type: 'query', what: 'registry' })).map((l) => [l])), tail: fc.constant(''), stall: fc.constant(false), cuts: fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 6 }), raw: fc.constant(null) }) },
  // random bytes, newlines included
  { weight: 2, arbitrary: fc.record({ lines: fc.constant([] as string[]), tail: fc.constant(''), stall: fc.constant(false), cuts: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 6 }), raw: fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((a) => Buffer.from(a)) }) },
  // a line over the limit, complete or not; or one that stalls mid-line while others talk
  {
    weight: 1,
    arbitrary: fc.record({
      lines: fc.constant([] as string[]),
      tail: fc.constant(''),
      stall: fc.boolean(),
      cuts: fc.array(fc.integer({ min: 1000, max: 40000 }), { maxLength: 4 }),
      raw: fc.tuple(fc.integer({ min: MAX_LINE - 64, max: 3 * MAX_LINE }), fc.boolean()).map(([n, nl]) => Buffer.from(`{"v":1,"type":"hello","exe":"${'x'.repeat(n)}${nl ? '"}\n' : ''}`)),
    }),
  },
);

/** The coordinator unlinks a block's name once it attached it: each session gets blocks of its own. */
function freshBlocks(s: Session): { s: Session; remove: () => void } {
  if (s.raw !== null) return { s, remove: () => {} };
  const made: ReturnType<typeof fakeShim>[] = [];
  const lines = s.lines.map((l) => {
    let out = l;
    blocks.forEach((b, i) => {
      if (!out.includes(b.name)) return;
      const f = fakeShim(i === 1 ? 'online' : 'offline');
      made.push(f);
      out = out.split(b.name).join(f.name);
    });
    return out;
  });
  return { s: { ...s, lines }, remove: () => made.forEach((f) => f.remove()) };
}

function bytesOf(s: Session): Buffer {
  if (s.raw !== null) return s.raw;
  return Buffer.from(s.lines.map((l) => `${l}\n`).join('') + s.tail);
}

function linesOf(s: Session): number {
  return s.raw !== null ? Math.max(1, s.raw.filter((b) => b === 10).length) : s.lines.length + (s.tail ? 1 : 0);
}

/** Writes the session's bytes in its cuts, yielding between writes so connections interleave. */
async function play(socket: string, s: Session, stalled: Socket[]): Promise<void> {
  const sock = createConnection(socket);
  sock.on('error', () => {});
  sock.on('data', () => {});
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  await new Promise<void>((r) => {
    sock.once('connect', () => r());
    sock.once('close', () => r());
  });
  const bytes = bytesOf(s);
  let at = 0;
  for (let i = 0; at < bytes.length && !sock.destroyed; i++) {
    const n = s.cuts.length > 0 ? (s.cuts[i % s.cuts.length] ?? bytes.length) : bytes.length;
    sock.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise((r) => setImmediate(r));
  }
  if (s.stall) {
    stalled.push(sock);
    return;
  }
  sock.end();
  // the server may keep an attached connection; the batch ends every connection it opened
  await Promise.race([closed, new Promise((r) => setTimeout(r, 50))]);
  sock.destroy();
}

describe('protocol fuzzing of the coordinator', () => {
  const socket = join(dir, 'fuzz.sock');
  let coord: Coord;
  beforeAll(async () => {
    coord = await Coord.start(socket, ['--policy', 'hybrid', '--log-level', 'info']);
  });
  afterAll(async () => {
    expect(await coord.stop()).toBe(0);
  });

  it(`survives ${TARGET} hostile lines: alive, answering, registry cleaned after every batch`, async () => {
    let sent = 0;
    let batches = 0;
    const property = fc.asyncProperty(fc.array(session, { minLength: 1, maxLength: 8 }), async (batch) => {
      const stalled: Socket[] = [];
      const prepared = batch.map(freshBlocks);
      await Promise.all(prepared.map((p) => play(socket, p.s, stalled)));
      // stalled connections are still open, mid-line: the server answers others meanwhile
      const t0 = Date.now();
      const r = await query(socket);
      expect(r.type).toBe('registry');
      expect(Date.now() - t0).toBeLessThan(5000);
      for (const s of stalled) s.destroy();
      await until('the batch’s connections forgotten', async () => (await query(socket)).processes.length === 0, 5000, 10);
      for (const p of prepared) p.remove();
      expect(coord.exitCode).toBeNull();
      // an exception inside the engine's event callback drops the rest of its events
      expect(coord.events.filter((e) => /uncaught|N-API callback exception/i.test(e.msg))).toEqual([]);
      sent += batch.reduce((n, s) => n + linesOf(s), 0);
      batches++;
    });
    while (sent < TARGET) await fc.assert(property, { numRuns: 20 });
    process.stdout.write(`protocol fuzz: ${sent} lines in ${batches} batches; coordinator alive (pid ${coord.proc.pid})\n`);
    // both kinds of path were exercised: lines refused, and lines after an accepted hello
    const refused = coord.events.filter((e) => e.event === 'rejected').length;
    const attached = coord.events.filter((e) => e.event === 'attached').length;
    process.stdout.write(`protocol fuzz: ${refused} connections refused, ${attached} attached\n`);
    expect(refused).toBeGreaterThan(0);
    expect(attached).toBeGreaterThan(0);
    expect(coord.exitCode).toBeNull();
  }, 60_000 + TARGET * 5);
});
