/**
 * `xsb doctor`: the backend commands would use and every precondition of the two suspend
 * mechanisms, each with a status (ok|warn|fail|skip) and a one-line fix. Facts: KFD-FACTS.md.
 * Blockers of the debugger path fail for --mechanism dbg-trap (the shim's default) and only
 * warn for deactivate (UPDATE_QUEUE needs no debugger session, version or firmware support).
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { chooseBackend, kfdUsable } from '../backend.js';
import { XsbError } from '../errors.js';
import {
  CAP_FW_DEBUG,
  DEBUG_MIN_MINOR,
  Kfd,
  KfdError,
  readAmdgpuParams,
  readTopology,
  sysfsRoot,
  type AmdgpuParams,
  type Param,
  type TopologyNode,
} from '../kfd/index.js';
import { artifactPath } from '../paths.js';
import { emitJson, gpuHex, reexecInEmulator, renderTable } from './common.js';
import { MECHANISMS } from './run.js';

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  id: string;
  name: string;
  status: Status;
  detail: string;
  fix: string | null;
}

export interface DoctorOptions {
  json?: string | boolean | undefined;
  sysfsRoot?: string | undefined;
  emulate?: boolean | undefined;
  dir?: string | undefined;
  profile?: string | undefined;
  mechanism?: string | undefined;
  xsched?: string | undefined;
  rocm?: string | undefined;
  device?: string | undefined;
}

export interface DoctorReport {
  backend: 'kfd' | 'emu';
  backend_reason: string;
  mechanism: string;
  sysfs_root: string;
  checks: Check[];
  summary: Record<Status, number>;
}

const check = (id: string, name: string, status: Status, detail: string, fix: string | null = null): Check => ({
  id,
  name,
  status,
  detail,
  fix,
});

function errnoText(e: number): string {
  return e === 2 ? 'missing (ENOENT)' : e === 13 ? 'not readable (EACCES)' : `unreadable (errno ${e})`;
}

interface Ctx {
  o: DoctorOptions;
  emu: boolean;
  /** severity of a debugger-path blocker */
  dbg: Status;
  root: string;
  kfdVersion: { major: number; minor: number } | null;
  gpus: TopologyNode[] | null;
  params: AmdgpuParams | null;
}

function devKfdCheck(c: Ctx): { check: Check; kfd: Kfd | null } {
  const path = c.o.device ?? '/dev/kfd';
  if (c.emu) {
    // Opening through the interposer connects to (or starts) the emulated device.
    try {
      const kfd = Kfd.open(path);
      return {
        check: check('dev-kfd', '/dev/kfd', 'ok', `emulated: ${artifactPath('emuKfd')} (LD_PRELOAD) serves ${path}; device dir ${process.env['XSB_EMU_DIR'] ?? '?'}`),
        kfd,
      };
    } catch (err) {
      const why = err instanceof KfdError ? `${err.code}: ${err.diagnosis}` : String(err);
      return {
        check: check('dev-kfd', '/dev/kfd', 'fail', `the emulated ${path} could not be opened (${why})`, 'start the device (xsb emu start) and see its device.log'),
        kfd: null,
      };
    }
  }
  const u = kfdUsable(path);
  if (!u.ok) {
    const enoent = u.reason.includes('ENOENT');
    return {
      check: check(
        'dev-kfd',
        '/dev/kfd',
        'fail',
        enoent ? `${path} does not exist: no amdgpu KFD on this machine` : u.reason,
        enoent
          ? 'load the amdgpu driver (modprobe amdgpu; amdgpu-dkms from ROCm) on a machine with an AMD GPU, or use --emulate'
          : 'join the render and video groups (sudo usermod -aG render,video $USER), log in again',
      ),
      kfd: null,
    };
  }
  try {
    return { check: check('dev-kfd', '/dev/kfd', 'ok', u.reason), kfd: Kfd.open(path) };
  } catch (err) {
    const why = err instanceof KfdError ? `${err.code}: ${err.diagnosis}` : String(err);
    return { check: check('dev-kfd', '/dev/kfd', 'fail', `libxsbkfd could not open ${path} (${why})`, 'check the device node'), kfd: null };
  }
}

