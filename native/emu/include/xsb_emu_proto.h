/*
 * xsb_emu_proto.h - the emulated AMD GPU: device <-> client wire protocol and the
 * shared-memory layout of the device.
 *
 * Processes involved:
 *   xsb-emu-device      owns the device state: a memfd mapped by every client, a
 *                       SOCK_SEQPACKET socket $XSB_EMU_DIR/device.sock, and the sysfs-shaped
 *                       tree $XSB_EMU_DIR/sysfs (XSB_SYSFS_ROOT).
 *   libxsb_emu_client   one per client process: connects, maps the memfd, does RPCs.
 *   libxsb_emu_kfd.so   LD_PRELOAD interposer: open("/dev/kfd") and ioctl() on it become RPCs.
 *   libamdhip64.so      the emulated HIP runtime: writes AQL-shaped packets into rings that
 *                       live in the device memfd, rings doorbells (an eventfd), waits on
 *                       completion signals (futex words in the memfd).
 *
 * Everything in the memfd is written by exactly one side, as marked (host / device).
 * All multi-process words are accessed with atomics (C11 / std::atomic with the same layout).
 */
#ifndef XSB_EMU_PROTO_H
#define XSB_EMU_PROTO_H

#include <stdint.h>

#ifdef __cplusplus
#include <atomic>
#define XSB_ATOMIC(T) std::atomic<T>
extern "C" {
#else
#include <stdatomic.h>
#define XSB_ATOMIC(T) _Atomic T
#endif

#define XSB_EMU_PROTO_VERSION 1u
#define XSB_EMU_SHM_MAGIC     0x31454258u /* "XBE1" */
#define XSB_EMU_MSG_MAGIC     0x4d454258u /* "XBEM" */

#define XSB_EMU_MAX_RINGS     256u    /* hardware queue slots of the device */
#define XSB_EMU_RING_PACKETS  1024u   /* power of two; ring_size = 64 KiB */
#define XSB_EMU_KERNARG_BYTES 64u     /* per packet slot, copied by the host */
#define XSB_EMU_MAX_SIGNALS   32768u
#define XSB_EMU_MAX_KFD_QUEUES 1024u  /* KFD queue ids are per-process slots 0..1023 */
#define XSB_EMU_QUEUE_MIRROR  1024u   /* entries of the device-wide kfd_queues table (all processes) */
#define XSB_EMU_MAX_PROCS     128u

/* ---- AQL-shaped packets (64 bytes, same layout as hsa_kernel_dispatch_packet_t) ---- */
#define XSB_AQL_TYPE_MASK        0xffu
#define XSB_AQL_TYPE_VENDOR      0u
#define XSB_AQL_TYPE_INVALID     1u
#define XSB_AQL_TYPE_KERNEL_DISPATCH 2u
#define XSB_AQL_TYPE_BARRIER_AND 3u
#define XSB_AQL_HEADER_BARRIER   (1u << 8)

/* kernel_object values understood by the emulated device */
#define XSB_EMU_KOBJ_SPIN    1u /* duration (ns) = first u64 kernarg; the project's spin kernel */
#define XSB_EMU_KOBJ_DEFAULT 2u /* any other kernel: profile.default_kernel_ns */
#define XSB_EMU_KOBJ_COPY    3u /* blit (copy/set): duration (ns) = first u64 kernarg */

struct xsb_emu_packet {
	XSB_ATOMIC(uint16_t) header; /* written last by the host (release), INVALID after consumption */
	uint16_t setup;
	uint16_t workgroup_size_x, workgroup_size_y, workgroup_size_z;
	uint16_t reserved0;
	uint32_t grid_size_x, grid_size_y, grid_size_z; /* work-items; workgroups = ceil(grid/wg) each dim */
	uint32_t private_segment_size;
	uint32_t group_segment_size;
	uint64_t kernel_object;     /* XSB_EMU_KOBJ_* */
	uint64_t kernarg_address;   /* host pointer (informational); device reads ring->kernarg[slot] */
	uint64_t submit_ns;         /* (AQL reserved2) CLOCK_MONOTONIC when the host rang the doorbell */
	uint64_t completion_signal; /* signal index + 1; 0 = none */
};

/* ---- rings (one per hardware queue slot) ---- */
#define XSB_EMU_RING_FREE      0u /* unallocated */
#define XSB_EMU_RING_ALLOCATED 1u /* owned by a process, no KFD queue bound yet */
#define XSB_EMU_RING_BOUND     2u /* a KFD queue uses it */

struct xsb_emu_ring {
	XSB_ATOMIC(uint64_t) write_index; /* host: next free packet slot (monotonic) */
	XSB_ATOMIC(uint64_t) read_index;  /* device: packets consumed (monotonic) */
	XSB_ATOMIC(uint64_t) doorbell;    /* host: last index made ready (monotonic) */
	XSB_ATOMIC(uint32_t) read_futex;  /* device: bumped + FUTEX_WAKE when read_index advances */
	uint32_t alloc_state;             /* device: XSB_EMU_RING_* */
	uint32_t owner_pid;               /* device */
	uint32_t queue_id;                /* device: bound KFD queue id or UINT32_MAX */
	uint64_t dispatched;              /* device: packets started */
	uint64_t completed;               /* device: packets completed */
	uint8_t pad0[8];
	struct xsb_emu_packet packets[XSB_EMU_RING_PACKETS];
	uint8_t kernarg[XSB_EMU_RING_PACKETS][XSB_EMU_KERNARG_BYTES];
};

/* ---- completion signals (hsa_signal_t-like). value is decremented by 1 on completion of
 * the packet that names it; waiters sleep on futex (FUTEX_WAIT, not PRIVATE). ---- */
struct xsb_emu_signal {
	XSB_ATOMIC(int64_t) value;   /* host sets, device decrements */
	XSB_ATOMIC(uint32_t) futex;  /* device: incremented + FUTEX_WAKE(all) after value changes */
	uint32_t owner_pid;          /* device */
	uint64_t start_ns;           /* device: model time the packet started (profiling) */
	uint64_t end_ns;             /* device: model time the packet completed (profiling) */
};

/* ---- KFD queue mirror (device-written; readers use the header's seqlock) ---- */
#define XSB_EMU_KQ_USED         (1u << 0)
#define XSB_EMU_KQ_SUSPENDED    (1u << 1) /* DBG_TRAP SUSPEND_QUEUES */
#define XSB_EMU_KQ_DEACTIVATED  (1u << 2) /* UPDATE_QUEUE percentage 0 (or ring size 0/base 0) */
#define XSB_EMU_KQ_NEW          (1u << 3) /* EC_QUEUE_NEW pending */
#define XSB_EMU_KQ_MAPPED       (1u << 4) /* in the device runlist right now */
#define XSB_EMU_KQ_DESTROYING   (1u << 5) /* DESTROY_QUEUE waiting for resume */

struct xsb_emu_kfd_queue {
	uint32_t flags;       /* XSB_EMU_KQ_* */
	uint32_t pid;
	uint32_t queue_id;
	uint32_t gpu_id;
	uint32_t queue_type;
	uint32_t priority;    /* as the driver applied it, 0..15 */
	uint32_t percentage;
	uint32_t ring_slot;   /* UINT32_MAX when the ring is not emulator memory */
	uint64_t ring_base_address;
	uint32_t ring_size;
	uint32_t pad;
	uint64_t suspend_count, resume_count;
};

/* ---- device header at offset 0 of the memfd ---- */
struct xsb_emu_stats {
	uint64_t completions;          /* packets completed */
	uint64_t late_sum_ns;          /* sum of (wall time signalled - model completion time) */
	uint64_t late_max_ns;
	uint64_t late_hist[64];        /* log2 buckets of lateness in ns */
	uint64_t runlist_transitions;  /* unmap/remap cycles (suspend, resume, deactivate, ...) */
	uint64_t busy_ns;              /* model time with at least one CU busy */
};

struct xsb_emu_shm {
	uint32_t magic;                /* XSB_EMU_SHM_MAGIC */
	uint32_t version;              /* XSB_EMU_PROTO_VERSION */
	uint64_t size;                 /* bytes of the memfd */
	uint32_t device_pid;
	uint32_t gpu_id;
	uint32_t num_cus;
	uint32_t pad0;
	uint64_t off_rings;            /* byte offsets from the start of the mapping */
	uint64_t off_signals;
	uint64_t off_kfd_queues;       /* XSB_EMU_QUEUE_MIRROR x struct xsb_emu_kfd_queue */
	XSB_ATOMIC(uint32_t) seq;      /* seqlock for kfd_queues and stats: odd while writing */
	uint32_t pad1;
	struct xsb_emu_stats stats;
	char profile_name[64];
};

/* ---- RPC over SOCK_SEQPACKET. One request, one reply, on the same connection; every
 * message is a header, then arg_size bytes of ioctl argument, then extra_len bytes. ---- */
enum xsb_emu_op {
	XSB_EMU_OP_HELLO = 1,       /* u64[0] = XSB_EMU_CONN_*; reply carries SCM_RIGHTS {memfd, doorbell eventfd} */
	XSB_EMU_OP_IOCTL = 2,       /* nr, arg, extra as described below */
	XSB_EMU_OP_ALLOC_RING = 3,  /* reply u64[0] = ring slot */
	XSB_EMU_OP_FREE_RING = 4,   /* u64[0] = slot */
	XSB_EMU_OP_ALLOC_SIGNALS = 5, /* u64[0] = count; reply u64[0] = first index (contiguous) */
	XSB_EMU_OP_FREE_SIGNALS = 6,  /* u64[0] = first, u64[1] = count */
	XSB_EMU_OP_STATUS = 7,      /* reply extra = JSON text (not NUL-terminated) */
	XSB_EMU_OP_SHUTDOWN = 8,    /* the device exits after replying */
};

#define XSB_EMU_CONN_FILE   1u /* the connection that backs an fd returned by open("/dev/kfd") */
#define XSB_EMU_CONN_THREAD 2u /* a thread's private RPC connection (blocking ioctls block only it) */
#define XSB_EMU_CONN_ADMIN  3u /* emu status/stop, tools: not a KFD process */

/* flags of an IOCTL request */
#define XSB_EMU_F_DBG_FD_VALID (1u << 0) /* DBG_TRAP ENABLE: dbg_fd is an open fd in the caller */

struct xsb_emu_msg {
	uint32_t magic;      /* XSB_EMU_MSG_MAGIC */
	uint16_t version;    /* XSB_EMU_PROTO_VERSION */
	uint16_t op;         /* enum xsb_emu_op */
	uint32_t tid;        /* caller's gettid() (the kernel's "current" thread) */
	uint32_t flags;
	int64_t ret;         /* reply: >= 0 result, or -errno */
	uint32_t nr;         /* IOCTL: _IOC_NR(cmd) */
	uint32_t ioc_dir;    /* IOCTL: _IOC_DIR(cmd) as the user passed it */
	uint32_t arg_size;   /* IOCTL: _IOC_SIZE(cmd) bytes follow (<= XSB_EMU_MAX_ARG) */
	uint32_t extra_len;  /* bytes after the argument */
	uint64_t u64[4];     /* op-specific */
};
#define XSB_EMU_MAX_ARG   4096u
#define XSB_EMU_MAX_EXTRA (1024u * 64u + 4096u)
#define XSB_EMU_MAX_MSG   (sizeof(struct xsb_emu_msg) + XSB_EMU_MAX_ARG + XSB_EMU_MAX_EXTRA)

/*
 * IOCTL marshalling. The client copies the user's argument (arg_size = _IOC_SIZE(cmd)) and,
 * for arguments that hold user pointers, the pointed-to data (read with process_vm_readv so a
 * bad pointer yields -EFAULT as in the kernel):
 *   CREATE_QUEUE   request u64[0] = ring slot + 1 when ring_base_address is the packets array of a
 *                  ring in the device memfd as mapped by this process, else 0.
 *   SET_CU_MASK    extra = the uint32_t mask words (num_cu_mask / 32 of them).
 *   DBG_TRAP SUSPEND_QUEUES / RESUME_QUEUES
 *                  extra = the queue id array; the reply's extra is the array with status bits,
 *                  which the client writes back.
 *   DBG_TRAP ENABLE        reply extra = struct kfd_runtime_info (min(rinfo_size, 16) bytes) to write
 *                          to rinfo_ptr; flags XSB_EMU_F_DBG_FD_VALID.
 *   DBG_TRAP GET_QUEUE_SNAPSHOT reply extra = min(capacity, total) entries of entry_size bytes.
 * The reply's argument bytes are copied back to the user when the kernel's definition of the
 * ioctl has IOC_OUT. The client returns ret >= 0 from ioctl(), or sets errno = -ret and returns -1.
 */

/* ---- device profile (JSON file; every timing constant of the model) ---- */
struct xsb_emu_profile {
	char name[64];
	uint32_t num_cus;                  /* 304: MI300X-class */
	uint32_t gpu_id;
	uint32_t gpu_clock_mhz;            /* for grace_period units (~1000 clocks each) */
	uint32_t sched_policy;             /* 0 HWS (default), 2 NO_HWS (debug path refused) */
	uint32_t kfd_minor;                /* GET_VERSION minor: 17 */
	uint32_t fw_debug_capable;         /* capability bit 0x20000000 in topology */
	uint64_t launch_ns;                /* per dispatch: 5 us */
	uint64_t runlist_unmap_ns;         /* per suspend/resume/deactivate: 1 ms (assumed) */
	uint64_t runlist_remap_ns;         /* 1 ms (assumed) */
	uint64_t cwsr_bytes_full_queue;    /* 177 MiB resident state of a fully occupied queue */
	double cwsr_bytes_per_s;           /* 2.5e12 effective */
	uint64_t default_kernel_ns;        /* kernels that are not the spin kernel */
	double copy_bytes_per_s;           /* blit bandwidth for copies and sets */
};

#ifdef __cplusplus
}
#endif
#endif /* XSB_EMU_PROTO_H */
