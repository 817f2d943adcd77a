/* sysfs readers: KFD topology, /sys/class/kfd/kfd/proc/<pid>/queues, amdgpu parameters.
 * File formats: amdkfd kfd_topology.c (node properties "key value" lines) and kfd_process.c
 * kfd_procfs_queue_show (size %llu, type %d, gpuid %u). */
#include "xsb_kfd.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *xsb_sysfs_root(const char *root)
{
	if (root && *root)
		return root;
	const char *env = getenv("XSB_SYSFS_ROOT");
	return env && *env ? env : "/sys";
}

static void join(char *out, size_t len, const char *root, const char *rel)
{
	size_t rl = strlen(root);
	while (rl > 0 && root[rl - 1] == '/')
		rl--;
	snprintf(out, len, "%.*s%s", (int)rl, root, rel);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int set_err(struct xsb_sysfs_error *err, int e, const char *path, const char *what)
{
	if (err) {
		err->err = e;
		copy_str(err->path, sizeof(err->path), path);
		/* the message keeps the end of a long path: that is where the specific part is */
		size_t pl = strlen(path);
		const char *tail = pl > 120 ? path + pl - 120 : path;
		snprintf(err->msg, sizeof(err->msg), "%s%.120s: %.40s (%.80s)", tail == path ? "" : "...",
		         tail, strerror(e), what);
	}
	return -e;
}

/* Reads a small file into buf (NUL-terminated, trailing whitespace kept). -errno on failure. */
static int read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, len - 1, f);
	int e = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f);
	if (e)
		return -e;
	buf[n] = '\0';
	return (int)n;
}

static int parse_u64(const char *s, uint64_t *v)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno)
		return -errno;
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	if (*end)
		return -EINVAL;
	*v = x;
	return 0;
}

static int read_u64_file(const char *path, uint64_t *v)
{
	char buf[64];
	int r = read_small(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	return parse_u64(buf, v);
}

int xsb_gfx_name(uint32_t v, char *buf, size_t len)
{
	if (!buf || !len)
		return -EINVAL;
	unsigned major = v / 10000, minor = (v / 100) % 100, step = v % 100;
	if (v == 0 || minor > 15 || step > 15) {
		buf[0] = '\0';
		return -EINVAL;
	}
	/* gfx names spell minor and stepping as one hex digit each: 90010 -> gfx90a. */
	int n = snprintf(buf, len, "gfx%u%x%x", major, minor, step);
	return n < (int)len ? 0 : -ENAMETOOLONG;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Numeric entries of dir, sorted; returns the count (capped at cap) or -errno. */
static int numeric_entries(const char *dir, uint32_t *ids, uint32_t cap)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	uint32_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *s = de->d_name;
		if (!*s)
			continue;
		const char *p = s;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p || p == s)
			continue;
		if (n < cap)
			ids[n++] = (uint32_t)strtoul(s, NULL, 10);
	}
	closedir(d);
	qsort(ids, n, sizeof(*ids), cmp_u32);
	return (int)n;
}

#define MAX_NODES 256

static int read_node(const char *nodes_dir, uint32_t id, struct xsb_topo_node *t,
                     struct xsb_sysfs_error *err)
{
	char path[600];
	char buf[8192];
	memset(t, 0, sizeof(*t));
	t->node = id;
	t->drm_render_minor = -1;

	uint64_t v;
	snprintf(path, sizeof(path), "%s/%u/gpu_id", nodes_dir, id);
	int r = read_u64_file(path, &v);
	if (r < 0)
		return set_err(err, -r, path, r == -EINVAL ? "not a number" : "reading the node's gpu_id");
	t->gpu_id = (uint32_t)v;

	snprintf(path, sizeof(path), "%s/%u/name", nodes_dir, id);
	r = read_small(path, buf, sizeof(buf));
	if (r < 0) {
		t->missing |= XSB_TOPO_MISSING_NAME;
	} else {
		buf[strcspn(buf, "\r\n")] = '\0';
		copy_str(t->name, sizeof(t->name), buf);
	}