function versionCheck(c: Ctx, kfd: Kfd | null): Check {
  if (kfd === null) return check('kfd-version', 'KFD version', 'skip', 'needs an open /dev/kfd');
  let v;
  try {
    v = kfd.version();
  } catch (err) {
    const why = err instanceof KfdError ? `${err.code}: ${err.diagnosis}` : String(err);
    return check('kfd-version', 'KFD version', 'fail', `GET_VERSION failed (${why})`, 'check that the device node is the amdgpu KFD');
  }
  c.kfdVersion = v;
  if (v.major === 1 && v.minor >= DEBUG_MIN_MINOR) {
    return check('kfd-version', 'KFD version', 'ok', `${v.major}.${v.minor}: the debugger API (DBG_TRAP) is there`);
  }
  return check(
    'kfd-version',
    'KFD version',
    c.dbg,
    `${v.major}.${v.minor}: the debugger API needs 1.${DEBUG_MIN_MINOR} (Linux 6.5); DBG_TRAP is unknown to this driver`,
    'upgrade the kernel to >= 6.5 or install amdgpu-dkms from ROCm >= 5.7, or use --mechanism deactivate',
  );
}

function param(p: Param | undefined, file: string, root: string): { v: number | null; why: string } {
  if (p === undefined) return { v: null, why: 'not read' };
  return p.errno === 0 ? { v: p.value, why: '' } : { v: null, why: `${join(root, 'module/amdgpu/parameters', file)} ${errnoText(p.errno)}` };
}

function paramChecks(c: Ctx): Check[] {
  try {
    c.params = readAmdgpuParams(c.root);
  } catch (err) {
    const why = err instanceof KfdError ? err.diagnosis : String(err);
    return [check('amdgpu-params', 'amdgpu parameters', 'warn', why, 'load amdgpu or pass --sysfs-root')];
  }
  const p = c.params;
  if ([p.schedPolicy, p.cwsrEnable, p.queuePreemptionTimeoutMs, p.mes].every((x) => x.errno === 2)) {
    return [
      check('amdgpu-params', 'amdgpu parameters', 'warn', `${join(c.root, 'module/amdgpu/parameters')} missing: amdgpu is not loaded`, 'load amdgpu (or pass --sysfs-root) so doctor can read sched_policy, cwsr_enable and the preemption timeout'),
    ];
  }
  const out: Check[] = [];
  const sp = param(c.params.schedPolicy, 'sched_policy', c.root);
  if (sp.v === null) out.push(check('sched-policy', 'sched_policy', 'warn', sp.why, 'load amdgpu (or pass --sysfs-root) so doctor can read it'));
  else if (sp.v === 2) {
    out.push(
      check(
        'sched-policy',
        'sched_policy',
        c.dbg,
        '2 = NO_HWS: KFD refuses the debugger path (DBG_TRAP returns EINVAL)',
        'remove amdgpu.sched_policy=2 (kernel command line or /etc/modprobe.d) and reboot, or use --mechanism deactivate',
      ),
    );
  } else out.push(check('sched-policy', 'sched_policy', 'ok', `${sp.v} = ${sp.v === 0 ? 'HWS' : 'HWS without oversubscription'}`));

  const cw = param(c.params.cwsrEnable, 'cwsr_enable', c.root);
  if (cw.v === null) out.push(check('cwsr', 'cwsr_enable', 'warn', cw.why, 'load amdgpu (or pass --sysfs-root)'));
  else if (cw.v === 0) {
    out.push(
      check(
        'cwsr',
        'cwsr_enable',
        'warn',
        '0: no compute wave save/restore: a suspend waits for running waves to finish, so long kernels delay it (and may hit the preemption timeout)',
        'set amdgpu.cwsr_enable=1 (the default) and reload amdgpu',
      ),
    );
  } else out.push(check('cwsr', 'cwsr_enable', 'ok', `${cw.v}: running waves are saved (CWSR) on suspend`));

  const pt = param(c.params.queuePreemptionTimeoutMs, 'queue_preemption_timeout_ms', c.root);
  if (pt.v === null) out.push(check('preemption-timeout', 'queue_preemption_timeout_ms', 'warn', pt.why, 'load amdgpu (or pass --sysfs-root)'));
  else {
    out.push(
      check(
        'preemption-timeout',
        'queue_preemption_timeout_ms',
        pt.v < 1000 ? 'warn' : 'ok',
        `${pt.v} ms: a preemption (suspend) that takes longer resets the GPU`,
        pt.v < 1000 ? 'raise amdgpu.queue_preemption_timeout_ms (default 9000)' : null,
      ),
    );
  }
  return out;
}

