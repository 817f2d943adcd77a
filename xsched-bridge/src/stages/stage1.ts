/** Stage 1 baseline: environment, XSched installation, HIP API coverage under the shims. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, CoordinatorProc, programEnv, queryRegistry, until, withTimeout } from '../compare/orchestrate.js';
import { XsbError } from '../errors.js';
import { buildDir, packageRoot } from '../paths.js';
import { expectTrue, skipped, type Outcome, type StageContext } from './context.js';
import type { Check } from './checks.js';
import type { Criterion } from './record.js';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v "${cmd}"`], { stdio: 'ignore' }).status === 0;
}

async function environment(ctx: StageContext): Promise<Outcome> {
  const file = join(ctx.workDir, 'doctor.json');
  const args = [cliPath(), ...(ctx.target.backend === 'emu' ? ['--emulate'] : []), 'doctor', '--json', file];
  if (ctx.target.backend === 'emu' && ctx.target.emuDir !== undefined) args.push('--dir', ctx.target.emuDir);
  if (ctx.xsched !== undefined) args.push('--xsched', ctx.xsched);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 });
  if (!existsSync(file)) throw new XsbError(`doctor wrote no JSON (exit ${r.status}): ${(r.stderr ?? '').trim()}`, 'run `xsched-bridge doctor` by hand');
  const rep = JSON.parse(readFileSync(file, 'utf8')) as { checks: { id: string; name: string; status: string; detail: string; fix: string | null }[]; summary: Record<string, number> };
  const bad = rep.checks.filter((c) => c.status === 'fail' || c.status === 'warn');
  return {
    metrics: { ...rep.summary, checks: rep.checks.map((c) => ({ id: c.id, status: c.status, detail: c.detail })) },
    criteria: rep.checks.filter((c) => c.status !== 'skip').map((c) => expectTrue(`doctor.${c.id} not fail`, c.status !== 'fail')),
    notes: bad.length === 0 ? 'every doctor precondition holds' : bad.map((c) => `${c.status}: ${c.name}: ${c.detail}${c.fix ? ` (fix: ${c.fix})` : ''}`).join('; '),
  };
}

const XSCHED_SYMBOLS: [string, string[]][] = [
  ['lib/libpreempt.so', ['XQueueCreate', 'XQueueSubmit', 'XHintPriority']],
  ['lib/libshimhip.so', ['hipLaunchKernel']],
];

async function xschedInstall(ctx: StageContext): Promise<Outcome> {
  if (ctx.xsched === undefined) return skipped('no XSched installation given', 'pass --xsched PREFIX (XSched built for HIP: make hip INSTALL_PATH=PREFIX)');
  const p = ctx.xsched;
  const crit: Criterion[] = [];
  const metrics: Record<string, unknown> = { prefix: p };
  for (const [lib, syms] of XSCHED_SYMBOLS) {
    const f = join(p, lib);
    const present = existsSync(f);
    crit.push(expectTrue(`${lib} present`, present));
    if (!present) continue;
    const nm = spawnSync('nm', ['-D', '--defined-only', f], { encoding: 'utf8' });
    for (const s of syms) crit.push(expectTrue(`${lib} exports ${s}`, new RegExp(`\\b${s}\\b`).test(nm.stdout ?? '')));
  }
  crit.push(expectTrue('bin/xserver present', existsSync(join(p, 'bin', 'xserver'))));
  const ex = ['examples', 'share/xsched/examples'].map((d) => join(p, d)).find((d) => existsSync(d));
  metrics['examples'] = ex ?? null;
  return { metrics, criteria: crit, notes: ex ? `examples found in ${ex} (not run: they need a real GPU build)` : 'no examples directory in the installation' };
}

/** Builds the probe for the backend: hipcc with ROCm, else g++ against the emulated runtime. */
export function buildProbe(ctx: StageContext): { path: string } | { skip: string; enable: string } {
  const src = join(packageRoot(), 'stages', 'probe', 'xsb_api_probe.cpp');
  const wl = join(packageRoot(), 'stages', 'workloads');
  const out = join(ctx.workDir, 'probe');
  mkdirSync(out, { recursive: true });
  const exe = join(out, 'xsb-api-probe');
  let r;
  if (ctx.target.backend === 'kfd') {
    if (!onPath('hipcc')) return { skip: 'hipcc is not installed, so the probe cannot be built for the real GPU', enable: 'install ROCm (hipcc) and run the stage again' };
    r = spawnSync('hipcc', ['-std=c++17', '-O1', '-I', wl, src, join(wl, 'spin_kernel.cpp'), '-o', exe], { encoding: 'utf8', env: { ...process.env, HIP_PLATFORM: 'amd' } });
  } else {
    if (!onPath('g++')) return { skip: 'g++ is not installed', enable: 'apt-get install g++' };
    const lib = join(buildDir(), 'lib', 'emu');
    r = spawnSync('g++', ['-std=c++17', '-O1', '-D_GNU_SOURCE', '-I', wl, src, join(wl, 'spin_kernel.cpp'), '-o', exe, '-L', lib, '-lamdhip64', '-ldl', `-Wl,-rpath,${lib}`], { encoding: 'utf8' });
  }
  if (r.status !== 0) throw new XsbError(`the API probe did not build: ${(r.stderr ?? '').trim().slice(-600)}`, 'check the compiler and the native build');
  return { path: exe };
}

