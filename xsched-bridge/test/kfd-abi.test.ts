// The ABI check (scripts/abi-check/run.sh): native/include/xsb_kfd_abi.h against the real
// kfd_ioctl.h of Debian trixie's linux-libc-dev. Without network the download fails and the test
// is reported SKIPPED with the reason, never passed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';

const script = join(root, 'scripts', 'abi-check', 'run.sh');
const ours = join(root, 'native', 'include', 'xsb_kfd_abi.h');

interface Run {
  code: number;
  out: string;
}

async function run(env: Record<string, string> = {}): Promise<Run> {
  const r = await execa(script, [], { reject: false, all: true, env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.exitCode ?? -1, out: r.all ?? '' };
}

function skipReason(out: string): string {
  return out.split('\n').find((l) => l.startsWith('SKIP:')) ?? 'SKIP: the kernel header could not be obtained';
}

let first: Run | undefined;
async function baseline(): Promise<Run> {
  first ??= await run();
  return first;
}

/** A mutated copy of the project header, checked against the (cached) real header. */
async function runMutated(mutate: (src: string) => string): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'xsb-abi-mut-'));
  try {
    const copy = join(dir, 'xsb_kfd_abi.h');
    writeFileSync(copy, mutate(readFileSync(ours, 'utf8')));
    return await run({ XSB_ABI_OURS: copy });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('KFD ABI against the kernel header', () => {
  it('every ioctl value, struct size, field offset, op number and mask matches', async (ctx) => {
    const r = await baseline();
    if (r.code === 77) {
      console.warn(`kfd-abi: ${skipReason(r.out)}`);
      ctx.skip(skipReason(r.out));
    }
    expect(r.out, r.out).toMatch(/kernel header: KFD 1\.(1[7-9]|[2-9]\d)/);
    const m = /(\d+) comparisons, (\d+) mismatches/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(200);
    expect(Number(m?.[2])).toBe(0);
    expect(r.code, r.out).toBe(0);
  });

  it('a wrong field offset is caught', async (ctx) => {
    const b = await baseline();
    if (b.code === 77) ctx.skip(skipReason(b.out));
    // swap rinfo_size and dbg_fd of the ENABLE arguments
    const r = await runMutated((s) =>
      s.replace(/uint32_t rinfo_size;(\s*\/\*[^*]*\*\/)?\s*uint32_t dbg_fd;/, 'uint32_t dbg_fd; uint32_t rinfo_size;'),
    );
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/MISMATCH offsetof\(xsb_kfd_dbg_trap_enable_args, dbg_fd\)/);
  });

  it('a wrong mask value is caught', async (ctx) => {
    const b = await baseline();
    if (b.code === 77) ctx.skip(skipReason(b.out));
    const r = await runMutated((s) => s.replace('#define XSB_KFD_DBG_QUEUE_INVALID_MASK 0x80000000u', '#define XSB_KFD_DBG_QUEUE_INVALID_MASK 0x40000000u'));
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/MISMATCH XSB_KFD_DBG_QUEUE_INVALID_MASK/);
  });

  it('a definition missing from the expected-field table fails the check', async (ctx) => {
    const b = await baseline();
    if (b.code === 77) ctx.skip(skipReason(b.out));
    const r = await runMutated((s) => s.replace('#define XSB_KFD_NR_DBG_TRAP', '#define XSB_KFD_NR_NEW_THING 0x99\n#define XSB_KFD_NR_DBG_TRAP'));
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/XSB_KFD_NR_NEW_THING is not in .*abi-map\.txt/);
  });
});