function gpuChecks(c: Ctx): Check[] {
  let nodes: TopologyNode[];
  try {
    nodes = readTopology(c.root);
  } catch (err) {
    const why = err instanceof KfdError ? err.diagnosis : String(err);
    c.gpus = [];
    return [check('gpus', 'GPUs', 'fail', `KFD topology unreadable: ${why}`, 'load amdgpu, pass --sysfs-root, or use --emulate')];
  }
  c.gpus = nodes.filter((n) => n.gpuId !== 0);
  if (c.gpus.length === 0) {
    return [check('gpus', 'GPUs', 'fail', `no GPU node in ${join(c.root, 'class/kfd/kfd/topology/nodes')}`, 'install an AMD GPU with amdgpu loaded, or use --emulate')];
  }
  const out: Check[] = [];
  const majors = c.gpus.map((g) => Math.floor(g.gfxTargetVersion / 10000));
  const mesParam = c.params?.mes.errno === 0 ? c.params.mes.value : null;
  const mes = majors.some((m) => m >= 11) || mesParam === 1;
  out.push(
    check(
      'scheduler',
      'MES or HWS',
      'ok',
      mes
        ? `MES (gfx11/12${mesParam === 1 ? ', amdgpu.mes=1' : ''}): queues are removed one by one; grace_period is ignored`
        : `HWS (CP firmware scheduler${mesParam !== null ? `, amdgpu.mes=${mesParam}` : ''}): every suspend unmaps the device's whole runlist, so the online queue is preempted too (the adaptive policy weighs this)`,
    ),
  );
  for (const g of c.gpus) {
    const name = `GPU ${gpuHex(g.gpuId)} (node ${g.node})`;
    const desc = `${g.gfxName || 'gfx?'}, ${g.cuCount} CUs, capability 0x${g.capability.toString(16)}`;
    if (!g.fwDebug) {
      out.push(
        check(
          `gpu-${gpuHex(g.gpuId)}`,
          name,
          c.dbg,
          `${desc}: no firmware debug support (bit 0x${CAP_FW_DEBUG.toString(16)}): ROCr >= 5.7 never runtime-enables, so DBG_TRAP SUSPEND returns EPERM`,
          'update the GPU firmware (linux-firmware / amdgpu-dkms from a recent ROCm), or use --mechanism deactivate',
        ),
      );
    } else if (g.missing.length > 0) {
      out.push(check(`gpu-${gpuHex(g.gpuId)}`, name, 'warn', `${desc}; properties missing: ${g.missing.join(', ')}`, 'check the amdgpu driver version'));
    } else out.push(check(`gpu-${gpuHex(g.gpuId)}`, name, 'ok', `${desc}, firmware debug support`));
  }
  return out;
}

/** ROCm version from <prefix>/.info/version and the libhsa-runtime64 file name (…so.1.14.60200). */
function rocmInfo(prefix: string): { version: string | null; hsa: string | null } {
  let version: string | null = null;
  try {
    version = readFileSync(join(prefix, '.info', 'version'), 'utf8').trim().split('\n')[0] ?? null;
  } catch {
    version = null;
  }
  let hsa: string | null = null;
  for (const dir of [join(prefix, 'lib'), join(prefix, 'lib64'), '/usr/lib/x86_64-linux-gnu']) {
    try {
      const f = readdirSync(dir).find((n) => n.startsWith('libhsa-runtime64.so'));
      if (f !== undefined) {
        hsa = realpathSync(join(dir, f));
        break;
      }
    } catch {
      // not there
    }
  }
  if (version === null && hsa !== null) {
    const m = /libhsa-runtime64\.so\.\d+\.\d+\.(\d+)(\d\d)(\d\d)$/.exec(hsa);
    if (m) version = `${Number(m[1])}.${Number(m[2])}.${Number(m[3])}`;
  }
  return { version, hsa };
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split(/[.-]/).map(Number);
  return (a ?? 0) > major || ((a ?? 0) === major && (b ?? 0) >= minor);
}

