import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { buildDir } from '../src/paths.js';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = join(root, 'dist', 'cli.js');
/** The build the CLI under test uses: the same rule as src/paths.ts (XSB_BUILD_DIR, else ./build). */
export const build = buildDir();

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI as a user would; env entries set to undefined are removed. */
export async function xsb(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const full: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) full[k] = v;
  const r = await execa(process.execPath, [cli, ...args], { env: full, extendEnv: false, reject: false, stdin: 'ignore' });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Fails with a message naming what to build when a native part is missing. */
export function needBuilt(...rel: string[]): void {
  for (const r of rel) {
    const p = join(build, r);
    if (!existsSync(p)) throw new Error(`${p} is missing: build the native parts (npm install) before these tests`);
  }
}

export function emuDir(): string {
  const d = process.env['XSB_EMU_DIR'];
  if (d === undefined) throw new Error('XSB_EMU_DIR is not set: test/setup.ts did not run');
  return d;
}
