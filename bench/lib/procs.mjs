// Shared by bench/run.mjs and bench/soak.mjs: the build and its programs, an emulated device
// of our own, the coordinator as a user runs it (dist/cli.js), registry queries, shimmed
// workloads, quantiles and RSS. Plain ESM so it runs without a TypeScript step.
import { spawn, execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cpus, loadavg, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const build = process.env.XSB_BUILD_DIR ? process.env.XSB_BUILD_DIR : join(root, 'build');
export const cli = join(root, 'dist', 'cli.js');
export const run = promisify(execFile);

/** Fails with what to build when a part is missing. */
export function need(paths) {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    process.stderr.write(
      `missing: ${missing.join(', ')}\n` +
        `build the native parts and the CLI first: npm run build (or cmake -S . -B ${build} && cmake --build ${build} -j2; ` +
        `XSB_BUILD_DIR selects another build directory)\n`,
    );
    process.exit(2);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits for fn() to return something truthy, polling every `every` ms, up to `ms`. */
export async function until(what, fn, ms = 10_000, every = 5) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Nearest-rank quantile (same rule as bench/engine-latency.mjs). */
export function quantile(xs, p) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
export const median = (xs) => quantile(xs, 50);
export const p50p99 = (xs) => ({ p50: quantile(xs, 50), p99: quantile(xs, 99), n: xs.length });

export function machine() {
  const c = cpus();
  return { cores: c.length, model: c[0]?.model ?? 'unknown', kernel: release(), node: process.version, loadavg_1m: Number(loadavg()[0].toFixed(2)) };
}

/** Environment of a program on the emulated device in `emuDir`, with or without the shim. */
export function emuEnv(emuDir, { shim = false, cls, socket, extra = {} } = {}) {
  const preload = [shim ? join(build, 'lib', 'libxsb_hip.so') : null, join(build, 'lib', 'libxsb_emu_kfd.so')].filter(Boolean).join(' ');
  const env = {
    ...process.env,
    LD_PRELOAD: preload,
    LD_LIBRARY_PATH: join(build, 'lib', 'emu'),
    XSB_EMU_DIR: emuDir,
    XSB_SYSFS_ROOT: join(emuDir, 'sysfs'),
    XSB_BUILD_DIR: build,
    ...extra,
  };
  delete env.XSB_CLASS;
  delete env.XSB_SOCKET;
  if (cls) env.XSB_CLASS = cls;
  if (socket) env.XSB_SOCKET = socket;
  return env;
}

/** Starts the device process of the emulator in `emuDir` (detached from our signals). */
export async function startDevice(emuDir) {
  const { startDevice: start } = await import(join(root, 'dist', 'emu.js'));
  return start({ dir: emuDir });
}
export async function stopDevice(emuDir) {
  const { stopDevice: stop } = await import(join(root, 'dist', 'emu.js'));
  return stop({ dir: emuDir });
}
export async function devicePid(emuDir) {
  const s = await emuStatus(emuDir);
  return s.pid ?? null;
}
export async function emuStatus(emuDir) {
  const r = await run(join(build, 'bin', 'xsb-emu-ctl'), ['--dir', emuDir, 'status'], { maxBuffer: 64 << 20 });
  return JSON.parse(r.stdout);
}

/** A workload program; resolves `done` with its exit code and `result()` reads its JSON. */
export function workload(args, env, json, { onStderr } = {}) {
  const proc = spawn(join(build, 'bin', 'xsb-workload'), [...args, '--json', json], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    if (err.length < 65536) err += d;
    onStderr?.(d);
  });
  const done = new Promise((r) => proc.on('exit', (code, sig) => r(code ?? 128 + (sig === 'SIGKILL' ? 9 : 15))));
  return { proc, pid: proc.pid, done, stderr: () => err, result: () => JSON.parse(readFileSync(json, 'utf8')) };
}

/** The coordinator (dist/cli.js coordinator, JSON log on stderr); onEvent sees each log line. */
export async function startCoordinator(socket, args = [], { onEvent, env = {} } = {}) {
  const proc = spawn(process.execPath, [cli, 'coordinator', '--socket', socket, '--log-format', 'json', ...args], {
    env: { ...process.env, XSB_BUILD_DIR: build, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let buf = '';
  let listening = false;
  let failed = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let e;
      try {
        e = JSON.parse(line);
      } catch {
        e = { level: 'raw', msg: line };
      }
      if (e.event === 'listening') listening = true;
      if (!listening && failed.length < 4000) failed += `${e.msg}\n`;
      onEvent?.(e);
    }
  });
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r(code ?? sig)));
  let gone = false;
  void exited.then(() => (gone = true));
  await until('the coordinator to listen', () => listening || gone, 15_000);
  if (!listening) throw new Error(`the coordinator did not start: ${failed}`);
  return {
    proc,
    pid: proc.pid,
    exited,
    stop: async (sig = 'SIGTERM') => {
      if (!gone) proc.kill(sig);
      return exited;
    },
  };
}

/** The registry query (protocol.ts); rejects after `ms`. */
export function query(socket, ms = 5000) {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    let b = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no registry answer from ${socket} within ${ms} ms`));
    }, ms);
    s.setEncoding('utf8');
    s.on('connect', () => s.write('{"v":1,"type":"query","what":"registry"}\n'));
    s.on('data', (d) => (b += d));
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(b.split('\n')[0]));
      } catch (e) {
        reject(new Error(`bad registry answer: ${b.slice(0, 200)}`));
      }
    });
  });
}

/** Resident set size of a process in KiB (VmRSS), null once it is gone. */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Least-squares slope of ys over xs. */
export function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
