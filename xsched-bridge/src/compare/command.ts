/** `xsched-bridge compare`: every mode on the same online/offline pair; table, JSON, report. */
import { accessSync, constants, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { XsbError } from '../errors.js';
import { writeReport } from '../report/render.js';
import { COMPARE_DEFAULTS, MODES, runCompare, type CompareProgress } from './compare.js';
import { formatCompare } from './format.js';

export function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}.`);
    return n;
  };
}

export function posArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0.');
  return n;
}

export function checkWritable(file: string, flag: string): void {
  try {
    accessSync(dirname(resolve(file)), constants.W_OK);
  } catch (err) {
    throw new XsbError(`cannot write ${file}`, `pass a ${flag} path in an existing, writable directory`, { cause: err });
  }
}

/** A progress bar on a terminal (stderr), nothing otherwise. */
export function progressBar(label: string): { update: (p: CompareProgress) => void; stop: () => void } {
  if (process.stderr.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {what}  {duration_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (p) => {
      if (!started) {
        bar.start(p.steps, p.step, { what: p.what });
        started = true;
      } else bar.update(p.step, { what: p.what });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

interface CompareOpts {
  json?: string;
  report?: string;
  dir?: string;
  profile?: string;
  xsched?: string;
  onlineRequests: number;
  periodMs: number;
  onlineKernelUs: number;
  kernelsPerRequest: number;
  offlineKernelUs: number;
  offlineCount?: number;
  duration: number;
  hysteresisUs?: number;
  lv1Threshold?: number;
  lv1Batch?: number;
  modes?: string;
}

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description('run the same online/offline pair alone and under every mode (none, lv1, suspend with both mechanisms, hybrid, adaptive, XSched)')
    .option('--json <FILE>', 'write the results (DESIGN.md compare contract)')
    .option('--report <DIR>', 'write report.html and report.md to DIR')
    .option('--dir <DIR>', 'emulator device directory (default: $XSB_EMU_DIR, ...)')
    .option('--profile <FILE>', 'device profile JSON (emulator timing; on real KFD: the profile the report explains with)')
    .option('--xsched <PREFIX>', 'XSched installation: adds the xsched-lv1 and xsched-lv1+suspend modes')
    .option('--online-requests <N>', 'online requests', intArg(1), COMPARE_DEFAULTS.onlineRequests)
    .option('--period-ms <P>', 'one online request every P ms', posArg, COMPARE_DEFAULTS.periodMs)
    .option('--online-kernel-us <N>', 'online kernel duration', intArg(1), COMPARE_DEFAULTS.onlineKernelUs)
    .option('--kernels-per-request <K>', 'online kernels per request', intArg(1), COMPARE_DEFAULTS.kernelsPerRequest)
    .option('--offline-kernel-us <N>', 'offline kernel duration', intArg(1), COMPARE_DEFAULTS.offlineKernelUs)
    .option('--offline-count <N>', 'offline kernels (default: enough to outlast the online run)', intArg(1))
    .option('--duration <F>', 'scale the online run (and so every mode) by F', posArg, COMPARE_DEFAULTS.duration)
    .option('--hysteresis-us <N>', "coordinator: keep offline work held this long after online work went idle (default: the coordinator's)", intArg(0))
    .option('--lv1-threshold <N>', 'Lv1 in-flight bound of the offline job (default: the shim’s, 16)', intArg(1))
    .option('--lv1-batch <N>', 'Lv1 launches per in-flight event (default: threshold/2)', intArg(1))
    .option('--modes <LIST>', `comma-separated subset of: ${MODES.map((m) => m.mode).join(', ')}`)
    .action(async (o: CompareOpts, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ emulate?: boolean }>();
      if (o.json !== undefined) checkWritable(o.json, '--json');
      const bar = progressBar('compare');
      let result;
      try {
        result = await runCompare({
          emulate: g.emulate,
          dir: o.dir,
          profile: o.profile,
          xsched: o.xsched,
          onlineRequests: o.onlineRequests,
          periodMs: o.periodMs,
          onlineKernelUs: o.onlineKernelUs,
          kernelsPerRequest: o.kernelsPerRequest,
          offlineKernelUs: o.offlineKernelUs,
          offlineCount: o.offlineCount,
          duration: o.duration,
          hysteresisUs: o.hysteresisUs,
          lv1Threshold: o.lv1Threshold,
          lv1Batch: o.lv1Batch,
          modes: o.modes?.split(',').map((s) => s.trim()).filter((s) => s !== ''),
          progress: bar.update,
        });
      } finally {
        bar.stop();
      }
      process.stdout.write(`${formatCompare(result)}\n`);
      if (o.json !== undefined) {
        writeFileSync(resolve(o.json), `${JSON.stringify(result, null, 2)}\n`);
        process.stdout.write(`results: ${resolve(o.json)}\n`);
      }
      if (o.report !== undefined) {
        const r = await writeReport(o.report, { compare: result, title: 'xsched-bridge compare report' });
        process.stdout.write(`report: ${r.html} (${r.plots} plots), ${r.md}\n`);
      }
    });
}
