/* Rings and completion signals in the device memory, as this process maps it. */
#include "client_internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int simple_rpc(uint16_t op, uint64_t a0, uint64_t a1, uint64_t *out0)
{
	struct xsb_emu_msg req, rep;
	memset(&req, 0, sizeof req);
	req.op = op;
	req.u64[0] = a0;
	req.u64[1] = a1;
	int r = xsb_emu_rpc(&req, NULL, NULL, &rep, NULL, 0, NULL, 0);
	if (r < 0)
		return r;
	if (rep.ret < 0)
		return (int)rep.ret;
	if (out0)
		*out0 = rep.u64[0];
	return 0;
}

struct xsb_emu_ring *xsb_emu_ring_at(uint32_t slot)
{
	struct xsb_emu_shm *s = xsb_emu__shm();
	if (!s || slot >= XSB_EMU_MAX_RINGS)
		return NULL;
	return (struct xsb_emu_ring *)((char *)s + s->off_rings) + slot;
}

int xsb_emu_ring_slot_of(uint64_t addr)
{
	struct xsb_emu_shm *s = xsb_emu__shm();
	if (!s || addr == 0)
		return -1;
	uint64_t base = (uint64_t)(uintptr_t)((char *)s + s->off_rings);
	uint64_t stride = sizeof(struct xsb_emu_ring);
	if (addr < base || addr >= base + stride * XSB_EMU_MAX_RINGS)
		return -1;
	uint64_t rel = addr - base;
	if (rel % stride != offsetof(struct xsb_emu_ring, packets))
		return -1;
	return (int)(rel / stride);
}

struct xsb_emu_signal *xsb_emu_signal_at(uint32_t index)
{
	struct xsb_emu_shm *s = xsb_emu__shm();
	if (!s || index >= XSB_EMU_MAX_SIGNALS)
		return NULL;
	return (struct xsb_emu_signal *)((char *)s + s->off_signals) + index;
}

int xsb_emu_alloc_ring(uint32_t *slot)
{
	uint64_t v = 0;
	int r = simple_rpc(XSB_EMU_OP_ALLOC_RING, 0, 0, &v);
	if (r == 0)
		*slot = (uint32_t)v;
	return r;
}

int xsb_emu_free_ring(uint32_t slot)
{
	return simple_rpc(XSB_EMU_OP_FREE_RING, slot, 0, NULL);
}

int xsb_emu_alloc_signals(uint32_t count, uint32_t *first)
{
	uint64_t v = 0;
	int r = simple_rpc(XSB_EMU_OP_ALLOC_SIGNALS, count, 0, &v);
	if (r == 0)
		*first = (uint32_t)v;
	return r;
}

int xsb_emu_free_signals(uint32_t first, uint32_t count)
{
	return simple_rpc(XSB_EMU_OP_FREE_SIGNALS, first, count, NULL);
}

int xsb_emu_signal_wait(uint32_t index, uint64_t timeout_ns)
{
	struct xsb_emu_signal *sig = xsb_emu_signal_at(index);
	if (!sig)
		return -EINVAL;
	struct timespec deadline;
	if (timeout_ns) {
		uint64_t t = xsb_emu_now_ns() + timeout_ns;
		deadline.tv_sec = (time_t)(t / 1000000000ull);
		deadline.tv_nsec = (long)(t % 1000000000ull);
	}
	for (;;) {
		uint32_t f = atomic_load_explicit(&sig->futex, memory_order_acquire);
		if (atomic_load_explicit(&sig->value, memory_order_acquire) <= 0)
			return 0;
		/* Shared (not PRIVATE) futex: the device process wakes us. */
		long r = syscall(SYS_futex, &sig->futex, FUTEX_WAIT_BITSET, f,
		                 timeout_ns ? &deadline : NULL, NULL, FUTEX_BITSET_MATCH_ANY);
		if (r < 0 && errno == ETIMEDOUT)
			return atomic_load(&sig->value) <= 0 ? 0 : -ETIMEDOUT;
	}
}
