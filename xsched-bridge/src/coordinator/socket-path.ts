/**
 * Where the coordinator listens, the one rule every command and the shim's XSB_SOCKET follow:
 * --socket, else $XSB_SOCKET, else /run/xsched-bridge/coordinator.sock as root, else
 * $XDG_RUNTIME_DIR/xsched-bridge/coordinator.sock, else /tmp/xsched-bridge-<uid>/coordinator.sock.
 */
import { userInfo } from 'node:os';
import { join } from 'node:path';

export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env, uid: number = userInfo().uid): string {
  const explicit = env['XSB_SOCKET'];
  if (explicit !== undefined && explicit !== '') return explicit;
  if (uid === 0) return '/run/xsched-bridge/coordinator.sock';
  const xdg = env['XDG_RUNTIME_DIR'];
  if (xdg !== undefined && xdg !== '') return join(xdg, 'xsched-bridge', 'coordinator.sock');
  return `/tmp/xsched-bridge-${uid}/coordinator.sock`;
}
