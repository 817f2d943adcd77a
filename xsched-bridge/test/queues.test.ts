// `xsb queues`: captures in shared/fixtures (checked against what libxsbkfd's parsers return),
// the live view from sysfs trees and from a coordinator answering the registry query, --watch.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mqdProcesses, parseAmdLog, parseHqds, parseMqds } from '../src/kfd/index.js';
import { cli, root, xsb } from './helpers.js';

const fixtures = process.env['XSB_FIXTURES'] ?? resolve(root, '..', 'shared', 'fixtures');
const MQDS = join(fixtures, 'mi308x_mqds_16streams_pid94314_5queues.txt');
const HQDS = join(fixtures, 'mi308x_hqds_16streams_pid94314_8gpus_same_moment.txt');
const LOG3 = join(fixtures, 'mi308x_amdlog3_16streams_create_gpu_max_hw_queues_default4.log');
const LOG5 = join(fixtures, 'mi308x_amdlog5_stream_priority_4streams_create_dispatch.log');
for (const f of [MQDS, HQDS, LOG3, LOG5]) {
  if (!existsSync(f)) throw new Error(`fixture ${f} is missing: clone shared/ beside the repo or set XSB_FIXTURES`);
}
const text = (f: string): string => readFileSync(f, 'latin1');
const hex = (v: bigint): string => `0x${v.toString(16)}`;

