/*
 * rt_queue.cpp - hardware queues (KFD CREATE/UPDATE/SET_CU_MASK/DESTROY through libc ioctl, so a
 * preloaded interposer sees them), the per-priority pools of clr's Device::acquireQueue,
 * completion signals, and AQL packet submission.
 */
#include "rt.h"

#include <linux/futex.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace xsbhip {

HwQueue *create_hw_queue(PrioClass cls, uint32_t ring_bytes, const uint32_t *cu_mask, uint32_t cu_words, int *err)
{
	uint32_t slot;
	int rc = xsb_emu_alloc_ring(&slot);
	if (rc < 0) {
		*err = -rc;
		return nullptr;
	}
	xsb_emu_ring *ring = xsb_emu_ring_at(slot);
	if (!ring) {
		xsb_emu_free_ring(slot);
		*err = EFAULT;
		return nullptr;
	}
	struct xsb_kfd_create_queue_args a;
	std::memset(&a, 0, sizeof a);
	a.ring_base_address = (uint64_t)(uintptr_t)ring->packets;
	a.write_pointer_address = (uint64_t)(uintptr_t)&ring->write_index;
	a.read_pointer_address = (uint64_t)(uintptr_t)&ring->read_index;
	a.ring_size = ring_bytes;
	a.gpu_id = g_rt.gpu_id;
	a.queue_type = XSB_KFD_QUEUE_TYPE_COMPUTE_AQL;
	a.queue_percentage = XSB_KFD_MAX_QUEUE_PERCENTAGE;
	a.queue_priority = kKfdPrioCreate;
	if (ioctl(g_rt.kfd_fd, XSB_KFD_IOC_CREATE_QUEUE, &a) != 0) {
		*err = errno;
		std::fprintf(stderr, "libamdhip64 (xsb emulator): CREATE_QUEUE failed: %s\n", std::strerror(errno));
		xsb_emu_free_ring(slot);
		return nullptr;
	}
	HwQueue *q = new HwQueue;
	q->slot = slot;
	q->ring = ring;
	q->queue_id = a.queue_id;
	q->ring_size = ring_bytes;
	q->cls = cls;

	/* hsa_amd_queue_set_priority: UPDATE_QUEUE with the original ring base/size, 100 %. */
	if (kKfdPrio[cls] != kKfdPrioCreate) {
		struct xsb_kfd_update_queue_args u;
		std::memset(&u, 0, sizeof u);
		u.ring_base_address = a.ring_base_address;
		u.queue_id = q->queue_id;
		u.ring_size = ring_bytes;
		u.queue_percentage = XSB_KFD_MAX_QUEUE_PERCENTAGE;
		u.queue_priority = kKfdPrio[cls];
		if (ioctl(g_rt.kfd_fd, XSB_KFD_IOC_UPDATE_QUEUE, &u) != 0) {
			*err = errno;
			std::fprintf(stderr, "libamdhip64 (xsb emulator): UPDATE_QUEUE (priority) failed: %s\n",
			             std::strerror(errno));
			destroy_hw_queue(q);
			return nullptr;
		}
	}
	if (cu_mask && cu_words) {
		struct xsb_kfd_set_cu_mask_args m;
		std::memset(&m, 0, sizeof m);
		m.queue_id = q->queue_id;
		m.num_cu_mask = cu_words * 32;
		m.cu_mask_ptr = (uint64_t)(uintptr_t)cu_mask;
		if (ioctl(g_rt.kfd_fd, XSB_KFD_IOC_SET_CU_MASK, &m) != 0) {
			*err = errno;
			std::fprintf(stderr, "libamdhip64 (xsb emulator): SET_CU_MASK failed: %s\n", std::strerror(errno));
			destroy_hw_queue(q);
			return nullptr;
		}
	}
	return q;
}

void destroy_hw_queue(HwQueue *q)
{
	struct xsb_kfd_destroy_queue_args d = {q->queue_id, 0};
	if (g_rt.kfd_fd >= 0 && ioctl(g_rt.kfd_fd, XSB_KFD_IOC_DESTROY_QUEUE, &d) != 0)
		std::fprintf(stderr, "libamdhip64 (xsb emulator): DESTROY_QUEUE %u failed: %s\n", q->queue_id,
		             std::strerror(errno));
	xsb_emu_free_ring(q->slot);
	delete q;
}

/* clr Device::acquireQueue: a new queue while the class has fewer than GPU_MAX_HW_QUEUES, else
 * the pool's queue with the lowest reference count. */
HwQueue *acquire_pool_queue(PrioClass cls, int *err)
{
	auto &pool = g_rt.pools[cls];
	if (pool.size() < g_rt.max_hw_queues) {
		HwQueue *q = create_hw_queue(cls, XSB_EMU_RING_PACKETS * 64u, nullptr, 0, err);
		if (q) {
			q->refs = 1;
			pool.push_back(q);
			return q;
		}
		if (pool.empty()) return nullptr;
	}
	HwQueue *best = pool[0];
	for (HwQueue *q : pool)
		if (q->refs < best->refs) best = q;
	best->refs++;
	return best;
}

