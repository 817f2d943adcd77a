/**
 * Lifecycle of the emulated GPU device process (xsb-emu-device) in a device directory:
 * DIR/device.pid, DIR/device.sock (SOCK_SEQPACKET), DIR/device.log, DIR/sysfs.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { preloadEntries } from './env.js';
import { XsbError } from './errors.js';
import { artifactPath, requireArtifact } from './paths.js';

const DEVICE_COMM = 'xsb-emu-device';

export interface DeviceState {
  dir: string;
  pid: number | null;
  alive: boolean;
  socket: boolean;
}

export function deviceState(dir: string): DeviceState {
  const abs = resolve(dir);
  const pid = readPid(join(abs, 'device.pid'));
  return { dir: abs, pid, alive: pid !== null && pidIsDevice(pid), socket: existsSync(join(abs, 'device.sock')) };
}

export function deviceRunning(s: DeviceState): boolean {
  return s.alive && s.socket;
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** True while pid is a live (not zombie) xsb-emu-device: a stale pid file may name a reused pid. */
export function pidIsDevice(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // /proc/<pid>/stat: "pid (comm) state ..."; comm may itself contain ") ".
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const state = stat.slice(close + 2, close + 3);
  return comm === DEVICE_COMM && state !== 'Z' && state !== 'X';
}

/** The environment for the device itself: without our /dev/kfd interposer, which a shell that
 * ran `eval "$(xsb emu env)"` would otherwise preload into it. */
function deviceEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const ours = artifactPath('emuKfd');
  const kept = preloadEntries(env['LD_PRELOAD']).filter((p) => p !== ours);
  if (kept.length > 0) env['LD_PRELOAD'] = kept.join(':');
  else delete env['LD_PRELOAD'];
  return env;
}

function deviceArgs(dir: string, profile: string | undefined): string[] {
  return ['--dir', dir, ...(profile !== undefined ? ['--profile', resolve(profile)] : [])];
}

function prepareDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new XsbError(`cannot create the device directory ${dir}`, 'choose a writable --dir or XSB_EMU_DIR', {
      cause: err,
    });
  }
}

function logTail(dir: string, lines = 5): string {
  try {
    const text = readFileSync(join(dir, 'device.log'), 'utf8').trimEnd().split('\n').slice(-lines);
    return text.join(' | ');
  } catch {
    return '(no device.log)';
  }
}

export interface StartResult {
  pid: number;
  alreadyRunning: boolean;
  dir: string;
}

/**
 * Starts a device and waits until it reports readiness by writing 'R' on the inherited
 * descriptor XSB_EMU_READY_FD. The device daemonises itself (fork, setsid, stdio to /dev/null,
 * its own log in DIR/device.log): the process started here exits 0 at once and the byte comes
 * from the daemon, whose pid is in DIR/device.pid. Errors before it forks (bad arguments or
 * profile) go to DIR/device.log through the stdio given here.
 */
export async function startDevice(opts: { dir: string; profile?: string | undefined; timeoutMs?: number }): Promise<StartResult> {
  const dir = resolve(opts.dir);
  const device = requireArtifact('device');
  prepareDir(dir);
  const before = deviceState(dir);
  if (deviceRunning(before) && before.pid !== null) return { pid: before.pid, alreadyRunning: true, dir };
  if (before.alive) {
    throw new XsbError(
      `a device process (pid ${before.pid}) runs in ${dir} but has no device.sock`,
      `stop it with \`xsb emu stop --dir ${dir}\` and start again`,
    );
  }
  if (opts.profile !== undefined && !existsSync(opts.profile)) {
    throw new XsbError(`profile file ${opts.profile} does not exist`, 'pass the path of a device profile JSON file');
  }

  const log = openSync(join(dir, 'device.log'), 'a');
  // node:child_process rather than execa: the handshake needs an extra inherited pipe at fd 3
  // and the device must outlive this process.
  const child = spawn(device, deviceArgs(dir, opts.profile), {
    detached: true,
    stdio: ['ignore', log, log, 'pipe'],
    env: { ...deviceEnv(), XSB_EMU_READY_FD: '3' },
  });
  closeSync(log);
  const ready = child.stdio[3] as Readable | null;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const seeLog = `see ${join(dir, 'device.log')}`;
  try {
    await new Promise<void>((resolveReady, reject) => {
      let got = false;
      const timer = setTimeout(() => {
        reject(new XsbError(`the device did not report ready within ${timeoutMs} ms (log: ${logTail(dir)})`, seeLog));
      }, timeoutMs);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolveReady();
      };
      ready?.on('data', (chunk: Buffer) => {
        if (chunk.includes('R')) {
          got = true;
          done();
        }
      });
      // Every holder of the write end (starter, daemon) closed it without 'R': the daemon died.
      ready?.on('end', () => {
        if (!got) done(new XsbError(`the device exited before it was ready (log: ${logTail(dir)})`, seeLog));
      });
      child.once('error', (err) =>
        done(new XsbError(`cannot run ${device}`, 'run `npm install` to rebuild the native parts', { cause: err })),
      );
      child.once('exit', (code, signal) => {
        if (code === 0) return; // the starter's normal exit after forking the daemon
        done(new XsbError(`the device exited before it was ready (${signal ?? `status ${code}`}; log: ${logTail(dir)})`, seeLog));
      });
    });
  } finally {
    ready?.destroy();
    child.removeAllListeners();
    child.unref();
  }
  const now = deviceState(dir);
  if (!deviceRunning(now) || now.pid === null) {
    throw new XsbError(`the device reported ready but ${join(dir, 'device.pid')} names no live device`, seeLog);
  }
  // alreadyRunning stays false even if another starter won a race to this dir: both asked for
  // a device and one now serves it.
  return { pid: now.pid, alreadyRunning: false, dir };
}