const tmp = mkdtempSync(join(tmpdir(), 'xsb-queues-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function json<T>(args: string[], env: Record<string, string | undefined> = {}): Promise<T> {
  const r = await xsb(['queues', '--json', '-', ...args], env);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

interface CaptureOut {
  captures: { file: string; analysis: Record<string, unknown> }[];
  internal_rings: string[] | null;
}

describe('queues --from-debugfs / --from-log on shared/fixtures', () => {
  it('mqds: process 94314 with 5 compute queues on gpu f7bc', async () => {
    const r = await xsb(['queues', '--from-debugfs', MQDS]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/process 94314 \(PASID 94314\): 5 queue\(s\): 5 on gpu f7bc/);
    const out = await json<CaptureOut>(['--from-debugfs', MQDS]);
    const a = out.captures[0]?.analysis as { kind: string; processes: { pid: number; queues: { gpu_id: string; kind: string; ring_base: string; xccs: number }[] }[] };
    expect(a.kind).toBe('mqds');
    const parsed = mqdProcesses(parseMqds(text(MQDS)));
    expect(a.processes.map((p) => p.pid)).toEqual(parsed.map((p) => p.pid));
    expect(a.processes.map((p) => p.pid)).toEqual([94314]);
    const qs = a.processes[0]?.queues ?? [];
    expect(qs).toHaveLength(5);
    expect(qs.every((q) => q.gpu_id === 'f7bc' && q.kind === 'compute' && q.xccs === 4)).toBe(true);
    expect(qs.map((q) => q.ring_base)).toEqual(parsed[0]?.queues.map((q) => hex(q.ringBase)));
  });

  it('hqds: 20 active CP slots on f7bc (5 rings x 4 XCCs), none on the 7 other GPUs', async () => {
    const r = await xsb(['queues', '--from-debugfs', HQDS]);
    expect(r.stdout).toMatch(/gpu f7bc: 20 active CP slots = 5 queue\(s\)/);
    const out = await json<CaptureOut>(['--from-debugfs', HQDS]);
    const a = out.captures[0]?.analysis as { kind: string; gpus: { gpu_id: string; active_cp_slots: number; rings: { ring_base: string; slots: number }[] }[] };
    expect(a.kind).toBe('hqds');
    expect(a.gpus).toHaveLength(8);
    const slots = parseHqds(text(HQDS)).filter((s) => s.kind === 'cp' && s.active);
    for (const g of a.gpus) {
      expect(g.active_cp_slots).toBe(slots.filter((s) => s.gpuId.toString(16) === g.gpu_id).length);
    }
    const f7bc = a.gpus.find((g) => g.gpu_id === 'f7bc');
    expect(f7bc?.active_cp_slots).toBe(20);
    expect(f7bc?.rings.map((x) => x.slots)).toEqual([4, 4, 4, 4, 4]);
    const mqdRings = new Set(parseMqds(text(MQDS)).map((q) => hex(q.ringBase)));
    expect(f7bc?.rings.every((x) => mqdRings.has(x.ring_base))).toBe(true);
  });

  it('16-stream log: 4 hardware queues shared by 4 streams each, plus the utility-queue note', async () => {
    const r = await xsb(['queues', '--from-log', LOG3]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/process 85406; 16 stream\(s\) on 4 hardware queue\(s\) \(at most 4 per priority/);
    expect(r.stdout).toMatch(/utility queue/);
    const out = await json<CaptureOut>(['--from-log', LOG3]);
    const a = out.captures[0]?.analysis as { kind: string; streams: number; hw_queues: { hwq: string; stream_count: number; streams: string[]; priority: number }[] };
    const parsed = parseAmdLog(text(LOG3)).queues;
    expect(a.hw_queues.map((q) => q.hwq)).toEqual(parsed.map((q) => hex(q.hwq)));
    expect(a.hw_queues.map((q) => q.stream_count)).toEqual([4, 4, 4, 4]);
    expect(a.streams).toBe(16);
    expect(a.hw_queues[0]?.streams).toEqual(parsed[0]?.streams.map(hex));
    for (const q of a.hw_queues) expect(r.stdout).toContain(`${q.hwq}: ${q.streams.join(' ')}`);
  });

  it('level-5 log: pid from the prefixes, one pool per priority', async () => {
    const out = await json<CaptureOut>(['--from-log', LOG5]);
    const a = out.captures[0]?.analysis as { pids: number[]; hw_queues: { priority: number }[] };
    expect(a.pids).toEqual([459769]);
    expect(a.hw_queues.map((q) => q.priority)).toEqual([2, 0, 2, 1]);
  });

  it('joins mqds and log by ring base; captures of different runs share none', async () => {
    const out = await json<CaptureOut>(['--from-debugfs', MQDS, '--from-log', LOG3]);
    expect(out.captures).toHaveLength(2);
    expect(out.internal_rings).toHaveLength(5);
    const r = await xsb(['queues', '--from-debugfs', MQDS, '--from-log', LOG3]);
    expect(r.stdout).toMatch(/share no ring base: they come from different runs/);
    // a log of the same run: the one mqds ring it lacks is ROCr's internal queue
    const rings = mqdProcesses(parseMqds(text(MQDS)))[0]?.queues.map((q) => q.ringBase) ?? [];
    const log = rings
      .slice(0, 4)
      .map((ring, i) => `:3:rocdevice.cpp :3048: 1 us:  Created SWq=0x${(0x1000 * (i + 1)).toString(16)} to map on HWq=${hex(ring)} with size 16384 with priority 1, cooperative: 0`)
      .join('\n');
    const file = join(tmp, 'same-run.log');
    writeFileSync(file, `${log}\n`);
    const j = await json<CaptureOut>(['--from-debugfs', MQDS, '--from-log', file]);
    expect(j.internal_rings).toEqual([hex(rings[4] ?? 0n)]);
  });

  it('malformed or unknown captures: one line naming the file and line, exit 1', async () => {
    const lines = text(MQDS).split('\n');
    const bad = join(tmp, 'bad-mqds.txt');
    writeFileSync(bad, lines.map((l, i) => (i === 299 ? l.slice(0, 30) : l)).join('\n'));
    let r = await xsb(['queues', '--from-debugfs', bad]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^xsched-bridge: ${bad}:300: .+; `));
    const neither = join(tmp, 'neither.txt');
    writeFileSync(neither, 'hello\n');
    r = await xsb(['queues', '--from-debugfs', neither]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/neither a debugfs mqds nor an hqds capture/);
    r = await xsb(['queues', '--from-log', join(tmp, 'absent.log')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/cannot read the AMD log .*ENOENT/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

interface LiveOut {
  source: string;
  processes: { pid: number; name: string | null; class: string | null; queues: { id: number | null; gpu_id: string | null; type: string; ring_base: string | null; priority: number | null }[] }[];
  debugfs: { mqds: unknown; hqds: unknown; note: string | null };
}

function sysfsTree(name: string, procs: Record<number, { id: number; type: number; gpu: number; size: number }[]>, debugfs = false): string {
  const dir = join(tmp, name);
  for (const [pid, qs] of Object.entries(procs)) {
    for (const q of qs) {
      const qd = join(dir, 'class', 'kfd', 'kfd', 'proc', pid, 'queues', String(q.id));
      mkdirSync(qd, { recursive: true });
      writeFileSync(join(qd, 'type'), String(q.type));
      writeFileSync(join(qd, 'gpuid'), String(q.gpu));
      writeFileSync(join(qd, 'size'), String(q.size));
    }
  }
  mkdirSync(join(dir, 'class', 'kfd', 'kfd', 'proc'), { recursive: true });
  if (debugfs) {
    mkdirSync(join(dir, 'kernel', 'debug', 'kfd'), { recursive: true });
    writeFileSync(join(dir, 'kernel', 'debug', 'kfd', 'mqds'), text(MQDS));
    writeFileSync(join(dir, 'kernel', 'debug', 'kfd', 'hqds'), text(HQDS));
  }
  return dir;
}

describe('queues, live', () => {
  const noCoordinator = join(tmp, 'no-coordinator.sock');

  it('from sysfs: processes named from /proc, their queues; debugfs when readable', async () => {
    const dir = sysfsTree('live', { [process.pid]: [{ id: 3, type: 0, gpu: 0xf7bc, size: 65536 }, { id: 9, type: 1, gpu: 0xf7bc, size: 4096 }] }, true);
    const out = await json<LiveOut>(['--sysfs-root', dir, '--socket', noCoordinator]);
    expect(out.source).toBe('sysfs');
    expect(out.processes).toHaveLength(1);
    expect(out.processes[0]?.pid).toBe(process.pid);
    expect(out.processes[0]?.name).toBe(readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim());
    expect(out.processes[0]?.queues.map((q) => [q.id, q.gpu_id, q.type])).toEqual([
      [3, 'f7bc', 'compute'],
      [9, 'f7bc', 'sdma'],
    ]);
    expect(out.debugfs.mqds).not.toBeNull();
    expect(out.debugfs.hqds).not.toBeNull();
    const r = await xsb(['queues', '--sysfs-root', dir, '--socket', noCoordinator]);
    expect(r.stdout).toMatch(/from sysfs .* \(no coordinator at /);
    expect(r.stdout).toMatch(/process 94314 \(PASID 94314\): 5 queue/);
    const bare = await xsb(['queues', '--sysfs-root', join(tmp, 'nothing'), '--socket', noCoordinator]);
    expect(bare.exitCode).toBe(1);
    expect(bare.stderr).toMatch(/^xsched-bridge: no KFD process list at .*; /);
  });

  it("from the coordinator's registry when one answers", async () => {
    const sock = join(tmp, 'c.sock');
    const queries: unknown[] = [];
    let reply = '';
    const server: Server = createServer((c) => {
      c.setEncoding('utf8');
      let buf = '';
      c.on('data', (d: string) => {
        buf += d;
        if (buf.includes('\n')) {
          queries.push(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
          c.end(reply);
        }
      });
    });
    await new Promise<void>((res) => server.listen(sock, res));
    try {
      reply = `${JSON.stringify({
        v: 1,
        type: 'registry',
        policy: 'hybrid',
        gpus: [],
        processes: [
          {
            pid: 4242,
            uid: 0,
            class: 'offline',
            priority: 2,
            exe: 'train.py',
            gpus: [47043],
            mechanism: 'dbg-trap',
            gate: 'closed',
            exec_state: 'held',
            activity: 'idle',
            counters: {},
            queues: [{ id: 7, gpu_id: 47043, qtype: 2, ring_base: '140737488355328', ring_size: 65536, priority_applied: 2, state: 'held' }],
          },
        ],
      })}\n`;
      const out = await json<LiveOut>(['--socket', sock]);
      expect(queries).toEqual([{ v: 1, type: 'query', what: 'registry' }]);
      expect(out.source).toBe('coordinator');
      expect(out.processes[0]).toMatchObject({ pid: 4242, name: 'train.py', class: 'offline' });
      expect(out.processes[0]?.queues[0]).toMatchObject({ id: 7, gpu_id: 'b7c3', type: 'compute-aql', ring_base: '0x800000000000', priority: 2 });
      const t = await xsb(['queues', '--socket', sock]);
      expect(t.stdout).toMatch(/from the coordinator at /);
      expect(t.stdout).toMatch(/4242\s+train\.py\s+offline\s+2\s+dbg-trap\s+closed\s+held/);
      // XSB_SOCKET is honoured too
      expect((await json<LiveOut>([], { XSB_SOCKET: sock })).source).toBe('coordinator');

      reply = '{"v":2,"type":"registry","processes":[]}\n';
      const bad = await xsb(['queues', '--socket', sock]);
      expect(bad.exitCode).toBe(1);
      expect(bad.stderr).toMatch(/^xsched-bridge: the coordinator at .* sent an invalid registry reply .*; /);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await new Promise<void>((res) => server.close(() => res()));
    }
  });

  it('--watch refreshes until SIGINT (plain blocks when not a terminal)', async () => {
    const dir = sysfsTree('watch', { [process.pid]: [{ id: 1, type: 0, gpu: 0xb7c3, size: 4096 }] });
    const child = spawn(process.execPath, [cli, 'queues', '--watch', '--interval', '100', '--sysfs-root', dir, '--socket', noCoordinator], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const blocks = (): number => (out.match(/process\(es\) with KFD queues/g) ?? []).length;
    const exit = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`fewer than 3 refreshes within 20 s: ${out}`)), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (blocks() >= 3) {
          clearTimeout(t);
          res();
        }
      });
    });
    child.kill('SIGINT');
    expect(await exit).toBe(0);
    expect(out).not.toContain('\u001b[2J');
  });
});
