/**
 * `xsched-bridge coordinator`: runs the coordinator until SIGINT/SIGTERM. On any way out
 * (signal, uncaught error) every process is released before exit; a SIGKILL is covered by
 * the shims' lease (and by the closed socket, which makes each shim release itself).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { XsbError } from '../errors.js';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';
import { loadEngine } from './engine.js';
import { isLevel, makeLogger, type Level } from './log.js';
import { POLICIES, type PolicyName } from './policy.js';
import { resolveSocketPath } from '../socket-path.js';

function intOpt(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}.`);
    return n;
  };
}

function collectUid(v: string, prev: number[] = []): number[] {
  return [...prev, intOpt(0, 0xfffffffe)(v)];
}

interface CoordOpts {
  socket?: string;
  group?: string;
  allowUid?: number[];
  policy: PolicyName;
  mechanism?: 'dbg-trap' | 'deactivate';
  lv1: 'xsb' | 'xsched';
  xsched?: string;
  leaseMs: number;
  hysteresisUs: number;
  ackTimeoutMs: number;
  lv1Threshold?: number;
  lv1Batch?: number;
  metricsPort?: number;
  pollUs?: number;
  logLevel: string;
  logFormat: 'text' | 'json';
}

/** XSched's HIP shim and server (checked, never vendored). */
function checkXsched(prefix: string | undefined): { prefix: string; server: string | null } {
  if (prefix === undefined) {
    throw new XsbError('--lv1 xsched needs an XSched installation', 'pass --xsched PREFIX (the directory holding lib/libshimhip.so), or use --lv1 xsb');
  }
  const p = resolve(prefix);
  const shim = join(p, 'lib', 'libshimhip.so');
  if (!existsSync(shim)) {
    throw new XsbError(`${p} is not an XSched installation (${shim} is missing)`, 'build XSched for HIP (make hip) and pass its output directory to --xsched');
  }
  const server = join(p, 'bin', 'xserver');
  return { prefix: p, server: existsSync(server) ? server : null };
}

export function registerCoordinatorCommand(program: Command): void {
  program
    .command('coordinator')
    .description('run the coordinator: shims connect to it; it throttles and suspends offline work while online work runs')
    .option('--socket <PATH>', 'Unix socket to listen on (default: $XSB_SOCKET, /run/xsched-bridge/coordinator.sock as root, else $XDG_RUNTIME_DIR/xsched-bridge/coordinator.sock)')
    .option('--group <NAME>', 'let members of this group connect (socket mode 0660 instead of 0600)')
    .option('--allow-uid <UID>', 'also accept shims of this uid (repeatable)', collectUid)
    .addOption(new Option('--policy <P>', 'what happens to offline work while online work runs').choices([...POLICIES]).default('hybrid'))
    .addOption(new Option('--mechanism <M>', 'how shims suspend their queues, overriding their XSB_MECHANISM (default: each shim\'s own, dbg-trap unless set)').choices(['dbg-trap', 'deactivate']))
    .addOption(new Option('--lv1 <IMPL>', 'Lv1 launch throttling: ours, or XSched (with --xsched)').choices(['xsb', 'xsched']).default('xsb'))
    .option('--xsched <PREFIX>', 'XSched installation (for --lv1 xsched)')
    .option('--lease-ms <N>', 'lease of every shim: without renewal it releases itself after this long', intOpt(100, 600000), 2000)
    .option('--hysteresis-us <N>', 'keep offline work held this long after online work went idle', intOpt(0, 10_000_000), 2000)
    .option('--ack-timeout-ms <N>', 'open a gate after a release even if the shim did not confirm it within this long', intOpt(10, 60000), 1000)
    .option('--lv1-threshold <N>', 'in-flight bound sent to offline shims (0 = unbounded)', intOpt(0, 65536))
    .option('--lv1-batch <N>', 'launches per in-flight event sent to offline shims', intOpt(1, 65536))
    .option('--metrics-port <N>', 'serve Prometheus metrics on 127.0.0.1:N (0 = any free port, printed)', intOpt(0, 65535))
    .addOption(new Option('--poll-us <N>', 'poll activity every N us instead of waiting on doorbells (comparison only)').argParser(intOpt(1, 1_000_000)).hideHelp())
    .addOption(new Option('--log-level <L>', 'error|warn|info|debug').default('info'))
    .addOption(new Option('--log-format <F>', 'log lines on stderr').choices(['text', 'json']).default('text'))
    .action(async (o: CoordOpts) => {
      if (!isLevel(o.logLevel)) throw new XsbError(`unknown --log-level ${o.logLevel}`, 'use error, warn, info or debug');
      const log = makeLogger({ level: o.logLevel as Level, format: o.logFormat });
      let xserver: ChildProcess | undefined;
      const gateEnabled = o.lv1 === 'xsb';
      if (!gateEnabled) {
        const x = checkXsched(o.xsched);
        if (x.server !== null) {
          // XSched's scheduler server with its highest-priority-first policy; the shims get
          // XSched's preload and priorities from `xsched-bridge run`
          xserver = spawn(x.server, ['HPF', '50000'], { stdio: ['ignore', 'inherit', 'inherit'] });
          log.log('info', `started XSched's server ${x.server} (pid ${xserver.pid ?? '?'})`);
        } else {
          log.log('warn', `no ${join(x.prefix, 'bin', 'xserver')}: start XSched's server yourself`);
        }
      }
      let groupGid: number | undefined;
      if (o.group !== undefined) {
        const gid = loadEngine().groupId(o.group);
        if (gid < 0) throw new XsbError(`no group named "${o.group}"`, 'create it (groupadd) or pass an existing group to --group');
        groupGid = gid;
      }
      if ((o.lv1Threshold === undefined) !== (o.lv1Batch === undefined)) {
        throw new XsbError('--lv1-threshold and --lv1-batch go together', 'pass both, or neither to keep the shims’ own');
      }
      const opts: CoordinatorOptions = {
        socket: resolveSocketPath(o.socket),
        policy: o.policy,
        mechanism: o.mechanism,
        gateEnabled,
        leaseMs: o.leaseMs,
        hysteresisUs: o.hysteresisUs,
        ackTimeoutMs: o.ackTimeoutMs,
        groupGid,
        allowUids: o.allowUid ?? [],
        lv1: o.lv1Threshold !== undefined && o.lv1Batch !== undefined ? { threshold: o.lv1Threshold, batch: o.lv1Batch } : undefined,
        metricsPort: o.metricsPort,
        pollUs: o.pollUs,
      };
      const coord = new Coordinator(opts, log);
      await coord.start();
      if (coord.metricsPort !== undefined) log.log('info', `metrics on http://127.0.0.1:${coord.metricsPort}/metrics`, { event: 'metrics', port: coord.metricsPort });
      await new Promise<void>((done) => {
        let exiting = false;
        const finish = (code: number): void => {
          if (exiting) return;
          exiting = true;
          coord.stop();
          xserver?.kill('SIGTERM');
          process.exitCode = code;
          done();
        };
        process.once('SIGINT', () => finish(0));
        process.once('SIGTERM', () => finish(0));
        process.once('SIGHUP', () => finish(0));
        process.on('uncaughtException', (err) => {
          log.log('error', `uncaught error: ${err.stack ?? err.message}; releasing everything`);
          finish(1);
        });
        process.on('unhandledRejection', (err) => {
          log.log('error', `unhandled rejection: ${String(err)}; releasing everything`);
          finish(1);
        });
      });
    });
}
