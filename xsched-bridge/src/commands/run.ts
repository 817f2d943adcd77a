/**
 * `xsb run [--class] [--priority] [--mechanism] [--socket] -- CMD...`: starts CMD with the shim
 * (libxsb_hip.so) preloaded first, its XSB_* environment, and on the emulator backend the
 * emulator environment (its /dev/kfd interposer preloaded after the shim, so the shim's ioctl
 * wrapper sees every KFD call first). Signals are forwarded; the result is CMD's exit code.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chooseBackend, type BackendChoice } from '../backend.js';
import { emuEnv } from '../env.js';
import { XsbError } from '../errors.js';
import { buildDir, packageRoot } from '../paths.js';
import { resolveSocketPath } from '../socket-path.js';
import { XSB_ENV, type XsbClass, type XsbMechanism } from '../wire.js';
import { forwardedSignals, terminalSentToGroup, waitChild } from './common.js';

export const CLASSES: readonly XsbClass[] = ['online', 'offline'];
export const MECHANISMS: readonly XsbMechanism[] = ['dbg-trap', 'deactivate'];

export interface RunOptions {
  command: string[];
  class?: string | undefined;
  priority?: number | undefined;
  mechanism?: string | undefined;
  socket?: string | undefined;
  emulate?: boolean | undefined;
  dir?: string | undefined;
  profile?: string | undefined;
  quiet?: boolean | undefined;
}

export function shimPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(buildDir(env), 'lib', 'libxsb_hip.so');
}

/** ld.so splits LD_PRELOAD on spaces and colons: the shim goes first, the rest keeps its order. */
export function composePreload(first: string, existing: string | undefined): string {
  const rest = (existing ?? '').split(/[:\s]+/).filter((p) => p !== '' && p !== first);
  return [first, ...rest].join(':');
}

export interface RunPlan {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  choice: BackendChoice;
  socket: string;
}

/** Validates the options and computes the child's environment (no side effects). */
export function planRun(o: RunOptions, base: NodeJS.ProcessEnv = process.env): RunPlan {
  const [file, ...args] = o.command;
  if (file === undefined || file === '') {
    throw new XsbError('no command to run', 'put it after --, e.g. `xsb run --class offline -- python train.py`', { exitCode: 2 });
  }
  const cls = o.class ?? base[XSB_ENV.CLASS];
  if (cls !== undefined && cls !== '' && !CLASSES.includes(cls as XsbClass)) {
    const from = o.class !== undefined ? '--class' : 'XSB_CLASS';
    throw new XsbError(`${from} "${cls}" is not a class`, 'use online or offline', { exitCode: 2 });
  }
  if (o.priority !== undefined && (cls === undefined || cls === '')) {
    // The shim ignores a priority without a class (it would run untouched): say so now.
    throw new XsbError('--priority needs a class', 'add --class online|offline (or set XSB_CLASS)', { exitCode: 2 });
  }
  const mech = o.mechanism ?? base[XSB_ENV.MECHANISM];
  if (mech !== undefined && mech !== '' && !MECHANISMS.includes(mech as XsbMechanism)) {
    const from = o.mechanism !== undefined ? '--mechanism' : 'XSB_MECHANISM';
    throw new XsbError(`${from} "${mech}" is not a suspend mechanism`, 'use dbg-trap or deactivate', { exitCode: 2 });
  }
  const shim = shimPath(base);
  if (!existsSync(shim)) {
    throw new XsbError(`the shim ${shim} is missing`, `run \`npm install\` in ${packageRoot()} to build the native parts`);
  }

  const choice = chooseBackend({ emulate: o.emulate });
  let env: NodeJS.ProcessEnv = { ...base };
  if (choice.backend === 'emu') env = { ...env, ...emuEnv({ dir: o.dir, profile: o.profile, base }) };
  env['LD_PRELOAD'] = composePreload(shim, env['LD_PRELOAD']);
  const socket = resolveSocketPath(o.socket, base);
  env[XSB_ENV.SOCKET] = socket;
  if (o.class !== undefined) env[XSB_ENV.CLASS] = o.class;
  if (o.priority !== undefined) env[XSB_ENV.PRIORITY] = String(o.priority);
  if (o.mechanism !== undefined) env[XSB_ENV.MECHANISM] = o.mechanism;
  return { file, args, env, choice, socket };
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

export async function runCommand(o: RunOptions): Promise<number> {
  const plan = planRun(o);
  if (!isSocket(plan.socket) && o.quiet !== true) {
    process.stderr.write(
      `xsched-bridge: no coordinator listens at ${plan.socket}: the shim only sets queue priorities, nothing ` +
        'throttles or suspends the program (start `xsb coordinator`, or pass --socket)\n',
    );
  }
  const child = spawn(plan.file, plan.args, { stdio: 'inherit', env: plan.env });
  try {
    return await waitChild(child, forwardedSignals, terminalSentToGroup);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new XsbError(`command not found: ${plan.file}`, 'check its name and PATH (or give its full path)', { cause: err, exitCode: 127 });
    }
    if (code === 'EACCES') {
      throw new XsbError(`${plan.file} is not executable (EACCES)`, 'check its permissions (chmod +x)', { cause: err, exitCode: 126 });
    }
    throw new XsbError(`cannot start ${plan.file} (${code ?? String(err)})`, 'check the command', { cause: err });
  }
}
