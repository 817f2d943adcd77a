/*
 * xsb_wire.h - the one definition of the shim <-> coordinator wire and of the shared-memory
 * control block. TypeScript mirrors it in xsched-bridge/src/wire.ts (one place: change both).
 *
 * Wire: a Unix stream socket at $XSB_SOCKET, one JSON object per line (UTF-8, '\n'
 * terminated, at most XSB_WIRE_MAX_LINE bytes including the newline). Every message carries
 * "v": XSB_WIRE_VERSION and "type". Receivers drop (and log) lines that are too long, are not
 * a JSON object, carry another "v" or an unknown "type".
 *
 *   shim -> coordinator
 *     hello  {pid, class ("online"|"offline"|null), priority (0..15|null), exe, gpus [gpu_id..],
 *             mechanism ("dbg-trap"|"deactivate": the one in effect), lv1 {threshold, batch},
 *             shm (control block name for shm_open), shm_size, ctrl_version}
 *             pid is informational: the coordinator identifies peers by SO_PEERCRED.
 *     queue  {event "create"|"update"|"destroy", id, gpu_id, qtype (KFD queue_type), ring_base
 *             (decimal string: a u64 does not fit a JSON number), ring_size,
 *             priority_requested, priority_applied, percentage, state ("active"|"held"|
 *             "destroying")}
 *     stats  {launches, gated_waits, gated_wait_ns, lv1_waits, suspends, resumes,
 *             suspend_ns_last, suspend_ns_max, suspend_ns_sum, resume_ns_last, resume_ns_max,
 *             resume_ns_sum, queues, exec_state, activity, mechanism}
 *     ack    {of: the acknowledged type, seq}; of "config" adds mechanism (the one in effect
 *             after this config) and, when the switch waits for held queues to be released,
 *             mechanism_pending (the one that will apply then)
 *     bye    {reason}  (process exit or fail-open; the socket closes after it)
 *   coordinator -> shim
 *     config {class?, priority?, lv1 {threshold?, batch?}?, lease_ms?, mechanism?, seq?}
 *             (fields optional). mechanism ("dbg-trap"|"deactivate") wins over the process's
 *             XSB_MECHANISM; without it the shim keeps XSB_MECHANISM (default dbg-trap). The shim
 *             switches only while none of its queues is held (held queues are released the way
 *             they were held): at once, else right after the next release. Leaving dbg-trap
 *             closes the process's debug session.
 *     lease  {lease_ms, seq?}  (renews the lease: deadline = now + lease_ms)
 *     ack    {of, seq?}
 *
 *   Sequence: hello, then every queue the process has as queue "create" events, then queue
 *   events as they happen and stats every XSB_STATS_MS; the coordinator answers hello with
 *   ack {of:"hello"} and a config. The coordinator unlinks the shm name as soon as it has
 *   mapped and verified the block (so a shim killed before the ack leaves no name behind); the
 *   shim's own unlink after the ack is then a harmless no-op. The coordinator re-checks the
 *   header (magic .. header_sum, pid) before every use: a block that fails stops being trusted,
 *   is never written again and its connection is closed (the shim fails open and reconnects).
 *
 *   Losing the coordinator and reconnecting: when the socket closes or the lease expires the
 *   shim fails open (releases its queues, opens its gate, Lv1 off, fail_open_ns set) and its
 *   service thread keeps trying to connect while the process lives: 100 ms after the loss,
 *   doubling to 2 s while nothing listens, up to 30 s while a listener closes the connection
 *   before sending any config (it refuses this process). A process that started without a
 *   coordinator connects the same way when one starts. Each connection is a new attachment:
 *   a new control block (new shm name; the shim's counters and state carry over, the
 *   coordinator words start as gate OPEN, suspend_req RUN, no lease, the shim's own Lv1), a new
 *   hello (current class, priority, mechanism) and the queue table replayed as create events.
 *   The first attempt is made when the process first uses HIP or KFD; later ones never run on
 *   a launch path.
 *
 *   Admin clients (no hello) may ask for the registry instead; the coordinator answers once
 *   and closes the connection (keep it open until the answer arrives):
 *     -> {"v":1,"type":"query","what":"registry"}
 *     <- {"v":1,"type":"registry",
 *         "policy":{name, mechanism ("dbg-trap"|"deactivate"|null: each shim's own), lv1
 *                   ("xsb"|"xsched"), lease_ms, hysteresis_us},
 *         "gpus":[{gpu_id, processes:[pid..], busy:[pid..]}],
 *         "processes":[{pid, uid, class, priority, exe, gpus, mechanism,
 *                       queues:[{id, gpu_id, qtype, ring_base, ring_size, priority_requested,
 *                                priority_applied, percentage, state}],
 *                       gate ("open"|"closed"|"invalid"), exec_state ("idle"|"running"|
 *                       "suspending"|"held"|"resuming"|"error"), activity ("idle"|"busy"),
 *                       held_queues, untrusted (null, or why the block stopped being trusted),
 *                       counters {launches, gated_waits, gated_wait_ns, lv1_waits, suspends,
 *                                 resumes, suspend_ns_last, suspend_ns_max, suspend_ns_sum,
 *                                 resume_ns_last, resume_ns_max, resume_ns_sum, queues, errors},
 *                       engine {gate_closed, hold, awaiting_ack, gate_closed_ms, held_ms,
 *                               preemptions, busy_ms, kernel_ns_est, allow_hold}}]}
 *     (gate, exec_state, activity, held_queues and counters are null while the engine has no
 *     mapping of the process's block.)
 *
 * Control block: POSIX shm "/xsb-<uid>-<pid>-<random hex>", mode 0600, created by the shim,
 * sized XSB_CTRL_SIZE, name sent in hello. All multi-process words are naturally aligned and
 * accessed atomically (C11 atomics / Atomics on a SharedArrayBuffer view); futex words are
 * 32-bit and used with non-private FUTEX_WAIT/FUTEX_WAKE.
 * Writers: [C] coordinator, [S] shim. Readers validate every word they read: an invalid gate
 * value opens the gate (fail-open) and is logged; invalid Lv1 values or requests are ignored
 * and logged. The header (magic .. header_sum) is written once by the shim before hello;
 * header_sum = FNV-1a 32 over the header bytes before it, so a reader detects corruption.
 * The header's cls and mechanism are those at hello; later changes are reported on the wire.
 * Within the shim the block of every attachment lives at one address (ctrl_block.cpp).
 */
