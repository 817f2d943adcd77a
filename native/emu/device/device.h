/*
 * device.h - internal state of xsb-emu-device (single-threaded, epoll driven).
 *
 * Layers: conn.c (socket protocol, processes), kfd.c (the emulated amdkfd ioctls),
 * model.c (compute units, arbitration, HWS runlist transitions), sysfs.c (the
 * /sys-shaped tree), shm.c (the memfd), status.c (STATUS JSON).
 */
#ifndef XSB_EMU_DEVICE_H
#define XSB_EMU_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "xsb_emu_proto.h"
#include "xsb_kfd_abi.h"
#include "xsb_emu_common.h"

#define DEV_MAX_CONNS 4096u
#define DEV_MAX_RUNTIME_WAITERS 16u
#define NO_QUEUE (-1)

/* Things registered in epoll; epoll data.ptr points at one of these. */
enum src_type { SRC_LISTEN = 1, SRC_CONN, SRC_DOORBELL, SRC_TIMER, SRC_SIGNAL, SRC_PIDFD };
struct src {
	int type;
	int fd;
};

/* A reply that is sent later (blocked ioctl, runlist transition). */
struct pending_reply {
	uint64_t conn_id;
	size_t len;
	uint8_t *buf; /* header + arg + extra */
};

struct conn {
	struct src src;
	uint64_t id;          /* generation << 16 | index */
	uint32_t kind;        /* XSB_EMU_CONN_*, 0 before HELLO */
	pid_t pid;            /* SO_PEERCRED */
	uid_t uid;
	bool closing;
	bool blocked;         /* a deferred reply is owed: input paused */
};

/* One per client pid (FILE/THREAD connections), until that pid exits. */
struct proc {
	struct src src;       /* the pidfd */
	bool used;
	bool dead;
	pid_t pid;
	bool has_kfd;         /* a FILE connection was opened: the "KFD process" exists */
	/* debugger state, as struct kfd_process */
	uint32_t runtime_state;
	uint64_t r_debug;
	uint32_t ttmp_setup;
	bool is_runtime_retry;
	bool debug_trap_enabled;
	pid_t debugger_pid;   /* target->debugger_process: the tracer that enabled us, 0 = self */
	uint64_t exception_enable_mask;
	uint64_t exception_status;
	int runtime_sema;     /* runtime_enable_sema count */
	struct pending_reply runtime_waiters[DEV_MAX_RUNTIME_WAITERS];
	unsigned n_runtime_waiters;
	/* queue id allocation: non-sequential on purpose */
	uint32_t qid_start, qid_stride;
	int16_t qidx[XSB_EMU_MAX_KFD_QUEUES]; /* queue id -> dev.queues index, -1 free */
	uint8_t doorbell_used[XSB_EMU_MAX_KFD_QUEUES];
	unsigned n_queues;
};

/* Saved (CWSR) or waiting workgroups of a dispatch with the time they still need. */
struct wg_saved {
	uint32_t count;
	uint64_t remaining_ns;
};

/* The packet a ring is executing (barrier semantics: one at a time per ring). */
struct dispatch {
	uint64_t index;        /* packet index in the ring */
	uint64_t signal;       /* completion_signal (index + 1, 0 none) */
	uint64_t start_ns;     /* model time the packet started */
	uint64_t launch_ready; /* model time its first workgroup may start */
	uint64_t dur_ns;       /* per workgroup */
	uint32_t wg_unstarted;
	uint32_t running;      /* workgroups on CUs now */
	struct wg_saved *saved;
	unsigned n_saved, cap_saved;
};

struct dring {
	int queue;             /* dev.queues index bound to it, or NO_QUEUE */
	struct dispatch *cur;
	uint64_t next;         /* next packet index to consume */
	uint64_t idle_since;   /* model time the ring became free to start a packet */
	uint64_t seen_index;   /* submit_ns == 0 fallback: wall time a packet was first seen */
	uint64_t seen_wall;
};

/* A KFD queue; its index in dev.queues is its slot in the shm mirror. */
struct kqueue {
	bool used;
	struct proc *proc;
	uint32_t queue_id;
	uint32_t doorbell_id;
	uint32_t type;         /* ioctl queue_type */
	uint32_t priority;
	uint32_t percentage;
	uint64_t ring_base, wptr, rptr, eop, ctx_save;
	uint32_t ctx_save_size;
	uint32_t ring_size;
	uint32_t ring_slot;    /* UINT32_MAX: no emulator ring */
	uint64_t exception_status;
	bool suspended;
	bool destroying;
	bool mapped;           /* in the runlist now */
	uint32_t cu_limit;     /* popcount of the CU mask, capped to num_cus */
	uint64_t create_seq;
	uint64_t suspend_count, resume_count;
	struct pending_reply destroy_reply;
};

