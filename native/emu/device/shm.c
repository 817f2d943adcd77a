/* The device memfd: header, rings, signals, KFD queue mirror; page-aligned sections. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "device.h"

#define PAGE 4096u
static size_t page_up(size_t n)
{
	return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

int shm_create(void)
{
	size_t off_rings = page_up(sizeof(struct xsb_emu_shm));
	size_t off_signals = off_rings + page_up(sizeof(struct xsb_emu_ring) * XSB_EMU_MAX_RINGS);
	size_t off_kq = off_signals + page_up(sizeof(struct xsb_emu_signal) * XSB_EMU_MAX_SIGNALS);
	/* The mirror holds XSB_EMU_MAX_KFD_QUEUES entries device-wide (not per process);
	 * an entry is live when flags has XSB_EMU_KQ_USED. */
	size_t size = off_kq + page_up(sizeof(struct xsb_emu_kfd_queue) * XSB_EMU_MAX_KFD_QUEUES);

	int fd = memfd_create("xsb-emu-device", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	dev.memfd = fd;
	dev.shm_base = base;
	dev.shm_size = size;
	dev.shm = base;
	dev.rings = (struct xsb_emu_ring *)(dev.shm_base + off_rings);
	dev.signals = (struct xsb_emu_signal *)(dev.shm_base + off_signals);
	dev.kq_mirror = (struct xsb_emu_kfd_queue *)(dev.shm_base + off_kq);
	dev.sig_owner = calloc(XSB_EMU_MAX_SIGNALS, sizeof(uint32_t));
	if (!dev.sig_owner)
		return -ENOMEM;

	struct xsb_emu_shm *h = dev.shm;
	h->version = XSB_EMU_PROTO_VERSION;
	h->size = size;
	h->device_pid = (uint32_t)getpid();
	h->gpu_id = dev.prof.gpu_id;
	h->num_cus = dev.prof.num_cus;
	h->off_rings = off_rings;
	h->off_signals = off_signals;
	h->off_kfd_queues = off_kq;
	atomic_store(&h->seq, 0);
	snprintf(h->profile_name, sizeof(h->profile_name), "%s", dev.prof.name);
	for (unsigned i = 0; i < XSB_EMU_MAX_RINGS; i++) {
		dev.rings[i].queue_id = UINT32_MAX;
		dev.rings[i].alloc_state = XSB_EMU_RING_FREE;
	}
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++)
		dev.kq_mirror[i].ring_slot = UINT32_MAX;
	/* magic last: a reader that sees it sees an initialised header */
	atomic_thread_fence(memory_order_release);
	h->magic = XSB_EMU_SHM_MAGIC;
	return 0;
}

void shm_stats_begin(void)
{
	atomic_fetch_add_explicit(&dev.shm->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

void shm_stats_end(void)
{
	atomic_thread_fence(memory_order_release);
	atomic_fetch_add_explicit(&dev.shm->seq, 1, memory_order_relaxed);
}

void shm_mirror_queue(int qi)
{
	const struct kqueue *q = &dev.queues[qi];
	struct xsb_emu_kfd_queue *m = &dev.kq_mirror[qi];
	shm_stats_begin();
	if (!q->used) {
		memset(m, 0, sizeof(*m));
		m->ring_slot = UINT32_MAX;
	} else {
		uint32_t f = XSB_EMU_KQ_USED;
		if (q->suspended)
			f |= XSB_EMU_KQ_SUSPENDED;
		if (!kfd_queue_active(q))
			f |= XSB_EMU_KQ_DEACTIVATED;
		if (q->exception_status & XSB_KFD_EC_MASK_QUEUE_NEW)
			f |= XSB_EMU_KQ_NEW;
		if (q->mapped)
			f |= XSB_EMU_KQ_MAPPED;
		if (q->destroying)
			f |= XSB_EMU_KQ_DESTROYING;
		m->flags = f;
		m->pid = (uint32_t)q->proc->pid;
		m->queue_id = q->queue_id;
		m->gpu_id = dev.prof.gpu_id;
		m->queue_type = q->type;
		m->priority = q->priority;
		m->percentage = q->percentage;
		m->ring_slot = q->ring_slot;
		m->ring_base_address = q->ring_base;
		m->ring_size = q->ring_size;
		m->suspend_count = q->suspend_count;
		m->resume_count = q->resume_count;
	}
	shm_stats_end();
}

void shm_record_lateness(uint64_t late_ns)
{
	struct xsb_emu_stats *s = &dev.shm->stats;
	unsigned b = late_ns ? 63u - (unsigned)__builtin_clzll(late_ns) : 0;
	shm_stats_begin();
	s->completions++;
	s->late_sum_ns += late_ns;
	if (late_ns > s->late_max_ns)
		s->late_max_ns = late_ns;
	s->late_hist[b]++;
	shm_stats_end();
}