void release_queue(HwQueue *q)
{
	if (!q || --q->refs > 0) return;
	auto &v = q->dedicated ? g_rt.dedicated : g_rt.pools[q->cls];
	for (size_t i = 0; i < v.size(); i++)
		if (v[i] == q) {
			v.erase(v.begin() + (long)i);
			break;
		}
	destroy_hw_queue(q);
}

/* ---- signals ---- */
namespace {
std::mutex g_sig_mu;
/* never destroyed: Signal destructors may run from other static destructors at exit */
std::vector<uint32_t> &g_sig_free = *new std::vector<uint32_t>;
std::vector<uint32_t> &g_sig_busy = *new std::vector<uint32_t>; /* released while the device may still decrement them */
constexpr uint32_t kSignalChunk = 256;

long futex_wait(std::atomic<uint32_t> *addr, uint32_t val, long timeout_ns)
{
	struct timespec ts = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
	return syscall(SYS_futex, reinterpret_cast<uint32_t *>(addr), FUTEX_WAIT, val, &ts, nullptr, 0);
}
} // namespace

Signal::~Signal()
{
	std::lock_guard<std::mutex> lk(g_sig_mu);
	if (sig->value.load(std::memory_order_acquire) <= 0)
		g_sig_free.push_back(index);
	else
		g_sig_busy.push_back(index);
}

SignalRef alloc_signal(int *err)
{
	uint32_t idx = 0;
	for (int attempt = 0;; attempt++) {
		{
			std::lock_guard<std::mutex> lk(g_sig_mu);
			for (size_t i = 0; i < g_sig_busy.size();) {
				if (xsb_emu_signal_at(g_sig_busy[i])->value.load(std::memory_order_acquire) <= 0) {
					g_sig_free.push_back(g_sig_busy[i]);
					g_sig_busy[i] = g_sig_busy.back();
					g_sig_busy.pop_back();
				} else {
					i++;
				}
			}
			if (g_sig_free.empty()) {
				uint32_t first;
				int rc = xsb_emu_alloc_signals(kSignalChunk, &first);
				if (rc >= 0) {
					for (uint32_t i = kSignalChunk; i-- > 0;) g_sig_free.push_back(first + i);
				} else if (g_sig_busy.empty() || attempt > 1000) {
					*err = -rc;
					return nullptr;
				}
			}
			if (!g_sig_free.empty()) {
				idx = g_sig_free.back();
				g_sig_free.pop_back();
				break;
			}
		}
		/* Device signal space exhausted: wait a little for in-flight markers to complete. */
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, nullptr);
	}
	SignalRef s(new Signal{idx, xsb_emu_signal_at(idx)});
	s->sig->value.store(1, std::memory_order_release);
	return s;
}

bool signal_done(const Signal &s) { return s.sig->value.load(std::memory_order_acquire) <= 0; }

void signal_wait(const Signal &s)
{
	while (!signal_done(s)) xsb_emu_signal_wait(s.index, 1000000000ull);
}

/* ---- AQL submission ---- */
void submit_packet(HwQueue *q, const PacketDesc &d)
{
	xsb_emu_ring *r = q->ring;
	const uint64_t n = XSB_EMU_RING_PACKETS;
	std::lock_guard<std::mutex> lk(q->submit_mu);
	uint64_t idx = r->write_index.fetch_add(1, std::memory_order_acq_rel);
	for (;;) { /* AQL: the slot is free once the packet processor has read past it */
		uint32_t f = r->read_futex.load(std::memory_order_acquire);
		if (idx - r->read_index.load(std::memory_order_acquire) < n) break;
		futex_wait(&r->read_futex, f, 100000000L);
	}
	uint64_t slot = idx % n;
	xsb_emu_packet *p = &r->packets[slot];
	/* Everything but the header, which publishes the packet. */
	unsigned char *raw = reinterpret_cast<unsigned char *>(p);
	std::memset(raw + sizeof(uint16_t), 0, sizeof(xsb_emu_packet) - sizeof(uint16_t));
	std::memset(r->kernarg[slot], 0, XSB_EMU_KERNARG_BYTES);
	if (d.type == XSB_AQL_TYPE_KERNEL_DISPATCH) {
		p->setup = 3; /* dimensions */
		p->workgroup_size_x = (uint16_t)d.block.x;
		p->workgroup_size_y = (uint16_t)d.block.y;
		p->workgroup_size_z = (uint16_t)d.block.z;
		p->grid_size_x = d.grid.x;
		p->grid_size_y = d.grid.y;
		p->grid_size_z = d.grid.z;
		p->kernel_object = d.kernel_object;
		std::memcpy(r->kernarg[slot], &d.arg0, sizeof d.arg0);
		p->kernarg_address = (uint64_t)(uintptr_t)r->kernarg[slot];
	}
	p->completion_signal = d.signal ? (uint64_t)d.signal->index + 1 : 0;
	p->submit_ns = xsb_emu_now_ns();
	/* barrier bit + system-scope acquire/release fences (AQL header bits 9-10, 11-12) */
	uint16_t hdr = (uint16_t)(d.type | XSB_AQL_HEADER_BARRIER | (2u << 9) | (2u << 11));
	p->header.store(hdr, std::memory_order_release);
	r->doorbell.store(idx, std::memory_order_release);
	xsb_emu_doorbell();
}

} // namespace xsbhip
