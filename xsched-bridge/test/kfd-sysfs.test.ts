// sysfs readers through the koffi bindings, on a tree built here from realistic MI308X values
// and with the blockers (sched_policy 2, a GPU without firmware debug support).
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KfdError, gfxName, gpuNodes, readAmdgpuParams, readProcQueues, readTopology, sysfsRoot } from '../src/kfd/index.js';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function tree(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'xsb-sysfs-'));
  dirs.push(d);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(d, rel)), { recursive: true });
    writeFileSync(join(d, rel), content);
  }
  return d;
}

const N = 'class/kfd/kfd/topology/nodes';
function gpu(n: number, gpuId: number, gfx: number, capability: number): Record<string, string> {
  return {
    [`${N}/${n}/gpu_id`]: `${gpuId}\n`,
    [`${N}/${n}/name`]: 'gfx942\n',
    [`${N}/${n}/properties`]:
      `cpu_cores_count 0\nsimd_count 320\nsimd_per_cu 4\ngfx_target_version ${gfx}\ndrm_render_minor ${128 + n}\n` +
      `num_cp_queues 24\nfw_version 177\ncapability ${capability}\nnum_xcc 4\n`,
  };
}
const cpu = { [`${N}/0/gpu_id`]: '0\n', [`${N}/0/name`]: '\n', [`${N}/0/properties`]: 'cpu_cores_count 96\nsimd_count 0\ncapability 0\n' };
const params = (sched: number, cwsr: number): Record<string, string> => ({
  'module/amdgpu/parameters/sched_policy': `${sched}\n`,
  'module/amdgpu/parameters/cwsr_enable': `${cwsr}\n`,
  'module/amdgpu/parameters/queue_preemption_timeout_ms': '9000\n',
  'module/amdgpu/parameters/mes': '0\n',
});

describe('sysfs readers', () => {
  it('reads a healthy MI308X topology and parameters', () => {
    const root = tree({ ...cpu, ...gpu(2, 63420, 90402, 0x2a3ba280), ...gpu(3, 61531, 90402, 0x2a3ba280), ...params(0, 1) });
    const nodes = readTopology(root);
    expect(nodes.map((n) => n.node)).toEqual([0, 2, 3]);
    const g = gpuNodes(root);
    expect(g).toHaveLength(2);
    expect(g[0]).toMatchObject({ gpuId: 63420, gfxName: 'gfx942', cuCount: 80, fwDebug: true, numCpQueues: 24, fwVersion: 177, drmRenderMinor: 130 });
    expect(g[0]?.missing).toEqual([]);
    expect(readAmdgpuParams(root)).toEqual({
      schedPolicy: { value: 0, errno: 0 },
      cwsrEnable: { value: 1, errno: 0 },
      queuePreemptionTimeoutMs: { value: 9000, errno: 0 },
      mes: { value: 0, errno: 0 },
    });
  });

  it('reports the blockers as read: NO_HWS, no firmware debug bit, missing parameters and properties', () => {
    const root = tree({ ...cpu, ...gpu(1, 4660, 90010, 0x0a3ba280), 'module/amdgpu/parameters/sched_policy': '2\n' });
    const g = gpuNodes(root)[0];
    expect(g?.fwDebug).toBe(false);
    expect(g?.gfxName).toBe('gfx90a');
    const p = readAmdgpuParams(root);
    expect(p.schedPolicy).toEqual({ value: 2, errno: 0 });
    expect(p.cwsrEnable).toEqual({ value: null, errno: 2 });
    const cpuNode = readTopology(root)[0];
    expect(cpuNode?.missing).toContain('gfx_target_version');
    expect(cpuNode?.drmRenderMinor).toBeNull();
  });

  it('per-process queues, and errors that name the path', () => {
    const q = 'class/kfd/kfd/proc/4242/queues';
    const root = tree({ ...cpu, [`${q}/5/size`]: '65536', [`${q}/5/type`]: '0', [`${q}/5/gpuid`]: '63420', [`${q}/1/size`]: '4096', [`${q}/1/type`]: '1', [`${q}/1/gpuid`]: '63420' });
    expect(readProcQueues(4242, root)).toEqual([
      { queueId: 1, type: 1, gpuId: 63420, size: 4096n },
      { queueId: 5, type: 0, gpuId: 63420, size: 65536n },
    ]);
    const e = (() => {
      try {
        readProcQueues(999999, root);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(KfdError);
    expect((e as KfdError).errno).toBe(2);
    expect((e as KfdError).diagnosis).toMatch(/proc\/999999\/queues/);
    unlinkSync(join(root, `${q}/5/gpuid`));
    expect(() => readProcQueues(4242, root)).toThrow(/queues\/5\/gpuid/);
    expect(() => readTopology(join(root, 'nope'))).toThrow(/amdkfd not loaded/);
  });

  it('root resolution and gfx names', () => {
    expect(sysfsRoot('/x')).toBe('/x');
    expect(gfxName(90402)).toBe('gfx942');
    expect(gfxName(90010)).toBe('gfx90a');
    expect(gfxName(110001)).toBe('gfx1101');
    expect(() => gfxName(0)).toThrow(KfdError);
  });
});