#ifndef XSB_WIRE_H
#define XSB_WIRE_H

#include <stdint.h>

#define XSB_WIRE_VERSION 1u
#define XSB_WIRE_MAX_LINE 65536u

/* Environment understood by the shim (DESIGN.md contract). */
#define XSB_ENV_CLASS         "XSB_CLASS"         /* online | offline */
#define XSB_ENV_PRIORITY      "XSB_PRIORITY"      /* 0..15 */
#define XSB_ENV_SOCKET        "XSB_SOCKET"
#define XSB_ENV_LV1_THRESHOLD "XSB_LV1_THRESHOLD"
#define XSB_ENV_LV1_BATCH     "XSB_LV1_BATCH"
#define XSB_ENV_MECHANISM     "XSB_MECHANISM"     /* dbg-trap | deactivate */
#define XSB_ENV_LOG           "XSB_LOG"           /* error | warn | info | debug */
#define XSB_ENV_IDLE_HYSTERESIS_US "XSB_IDLE_HYSTERESIS_US"
#define XSB_ENV_STATS_MS      "XSB_STATS_MS"

/* Defaults (seeds): priority per class, Lv1 */
#define XSB_PRIORITY_ONLINE_DEFAULT  15u
#define XSB_PRIORITY_OFFLINE_DEFAULT 2u
#define XSB_LV1_THRESHOLD_DEFAULT    16u
#define XSB_LV1_BATCH_DEFAULT        8u
#define XSB_LV1_MAX                  65536u /* threshold 0 = unbounded; batch 1..threshold */
#define XSB_IDLE_HYSTERESIS_US_DEFAULT 200u
#define XSB_LEASE_MAX_MS             600000u /* a lease deadline further away is corrupt */

/* Control block */
#define XSB_CTRL_MAGIC   0x4c544358u /* "XCTL" */
#define XSB_CTRL_VERSION 1u
#define XSB_CTRL_SIZE    4096u

/* gate word values: nothing else is valid (a zero/garbage gate fails open) */
#define XSB_GATE_OPEN    0x4e45504fu /* "OPEN" */
#define XSB_GATE_CLOSED  0x44534c43u /* "CLSD" */

/* suspend_req values */
#define XSB_REQ_RUN      0x4e555252u /* "RRUN" */
#define XSB_REQ_HOLD     0x444c4f48u /* "HOLD" */

