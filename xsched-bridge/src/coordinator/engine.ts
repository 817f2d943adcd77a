/**
 * The native engine (native/engine, built by CMake into <build>/lib/xsb_engine.node): the
 * socket server and the data plane. This module only loads it and types it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { XsbError } from '../errors.js';
import { buildDir, packageRoot } from '../paths.js';
import type { ShimCounters } from '../wire.js';
import type { ActivityIn, Decision, Plan } from './policy.js';

/** What the engine's threads report; timestamps are CLOCK_MONOTONIC ns. */
export interface EngineEvent {
  kind: 'open' | 'line' | 'close' | 'refused' | 'activity' | 'gate' | 'request' | 'ack' | 'untrusted' | 'log';
  conn?: number;
  text?: string;
  pid?: number;
  uid?: number;
  gid?: number;
  level?: string;
  busy?: number;
  closed?: number;
  what?: 'hold' | 'run';
  seq?: number;
  t?: number;
  t_seen?: number;
  t_shim?: number;
  t_busy?: number;
  t_posted?: number;
  by?: number;
  exec_state?: number;
  exec_error?: number;
  held_queues?: number;
  timeout?: number;
  /** untrusted: the block's name and the header field that no longer checks out */
  shm?: string;
  field?: string;
}

/** One attached control block as the engine last read it: its words and the shim's counters. */
export interface ProcSnapshot extends ShimCounters {
  conn: number;
  pid: number;
  shm: string;
  gate: number;
  suspend_req: number;
  req_seq: number;
  ack_seq: number;
  exec_state: number;
  exec_error: number;
  held_queues: number;
  activity: number;
  activity_transitions: number;
  queues: number;
  errors: number;
  lv1_threshold: number;
  lease_deadline_ns: number;
  fail_open_ns: number;
  engine_gate_closed: boolean;
  engine_hold: boolean;
  awaiting_ack: boolean;
}

export interface EngineStartOptions {
  socket: string;
  mode: number;
  gid?: number;
  allowUids?: number[];
  allowGid?: number;
  groupWritableOk?: boolean;
}

export interface FakeShim {
  create(name: string, o: { pid?: number; cls?: number; mechanism?: number; mode?: number; corruptSum?: boolean }): void;
  set(name: string, field: string, value: number): boolean;
  get(name: string): Record<string, number> | null;
  executor(name: string, on: boolean): boolean;
  remove(name: string): void;
}

export interface Engine {
  start(o: EngineStartOptions, onEvents: (evs: EngineEvent[]) => void): void;
  /** Stops the threads; with release (default) everything is released first. */
  stop(release?: boolean): void;
  send(conn: number, line: string): boolean;
  close(conn: number, reason?: string): boolean;
  peer(conn: number): { pid: number; uid: number; gid: number } | null;
  attach(conn: number, shm: string): { ok: boolean; error?: string };
  detach(conn: number): boolean;
  setPlan(plan: Plan): void;
  /** Returns how many processes still report held after timeoutMs. */
  releaseAll(timeoutMs: number): number;
  snapshot(): ProcSnapshot[];
  stats(): { wakeups: number; decisions: number; futexFallback: boolean; polling: boolean; untrusted: number };
  decide(plan: Plan, acts: ActivityIn[], nowNs: number): { decisions: Decision[]; wakeAtNs: number };
  monoNs(): number;
  groupId(name: string): number;
  fake: FakeShim;
}

export const EXEC_STATES = ['idle', 'running', 'suspending', 'held', 'resuming', 'error'] as const;
export const GATE_OPEN = 0x4e45504f;
export const GATE_CLOSED = 0x44534c43;

let cached: Engine | undefined;

/** <build>/lib/xsb_engine.node ($XSB_BUILD_DIR honoured). */
export function enginePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(buildDir(env), 'lib', 'xsb_engine.node');
}

export function loadEngine(env: NodeJS.ProcessEnv = process.env): Engine {
  if (cached !== undefined) return cached;
  const p = enginePath(env);
  if (!existsSync(p)) {
    throw new XsbError(`the coordinator engine is missing (${p})`, `run \`npm install\` in ${packageRoot()} to build the native parts`);
  }
  const req = createRequire(import.meta.url);
  try {
    cached = req(p) as Engine;
  } catch (err) {
    throw new XsbError(`cannot load the coordinator engine ${p}`, 'rebuild the native parts with `npm run build` for this Node version', {
      cause: err,
    });
  }
  return cached;
}
