/*
 * shim.h - internals of libxsb_hip.so shared by its translation units.
 *
 * Threads of a shimmed process: the application's (wrappers, ioctl hook); once the process
 * used HIP or KFD with XSB_SOCKET set, the service thread (connect and reconnect, socket,
 * lease watchdog, stats); once a coordinator attached, the executor (suspend/resume of the
 * process's own queues) and, for online processes, the activity tracker. The shim's own threads run with tl_depth > 0 so their HIP calls pass straight
 * through the wrappers; the executor additionally sets tl_kfd_pass so its KFD ioctls are
 * never mistaken for the runtime's.
 */
#ifndef XSB_SHIM_H
#define XSB_SHIM_H

#include <stdint.h>
#include <sys/types.h>

#include <atomic>

#include "xsb_hip_abi.h"
#include "xsb_wire.h"

#define XSB_EXPORT extern "C" __attribute__((visibility("default")))
/* Initial-exec TLS: a %fs-relative access, no __tls_get_addr. The shim is LD_PRELOADed (its few
 * bytes of TLS are part of the static block); were it dlopen()ed, glibc's static TLS surplus
 * holds them. */
#define XSB_TLS __attribute__((tls_model("initial-exec")))
#define XSB_LIKELY(x) __builtin_expect(!!(x), 1)
#define XSB_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace xsb {

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3, LOG_OFF = -1 };

struct Config {
	bool env_ok = true;      /* false: malformed XSB_* value, the program runs untouched */
	char env_error[256] = {0};
	uint32_t cls = XSB_CLASS_NONE;
	int priority = -1;       /* KFD queue priority to apply, -1 = leave the runtime's */
	uint32_t lv1_threshold = XSB_LV1_THRESHOLD_DEFAULT;
	uint32_t lv1_batch = XSB_LV1_BATCH_DEFAULT;
	uint32_t mechanism = XSB_MECH_DBG_TRAP; /* XSB_MECHANISM; a coordinator's config overrides it */
	int log_level = LOG_OFF;
	uint32_t idle_hysteresis_us = XSB_IDLE_HYSTERESIS_US_DEFAULT;
	uint32_t stats_ms = 1000;
	uint32_t config_wait_ms = 1000;
	uint32_t grace_period = 1;
	char socket_path[108] = {0};
};
extern Config g_cfg;

/* ---- process state ---- */
extern std::atomic<uint32_t> g_class;    /* XSB_CLASS_*, coordinator may change it */
extern std::atomic<int> g_priority;      /* priority applied to every queue, -1 = none */
extern std::atomic<uint32_t> g_mechanism; /* XSB_MECH_* in effect (the executor's, see exec_request_mechanism) */
extern std::atomic<int> g_attached;      /* a coordinator controls this process */
extern std::atomic<int> g_fail_open;     /* coordinator lost / lease expired: run untouched */
extern std::atomic<int> g_hip_ready;     /* a HIP call returned success (runtime initialised) */
extern std::atomic<int> g_exiting;
extern xsb_ctrl *g_ctrl;                 /* never null; one address for the process's life (ctrl_block.cpp) */
/* __thread, not thread_local: an extern thread_local is reached through a TLS wrapper call
 * check on every access (it might have a dynamic initialiser in another unit). */
extern XSB_TLS __thread int tl_depth;    /* > 0: inside a wrapper or a shim thread */
extern XSB_TLS __thread int tl_kfd_pass; /* > 0: the executor's own KFD ioctls */

/* ---- util.cpp ---- */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define XSB_LOG(lvl, ...)                                             \
	do {                                                          \
		if (::xsb::g_cfg.log_level >= (lvl)) ::xsb::log_msg((lvl), __VA_ARGS__); \
	} while (0)
uint64_t now_ns();
/* Non-private futex on a 32-bit word (shared memory). timeout_ns 0 = forever. */
int futex_wait(std::atomic<uint32_t> *w, uint32_t val, uint64_t timeout_ns);
void futex_wake(std::atomic<uint32_t> *w);
void parse_env(Config *c);
void atomic_max(std::atomic<uint64_t> *a, uint64_t v);

/* ---- init.cpp ---- */
enum { INIT_NONE = 0, INIT_RUNNING = 1, INIT_DONE = 2 };
extern std::atomic<int> g_init;
void ensure_init_slow();
/* lazy, once per process (and again in a forked child); one load once done */
static inline void ensure_init()
{
	if (XSB_LIKELY(g_init.load(std::memory_order_acquire) == INIT_DONE)) return;
	ensure_init_slow();
}
void on_hip_success_slow();
/* after a wrapped HIP call succeeded; one load once the runtime is known ready */
static inline void on_hip_success()
{
	if (XSB_LIKELY(g_hip_ready.load(std::memory_order_relaxed))) return;
	on_hip_success_slow();
}
void fail_open(const char *why, int level = LOG_WARN); /* service thread */
uint32_t ctrl_gate();     /* validated gate value: OPEN or CLOSED */

