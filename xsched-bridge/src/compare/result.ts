/**
 * The `compare --json` document (DESIGN.md contract: backend, profile, modes[] with mode,
 * online.{count,p50_ms,p99_ms,max_ms,standalone_p99_ms}, offline.{kernels_completed,
 * kernels_expected,throughput_per_s,loss_pct}, preempt.{count,suspend_p50_us,suspend_p99_us,
 * resume_p50_us,resume_p99_us} or null). Fields beyond those carry what the report needs
 * (raw latencies, the workload, the profile's values) so `xsched-bridge report` can re-render.
 */
import { z } from 'zod';
import { profileSchema } from './profile.js';

const num = z.number();
const nnum = z.number().nullable();

export const onlineSchema = z.looseObject({
  count: z.number().int().nonnegative(),
  p50_ms: num,
  p99_ms: num,
  max_ms: num,
  mean_ms: num.optional(),
  standalone_p99_ms: nnum,
  latency_ms_raw: z.array(num).optional(),
});

export const offlineSchema = z.looseObject({
  kernels_completed: z.number().int().nonnegative(),
  kernels_expected: z.number().int().nonnegative(),
  /** Offline kernels per second while the online job ran (see loss_pct). */
  throughput_per_s: nnum,
  /** Offline throughput lost while the online job ran, vs the offline job alone. */
  loss_pct: nnum,
  elapsed_ms: num.optional(),
});

export const preemptSchema = z.looseObject({
  count: z.number().int().nonnegative(),
  suspend_p50_us: nnum,
  suspend_p99_us: nnum,
  resume_p50_us: nnum,
  resume_p99_us: nnum,
  suspend_us_raw: z.array(num).optional(),
  resume_us_raw: z.array(num).optional(),
});

export const modeSchema = z.looseObject({
  mode: z.string(),
  policy: z.string().optional(),
  mechanism: z.string().nullable().optional(),
  online: onlineSchema,
  offline: offlineSchema,
  preempt: preemptSchema.nullable(),
});

export const compareSchema = z.looseObject({
  kind: z.literal('xsched-bridge.compare').optional(),
  backend: z.enum(['emu', 'kfd']),
  profile: z.looseObject({ name: z.string(), source: z.string(), assumed: z.boolean(), values: profileSchema.nullable() }),
  date: z.string().optional(),
  workload: z
    .looseObject({
      online: z.looseObject({ kernel_us: num, kernels_per_request: num, requests: num, period_ms: num }),
      offline: z.looseObject({ kernel_us: num, count: num }),
      lv1: z.looseObject({ threshold: num, batch: num }).optional(),
      hysteresis_us: nnum.optional(),
    })
    .optional(),
  standalone: z
    .looseObject({
      online: onlineSchema.omit({ standalone_p99_ms: true }).nullable(),
      offline: z.looseObject({ throughput_per_s: num, kernel_ms: num }).nullable(),
    })
    .optional(),
  modes: z.array(modeSchema),
  skipped: z.array(z.looseObject({ mode: z.string(), reason: z.string(), enable: z.string().optional() })).optional(),
});
export type CompareResult = z.infer<typeof compareSchema>;
export type ModeResult = z.infer<typeof modeSchema>;

/** Linear-interpolated percentile (the workload program's method). */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, v.length - 1);
  return (v[lo] ?? 0) + ((v[hi] ?? 0) - (v[lo] ?? 0)) * (rank - lo);
}

export function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

export const round = (v: number | null, digits = 3): number | null => (v === null ? null : Number(v.toFixed(digits)));
