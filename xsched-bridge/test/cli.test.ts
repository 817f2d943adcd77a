// The CLI as a user runs it: `emu env` output, version, and one-line errors for bad input.
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { build, cli, xsb } from './helpers.js';

const emuLib = join(build, 'lib', 'libxsb_emu_kfd.so');
const emuLibDir = join(build, 'lib', 'emu');

/** What a POSIX shell ends up with after `eval "$(xsb emu env ...)"`. */
async function evalInShell(args: string[], env: Record<string, string>): Promise<Record<string, string>> {
  const script = `eval "$("${process.execPath}" "${cli}" emu env ${args.join(' ')})" && env -0`;
  // The shell itself must not try to preload the (maybe not yet built) libraries it exports.
  const r = await execa('sh', ['-c', `${script.replace('env -0', 'LD_PRELOAD= env -0')}; printf 'P=%s' "$LD_PRELOAD"`], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/', ...env },
    extendEnv: false,
  });
  const [vars, preload] = r.stdout.split('\0P=') as [string, string | undefined];
  const out: Record<string, string> = {};
  for (const entry of `${vars}`.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  out['LD_PRELOAD'] = preload ?? '';
  return out;
}

describe('xsb emu env', () => {
  it('exports the emulator environment for the given dir and profile', async () => {
    const dir = "/tmp/xsb dir with 'quote'";
    const got = await evalInShell(['--dir', `"${dir}"`, '--profile', '/tmp/p.json'], {});
    expect(got['XSB_EMU_DIR']).toBe(dir);
    expect(got['XSB_SYSFS_ROOT']).toBe(`${dir}/sysfs`);
    expect(got['LD_LIBRARY_PATH']).toBe(emuLibDir);
    expect(got['LD_PRELOAD']).toBe(emuLib);
    expect(got['XSB_EMU_PROFILE']).toBe('/tmp/p.json');
  });

  it('prepends to LD_LIBRARY_PATH and appends after an existing LD_PRELOAD', async () => {
    const got = await evalInShell([], {
      XSB_EMU_DIR: '/tmp/xsb-e',
      LD_LIBRARY_PATH: '/opt/a/lib:/opt/b/lib',
      LD_PRELOAD: '/opt/shim/libxsb_hip.so /opt/xsched/libshimhip.so',
    });
    expect(got['LD_LIBRARY_PATH']).toBe(`${emuLibDir}:/opt/a/lib:/opt/b/lib`);
    expect(got['LD_PRELOAD']).toBe(`/opt/shim/libxsb_hip.so:/opt/xsched/libshimhip.so:${emuLib}`);
    expect(got['XSB_EMU_PROFILE']).toBeUndefined();
  });

  it('is idempotent: evaluating it twice does not duplicate entries', async () => {
    const once = await evalInShell([], { XSB_EMU_DIR: '/tmp/xsb-e', LD_PRELOAD: '/opt/s.so', LD_LIBRARY_PATH: '/opt/l' });
    const twice = await evalInShell([], {
      XSB_EMU_DIR: '/tmp/xsb-e',
      LD_PRELOAD: once['LD_PRELOAD'] ?? '',
      LD_LIBRARY_PATH: once['LD_LIBRARY_PATH'] ?? '',
    });
    expect(twice['LD_PRELOAD']).toBe(once['LD_PRELOAD']);
    expect(twice['LD_LIBRARY_PATH']).toBe(once['LD_LIBRARY_PATH']);
  });

  it('uses the directory rule of xsb_emu_dir(): XSB_EMU_DIR, XDG_RUNTIME_DIR/xsb-emu, /tmp/xsb-emu-<uid>', async () => {
    const xdg = await xsb(['emu', 'env', '--json'], { XSB_EMU_DIR: undefined, XDG_RUNTIME_DIR: '/run/user/77' });
    expect(JSON.parse(xdg.stdout)).toMatchObject({ XSB_EMU_DIR: '/run/user/77/xsb-emu' });
    const none = await xsb(['emu', 'env', '--json'], { XSB_EMU_DIR: '', XDG_RUNTIME_DIR: undefined });
    expect(JSON.parse(none.stdout)).toMatchObject({ XSB_EMU_DIR: `/tmp/xsb-emu-${userInfo().uid}` });
  });

  it('--json holds the same variables as the export lines', async () => {
    const env = { XSB_EMU_DIR: '/tmp/xsb-j', LD_PRELOAD: '/opt/s.so' };
    const json = await xsb(['emu', 'env', '--json', '--profile', 'rel/p.json'], env);
    expect(json.exitCode).toBe(0);
    const obj = JSON.parse(json.stdout) as Record<string, string>;
    const lines = await xsb(['emu', 'env', '--profile', 'rel/p.json'], env);
    const fromLines = Object.fromEntries(
      lines.stdout.split('\n').map((l) => {
        const m = /^export ([A-Z_]+)='(.*)'$/.exec(l);
        if (m === null) throw new Error(`not an export line: ${l}`);
        return [m[1], m[2]];
      }),
    );
    expect(fromLines).toEqual(obj);
    expect(Object.keys(obj)).toEqual(['XSB_EMU_DIR', 'XSB_SYSFS_ROOT', 'LD_LIBRARY_PATH', 'LD_PRELOAD', 'XSB_EMU_PROFILE']);
    expect(obj['XSB_EMU_PROFILE']).toBe(join(process.cwd(), 'rel/p.json'));
  });
});

