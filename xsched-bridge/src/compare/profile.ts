/**
 * The device profile a run used: the emulator's timing constants (native/emu/profiles), or on
 * real KFD a profile measured by stage 3 when given. Reports explain results from it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { XsbError } from '../errors.js';
import { packageRoot } from '../paths.js';

export const profileSchema = z.looseObject({
  name: z.string(),
  notes: z.string().optional(),
  num_cus: z.number().int().positive(),
  gpu_id: z.number().int().optional(),
  gpu_clock_mhz: z.number().positive(),
  sched_policy: z.number().int().optional(),
  kfd_minor: z.number().int().optional(),
  fw_debug_capable: z.number().int().optional(),
  launch_ns: z.number().nonnegative(),
  runlist_unmap_ns: z.number().nonnegative(),
  runlist_remap_ns: z.number().nonnegative(),
  cwsr_bytes_full_queue: z.number().nonnegative(),
  cwsr_bytes_per_s: z.number().positive(),
  default_kernel_ns: z.number().nonnegative().optional(),
  copy_bytes_per_s: z.number().positive().optional(),
});
export type DeviceProfile = z.infer<typeof profileSchema>;

export interface ProfileInfo {
  /** Profile name (from the file). */
  name: string;
  /** Where it came from: a file path, or the emulator's built-in defaults. */
  source: string;
  /** true: timings are assumptions (emulator defaults), false: measured or given by the user. */
  assumed: boolean;
  values: DeviceProfile;
}

export function defaultProfilePath(): string {
  return join(packageRoot(), 'native', 'emu', 'profiles', 'mi300x.json');
}

export function loadProfile(file: string): DeviceProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new XsbError(`cannot read the device profile ${file}`, 'pass a device profile JSON file (as native/emu/profiles/mi300x.json)', { cause: err });
  }
  const r = profileSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new XsbError(`${file} is not a device profile (${i?.path.join('.') ?? '?'}: ${i?.message ?? 'invalid'})`, 'use the fields of native/emu/profiles/mi300x.json');
  }
  return r.data;
}

/** The profile in force: --profile, else $XSB_EMU_PROFILE, else the emulator's defaults. */
export function resolveProfile(profile: string | undefined, env: NodeJS.ProcessEnv = process.env): ProfileInfo {
  const given = profile ?? (env['XSB_EMU_PROFILE'] !== undefined && env['XSB_EMU_PROFILE'] !== '' ? env['XSB_EMU_PROFILE'] : undefined);
  if (given !== undefined) {
    const p = resolve(given);
    if (!existsSync(p)) throw new XsbError(`profile file ${p} does not exist`, 'pass the path of a device profile JSON file');
    const values = loadProfile(p);
    return { name: values.name, source: p, assumed: /assum/i.test(values.name), values };
  }
  const values = loadProfile(defaultProfilePath());
  return { name: values.name, source: 'emulator built-in defaults (native/emu/profiles/mi300x.json)', assumed: true, values };
}

/** Model costs from the profile, in ms. */
export function transitionMs(p: DeviceProfile, occupiedFraction = 1): { unmap: number; save: number; remap: number; restore: number; total: number } {
  const bytes = p.cwsr_bytes_full_queue * Math.min(1, Math.max(0, occupiedFraction));
  const save = (bytes / p.cwsr_bytes_per_s) * 1000;
  const unmap = p.runlist_unmap_ns / 1e6;
  const remap = p.runlist_remap_ns / 1e6;
  return { unmap, save, remap, restore: save, total: unmap + save + remap };
}
