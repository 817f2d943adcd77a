/**
 * Errors of the KFD library: every failing call throws a KfdError carrying the errno, the
 * operation and libxsbkfd's one-line diagnosis (cause and fix).
 */
import { constants } from 'node:os';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

export class KfdError extends Error {
  /** Positive errno. */
  readonly errno: number;
  /** The operation, e.g. "DBG_TRAP SUSPEND_QUEUES", "sysfs topology", "parse mqds". */
  readonly operation: string;
  /** One line: what went wrong and how to fix it. */
  readonly diagnosis: string;
  /** errno name, e.g. "EPERM". */
  readonly code: string;

  constructor(operation: string, errno: number, diagnosis: string, options?: { cause?: unknown }) {
    super(`${operation}: ${diagnosis}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KfdError';
    this.errno = errno;
    this.operation = operation;
    this.diagnosis = diagnosis;
    this.code = errnoName(errno);
  }
}

/** A malformed capture: the 1-based line and what is wrong with it. */
export class KfdParseError extends KfdError {
  readonly line: number;

  constructor(operation: string, errno: number, line: number, message: string) {
    super(operation, errno, message);
    this.name = 'KfdParseError';
    this.line = line;
  }
}