describe('command line', () => {
  it('--version prints the package version', async () => {
    const r = await xsb(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('lists emu and workload, and every listed command has working help', async () => {
    const r = await xsb(['--help']);
    expect(r.exitCode).toBe(0);
    const listed = r.stdout.slice(r.stdout.indexOf('Commands:'));
    const commands = [...listed.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1] ?? '');
    expect(commands).toEqual(expect.arrayContaining(['emu', 'workload']));
    for (const c of commands.filter((n) => n !== 'help')) {
      const h = await xsb([c, '--help']);
      expect(h.exitCode, `xsb ${c} --help`).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^Usage: xsched-bridge ${c}`));
    }
  });

  it.each([
    [['bogus']],
    [['emu', 'nope']],
    [['emu', 'env', '--frobnicate']],
    [['workload', '--count', '10']],
    [['workload', '--kernel-us', 'abc', '--count', '10']],
    [['workload', '--kernel-us', '100', '--count', '-5']],
    [['workload', '--kernel-us', '100', '--count', '1', '--period-ms', '0']],
    [['emu', 'start', '--dir']],
    [['workload', '--emulate', '--kernel-us', '10', '--count', '1', '--json', '/nonexistent-dir/w.json']],
  ])('bad input %j: one line on stderr, non-zero exit', async (args: string[]) => {
    const r = await xsb(args);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^xsched-bridge: .+; .+/);
  });

  it('a missing native build names `npm install`; --verbose adds the stack', async () => {
    const env = { XSB_BUILD_DIR: '/nonexistent/xsb-build' };
    const r = await xsb(['workload', '--emulate', '--kernel-us', '10', '--count', '1'], env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^xsched-bridge: the workload program is missing \(\/nonexistent\/xsb-build\/bin\/xsb-workload\); run `npm install`/);
    const v = await xsb(['--verbose', 'workload', '--emulate', '--kernel-us', '10', '--count', '1'], env);
    expect(v.exitCode).toBe(1);
    expect(v.stderr).toMatch(/\n\s+at /);
  });

  it('emu status in a directory without a device says so and exits 3', async () => {
    const r = await xsb(['emu', 'status', '--dir', '/tmp/xsb-no-device-here']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toMatch(/not running/);
    const j = await xsb(['emu', 'status', '--json', '--dir', '/tmp/xsb-no-device-here']);
    expect(JSON.parse(j.stdout)).toEqual({ dir: '/tmp/xsb-no-device-here', running: false, pid: null, device: null });
  });
});
