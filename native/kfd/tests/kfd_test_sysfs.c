/* sysfs readers on trees built here from realistic MI308X values, including the blockers
 * (sched_policy 2, a GPU without the firmware-debug bit) and missing files. */
#include "xsb_kfd.h"
#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void mkdirs(const char *rel)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	for (char *s = p + strlen(root) + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

static void put(const char *rel, const char *fmt, ...)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(1);
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

#define NODES "class/kfd/kfd/topology/nodes"

static void cpu_node(int n)
{
	char d[256];
	snprintf(d, sizeof(d), NODES "/%d", n);
	mkdirs(d);
	snprintf(d, sizeof(d), NODES "/%d/gpu_id", n);
	put(d, "0\n");
	snprintf(d, sizeof(d), NODES "/%d/name", n);
	put(d, "\n");
	snprintf(d, sizeof(d), NODES "/%d/properties", n);
	put(d, "cpu_cores_count 96\nsimd_count 0\nmem_banks_count 1\ncaches_count 0\nio_links_count 8\n"
	       "capability 0\ngfx_target_version 0\nsimd_per_cu 0\nnum_cp_queues 0\nfw_version 0\n"
	       "drm_render_minor 0\n");
}

static void gpu_node(int n, unsigned gpu_id, unsigned gfx, unsigned capability, int render)
{
	char d[256];
	snprintf(d, sizeof(d), NODES "/%d", n);
	mkdirs(d);
	snprintf(d, sizeof(d), NODES "/%d/gpu_id", n);
	put(d, "%u\n", gpu_id);
	snprintf(d, sizeof(d), NODES "/%d/name", n);
	put(d, "%s\n", gfx == 90402 ? "gfx942" : "gfx90a");
	snprintf(d, sizeof(d), NODES "/%d/properties", n);
	put(d, "cpu_cores_count 0\nsimd_count 320\nmem_banks_count 1\ncaches_count 390\nio_links_count 1\n"
	       "p2p_links_count 7\ncpu_core_id_base 0\nsimd_id_base 2147487744\nmax_waves_per_simd 8\n"
	       "lds_size_in_kb 64\ngds_size_in_kb 0\nnum_gws 64\nwave_front_size 64\narray_count 16\n"
	       "simd_arrays_per_engine 1\ncu_per_simd_array 10\nsimd_per_cu 4\nmax_slots_scratch_cu 32\n"
	       "gfx_target_version %u\nvendor_id 4098\ndevice_id 29861\nlocation_id 1536\ndomain 0\n"
	       "drm_render_minor %d\nhive_id 1234567890\nnum_sdma_engines 2\nnum_sdma_xgmi_engines 14\n"
	       "num_sdma_queues_per_engine 8\nnum_cp_queues 24\nmax_engine_clk_fcompute 2100\n"
	       "local_mem_size 0\nfw_version 177\ncapability %u\ndebug_prop 1495\nsdma_fw_version 22\n"
	       "unique_id 1234\nnum_xcc 4\nmax_engine_clk_ccompute 3250\n",
	    gfx, render, capability);
}

static void params(int sched, int cwsr, int timeout, int mes)
{
	mkdirs("module/amdgpu/parameters");
	put("module/amdgpu/parameters/sched_policy", "%d\n", sched);
	put("module/amdgpu/parameters/cwsr_enable", "%d\n", cwsr);
	put("module/amdgpu/parameters/queue_preemption_timeout_ms", "%d\n", timeout);
	if (mes >= 0)
		put("module/amdgpu/parameters/mes", "%d\n", mes);
}

static void new_root(void)
{
	snprintf(root, sizeof(root), "/tmp/xsb-sysfs-test.XXXXXX");
	if (!mkdtemp(root))
		exit(1);
}

