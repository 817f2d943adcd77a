/** `xsched-bridge stage 1|2|3|4|all`: the staged verification; one record per check. */
import { InvalidArgumentError, type Command } from 'commander';
import { checkWritable, posArg } from '../compare/command.js';
import { CHECKS, formatStages, runStages } from './runner.js';

function stageList(v: string): number[] {
  if (v === 'all') return [1, 2, 3, 4];
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < 1 || n > 4)) throw new InvalidArgumentError('expected 1, 2, 3, 4, a comma-separated list of them, or all.');
  return out;
}

interface StageOpts {
  json?: string;
  report?: string;
  dir?: string;
  profile?: string;
  xsched?: string;
  criteria?: string;
  duration: number;
  only?: string;
  onlineCmd?: string;
  offlineCmd?: string;
  quiet?: boolean;
}

export function registerStageCommand(program: Command): void {
  program
    .command('stage')
    .description('run the staged verification: 1 baseline, 2 scheduling, 3 performance, 4 workloads (PASS/FAIL/SKIP per check)')
    .argument('<STAGE>', '1, 2, 3, 4, a comma-separated list, or all', stageList)
    .option('--json <FILE>', 'write every record (and the shared compare run) as JSON')
    .option('--report <DIR>', 'write report.html, report.md, stages.json and compare.json to DIR')
    .option('--criteria <FILE>', 'override pass criteria (keys of stages/criteria.default.json)')
    .option('--duration <F>', 'scale every run by F (1 = about 5 minutes for `all` on the emulator)', posArg, 1)
    .option('--only <IDS>', `only these checks, comma-separated (${CHECKS.map((c) => c.id).join(', ')})`)
    .option('--dir <DIR>', 'emulator device directory')
    .option('--profile <FILE>', 'device profile JSON (emulator timing)')
    .option('--xsched <PREFIX>', 'XSched installation to verify and compare with')
    .option('--online-cmd <CMD>', 'stage 4: your online command (shell), e.g. an inference script')
    .option('--offline-cmd <CMD>', 'stage 4: your offline command (shell), e.g. a training script')
    .option('--quiet', 'no progress lines on stderr')
    .action(async (stages: number[], o: StageOpts, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ emulate?: boolean }>();
      if (o.json !== undefined) checkWritable(o.json, '--json');
      const run = await runStages({
        stages,
        only: o.only?.split(',').map((s) => s.trim()),
        emulate: g.emulate,
        dir: o.dir,
        profile: o.profile,
        xsched: o.xsched,
        criteria: o.criteria,
        duration: o.duration,
        json: o.json,
        report: o.report,
        onlineCmd: o.onlineCmd,
        offlineCmd: o.offlineCmd,
        log: o.quiet === true ? undefined : (l) => process.stderr.write(`${l}\n`),
      });
      process.stdout.write(`${formatStages(run)}\n`);
      if (o.report !== undefined) process.stdout.write(`report: ${o.report}/report.html, ${o.report}/report.md\n`);
      if (run.records.some((r) => r.status === 'FAIL')) process.exitCode = 1;
    });
}