/* exec_state values (shim) */
#define XSB_EXEC_IDLE       0u /* no executor (no coordinator, or fail-open) */
#define XSB_EXEC_RUNNING    1u /* queues active */
#define XSB_EXEC_SUSPENDING 2u
#define XSB_EXEC_HELD       3u /* every compute queue of the process held */
#define XSB_EXEC_RESUMING   4u
#define XSB_EXEC_ERROR      5u /* last operation failed: exec_error = -errno; queues released */

/* activity values (shim) */
#define XSB_ACT_IDLE 0u
#define XSB_ACT_BUSY 1u

/* class values in the header */
#define XSB_CLASS_NONE    0u
#define XSB_CLASS_ONLINE  1u
#define XSB_CLASS_OFFLINE 2u

/* mechanism values in the header */
#define XSB_MECH_DBG_TRAP   1u
#define XSB_MECH_DEACTIVATE 2u

#ifdef __cplusplus
#include <atomic>
#define XSB_WIRE_ATOMIC(T) std::atomic<T>
#else
#include <stdatomic.h>
#define XSB_WIRE_ATOMIC(T) _Atomic T
#endif

struct xsb_ctrl {
	/* ---- header @0 (S, once) ---- */
	uint32_t magic;           /* @0  XSB_CTRL_MAGIC */
	uint32_t version;         /* @4  XSB_CTRL_VERSION */
	uint32_t size;            /* @8  XSB_CTRL_SIZE */
	uint32_t pid;             /* @12 */
	uint32_t cls;             /* @16 XSB_CLASS_* */
	uint32_t mechanism;       /* @20 XSB_MECH_* */
	uint32_t header_sum;      /* @24 FNV-1a 32 of bytes 0..23 */
	uint32_t pad0;            /* @28 */

	/* ---- coordinator -> shim @32 ---- */
	XSB_WIRE_ATOMIC(uint32_t) gate;          /* @32 [C] XSB_GATE_*; futex launching threads wait on */
	XSB_WIRE_ATOMIC(uint32_t) suspend_req;   /* @36 [C] XSB_REQ_* */
	XSB_WIRE_ATOMIC(uint32_t) req_seq;       /* @40 [C] bumped after each suspend_req write + FUTEX_WAKE;
	                                          *         futex the executor waits on (the shim bumps it too
	                                          *         for its own events) */
	XSB_WIRE_ATOMIC(uint32_t) lv1_threshold; /* @44 [C/S] 0 = unbounded, else 1..XSB_LV1_MAX */
	XSB_WIRE_ATOMIC(uint32_t) lv1_batch;     /* @48 [C/S] 1..threshold */
	uint32_t pad1;                           /* @52 */
	XSB_WIRE_ATOMIC(uint64_t) lease_deadline_ns; /* @56 [C/S] CLOCK_MONOTONIC; 0 = no lease */

	/* ---- executor (shim -> coordinator) @64 ---- */
	XSB_WIRE_ATOMIC(uint32_t) ack_seq;       /* @64 [S] req_seq value the current exec_state answers;
	                                          *         futex (bumped + FUTEX_WAKE on every change) */
	XSB_WIRE_ATOMIC(uint32_t) exec_state;    /* @68 [S] XSB_EXEC_* */
	XSB_WIRE_ATOMIC(int32_t) exec_error;     /* @72 [S] last error, -errno, 0 = none */
	XSB_WIRE_ATOMIC(uint32_t) held_queues;   /* @76 [S] queues currently held */

	/* ---- activity (shim -> coordinator) @80 ---- */
	XSB_WIRE_ATOMIC(uint32_t) activity;          /* @80 [S] XSB_ACT_* */
	XSB_WIRE_ATOMIC(uint32_t) activity_doorbell; /* @84 [S] +1 and FUTEX_WAKE on every transition */
	XSB_WIRE_ATOMIC(uint64_t) busy_since_ns;     /* @88 [S] time of the last idle->busy */
	XSB_WIRE_ATOMIC(uint64_t) idle_since_ns;     /* @96 [S] time of the last busy->idle */
	XSB_WIRE_ATOMIC(uint64_t) activity_transitions; /* @104 [S] */

