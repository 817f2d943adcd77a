#!/usr/bin/env node
// `npm run soak -- --minutes 10`: the long run (not part of CI). On the emulated GPU, under the
// coordinator (policy hybrid): an online job issuing a request every 100 ms against an offline
// job, so about 10 preemptions per second (hold on each request, release after it). Reports:
//   - missed resumes (must be 0): a hold whose release was not acknowledged (RUN not acked, acked
//     by a timeout, or acked in an error state; or still pending for a live process at the end),
//     and queues still held after the run (device flags, registry gate/exec state);
//   - RSS of every process (coordinator, device, each shimmed program) sampled over time: first,
//     last, max and the slope after warm-up, each judged flat or growing;
//   - then the fault and fuzz suites at soak size: --kill-trials coordinator SIGKILLs while held
//     (xsched-bridge/test/fault-coordinator.test.ts) and --fuzz-messages hostile protocol lines
//     (xsched-bridge/test/hostile-protocol.test.ts).
// Options: --minutes M (10), --kill-trials N (100), --fuzz-messages N (100000), --sample-s S (1),
// --json FILE (everything, RSS series included), --no-faults (the load phase only).
// Exit status 0 when every check passes, 1 otherwise. The output format is described in README.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, cli, emuEnv, emuStatus, machine, need, quantile, query, root, rssKiB, slope, startCoordinator, startDevice, stopDevice, until, workload } from './lib/procs.mjs';

function opt(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return typeof dflt === 'number' ? Number(v) : v;
}
if (process.argv.includes('--help')) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
const O = {
  minutes: opt('minutes', 10),
  killTrials: opt('kill-trials', 100),
  fuzzMessages: opt('fuzz-messages', 100000),
  sampleS: opt('sample-s', 1),
  json: opt('json', null),
  faults: !process.argv.includes('--no-faults'),
};
for (const [k, v] of Object.entries(O)) if (typeof v === 'number' && !(v > 0)) throw new Error(`--${k} must be a positive number`);
need([cli, join(build, 'bin', 'xsb-workload'), join(build, 'lib', 'libxsb_hip.so'), join(build, 'lib', 'xsb_engine.node')]);

const PERIOD_MS = 100;
const ONLINE_KERNEL_US = 2000;
const KERNELS_PER_REQUEST = 2;
const OFFLINE_KERNEL_US = 20000;
const HYSTERESIS_US = 2000;
const durationMs = O.minutes * 60_000;
const requests = Math.max(1, Math.round(durationMs / PERIOD_MS));

const work = mkdtempSync(join(tmpdir(), 'xsb-soak-'));
const emuDir = join(work, 'emu');
const socket = join(work, 'coord.sock');
const say = (s) => process.stdout.write(`${s}\n`);
const note = (s) => process.stderr.write(`soak: ${s}\n`);
const report = { date: new Date().toISOString(), backend: 'emu', machine: machine(), options: O, checks: {} };

// ---- the coordinator's decisions, from its log -----------------------------------------------
const ev = { holdsPosted: 0, holdsAcked: 0, runsPosted: 0, runsAcked: 0, missedRuns: [], ackTimeouts: 0, errors: [] };
const pendingRun = new Map(); // pid -> time a HOLD was acked and no RUN ack yet
const alive = new Set();
function onEvent(e) {
  if (e.event === 'attached') alive.add(e.pid);
  if (e.event === 'detached') {
    alive.delete(e.pid);
    pendingRun.delete(e.pid); // gone: nothing left to resume
  }
  if (e.event === 'request') {
    if (e.what === 'hold') ev.holdsPosted++;
    else ev.runsPosted++;
  }
  if (e.event === 'ack') {
    if (e.timeout) ev.ackTimeouts++;
    if (e.what === 'hold' && !e.timeout && e.exec_state === 3) {
      ev.holdsAcked++;
      pendingRun.set(e.pid, Date.now());
    }
    if (e.what === 'run') {
      // released: exec_state running (1); a timeout or an error state is a missed resume
      if (!e.timeout && e.exec_state === 1) {
        ev.runsAcked++;
        pendingRun.delete(e.pid);
      } else if (alive.has(e.pid)) {
        ev.missedRuns.push({ pid: e.pid, timeout: e.timeout, exec_state: e.exec_state, exec_error: e.exec_error, t: e.t });
      }
    }
  }
  if (e.level === 'error' || e.level === 'raw') ev.errors.push(e.msg);
}

