#!/usr/bin/env node
/**
 * xsched-bridge (alias xsb) command line. Only commands that work in this version are
 * registered; errors are one line "xsched-bridge: <what>; <how to fix>" (stacks with --verbose).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { registerCommands } from './commands/index.js';
import { registerCompareCommand } from './compare/command.js';
import { registerCoordinatorCommand } from './coordinator/command.js';
import { emuDir, emuEnv, formatExports } from './env.js';
import { deviceStatus, runDeviceForeground, startDevice, stopDevice } from './emu.js';
import { errorDetails, errorLine, XsbError } from './errors.js';
import { packageVersion } from './paths.js';
import { registerReportCommand } from './report/command.js';
import { registerStageCommand } from './stages/command.js';
import { formatStatus } from './status-view.js';
import { formatWorkload, runWorkload } from './workload.js';

function intArg(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected an integer >= ${min}.`);
    }
    return n;
  };
}

function numArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0.');
  return n;
}

interface GlobalOpts {
  verbose?: boolean;
  emulate?: boolean;
}

function buildProgram(): Command {
  const program = new Command('xsched-bridge');
  program
    .description('share an AMD Instinct GPU between an online and an offline job (Lv1 throttling, KFD queue suspend)')
    .version(packageVersion(), '-V, --version')
    .option('--verbose', 'print stack traces with errors')
    .option('--emulate', 'use the emulated GPU even where /dev/kfd is usable')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ outputError: () => undefined });

  const emu = program.command('emu').description('the emulated AMD GPU device');
  const dirOption = (): Option => new Option('--dir <DIR>', 'device directory (default: $XSB_EMU_DIR, $XDG_RUNTIME_DIR/xsb-emu, /tmp/xsb-emu-<uid>)');

  emu
    .command('env')
    .description('print export lines that make any program use the emulated device')
    .addOption(dirOption())
    .option('--profile <FILE>', 'device profile JSON (XSB_EMU_PROFILE)')
    .option('--json', 'print the variables as a JSON object')
    .action((o: { dir?: string; profile?: string; json?: boolean }) => {
      const vars = emuEnv({ dir: o.dir, profile: o.profile });
      process.stdout.write(o.json ? `${JSON.stringify(vars, null, 2)}\n` : `${formatExports(vars)}\n`);
    });

  emu
    .command('start')
    .description('start the device process (detached unless --foreground)')
    .addOption(dirOption())
    .option('--profile <FILE>', 'device profile JSON')
    .option('--foreground', 'run in this terminal until it exits')
    .action(async (o: { dir?: string; profile?: string; foreground?: boolean }) => {
      const dir = o.dir ?? emuDir();
      if (o.foreground) {
        process.exitCode = await runDeviceForeground({ dir, profile: o.profile });
        return;
      }
      const r = await startDevice({ dir, profile: o.profile });
      process.stdout.write(
        r.alreadyRunning ? `a device already runs in ${r.dir} (pid ${r.pid})\n` : `device started in ${r.dir} (pid ${r.pid})\n`,
      );
    });

  emu
    .command('stop')
    .description('stop the device process')
    .addOption(dirOption())
    .action(async (o: { dir?: string }) => {
      const r = await stopDevice({ dir: o.dir ?? emuDir() });
      process.stdout.write(r.wasRunning ? `device (pid ${r.pid}) in ${r.dir} stopped\n` : `no device runs in ${r.dir}\n`);
    });

  emu
    .command('status')
    .description('whether a device runs, and its queues, rings and timing')
    .addOption(dirOption())
    .option('--json', 'print machine-readable status')
    .action(async (o: { dir?: string; json?: boolean }) => {
      const s = await deviceStatus({ dir: o.dir ?? emuDir() });
      process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatus(s)}\n`);
      // As LSB status commands: 3 = not running.
      if (!s.running) process.exitCode = 3;
    });

  program
    .command('workload')
    .description("run the project's workload program (spin kernels) on the current backend")
    .requiredOption('--kernel-us <N>', 'duration of each kernel in microseconds', intArg(1))
    .requiredOption('--count <N>', 'kernels to launch (per stream)', intArg(1))
    .option('--streams <N>', 'streams to launch on', intArg(1))
    .option('--period-ms <P>', 'issue a request every P ms and record its latency', numArg)
    .option('--requests <R>', 'requests to issue (with --period-ms)', intArg(1))
    .option('--kernels-per-request <K>', 'kernels per request (with --period-ms)', intArg(1))
    .option('--json <FILE>', 'write the result JSON to FILE')
    .addOption(dirOption())
    .option('--profile <FILE>', 'device profile JSON, when the emulator is used')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      const num = (k: string): number | undefined => (typeof o[k] === 'number' ? o[k] : undefined);
      const str = (k: string): string | undefined => (typeof o[k] === 'string' ? o[k] : undefined);
      const run = await runWorkload({
        kernelUs: num('kernelUs') ?? 0,
        count: num('count') ?? 0,
        streams: num('streams'),
        periodMs: num('periodMs'),
        requests: num('requests'),
        kernelsPerRequest: num('kernelsPerRequest'),
        json: str('json'),
        dir: str('dir'),
        profile: str('profile'),
        emulate: g.emulate,
      });
      process.stdout.write(`${formatWorkload(run)}\n`);
      if (run.result.kernels_completed !== run.result.kernels_expected) {
        throw new XsbError(
          `only ${run.result.kernels_completed} of ${run.result.kernels_expected} kernels completed`,
          'see the device log (xsb emu status) or the workload output',
        );
      }
    });
  registerCommands(program);
  registerCoordinatorCommand(program);
  registerStageCommand(program);
  registerCompareCommand(program);
  registerReportCommand(program);
  return program;
}

/** `xsb <known command path> --help` for the command the user was typing. */
function helpHint(program: Command, argv: string[]): string {
  const path: string[] = [];
  let cmd = program;
  for (const word of argv.slice(2)) {
    if (word.startsWith('-')) continue;
    const sub = cmd.commands.find((c) => c.name() === word);
    if (sub === undefined) break;
    path.push(word);
    cmd = sub;
  }
  return ['xsb', ...path, '--help'].join(' ');
}

function commanderLine(err: CommanderError, program: Command, argv: string[]): string {
  const what = err.message.replace(/^error:\s*/, '').replace(/\.$/, '');
  return `xsched-bridge: ${what}; see \`${helpHint(program, argv)}\``;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version were printed already; help without a command exits non-zero.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return err.exitCode;
      }
      process.stderr.write(`${commanderLine(err, program, argv)}\n`);
      return 2;
    }
    process.stderr.write(`${errorLine(err)}\n`);
    if (program.opts<GlobalOpts>().verbose === true) process.stderr.write(`${errorDetails(err)}\n`);
    return err instanceof XsbError ? err.exitCode : 1;
  }
}

process.exitCode = await main(process.argv);
