/**
 * The coordinator's registry query: one line {"v":1,"type":"query","what":"registry"} on the
 * coordinator socket, one line {"v":1,"type":"registry",...} back. Absent coordinator = null
 * (callers fall back to sysfs); a coordinator that answers badly is an error.
 */
import { connect } from 'node:net';
import { XsbError } from '../errors.js';
import { XSB_WIRE_VERSION } from '../wire.js';

export interface RegistryQueue {
  id?: number;
  gpu_id?: number;
  qtype?: number;
  ring_base?: string;
  ring_size?: number;
  priority_requested?: number;
  priority_applied?: number;
  percentage?: number;
  state?: string;
  [k: string]: unknown;
}

export interface RegistryProcess {
  pid: number;
  uid?: number;
  class?: string | null;
  priority?: number | null;
  exe?: string;
  gpus?: number[];
  mechanism?: string;
  queues?: RegistryQueue[];
  gate?: string;
  exec_state?: string | number;
  activity?: string | number;
  counters?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface Registry {
  v: number;
  type: 'registry';
  processes: RegistryProcess[];
  policy?: unknown;
  gpus?: unknown[];
  [k: string]: unknown;
}

const MAX_REPLY = 16 * 1024 * 1024;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates the parts the views rely on; unknown fields are kept. */
export function checkRegistry(raw: unknown): Registry {
  if (!isObj(raw) || raw['type'] !== 'registry' || raw['v'] !== XSB_WIRE_VERSION || !Array.isArray(raw['processes'])) {
    throw new Error('the reply is not a version-1 registry object with a processes list');
  }
  for (const p of raw['processes']) {
    if (!isObj(p) || typeof p['pid'] !== 'number') throw new Error('a registry process has no numeric pid');
    if (p['queues'] !== undefined && !Array.isArray(p['queues'])) throw new Error(`process ${String(p['pid'])}: queues is not a list`);
  }
  return raw as Registry;
}

/** null when nothing listens at path (ENOENT, ECONNREFUSED). */
export function queryRegistry(path: string, timeoutMs = 3000): Promise<Registry | null> {
  return new Promise((resolvePromise, reject) => {
    const sock = connect(path);
    let buf = '';
    let done = false;
    const finish = (err: Error | null, value: Registry | null = null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err !== null) reject(err);
      else resolvePromise(value);
    };
    const fail = (what: string, cause?: unknown): void =>
      finish(
        new XsbError(`the coordinator at ${path} ${what}`, 'check that it runs the same xsched-bridge version (xsb coordinator --help)', {
          cause,
        }),
      );
    const timer = setTimeout(() => fail(`did not answer the registry query within ${timeoutMs} ms`), timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(`${JSON.stringify({ v: XSB_WIRE_VERSION, type: 'query', what: 'registry' })}\n`));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REPLY) return fail(`sent more than ${MAX_REPLY} bytes without a newline`);
      const nl = buf.indexOf('\n');
      if (nl < 0) return undefined;
      try {
        return finish(null, checkRegistry(JSON.parse(buf.slice(0, nl))));
      } catch (err) {
        return fail(`sent an invalid registry reply (${(err as Error).message})`, err);
      }
    });
    sock.once('end', () => fail('closed the connection without answering'));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') finish(null, null);
      else if (err.code === 'EACCES') {
        finish(
          new XsbError(`cannot connect to the coordinator at ${path} (EACCES)`, 'run as its user, or start it with --group and join that group', {
            cause: err,
          }),
        );
      } else fail(`could not be reached (${err.code ?? err.message})`, err);
    });
  });
}