// ---- RSS sampling --------------------------------------------------------------------------
const t0 = Date.now();
const series = new Map(); // label -> [[t_s, kib]...]
const watched = new Map(); // label -> pid
function sample() {
  const t = (Date.now() - t0) / 1000;
  for (const [label, pid] of watched) {
    const k = rssKiB(pid);
    if (k === null) continue;
    if (!series.has(label)) series.set(label, []);
    series.get(label).push([Number(t.toFixed(2)), k]);
  }
}
/** first/last/max and the slope after the first 10 % (warm-up); flat when the growth the
 * slope predicts over the run stays under max(2 MiB, 5 % of the first sample). */
function rssSummary(points) {
  const ks = points.map((p) => p[1]);
  const warm = points.slice(Math.floor(points.length * 0.1));
  const s = slope(warm.map((p) => p[0] / 60), warm.map((p) => p[1])); // KiB per minute
  const spanMin = warm.length > 1 ? (warm[warm.length - 1][0] - warm[0][0]) / 60 : 0;
  const allowance = Math.max(2048, 0.05 * ks[0]);
  return { samples: ks.length, first: ks[0], last: ks[ks.length - 1], max: Math.max(...ks), slope_kib_per_min: Number(s.toFixed(1)), flat: s * spanMin <= allowance };
}

