/**
 * Reports: a self-contained HTML file (inline CSS and SVG plots, no script, no network) and a
 * Markdown summary, from a compare result and/or stage records. Their first screen names the
 * backend and the device profile.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CompareResult } from '../compare/result.js';
import { XsbError } from '../errors.js';
import type { StageRecord } from '../stages/record.js';
import { explainMode } from './explain.js';
import { comparePlots, type Lv1Point, type Plot } from './plots.js';

export interface ReportInput {
  compare?: CompareResult | undefined;
  records?: StageRecord[] | undefined;
  lv1Sweep?: Lv1Point[] | undefined;
  title?: string | undefined;
}

const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
const n = (v: number | null | undefined, d = 1): string => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));

function headerFacts(inp: ReportInput): { backend: string; profile: string; profileNote: string; hardware: string; date: string } {
  const c = inp.compare;
  const r0 = inp.records?.[0];
  const backend = c?.backend ?? r0?.backend ?? 'unknown';
  const profName = c?.profile.name ?? (typeof r0?.metrics['profile'] === 'string' ? r0.metrics['profile'] : 'none');
  const profSrc = c?.profile.source ?? '';
  return {
    backend: backend === 'emu' ? 'emu — the emulated AMD GPU (no real GPU was used)' : backend === 'kfd' ? 'kfd — a real AMD GPU through /dev/kfd' : backend,
    profile: profName,
    profileNote: c ? `${profSrc}${c.profile.assumed ? ' — its timings are stated assumptions, not measurements' : ''}` : '',
    hardware: (typeof c?.['hardware'] === 'string' ? c['hardware'] : r0?.hardware) ?? '',
    date: c?.date ?? r0?.date ?? new Date().toISOString(),
  };
}

function modeTable(c: CompareResult): string {
  const rows = c.modes
    .map(
      (m) =>
        `<tr><th>${esc(m.mode)}</th><td>${n(m.online.p50_ms)}</td><td>${n(m.online.p99_ms)}</td><td>${n(m.online.max_ms)}</td>` +
        `<td>${m.offline.kernels_completed}/${m.offline.kernels_expected}</td><td>${n(m.offline.throughput_per_s)}</td><td>${n(m.offline.loss_pct)}</td>` +
        `<td>${m.preempt === null ? '—' : m.preempt.count}</td><td>${m.preempt === null ? '—' : n((m.preempt.suspend_p50_us ?? NaN) / 1000, 2)}</td>` +
        `<td>${m.preempt === null ? '—' : n((m.preempt.resume_p50_us ?? NaN) / 1000, 2)}</td></tr>`,
    )
    .join('\n');
  const sa = c.standalone?.online;
  const alone = sa ? `<tr class="alone"><th>online alone</th><td>${n(sa.p50_ms)}</td><td>${n(sa.p99_ms)}</td><td>${n(sa.max_ms)}</td><td colspan="6">no offline job</td></tr>` : '';
  const skipped = (c.skipped ?? []).map((s) => `<tr class="skipped"><th>${esc(s.mode)}</th><td colspan="9">skipped: ${esc(s.reason)}${s.enable ? ` — ${esc(s.enable)}` : ''}</td></tr>`).join('\n');
  return `<table class="modes"><thead><tr><th>mode</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th><th>offline done</th><th>offline/s</th><th>loss %</th><th>suspends</th><th>suspend p50 ms</th><th>resume p50 ms</th></tr></thead>
<tbody>${alone}\n${rows}\n${skipped}</tbody></table>`;
}

function explanations(c: CompareResult): string {
  const items = c.modes.map((m) => {
    const e = explainMode(c, m);
    const pred = Number.isFinite(e.meanMs) ? ` <span class="pred">model: ≈ ${n(e.meanMs)} ms mean, ≤ ${n(e.maxMs)} ms</span>` : '';
    return `<li><b>${esc(m.mode)}</b>: ${esc(e.text)}${pred}<br><span class="meas">${esc(e.measured)}</span></li>`;
  });
  return `<ul class="explain">${items.join('\n')}</ul>`;
}

function recordsTable(records: StageRecord[]): string {
  const rows = records.map((r) => {
    const crit = r.criteria.map((c) => `${c.metric} ${c.op} ${c.value}${c.unit ?? ''}${c.met === null ? '' : c.met ? ' ✓' : ' ✗'}`).join('<br>');
    const metrics = Object.entries(r.metrics)
      .filter(([, v]) => typeof v !== 'object' || v === null)
      .slice(0, 8)
      .map(([k, v]) => `${esc(k)}: ${esc(typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v))}`)
      .join('<br>');
    const why = r.status === 'SKIP' && r.skip ? `<br><i>why: ${esc(r.skip.reason)}; to enable: ${esc(r.skip.enable)}</i>` : '';
    return `<tr class="st-${r.status.toLowerCase()}"><td>${esc(r.test_id)}</td><td>${esc(r.test_name)}</td><td class="status">${r.status}</td><td>${metrics}</td><td>${crit}</td><td>${esc(r.notes)}${why}</td></tr>`;
  });
  return `<table class="records"><thead><tr><th>id</th><th>check</th><th>status</th><th>metrics</th><th>criteria</th><th>notes</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

const CSS = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
header.first{background:#fff;border:1px solid #ddd;border-radius:8px;padding:16px 20px;margin-bottom:20px}
header.first h1{margin:0 0 8px;font-size:22px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.facts dt{font-weight:600;color:#555} dl.facts dd{margin:0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:13px}
.b-emu{background:#fff3cd;color:#7a5a00}.b-kfd{background:#d4edda;color:#155724}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:16px 20px;margin-bottom:20px}
h2{font-size:18px;margin:0 0 12px}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:right;vertical-align:top}
table.records td,table.records th{text-align:left}
thead th{background:#f3f3f3}
tbody th{text-align:left}
tr.alone{color:#555;font-style:italic} tr.skipped{color:#888}
.status{font-weight:700}.st-pass .status{color:#1e7e34}.st-fail .status{color:#c82333}.st-skip .status{color:#856404}
ul.explain li{margin-bottom:8px;line-height:1.4}.pred{color:#555}.meas{color:#1f4e79}
figure{margin:0 0 24px} figcaption{font-size:13px;color:#555;margin-top:4px;max-width:900px}
figure .plot svg{max-width:100%;height:auto}
.counts span{margin-right:16px;font-weight:600}`;

export async function renderHtml(inp: ReportInput): Promise<{ html: string; plots: Plot[] }> {
  const h = headerFacts(inp);
  const c = inp.compare;
  const plots = c ? await comparePlots(c, inp.lv1Sweep ?? []) : [];
  const recs = inp.records ?? [];
  const count = (s: string): number => recs.filter((r) => r.status === s).length;
  const parts: string[] = [];
  parts.push(`<header class="first"><h1>${esc(inp.title ?? 'xsched-bridge report')}</h1><dl class="facts">
<dt>backend</dt><dd id="backend"><span class="badge b-${c?.backend ?? recs[0]?.backend ?? 'emu'}">${esc(h.backend)}</span></dd>
<dt>device profile</dt><dd id="profile">${esc(h.profile)}${h.profileNote ? ` <small>(${esc(h.profileNote)})</small>` : ''}</dd>
<dt>hardware</dt><dd>${esc(h.hardware)}</dd><dt>date</dt><dd>${esc(h.date)}</dd>
${recs.length ? `<dt>checks</dt><dd class="counts"><span style="color:#1e7e34">${count('PASS')} PASS</span><span style="color:#c82333">${count('FAIL')} FAIL</span><span style="color:#856404">${count('SKIP')} SKIP</span></dd>` : ''}
${c?.workload ? `<dt>workload</dt><dd>online: ${c.workload.online.requests} requests of ${c.workload.online.kernels_per_request} × ${c.workload.online.kernel_us / 1000} ms kernels every ${c.workload.online.period_ms} ms; offline: ${c.workload.offline.count} × ${c.workload.offline.kernel_us / 1000} ms kernels back to back, always run to completion</dd>` : ''}
</dl></header>`);
  if (c) {
    parts.push(`<section id="modes"><h2>Online latency and offline cost per mode</h2>${modeTable(c)}</section>`);
    parts.push(`<section id="why"><h2>Why each mode got its result (from device profile ${esc(c.profile.name)})</h2>${explanations(c)}</section>`);
    parts.push(
      `<section id="plots"><h2>Plots</h2>${plots.map((p) => `<figure id="plot-${p.id}" class="figure"><h3>${esc(p.title)}</h3><div class="plot">${p.svg}</div><figcaption>${esc(p.caption)}</figcaption></figure>`).join('\n')}</section>`,
    );
  }
  if (recs.length) parts.push(`<section id="records"><h2>Stage checks</h2>${recordsTable(recs)}</section>`);
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(inp.title ?? 'xsched-bridge report')} — ${esc(c?.backend ?? recs[0]?.backend ?? '')}</title><style>${CSS}</style></head>
<body><main>${parts.join('\n')}</main></body></html>\n`;
  return { html, plots };
}

export function renderMarkdown(inp: ReportInput): string {
  const h = headerFacts(inp);
  const c = inp.compare;
  const out: string[] = [`# ${inp.title ?? 'xsched-bridge report'}`, '', `- backend: **${h.backend}**`, `- device profile: **${h.profile}**${h.profileNote ? ` (${h.profileNote})` : ''}`, `- hardware: ${h.hardware}`, `- date: ${h.date}`, ''];
  if (c) {
    out.push('## Modes', '', '| mode | p50 ms | p99 ms | max ms | offline done | offline/s | loss % | suspends | suspend p50 ms | resume p50 ms |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const sa = c.standalone?.online;
    if (sa) out.push(`| online alone | ${n(sa.p50_ms)} | ${n(sa.p99_ms)} | ${n(sa.max_ms)} | — | — | — | — | — | — |`);
    for (const m of c.modes) {
      out.push(
        `| ${m.mode} | ${n(m.online.p50_ms)} | ${n(m.online.p99_ms)} | ${n(m.online.max_ms)} | ${m.offline.kernels_completed}/${m.offline.kernels_expected} | ${n(m.offline.throughput_per_s)} | ${n(m.offline.loss_pct)} | ${m.preempt?.count ?? '—'} | ${m.preempt ? n((m.preempt.suspend_p50_us ?? NaN) / 1000, 2) : '—'} | ${m.preempt ? n((m.preempt.resume_p50_us ?? NaN) / 1000, 2) : '—'} |`,
      );
    }
    for (const s of c.skipped ?? []) out.push(`| ${s.mode} | skipped: ${s.reason} | | | | | | | | |`);
    out.push('', `## Why (from device profile ${c.profile.name})`, '');
    for (const m of c.modes) {
      const e = explainMode(c, m);
      out.push(`- **${m.mode}**: ${e.text} ${e.measured}.`);
    }
    out.push('');
  }
  const recs = inp.records ?? [];
  if (recs.length) {
    out.push('## Stage checks', '', '| id | check | status | notes |', '|---|---|---|---|');
    for (const r of recs) {
      const why = r.status === 'SKIP' && r.skip ? ` — why: ${r.skip.reason}; to enable: ${r.skip.enable}` : '';
      out.push(`| ${r.test_id} | ${r.test_name} | ${r.status} | ${(r.notes + why).replaceAll('|', '\\|').replaceAll('\n', ' ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** Writes DIR/report.html and DIR/report.md (and the inputs as JSON); returns the paths. */
export async function writeReport(dir: string, inp: ReportInput): Promise<{ html: string; md: string; plots: number }> {
  const d = resolve(dir);
  try {
    mkdirSync(d, { recursive: true });
  } catch (err) {
    throw new XsbError(`cannot create the report directory ${d}`, 'pass a writable --report DIR', { cause: err });
  }
  const { html, plots } = await renderHtml(inp);
  const htmlPath = join(d, 'report.html');
  const mdPath = join(d, 'report.md');
  writeFileSync(htmlPath, html);
  writeFileSync(mdPath, renderMarkdown(inp));
  return { html: htmlPath, md: mdPath, plots: plots.length };
}