/* A running batch of workgroups of one dispatch. */
struct batch {
	uint32_t ring;
	uint32_t count;
	uint64_t end_ns;
	bool grace;            /* finishing inside a transition's grace window */
};

/* One HWS runlist unmap/remap (execute_queues_cpsch). Serialised device-wide. */
struct transition {
	uint64_t request_ns;   /* model time of the request */
	uint64_t grace_ns;
	const char *why;
	struct pending_reply *replies;
	unsigned n_replies;
	struct transition *next;
};

struct device {
	char dir[4096];
	struct xsb_emu_profile prof;
	uint64_t start_wall;
	/* fds */
	int epfd, listen_fd, doorbell_fd, timer_fd, signal_fd, memfd;
	struct src listen_src, doorbell_src, timer_src, signal_src;
	/* shared memory */
	uint8_t *shm_base;
	size_t shm_size;
	struct xsb_emu_shm *shm;
	struct xsb_emu_ring *rings;
	struct xsb_emu_signal *signals;
	struct xsb_emu_kfd_queue *kq_mirror;
	uint32_t *sig_owner;   /* device copy of ownership, 0 = free */
	/* state */
	struct conn *conns[DEV_MAX_CONNS];
	uint16_t conn_gen[DEV_MAX_CONNS];
	unsigned n_conns;
	struct proc procs[XSB_EMU_MAX_PROCS];
	struct kqueue queues[XSB_EMU_MAX_KFD_QUEUES];
	uint64_t queue_seq;
	struct dring drings[XSB_EMU_MAX_RINGS];
	/* model */
	uint64_t model_now;
	uint32_t busy_cus;
	uint64_t busy_since;
	struct batch *batches;
	unsigned n_batches, cap_batches;
	unsigned rr[3];
	struct transition *tr_active, *tr_head, *tr_tail;
	uint64_t tr_end_ns;
	uint64_t armed_ns;     /* timer armed for this model time, 0 = disarmed */
	/* lifecycle */
	bool quit;
	unsigned idle_exit_s;
	uint64_t idle_since_wall;
	uint64_t next_rand;
};

extern struct device dev;

/* shm.c */
int shm_create(void);
void shm_stats_begin(void);
void shm_stats_end(void);
void shm_mirror_queue(int qi);
void shm_record_lateness(uint64_t late_ns);

/* conn.c */
int conn_accept(void);
void conn_readable(struct conn *c);
void conn_hangup(struct conn *c);
void conn_reap(void);
struct conn *conn_by_id(uint64_t id);
void reply_send(struct pending_reply *r, int64_t ret_override, bool use_override);
void reply_drop(struct pending_reply *r);
int reply_build(struct pending_reply *r, const struct conn *c, const struct xsb_emu_msg *req,
		int64_t ret, const void *arg, uint32_t arg_len, const void *extra, uint32_t extra_len);
struct proc *proc_get(pid_t pid);
void proc_exited(struct proc *p);
void procs_reap(void);

/* kfd.c */
void kfd_ioctl(struct conn *c, const struct xsb_emu_msg *m, const uint8_t *arg, const uint8_t *extra);
void kfd_process_teardown(struct proc *p);
void kfd_destroy_queue_now(int qi);
bool kfd_queue_active(const struct kqueue *q);
bool kfd_queue_runnable(const struct kqueue *q);

/* model.c */
void model_run(void);                  /* advance to the wall clock, arm the timer */
void model_queue_mapping_changed(void);/* create/destroy outside a transition */
void model_ring_unbind(uint32_t slot); /* drop the ring's work (destroy / exit) */
void model_request_transition(const char *why, uint64_t grace_ns, struct pending_reply *r);
bool model_in_transition(void);
bool model_attach_reply(struct pending_reply *r); /* to the last queued/active transition */
uint64_t model_grace_ns(uint32_t grace_period);
void model_stats_json(void *cjson_obj);

/* sysfs.c */
int sysfs_create(void);
void sysfs_proc_add(struct proc *p);
void sysfs_proc_remove(pid_t pid);
void sysfs_queue_add(const struct kqueue *q);
void sysfs_queue_remove(const struct kqueue *q);
void sysfs_remove_all_procs(void);

/* status.c */
char *status_json(size_t *len);

/* main.c */
uint64_t wall_ns(void);
uint64_t dev_rand(void);

#endif
