/**
 * Messages of the shim <-> coordinator wire (native/include/xsb_wire.h), validated with zod.
 * A line that is not one of these (malformed JSON, another "v", an unknown "type", fields of
 * the wrong type) ends the connection: the coordinator logs it and keeps serving.
 *
 * Besides shims, the socket accepts admin clients. Their first line is a query (the same text
 * is in xsb_wire.h, the one wire header: change both):
 *   -> {"v":1,"type":"query","what":"registry"}
 *   <- {"v":1,"type":"registry","policy":{name, mechanism ("dbg-trap"|"deactivate"|null: each
 *       shim's own), lv1 ("xsb"|"xsched"), lease_ms, hysteresis_us},"gpus":[{gpu_id, processes:[pid..], busy:[pid..]}],
 *       "processes":[{pid, uid, class, priority, exe, gpus, mechanism,
 *                     queues:[{id, gpu_id, qtype, ring_base, ring_size, priority_requested,
 *                              priority_applied, percentage, state}],
 *                     gate ("open"|"closed"|"invalid"), exec_state ("idle"|"running"|"suspending"|
 *                     "held"|"resuming"|"error"), activity ("idle"|"busy"), held_queues,
 *                     counters {launches, gated_waits, gated_wait_ns, lv1_waits, suspends, resumes,
 *                               suspend_ns_last, suspend_ns_max, suspend_ns_sum, resume_ns_last,
 *                               resume_ns_max, resume_ns_sum, queues, errors},
 *                     engine {gate_closed, hold, awaiting_ack, gate_closed_ms, held_ms,
 *                             preemptions, busy_ms, kernel_ns_est, allow_hold}}]}
 *   and the coordinator closes the connection after the answer. Keep the connection open
 *   until the answer arrives (a half-closed socket is treated as gone).
 */
import { z } from 'zod';

export const WIRE_VERSION = 1;
export const WIRE_MAX_LINE = 65536;

const u32 = z.number().int().min(0).max(0xffffffff);
const mechanism = z.enum(['dbg-trap', 'deactivate']);
const count = z.number().int().min(0);

export const helloSchema = z.object({
  v: z.literal(WIRE_VERSION),
  type: z.literal('hello'),
  pid: z.number().int().positive(),
  class: z.enum(['online', 'offline']).nullable(),
  priority: z.number().int().min(0).max(15).nullable(),
  exe: z.string().max(4096),
  gpus: z.array(u32).max(256),
  mechanism,
  lv1: z.object({ threshold: u32, batch: u32 }).optional(),
  shm: z.string().min(2).max(250),
  shm_size: count.optional(),
  ctrl_version: count.optional(),
});

export const queueSchema = z.object({
  v: z.literal(WIRE_VERSION),
  type: z.literal('queue'),
  event: z.enum(['create', 'update', 'destroy']),
  id: u32,
  gpu_id: u32,
  qtype: u32,
  ring_base: z.string().regex(/^\d{1,20}$/),
  ring_size: u32,
  priority_requested: u32,
  priority_applied: u32,
  percentage: u32,
  state: z.enum(['active', 'held', 'destroying']),
});

export const statsSchema = z.object({
  v: z.literal(WIRE_VERSION),
  type: z.literal('stats'),
  launches: count,
  gated_waits: count,
  gated_wait_ns: count,
  lv1_waits: count,
  suspends: count,
  resumes: count,
  suspend_ns_last: count,
  suspend_ns_max: count,
  suspend_ns_sum: count,
  resume_ns_last: count,
  resume_ns_max: count,
  resume_ns_sum: count,
  queues: count,
  exec_state: count,
  activity: count,
  /** the mechanism in effect (shims before reconnect support do not send it) */
  mechanism: mechanism.optional(),
});

export const ackSchema = z.object({
  v: z.literal(WIRE_VERSION),
  type: z.literal('ack'),
  of: z.string().max(64),
  seq: z.number().int().optional(),
  /** of "config": the mechanism in effect after it, and one waiting for held queues' release */
  mechanism: mechanism.optional(),
  mechanism_pending: mechanism.optional(),
});

export const byeSchema = z.object({ v: z.literal(WIRE_VERSION), type: z.literal('bye'), reason: z.string().max(1024).optional() });

export const querySchema = z.object({ v: z.literal(WIRE_VERSION), type: z.literal('query'), what: z.literal('registry') });

export type Hello = z.infer<typeof helloSchema>;
export type QueueMsg = z.infer<typeof queueSchema>;
export type Stats = z.infer<typeof statsSchema>;
export type Ack = z.infer<typeof ackSchema>;

export type Parsed =
  | { type: 'hello'; msg: Hello }
  | { type: 'queue'; msg: QueueMsg }
  | { type: 'stats'; msg: Stats }
  | { type: 'ack'; msg: Ack }
  | { type: 'bye'; msg: z.infer<typeof byeSchema> }
  | { type: 'query'; msg: z.infer<typeof querySchema> };

const schemas = {
  hello: helloSchema,
  queue: queueSchema,
  stats: statsSchema,
  ack: ackSchema,
  bye: byeSchema,
  query: querySchema,
} as const;

/** Parses one line; an error string says what is wrong with it. */
export function parseLine(line: string): Parsed | { error: string } {
  if (Buffer.byteLength(line) + 1 > WIRE_MAX_LINE) return { error: `line longer than ${WIRE_MAX_LINE} bytes` };
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { error: 'not a JSON object' };
  const rec = obj as Record<string, unknown>;
  if (rec['v'] !== WIRE_VERSION) return { error: `wire version ${JSON.stringify(rec['v'])}, expected ${WIRE_VERSION}` };
  const type = rec['type'];
  if (typeof type !== 'string' || !Object.hasOwn(schemas, type)) return { error: `unknown message type ${JSON.stringify(type)}` };
  const t = type as keyof typeof schemas;
  const r = schemas[t].safeParse(obj);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { error: `invalid ${t}: ${issue ? `${issue.path.join('.') || '(message)'} ${issue.message}` : 'schema mismatch'}` };
  }
  return { type: t, msg: r.data } as Parsed;
}

export function line(obj: Record<string, unknown>): string {
  return JSON.stringify({ v: WIRE_VERSION, ...obj });
}
