/**
 * Where the package and its native build outputs are. The layout under the build dir is
 * fixed by the top-level CMakeLists.txt (bin/, lib/, lib/emu/, tests/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XsbError } from './errors.js';

let cachedRoot: string | undefined;

/** Package root: the nearest ancestor of this module holding xsched-bridge's package.json
 * (dist/ when compiled, xsched-bridge/src/ when run from source by the tests). */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && isOurPackage(pkg)) {
      cachedRoot = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) {
      throw new XsbError(
        `cannot find the xsched-bridge package.json above ${fileURLToPath(import.meta.url)}`,
        'run xsched-bridge from its installed package (npm install)',
      );
    }
    dir = up;
  }
}

function isOurPackage(file: string): boolean {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === 'xsched-bridge';
  } catch {
    return false;
  }
}

export function packageVersion(): string {
  const parsed: unknown = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8'));
  const v = typeof parsed === 'object' && parsed !== null ? (parsed as { version?: unknown }).version : undefined;
  return typeof v === 'string' ? v : '0.0.0';
}

/** The native build dir: $XSB_BUILD_DIR (e.g. a sanitizer build) or <root>/build, which
 * `npm install` / `npm ci` produce. */
export function buildDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env['XSB_BUILD_DIR'];
  return override !== undefined && override !== '' ? resolve(override) : join(packageRoot(), 'build');
}

export type Artifact = 'device' | 'ctl' | 'workload' | 'emuKfd' | 'emuLibDir';

const ARTIFACTS: Record<Artifact, { rel: string; what: string }> = {
  device: { rel: 'bin/xsb-emu-device', what: 'the emulated GPU device program' },
  ctl: { rel: 'bin/xsb-emu-ctl', what: 'the emulator control tool' },
  workload: { rel: 'bin/xsb-workload', what: 'the workload program' },
  emuKfd: { rel: 'lib/libxsb_emu_kfd.so', what: 'the emulated /dev/kfd interposer' },
  emuLibDir: { rel: 'lib/emu', what: 'the emulated HIP runtime directory' },
};

/** Path of a build output; it need not exist (see requireArtifact). */
export function artifactPath(a: Artifact, env: NodeJS.ProcessEnv = process.env): string {
  return join(buildDir(env), ARTIFACTS[a].rel);
}

/** Path of a build output that must exist, else an error telling how to build it. */
export function requireArtifact(a: Artifact, env: NodeJS.ProcessEnv = process.env): string {
  const p = artifactPath(a, env);
  if (!existsSync(p)) {
    throw new XsbError(
      `${ARTIFACTS[a].what} is missing (${p})`,
      `run \`npm install\` in ${packageRoot()} to build the native parts`,
    );
  }
  return p;
}
