// `xsched-bridge compare` on the emulated GPU, scaled down (15 requests per mode): every mode,
// the offline job completes every kernel in each, suspend and hybrid beat lv1 and none on
// online p99, the JSON holds the DESIGN.md contract, and the report explains each mode from
// the device profile (a changed profile changes the explanation).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareSchema, type CompareResult } from '../src/compare/result.js';
import { emuDir, xsb } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'xsb-compare-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let result: CompareResult;
let stdout = '';

describe('compare --emulate', () => {
  beforeAll(async () => {
    const r = await xsb(['--emulate', 'compare', '--duration', '0.15', '--dir', emuDir(), '--json', join(dir, 'r.json'), '--report', join(dir, 'rep')]);
    stdout = r.stdout;
    if (r.exitCode !== 0) throw new Error(`compare failed (${r.exitCode}): ${r.stderr}`);
    result = compareSchema.parse(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')));
  }, 240_000);

  it('runs every mode and lists the XSched modes as skipped with why', () => {
    expect(result.backend).toBe('emu');
    expect(result.profile.name).toBe('mi300x-assumed');
    expect(result.modes.map((m) => m.mode)).toEqual(['none', 'lv1', 'suspend/dbg-trap', 'suspend/deactivate', 'hybrid', 'adaptive']);
    expect(result.skipped?.map((s) => s.mode)).toEqual(['xsched-lv1', 'xsched-lv1+suspend']);
    for (const s of result.skipped ?? []) expect(s.reason).toMatch(/XSched/);
    expect(stdout).toMatch(/skipped xsched-lv1: /);
  });

  it('completes every offline kernel in every mode and every online request', () => {
    for (const m of result.modes) {
      expect(m.offline.kernels_completed, m.mode).toBe(m.offline.kernels_expected);
      expect(m.offline.kernels_expected).toBeGreaterThan(0);
      expect(m.online.count, m.mode).toBe(result.workload?.online.requests);
      expect(m.online.standalone_p99_ms).toBe(result.standalone?.online?.p99_ms);
    }
  });

  it('online p99 under suspend and hybrid is below lv1 and none', () => {
    const p99 = (mode: string): number => result.modes.find((m) => m.mode === mode)?.online.p99_ms ?? NaN;
    const worst = Math.min(p99('none'), p99('lv1'));
    for (const m of ['suspend/dbg-trap', 'suspend/deactivate', 'hybrid']) expect(p99(m), m).toBeLessThan(worst);
  });

  it('has preemption numbers exactly where a mode suspends', () => {
    for (const m of result.modes) {
      const suspends = ['suspend/dbg-trap', 'suspend/deactivate', 'hybrid', 'adaptive'].includes(m.mode);
      if (!suspends) {
        expect(m.preempt, m.mode).toBeNull();
        continue;
      }
      expect(m.preempt?.count, m.mode).toBeGreaterThan(0);
      for (const k of ['suspend_p50_us', 'suspend_p99_us', 'resume_p50_us', 'resume_p99_us'] as const) expect(m.preempt?.[k], `${m.mode} ${k}`).toBeGreaterThan(0);
      expect(m.preempt?.suspend_p99_us ?? 0).toBeGreaterThanOrEqual(m.preempt?.suspend_p50_us ?? 0);
    }
  });

  it('the report names backend and profile first and explains each mode from the profile', () => {
    const md = readFileSync(join(dir, 'rep', 'report.md'), 'utf8');
    const html = readFileSync(join(dir, 'rep', 'report.html'), 'utf8');
    expect(md.split('\n').slice(0, 4).join('\n')).toMatch(/backend: \*\*emu/);
    expect(md.split('\n').slice(0, 4).join('\n')).toMatch(/device profile: \*\*mi300x-assumed/);
    expect(html.indexOf('id="backend"')).toBeLessThan(html.indexOf('id="modes"'));
    for (const m of result.modes) expect(md).toContain(`- **${m.mode}**: `);
    // 1 ms unmap + 74 us CWSR save + 1 ms remap, from the profile
    expect(md).toMatch(/suspend: unmap 1\.00 ms \+ CWSR save .* = 74 µs\) \+ remap 1\.00 ms ≈ 2\.07 ms/);
    expect(md).toMatch(/none\*\*: .*20\.0 ms kernels: 10\.0 ms on average, up to 20\.0 ms/);
  });

  it('re-renders from the JSON, and a different profile gives a different explanation', async () => {
    const j = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as CompareResult;
    if (j.profile.values === null) throw new Error('no profile values');
    j.profile.values = { ...j.profile.values, name: 'slow-hws', runlist_unmap_ns: 3_000_000, runlist_remap_ns: 2_000_000 };
    j.profile.name = 'slow-hws';
    writeFileSync(join(dir, 'slow.json'), JSON.stringify(j));
    const r = await xsb(['report', join(dir, 'slow.json'), '--out', join(dir, 'rep2')]);
    expect(r.exitCode, r.stderr).toBe(0);
    const md = readFileSync(join(dir, 'rep2', 'report.md'), 'utf8');
    expect(md).toMatch(/device profile: \*\*slow-hws/);
    expect(md).toMatch(/unmap 3\.00 ms \+ CWSR save .* \+ remap 2\.00 ms ≈ 5\.07 ms/);
  });
});
