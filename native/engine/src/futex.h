/* futex.h - shared (non-private) futex helpers on 32-bit words in shared memory. */
#ifndef XSB_ENGINE_FUTEX_H
#define XSB_ENGINE_FUTEX_H

#include <stddef.h>
#include <stdint.h>

#include <atomic>

namespace xsbe {

uint64_t mono_ns();
void futex_wake_all(std::atomic<uint32_t> *w);
/* FUTEX_WAIT until *w != val or timeout (ns, 0 = forever). */
int futex_wait(std::atomic<uint32_t> *w, uint32_t val, uint64_t timeout_ns);

struct WaitItem {
	std::atomic<uint32_t> *word;
	uint32_t val;
};
/* Waits until one word differs from its value or deadline_ns (CLOCK_MONOTONIC, absolute) passes.
 * futex_waitv (Linux 5.16, syscall 449) when the kernel has it; returns -ENOSYS otherwise so the
 * caller can fall back to polling. Returns >= 0 (woken / value changed) or -ETIMEDOUT/-errno. */
int futex_waitv_abs(const WaitItem *items, size_t n, uint64_t deadline_ns);

} // namespace xsbe

#endif