static void rm_root(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

int main(void)
{
	char g[16];
	CHECK(xsb_gfx_name(90402, g, sizeof(g)) == 0 && !strcmp(g, "gfx942"), "%s", g);
	CHECK(xsb_gfx_name(90010, g, sizeof(g)) == 0 && !strcmp(g, "gfx90a"), "%s", g);
	CHECK(xsb_gfx_name(90008, g, sizeof(g)) == 0 && !strcmp(g, "gfx908"), "%s", g);
	CHECK(xsb_gfx_name(110000, g, sizeof(g)) == 0 && !strcmp(g, "gfx1100"), "%s", g);
	CHECK(xsb_gfx_name(90500, g, sizeof(g)) == 0 && !strcmp(g, "gfx950"), "%s", g);
	CHECK(xsb_gfx_name(0, g, sizeof(g)) == -EINVAL, "zero");

	/* A healthy MI308X host: CPU node 0..1, GPU nodes 2..3 */
	new_root();
	cpu_node(0);
	cpu_node(1);
	gpu_node(2, 63420, 90402, 0x2A3BA280u, 128);
	gpu_node(10, 61531, 90402, 0x2A3BA280u, 136); /* numeric order, not lexical: 10 after 2 */
	params(0, 1, 9000, 0);
	struct xsb_topo_node n[8];
	struct xsb_sysfs_error e;
	int r = xsb_sysfs_topology(root, n, 8, &e);
	CHECK(r == 4, "topology: %d %s", r, e.msg);
	CHECK(n[0].gpu_id == 0 && n[0].node == 0, "cpu node");
	CHECK(n[2].node == 2 && n[2].gpu_id == 63420 && !strcmp(n[2].gfx_name, "gfx942") &&
	      !strcmp(n[2].name, "gfx942"), "gpu node %u %u %s", n[2].node, n[2].gpu_id, n[2].gfx_name);
	CHECK(n[2].cu_count == 80 && n[2].fw_debug == 1 && n[2].num_cp_queues == 24 && n[2].fw_version == 177 &&
	      n[2].drm_render_minor == 128 && n[2].missing == 0, "gpu props cu %u fw %u", n[2].cu_count, n[2].fw_debug);
	CHECK(n[3].node == 10 && n[3].drm_render_minor == 136, "node order %u", n[3].node);
	CHECK(xsb_sysfs_topology(root, n, 1, &e) == 4, "cap 1 still counts");
	struct xsb_amdgpu_params p;
	CHECK(xsb_sysfs_amdgpu_params(root, &p) == 0, "params");
	CHECK(p.sched_policy == 0 && p.cwsr_enable == 1 && p.queue_preemption_timeout_ms == 9000 && p.mes == 0 &&
	      !p.sched_policy_errno && !p.mes_errno, "params values");
	/* env root when none is given */
	setenv("XSB_SYSFS_ROOT", root, 1);
	CHECK(xsb_sysfs_topology(NULL, n, 8, &e) == 4, "env root");
	unsetenv("XSB_SYSFS_ROOT");

	/* per-process queues */
	mkdirs("class/kfd/kfd/proc/4242/queues/0");
	mkdirs("class/kfd/kfd/proc/4242/queues/12");
	mkdirs("class/kfd/kfd/proc/4242/queues/3");
	put("class/kfd/kfd/proc/4242/queues/0/size", "65536");
	put("class/kfd/kfd/proc/4242/queues/0/type", "0");
	put("class/kfd/kfd/proc/4242/queues/0/gpuid", "63420");
	put("class/kfd/kfd/proc/4242/queues/12/size", "1048576");
	put("class/kfd/kfd/proc/4242/queues/12/type", "0");
	put("class/kfd/kfd/proc/4242/queues/12/gpuid", "61531");
	put("class/kfd/kfd/proc/4242/queues/3/size", "4096");
	put("class/kfd/kfd/proc/4242/queues/3/type", "1");
	put("class/kfd/kfd/proc/4242/queues/3/gpuid", "63420");
	struct xsb_proc_queue q[8];
	r = xsb_sysfs_proc_queues(root, 4242, q, 8, &e);
	CHECK(r == 3 && q[0].queue_id == 0 && q[1].queue_id == 3 && q[2].queue_id == 12, "queues %d", r);
	CHECK(q[2].size == 1048576 && q[2].gpu_id == 61531 && q[1].type == 1, "queue fields");
	r = xsb_sysfs_proc_queues(root, 99999, q, 8, &e);
	CHECK(r == -ENOENT && e.err == ENOENT && strstr(e.path, "/proc/99999/queues") && strstr(e.msg, "99999"),
	      "no proc: %d %s", r, e.msg);
	/* a queue attribute missing: reported with its path, never guessed */
	char pth[512];
	snprintf(pth, sizeof(pth), "%s/class/kfd/kfd/proc/4242/queues/12/gpuid", root);
	unlink(pth);
	r = xsb_sysfs_proc_queues(root, 4242, q, 8, &e);
	CHECK(r == -ENOENT && !strcmp(e.path, pth), "missing gpuid: %d %s", r, e.path);
	put("class/kfd/kfd/proc/4242/queues/12/gpuid", "6x");
	r = xsb_sysfs_proc_queues(root, 4242, q, 8, &e);
	CHECK(r == -EINVAL && !strcmp(e.path, pth) && strstr(e.msg, "not a number"), "bad gpuid: %d %s", r, e.msg);
	rm_root();

	/* Blockers: NO_HWS, a GPU without firmware debug support (gfx90a, capability lacks 0x20000000),
	 * no mes parameter (older kernel), a node with a missing properties key */
	new_root();
	cpu_node(0);
	gpu_node(1, 4660, 90010, 0x0A3BA280u, 128);
	params(2, 0, 9000, -1);
	r = xsb_sysfs_topology(root, n, 8, &e);
	CHECK(r == 2 && n[1].fw_debug == 0 && !strcmp(n[1].gfx_name, "gfx90a") && n[1].cu_count == 80,
	      "blocked gpu: %d fw %u %s", r, n[1].fw_debug, n[1].gfx_name);
	CHECK(xsb_sysfs_amdgpu_params(root, &p) == 0 && p.sched_policy == 2 && p.cwsr_enable == 0 && p.mes == -1 &&
	      p.mes_errno == ENOENT, "blocked params %d %d %d", p.sched_policy, p.mes, p.mes_errno);
	put(NODES "/1/properties", "simd_count 320\ngfx_target_version 90010\n");
	r = xsb_sysfs_topology(root, n, 8, &e);
	CHECK(r == 2 && (n[1].missing & XSB_TOPO_MISSING_CAPABILITY) && (n[1].missing & XSB_TOPO_MISSING_SIMD_PER_CU) &&
	      n[1].cu_count == 0 && n[1].drm_render_minor == -1 && !(n[1].missing & XSB_TOPO_MISSING_SIMD_COUNT),
	      "missing keys %x", n[1].missing);
	/* missing gpu_id file: an error naming it */
	snprintf(pth, sizeof(pth), "%s/" NODES "/1/gpu_id", root);
	unlink(pth);
	r = xsb_sysfs_topology(root, n, 8, &e);
	CHECK(r == -ENOENT && !strcmp(e.path, pth), "missing gpu_id: %d %s", r, e.msg);
	/* permission error (only meaningful when not root) */
	if (geteuid() != 0) {
		put(NODES "/1/gpu_id", "4660\n");
		chmod(pth, 0);
		r = xsb_sysfs_topology(root, n, 8, &e);
		CHECK(r == -EACCES && !strcmp(e.path, pth), "eacces: %d %s", r, e.msg);
	}
	rm_root();

	/* no KFD at all */
	r = xsb_sysfs_topology("/nonexistent-root", n, 8, &e);
	CHECK(r == -ENOENT && strstr(e.msg, "amdkfd not loaded"), "no kfd: %s", e.msg);
	CHECK(xsb_sysfs_amdgpu_params("/nonexistent-root", &p) == 0 && p.sched_policy == -1 &&
	      p.sched_policy_errno == ENOENT, "no params");
	CHECK_DONE("kfd_test_sysfs");
}