function rocmCheck(c: Ctx): Check {
  const allFw = (c.gpus ?? []).length > 0 && (c.gpus ?? []).every((g) => g.fwDebug);
  const apiOk = c.kfdVersion !== null && c.kfdVersion.minor >= DEBUG_MIN_MINOR;
  const enables = allFw && apiOk;
  const why = !apiOk ? `KFD ${c.kfdVersion ? `${c.kfdVersion.major}.${c.kfdVersion.minor}` : '?'} lacks the debugger API` : 'a GPU lacks firmware debug support';
  if (c.emu) {
    const lib = join(artifactPath('emuLibDir'), 'libamdhip64.so');
    return enables
      ? check('rocm', 'ROCm / ROCr', 'ok', `emulated runtime ${lib} (HIP 6.2 API): runtime-enables at init as ROCr >= 5.7 does`)
      : check('rocm', 'ROCm / ROCr', c.dbg, `emulated runtime ${lib}: does not runtime-enable (${why}), so self-suspend gets EPERM`, 'use a device profile with kfd_minor >= 13 and fw_debug_capable 1, or --mechanism deactivate');
  }
  const prefix = c.o.rocm ?? process.env['ROCM_PATH'] ?? '/opt/rocm';
  const info = rocmInfo(prefix);
  if (info.version === null && info.hsa === null) {
    return check('rocm', 'ROCm / ROCr', 'warn', `no ROCm found (${join(prefix, '.info/version')}, libhsa-runtime64)`, 'install ROCm >= 5.7, or pass --rocm PREFIX / set ROCM_PATH');
  }
  const what = `ROCm ${info.version ?? '?'}${info.hsa !== null ? ` (${info.hsa})` : ''}`;
  if (info.version === null) return check('rocm', 'ROCm / ROCr', 'warn', `${what}: version unknown, cannot tell whether it runtime-enables`, 'install ROCm >= 5.7');
  if (!atLeast(info.version, 5, 7)) {
    return check('rocm', 'ROCm / ROCr', c.dbg, `${what}: ROCr < 5.7 never runtime-enables on upstream kernels, so DBG_TRAP SUSPEND returns EPERM`, 'install ROCm >= 5.7, or use --mechanism deactivate');
  }
  if (c.kfdVersion === null && allFw) {
    return check('rocm', 'ROCm / ROCr', 'warn', `${what}: runtime-enables if the KFD has the debugger API (its version is unknown)`, 'fix the /dev/kfd check above');
  }
  if (!enables) return check('rocm', 'ROCm / ROCr', c.dbg, `${what}: does not runtime-enable here (${why})`, 'fix the GPU/KFD checks above, or use --mechanism deactivate');
  return check('rocm', 'ROCm / ROCr', 'ok', `${what}: runtime-enables at hsa_init (every GPU has firmware debug support)`);
}

function ptraceCheck(): Check {
  let v: string;
  try {
    v = readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim();
  } catch {
    return check('ptrace-scope', 'ptrace_scope', 'ok', 'no Yama: a process of the same uid may trace (xsb kfd on other pids works)');
  }
  const self = 'the shim debugs its own process (no ptrace needed)';
  if (v === '0') return check('ptrace-scope', 'ptrace_scope', 'ok', `0: same-uid tracing allowed; ${self}`);
  if (v === '1') return check('ptrace-scope', 'ptrace_scope', 'ok', `1: only ancestors trace; ${self}; \`xsb kfd\` on another pid needs sudo`);
  return check('ptrace-scope', 'ptrace_scope', 'warn', `${v}: ${v === '2' ? 'only CAP_SYS_PTRACE may trace' : 'no tracing at all'}; ${self}, but \`xsb kfd\` on other pids fails`, 'sudo sysctl kernel.yama.ptrace_scope=1 (3 needs a reboot)');
}

function debugfsCheck(c: Ctx): Check {
  if (c.emu && c.o.sysfsRoot === undefined) return check('debugfs', 'debugfs kfd/mqds', 'skip', 'the emulator has no debugfs (xsb emu status shows its queues)');
  const p = join(c.root, 'kernel', 'debug', 'kfd', 'mqds');
  try {
    readFileSync(p);
    return check('debugfs', 'debugfs kfd/mqds', 'ok', `${p} readable: xsb queues shows ring bases and CP slots`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return check('debugfs', 'debugfs kfd/mqds', 'warn', `${p} not readable (${code}); only needed for ring bases and CP slots in xsb queues`, 'run `sudo xsb queues` (debugfs is root-only; mount -t debugfs none /sys/kernel/debug)');
  }
}

function hwQueuesCheck(): Check {
  const v = process.env['GPU_MAX_HW_QUEUES'];
  const base = 'streams beyond it share hardware queues, and suspending a queue stops every stream on it: the process is the unit of suspension';
  if (v === undefined || v === '') return check('gpu-max-hw-queues', 'GPU_MAX_HW_QUEUES', 'ok', `unset (HIP default 4 per priority); ${base}`);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) return check('gpu-max-hw-queues', 'GPU_MAX_HW_QUEUES', 'warn', `"${v}" is not a positive integer (HIP ignores it)`, 'unset it or give a number >= 1');
  return check('gpu-max-hw-queues', 'GPU_MAX_HW_QUEUES', 'ok', `${n} per priority; ${base}`);
}