/** Runs the device in this terminal until it exits; returns its exit status. */
export async function runDeviceForeground(opts: { dir: string; profile?: string | undefined }): Promise<number> {
  const dir = resolve(opts.dir);
  const device = requireArtifact('device');
  prepareDir(dir);
  const before = deviceState(dir);
  if (deviceRunning(before)) {
    throw new XsbError(`a device already runs in ${dir} (pid ${before.pid})`, `stop it with \`xsb emu stop --dir ${dir}\``);
  }
  const r = await execa(device, [...deviceArgs(dir, opts.profile), '--foreground'], { stdio: 'inherit', env: deviceEnv(), extendEnv: false, reject: false });
  return r.exitCode ?? 1;
}

/** Waits, bounded, until pid is no longer a live device (another process's exit cannot be
 * awaited directly from Node: no pidfd API, so this polls /proc). */
async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidIsDevice(pid)) {
    if (Date.now() >= deadline) return false;
    await delay(10);
  }
  return true;
}

export interface StopResult {
  dir: string;
  pid: number | null;
  wasRunning: boolean;
  how: 'shutdown' | 'SIGTERM' | 'none';
}

/** Stops the device: SHUTDOWN over its socket, SIGTERM if that is not possible; waits for exit. */
export async function stopDevice(opts: { dir: string; timeoutMs?: number }): Promise<StopResult> {
  const dir = resolve(opts.dir);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const st = deviceState(dir);
  if (!st.alive || st.pid === null) return { dir, pid: st.pid, wasRunning: false, how: 'none' };
  const pid = st.pid;
  let how: StopResult['how'] = 'SIGTERM';
  if (st.socket && existsSync(artifactPath('ctl'))) {
    const r = await execa(artifactPath('ctl'), ['--dir', dir, '--timeout-ms', String(timeoutMs), 'shutdown'], {
      reject: false,
    });
    if (r.exitCode === 0) how = 'shutdown';
  }
  if (how === 'SIGTERM') {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
        throw new XsbError(`cannot signal the device (pid ${pid})`, 'stop it as the user that started it', { cause: err });
      }
    }
  }
  if (!(await waitGone(pid, timeoutMs))) {
    throw new XsbError(`the device (pid ${pid}) did not exit within ${timeoutMs} ms`, `kill it with \`kill -9 ${pid}\``);
  }
  return { dir, pid, wasRunning: true, how };
}

export interface StatusResult {
  dir: string;
  running: boolean;
  pid: number | null;
  device: unknown;
}

/** Whether a device runs in dir and, if so, its STATUS JSON. */
export async function deviceStatus(opts: { dir: string; timeoutMs?: number }): Promise<StatusResult> {
  const dir = resolve(opts.dir);
  const st = deviceState(dir);
  if (!deviceRunning(st)) return { dir, running: false, pid: st.alive ? st.pid : null, device: null };
  const ctl = requireArtifact('ctl');
  const r = await execa(ctl, ['--dir', dir, '--timeout-ms', String(opts.timeoutMs ?? 5000), 'status'], { reject: false });
  if (r.exitCode !== 0) {
    throw new XsbError(`the device in ${dir} (pid ${st.pid}) did not answer STATUS: ${r.stderr.trim()}`, `see ${join(dir, 'device.log')}`);
  }
  let device: unknown;
  try {
    device = JSON.parse(r.stdout);
  } catch (err) {
    throw new XsbError(`the device in ${dir} sent STATUS that is not JSON`, `see ${join(dir, 'device.log')}`, { cause: err });
  }
  return { dir, running: true, pid: st.pid, device };
}