interface ProbeLine {
  check: string;
  ok?: boolean;
  detail?: string;
  launches?: number;
}

/** Runs the probe; at its "done" line calls atDone (it is still attached), then lets it exit. */
async function runProbe(exe: string, env: NodeJS.ProcessEnv, atDone: (pid: number, launches: number) => Promise<void>): Promise<{ lines: ProbeLine[]; code: number | null }> {
  const proc = spawn(exe, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: ProbeLine[] = [];
  let buf = '';
  let err = '';
  let doneSeen: ((n: number) => void) | undefined;
  const done = new Promise<number>((r) => (doneSeen = r));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!l.startsWith('{')) continue;
      try {
        const o = JSON.parse(l) as ProbeLine;
        lines.push(o);
        if (o.check === 'done') doneSeen?.(o.launches ?? 0);
      } catch {
        /* not a probe line */
      }
    }
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  const first = await withTimeout(Promise.race([done, exited.then(() => -1)]), 60_000);
  if (first === 'timeout' || first === -1) {
    proc.kill('SIGKILL');
    throw new XsbError(`the API probe ${first === 'timeout' ? 'hung' : 'exited early'}: ${err.trim().slice(-400)}`, 'see the device log');
  }
  try {
    await atDone(proc.pid ?? -1, first);
  } finally {
    proc.stdin.end('exit\n');
  }
  const code = await withTimeout(exited, 30_000);
  if (code === 'timeout') {
    proc.kill('SIGKILL');
    throw new XsbError('the API probe did not exit after its checks', 'see the device log');
  }
  return { lines, code };
}

async function apiUnderShim(ctx: StageContext, xsched: boolean): Promise<Outcome> {
  if (xsched && ctx.xsched === undefined) return skipped("no XSched installation given, so there is no XSched shim to run under", 'pass --xsched PREFIX');
  const b = buildProbe(ctx);
  if ('skip' in b) return skipped(b.skip, b.enable);
  const socket = join(ctx.workDir, `probe-${xsched ? 'xsched' : 'xsb'}.sock`);
  const coord = xsched ? null : await CoordinatorProc.start(socket, ['--policy', 'none']);
  const extra = xsched && ctx.xsched !== undefined ? [join(ctx.xsched, 'lib', 'libshimhip.so')] : [];
  const env = programEnv(ctx.target, { shim: !xsched, extraPreload: extra, vars: xsched ? { XSCHED_AUTO_XQUEUE: 'ON' } : { XSB_SOCKET: socket, XSB_CLASS: 'offline' } });
  const metrics: Record<string, unknown> = {};
  const crit: Criterion[] = [];
  try {
    const r = await runProbe(b.path, env, async (pid, launches) => {
      metrics['probe_launches'] = launches;
      if (coord === null) return;
      const p = await until('the probe in the registry', async () => (await queryRegistry(socket)).processes.find((x) => x.pid === pid), 5000, 50);
      metrics['shim_launches'] = p.counters['launches'] ?? 0;
      metrics['shim_queues'] = p.queues.length;
      metrics['shim_class'] = p.class;
      crit.push(expectTrue('the shim attached the probe with its KFD queues', p.queues.length > 0));
      crit.push(expectTrue('the shim counted every launch (launches >= probe launches)', (p.counters['launches'] ?? 0) >= launches));
    });
    for (const l of r.lines) {
      if (l.check === 'done') continue;
      metrics[l.check] = l.detail ?? '';
      crit.push(expectTrue(l.check, l.ok === true));
    }
    crit.push(expectTrue('probe exit status 0', r.code === 0));
  } finally {
    await coord?.stop();
  }
  const failed = crit.filter((c) => c.met === false).map((c) => c.metric);
  return {
    metrics,
    criteria: crit,
    notes: failed.length
      ? `failed: ${failed.join(', ')}`
      : `device query, malloc, copies (sync, async, memset), ${xsched ? '' : 'every '}launch flavour (chevron, hipLaunchKernel, null stream, _spt, module, ext module, cooperative, graph), streams, events and free all had their effect${xsched ? " under XSched's shim" : ' under the shim, which counted every launch'}`,
  };
}

export const STAGE1: Check[] = [
  { id: 'S1.1', stage: 1, name: 'environment (doctor preconditions)', run: environment },
  { id: 'S1.2', stage: 1, name: 'XSched installation (libraries, exported API, server, examples)', run: xschedInstall },
  { id: 'S1.3', stage: 1, name: 'HIP API coverage under the xsched-bridge shim', run: (c) => apiUnderShim(c, false) },
  { id: 'S1.4', stage: 1, name: "HIP API coverage under XSched's shim", run: (c) => apiUnderShim(c, true) },
];
