// `xsb workload` on the emulator: the DESIGN.md JSON contract and device handling.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { emuDir, needBuilt, xsb } from './helpers.js';

interface Result {
  backend: string;
  kernels_expected: number;
  kernels_completed: number;
  elapsed_ms: number;
  latency_ms?: { p50: number; p99: number; max: number };
  latency_ms_raw?: number[];
}

describe('xsb workload --emulate', () => {
  beforeAll(() =>
    needBuilt('bin/xsb-workload', 'bin/xsb-emu-device', 'bin/xsb-emu-ctl', 'lib/libxsb_emu_kfd.so', 'lib/emu/libamdhip64.so'),
  );

  it('runs every kernel, writes the contract fields and stops the device it started', async () => {
    const file = join(emuDir(), 'w.json');
    const r = await xsb(['workload', '--emulate', '--kernel-us', '1000', '--count', '40', '--json', file]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(readFileSync(file, 'utf8')) as Result;
    expect(j.backend).toBe('emu');
    expect(j.kernels_expected).toBe(40);
    expect(j.kernels_completed).toBe(j.kernels_expected);
    // 40 kernels of 1 ms each on one stream run one after another on the model.
    expect(j.elapsed_ms).toBeGreaterThanOrEqual(40);
    expect(r.stdout).toMatch(/kernels\s+40 of 40 completed/);
    expect(r.stdout).toMatch(/backend\s+emu/);
    // No device was running, so the command started one and stopped it again.
    expect((await xsb(['emu', 'status'])).exitCode).toBe(3);
  });

  it('with a period records per-request latency, and leaves a running device running', async () => {
    const start = await xsb(['emu', 'start']);
    expect(start.exitCode).toBe(0);
    const file = join(emuDir(), 'p.json');
    const r = await xsb([
      'workload', '--emulate', '--kernel-us', '500', '--count', '20', '--period-ms', '5',
      '--requests', '20', '--kernels-per-request', '2', '--json', file,
    ]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(readFileSync(file, 'utf8')) as Result;
    expect(j.kernels_expected).toBe(40);
    expect(j.kernels_completed).toBe(j.kernels_expected);
    expect(j.latency_ms_raw).toHaveLength(20);
    const l = j.latency_ms;
    expect(l).toBeDefined();
    if (l === undefined) return;
    // Each request is 2 kernels of 0.5 ms: its latency cannot be shorter than 1 ms.
    expect(l.p50).toBeGreaterThanOrEqual(1);
    expect(l.p50).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.max);
    expect(l.max).toBe(Math.max(...(j.latency_ms_raw ?? [])));
    expect(r.stdout).toMatch(/request latency\s+p50 /);
    expect((await xsb(['emu', 'status'])).exitCode).toBe(0);
    expect((await xsb(['emu', 'stop'])).exitCode).toBe(0);
  });
});
