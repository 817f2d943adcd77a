/**
 * Where the coordinator listens: one rule for the coordinator, the CLI commands and `run`
 * (which passes the result to the shim as XSB_SOCKET; the shim has no default of its own).
 * --socket PATH, else $XSB_SOCKET, else /run/xsched-bridge/coordinator.sock as root (one
 * system-wide path whatever root's environment holds), else
 * $XDG_RUNTIME_DIR/xsched-bridge/coordinator.sock, else /tmp/xsched-bridge-<uid>/coordinator.sock.
 */
import { dirname, resolve } from 'node:path';
import { XsbError } from './errors.js';

export const SOCKET_NAME = 'coordinator.sock';
/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL (unix(7)). */
export const SUN_PATH_MAX = 107;

function uidOf(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/** The default when neither --socket nor $XSB_SOCKET is given. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env, uid: number = uidOf()): string {
  if (uid === 0) return `/run/xsched-bridge/${SOCKET_NAME}`;
  const xdg = env['XDG_RUNTIME_DIR'];
  if (xdg !== undefined && xdg !== '') return resolve(xdg, 'xsched-bridge', SOCKET_NAME);
  return `/tmp/xsched-bridge-${uid}/${SOCKET_NAME}`;
}

/** --socket, else $XSB_SOCKET, else the default; absolute, and short enough for sun_path. */
export function resolveSocketPath(option?: string, env: NodeJS.ProcessEnv = process.env, uid: number = uidOf()): string {
  const given = option !== undefined && option !== '' ? option : env['XSB_SOCKET'];
  const path = given !== undefined && given !== '' ? resolve(given) : defaultSocketPath(env, uid);
  if (Buffer.byteLength(path) > SUN_PATH_MAX) {
    throw new XsbError(
      `the coordinator socket path ${path} is longer than ${SUN_PATH_MAX} bytes (the Unix socket limit)`,
      'pass a shorter --socket PATH or XSB_SOCKET',
    );
  }
  return path;
}

/** The directory the coordinator creates for its socket. */
export function socketDir(path: string): string {
  return dirname(path);
}
