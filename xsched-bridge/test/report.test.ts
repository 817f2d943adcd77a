// The HTML report in a real browser: Debian's chromium (apt-get install chromium), headless,
// driven by playwright-core. Every plot must have rendered marks, and the first screen must
// name the backend and the device profile. Input: compare results and stage records shaped as
// the commands write them (synthetic latencies, so this file runs in seconds).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompareResult } from '../src/compare/result.js';
import type { StageRecord } from '../src/stages/record.js';
import { root, xsb } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'xsb-report-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// deterministic pseudo-random samples around a centre
function samples(n: number, centre: number, spread: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return Number((centre + (s / 2 ** 31 - 0.5) * spread).toFixed(3));
  });
}

function mode(name: string, centre: number, suspends: boolean, seed: number): CompareResult['modes'][number] {
  const raw = samples(40, centre, centre * 0.2, seed);
  const sorted = [...raw].sort((a, b) => a - b);
  const sus = samples(40, 2300, 600, seed + 1);
  return {
    mode: name,
    online: { count: 40, p50_ms: sorted[20] ?? 0, p99_ms: sorted[39] ?? 0, max_ms: sorted[39] ?? 0, mean_ms: centre, standalone_p99_ms: 10.5, latency_ms_raw: raw },
    offline: { kernels_completed: 300, kernels_expected: 300, throughput_per_s: suspends ? 41 : 45, loss_pct: suspends ? 17 : 9 },
    preempt: suspends ? { count: 40, suspend_p50_us: 2300, suspend_p99_us: 2850, resume_p50_us: 2250, resume_p99_us: 2700, suspend_us_raw: sus, resume_us_raw: sus.map((v) => v - 50) } : null,
    offline_queues: 2,
  };
}

const profile = JSON.parse(readFileSync(join(root, 'native', 'emu', 'profiles', 'mi300x.json'), 'utf8')) as NonNullable<CompareResult['profile']['values']>;
const compare: CompareResult = {
  kind: 'xsched-bridge.compare',
  backend: 'emu',
  date: '2026-01-01T00:00:00.000Z',
  hardware: 'emulated AMD GPU (profile mi300x-assumed, 304 CUs)',
  profile: { name: profile.name, source: 'native/emu/profiles/mi300x.json', assumed: true, values: profile },
  workload: { online: { kernel_us: 2000, kernels_per_request: 5, requests: 40, period_ms: 100 }, offline: { kernel_us: 20000, count: 300 }, lv1: { threshold: 16, batch: 8 }, hysteresis_us: 2000 },
  standalone: { online: { count: 40, p50_ms: 10.1, p99_ms: 10.5, max_ms: 10.6, latency_ms_raw: samples(40, 10.2, 0.6, 7) }, offline: { throughput_per_s: 49.9, kernel_ms: 20.02 } },
  modes: [mode('none', 105, false, 11), mode('lv1', 104, false, 13), mode('suspend/dbg-trap', 12.8, true, 17), mode('suspend/deactivate', 15, true, 19), mode('hybrid', 13, true, 23), mode('adaptive', 14, true, 29)],
  skipped: [{ mode: 'xsched-lv1', reason: 'no XSched installation given', enable: 'pass --xsched PREFIX' }],
};
const rec = (id: string, status: StageRecord['status'], extra: Partial<StageRecord> = {}): StageRecord => ({
  test_id: id,
  test_name: `check ${id}`,
  date: '2026-01-01T00:00:00.000Z',
  hardware: 'emulated AMD GPU',
  rocm_version: null,
  xsched_version: null,
  backend: 'emu',
  status,
  metrics: { value: 1.5 },
  criteria: [{ metric: 'value', op: '<', value: 2, unit: 'ms', met: status === 'PASS' }],
  notes: `notes of ${id}`,
  ...extra,
});
const stages = {
  kind: 'xsched-bridge.stages',
  backend: 'emu',
  records: [rec('S1.1', 'PASS'), rec('S2.1', 'FAIL'), rec('S1.2', 'SKIP', { skip: { reason: 'no XSched installation given', enable: 'pass --xsched PREFIX' } })],
  compare,
  lv1_sweep: [
    { offline_kernel_ms: 10, threshold: 1, batch: 1, p50_ms: 16, p99_ms: 19, mean_ms: 16 },
    { offline_kernel_ms: 20, threshold: 16, batch: 8, p50_ms: 105, p99_ms: 110, mean_ms: 100 },
  ],
};

describe('the HTML report in headless Chromium', () => {
  let shots: { figures: { id: string; marks: number; svgs: number; w: number; h: number }[]; firstScreen: string; skipRow: string };
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the report test`);
    writeFileSync(join(dir, 'stages.json'), JSON.stringify(stages));
    const r = await xsb(['report', join(dir, 'stages.json'), '--out', join(dir, 'out')]);
    if (r.exitCode !== 0) throw new Error(`report failed: ${r.stderr}`);
    const profileDir = mkdtempSync(join(tmpdir(), 'xsb-chromium-'));
    const ctx = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await ctx.newPage();
      const requests: string[] = [];
      page.on('request', (q) => requests.push(q.url()));
      await page.goto(`file://${join(dir, 'out', 'report.html')}`);
      const figures = await page.$$eval('figure.figure', (fs) =>
        fs.map((f) => {
          const svg = f.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          // Vega draws data as path/rect/line/text items inside g.mark-* groups
          const marks = svg ? svg.querySelectorAll('g[class*="mark-"] > path, g[class*="mark-"] > rect, g[class*="mark-"] > line, g.mark-symbol path, g.mark-rect path, g.mark-line path, g.mark-area path').length : 0;
          return { id: f.id, marks, svgs: f.querySelectorAll('svg').length, w: box?.width ?? 0, h: box?.height ?? 0 };
        }),
      );
      // leaf elements wholly inside the first viewport (runs in the page: no DOM types here)
      const firstScreen = await page.$$eval('body *', (els) =>
        els
          .filter((e) => e.getBoundingClientRect().bottom <= 800 && e.children.length === 0)
          .map((e) => e.textContent ?? '')
          .join(' '),
      );
      const skipRow = await page.$eval('tr.st-skip', (e) => e.textContent ?? '');
      await page.screenshot({ path: join(dir, 'shot.png'), fullPage: true });
      expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
      shots = { figures, firstScreen, skipRow };
    } finally {
      await ctx.close();
      rmSync(profileDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('renders every plot with data marks', () => {
    expect(shots.figures.map((f) => f.id)).toEqual(['plot-cdf', 'plot-hist', 'plot-preempt', 'plot-throughput', 'plot-lv1']);
    for (const f of shots.figures) {
      expect(f.svgs, f.id).toBe(1);
      expect(f.w, f.id).toBeGreaterThan(200);
      expect(f.h, f.id).toBeGreaterThan(50);
      expect(f.marks, f.id).toBeGreaterThan(5);
    }
  });

  it('names the backend and the device profile on the first screen', () => {
    expect(shots.firstScreen).toMatch(/emu — the emulated AMD GPU/);
    expect(shots.firstScreen).toMatch(/mi300x-assumed/);
    expect(shots.firstScreen).toMatch(/1 PASS/);
  });

  it('shows why a check was skipped and how to enable it', () => {
    expect(shots.skipRow).toMatch(/why: no XSched installation given; to enable: pass --xsched PREFIX/);
  });
});
