/**
 * Errors the CLI reports to a person: one line, "<what was wrong>; <how to fix>".
 * The original error travels as `cause` so `--verbose` can show the whole chain.
 */
export class XsbError extends Error {
  readonly fix: string;
  readonly exitCode: number;

  constructor(what: string, fix: string, options?: { cause?: unknown; exitCode?: number }) {
    super(what, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'XsbError';
    this.fix = fix;
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** The one line printed for an error (no stack). */
export function errorLine(err: unknown): string {
  if (err instanceof XsbError) return `xsched-bridge: ${err.message}; ${err.fix}`;
  const msg = err instanceof Error ? err.message : String(err);
  return `xsched-bridge: ${msg}; rerun with --verbose for details and report it if it persists`;
}

/** Stack traces of err and its causes, for --verbose. */
export function errorDetails(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && depth < 8; depth++) {
    if (cur instanceof Error) {
      parts.push((depth === 0 ? '' : 'caused by: ') + (cur.stack ?? cur.message));
      cur = cur.cause;
    } else {
      parts.push(`caused by: ${String(cur)}`);
      break;
    }
  }
  return parts.join('\n');
}
