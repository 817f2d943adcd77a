// `xsb doctor` on the emulator (default profile and profiles with each blocker) and on test
// sysfs trees copied from the emulator's and broken one way each: the blocker is reported with
// its fix, and the exit code is 1 exactly when a check fails.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopDevice } from '../src/emu.js';
import { emuDir, needBuilt, root, xsb } from './helpers.js';

interface Check {
  id: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix: string | null;
}
interface Report {
  backend: string;
  mechanism: string;
  checks: Check[];
  summary: Record<string, number>;
}

const tmp = mkdtempSync(join(tmpdir(), 'xsb-doctor-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function doctor(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; report: Report; stdout: string }> {
  const r = await xsb(['doctor', '--json', '-', ...args], { GPU_MAX_HW_QUEUES: undefined, XSCHED_PREFIX: undefined, ...env });
  expect(r.stderr, r.stderr).toBe('');
  return { code: r.exitCode, report: JSON.parse(r.stdout) as Report, stdout: r.stdout };
}

const byId = (r: Report, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(',')}`);
  return c;
};
const failed = (r: Report): string[] => r.checks.filter((c) => c.status === 'fail').map((c) => c.id);

function profile(name: string, over: Record<string, number>): string {
  const base = JSON.parse(readFileSync(join(root, 'native', 'emu', 'profiles', 'mi300x.json'), 'utf8')) as Record<string, unknown>;
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify({ ...base, name, ...over }));
  return file;
}

/** Restarts the test's device with a profile (the doctor's GET_VERSION and sysfs come from it). */
async function device(profileFile?: string): Promise<void> {
  await stopDevice({ dir: emuDir() });
  const r = await xsb(['emu', 'start', ...(profileFile ? ['--profile', profileFile] : [])]);
  expect(r.exitCode, r.stderr).toBe(0);
}

beforeAll(() => needBuilt('lib/libxsb_emu_kfd.so', 'lib/libxsbkfd.so', 'bin/xsb-emu-device'));

describe('doctor on the emulator', () => {
  it('default profile: every check ok or skipped, exit 0, table with the backend', async () => {
    await device();
    const { code, report } = await doctor(['--emulate']);
    expect(report.backend).toBe('emu');
    expect(failed(report)).toEqual([]);
    expect(code).toBe(0);
    expect(byId(report, 'kfd-version').detail).toMatch(/^1\.17/);
    expect(byId(report, 'scheduler').detail).toMatch(/^HWS/);
    expect(report.checks.find((c) => c.id.startsWith('gpu-'))?.detail).toMatch(/gfx942, 304 CUs/);
    expect(byId(report, 'xsched').status).toBe('skip');
    const table = await xsb(['doctor', '--emulate']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(/^OK\s+backend\s+checking the emulated AMD GPU/m);
    expect(table.stdout).toMatch(/\d+ ok, 0 warn, 0 fail/);
  });

  it('KFD 1.11 (kfd_minor 11): the version blocker and its fix; deactivate only warns', async () => {
    await device(profile('old-kfd', { kfd_minor: 11 }));
    const { code, report } = await doctor(['--emulate']);
    expect(code).toBe(1);
    const v = byId(report, 'kfd-version');
    expect(v.status).toBe('fail');
    expect(v.detail).toMatch(/^1\.11: the debugger API needs 1\.13/);
    expect(v.fix).toMatch(/6\.5|ROCm >= 5\.7/);
    expect(failed(report)).toEqual(['kfd-version', 'rocm']);
    const d = await doctor(['--emulate', '--mechanism', 'deactivate']);
    expect(byId(d.report, 'kfd-version').status).toBe('warn');
    expect(d.code).toBe(0);
  });

  it('sched_policy 2 (NO_HWS): blocker with its fix', async () => {
    await device(profile('no-hws', { sched_policy: 2 }));
    const { code, report } = await doctor(['--emulate']);
    expect(code).toBe(1);
    expect(failed(report)).toEqual(['sched-policy']);
    expect(byId(report, 'sched-policy').detail).toMatch(/NO_HWS.*EINVAL/);
    expect(byId(report, 'sched-policy').fix).toMatch(/sched_policy=2/);
  });

  it('no firmware debug bit: the GPU and the runtime-enable blockers', async () => {
    await device(profile('no-fw', { fw_debug_capable: 0 }));
    const { code, report } = await doctor(['--emulate']);
    expect(code).toBe(1);
    const gpu = report.checks.find((c) => c.id.startsWith('gpu-'));
    expect(gpu?.status).toBe('fail');
    expect(gpu?.detail).toMatch(/0x20000000.*never runtime-enables.*EPERM/);
    expect(gpu?.fix).toMatch(/firmware/);
    expect(byId(report, 'rocm').status).toBe('fail');
  });
});

describe('doctor on test sysfs trees', () => {
  let good = '';
  const tree = (name: string, edit: (dir: string) => void): string => {
    const dir = join(tmp, name);
    cpSync(good, dir, { recursive: true });
    edit(dir);
    return dir;
  };
  const params = (dir: string, name: string, value: string): void =>
    writeFileSync(join(dir, 'module', 'amdgpu', 'parameters', name), `${value}\n`);
  const gpuProps = (dir: string): string => join(dir, 'class', 'kfd', 'kfd', 'topology', 'nodes', '1', 'properties');

  beforeAll(async () => {
    await device();
    good = join(tmp, 'good');
    cpSync(join(emuDir(), 'sysfs'), good, { recursive: true });
  });

  it('an unchanged copy passes', async () => {
    const { code, report } = await doctor(['--emulate', '--sysfs-root', good]);
    expect(failed(report)).toEqual([]);
    expect(code).toBe(0);
    // the tree has no debugfs: a warning, not a failure
    expect(byId(report, 'debugfs').status).toBe('warn');
  });

  it('sched_policy 2, missing firmware bit, cwsr off, MES: each reported', async () => {
    const noHws = tree('no-hws', (d) => params(d, 'sched_policy', '2'));
    let r = await doctor(['--emulate', '--sysfs-root', noHws]);
    expect([r.code, failed(r.report)]).toEqual([1, ['sched-policy']]);

    const noFw = tree('no-fw', (d) => {
      const p = readFileSync(gpuProps(d), 'utf8').replace(/^capability (\d+)$/m, (_, v: string) => `capability ${Number(v) & ~0x20000000}`);
      writeFileSync(gpuProps(d), p);
    });
    r = await doctor(['--emulate', '--sysfs-root', noFw]);
    expect(r.code).toBe(1);
    expect(failed(r.report).some((id) => id.startsWith('gpu-'))).toBe(true);

    const noCwsr = tree('no-cwsr', (d) => params(d, 'cwsr_enable', '0'));
    r = await doctor(['--emulate', '--sysfs-root', noCwsr]);
    expect(byId(r.report, 'cwsr').status).toBe('warn');
    expect(byId(r.report, 'cwsr').fix).toMatch(/cwsr_enable=1/);
    expect(r.code).toBe(0);

    const mes = tree('mes', (d) => writeFileSync(gpuProps(d), readFileSync(gpuProps(d), 'utf8').replace('gfx_target_version 90402', 'gfx_target_version 110000')));
    r = await doctor(['--emulate', '--sysfs-root', mes]);
    expect(byId(r.report, 'scheduler').detail).toMatch(/^MES/);
  });

  it('no /dev/kfd: the blocker, its fix, the version skipped, exit 1', async () => {
    const { code, report } = await doctor(['--device', join(tmp, 'no-such-kfd'), '--sysfs-root', good]);
    expect(code).toBe(1);
    const dev = byId(report, 'dev-kfd');
    expect(dev.status).toBe('fail');
    expect(dev.detail).toMatch(/does not exist/);
    expect(dev.fix).toMatch(/amdgpu.*--emulate/);
    expect(byId(report, 'kfd-version').status).toBe('skip');
    expect(report.backend).toBe('kfd');
  });

  it('ROCm versions, XSched prefixes and GPU_MAX_HW_QUEUES', async () => {
    const rocm = (v: string): string => {
      const d = join(tmp, `rocm-${v}`);
      mkdirSync(join(d, '.info'), { recursive: true });
      writeFileSync(join(d, '.info', 'version'), `${v}\n`);
      return d;
    };
    const base = ['--device', join(tmp, 'no-such-kfd'), '--sysfs-root', good];
    let r = await doctor([...base, '--rocm', rocm('5.6.1')]);
    expect(byId(r.report, 'rocm').status).toBe('fail');
    expect(byId(r.report, 'rocm').detail).toMatch(/never runtime-enables/);
    r = await doctor([...base, '--rocm', rocm('6.2.0-66')]);
    expect(byId(r.report, 'rocm').status).toBe('warn'); // unknown KFD version: cannot tell

    const xs = join(tmp, 'xsched');
    mkdirSync(join(xs, 'lib'), { recursive: true });
    mkdirSync(join(xs, 'bin'), { recursive: true });
    for (const f of ['lib/libshimhip.so', 'lib/libhalhip.so', 'lib/libpreempt.so']) writeFileSync(join(xs, f), '');
    r = await doctor(['--emulate', '--xsched', xs]);
    expect(byId(r.report, 'xsched').status).toBe('fail');
    expect(byId(r.report, 'xsched').detail).toMatch(/bin\/xserver/);
    expect(r.code).toBe(1);
    writeFileSync(join(xs, 'bin', 'xserver'), '');
    r = await doctor(['--emulate'], { XSCHED_PREFIX: xs, GPU_MAX_HW_QUEUES: 'many' });
    expect(byId(r.report, 'xsched').status).toBe('ok');
    expect(byId(r.report, 'gpu-max-hw-queues').status).toBe('warn');
    expect(r.code).toBe(0);
  });

  it('--json FILE writes the report and still prints the table; bad options are one line', async () => {
    const file = join(tmp, 'doctor.json');
    const r = await xsb(['doctor', '--emulate', '--json', file]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^OK\s+backend/m);
    expect((JSON.parse(readFileSync(file, 'utf8')) as Report).backend).toBe('emu');
    const bad = await xsb(['doctor', '--mechanism', 'freeze']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const unwritable = await xsb(['doctor', '--emulate', '--json', join(tmp, 'no', 'such', 'dir', 'x.json')]);
    expect(unwritable.exitCode).toBe(1);
    expect(unwritable.stderr).toMatch(/^xsched-bridge: cannot write .*; /);
    expect(unwritable.stderr).not.toMatch(/\n\s+at /);
  });
});
