/**
 * The report's plots: Vega-Lite specs compiled and rendered to SVG here, at build time, so the
 * HTML needs no script and no network when viewed.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { CompareResult } from '../compare/result.js';
import { lv1InFlight, lv1LatencyMs, workloadOf } from './explain.js';

export interface Plot {
  id: string;
  title: string;
  caption: string;
  svg: string;
}

export interface Lv1Point {
  offline_kernel_ms: number;
  threshold: number;
  batch: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms?: number;
}

const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];
const CONFIG = {
  font: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  range: { category: PALETTE },
  view: { stroke: null },
};

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = vl.compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

function modeOrder(r: CompareResult): string[] {
  return ['alone', ...r.modes.map((m) => m.mode)];
}

/** Empirical CDF points per mode (and the online job alone). */
function cdfRows(r: CompareResult): { mode: string; latency_ms: number; fraction: number }[] {
  const rows: { mode: string; latency_ms: number; fraction: number }[] = [];
  const add = (mode: string, raw: number[] | undefined): void => {
    const v = [...(raw ?? [])].sort((a, b) => a - b);
    v.forEach((x, i) => rows.push({ mode, latency_ms: x, fraction: (i + 1) / v.length }));
  };
  add('alone', r.standalone?.online?.latency_ms_raw);
  for (const m of r.modes) add(m.mode, m.online.latency_ms_raw);
  return rows;
}