function xschedCheck(c: Ctx): Check {
  const prefix = c.o.xsched ?? process.env['XSCHED_PREFIX'];
  if (prefix === undefined || prefix === '') return check('xsched', 'XSched', 'skip', 'no install given (--xsched PREFIX or XSCHED_PREFIX): the xsched-lv1 mode is unavailable');
  const need = ['lib/libshimhip.so', 'lib/libhalhip.so', 'lib/libpreempt.so', 'bin/xserver'];
  const missing = need.filter((f) => !existsSync(join(prefix, f)));
  if (missing.length > 0) {
    return check('xsched', 'XSched', 'fail', `${prefix} lacks ${missing.join(', ')}`, 'build XSched for HIP (make hip; its output/ dir is the prefix) and pass that prefix');
  }
  return check('xsched', 'XSched', 'ok', `${prefix}: HIP shim, HAL, preempt library and xserver present`);
}

export function summarise(checks: Check[]): Record<Status, number> {
  const s: Record<Status, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) s[c.status]++;
  return s;
}

export function runChecks(o: DoctorOptions, backend: 'kfd' | 'emu', reason: string): DoctorReport {
  const mechanism = o.mechanism ?? 'dbg-trap';
  const emu = backend === 'emu';
  const c: Ctx = { o, emu, dbg: mechanism === 'dbg-trap' ? 'fail' : 'warn', root: '', kfdVersion: null, gpus: null, params: null };
  const checks: Check[] = [check('backend', 'backend', 'ok', `checking the ${backend === 'emu' ? 'emulated AMD GPU' : 'real KFD'} for mechanism ${mechanism}; ${reason}`)];
  const dev = devKfdCheck(c);
  checks.push(dev.check);
  try {
    checks.push(versionCheck(c, dev.kfd));
  } finally {
    dev.kfd?.close();
  }
  c.root = sysfsRoot(o.sysfsRoot);
  checks.push(...paramChecks(c), ...gpuChecks(c), rocmCheck(c), ptraceCheck(), debugfsCheck(c), hwQueuesCheck(), xschedCheck(c));
  return { backend, backend_reason: reason, mechanism, sysfs_root: c.root, checks, summary: summarise(checks) };
}

export function formatDoctor(r: DoctorReport): string {
  const rows = r.checks.map((c) => [c.status.toUpperCase(), c.name, c.detail]);
  const out = [renderTable(['status', 'check', 'detail'], rows, '')];
  const fixes = r.checks.filter((c) => c.fix !== null && (c.status === 'fail' || c.status === 'warn'));
  if (fixes.length > 0) {
    out.push('', 'fixes:');
    for (const c of fixes) out.push(`  ${c.status === 'fail' ? 'FAIL' : 'warn'} ${c.name}: ${c.fix}`);
  }
  const s = r.summary;
  out.push('', `${s.ok} ok, ${s.warn} warn, ${s.fail} fail, ${s.skip} skipped (sysfs ${r.sysfs_root})`);
  return out.join('\n');
}

export async function doctorCommand(o: DoctorOptions): Promise<number> {
  if (o.mechanism !== undefined && !MECHANISMS.includes(o.mechanism as (typeof MECHANISMS)[number])) {
    throw new XsbError(`--mechanism "${o.mechanism}" is not a suspend mechanism`, 'use dbg-trap or deactivate', { exitCode: 2 });
  }
  const choice = o.emulate === true ? chooseBackend({ emulate: true }) : { backend: 'kfd' as const, reason: '' };
  if (choice.backend === 'emu') {
    const code = await reexecInEmulator({ dir: o.dir, profile: o.profile });
    if (code !== null) return code;
  }
  const auto = chooseBackend({ emulate: o.emulate });
  const reason =
    o.emulate === true
      ? choice.reason
      : `commands would use ${auto.backend === 'kfd' ? 'the real KFD' : 'the emulator'} (${auto.reason}); --emulate checks the emulator`;
  const report = runChecks(o, choice.backend, reason);
  if (emitJson(o.json, report)) process.stdout.write(`${formatDoctor(report)}\n`);
  return report.summary.fail > 0 ? 1 : 0;
}
