/** The coordinator's log: one line per event on stderr, text or JSON (--log-format json). */
export type Level = 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
}

export function makeLogger(opts: { level: Level; format: 'text' | 'json'; write?: (s: string) => void }): Logger {
  const write = opts.write ?? ((s: string) => process.stderr.write(s));
  return {
    log(level, msg, fields = {}) {
      if (RANK[level] > RANK[opts.level]) return;
      if (opts.format === 'json') {
        write(`${JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields })}\n`);
      } else {
        const extra = Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        write(`xsb-coordinator ${level}: ${msg}${extra ? ` (${extra})` : ''}\n`);
      }
    },
  };
}

export function isLevel(s: string): s is Level {
  return s in RANK;
}
