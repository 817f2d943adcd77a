#include "futex.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

namespace xsbe {

/* Layout of struct futex_waitv (include/uapi/linux/futex.h, Linux 5.16); defined here so older
 * headers build too. */
struct waitv_entry {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

uint64_t mono_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void futex_wake_all(std::atomic<uint32_t> *w)
{
	syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

int futex_wait(std::atomic<uint32_t> *w, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts = {(time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull)};
	long r = syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAIT, val, timeout_ns ? &ts : nullptr,
	                 nullptr, 0);
	return r < 0 ? -errno : 0;
}

int futex_waitv_abs(const WaitItem *items, size_t n, uint64_t deadline_ns)
{
	enum { MAX = 128 }; /* FUTEX_WAITV_MAX */
	waitv_entry v[MAX];
	if (n > MAX) n = MAX;
	for (size_t i = 0; i < n; i++) {
		v[i].val = items[i].val;
		v[i].uaddr = (uint64_t)(uintptr_t)items[i].word;
		v[i].flags = FUTEX_32; /* shared: the words live in other processes' mappings */
		v[i].reserved = 0;
	}
	struct timespec ts = {(time_t)(deadline_ns / 1000000000ull), (long)(deadline_ns % 1000000000ull)};
	long r = syscall(SYS_futex_waitv, v, (unsigned)n, 0u, deadline_ns ? &ts : nullptr, CLOCK_MONOTONIC);
	if (r >= 0) return (int)r;
	return errno == EAGAIN ? 0 : -errno; /* EAGAIN: a word differed already */
}

} // namespace xsbe
