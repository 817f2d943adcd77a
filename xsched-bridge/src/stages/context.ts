/**
 * What every stage check shares: the backend and device, the criteria in force, the duration
 * scale, an output directory, and results computed once for several checks (the compare run).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { runCompare } from '../compare/compare.js';
import type { Target } from '../compare/orchestrate.js';
import type { ProfileInfo } from '../compare/profile.js';
import type { CompareResult } from '../compare/result.js';
import { XsbError } from '../errors.js';
import { packageRoot } from '../paths.js';
import type { Lv1Point } from '../report/plots.js';
import type { Criterion, StageRecord, Status } from './record.js';

export const criterionDefSchema = z.object({
  op: z.enum(['<', '<=', '>', '>=']),
  value: z.number(),
  target: z.number().optional(),
  unit: z.string().optional(),
  what: z.string().optional(),
});
export type CriterionDef = z.infer<typeof criterionDefSchema>;
export type Criteria = Record<string, CriterionDef>;

export function defaultCriteriaPath(): string {
  return join(packageRoot(), 'stages', 'criteria.default.json');
}

function readCriteria(file: string, partial: boolean): Criteria {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new XsbError(`cannot read the criteria file ${file}`, 'pass a JSON file with the keys of stages/criteria.default.json', { cause: err });
  }
  const obj = z.record(z.string(), z.unknown()).safeParse(raw);
  if (!obj.success) throw new XsbError(`${file} is not a JSON object`, 'use the layout of stages/criteria.default.json');
  const out: Criteria = {};
  for (const [k, v] of Object.entries(obj.data)) {
    if (k.startsWith('$')) continue;
    const r = (partial ? criterionDefSchema.partial() : criterionDefSchema).safeParse(v);
    if (!r.success) throw new XsbError(`${file}: criterion "${k}" is invalid (${r.error.issues[0]?.message ?? 'invalid'})`, 'give op (<, <=, >, >=) and a numeric value');
    out[k] = r.data as CriterionDef;
  }
  return out;
}

/** The default criteria, with the keys of file (if given) overriding them. */
export function loadCriteria(file?: string): Criteria {
  const base = readCriteria(defaultCriteriaPath(), false);
  if (file === undefined) return base;
  const p = resolve(file);
  if (!existsSync(p)) throw new XsbError(`criteria file ${p} does not exist`, 'pass an existing JSON file to --criteria');
  const over = readCriteria(p, true);
  for (const [k, v] of Object.entries(over)) {
    if (base[k] === undefined) throw new XsbError(`${p}: unknown criterion "${k}"`, `use one of ${Object.keys(base).join(', ')}`);
    base[k] = { ...base[k], ...v } as CriterionDef;
  }
  return base;
}

export interface StageContext {
  target: Target;
  profile: ProfileInfo;
  hardware: string;
  rocmVersion: string | null;
  xschedVersion: string | null;
  xsched?: string | undefined;
  criteria: Criteria;
  /** Multiplies every run's length (requests, kernel counts). */
  duration: number;
  workDir: string;
  onlineCmd?: string | undefined;
  offlineCmd?: string | undefined;
  /** Results shared between checks. */
  shared: { compare?: Promise<CompareResult>; lv1Sweep?: Lv1Point[] };
  log: (line: string) => void;
}

/** The compare run (default pair, scaled), once for every check that reads it. */
export function sharedCompare(ctx: StageContext): Promise<CompareResult> {
  ctx.shared.compare ??= runCompare(
    {
      onlineRequests: 100,
      periodMs: 100,
      onlineKernelUs: 2000,
      kernelsPerRequest: 5,
      offlineKernelUs: 20000,
      duration: ctx.duration,
      xsched: ctx.xsched,
      profile: ctx.target.profile,
      workDir: join(ctx.workDir, 'compare'),
      progress: (p) => ctx.log(`  compare ${p.step + 1}/${p.steps}: ${p.what}`),
    },
    ctx.target,
  );
  return ctx.shared.compare;
}

export function evaluate(criteria: Criteria, key: string, measured: number | null, label = key): Criterion {
  const c = criteria[key];
  if (c === undefined) throw new XsbError(`no criterion named ${key}`, 'add it to stages/criteria.default.json');
  const cmp = (a: number, op: string, b: number): boolean => (op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b);
  const met = measured === null || Number.isNaN(measured) ? false : cmp(measured, c.op, c.value);
  return {
    metric: label,
    op: c.op,
    value: c.value,
    ...(c.unit !== undefined ? { unit: c.unit } : {}),
    met,
    ...(c.target !== undefined ? { target: c.target, target_met: measured === null ? null : cmp(measured, c.op, c.target) } : {}),
  };
}

/** A boolean expectation as a criterion (e.g. every kernel completed). */
export function expectTrue(metric: string, ok: boolean): Criterion {
  return { metric, op: '==', value: true, met: ok };
}

export interface Outcome {
  status?: Status;
  metrics: Record<string, unknown>;
  criteria: Criterion[];
  notes: string;
  skip?: { reason: string; enable: string };
}

export function makeRecord(ctx: StageContext, id: string, name: string, o: Outcome): StageRecord {
  const status: Status = o.status ?? (o.skip !== undefined ? 'SKIP' : o.criteria.every((c) => c.met !== false) ? 'PASS' : 'FAIL');
  return {
    test_id: id,
    test_name: name,
    date: new Date().toISOString(),
    hardware: ctx.hardware,
    rocm_version: ctx.rocmVersion,
    xsched_version: ctx.xschedVersion,
    backend: ctx.target.backend,
    status,
    metrics: o.metrics,
    criteria: status === 'SKIP' ? o.criteria.map((c) => ({ ...c, met: null })) : o.criteria,
    notes: o.notes,
    ...(o.skip !== undefined ? { skip: o.skip } : {}),
  };
}

export function skipped(reason: string, enable: string, notes = ''): Outcome {
  return { metrics: {}, criteria: [], notes: notes || `skipped: ${reason}`, skip: { reason, enable } };
}
