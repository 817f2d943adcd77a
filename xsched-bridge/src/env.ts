/**
 * The environment that makes any program use the emulated AMD GPU: its libamdhip64.so
 * (LD_LIBRARY_PATH) and its /dev/kfd (the LD_PRELOAD interposer), talking to the device
 * in XSB_EMU_DIR.
 */
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { artifactPath } from './paths.js';

export interface EmuEnvOptions {
  dir?: string | undefined;
  profile?: string | undefined;
  /** The environment being extended (default: process.env). */
  base?: NodeJS.ProcessEnv | undefined;
}

/** Device directory, the same rule as xsb_emu_dir() in native/emu/include/xsb_emu_client.h:
 * $XSB_EMU_DIR, else $XDG_RUNTIME_DIR/xsb-emu, else /tmp/xsb-emu-<uid>. */
export function emuDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['XSB_EMU_DIR'];
  if (explicit !== undefined && explicit !== '') return explicit;
  const xdg = env['XDG_RUNTIME_DIR'];
  if (xdg !== undefined && xdg !== '') return join(xdg, 'xsb-emu');
  return `/tmp/xsb-emu-${userInfo().uid}`;
}

/** Variables to set, in the order they are printed. */
export function emuEnv(opts: EmuEnvOptions = {}): Record<string, string> {
  const base = opts.base ?? process.env;
  const dir = resolve(opts.dir ?? emuDir(base));
  const out: Record<string, string> = {
    XSB_EMU_DIR: dir,
    XSB_SYSFS_ROOT: join(dir, 'sysfs'),
    LD_LIBRARY_PATH: prependPath(artifactPath('emuLibDir', base), base['LD_LIBRARY_PATH'], ':'),
    // Appended: a shim preloaded earlier (ours, XSched's) must see ioctl() first and reach
    // the emulated /dev/kfd through RTLD_NEXT.
    LD_PRELOAD: appendPreload(artifactPath('emuKfd', base), base['LD_PRELOAD']),
  };
  if (opts.profile !== undefined) out['XSB_EMU_PROFILE'] = resolve(opts.profile);
  return out;
}

function prependPath(first: string, existing: string | undefined, sep: string): string {
  const rest = (existing ?? '').split(sep).filter((p) => p !== '' && p !== first);
  return [first, ...rest].join(sep);
}

/** The entries of an LD_PRELOAD value: ld.so splits it on spaces and colons. */
export function preloadEntries(value: string | undefined): string[] {
  return (value ?? '').split(/[:\s]+/).filter((p) => p !== '');
}

/** lib after the user's entries, which keep their order. */
function appendPreload(lib: string, existing: string | undefined): string {
  return [...preloadEntries(existing).filter((p) => p !== lib), lib].join(':');
}

/** POSIX-shell single quoting. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function formatExports(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
    .join('\n');
}
