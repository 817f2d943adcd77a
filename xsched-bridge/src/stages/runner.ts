/** Runs stage checks in order; every check yields one record, an exception a FAIL record. */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { hardwareName, prepareTarget } from '../compare/compare.js';
import { resolveProfile } from '../compare/profile.js';
import type { CompareResult } from '../compare/result.js';
import { errorLine } from '../errors.js';
import { writeReport } from '../report/render.js';
import type { Check } from './checks.js';
import { loadCriteria, makeRecord, type StageContext } from './context.js';
import type { StageRecord } from './record.js';
import { STAGE1 } from './stage1.js';
import { STAGE2 } from './stage2.js';
import { STAGE3 } from './stage3.js';
import { STAGE4 } from './stage4.js';

export const CHECKS: Check[] = [...STAGE1, ...STAGE2, ...STAGE3, ...STAGE4];

export interface StageOptions {
  stages: number[];
  /** Only these check ids (e.g. S1.3); default all of the stages. */
  only?: string[] | undefined;
  emulate?: boolean | undefined;
  dir?: string | undefined;
  profile?: string | undefined;
  xsched?: string | undefined;
  criteria?: string | undefined;
  duration: number;
  json?: string | undefined;
  report?: string | undefined;
  onlineCmd?: string | undefined;
  offlineCmd?: string | undefined;
  log?: ((line: string) => void) | undefined;
}

export interface StageRun {
  kind: 'xsched-bridge.stages';
  version: 1;
  date: string;
  backend: 'emu' | 'kfd';
  profile: { name: string; source: string; assumed: boolean };
  duration_scale: number;
  criteria: Record<string, unknown>;
  records: StageRecord[];
  compare: CompareResult | null;
  lv1_sweep: unknown[];
  device_profile: string | null;
  wall_s: number;
}

function rocmVersion(): string | null {
  for (const f of ['/opt/rocm/.info/version', '/opt/rocm/.info/version-dev']) {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      /* next */
    }
  }
  return null;
}

function xschedVersion(prefix: string | undefined): string | null {
  if (prefix === undefined) return null;
  for (const f of ['VERSION', 'version.txt', 'share/xsched/VERSION']) {
    const p = join(prefix, f);
    if (existsSync(p)) return readFileSync(p, 'utf8').trim();
  }
  return `unknown (installed at ${resolve(prefix)})`;
}

export async function runStages(o: StageOptions): Promise<StageRun> {
  const t0 = Date.now();
  const log = o.log ?? (() => undefined);
  const criteria = loadCriteria(o.criteria);
  const profile = resolveProfile(o.profile);
  const checks = CHECKS.filter((c) => o.stages.includes(c.stage) && (o.only === undefined || o.only.includes(c.id)));
  const prepared = await prepareTarget(o);
  const workDir = mkdtempSync(join(tmpdir(), 'xsb-stages-'));
  const ctx: StageContext = {
    target: prepared.target,
    profile,
    hardware: hardwareName(prepared.target.backend, profile),
    rocmVersion: rocmVersion(),
    xschedVersion: xschedVersion(o.xsched),
    xsched: o.xsched === undefined ? undefined : resolve(o.xsched),
    criteria,
    duration: o.duration,
    workDir,
    onlineCmd: o.onlineCmd,
    offlineCmd: o.offlineCmd,
    shared: {},
    log,
  };
  log(`backend ${prepared.target.backend} (${prepared.reason}); device profile ${profile.name} (${profile.source}); duration ×${o.duration}`);
  const records: StageRecord[] = [];
  try {
    for (const c of checks) {
      const t = Date.now();
      log(`${c.id} ${c.name} ...`);
      let rec: StageRecord;
      try {
        rec = makeRecord(ctx, c.id, c.name, await c.run(ctx));
      } catch (err) {
        rec = makeRecord(ctx, c.id, c.name, { status: 'FAIL', metrics: {}, criteria: [], notes: `the check could not run: ${errorLine(err).replace(/^xsched-bridge: /, '')}` });
      }
      records.push(rec);
      log(`${c.id} ${rec.status} (${((Date.now() - t) / 1000).toFixed(1)} s)${rec.status === 'SKIP' && rec.skip ? `: ${rec.skip.reason}` : rec.status === 'FAIL' ? `: ${rec.notes.slice(0, 300)}` : ''}`);
    }
    const compare = ctx.shared.compare === undefined ? null : await ctx.shared.compare.catch(() => null);
    const profFile = (ctx.shared as Record<string, unknown>)['profileFile'] as string | undefined;
    let deviceProfile: string | null = null;
    const outDir = o.report ?? (o.json !== undefined ? resolve(o.json, '..') : undefined);
    if (profFile !== undefined && outDir !== undefined) {
      mkdirSync(outDir, { recursive: true });
      deviceProfile = join(resolve(outDir), 'device-profile.json');
      copyFileSync(profFile, deviceProfile);
    }
    const run: StageRun = {
      kind: 'xsched-bridge.stages',
      version: 1,
      date: new Date().toISOString(),
      backend: prepared.target.backend,
      profile: { name: profile.name, source: profile.source, assumed: profile.assumed },
      duration_scale: o.duration,
      criteria,
      records,
      compare,
      lv1_sweep: ctx.shared.lv1Sweep ?? [],
      device_profile: deviceProfile,
      wall_s: Math.round((Date.now() - t0) / 100) / 10,
    };
    if (o.json !== undefined) writeFileSync(resolve(o.json), `${JSON.stringify(run, null, 2)}\n`);
    if (o.report !== undefined) {
      mkdirSync(o.report, { recursive: true });
      writeFileSync(join(o.report, 'stages.json'), `${JSON.stringify(run, null, 2)}\n`);
      if (compare !== null) writeFileSync(join(o.report, 'compare.json'), `${JSON.stringify(compare, null, 2)}\n`);
      await writeReport(o.report, { compare: compare ?? undefined, records, lv1Sweep: ctx.shared.lv1Sweep ?? [], title: 'xsched-bridge stages report' });
    }
    return run;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
    await prepared.cleanup();
  }
}

export function formatStages(run: StageRun): string {
  const w = Math.max(...run.records.map((r) => r.test_name.length), 10);
  const lines = run.records.map((r) => `${r.test_id.padEnd(6)} ${r.status.padEnd(4)}  ${r.test_name.padEnd(w)}  ${r.status === 'SKIP' && r.skip ? `${r.skip.reason} (to enable: ${r.skip.enable})` : r.status === 'FAIL' ? r.notes.slice(0, 200) : ''}`.trimEnd());
  const n = (s: string): number => run.records.filter((r) => r.status === s).length;
  return [`backend ${run.backend}, device profile ${run.profile.name}`, ...lines, `${n('PASS')} PASS, ${n('FAIL')} FAIL, ${n('SKIP')} SKIP in ${run.wall_s} s`].join('\n');
}
