/* libxsbkfd: KFD ioctls (GET_VERSION, DBG_TRAP, UPDATE_QUEUE). Facts: shared/KFD-FACTS.md. */
#include "xsb_kfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct xsb_kfd {
	int fd;
	uint32_t major, minor;
	int version_err; /* 0, or the errno GET_VERSION failed with */
};

static int kfd_ioctl(int fd, unsigned long cmd, void *arg)
{
	int r;
	do {
		r = ioctl(fd, cmd, arg);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int xsb_kfd_open(xsb_kfd_t **k, const char *path)
{
	if (!k)
		return -EINVAL;
	*k = NULL;
	struct xsb_kfd *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	/* Through libc open() on purpose: the emulator's LD_PRELOAD interposer must see it. */
	h->fd = open(path ? path : "/dev/kfd", O_RDWR | O_CLOEXEC);
	if (h->fd < 0) {
		int e = errno;
		free(h);
		return -e;
	}
	struct xsb_kfd_get_version_args v = {0};
	int r = kfd_ioctl(h->fd, XSB_KFD_IOC_GET_VERSION, &v);
	if (r < 0) {
		h->version_err = -r;
	} else {
		h->major = v.major_version;
		h->minor = v.minor_version;
	}
	*k = h;
	return 0;
}

void xsb_kfd_close(xsb_kfd_t *k)
{
	if (!k)
		return;
	if (k->fd >= 0)
		close(k->fd);
	free(k);
}

int xsb_kfd_fd(const xsb_kfd_t *k) { return k ? k->fd : -EINVAL; }

int xsb_kfd_version(xsb_kfd_t *k, uint32_t *major, uint32_t *minor)
{
	if (!k)
		return -EINVAL;
	if (k->version_err)
		return -k->version_err;
	if (major)
		*major = k->major;
	if (minor)
		*minor = k->minor;
	return 0;
}

/* The debugger API needs ABI 1.13 (Linux 6.5); xsb_kfd_diagnose(op, ENOTSUP) says so. */
static int need_debug_api(xsb_kfd_t *k)
{
	if (!k)
		return -EINVAL;
	if (k->version_err)
		return -k->version_err;
	if (k->major != 1 || k->minor < XSB_KFD_DEBUG_MIN_MINOR)
		return -ENOTSUP;
	return 0;
}

static int dbg_trap(xsb_kfd_t *k, struct xsb_kfd_dbg_trap_args *a)
{
	return kfd_ioctl(k->fd, XSB_KFD_IOC_DBG_TRAP, a);
}

int xsb_kfd_dbg_enable(xsb_kfd_t *k, uint32_t pid, uint32_t *runtime_state)
{
	if (runtime_state)
		*runtime_state = XSB_KFD_RUNTIME_STATE_UNKNOWN;
	int r = need_debug_api(k);
	if (r < 0)
		return r;
	struct xsb_kfd_runtime_info rinfo;
	memset(&rinfo, 0, sizeof(rinfo));
	rinfo.runtime_state = XSB_KFD_RUNTIME_STATE_UNKNOWN;
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof(a));
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_ENABLE;
	/* exception_mask 0: the kernel never writes to dbg_fd, so our own fd serves. */
	a.enable.exception_mask = 0;
	a.enable.rinfo_ptr = (uint64_t)(uintptr_t)&rinfo;
	a.enable.rinfo_size = sizeof(rinfo);
	a.enable.dbg_fd = (uint32_t)k->fd;
	r = dbg_trap(k, &a);
	if (r < 0)
		return r;
	if (runtime_state)
		*runtime_state = rinfo.runtime_state;
	if (rinfo.runtime_state != XSB_KFD_RUNTIME_STATE_ENABLED) {
		/* ENABLE succeeded but SUSPEND would fail with EPERM: undo the session so a later
		 * RUNTIME_ENABLE by ROCr does not block on it, and report EPERM. */
		struct xsb_kfd_dbg_trap_args d;
		memset(&d, 0, sizeof(d));
		d.pid = pid;
		d.op = XSB_KFD_DBG_TRAP_DISABLE;
		(void)dbg_trap(k, &d);
		return -EPERM;
	}
	return r;
}

int xsb_kfd_dbg_disable(xsb_kfd_t *k, uint32_t pid)
{
	int r = need_debug_api(k);
	if (r < 0)
		return r;
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof(a));
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_DISABLE;
	return dbg_trap(k, &a);
}

int xsb_kfd_suspend(xsb_kfd_t *k, uint32_t pid, uint32_t *ids, uint32_t n,
                    uint32_t grace_period, uint64_t clear_mask)
{
	int r = need_debug_api(k);
	if (r < 0)
		return r;
	if (n && !ids)
		return -EINVAL;
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof(a));
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_SUSPEND_QUEUES;
	a.suspend_queues.exception_mask = clear_mask;
	a.suspend_queues.queue_array_ptr = (uint64_t)(uintptr_t)ids;
	a.suspend_queues.num_queues = n;
	a.suspend_queues.grace_period = grace_period;
	return dbg_trap(k, &a);
}

int xsb_kfd_resume(xsb_kfd_t *k, uint32_t pid, uint32_t *ids, uint32_t n)
{
	int r = need_debug_api(k);
	if (r < 0)
		return r;
	if (n && !ids)
		return -EINVAL;
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof(a));
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_RESUME_QUEUES;
	a.resume_queues.queue_array_ptr = (uint64_t)(uintptr_t)ids;
	a.resume_queues.num_queues = n;
	return dbg_trap(k, &a);
}

int xsb_kfd_queue_snapshot(xsb_kfd_t *k, uint32_t pid, uint64_t clear_mask, void *entries,
                           uint32_t capacity, uint32_t *total)
{
	if (total)
		*total = 0;
	int r = need_debug_api(k);
	if (r < 0)
		return r;
	if (capacity && !entries)
		return -EINVAL;
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof(a));
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT;
	a.queue_snapshot.exception_mask = clear_mask;
	a.queue_snapshot.snapshot_buf_ptr = (uint64_t)(uintptr_t)entries;
	a.queue_snapshot.num_queues = capacity;
	a.queue_snapshot.entry_size = sizeof(struct xsb_kfd_queue_snapshot_entry);
	r = dbg_trap(k, &a);
	if (r < 0)
		return r;
	/* The kernel returns the number of queues in num_queues and the bytes it filled per
	 * entry in entry_size; entries are strided by our entry_size regardless. */
	if (total)
		*total = a.queue_snapshot.num_queues;
	return (int)(a.queue_snapshot.num_queues < capacity ? a.queue_snapshot.num_queues : capacity);
}

int xsb_kfd_update_queue(xsb_kfd_t *k, uint32_t queue_id, uint64_t ring_base, uint32_t ring_size,
                         uint32_t percentage, uint32_t priority)
{
	if (!k)
		return -EINVAL;
	if (percentage > XSB_KFD_MAX_QUEUE_PERCENTAGE || priority > XSB_KFD_MAX_QUEUE_PRIORITY)
		return -EINVAL;
	struct xsb_kfd_update_queue_args a;
	memset(&a, 0, sizeof(a));
	a.ring_base_address = ring_base;
	a.queue_id = queue_id;
	a.ring_size = ring_size;
	a.queue_percentage = percentage;
	a.queue_priority = priority;
	return kfd_ioctl(k->fd, XSB_KFD_IOC_UPDATE_QUEUE, &a);
}

int xsb_kfd_queue_status_invalid(uint32_t s) { return xsb_kfd_status_invalid(s); }
int xsb_kfd_queue_status_error(uint32_t s) { return xsb_kfd_status_error(s); }
