// The coordinator's Prometheus endpoint, scraped after a throttle/release cycle and parsed as
// Prometheus text exposition format 0.0.4.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Coord, connectFake, engine, fakeShim, GATE_OPEN, REQ_RUN, until } from './coordinator-harness.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict parser of the text format: every line is a comment, blank, or a valid sample. */
function parseProm(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m) throw new Error(`bad comment line: ${line}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!)) throw new Error(`bad type: ${line}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const m = sampleRe.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    labelRe.lastIndex = 0;
    while (labelRe.lastIndex < body.length) {
      const lm = labelRe.exec(body);
      if (!lm) throw new Error(`bad labels: ${line}`);
      labels[lm[1]!] = lm[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') throw new Error(`bad value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

const dir = mkdtempSync(join(tmpdir(), 'xsb-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('serves per-process and engine metrics in Prometheus text format on 127.0.0.1', async () => {
  const socket = join(dir, 'm.sock');
  const coord = await Coord.start(socket, ['--policy', 'hybrid', '--hysteresis-us', '1000', '--metrics-port', '0']);
  const on = fakeShim('online');
  const off = fakeShim('offline');
  engine.fake.executor(off.name, true);
  try {
    expect(coord.metricsPort).toBeGreaterThan(0);
    await connectFake(socket, on);
    await connectFake(socket, off);
    for (let i = 0; i < 3; i++) {
      on.set('activity', 1);
      await until('held', () => off.get()['exec_state'] === 3);
      on.set('activity', 0);
      await until('released', () => off.get()['gate'] === GATE_OPEN && off.get()['suspend_req'] === REQ_RUN && off.get()['exec_state'] === 1);
    }
    const res = await fetch(`http://127.0.0.1:${coord.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parseProm(await res.text());
    const pid = String(process.pid);
    const one = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(types.get('xsb_preemptions_total')).toBe('counter');
    expect(types.get('xsb_suspend_latency_seconds')).toBe('histogram');
    expect(types.get('xsb_engine_decision_latency_seconds')).toBe('histogram');
    expect(one('xsb_process_info', { pid, class: 'offline', exe: '/fake/offline' })?.value).toBe(1);
    expect(one('xsb_processes', {})?.value).toBe(2);
    expect(one('xsb_preemptions_total', { pid, class: 'offline', gpu: '7' })?.value).toBe(3);
    expect(one('xsb_gate_closed_seconds_total', { pid, class: 'offline', gpu: '7' })?.value).toBeGreaterThan(0);
    expect(one('xsb_hold_seconds_total', { pid, class: 'offline', gpu: '7' })?.value).toBeGreaterThan(0);
    expect(one('xsb_online_busy_seconds_total', { pid, class: 'online', gpu: '7' })?.value).toBeGreaterThan(0);
    expect(one('xsb_engine_decision_latency_seconds_count', { step: 'gate_closed' })?.value).toBe(3);
    expect(one('xsb_engine_decision_latency_seconds_count', { step: 'suspend_posted' })?.value).toBe(3);
    const inf = one('xsb_engine_decision_latency_seconds_bucket', { step: 'gate_closed', le: '+Inf' });
    expect(inf?.value).toBe(3);
    // only loopback
    expect(coord.find((e) => e.event === 'metrics')?.msg).toContain('http://127.0.0.1:');
  } finally {
    await coord.stop();
    on.remove();
    off.remove();
  }
});
