#!/usr/bin/env node
// Benchmark (not a test): how fast the coordinator's data plane reacts to an online process
// going idle -> busy, from the shim's transition timestamp (busy_since_ns, written just before
// the doorbell FUTEX_WAKE) to the offline process's gate closed and its suspend request posted
// (both timestamped by the engine), next to the same engine polling every 1 ms (the seeds'
// design). Uses fake shims: control blocks written the way libxsb_hip.so writes them.
//
//   node bench/engine-latency.mjs [--n 300]      (XSB_BUILD_DIR selects the build, default ./build)
import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = process.env.XSB_BUILD_DIR || join(root, 'build');
const engine = createRequire(import.meta.url)(join(build, 'lib', 'xsb_engine.node'));
const nArg = process.argv.indexOf('--n');
const N = nArg > 0 ? Number(process.argv[nArg + 1]) : 300;

const dir = mkdtempSync(join(tmpdir(), 'xsb-bench-'));
const socket = join(dir, 'c.sock');
const waiters = [];
const events = [];
engine.start({ socket, mode: 0o600 }, (evs) => {
  for (const e of evs) {
    events.push(e);
    for (const w of [...waiters]) if (w.pred(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
  }
});
const next = (pred, ms = 2000) =>
  new Promise((resolve, reject) => {
    const hit = events.find(pred);
    if (hit) { events.splice(events.indexOf(hit), 1); return resolve(hit); }
    const w = { pred, resolve: (e) => { clearTimeout(t); events.splice(events.indexOf(e), 1); resolve(e); } };
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    waiters.push(w);
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function shim(cls) {
  const name = `/xsb-bench-${process.pid}-${cls}`;
  engine.fake.create(name, { pid: process.pid, cls: cls === 'online' ? 1 : 2 });
  const sock = createConnection(socket);
  await new Promise((r) => sock.once('connect', r));
  const open = await next((e) => e.kind === 'open');
  sock.write(JSON.stringify({ v: 1, type: 'hello', pid: process.pid, class: cls, priority: null, exe: 'bench', gpus: [1], mechanism: 'dbg-trap', shm: name }) + '\n');
  await next((e) => e.kind === 'line' && e.conn === open.conn);
  const r = engine.attach(open.conn, name);
  if (!r.ok) throw new Error(r.error);
  return { name, conn: open.conn, sock };
}

const on = await shim('online');
const off = await shim('offline');
engine.fake.executor(off.name, true);

const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };
async function measure(pollUs) {
  engine.setPlan({
    policy: 'hybrid', gateEnabled: true, hysteresisUs: 50, leaseMs: 2000, ackTimeoutMs: 1000, pollUs,
    procs: [
      { conn: on.conn, cls: 'online', priority: 15, gpus: [1], allowHold: true },
      { conn: off.conn, cls: 'offline', priority: 2, gpus: [1], allowHold: true },
    ],
  });
  await sleep(20);
  events.length = 0;
  const gate = [], post = [], seen = [];
  for (let i = 0; i < N; i++) {
    await sleep(1);
    // random phase against the polling period (timers alone would lock onto it)
    const spinUntil = performance.now() + Math.random() * 1.5;
    while (performance.now() < spinUntil);
    engine.fake.set(on.name, 'activity', 1);
    const g = await next((e) => e.kind === 'gate' && e.conn === off.conn && e.closed === 1);
    const p = await next((e) => e.kind === 'request' && e.conn === off.conn && e.what === 'hold');
    gate.push((g.t - g.t_busy) / 1e3);
    post.push((p.t - p.t_busy) / 1e3);
    seen.push((g.t_seen - g.t_busy) / 1e3);
    await next((e) => e.kind === 'ack' && e.conn === off.conn && e.what === 'hold');
    engine.fake.set(on.name, 'activity', 0);
    await next((e) => e.kind === 'gate' && e.conn === off.conn && e.closed === 0);
    events.length = 0;
  }
  return { gate, post, seen };
}

const fmt = (xs) => `p50 ${q(xs, 50).toFixed(1).padStart(7)} us   p99 ${q(xs, 99).toFixed(1).padStart(7)} us   max ${Math.max(...xs).toFixed(1).padStart(7)} us`;
const futex = await measure(0);
const polled = await measure(1000);
const st = engine.stats();
process.stdout.write(
  `engine latency, online idle->busy (shim timestamp) to ... (${N} transitions each; futex_waitv ${st.futexFallback ? 'UNAVAILABLE (fell back to polling)' : 'in use'})\n` +
    `  doorbell waits (futex_waitv):\n` +
    `    offline gate closed     ${fmt(futex.gate)}\n` +
    `    suspend request posted  ${fmt(futex.post)}\n` +
    `  1 ms polling loop (same engine, pollUs=1000):\n` +
    `    offline gate closed     ${fmt(polled.gate)}\n` +
    `    suspend request posted  ${fmt(polled.post)}\n`,
);
engine.stop(true);
for (const s of [on, off]) { s.sock.destroy(); engine.fake.remove(s.name); }
rmSync(dir, { recursive: true, force: true });
