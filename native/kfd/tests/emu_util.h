/* Raw-ioctl helpers for the tests against the emulated driver: queues are created the way
 * libhsakmt does (CREATE_QUEUE on the process's /dev/kfd fd). */
#ifndef XSB_KFD_EMU_UTIL_H
#define XSB_KFD_EMU_UTIL_H

#include "xsb_kfd.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

static inline int raw_ioctl(int fd, unsigned long req, void *arg)
{
	int r = ioctl(fd, req, arg);
	return r < 0 ? -errno : r;
}

/* First GPU node's gpu_id from the (emulated) sysfs topology, 0 when none. */
static inline uint32_t first_gpu_id(void)
{
	struct xsb_topo_node n[16];
	struct xsb_sysfs_error e;
	int r = xsb_sysfs_topology(NULL, n, 16, &e);
	for (int i = 0; i < r && i < 16; i++)
		if (n[i].gpu_id)
			return n[i].gpu_id;
	fprintf(stderr, "no GPU node in the topology (%s)\n", r < 0 ? e.msg : "only CPU nodes");
	return 0;
}

/* What ROCr >= 5.7 does at load, before creating queues. */
static inline int runtime_enable(xsb_kfd_t *k)
{
	struct xsb_kfd_runtime_enable_args a = {0x1000, XSB_KFD_RUNTIME_ENABLE_MODE_ENABLE_MASK, 0};
	return raw_ioctl(xsb_kfd_fd(k), XSB_KFD_IOC_RUNTIME_ENABLE, &a);
}

/* ring: any nonzero address (no executable ring behind it: fine for suspend/resume). */
static inline int create_queue(xsb_kfd_t *k, uint32_t gpu_id, uint64_t ring, uint32_t *id)
{
	struct xsb_kfd_create_queue_args a;
	memset(&a, 0, sizeof(a));
	a.ring_base_address = ring;
	a.ring_size = 65536;
	a.gpu_id = gpu_id;
	a.queue_type = XSB_KFD_QUEUE_TYPE_COMPUTE_AQL;
	a.queue_percentage = 100;
	a.queue_priority = 7;
	a.write_pointer_address = ring + 65536;
	a.read_pointer_address = ring + 65536 + 8;
	int r = raw_ioctl(xsb_kfd_fd(k), XSB_KFD_IOC_CREATE_QUEUE, &a);
	if (r >= 0)
		*id = a.queue_id;
	return r;
}

static inline int destroy_queue(xsb_kfd_t *k, uint32_t id)
{
	struct xsb_kfd_destroy_queue_args a = {id, 0};
	return raw_ioctl(xsb_kfd_fd(k), XSB_KFD_IOC_DESTROY_QUEUE, &a);
}
#endif