export async function comparePlots(r: CompareResult, sweep: Lv1Point[] = []): Promise<Plot[]> {
  const order = modeOrder(r);
  const color = { field: 'mode', type: 'nominal' as const, sort: order, title: 'mode' };
  const plots: Plot[] = [];
  const cdf = cdfRows(r);
  const lats = cdf.map((c) => c.latency_ms).filter((v) => v > 0);
  const domain = lats.length ? [Math.min(...lats) * 0.9, Math.max(...lats) * 1.1] : [1, 100];
  plots.push({
    id: 'cdf',
    title: 'Online request latency, CDF per mode',
    caption: 'Each line is the fraction of online requests finished within x ms (log scale). Left and steep is good; "alone" is the online job with the device to itself.',
    svg: await renderSvg({
      width: 640,
      height: 320,
      data: { values: cdf },
      mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
      encoding: {
        x: { field: 'latency_ms', type: 'quantitative', scale: { type: 'log', domain, nice: false }, title: 'request latency (ms, log scale)' },
        y: { field: 'fraction', type: 'quantitative', title: 'fraction of requests', scale: { domain: [0, 1] } },
        color,
      },
    }),
  });
  const hist = cdf.map(({ mode, latency_ms }) => ({ mode, latency_ms }));
  plots.push({
    id: 'hist',
    title: 'Online request latency, histogram per mode',
    caption: 'Requests per 5 ms bin of latency, one panel per mode.',
    svg: await renderSvg({
      data: { values: hist },
      facet: { row: { field: 'mode', type: 'nominal', sort: order, title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontSize: 12 } } },
      spec: {
        width: 600,
        height: 60,
        mark: { type: 'bar', tooltip: true },
        encoding: {
          x: { field: 'latency_ms', type: 'quantitative', bin: { step: 5 }, title: 'request latency (ms)' },
          y: { aggregate: 'count', type: 'quantitative', title: 'requests' },
          color: { ...color, legend: null },
        },
      },
      resolve: { scale: { y: 'independent' } },
    } as TopLevelSpec),
  });
  const pre: { mode: string; kind: string; ms: number }[] = [];
  for (const m of r.modes) {
    if (m.preempt === null) continue;
    for (const v of (m.preempt['suspend_us_raw'] as number[] | undefined) ?? []) pre.push({ mode: m.mode, kind: 'suspend', ms: v / 1000 });
    for (const v of (m.preempt['resume_us_raw'] as number[] | undefined) ?? []) pre.push({ mode: m.mode, kind: 'resume', ms: v / 1000 });
  }
  const tr = r.profile.values;
  const modelMs = tr === null ? null : (tr.runlist_unmap_ns + tr.runlist_remap_ns) / 1e6 + (tr.cwsr_bytes_full_queue / tr.cwsr_bytes_per_s) * 1000;
  plots.push({
    id: 'preempt',
    title: 'Suspend and resume latency per mode',
    caption:
      'Each tick is one suspend or resume as the offline shim timed it (the ioctl until its queues were held or running again); boxes span the quartiles.' +
      (modelMs !== null ? ` The dashed line is the profile's runlist transition (${modelMs.toFixed(2)} ms).` : ''),
    svg: await renderSvg(
      pre.length === 0
        ? {
            width: 600,
            height: 60,
            data: { values: [{ x: 0, text: 'no mode suspended any queue' }] },
            mark: { type: 'text', fontSize: 14 },
            encoding: { text: { field: 'text' } },
          }
        : ({
            data: { values: pre },
            facet: { row: { field: 'kind', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontSize: 12 } } },
            spec: {
              width: 600,
              height: 40 * new Set(pre.map((p) => p.mode)).size,
              layer: [
                { mark: { type: 'boxplot', extent: 'min-max', opacity: 0.35, size: 18 }, encoding: { x: { field: 'ms', type: 'quantitative', title: 'latency (ms)' }, y: { field: 'mode', type: 'nominal', sort: order }, color: { ...color, legend: null } } },
                { mark: { type: 'tick', thickness: 1.5, opacity: 0.8 }, encoding: { x: { field: 'ms', type: 'quantitative' }, y: { field: 'mode', type: 'nominal', sort: order }, color: { ...color, legend: null } } },
                ...(modelMs !== null ? [{ mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#333' }, encoding: { x: { datum: modelMs, type: 'quantitative' as const } } }] : []),
              ],
            },
          } as TopLevelSpec),
    ),
  });
  const tput = r.modes.map((m) => ({ mode: m.mode, throughput: m.offline.throughput_per_s ?? 0, loss: m.offline.loss_pct ?? 0, done: `${m.offline.kernels_completed}/${m.offline.kernels_expected}` }));
  const alone = r.standalone?.offline?.throughput_per_s ?? null;
  plots.push({
    id: 'throughput',
    title: 'Offline throughput while the online job ran',
    caption: `Offline kernels per second during the online window, per mode (label: throughput lost).${alone !== null ? ` The dashed line is the offline job alone (${alone.toFixed(1)} kernels/s).` : ''} Every mode completed all its offline kernels.`,
    svg: await renderSvg({
      width: 600,
      height: 40 * Math.max(1, tput.length),
      data: { values: tput },
      layer: [
        { mark: { type: 'bar' }, encoding: { y: { field: 'mode', type: 'nominal', sort: order.slice(1), title: null }, x: { field: 'throughput', type: 'quantitative', title: 'offline kernels per second' }, color: { ...color, legend: null } } },
        {
          mark: { type: 'text', align: 'left', dx: 4 },
          encoding: { y: { field: 'mode', type: 'nominal', sort: order.slice(1) }, x: { field: 'throughput', type: 'quantitative' }, text: { field: 'loss', type: 'quantitative', format: '.1f' } },
        },
        ...(alone !== null ? [{ mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#333' }, encoding: { x: { datum: alone, type: 'quantitative' as const } } }] : []),
      ],
    } as TopLevelSpec),
  });
  plots.push(await lv1Plot(r, sweep));
  return plots;
}

/** Lv1 request latency against offline kernel time T and the in-flight threshold: the model's
 * curves from the profile, and measured points (stage 3 sweep, and compare's lv1 mode). */
export async function lv1Plot(r: CompareResult, sweep: Lv1Point[]): Promise<Plot> {
  const w = workloadOf(r);
  const launchMs = (r.profile.values?.launch_ns ?? 0) / 1e6;
  const ts = [...new Set([...sweep.map((s) => s.offline_kernel_ms), w.offlineMs])].sort((a, b) => a - b);
  const ths = [1, 2, 4, 8, 16, 32];
  const rows: { T: string; threshold: number; latency_ms: number; source: string }[] = [];
  for (const T of ts) {
    for (const th of ths) {
      const l = lv1LatencyMs({ ...w, offlineMs: T }, lv1InFlight(th, Math.max(1, Math.floor(th / 2))), launchMs);
      rows.push({ T: `T = ${T} ms`, threshold: th, latency_ms: l.mean, source: 'model (mean)' });
    }
  }
  for (const s of sweep) rows.push({ T: `T = ${s.offline_kernel_ms} ms`, threshold: s.threshold, latency_ms: s.mean_ms ?? s.p50_ms, source: 'measured (mean)' });
  const lv1 = r.modes.find((m) => m.mode === 'lv1');
  if (lv1 !== undefined && sweep.length === 0) rows.push({ T: `T = ${w.offlineMs} ms`, threshold: w.threshold, latency_ms: lv1.online.mean_ms ?? lv1.online.p50_ms, source: 'measured (mean)' });
  return {
    id: 'lv1',
    title: 'Lv1: online latency against offline kernel time T and threshold',
    caption:
      `Mean latency of a request of ${w.k} × ${w.kernelMs} ms kernels under Lv1 (batch = threshold/2). Lines: the model (each online kernel waits one offline kernel of T while ` +
      `offline kernels are in flight, so latency grows ≈ min(K, in-flight) × T); points: measured${sweep.length === 0 ? ' (the compare run\'s lv1 mode; run stage 3 for a sweep)' : ' (stage 3 sweep)'}.`,
    svg: await renderSvg({
      width: 560,
      height: 300,
      data: { values: rows },
      layer: [
        { transform: [{ filter: "datum.source == 'model (mean)'" }], mark: { type: 'line', strokeDash: [5, 3] }, encoding: { x: { field: 'threshold', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'Lv1 threshold (offline commands in flight)' }, y: { field: 'latency_ms', type: 'quantitative', title: 'request latency (ms)' }, color: { field: 'T', type: 'nominal', title: 'offline kernel' } } },
        { transform: [{ filter: "datum.source == 'measured (mean)'" }], mark: { type: 'point', filled: true, size: 80 }, encoding: { x: { field: 'threshold', type: 'quantitative' }, y: { field: 'latency_ms', type: 'quantitative' }, color: { field: 'T', type: 'nominal' }, shape: { field: 'source', type: 'nominal', title: null } } },
      ],
    } as TopLevelSpec),
  };
}
