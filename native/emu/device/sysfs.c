/*
 * The sysfs-shaped tree at $DIR/sysfs (XSB_SYSFS_ROOT): the paths below it mirror /sys.
 *
 * Formats follow the kernel: topology properties are "name value" lines in the order of
 * node_show() in kfd_topology.c; nodes/N/name is the lower-cased amdgpu asic name, which
 * on MI300 (CHIP_IP_DISCOVERY) is "ip discovery"; proc/<pid>/queues/<id>/{size,type,gpuid}
 * are printed by kfd_procfs_queue_show() as "%llu", "%d" (the kernel's internal queue
 * type) and "%u", without a newline.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "device.h"

static char root[4200];

static int mkdirs(const char *path)
{
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Written to a temporary name then renamed: readers never see a partial file. */
static int put(const char *rel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(const char *rel, const char *fmt, ...)
{
	char path[4400], tmp[4450];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	int r = mkdirs(path);
	*slash = '/';
	if (r)
		return r;
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char sub[4400];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static long cpu_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	return n > 0 ? n : 1;
}

#define T "class/kfd/kfd/topology"

int sysfs_create(void)
{
	snprintf(root, sizeof(root), "%s/sysfs", dev.dir);
	/* start from a clean tree: a previous device may have left proc/ entries */
	char proc[4400];
	snprintf(proc, sizeof(proc), "%s/class/kfd/kfd/proc", root);
	rm_tree(proc);
	int r = 0;
	const struct xsb_emu_profile *pf = &dev.prof;
	r |= put(T "/generation_id", "1\n");
	r |= put(T "/system_properties", "platform_oem 0\nplatform_id 0\nplatform_rev 0\n");

	/* node 0: the CPU */
	r |= put(T "/nodes/0/gpu_id", "0\n");
	r |= put(T "/nodes/0/name", "\n");
	r |= put(T "/nodes/0/properties",
		 "cpu_cores_count %ld\nsimd_count 0\nmem_banks_count 1\ncaches_count 0\n"
		 "io_links_count 0\np2p_links_count 0\ncpu_core_id_base 0\nsimd_id_base 0\n"
		 "max_waves_per_simd 0\nlds_size_in_kb 0\ngds_size_in_kb 0\nnum_gws 0\n"
		 "wave_front_size 0\narray_count 0\nsimd_arrays_per_engine 0\ncu_per_simd_array 0\n"
		 "simd_per_cu 0\nmax_slots_scratch_cu 0\ngfx_target_version 0\nvendor_id 0\n"
		 "device_id 0\nlocation_id 0\ndomain 0\ndrm_render_minor 0\nhive_id 0\n"
		 "num_sdma_engines 0\nnum_sdma_xgmi_engines 0\nnum_sdma_queues_per_engine 0\n"
		 "num_cp_queues 0\nmax_engine_clk_ccompute 2400\n", cpu_cores());

	/* node 1: the GPU. Values of an MI300X (gfx942, 8 XCCs); simd_count follows num_cus. */
	uint32_t cap = 0x0c77a280u; /* a realistic MI300 capability word */
	if (pf->fw_debug_capable)
		cap |= XSB_KFD_CAP_TRAP_DEBUG_FIRMWARE_SUPPORTED;
	uint32_t arrays = 32;
	uint32_t cu_per_array = (pf->num_cus + arrays - 1) / arrays;
	r |= put(T "/nodes/1/gpu_id", "%u\n", pf->gpu_id);
	r |= put(T "/nodes/1/name", "ip discovery\n");
	r |= put(T "/nodes/1/properties",
		 "cpu_cores_count 0\nsimd_count %u\nmem_banks_count 1\ncaches_count 0\n"
		 "io_links_count 0\np2p_links_count 0\ncpu_core_id_base 0\nsimd_id_base 2147487744\n"
		 "max_waves_per_simd 8\nlds_size_in_kb 64\ngds_size_in_kb 0\nnum_gws 64\n"
		 "wave_front_size 64\narray_count %u\nsimd_arrays_per_engine 1\ncu_per_simd_array %u\n"
		 "simd_per_cu 4\nmax_slots_scratch_cu 32\ngfx_target_version 90402\nvendor_id 4098\n"
		 "device_id 29857\nlocation_id 18176\ndomain 0\ndrm_render_minor 128\n"
		 "hive_id %llu\nnum_sdma_engines 2\nnum_sdma_xgmi_engines 14\n"
		 "num_sdma_queues_per_engine 8\nnum_cp_queues 24\nmax_engine_clk_fcompute %u\n"
		 "local_mem_size 206141652992\nfw_version 166\ncapability %u\ndebug_prop 1511\n"
		 "sdma_fw_version 22\nunique_id %llu\nnum_xcc 8\nmax_engine_clk_ccompute 2400\n",
		 pf->num_cus * 4u, arrays, cu_per_array,
		 0x93a1c0de00000000ull | pf->gpu_id, pf->gpu_clock_mhz, cap,
		 0x3cbd5f2a00000000ull | ((unsigned long long)pf->gpu_id << 8));
	r |= put(T "/nodes/1/mem_banks/0/properties",
		 "heap_type 1\nsize_in_bytes 206141652992\nflags 0\nwidth 8192\nmem_clk_max 1300\n");

	r |= put("module/amdgpu/parameters/sched_policy", "%u\n", pf->sched_policy);
	r |= put("module/amdgpu/parameters/cwsr_enable", "1\n");
	r |= put("module/amdgpu/parameters/queue_preemption_timeout_ms", "9000\n");
	r |= put("module/amdgpu/parameters/mes", "0\n");
	char procdir[4400];
	snprintf(procdir, sizeof(procdir), "%s/class/kfd/kfd/proc", root);
	r |= mkdirs(procdir);
	return r ? -EIO : 0;
}

void sysfs_proc_add(struct proc *p)
{
	char rel[128], dir[4400];
	/* kfd_procfs_show: "pasid" is "%d\n"; the emulator uses the pid as pasid */
	snprintf(rel, sizeof(rel), "class/kfd/kfd/proc/%d/pasid", (int)p->pid);
	put(rel, "%d\n", (int)p->pid);
	snprintf(dir, sizeof(dir), "%s/class/kfd/kfd/proc/%d/queues", root, (int)p->pid);
	mkdirs(dir);
}

void sysfs_proc_remove(pid_t pid)
{
	char dir[4400];
	snprintf(dir, sizeof(dir), "%s/class/kfd/kfd/proc/%d", root, (int)pid);
	rm_tree(dir);
}

/* enum kfd_queue_type: COMPUTE 0, SDMA 1, HIQ 2, DIQ 3, SDMA_XGMI 4, SDMA_BY_ENG_ID 5 */
static int internal_type(uint32_t ioctl_type)
{
	switch (ioctl_type) {
	case XSB_KFD_QUEUE_TYPE_SDMA: return 1;
	case XSB_KFD_QUEUE_TYPE_SDMA_XGMI: return 4;
	case XSB_KFD_QUEUE_TYPE_SDMA_BY_ENG_ID: return 5;
	default: return 0; /* compute, PM4 or AQL */
	}
}

void sysfs_queue_add(const struct kqueue *q)
{
	char rel[160];
	int pid = (int)q->proc->pid;
	snprintf(rel, sizeof(rel), "class/kfd/kfd/proc/%d/queues/%u/size", pid, q->queue_id);
	put(rel, "%llu", (unsigned long long)q->ring_size);
	snprintf(rel, sizeof(rel), "class/kfd/kfd/proc/%d/queues/%u/type", pid, q->queue_id);
	put(rel, "%d", internal_type(q->type));
	snprintf(rel, sizeof(rel), "class/kfd/kfd/proc/%d/queues/%u/gpuid", pid, q->queue_id);
	put(rel, "%u", dev.prof.gpu_id);
}

void sysfs_queue_remove(const struct kqueue *q)
{
	char dir[4400];
	snprintf(dir, sizeof(dir), "%s/class/kfd/kfd/proc/%d/queues/%u", root,
		 (int)q->proc->pid, q->queue_id);
	rm_tree(dir);
}

void sysfs_remove_all_procs(void)
{
	char dir[4400];
	snprintf(dir, sizeof(dir), "%s/class/kfd/kfd/proc", root);
	rm_tree(dir);
}
