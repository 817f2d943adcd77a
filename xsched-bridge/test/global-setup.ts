// Compiles the CLI once per run so the tests exercise the current sources through dist/cli.js,
// the file `npx xsb` runs.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './helpers.js';

export default function setup(): void {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], {
    stdio: 'inherit',
  });
  chmodSync(join(root, 'dist', 'cli.js'), 0o755);
}
