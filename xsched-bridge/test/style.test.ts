// Project rules the compiler does not enforce by itself: no `any` (use `unknown`), and the
// tests themselves type-check.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { root } from './helpers.js';

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

// Spelled in pieces so this file does not match itself.
const ANY = ['a', 'ny'].join('');
const explicitAny = new RegExp(`(:\\s*${ANY}\\b|\\bas\\s+${ANY}\\b|<${ANY}>|\\b${ANY}\\[\\])`);

it('no explicit any in xsched-bridge/', () => {
  const offenders: string[] = [];
  for (const f of tsFiles(join(root, 'xsched-bridge'))) {
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '').replace(/'[^']*'|"[^"]*"|`[^`]*`/g, '""');
        if (explicitAny.test(code)) offenders.push(`${relative(root, f)}:${i + 1}: ${line.trim()}`);
      });
  }
  expect(offenders).toEqual([]);
});

it('sources and tests type-check (tsconfig.test.json)', async () => {
  const r = await execa(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.test.json')], {
    reject: false,
    all: true,
  });
  expect(r.all).toBe('');
  expect(r.exitCode).toBe(0);
});