async function runVitest(file, filter, env) {
  const args = [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', file, ...(filter ? ['-t', filter] : [])];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: root, env: { ...process.env, XSB_BUILD_DIR: build, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

let coord;
let pass = true;
const fail = (why) => {
  pass = false;
  note(`FAIL: ${why}`);
};
try {
  const dev = await startDevice(emuDir);
  watched.set('device', dev.pid);
  coord = await startCoordinator(socket, ['--policy', 'hybrid', '--hysteresis-us', String(HYSTERESIS_US), '--log-level', 'debug'], { onEvent });
  watched.set('coordinator', coord.pid);
  const sampler = setInterval(sample, O.sampleS * 1000);
  sample();

  note(`${O.minutes} min: online request every ${PERIOD_MS} ms (${requests} requests) against an offline job; work dir ${work}`);
  const online = workload(
    ['--kernel-us', String(ONLINE_KERNEL_US), '--count', String(requests * KERNELS_PER_REQUEST), '--period-ms', String(PERIOD_MS), '--requests', String(requests), '--kernels-per-request', String(KERNELS_PER_REQUEST)],
    emuEnv(emuDir, { shim: true, cls: 'online', socket }),
    join(work, 'online.json'),
  );
  watched.set(`online (pid ${online.pid})`, online.pid);
  let onlineDone = false;
  void online.done.then(() => (onlineDone = true));

  // the offline job: instances sized to end near the online run's end, restarted until it does
  const offline = [];
  let current = null;
  const startOffline = () => {
    const left = Math.max(5000, durationMs - (Date.now() - t0));
    const count = Math.max(50, Math.round((left * 0.8) / (OFFLINE_KERNEL_US / 1000)));
    const i = offline.length;
    const w = workload(['--kernel-us', String(OFFLINE_KERNEL_US), '--count', String(count)], emuEnv(emuDir, { shim: true, cls: 'offline', socket }), join(work, `offline-${i}.json`));
    watched.set(`offline #${i + 1} (pid ${w.pid})`, w.pid);
    const entry = { w, count, code: null };
    offline.push(entry);
    current = entry;
    void w.done.then((code) => {
      entry.code = code;
      if (!onlineDone) startOffline();
    });
  };
  startOffline();

  let lastLog = Date.now();
  while (!onlineDone) {
    await new Promise((r) => setTimeout(r, 250));
    if (Date.now() - lastLog >= 30_000) {
      lastLog = Date.now();
      const reg = await query(socket).catch((e) => ({ error: e.message }));
      if (reg.error) fail(`registry query failed mid-run: ${reg.error}`);
      note(`${((Date.now() - t0) / 60000).toFixed(1)} min: ${ev.holdsAcked} holds acked, ${ev.runsAcked} releases acked, ${ev.missedRuns.length} missed`);
    }
  }
  const onlineMs = Date.now() - t0;
  if ((await online.done) !== 0) fail(`online program exited ${await online.done}: ${online.stderr().slice(-500)}`);
  note('online run over; waiting for the last offline instance');
  await until('the last offline instance', () => current.code !== null, 5 * 60_000, 100).catch(() => fail('the last offline instance did not finish within 5 min'));
  clearInterval(sampler);
  sample();

  // after the run: nothing held anywhere
  const settleUntil = Date.now() + 2000;
  const stillHeld = await until(
    'nothing held',
    async () => {
      const st = await emuStatus(emuDir);
      const held = (st.processes ?? []).flatMap((p) => (p.queues ?? []).filter((q) => (q.flags ?? []).some((f) => f === 'suspended' || f === 'deactivated')).map((q) => ({ pid: p.pid, queue: q.queue_id, flags: q.flags })));
      const reg = await query(socket);
      const regHeld = reg.processes.filter((p) => p.gate === 'closed' || p.exec_state === 'held' || p.engine.hold).map((p) => ({ pid: p.pid, gate: p.gate, exec_state: p.exec_state }));
      const all = [...held, ...regHeld];
      return all.length === 0 || Date.now() > settleUntil ? all : null;
    },
    5000,
    50,
  );
  const pendingAtEnd = [...pendingRun.keys()].filter((pid) => alive.has(pid));

  const on = online.result();
  const off = offline.map((o) => {
    try {
      const r = o.w.result();
      return { pid: o.w.pid, code: o.code, expected: r.kernels_expected, completed: r.kernels_completed };
    } catch {
      return { pid: o.w.pid, code: o.code, expected: o.count, completed: null };
    }
  });
  const missed = ev.missedRuns.length + pendingAtEnd.length + stillHeld.length;
  const rss = Object.fromEntries([...series].map(([k, pts]) => [k, { ...rssSummary(pts), series: pts }]));

  report.load = {
    minutes: Number((onlineMs / 60000).toFixed(2)),
    policy: 'hybrid',
    preemptions: { holds_posted: ev.holdsPosted, holds_acked: ev.holdsAcked, runs_posted: ev.runsPosted, runs_acked: ev.runsAcked, ack_timeouts: ev.ackTimeouts, per_s: Number((ev.holdsAcked / (onlineMs / 1000)).toFixed(2)) },
    missed_resumes: { total: missed, release_not_acked: ev.missedRuns, pending_at_end: pendingAtEnd, still_held_after_run: stillHeld },
    online: { requests, kernels_expected: on.kernels_expected, kernels_completed: on.kernels_completed, latency_ms: on.latency_ms ? { p50: on.latency_ms.p50, p99: on.latency_ms.p99, max: on.latency_ms.max } : null },
    offline: off,
    coordinator_errors: ev.errors.slice(0, 20),
    rss_kib: rss,
  };
  if (missed !== 0) fail(`${missed} missed resume(s)`);
  if (on.kernels_completed !== on.kernels_expected) fail(`online completed ${on.kernels_completed}/${on.kernels_expected}`);
  for (const o of off) if (o.code !== 0 || o.completed !== o.expected) fail(`offline pid ${o.pid} exit ${o.code}, ${o.completed}/${o.expected} kernels`);
  for (const [k, r] of Object.entries(rss)) if (!r.flat && r.samples >= 10) fail(`RSS of ${k} grows (${r.slope_kib_per_min} KiB/min)`);
  if (ev.errors.length > 0) fail(`coordinator logged ${ev.errors.length} error(s): ${ev.errors[0]}`);

  // ---- print the load phase --------------------------------------------------------------
  const L = report.load;
  say(`soak: ${L.minutes} min on the emulated GPU, policy hybrid: online request every ${PERIOD_MS} ms (${KERNELS_PER_REQUEST} x ${ONLINE_KERNEL_US / 1000} ms kernels) against an offline job (${OFFLINE_KERNEL_US / 1000} ms kernels)`);
  say(`preemptions: ${L.preemptions.holds_acked} holds acknowledged (${L.preemptions.per_s}/s), ${L.preemptions.runs_acked} releases acknowledged, ${L.preemptions.ack_timeouts} ack timeouts`);
  say(`missed resumes: ${missed} (release not acknowledged ${ev.missedRuns.length}, hold pending at the end ${pendingAtEnd.length}, queues still held after the run ${stillHeld.length})  ${missed === 0 ? 'PASS' : 'FAIL'}`);
  say(`online: ${requests} requests, ${on.kernels_completed}/${on.kernels_expected} kernels, latency p50 ${on.latency_ms?.p50?.toFixed(2)} / p99 ${on.latency_ms?.p99?.toFixed(2)} / max ${on.latency_ms?.max?.toFixed(2)} ms`);
  say(`offline: ${off.length} instance(s), ${off.reduce((n, o) => n + (o.completed ?? 0), 0)}/${off.reduce((n, o) => n + o.expected, 0)} kernels`);
  say(`RSS (KiB, every ${O.sampleS} s)${' '.repeat(12)}first      last       max   slope KiB/min`);
  for (const [k, r] of Object.entries(rss)) {
    say(`  ${k.padEnd(32)} ${String(r.first).padStart(8)}  ${String(r.last).padStart(8)}  ${String(r.max).padStart(8)}  ${String(r.slope_kib_per_min).padStart(8)}  ${r.samples < 10 ? `(${r.samples} samples)` : r.flat ? 'flat' : 'GROWING'}`);
  }
  await coord.stop();
  coord = undefined;

  // ---- faults and fuzzing at soak size ---------------------------------------------------
  if (O.faults) {
    note(`${O.killTrials} coordinator SIGKILLs while held (vitest fault-coordinator)`);
    const k = await runVitest('xsched-bridge/test/fault-coordinator.test.ts', 'SIGKILL', { XSB_KILL_TRIALS: String(O.killTrials) });
    const kl = /SIGKILL trials: (\d+), release after kill p50 (\d+) ms, max (\d+) ms \(lease (\d+) ms\)/.exec(k.out);
    report.checks.sigkill = { trials: O.killTrials, passed: k.code === 0, summary: kl?.[0] ?? null, output: k.code === 0 ? undefined : k.out.slice(-3000) };
    say(`SIGKILL while held: ${kl ? `${kl[1]}/${O.killTrials} trials released within the ${kl[4]} ms lease (p50 ${kl[2]} ms, max ${kl[3]} ms), every kernel completed` : `${O.killTrials} trials`}  ${k.code === 0 ? 'PASS' : 'FAIL'}`);
    if (k.code !== 0) fail(`SIGKILL trials failed:\n${k.out.slice(-3000)}`);

    note(`${O.fuzzMessages} hostile protocol lines (vitest hostile-protocol)`);
    const f = await runVitest('xsched-bridge/test/hostile-protocol.test.ts', null, { XSB_FUZZ_MESSAGES: String(O.fuzzMessages) });
    const fl = /protocol fuzz: (\d+) lines in (\d+) batches/.exec(f.out);
    report.checks.fuzz = { messages: O.fuzzMessages, passed: f.code === 0, summary: fl?.[0] ?? null, output: f.code === 0 ? undefined : f.out.slice(-3000) };
    say(`protocol fuzz: ${fl ? `${fl[1]} lines in ${fl[2]} batches` : `${O.fuzzMessages} lines`}; coordinator alive, answering, registry cleaned after every batch  ${f.code === 0 ? 'PASS' : 'FAIL'}`);
    if (f.code !== 0) fail(`protocol fuzz failed:\n${f.out.slice(-3000)}`);
  }
  report.pass = pass;
  say(`result: ${pass ? 'PASS' : 'FAIL'}`);
} catch (err) {
  pass = false;
  report.pass = false;
  report.error = String(err?.stack ?? err);
  note(`error: ${report.error}`);
} finally {
  if (coord) await coord.stop('SIGKILL');
  await stopDevice(emuDir).catch(() => {});
  if (O.json) writeFileSync(O.json, `${JSON.stringify(report, null, 2)}\n`);
  rmSync(work, { recursive: true, force: true });
}
process.exit(pass ? 0 : 1);
