#!/usr/bin/env node
// Builds everything `npm install` / `npm ci` must produce: the native parts with the machine's
// cmake and g++ into ./build (-j2), then the TypeScript CLI into ./dist. Downloads nothing.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = process.env.XSB_BUILD_DIR || join(root, 'build');
const jobs = process.env.XSB_BUILD_JOBS || '2';

function fail(line) {
  process.stderr.write(`xsched-bridge: ${line}\n`);
  process.exit(1);
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v "${cmd}"`], { stdio: 'ignore' }).status === 0;
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.error) fail(`${what} could not run (${r.error.message}); check that ${cmd} is installed`);
  if (r.status !== 0) fail(`${what} failed (exit status ${r.status ?? r.signal}); see the messages above`);
}

// Debian package -> what shows it is installed.
const missing = [];
if (!onPath('cmake')) missing.push('cmake');
if (!onPath('g++') || !onPath('gcc')) missing.push('g++');
if (!existsSync('/usr/include/cjson/cJSON.h')) missing.push('libcjson-dev');
if (missing.length > 0) {
  fail(
    `cannot build the native parts: missing ${missing.join(', ')}; install them with ` +
      '`apt-get install cmake g++ libcjson-dev` (Debian/Ubuntu) and run `npm install` again',
  );
}

if (process.env.XSB_SKIP_NATIVE !== '1') {
  run('cmake', ['-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], 'cmake configure');
  run('cmake', ['--build', buildDir, '-j', jobs], 'native build');
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (existsSync(tsc)) {
  run(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], 'TypeScript build');
} else if (!existsSync(join(root, 'dist', 'cli.js'))) {
  fail('TypeScript is not installed and dist/ is missing; run `npm install` (with dev dependencies) in ' + root);
}
chmodSync(join(root, 'dist', 'cli.js'), 0o755);
