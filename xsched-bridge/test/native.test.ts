// The native test programs (registered with ctest in build/) as part of `npm test`: one vitest
// test per ctest test, run one at a time with ctest's own properties (timeouts, environment).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { build } from './helpers.js';

const ctestEnv = { ...process.env, CTEST_OUTPUT_ON_FAILURE: '1' };

function listTests(): string[] {
  if (!existsSync(join(build, 'CTestTestfile.cmake'))) {
    throw new Error(`${build} is not a configured build: run \`npm install\` first`);
  }
  const out = execFileSync('ctest', ['--test-dir', build, '--show-only=json-v1'], { encoding: 'utf8', env: ctestEnv });
  const parsed = JSON.parse(out) as { tests?: { name: string }[] };
  return (parsed.tests ?? []).map((t) => t.name);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const tests = listTests();

describe('native ctest suite', () => {
  if (tests.length === 0) {
    it('ctest runs (no native tests are registered yet)', async () => {
      const r = await execa('ctest', ['--test-dir', build], { reject: false, all: true, env: ctestEnv });
      expect(r.exitCode).toBe(0);
      expect(r.all).toMatch(/No tests were found/);
    });
  }

  it.each(tests)('%s', async (name) => {
    const r = await execa('ctest', ['--test-dir', build, '--output-on-failure', '-R', `^${escapeRegex(name)}$`], {
      reject: false,
      all: true,
      env: ctestEnv,
    });
    if (r.exitCode !== 0) throw new Error(`ctest ${name} failed:\n${r.all ?? ''}`);
    expect(r.all).toMatch(/100% tests passed, 0 tests failed out of 1/);
  });
});
