/**
 * Registers the user-facing commands run, doctor, queues and kfd on the CLI program. Actions
 * set process.exitCode; errors are thrown (XsbError) and printed as one line by cli.ts.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { intInRange } from './common.js';
import { doctorCommand } from './doctor.js';
import { resumeCommand, snapshotCommand, suspendCommand, versionCommand, type KfdPidOptions } from './kfd.js';
import { queuesCommand } from './queues.js';
import { CLASSES, MECHANISMS, runCommand } from './run.js';

interface Globals {
  emulate?: boolean;
}

const jsonOption = (): Option => new Option('--json [FILE]', 'machine-readable output: to FILE, or to stdout with no FILE or -');
const dirOption = (): Option => new Option('--dir <DIR>', 'emulator device directory (default: $XSB_EMU_DIR, $XDG_RUNTIME_DIR/xsb-emu, /tmp/xsb-emu-<uid>)');
const profileOption = (): Option => new Option('--profile <FILE>', 'emulator device profile JSON (used when a device is started)');

function idList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) > 1023)) throw new InvalidArgumentError('expected queue ids 0..1023 separated by commas.');
  return parts.map(Number);
}

function collect(value: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), value];
}

const emulate = (cmd: Command): boolean | undefined => cmd.optsWithGlobals<Globals>().emulate === true || undefined;

export function registerCommands(program: Command): void {
  program
    .command('run')
    .description('run a program with the shim preloaded (composing with LD_PRELOAD); forwards signals, returns its exit code')
    .addOption(new Option('--class <CLASS>', 'scheduling class (XSB_CLASS)').choices(CLASSES))
    .option('--priority <0-15>', 'KFD queue priority for every queue of the program (XSB_PRIORITY; needs a class)', intInRange(0, 15))
    .addOption(new Option('--mechanism <M>', 'how the program\'s queues are suspended (XSB_MECHANISM)').choices(MECHANISMS))
    .option('--socket <PATH>', 'coordinator socket (default: $XSB_SOCKET, $XDG_RUNTIME_DIR/xsched-bridge/coordinator.sock)')
    .option('--quiet', 'no note when no coordinator listens')
    .addOption(dirOption())
    .addOption(profileOption())
    .argument('<command...>', 'the program and its arguments (after --)')
    .usage('[options] -- COMMAND [ARGS...]')
    .action(async (command: string[], o: Record<string, unknown>, cmd: Command) => {
      process.exitCode = await runCommand({
        command,
        class: o['class'] as string | undefined,
        priority: o['priority'] as number | undefined,
        mechanism: o['mechanism'] as string | undefined,
        socket: o['socket'] as string | undefined,
        quiet: o['quiet'] as boolean | undefined,
        dir: o['dir'] as string | undefined,
        profile: o['profile'] as string | undefined,
        emulate: emulate(cmd),
      });
    });

  program
    .command('doctor')
    .description('check every precondition of Lv1 and KFD suspend on this machine, each with a fix (exit 1 on a failure)')
    .addOption(jsonOption())
    .option('--sysfs-root <DIR>', 'read sysfs from DIR instead of /sys ($XSB_SYSFS_ROOT)')
    .addOption(new Option('--mechanism <M>', 'the suspend mechanism to check for (debugger-path blockers only warn for deactivate)').choices(MECHANISMS).default('dbg-trap'))
    .option('--xsched <PREFIX>', 'XSched install to check ($XSCHED_PREFIX)')
    .option('--rocm <PREFIX>', 'ROCm install to check (default: $ROCM_PATH or /opt/rocm)')
    .addOption(new Option('--device <PATH>', 'KFD device node').default(undefined, '/dev/kfd'))
    .addOption(dirOption())
    .addOption(profileOption())
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      process.exitCode = await doctorCommand({
        json: o['json'] as string | boolean | undefined,
        sysfsRoot: o['sysfsRoot'] as string | undefined,
        mechanism: o['mechanism'] as string | undefined,
        xsched: o['xsched'] as string | undefined,
        rocm: o['rocm'] as string | undefined,
        device: o['device'] as string | undefined,
        dir: o['dir'] as string | undefined,
        profile: o['profile'] as string | undefined,
        emulate: emulate(cmd),
      });
    });

  program
    .command('queues')
    .description('processes and their GPU queues: live (coordinator, else sysfs, plus debugfs) or from captures')
    .addOption(jsonOption())
    .option('--watch', 'refresh until Ctrl-C')
    .option('--interval <MS>', 'refresh period with --watch (default 1000)', intInRange(50, 3_600_000))
    .option('--from-debugfs <FILE>', 'analyse a kfd/mqds or kfd/hqds capture (repeatable)', collect)
    .option('--from-log <FILE>', 'analyse an AMD_LOG_LEVEL>=3 HIP log (repeatable)', collect)
    .option('--sysfs-root <DIR>', 'read sysfs from DIR instead of /sys ($XSB_SYSFS_ROOT)')
    .option('--socket <PATH>', 'coordinator socket (default: $XSB_SOCKET, $XDG_RUNTIME_DIR/xsched-bridge/coordinator.sock)')
    .addOption(dirOption())
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      process.exitCode = await queuesCommand({
        json: o['json'] as string | boolean | undefined,
        watch: o['watch'] as boolean | undefined,
        interval: o['interval'] as number | undefined,
        fromDebugfs: o['fromDebugfs'] as string[] | undefined,
        fromLog: o['fromLog'] as string[] | undefined,
        sysfsRoot: o['sysfsRoot'] as string | undefined,
        socket: o['socket'] as string | undefined,
        dir: o['dir'] as string | undefined,
        emulate: emulate(cmd),
      });
    });

  const kfd = program.command('kfd').description('thin commands over libxsbkfd (the KFD debugger path) for inspection and testing');
  const common = (c: Command): Command =>
    c
      .addOption(jsonOption())
      .addOption(new Option('--device <PATH>', 'KFD device node').default(undefined, '/dev/kfd'))
      .addOption(dirOption())
      .addOption(profileOption());
  const pidOpts = (c: Command): Command =>
    common(c)
      .requiredOption('--pid <PID>', 'the target process', intInRange(1, 0x3fffffff))
      .option('--queues <ids>', 'queue ids, comma-separated (default: every compute queue of the process)', idList);
  const kfdOpts = (o: Record<string, unknown>, cmd: Command): KfdPidOptions => ({
    pid: o['pid'] as number,
    queues: o['queues'] as number[] | undefined,
    grace: o['grace'] as number | undefined,
    holdMs: o['holdMs'] as number | undefined,
    json: o['json'] as string | boolean | undefined,
    device: o['device'] as string | undefined,
    dir: o['dir'] as string | undefined,
    profile: o['profile'] as string | undefined,
    emulate: emulate(cmd),
  });

  common(kfd.command('version').description('KFD ABI version (GET_VERSION) and whether it has the debugger API')).action(
    async (o: Record<string, unknown>, cmd: Command) => {
      process.exitCode = await versionCommand({ ...kfdOpts({ ...o, pid: 0 }, cmd) });
    },
  );
  pidOpts(kfd.command('snapshot').description("a process's KFD queues (debug session: attach, ENABLE, GET_QUEUE_SNAPSHOT, DISABLE)")).action(
    async (o: Record<string, unknown>, cmd: Command) => {
      process.exitCode = await snapshotCommand(kfdOpts(o, cmd));
    },
  );
  pidOpts(kfd.command('suspend').description('TESTING: suspend queues of a process and hold them until Ctrl-C, --hold-ms or `kfd resume`'))
    .option('--grace <N>', 'grace period in ~1000 GPU clocks before forced CWSR (0 acts as 1)', intInRange(0, 0xffffffff))
    .option('--hold-ms <MS>', 'resume by itself after MS milliseconds', intInRange(0, 86_400_000))
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      process.exitCode = await suspendCommand(kfdOpts(o, cmd));
    });
  pidOpts(kfd.command('resume').description('resume queues of a process (asks a holding `kfd suspend` to resume, if one runs)')).action(
    async (o: Record<string, unknown>, cmd: Command) => {
      process.exitCode = await resumeCommand(kfdOpts(o, cmd));
    },
  );
}