/* ---- ctrl_block.cpp ---- */
void ctrl_map_initial();    /* at load: g_ctrl becomes the process's own shared page */
void ctrl_child_reset();    /* forked child: a fresh page at the same address */
const char *ctrl_publish(); /* new shm block moved over g_ctrl; its name, or nullptr */
void ctrl_unlink();         /* the coordinator mapped it (or is gone): drop the name */

/* ---- wire.cpp ---- */
bool wire_connect_and_hello(); /* first attempt, at init: true when a coordinator accepted */
void wire_send(const char *json); /* one JSON object, newline added; never blocks */
void wire_start_service(bool attached); /* the thread that serves and reconnects */
void wire_disconnect();    /* fail-open: bye flushed, socket closed; the service thread reconnects */
void wire_stop();          /* exit: stops the service thread (no more reconnects) */
void wire_close();         /* exit: wire_stop, then the socket closes */
void wire_child_reset();

/* ---- kfd_hook.cpp: queue table ---- */
enum QState : uint32_t { Q_ACTIVE = 0, Q_HELD = 1, Q_DESTROYING = 2 };
struct Queue {
	bool used;
	uint32_t id, gpu_id, type;
	uint64_t ring_base;
	uint32_t ring_size;
	uint32_t prio_requested;  /* the runtime's latest */
	uint32_t prio_applied;    /* what the driver holds */
	uint32_t pct_runtime;     /* the runtime's latest queue_percentage */
	bool held;                /* taken down by the executor */
	bool destroying;
	bool update_pending;      /* a runtime UPDATE_QUEUE was held back (deactivate) */
};
bool queue_is_compute(uint32_t type);
/* Copies the table (up to cap) under its lock; returns the count. */
int queues_snapshot(Queue *out, int cap);
void queue_set_held(uint32_t id, bool held);
void queue_send_event(const char *event, const Queue &q);
void queues_send_all(); /* every queue as a create event, in order with concurrent events */
void queues_child_reset();
/* Runs fn with the queue-operation lock held: the executor's operations and the runtime's
 * UPDATE_QUEUE never interleave. */
struct QopLock {
	QopLock();
	~QopLock();
};
bool queue_get(uint32_t id, Queue *out);
void queue_note_released(uint32_t id, uint32_t pct, uint32_t prio);

/* ---- executor.cpp ---- */
void exec_start();
void exec_kick();
void exec_shutdown();     /* release everything, close the debug session, stop the thread */
void exec_child_reset();
/* Called by the ioctl hook before DESTROY_QUEUE of a held queue: releases it (bounded wait). */
void exec_release_for_destroy(uint32_t id);
/* A coordinator asked for mechanism m: switched at once when nothing is held (closing the
 * debug session when leaving dbg-trap), else at the next release. Returns the mechanism in
 * effect; *pending is true when the switch waits for the release. */
uint32_t exec_request_mechanism(uint32_t m, bool *pending);

/* ---- hip_wrappers.cpp / lv1.cpp ---- */
void *hip_next(int idx);  /* next definition of table entry idx, resolved lazily */
void gate_wait_slow();
/* Launching threads wait here while the gate is closed; an open gate costs one load. */
static inline void gate_wait()
{
	if (XSB_LIKELY(g_ctrl->gate.load(std::memory_order_acquire) == XSB_GATE_OPEN)) return;
	gate_wait_slow(); /* closed, or a corrupt word (validated and failed open there) */
}
struct Lv1Slot;
/* One counted launch: its stream's slot, held locked from lv1_admit to lv1_done, and the Lv1
 * limits it was admitted under. */
struct Lv1Ticket {
	Lv1Slot *slot;
	uint32_t thr, batch;
};
Lv1Ticket lv1_admit(int spt, hipStream_t s); /* after the gate, with room in the stream */
void lv1_done(const Lv1Ticket &t, bool ok);
void lv1_stream_destroyed(hipStream_t s);
void lv1_child_reset();
hipError_t aux_event_create(hipEvent_t *e);
hipError_t aux_event_destroy(hipEvent_t e);
hipError_t aux_event_query(hipEvent_t e);
hipError_t aux_event_sync(hipEvent_t e);
hipError_t aux_event_record(hipEvent_t e, hipStream_t s);
hipError_t aux_device_sync();

/* ---- activity.cpp ---- */
void activity_to_busy();
/* Online launch path, right after the launch was counted (g_ctrl->launches, a seq_cst RMW:
 * the tracker's launch sequence, see activity.cpp): one load while busy. */
static inline void activity_launch()
{
	if (XSB_UNLIKELY(g_ctrl->activity.load(std::memory_order_seq_cst) != XSB_ACT_BUSY)) activity_to_busy();
}
void activity_lock();     /* no busy/idle transition while held (control block swap) */
void activity_unlock();
void activity_start();
void activity_stop();
void activity_child_reset();
int activity_hint(int delta);

} // namespace xsb

#endif
