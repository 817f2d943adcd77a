// `xsb emu start|status|stop` against the real device program, in this file's XSB_EMU_DIR.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { emuDir, needBuilt, xsb } from './helpers.js';

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

describe('emulated device lifecycle', () => {
  beforeAll(() => needBuilt('bin/xsb-emu-device', 'bin/xsb-emu-ctl'));

  it('start, start again, status, stop, status', async () => {
    const dir = emuDir();
    const start = await xsb(['emu', 'start']);
    expect(start.stderr).toBe('');
    expect(start.exitCode).toBe(0);
    const m = /^device started in (.+) \(pid (\d+)\)$/.exec(start.stdout.trim());
    expect(m?.[1]).toBe(dir);
    const pid = Number(m?.[2]);
    // The CLI has exited; the device lives on in its own session and answers at once
    // (readiness handshake, no waiting here).
    expect(alive(pid)).toBe(true);
    expect(Number(readFileSync(join(dir, 'device.pid'), 'utf8').trim())).toBe(pid);
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[3]).toBe(String(pid)); // session id

    const again = await xsb(['emu', 'start']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout.trim()).toBe(`a device already runs in ${dir} (pid ${pid})`);

    const status = await xsb(['emu', 'status', '--json']);
    expect(status.exitCode).toBe(0);
    const s = JSON.parse(status.stdout) as { running: boolean; pid: number; dir: string; device: unknown };
    expect(s).toMatchObject({ running: true, pid, dir });
    expect(typeof s.device).toBe('object');
    expect(s.device).not.toBeNull();

    const table = await xsb(['emu', 'status']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^device\\s+running, pid ${pid}, `));
    expect(table.stdout).toMatch(/^processes\s+0$/m);
    expect(table.stdout).toMatch(/^timing\s+0 completions/m);

    const stop = await xsb(['emu', 'stop']);
    expect(stop.exitCode).toBe(0);
    expect(stop.stdout.trim()).toBe(`device (pid ${pid}) in ${dir} stopped`);
    expect(alive(pid)).toBe(false);

    const after = await xsb(['emu', 'status']);
    expect(after.exitCode).toBe(3);
    const stopAgain = await xsb(['emu', 'stop']);
    expect(stopAgain.exitCode).toBe(0);
    expect(stopAgain.stdout.trim()).toBe(`no device runs in ${dir}`);
  });

  it('status shows the processes, queues and rings of a running workload', async () => {
    expect((await xsb(['emu', 'start'])).exitCode).toBe(0);
    const work = xsb(['workload', '--emulate', '--kernel-us', '50000', '--count', '30', '--streams', '2']);
    // Wait (bounded) until the workload's queues exist on the device.
    let seen: { processes?: { pid: number; queues: unknown[] }[] } | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const j = await xsb(['emu', 'status', '--json']);
      const dev = (JSON.parse(j.stdout) as { device: typeof seen }).device;
      if ((dev?.processes ?? []).some((p) => p.queues.length >= 2)) {
        seen = dev;
        break;
      }
    }
    expect(seen).toBeDefined();
    const text = await xsb(['emu', 'status']);
    const wpid = seen?.processes?.[0]?.pid;
    expect(text.stdout).toMatch(/^processes\s+1$/m);
    expect(text.stdout).toMatch(new RegExp(`^\\s+${wpid}\\s+yes\\s+`, 'm'));
    expect(text.stdout).toMatch(/^ +\d+ +\d+ +compute-aql +\d+ +100 +\d+ +\d+ +mapped /m);
    expect(text.stdout).toMatch(/^ +\d+ +\d+ +bound +\d+ +\d+ +\d+$/m);
    const w = await work;
    expect(w.exitCode).toBe(0);
    expect((await xsb(['emu', 'stop'])).exitCode).toBe(0);
  });

  it('--foreground runs the device in the command itself until it is stopped', async () => {
    const dir = join(emuDir(), 'fg');
    const fg = xsb(['emu', 'start', '--foreground', '--dir', dir]);
    let status = -1;
    const deadline = Date.now() + 10_000;
    while (status !== 0 && Date.now() < deadline) status = (await xsb(['emu', 'status', '--dir', dir])).exitCode;
    expect(status).toBe(0);
    expect((await xsb(['emu', 'stop', '--dir', dir])).exitCode).toBe(0);
    const r = await fg;
    expect(r.exitCode).toBe(0);
  });

  it('a stale pid file naming a live non-device process is not mistaken for a device', async () => {
    const dir = join(emuDir(), 'stale');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'device.pid'), `${process.pid}\n`);
    const r = await xsb(['emu', 'stop', '--dir', dir]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe(`no device runs in ${dir}`);
    expect(alive(process.pid)).toBe(true);
  });

  it('a missing profile file is a one-line error and starts nothing', async () => {
    const dir = join(emuDir(), 'noprofile');
    const r = await xsb(['emu', 'start', '--dir', dir, '--profile', '/nonexistent/profile.json']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^xsched-bridge: profile file \/nonexistent\/profile\.json does not exist; /);
    expect(existsSync(join(dir, 'device.sock'))).toBe(false);
  });

  it('a profile the device rejects is reported with the device log, not a hang', async () => {
    const dir = join(emuDir(), 'badprofile');
    const profile = join(emuDir(), 'bad-profile.json');
    writeFileSync(profile, '{"num_cus": "many", "no_such_key": 1}\n');
    const r = await xsb(['emu', 'start', '--dir', dir, '--profile', profile]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^xsched-bridge: the device exited before it was ready/);
  });
});
