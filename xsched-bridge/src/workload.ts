/**
 * `xsb workload`: runs the project's workload program (build/bin/xsb-workload, spin kernels)
 * on the chosen backend and summarises its JSON (DESIGN.md contract).
 */
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { chooseBackend, type BackendChoice } from './backend.js';
import { emuEnv } from './env.js';
import { deviceRunning, deviceState, startDevice, stopDevice } from './emu.js';
import { XsbError } from './errors.js';
import { requireArtifact } from './paths.js';

export interface WorkloadOptions {
  kernelUs: number;
  count: number;
  streams?: number | undefined;
  periodMs?: number | undefined;
  requests?: number | undefined;
  kernelsPerRequest?: number | undefined;
  json?: string | undefined;
  emulate?: boolean | undefined;
  dir?: string | undefined;
  profile?: string | undefined;
}

const latencySchema = z.looseObject({ p50: z.number(), p99: z.number(), max: z.number() });

/** The fields other parts rely on; anything else the program reports is kept as is. */
export const workloadResultSchema = z.looseObject({
  backend: z.enum(['emu', 'kfd']),
  kernels_expected: z.number().int().nonnegative(),
  kernels_completed: z.number().int().nonnegative(),
  elapsed_ms: z.number().nonnegative(),
  latency_ms: latencySchema.optional(),
});
export type WorkloadResult = z.infer<typeof workloadResultSchema>;

export function workloadArgs(o: WorkloadOptions, jsonFile: string): string[] {
  const args = ['--kernel-us', String(o.kernelUs), '--count', String(o.count)];
  const opt = (flag: string, v: number | undefined): void => {
    if (v !== undefined) args.push(flag, String(v));
  };
  opt('--streams', o.streams);
  opt('--period-ms', o.periodMs);
  opt('--requests', o.requests);
  opt('--kernels-per-request', o.kernelsPerRequest);
  args.push('--json', jsonFile);
  return args;
}

export interface WorkloadRun {
  result: WorkloadResult;
  choice: BackendChoice;
  startedDevice: boolean;
  jsonFile?: string | undefined;
}

export async function runWorkload(o: WorkloadOptions): Promise<WorkloadRun> {
  const program = requireArtifact('workload');
  if (o.json !== undefined) checkWritableDir(o.json);
  const choice = chooseBackend({ emulate: o.emulate });
  let env: NodeJS.ProcessEnv = process.env;
  let startedDir: string | undefined;
  if (choice.backend === 'emu') {
    const vars = emuEnv({ dir: o.dir, profile: o.profile });
    const dir = vars['XSB_EMU_DIR'] ?? '';
    requireArtifact('emuKfd');
    requireArtifact('emuLibDir');
    if (!deviceRunning(deviceState(dir))) {
      await startDevice({ dir, profile: o.profile });
      startedDir = dir;
    }
    // The device runs now: a client must not quietly start a second one if it goes away.
    env = { ...process.env, ...vars, XSB_EMU_NO_AUTOSTART: '1' };
  }

  // A device this command started is its own to stop; one that ran before keeps running.
  let result: WorkloadResult;
  try {
    result = await execWorkload(program, o, env, choice);
  } catch (err) {
    if (startedDir !== undefined) await stopDevice({ dir: startedDir }).catch(() => undefined);
    throw err;
  }
  if (startedDir !== undefined) await stopDevice({ dir: startedDir });
  if (o.json !== undefined) {
    try {
      writeFileSync(resolve(o.json), `${JSON.stringify(result, null, 2)}\n`);
    } catch (err) {
      throw new XsbError(`cannot write ${o.json}`, 'pass a --json path in an existing, writable directory', { cause: err });
    }
  }
  return { result, choice, startedDevice: startedDir !== undefined, jsonFile: o.json === undefined ? undefined : resolve(o.json) };
}

async function execWorkload(program: string, o: WorkloadOptions, env: NodeJS.ProcessEnv, choice: BackendChoice): Promise<WorkloadResult> {
  const tmp = mkdtempSync(join(tmpdir(), 'xsb-workload-'));
  try {
    const jsonFile = join(tmp, 'result.json');
    const r = await execa(program, workloadArgs(o, jsonFile), { env, extendEnv: false, reject: false, stdin: 'ignore', all: true });
    if (r.exitCode !== 0) {
      const tail = (r.all ?? '').trim().split('\n').slice(-3).join(' | ');
      throw new XsbError(
        `the workload program failed (${r.signal ?? `exit status ${r.exitCode}`}${tail ? `: ${tail}` : ''})`,
        choice.backend === 'emu' ? 'check the device log in the emulator directory (xsb emu status)' : 'check the ROCm installation',
      );
    }
    return parseResult(readJson(jsonFile, choice.backend));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Fails before a long run rather than after it. */
function checkWritableDir(file: string): void {
  try {
    accessSync(dirname(resolve(file)), constants.W_OK);
  } catch (err) {
    throw new XsbError(`cannot write ${file}`, 'pass a --json path in an existing, writable directory', { cause: err });
  }
}

function readJson(file: string, backend: BackendChoice['backend']): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new XsbError('the workload program wrote no readable JSON result', 'rebuild it with `npm install`', { cause: err });
  }
  // The program may not know which backend it ran on; the CLI does.
  if (typeof parsed === 'object' && parsed !== null && !('backend' in parsed)) return { backend, ...parsed };
  return parsed;
}

function parseResult(raw: unknown): WorkloadResult {
  const r = workloadResultSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new XsbError(
      `the workload program's JSON lacks a contract field (${first?.path.join('.') ?? '?'}: ${first?.message ?? 'invalid'})`,
      'rebuild the native parts with `npm install`',
      { cause: r.error },
    );
  }
  return r.data;
}

export function formatWorkload(run: WorkloadRun): string {
  const r = run.result;
  const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(3));
  const lines = [
    `backend            ${r.backend} (${run.choice.reason})${typeof r['device'] === 'string' ? `, device ${r['device']}` : ''}`,
    `kernels            ${r.kernels_completed} of ${r.kernels_expected} completed`,
    `elapsed            ${fmt(r.elapsed_ms)} ms`,
  ];
  if (r.elapsed_ms > 0) lines.push(`throughput         ${fmt((r.kernels_completed * 1000) / r.elapsed_ms)} kernels/s`);
  if (r.latency_ms) {
    const l = r.latency_ms;
    lines.push(`request latency    p50 ${fmt(l.p50)} ms   p99 ${fmt(l.p99)} ms   max ${fmt(l.max)} ms`);
  }
  if (run.jsonFile !== undefined) lines.push(`result             ${run.jsonFile}`);
  return lines.join('\n');
}
