// The koffi bindings against the emulated driver, from real processes: a target process
// (kfd_test_ptrace target) holds two KFD queues; a Node process with the emulator environment
// uses xsched-bridge's kfd module on it; a ptrace tracer (kfd_test_ptrace seize) is accepted.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { emuEnv } from '../src/env.js';
import { buildDir } from '../src/paths.js';
import { emuDir, root } from './helpers.js';

const helper = join(buildDir(), 'tests', 'kfd_test_ptrace');
const distKfd = join(root, 'dist', 'kfd', 'index.js');

interface Probe {
  version: { major: number; minor: number };
  gpus: { gpuId: number; gfxName: string; fwDebug: boolean }[];
  targetQueues: number[];
  crossEnable: { isKfdError: boolean; errno: number; code: string; operation: string; diagnosis: string } | 'ok';
  crossSuspend: { errno: number; diagnosis: string } | 'ok';
  selfEnable: { errno: number; diagnosis: string } | 'ok';
}

// Runs in a child Node process started with the emulator environment (LD_PRELOAD must be set
// when a process starts, so the test worker itself cannot use the emulated /dev/kfd).
const probe = `
import { Kfd, KfdError, gpuNodes, readProcQueues } from ${JSON.stringify(distKfd)};
const pid = Number(process.argv[1]);
const err = (f) => { try { f(); return 'ok'; } catch (e) {
  if (!(e instanceof KfdError)) throw e;
  return { isKfdError: true, errno: e.errno, code: e.code, operation: e.operation, diagnosis: e.diagnosis }; } };
const k = Kfd.open();
const out = { version: k.version(), gpus: gpuNodes().map((n) => ({ gpuId: n.gpuId, gfxName: n.gfxName, fwDebug: n.fwDebug })) };
out.targetQueues = readProcQueues(pid).map((q) => q.queueId);
out.crossEnable = err(() => k.dbgEnable(pid));
out.crossSuspend = err(() => k.suspend(pid, out.targetQueues));
out.selfEnable = err(() => k.dbgEnable(process.pid));
k.close();
console.log(JSON.stringify(out));
`;

describe('kfd bindings on the emulated driver', () => {
  it('version, topology, cross-process EPERM with the ptrace diagnosis, tracer accepted', async () => {
    if (!existsSync(helper)) throw new Error(`${helper} is missing: build the native parts (npm install)`);
    if (!existsSync(distKfd)) throw new Error(`${distKfd} is missing: the global setup compiles dist/`);
    const env = { ...process.env, ...emuEnv({ dir: emuDir() }) };
    const target = spawn(helper, ['target', '2'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const ready = await new Promise<string>((res, rej) => {
        const rl = createInterface({ input: target.stdout });
        rl.once('line', res);
        target.once('exit', (code) => rej(new Error(`target exited early (${code})`)));
      });
      const m = /^READY (\d+) (\d+) (\d+)$/.exec(ready);
      expect(m, ready).not.toBeNull();
      const pid = Number(m?.[1]);
      const ids = [Number(m?.[2]), Number(m?.[3])];

      const r = await execa(process.execPath, ['--input-type=module', '-e', probe, String(pid)], { env, reject: false, all: true });
      expect(r.exitCode, r.all).toBe(0);
      const p = JSON.parse(r.stdout) as Probe;
      expect(p.version.major).toBe(1);
      expect(p.version.minor).toBeGreaterThanOrEqual(13);
      expect(p.gpus.length).toBeGreaterThanOrEqual(1);
      expect(p.gpus[0]?.gfxName).toMatch(/^gfx9/);
      expect(p.targetQueues.sort()).toEqual([...ids].sort());
      expect(p.crossEnable).toMatchObject({ isKfdError: true, errno: 1, code: 'EPERM', operation: 'DBG_TRAP ENABLE' });
      expect(p.crossEnable === 'ok' ? '' : p.crossEnable.diagnosis).toMatch(/ptrace tracer.*PTRACE_SEIZE/);
      expect(p.crossSuspend === 'ok' ? '' : p.crossSuspend.diagnosis).toMatch(/ptrace/);
      // this Node process never runtime-enabled (no ROCr in it): EPERM, runtime_state 0, fix named
      expect(p.selfEnable).toMatchObject({ errno: 1 });
      expect(p.selfEnable === 'ok' ? '' : p.selfEnable.diagnosis).toMatch(/runtime_state 0.*5\.7/);

      const s = await execa(helper, ['seize', String(pid), ...ids.map(String)], { env, reject: false, all: true });
      expect(s.exitCode, s.all).toBe(0);
      expect(s.stdout).toMatch(/ENABLE 0 1 ok/);
      expect(s.stdout).toMatch(/SUSPEND 2 /);
      expect(s.stdout).toMatch(/RESUME 2/);
    } finally {
      target.stdin.end();
      await new Promise((res) => {
        if (target.exitCode !== null) res(null);
        else target.once('exit', res);
      });
    }
  });
});
