// Programs built with the real ROCm toolchain (Debian's hipcc 5.2 and HIP headers) under the
// shim and the emulated GPU, with hip-shim's test coordinator: tests/real-hip/run.sh builds them
// and runs each once per suspend mechanism; this file checks what every run recorded.
// Skipped, with the reason, when hipcc is not installed (scripts/ci-deps.sh installs it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { build, emuDir, needBuilt, root } from './helpers.js';

interface Run {
  program: string;
  mechanism: string;
  kernels_completed: number;
  stream_ops: number;
  shim_launches: number;
  packets_written: number;
  packets_completed: number;
  gate: { packets_while_closed: number; launches_while_closed: number };
  lv1: { threshold: number; batch: number; max_kernels_in_flight: number; waits: number };
  hold: {
    device_queues: number;
    held_queues: number;
    kernels_pending: number;
    packets_completed_while_held: number;
    suspend_ns: number;
    resume_ns: number;
  };
  report: { hello: number; queue_events: number; creates: number; held_events: number; priority: number; wrong_priority: number };
  failures: number;
}

// XSB_REAL_HIP_BUILD: another build directory (a developer's own); default ./build.
const buildDir = process.env['XSB_REAL_HIP_BUILD'] ?? build;
const hipcc = await execa('sh', ['-c', 'command -v hipcc'], { reject: false });
const haveHipcc = hipcc.exitCode === 0;
const KERNELS = 120;

describe('real HIP client (hipcc + real headers) under the shim and the emulator', () => {
  it.skipIf(!haveHipcc)('is throttled, suspended and reported like the project workload (both mechanisms)', async (ctx) => {
    if (buildDir === build) needBuilt('tests/test_coord', 'lib/libxsb_hip.so', 'lib/libxsb_emu_kfd.so', 'lib/emu/libamdhip64.so');
    const out = join(emuDir(), 'real-hip');
    const r = await execa(join(root, 'tests', 'real-hip', 'run.sh'), [buildDir, '--json-dir', out], {
      reject: false,
      all: true,
      env: { XSB_REAL_HIP_KERNELS: String(KERNELS), XSB_REAL_HIP_KERNEL_US: '1000' },
    });
    if (r.exitCode === 77) ctx.skip(`tests/real-hip/run.sh skipped: ${r.all ?? ''}`);
    if (r.exitCode !== 0) throw new Error(`tests/real-hip/run.sh failed (${r.exitCode}):\n${r.all ?? ''}`);
    expect(r.all).toMatch(/real-hip: 4 passed, 0 failed/);
    for (const program of ['spin_kernel', 'host_api']) {
      for (const mechanism of ['dbg-trap', 'deactivate']) {
        const j = JSON.parse(readFileSync(join(out, `${program}-${mechanism}.json`), 'utf8')) as Run;
        const what = `${program} [${mechanism}]`;
        expect(j.failures, what).toBe(0);
        // throttled: nothing reached the device through the closed gate; the Lv1 bound held
        expect(j.gate.packets_while_closed, what).toBe(0);
        expect(j.lv1.max_kernels_in_flight, what).toBeLessThanOrEqual(j.lv1.threshold);
        expect(j.lv1.waits, what).toBeGreaterThan(0);
        // suspended: every queue of the process held, nothing completed while held
        expect(j.hold.held_queues, what).toBeGreaterThanOrEqual(1);
        expect(j.hold.kernels_pending, what).toBeGreaterThanOrEqual(1);
        expect(j.hold.packets_completed_while_held, what).toBe(0);
        // every kernel completed, every operation went through the shim once
        expect(j.kernels_completed, what).toBe(KERNELS);
        expect(j.shim_launches, what).toBe(j.stream_ops);
        expect(j.packets_written, what).toBeGreaterThan(j.kernels_completed);
        expect(j.packets_completed, what).toBe(j.packets_written);
        // reported: hello, queue creations and the held state, all at the class priority
        expect(j.report.hello, what).toBe(1);
        expect(j.report.creates, what).toBeGreaterThanOrEqual(2);
        expect(j.report.held_events, what).toBeGreaterThanOrEqual(1);
        expect(j.report.wrong_priority, what).toBe(0);
      }
    }
  }, 300_000);
});
