// Capture parsers (C in libxsbkfd, through the koffi bindings) on the real MI308X captures in
// shared/fixtures: ../shared/fixtures beside the repo, or $XSB_FIXTURES.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KfdParseError, mqdProcesses, parseAmdLog, parseHqds, parseMqds } from '../src/kfd/index.js';
import { root } from './helpers.js';

const fixtures = process.env['XSB_FIXTURES'] ?? resolve(root, '..', 'shared', 'fixtures');
const MQDS = 'mi308x_mqds_16streams_pid94314_5queues.txt';
const HQDS = 'mi308x_hqds_16streams_pid94314_8gpus_same_moment.txt';
const LOG3C = 'mi308x_amdlog3_16streams_create_gpu_max_hw_queues_default4.log';
const LOG3T = 'mi308x_amdlog3_16streams_teardown.log';
const LOG5 = 'mi308x_amdlog5_stream_priority_4streams_create_dispatch.log';

function fixture(name: string): string {
  const p = join(fixtures, name);
  if (!existsSync(p)) throw new Error(`fixture ${p} is missing: clone shared/ beside the repo or set XSB_FIXTURES`);
  return readFileSync(p, 'latin1');
}

const lines = (s: string): string[] => s.split('\n');
const dropLine = (s: string, n: number): string => lines(s).filter((_, i) => i !== n - 1).join('\n');
const editLine = (s: string, n: number, f: (l: string) => string): string =>
  lines(s).map((l, i) => (i === n - 1 ? f(l) : l)).join('\n');

function parseErrorOf(f: () => unknown): KfdParseError {
  try {
    f();
  } catch (e) {
    if (e instanceof KfdParseError) return e;
    throw e;
  }
  throw new Error('expected a KfdParseError');
}

describe('mqds', () => {
  const text = fixture(MQDS);

  it('16-stream capture: process 94314, 5 compute queues on f7bc, 4 XCCs each, normal priority', () => {
    const procs = mqdProcesses(parseMqds(text));
    expect(procs.map((p) => p.pid)).toEqual([94314]);
    const qs = procs[0]?.queues ?? [];
    expect(qs).toHaveLength(5);
    for (const q of qs) {
      expect(q.gpuId).toBe(0xf7bc);
      expect(q.kind).toBe('compute');
      expect(q.xcc).toHaveLength(4);
      expect(q.pipePriority).toBe(1);
      expect(q.queuePriority).toBe(7);
      for (const x of q.xcc) expect(x.ringBase).toBe(q.ringBase);
    }
    expect(qs.map((q) => q.ringBase)).toContain(0x7f41b5200000n);
    expect(new Set(qs.map((q) => q.ringBase)).size).toBe(5);
  });

  it('rejects malformed variants with their line numbers', () => {
    // a dump line missing inside queue 1's second XCC block
    expect(parseErrorOf(() => parseMqds(dropLine(text, 100))).line).toBe(100);
    // file cut inside the last block
    expect(parseErrorOf(() => parseMqds(lines(text).slice(0, 1283).join('\n'))).line).toBe(1283);
    // a hex word cut short
    const e = parseErrorOf(() => parseMqds(editLine(text, 300, (l) => l.slice(0, 30))));
    expect(e.line).toBe(300);
    expect(e.errno).toBe(74);
    // bad number in a header
    const h = parseErrorOf(() => parseMqds(editLine(text, 1, () => 'Process 94x14 PASID 94314:')));
    expect(h.line).toBe(1);
    expect(h.diagnosis).toMatch(/process header/);
  });

  it('tolerates unknown lines and ANSI escapes', () => {
    expect(parseMqds(`\u001b[1mkfd mqds\u001b[0m\nnoise\n${text}`)).toHaveLength(5);
    expect(parseMqds('')).toEqual([]);
  });
});

describe('hqds', () => {
  const text = fixture(HQDS);

  it('20 active CP slots on f7bc (5 queues x 4 XCCs), none elsewhere', () => {
    const slots = parseHqds(text);
    const active = slots.filter((s) => s.kind === 'cp' && s.active);
    expect(active.filter((s) => s.gpuId === 0xf7bc)).toHaveLength(20);
    expect(active.filter((s) => s.gpuId !== 0xf7bc)).toHaveLength(0);
    expect(new Set(slots.map((s) => s.gpuId)).size).toBe(8);
    // the live slots hold the same rings as the mqds capture, 4 XCCs each
    const mqdRings = new Set(parseMqds(fixture(MQDS)).map((q) => q.ringBase));
    for (const s of active) expect(mqdRings.has(s.ringBase)).toBe(true);
    expect(active.filter((s) => s.ringBase === 0x7f41b5200000n)).toHaveLength(4);
  });

  it('rejects malformed variants with their line numbers', () => {
    expect(parseErrorOf(() => parseHqds(dropLine(text, 12))).line).toBe(16);
    expect(parseErrorOf(() => parseHqds(editLine(text, 1, () => 'Node 2, gpu_id f7bx:'))).line).toBe(1);
    expect(parseErrorOf(() => parseHqds(editLine(text, 10, (l) => l.replace('Queue 2', 'Queue x')))).line).toBe(10);
  });
});

describe('AMD_LOG_LEVEL logs', () => {
  it('16 streams on 4 hardware queues, normal priority, 4 streams each', () => {
    const { queues, events } = parseAmdLog(fixture(LOG3C));
    expect(queues).toHaveLength(4);
    for (const q of queues) {
      expect(q.priority).toBe(1);
      expect(q.size).toBe(16384);
      expect(q.streamCount).toBe(4);
      expect(q.maxRefCount).toBe(4);
    }
    expect(queues[0]?.hwq).toBe(0x7f3660c00000n);
    expect(queues[0]?.swq).toBe(0x7f36633ca000n);
    expect(queues[0]?.streams[0]).toBe(0xef26c0n);
    expect(new Set(queues.flatMap((q) => q.streams)).size).toBe(16);
    expect(events.filter((e) => e.kind === 'selected')).toHaveLength(12);
  });

  it('teardown joins releases and deletions by ring base', () => {
    const create = parseAmdLog(fixture(LOG3C)).queues;
    const { queues } = parseAmdLog(fixture(LOG3T));
    expect(queues.map((q) => q.hwq).sort()).toEqual(create.map((q) => q.hwq).sort());
    for (const q of queues) {
      expect(q.releases).toBe(4);
      expect(q.lastRefCount).toBe(0);
      expect(q.deletedLine).not.toBeNull();
      const c = create.find((x) => x.hwq === q.hwq);
      expect([...q.streams].sort()).toEqual([...(c?.streams ?? [])].sort());
    }
  });

  it('stream priorities map to separate pools (level 5 log with pid/tid prefixes)', () => {
    const { queues } = parseAmdLog(fixture(LOG5));
    expect(queues.map((q) => q.priority)).toEqual([2, 0, 2, 1]);
    expect(queues.every((q) => q.streamCount === 1)).toBe(true);
    expect(queues[0]?.streams).toEqual([0x1952020n]);
  });

  it('rejects malformed variants with their line numbers', () => {
    const text = fixture(LOG3C);
    expect(parseErrorOf(() => parseAmdLog(editLine(text, 42, (l) => l.replace('with priority 1', 'with priority x')))).line).toBe(42);
    expect(parseErrorOf(() => parseAmdLog(editLine(text, 43, (l) => l.replace('(1)', '(1]')))).line).toBe(43);
  });
});
