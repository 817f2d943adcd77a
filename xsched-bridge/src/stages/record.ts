/**
 * One stage record per check (DESIGN.md contract): test_id, test_name, date, hardware,
 * rocm_version, xsched_version, backend, status (PASS|FAIL|SKIP), metrics, criteria, notes.
 * The JSON Schema in stages/schema/stage-record.schema.json states the same shape for
 * outside readers; a test keeps both in agreement.
 */
import { z } from 'zod';

export const STATUSES = ['PASS', 'FAIL', 'SKIP'] as const;
export type Status = (typeof STATUSES)[number];

export const criterionSchema = z.object({
  /** What is compared: a metric name in metrics. */
  metric: z.string(),
  op: z.enum(['<', '<=', '>', '>=', '==']),
  value: z.union([z.number(), z.string(), z.boolean()]),
  unit: z.string().optional(),
  /** Whether the measured value met it (null: not evaluated, e.g. SKIP). */
  met: z.boolean().nullable(),
  /** A softer goal reported beside the criterion (e.g. ideal < 10 ms); never decides status. */
  target: z.number().optional(),
  target_met: z.boolean().nullable().optional(),
});
export type Criterion = z.infer<typeof criterionSchema>;

export const stageRecordSchema = z
  .object({
    test_id: z.string().regex(/^S[1-4]\.[0-9]+(\.[0-9a-z-]+)?$/),
    test_name: z.string().min(1),
    date: z.iso.datetime(),
    hardware: z.string(),
    rocm_version: z.string().nullable(),
    xsched_version: z.string().nullable(),
    backend: z.enum(['emu', 'kfd']),
    status: z.enum(STATUSES),
    metrics: z.record(z.string(), z.unknown()),
    criteria: z.array(criterionSchema),
    notes: z.string(),
    /** SKIP only: why, and what would enable the check. */
    skip: z.object({ reason: z.string().min(1), enable: z.string().min(1) }).optional(),
  })
  .refine((r) => r.status !== 'SKIP' || r.skip !== undefined, { message: 'a SKIP record carries skip.reason and skip.enable', path: ['skip'] });
export type StageRecord = z.infer<typeof stageRecordSchema>;

export const stageRunSchema = z.looseObject({
  kind: z.literal('xsched-bridge.stages'),
  backend: z.enum(['emu', 'kfd']),
  records: z.array(stageRecordSchema),
});

/** The JSON Schema of one record, generated from the zod schema (written to stages/schema/). */
export function stageRecordJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(stageRecordSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    $id: 'https://xsched-bridge.invalid/stage-record.schema.json',
    title: 'xsched-bridge stage record',
    description: 'One check of the staged verification (DESIGN.md). A SKIP record carries skip.reason and skip.enable.',
    ...s,
    if: { properties: { status: { const: 'SKIP' } } },
    then: { required: ['skip'] },
  };
}
