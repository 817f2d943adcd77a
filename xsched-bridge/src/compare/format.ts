/** The terminal table of a compare run. */
import type { CompareResult } from './result.js';

const n = (v: number | null | undefined, d = 1): string => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join('  ');
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

export function formatCompare(r: CompareResult): string {
  const w = r.workload;
  const out: string[] = [];
  out.push(`backend ${r.backend}${typeof r['hardware'] === 'string' ? ` — ${r['hardware']}` : ''}`);
  out.push(`device profile ${r.profile.name} (${r.profile.source}${r.profile.assumed ? '; timings are assumptions' : ''})`);
  if (w) {
    out.push(
      `online: ${w.online.requests} requests of ${w.online.kernels_per_request} × ${w.online.kernel_us / 1000} ms kernels every ${w.online.period_ms} ms; ` +
        `offline: ${w.offline.count} × ${w.offline.kernel_us / 1000} ms kernels back to back`,
    );
  }
  const sa = r.standalone?.online;
  if (sa) out.push(`online alone: p50 ${n(sa.p50_ms)} ms, p99 ${n(sa.p99_ms)} ms`);
  out.push('');
  const rows = r.modes.map((m) => [
    m.mode,
    n(m.online.p50_ms),
    n(m.online.p99_ms),
    n(m.online.max_ms),
    `${m.offline.kernels_completed}/${m.offline.kernels_expected}`,
    n(m.offline.throughput_per_s),
    n(m.offline.loss_pct),
    m.preempt === null ? '—' : String(m.preempt.count),
    m.preempt === null ? '—' : n((m.preempt.suspend_p50_us ?? NaN) / 1000, 2),
    m.preempt === null ? '—' : n((m.preempt.resume_p50_us ?? NaN) / 1000, 2),
  ]);
  out.push(table(['mode', 'p50 ms', 'p99 ms', 'max ms', 'offline done', 'offline/s', 'loss %', 'suspends', 'susp ms', 'resume ms'], rows));
  for (const s of r.skipped ?? []) out.push(`skipped ${s.mode}: ${s.reason}${s.enable ? ` (${s.enable})` : ''}`);
  return out.join('\n');
}
