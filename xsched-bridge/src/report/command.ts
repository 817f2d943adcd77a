/** `xsched-bridge report JSON…`: re-renders the HTML and Markdown report from saved JSON
 * (a `compare --json` file, a `stage --json` file, or both). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compareSchema, type CompareResult } from '../compare/result.js';
import { XsbError } from '../errors.js';
import { stageRecordSchema, type StageRecord } from '../stages/record.js';
import type { Lv1Point } from './plots.js';
import { writeReport, type ReportInput } from './render.js';

function parseFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new XsbError(`cannot read ${file} as JSON`, 'pass files written by `compare --json` or `stage --json`', { cause: err });
  }
}

function asCompare(file: string, v: unknown): CompareResult {
  const r = compareSchema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new XsbError(`${file} is not a compare result (${i?.path.join('.') ?? '?'}: ${i?.message ?? 'invalid'})`, 'pass a file written by `xsched-bridge compare --json`');
  }
  return r.data;
}

function asRecords(file: string, v: unknown[]): StageRecord[] {
  return v.map((x, i) => {
    const r = stageRecordSchema.safeParse(x);
    if (!r.success) {
      const is = r.error.issues[0];
      throw new XsbError(`${file}: record ${i} is not a stage record (${is?.path.join('.') ?? '?'}: ${is?.message ?? 'invalid'})`, 'pass a file written by `xsched-bridge stage --json`');
    }
    return r.data;
  });
}

/** Collects what the given files hold into one report input. */
export function loadReportInput(files: string[]): ReportInput {
  const inp: ReportInput = { records: [] };
  for (const f of files) {
    const v = parseFile(f);
    if (Array.isArray(v)) {
      inp.records?.push(...asRecords(f, v));
      continue;
    }
    if (typeof v !== 'object' || v === null) throw new XsbError(`${f} holds no report data`, 'pass compare or stage JSON files');
    const o = v as Record<string, unknown>;
    if (o['kind'] === 'xsched-bridge.stages') {
      inp.records?.push(...asRecords(f, Array.isArray(o['records']) ? o['records'] : []));
      if (o['compare'] !== undefined && o['compare'] !== null) inp.compare = asCompare(f, o['compare']);
      if (Array.isArray(o['lv1_sweep'])) inp.lv1Sweep = o['lv1_sweep'] as Lv1Point[];
      inp.title = 'xsched-bridge stages report';
    } else if (Array.isArray(o['modes'])) {
      inp.compare = asCompare(f, o);
    } else if (typeof o['test_id'] === 'string') {
      inp.records?.push(...asRecords(f, [o]));
    } else {
      throw new XsbError(`${f} is neither a compare result nor stage records`, 'pass files written by `compare --json` or `stage --json`');
    }
  }
  if (inp.compare === undefined && (inp.records?.length ?? 0) === 0) throw new XsbError('the given files hold no results', 'pass compare or stage JSON files');
  inp.title ??= inp.compare !== undefined && (inp.records?.length ?? 0) === 0 ? 'xsched-bridge compare report' : 'xsched-bridge report';
  return inp;
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description('re-render the HTML and Markdown report from saved compare/stage JSON')
    .argument('<JSON...>', 'files written by `compare --json` or `stage --json`')
    .option('--out <DIR>', 'directory for report.html and report.md', 'report')
    .action(async (files: string[], o: { out: string }) => {
      const r = await writeReport(o.out, loadReportInput(files));
      process.stdout.write(`report: ${r.html} (${r.plots} plots), ${r.md}\n`);
    });
}
