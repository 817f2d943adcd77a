#!/usr/bin/env node
// Generates the ABI comparison program from native/include/xsb_kfd_abi.h and abi-map.txt.
// Every XSB_KFD_* macro, every struct and every field of the project header must be covered by
// the map; anything uncovered (or a map entry naming nothing) is an error, so a new definition
// cannot escape the check.
// Usage: gen-check.mjs HEADER MAP OUT.c
import { readFileSync, writeFileSync } from 'node:fs';

const [header, mapFile, out] = process.argv.slice(2);
if (!header || !mapFile || !out) {
  console.error('usage: gen-check.mjs HEADER MAP OUT.c');
  process.exit(2);
}
const src = readFileSync(header, 'utf8').replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '');

// ---- the project header: macros, structs and their fields ----
const macros = new Map(); // name -> { fn: boolean }
for (const m of src.matchAll(/^\s*#\s*define\s+(XSB_KFD_\w+)(\()?/gm)) macros.set(m[1], { fn: m[2] === '(' });

const structs = new Map(); // name -> [field names]
for (const m of src.matchAll(/struct\s+(xsb_kfd_\w+)\s*\{/g)) {
  let depth = 0;
  let i = m.index + m[0].length - 1;
  const start = i + 1;
  for (; i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) break;
  }
  const body = src.slice(start, i);
  const fields = [];
  // members of nested anonymous unions are fields of the struct too (C11 anonymous members)
  for (const f of body.matchAll(/(?<=^|[;{])\s*(?:struct\s+\w+|union|u?int(?:8|16|32|64)_t|char)\s+(\w+)\s*(\[[^\]]*\])?\s*;/g))
    fields.push(f[1]);
  structs.set(m[1], fields);
}

// ---- the map ----
const errors = [];
const mapDefines = new Map();
const mapMacros = new Map();
const mapStructs = new Map();
const mapFields = new Map();
readFileSync(mapFile, 'utf8').split('\n').forEach((raw, idx) => {
  const line = raw.replace(/\s+$/, '');
  if (!line.trim() || line.trim().startsWith('#')) return;
  const m = line.match(/^\s*(\w+)\s+(\S+)\s+(.*)$/);
  if (!m) {
    errors.push(`${mapFile}:${idx + 1}: cannot parse "${line}"`);
    return;
  }
  const [, kind, name, rest] = m;
  const where = `${mapFile}:${idx + 1}`;
  if (kind === 'define') mapDefines.set(name, { rest: rest.trim(), where });
  else if (kind === 'macro') mapMacros.set(name, { rest: rest.trim(), where });
  else if (kind === 'struct') mapStructs.set(name, { kernel: rest.trim().split(/\s+/)[0], where });
  else if (kind === 'field') mapFields.set(name, { rest: rest.trim(), where });
  else errors.push(`${where}: unknown kind "${kind}"`);
});

// ---- coverage, both ways ----
for (const [name, { fn }] of macros) {
  if (fn && !mapMacros.has(name)) errors.push(`function-like macro ${name} is not in ${mapFile} (add a "macro" line)`);
  if (!fn && !mapDefines.has(name)) errors.push(`macro ${name} is not in ${mapFile} (add a "define" line)`);
}
for (const [name, e] of mapDefines) if (!macros.has(name) || macros.get(name).fn) errors.push(`${e.where}: ${name} is not an object-like macro of ${header}`);
for (const [name, e] of mapMacros) if (!macros.has(name) || !macros.get(name).fn) errors.push(`${e.where}: ${name} is not a function-like macro of ${header}`);
for (const name of structs.keys()) if (!mapStructs.has(name)) errors.push(`struct ${name} is not in ${mapFile} (add a "struct" line)`);
for (const [name, e] of mapStructs) if (!structs.has(name)) errors.push(`${e.where}: struct ${name} is not in ${header}`);
for (const [key, e] of mapFields) {
  const [s, f] = key.split('.');
  if (!structs.get(s)?.includes(f)) errors.push(`${e.where}: ${key} is not a field of ${header}`);
}
if (errors.length) {
  for (const e of errors) console.error(`abi-check: ${e}`);
  process.exit(1);
}

// ---- the C program ----
const checks = [];
const lit = (s) => JSON.stringify(s);
let skipped = 0;
for (const [name] of macros) {
  const e = mapDefines.get(name) ?? mapMacros.get(name);
  const fn = macros.get(name).fn;
  if (e.rest.startsWith('-')) {
    skipped++;
    continue;
  }
  if (!fn) {
    const literal = e.rest.startsWith('=');
    const expr = literal ? e.rest.slice(1).trim() : e.rest;
    checks.push(`\tEQ(${lit(name)}, ${lit(literal ? `${expr} (kernel-internal literal)` : expr)}, (unsigned long long)(${name}), (unsigned long long)(${expr}));`);
  } else {
    const literal = e.rest.startsWith('=');
    let body = literal ? e.rest.slice(1).trim() : e.rest;
    // the literal template ends with its sample arguments: split the last tokens that are numbers
    const toks = body.split(/\s+/);
    const samples = [];
    while (toks.length && /^(0x[0-9a-f]+|\d+)$/i.test(toks[toks.length - 1])) samples.unshift(toks.pop());
    body = toks.join(' ');
    if (!samples.length) {
      console.error(`abi-check: ${e.where}: ${name} needs sample arguments`);
      process.exit(1);
    }
    for (const s of samples) {
      const kexpr = literal ? body.replaceAll('(x)', `(${s})`) : `${body}(${s})`;
      checks.push(`\tEQ(${lit(`${name}(${s})`)}, ${lit(kexpr)}, (unsigned long long)(${name}(${s})), (unsigned long long)(${kexpr}));`);
    }
  }
}
for (const [s, fields] of structs) {
  const k = mapStructs.get(s).kernel;
  checks.push(`\tEQ(${lit(`sizeof(struct ${s})`)}, ${lit(`sizeof(struct ${k})`)}, sizeof(struct ${s}), sizeof(struct ${k}));`);
  checks.push(`\tEQ(${lit(`_Alignof(struct ${s})`)}, ${lit(`_Alignof(struct ${k})`)}, _Alignof(struct ${s}), _Alignof(struct ${k}));`);
  for (const f of fields) {
    const fm = mapFields.get(`${s}.${f}`);
    if (fm && fm.rest.startsWith('-')) {
      skipped++;
      continue;
    }
    const kf = fm ? fm.rest.split(/\s+/)[0] : f;
    checks.push(`\tEQ(${lit(`offsetof(${s}, ${f})`)}, ${lit(`offsetof(${k}, ${kf})`)}, offsetof(struct ${s}, ${f}), offsetof(struct ${k}, ${kf}));`);
    checks.push(`\tEQ(${lit(`sizeof(${s}.${f})`)}, ${lit(`sizeof(${k}.${kf})`)}, sizeof(((struct ${s} *)0)->${f}), sizeof(((struct ${k} *)0)->${kf}));`);
  }
}

const c = `/* Generated by scripts/abi-check/gen-check.mjs from ${header.split('/').slice(-3).join('/')}: do not edit. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kfd_ioctl.h>
#include "xsb_kfd_abi.h"

static int failed, total;
static void EQ(const char *ours, const char *theirs, unsigned long long a, unsigned long long b)
{
	total++;
	if (a != b) {
		failed++;
		printf("MISMATCH %s = 0x%llx, kernel %s = 0x%llx\\n", ours, a, theirs, b);
	} else if (getenv("XSB_ABI_VERBOSE")) {
		printf("ok %s = %s = 0x%llx\\n", ours, theirs, a);
	}
}

int main(void)
{
#if KFD_IOCTL_MAJOR_VERSION != 1 || KFD_IOCTL_MINOR_VERSION < 17
#error "this kfd_ioctl.h is older than KFD 1.17: the ABI check needs Linux >= 6.12's header"
#endif
	printf("kernel header: KFD %d.%d\\n", KFD_IOCTL_MAJOR_VERSION, KFD_IOCTL_MINOR_VERSION);
${checks.join('\n')}
	printf("%d comparisons, %d mismatches, ${skipped} project-only names skipped\\n", total, failed);
	return failed ? 1 : 0;
}
`.replace('#include <stdio.h>', '#include <stdio.h>\n#include <stdlib.h>');
writeFileSync(out, c);
console.log(`abi-check: ${checks.length} comparisons generated (${macros.size} macros, ${structs.size} structs), ${skipped} project-only`);
