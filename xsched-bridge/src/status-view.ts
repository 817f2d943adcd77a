/**
 * Readable rendering of `emu status` (the device's STATUS JSON, whose shape the device owns:
 * known sections get tables, anything else is listed as key: value).
 */
import type { StatusResult } from './emu.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(cell).join(',');
  return JSON.stringify(v);
}

/** A text table of rows (objects) with the union of their keys as columns. */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const data = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...data.map((d) => (d[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(cols), ...data.map(line)].join('\n');
}

function section(title: string, value: unknown): string {
  if (Array.isArray(value)) {
    const rows = value.filter(isObj);
    if (rows.length === 0) return `${title}: none`;
    return `${title} (${rows.length}):\n${indent(table(rows))}`;
  }
  if (isObj(value)) {
    const scalars = Object.entries(value).filter(([, v]) => !isObj(v) && !Array.isArray(v));
    const nested = Object.entries(value).filter(([, v]) => isObj(v) || Array.isArray(v));
    const head = scalars.map(([k, v]) => `${k} ${cell(v)}`).join('   ');
    return [`${title}: ${head}`, ...nested.map(([k, v]) => indent(section(k, v)))].join('\n');
  }
  return `${title}: ${cell(value)}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

export function formatStatus(s: StatusResult): string {
  if (!s.running) {
    return s.pid !== null
      ? `device: pid ${s.pid} is alive but has no socket in ${s.dir}`
      : `device: not running in ${s.dir} (start it with \`xsb emu start\`)`;
  }
  const out = [`device: running, pid ${s.pid}, dir ${s.dir}`];
  if (isObj(s.device)) {
    for (const [k, v] of Object.entries(s.device as Record<string, Json>)) out.push(section(k, v));
  } else {
    out.push(cell(s.device));
  }
  return out.join('\n');
}