	/* ---- counters (shim) @112 ---- */
	XSB_WIRE_ATOMIC(uint64_t) launches;       /* @112 launch-flavour calls by the application */
	XSB_WIRE_ATOMIC(uint64_t) gated_waits;    /* @120 launches that waited at a closed gate */
	XSB_WIRE_ATOMIC(uint64_t) gated_wait_ns;  /* @128 */
	XSB_WIRE_ATOMIC(uint64_t) lv1_waits;      /* @136 waits for the oldest in-flight batch */
	XSB_WIRE_ATOMIC(uint64_t) suspends;       /* @144 successful hold operations */
	XSB_WIRE_ATOMIC(uint64_t) resumes;        /* @152 successful release operations */
	XSB_WIRE_ATOMIC(uint64_t) suspend_ns_last;/* @160 ioctl latency of the hold */
	XSB_WIRE_ATOMIC(uint64_t) suspend_ns_max; /* @168 */
	XSB_WIRE_ATOMIC(uint64_t) suspend_ns_sum; /* @176 */
	XSB_WIRE_ATOMIC(uint64_t) resume_ns_last; /* @184 */
	XSB_WIRE_ATOMIC(uint64_t) resume_ns_max;  /* @192 */
	XSB_WIRE_ATOMIC(uint64_t) resume_ns_sum;  /* @200 */
	XSB_WIRE_ATOMIC(uint32_t) queues;         /* @208 KFD queues of the process */
	XSB_WIRE_ATOMIC(uint32_t) errors;         /* @212 invalid words seen, failed operations */
	XSB_WIRE_ATOMIC(uint64_t) fail_open_ns;   /* @216 when the shim failed open, 0 = attached */
};

#define XSB_CTRL_OFF_GATE 32u
#define XSB_CTRL_OFF_SUSPEND_REQ 36u
#define XSB_CTRL_OFF_REQ_SEQ 40u
#define XSB_CTRL_OFF_LV1_THRESHOLD 44u
#define XSB_CTRL_OFF_LV1_BATCH 48u
#define XSB_CTRL_OFF_LEASE_DEADLINE 56u
#define XSB_CTRL_OFF_ACK_SEQ 64u
#define XSB_CTRL_OFF_EXEC_STATE 68u
#define XSB_CTRL_OFF_EXEC_ERROR 72u
#define XSB_CTRL_OFF_HELD_QUEUES 76u
#define XSB_CTRL_OFF_ACTIVITY 80u
#define XSB_CTRL_OFF_ACTIVITY_DOORBELL 84u
#define XSB_CTRL_OFF_BUSY_SINCE 88u
#define XSB_CTRL_OFF_IDLE_SINCE 96u
#define XSB_CTRL_OFF_LAUNCHES 112u
#define XSB_CTRL_OFF_QUEUES 208u
#define XSB_CTRL_OFF_FAIL_OPEN 216u

/* FNV-1a 32 of the first 24 header bytes (magic .. mechanism). */
static inline uint32_t xsb_ctrl_header_sum(const void *ctrl)
{
	const unsigned char *p = (const unsigned char *)ctrl;
	uint32_t h = 2166136261u;
	for (unsigned i = 0; i < 24u; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

#ifdef __cplusplus
#define XSB_WIRE_STATIC_ASSERT static_assert
#else
#define XSB_WIRE_STATIC_ASSERT _Static_assert
#endif
XSB_WIRE_STATIC_ASSERT(sizeof(struct xsb_ctrl) <= XSB_CTRL_SIZE, "xsb_ctrl fits its mapping");
XSB_WIRE_STATIC_ASSERT(__builtin_offsetof(struct xsb_ctrl, gate) == XSB_CTRL_OFF_GATE, "gate");
XSB_WIRE_STATIC_ASSERT(__builtin_offsetof(struct xsb_ctrl, lease_deadline_ns) == XSB_CTRL_OFF_LEASE_DEADLINE, "lease");
XSB_WIRE_STATIC_ASSERT(__builtin_offsetof(struct xsb_ctrl, ack_seq) == XSB_CTRL_OFF_ACK_SEQ, "ack_seq");
XSB_WIRE_STATIC_ASSERT(__builtin_offsetof(struct xsb_ctrl, activity) == XSB_CTRL_OFF_ACTIVITY, "activity");
XSB_WIRE_STATIC_ASSERT(__builtin_offsetof(struct xsb_ctrl, launches) == XSB_CTRL_OFF_LAUNCHES, "launches");
XSB_WIRE_STATIC_ASSERT(__builtin_offsetof(struct xsb_ctrl, queues) == XSB_CTRL_OFF_QUEUES, "queues");
XSB_WIRE_STATIC_ASSERT(__builtin_offsetof(struct xsb_ctrl, fail_open_ns) == XSB_CTRL_OFF_FAIL_OPEN, "fail_open");

#endif /* XSB_WIRE_H */