	snprintf(path, sizeof(path), "%s/%u/properties", nodes_dir, id);
	r = read_small(path, buf, sizeof(buf));
	if (r < 0)
		return set_err(err, -r, path, "reading the node's properties");
	uint32_t seen = 0;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		unsigned long long val;
		if (sscanf(line, "%63s %llu", key, &val) != 2)
			continue;
		if (!strcmp(key, "gfx_target_version")) { t->gfx_target_version = (uint32_t)val; seen |= XSB_TOPO_MISSING_GFX_TARGET_VERSION; }
		else if (!strcmp(key, "simd_count")) { t->simd_count = (uint32_t)val; seen |= XSB_TOPO_MISSING_SIMD_COUNT; }
		else if (!strcmp(key, "simd_per_cu")) { t->simd_per_cu = (uint32_t)val; seen |= XSB_TOPO_MISSING_SIMD_PER_CU; }
		else if (!strcmp(key, "capability")) { t->capability = (uint32_t)val; seen |= XSB_TOPO_MISSING_CAPABILITY; }
		else if (!strcmp(key, "num_cp_queues")) { t->num_cp_queues = (uint32_t)val; seen |= XSB_TOPO_MISSING_NUM_CP_QUEUES; }
		else if (!strcmp(key, "fw_version")) { t->fw_version = (uint32_t)val; seen |= XSB_TOPO_MISSING_FW_VERSION; }
		else if (!strcmp(key, "drm_render_minor")) { t->drm_render_minor = (int32_t)val; seen |= XSB_TOPO_MISSING_DRM_RENDER_MINOR; }
	}
	t->missing |= (XSB_TOPO_MISSING_GFX_TARGET_VERSION | XSB_TOPO_MISSING_SIMD_COUNT |
	               XSB_TOPO_MISSING_SIMD_PER_CU | XSB_TOPO_MISSING_CAPABILITY |
	               XSB_TOPO_MISSING_NUM_CP_QUEUES | XSB_TOPO_MISSING_FW_VERSION |
	               XSB_TOPO_MISSING_DRM_RENDER_MINOR) & ~seen;
	if (t->simd_per_cu)
		t->cu_count = t->simd_count / t->simd_per_cu;
	t->fw_debug = (t->capability & XSB_KFD_CAP_TRAP_DEBUG_FIRMWARE_SUPPORTED) ? 1 : 0;
	if (t->gfx_target_version)
		(void)xsb_gfx_name(t->gfx_target_version, t->gfx_name, sizeof(t->gfx_name));
	return 0;
}

int xsb_sysfs_topology(const char *root, struct xsb_topo_node *nodes, uint32_t cap,
                       struct xsb_sysfs_error *err)
{
	char dir[512];
	uint32_t ids[MAX_NODES];
	if (err)
		memset(err, 0, sizeof(*err));
	join(dir, sizeof(dir), xsb_sysfs_root(root), "/class/kfd/kfd/topology/nodes");
	int n = numeric_entries(dir, ids, MAX_NODES);
	if (n < 0)
		return set_err(err, -n, dir, n == -ENOENT ? "no KFD topology: amdgpu/amdkfd not loaded, "
		                                            "or wrong sysfs root" : "listing topology nodes");
	for (int i = 0; i < n && (uint32_t)i < cap; i++) {
		int r = read_node(dir, ids[i], &nodes[i], err);
		if (r < 0)
			return r;
	}
	return n;
}


int xsb_sysfs_proc_queues(const char *root, uint32_t pid, struct xsb_proc_queue *out, uint32_t cap,
                          struct xsb_sysfs_error *err)
{
	char dir[512], rel[128], path[600];
	uint32_t ids[1024];
	if (err)
		memset(err, 0, sizeof(*err));
	snprintf(rel, sizeof(rel), "/class/kfd/kfd/proc/%u/queues", pid);
	join(dir, sizeof(dir), xsb_sysfs_root(root), rel);
	int n = numeric_entries(dir, ids, 1024);
	if (n < 0)
		return set_err(err, -n, dir, n == -ENOENT ? "the process has no KFD entry (not running, or "
		                                            "it never opened /dev/kfd)" : "listing queues");
	for (int i = 0; i < n && (uint32_t)i < cap; i++) {
		struct xsb_proc_queue *q = &out[i];
		memset(q, 0, sizeof(*q));
		q->queue_id = ids[i];
		static const char *const files[] = {"size", "type", "gpuid"};
		for (int f = 0; f < 3; f++) {
			uint64_t v;
			snprintf(path, sizeof(path), "%s/%u/%s", dir, ids[i], files[f]);
			int r = read_u64_file(path, &v);
			if (r == -ENOENT && f == 0) {
				/* the queue was destroyed between listing and reading: report it, never guess */
				return set_err(err, ENOENT, path, "queue vanished while reading (destroyed?)");
			}
			if (r < 0)
				return set_err(err, -r, path, r == -EINVAL ? "not a number" : "reading queue attribute");
			if (f == 0) q->size = v;
			else if (f == 1) q->type = (uint32_t)v;
			else q->gpu_id = (uint32_t)v;
		}
	}
	return n;
}

static void read_param(const char *root, const char *name, int32_t *val, int32_t *eno)
{
	char rel[128], path[600], buf[64];
	snprintf(rel, sizeof(rel), "/module/amdgpu/parameters/%s", name);
	join(path, sizeof(path), root, rel);
	*val = -1;
	*eno = 0;
	int r = read_small(path, buf, sizeof(buf));
	if (r < 0) {
		*eno = -r;
		return;
	}
	char *end;
	const char *s = buf;
	while (*s == ' ')
		s++;
	errno = 0;
	long v = strtol(s, &end, 0);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || end == s || *end) {
		*eno = EINVAL;
		return;
	}
	*val = (int32_t)v;
}

int xsb_sysfs_amdgpu_params(const char *root, struct xsb_amdgpu_params *out)
{
	if (!out)
		return -EINVAL;
	const char *r = xsb_sysfs_root(root);
	read_param(r, "sched_policy", &out->sched_policy, &out->sched_policy_errno);
	read_param(r, "cwsr_enable", &out->cwsr_enable, &out->cwsr_enable_errno);
	read_param(r, "queue_preemption_timeout_ms", &out->queue_preemption_timeout_ms,
	           &out->queue_preemption_timeout_ms_errno);
	read_param(r, "mes", &out->mes, &out->mes_errno);
	return 0;
}
