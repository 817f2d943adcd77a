/*
 * rt.h - internal structures of the emulated HIP runtime.
 *
 * Locking: g_rt.mu guards the runtime tables (pools, stream/event sets, modules, kernels);
 * HwQueue::submit_mu serialises packet writes into one ring; Stream::mu and Event::mu guard
 * their own marker state. No lock is held while waiting on a completion signal.
 */
#ifndef XSB_HIP_RT_H
#define XSB_HIP_RT_H

#define XSB_HIP_EXPORT __attribute__((visibility("default")))
#include "hip_api.h"

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "xsb_emu_client.h"
#include "xsb_kfd_abi.h"

namespace xsbhip {

enum PrioClass { PRIO_LOW = 0, PRIO_NORMAL = 1, PRIO_HIGH = 2, PRIO_CLASSES = 3 };

/* ROCr: every AQL queue is created at 7, then hsa_amd_queue_set_priority → UPDATE_QUEUE with
 * LOW 0 / HIGH 11 (ROCm >= 6.2); clr rocdevice.cpp acquireQueue skips the update for NORMAL. */
constexpr uint32_t kKfdPrio[PRIO_CLASSES] = {0, 7, 11};
constexpr uint32_t kKfdPrioCreate = 7;
constexpr uint32_t kUtilityRingBytes = 4096; /* ROCr-internal queue: small ring, never used here */

struct HwQueue {
	uint32_t slot = UINT32_MAX;
	xsb_emu_ring *ring = nullptr;
	uint32_t queue_id = UINT32_MAX;
	uint32_t ring_size = 0; /* bytes, as passed to CREATE_QUEUE */
	PrioClass cls = PRIO_NORMAL;
	int refs = 0;
	bool dedicated = false;
	bool utility = false;
	std::mutex submit_mu;
};

/* A completion signal of the device. Dropping the last reference returns it to the pool once
 * the device has consumed it (value <= 0). */
struct Signal {
	uint32_t index;
	xsb_emu_signal *sig;
	~Signal();
};
using SignalRef = std::shared_ptr<Signal>;

struct Stream {
	HwQueue *q = nullptr; /* null and per-thread streams acquire lazily */
	int priority = 0;     /* HIP value: 1 low, 0 normal, -1 high */
	unsigned flags = 0;
	bool is_null = false;
	bool is_spt = false;
	std::mutex mu;
	SignalRef last_marker; /* completes when everything submitted before it did */
	bool pending = false;  /* packets submitted after last_marker */
	/* g_rt.mu: hipDeviceSynchronize pins the streams it walks, so a concurrent
	 * hipStreamDestroy on another thread defers the delete to the last unpin (clr likewise
	 * holds a reference on each stream while it synchronises). */
	int pins = 0;
	bool destroyed = false;
};

struct Event {
	unsigned flags = 0;
	std::mutex mu;
	SignalRef sig;
	HwQueue *q = nullptr;
};

struct Function {
	std::string name;
	bool spin = false;
};

struct Runtime {
	std::mutex mu;
	int kfd_fd = -1;
	uint32_t gpu_id = 0;
	uint32_t num_cus = 0;
	uint32_t capability = 0;
	uint32_t kfd_major = 0, kfd_minor = 0;
	uint32_t gpu_clock_mhz = 2100;
	bool runtime_enabled = false;
	double copy_bytes_per_s = 50e9;
	unsigned max_hw_queues = 4;
	struct xsb_emu_shm *shm = nullptr;
	char profile_name[64] = {0};
	pid_t init_pid = 0;

	HwQueue *utility = nullptr;
	std::vector<HwQueue *> pools[PRIO_CLASSES];
	std::vector<HwQueue *> dedicated;
	std::unordered_set<Stream *> streams; /* user, per-thread (not the null stream) */
	std::unordered_set<Event *> events;
	Stream null_stream;
};
extern Runtime &g_rt; /* never destroyed (static destructors may still call in) */

/* Initialises on first use; hipSuccess, or the error every call must return. */
hipError_t ensure_init();
hipError_t set_error(hipError_t e); /* records e as the thread's last error when it is one */
#define XSB_RET(e) return ::xsbhip::set_error(e)
#define XSB_INIT_OR_RET()                                    \
	do {                                                 \
		hipError_t init_err_ = ::xsbhip::ensure_init(); \
		if (init_err_ != hipSuccess) XSB_RET(init_err_); \
	} while (0)

/* queues (rt_queue.cpp) */
HwQueue *create_hw_queue(PrioClass cls, uint32_t ring_bytes, const uint32_t *cu_mask, uint32_t cu_words,
                         int *err);
void destroy_hw_queue(HwQueue *q);
HwQueue *acquire_pool_queue(PrioClass cls, int *err); /* caller holds g_rt.mu */
void release_queue(HwQueue *q);                       /* caller holds g_rt.mu */

struct PacketDesc {
	uint16_t type = XSB_AQL_TYPE_KERNEL_DISPATCH;
	uint64_t kernel_object = XSB_EMU_KOBJ_DEFAULT;
	dim3 grid{1, 1, 1};  /* work-items */
	dim3 block{1, 1, 1}; /* work-group size */
	uint64_t arg0 = 0;   /* first u64 kernarg (duration for SPIN and COPY) */
	const Signal *signal = nullptr;
};
void submit_packet(HwQueue *q, const PacketDesc &d);
SignalRef alloc_signal(int *err);
void signal_wait(const Signal &s);
bool signal_done(const Signal &s);

/* streams (rt_stream.cpp) */
PrioClass prio_class_of(int hip_priority);
/* Resolves a handle (0/legacy → null stream, hipStreamPerThread → this thread's stream) and
 * makes sure it has a hardware queue. */
hipError_t resolve_stream(hipStream_t h, Stream **out);
/* Submits d on the stream; marks the stream pending. */
void stream_submit(Stream *s, const PacketDesc &d);
/* Enqueues a completion marker on the stream and returns its signal. */
hipError_t stream_marker(Stream *s, SignalRef *out);

/* kernels (rt_launch.cpp) */
const Function *function_of_host_stub(const void *host_fn);
hipError_t launch_function(const Function *fn, dim3 grid_wg, dim3 block, void **kernel_params, void **extra,
                           hipStream_t stream);
hipError_t launch_items(const Function *fn, dim3 grid_items, dim3 block, void **kernel_params, void **extra,
                        hipStream_t stream);

bool is_emulated_fd(int fd);

} // namespace xsbhip

#endif /* XSB_HIP_RT_H */
