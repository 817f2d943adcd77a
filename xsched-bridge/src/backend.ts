/**
 * Which GPU backend commands run on: the real KFD when /dev/kfd can be opened read-write
 * (what ROCr itself needs), else the emulator; --emulate forces the emulator.
 */
import { closeSync, openSync } from 'node:fs';

export type Backend = 'kfd' | 'emu';

export interface BackendChoice {
  backend: Backend;
  reason: string;
}

export function kfdUsable(path = '/dev/kfd'): { ok: boolean; reason: string } {
  try {
    closeSync(openSync(path, 'r+'));
    return { ok: true, reason: `${path} opened read-write` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return { ok: false, reason: `${path} not usable (${code})` };
  }
}

export function chooseBackend(opts: { emulate?: boolean | undefined }): BackendChoice {
  if (opts.emulate === true) return { backend: 'emu', reason: '--emulate given' };
  const kfd = kfdUsable();
  return kfd.ok ? { backend: 'kfd', reason: kfd.reason } : { backend: 'emu', reason: `${kfd.reason}, using the emulator` };
}
