// `xsched-bridge stage` on the emulated GPU: `stage all` scaled down gives one record per
// check, each PASS, FAIL or SKIP (a SKIP says why and what would enable it), valid against
// stages/schema/stage-record.schema.json; a deliberately strict criterion makes checks FAIL.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCriteria } from '../src/stages/context.js';
import { stageRecordJsonSchema, type StageRecord } from '../src/stages/record.js';
import { CHECKS } from '../src/stages/runner.js';
import { emuDir, root, xsb } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'xsb-stage-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const schemaFile = join(root, 'stages', 'schema', 'stage-record.schema.json');
const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

interface Run {
  records: StageRecord[];
  compare: unknown;
  lv1_sweep: unknown[];
}

describe('stage record schema', () => {
  it('the schema file is the one generated from the zod schema', () => {
    expect(schema).toEqual(JSON.parse(JSON.stringify(stageRecordJsonSchema())));
  });

  it('rejects a SKIP without a reason and a record with an unknown status', () => {
    const base = { test_id: 'S1.2', test_name: 'x', date: '2026-01-01T00:00:00.000Z', hardware: 'h', rocm_version: null, xsched_version: null, backend: 'emu', metrics: {}, criteria: [], notes: '' };
    expect(validate({ ...base, status: 'SKIP' })).toBe(false);
    expect(validate({ ...base, status: 'SKIP', skip: { reason: 'r', enable: 'e' } })).toBe(true);
    expect(validate({ ...base, status: 'MAYBE' })).toBe(false);
  });

  it('criteria overrides: known keys only, partial values merged', () => {
    const f = join(dir, 'c.json');
    writeFileSync(f, JSON.stringify({ online_p99_ms: { value: 20 } }));
    const c = loadCriteria(f);
    expect(c['online_p99_ms']).toMatchObject({ op: '<', value: 20, target: 10 });
    writeFileSync(f, JSON.stringify({ no_such: { value: 1 } }));
    expect(() => loadCriteria(f)).toThrow(/unknown criterion "no_such"/);
  });
});

describe('stage all --emulate (scaled down)', () => {
  let run: Run;
  let exitCode: number;
  beforeAll(async () => {
    const r = await xsb(['--emulate', 'stage', 'all', '--duration', '0.1', '--dir', emuDir(), '--json', join(dir, 'all.json'), '--report', join(dir, 'rep'), '--quiet']);
    exitCode = r.exitCode;
    try {
      run = JSON.parse(readFileSync(join(dir, 'all.json'), 'utf8')) as Run;
    } catch {
      throw new Error(`stage all wrote no JSON (exit ${r.exitCode}): ${r.stderr}`);
    }
  }, 240_000);

  it('has one record per check, each PASS, FAIL or SKIP, valid against the schema', () => {
    expect(run.records.map((r) => r.test_id)).toEqual(CHECKS.map((c) => c.id));
    for (const r of run.records) {
      expect(validate(r), `${r.test_id}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(r.backend).toBe('emu');
    }
    expect(exitCode).toBe(run.records.some((r) => r.status === 'FAIL') ? 1 : 0);
  });

  it('every SKIP says why and what would enable it; without XSched and user commands exactly those skip', () => {
    const skips = run.records.filter((r) => r.status === 'SKIP');
    expect(skips.map((r) => r.test_id)).toEqual(['S1.2', 'S1.4', 'S4.11']);
    for (const s of skips) {
      expect(s.skip?.reason.length, s.test_id).toBeGreaterThan(5);
      expect(s.skip?.enable, s.test_id).toMatch(/--xsched|--online-cmd/);
    }
  });

  it('a FAIL is a violated criterion, never a check that could not run; the deterministic checks pass', () => {
    for (const r of run.records.filter((x) => x.status === 'FAIL')) {
      expect(r.notes, r.test_id).not.toMatch(/could not run/);
      expect(r.criteria.some((c) => c.met === false), `${r.test_id}: ${r.notes}`).toBe(true);
    }
    const must = ['S1.1', 'S1.3', 'S2.1', 'S2.2', 'S2.3', 'S2.4', 'S3.1', 'S4.1', 'S4.4', 'S4.6'];
    expect(run.records.filter((r) => must.includes(r.test_id) && r.status !== 'PASS').map((r) => `${r.test_id}: ${r.notes}`)).toEqual([]);
  });

  it('writes the report with the shared compare run and the Lv1 sweep', () => {
    expect(run.compare).not.toBeNull();
    expect(run.lv1_sweep.length).toBeGreaterThanOrEqual(6);
    const md = readFileSync(join(dir, 'rep', 'report.md'), 'utf8');
    expect(md).toMatch(/backend: \*\*emu/);
    for (const c of CHECKS) expect(md).toContain(`| ${c.id} |`);
  });
});

describe('a deliberately strict criterion', () => {
  it('turns the checks that use it into FAIL, naming the criterion', async () => {
    const strict = join(dir, 'strict.json');
    writeFileSync(strict, JSON.stringify({ overhead_pct: { value: -1 }, online_p99_ms: { value: 1 } }));
    const r = await xsb(['--emulate', 'stage', '3,4', '--only', 'S3.1,S4.4', '--duration', '0.1', '--dir', emuDir(), '--criteria', strict, '--json', join(dir, 'strict-run.json'), '--quiet']);
    expect(r.exitCode, r.stderr).toBe(1);
    const recs = (JSON.parse(readFileSync(join(dir, 'strict-run.json'), 'utf8')) as Run).records;
    expect(recs.map((x) => [x.test_id, x.status])).toEqual([
      ['S3.1', 'FAIL'],
      ['S4.4', 'FAIL'],
    ]);
    const s31 = recs[0]?.criteria.find((c) => c.metric === 'shim_overhead_pct');
    expect(s31).toMatchObject({ op: '<', value: -1, met: false });
    const s44 = recs[1]?.criteria.find((c) => c.metric.startsWith('online_p99_ms'));
    expect(s44).toMatchObject({ value: 1, met: false });
    // the other criteria of S4.4 still hold: only the strict one failed
    expect(recs[1]?.criteria.filter((c) => c.met === false).length).toBe(1);
    for (const x of recs) expect(validate(x)).toBe(true);
  }, 120_000);
});
