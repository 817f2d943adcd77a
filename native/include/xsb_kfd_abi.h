/*
 * xsb_kfd_abi.h - the project's own definitions of the KFD ioctl ABI.
 *
 * One copy for the whole tree (libxsbkfd, the shim, the emulator). Written from
 * shared/KFD-FACTS.md, i.e. from Linux 6.12 include/uapi/linux/kfd_ioctl.h (KFD ABI
 * 1.17); checked field by field against the real header by the ABI test. We cannot
 * include <linux/kfd_ioctl.h>: Debian bookworm ships ABI 1.11 without the debug API.
 *
 * Names carry an XSB_ prefix so this header can coexist with the system one.
 */
#ifndef XSB_KFD_ABI_H
#define XSB_KFD_ABI_H

#include <stdint.h>
#include <linux/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XSB_KFD_IOCTL_BASE 'K'
#define XSB_KFD_ABI_MAJOR 1
#define XSB_KFD_ABI_MINOR 17
/* The debugger API (RUNTIME_ENABLE, DBG_TRAP) arrived in ABI 1.13 (Linux 6.5). */
#define XSB_KFD_DEBUG_MIN_MINOR 13

/* ioctl numbers (_IOC_NR). The kernel dispatches on the number alone and copies
 * _IOC_SIZE(cmd) bytes, so interposers must match type 'K' + nr, never the full value. */
#define XSB_KFD_NR_GET_VERSION     0x01
#define XSB_KFD_NR_CREATE_QUEUE    0x02
#define XSB_KFD_NR_DESTROY_QUEUE   0x03
#define XSB_KFD_NR_UPDATE_QUEUE    0x07
#define XSB_KFD_NR_SET_CU_MASK     0x1A
#define XSB_KFD_NR_RUNTIME_ENABLE  0x25
#define XSB_KFD_NR_DBG_TRAP        0x26

struct xsb_kfd_get_version_args {
	uint32_t major_version;
	uint32_t minor_version;
};

#define XSB_KFD_QUEUE_TYPE_COMPUTE        0
#define XSB_KFD_QUEUE_TYPE_SDMA           1
#define XSB_KFD_QUEUE_TYPE_COMPUTE_AQL    2
#define XSB_KFD_QUEUE_TYPE_SDMA_XGMI      3
#define XSB_KFD_QUEUE_TYPE_SDMA_BY_ENG_ID 4

#define XSB_KFD_MAX_QUEUE_PERCENTAGE 100
#define XSB_KFD_MAX_QUEUE_PRIORITY   15
#define XSB_KFD_MIN_QUEUE_RING_SIZE  1024

/* 96 bytes since ABI 1.17 (sdma_engine_id); older libhsakmt passes 88. */
struct xsb_kfd_create_queue_args {
	uint64_t ring_base_address;        /* @0  in */
	uint64_t write_pointer_address;    /* @8  in */
	uint64_t read_pointer_address;     /* @16 in */
	uint64_t doorbell_offset;          /* @24 out */
	uint32_t ring_size;                /* @32 in */
	uint32_t gpu_id;                   /* @36 in */
	uint32_t queue_type;               /* @40 in */
	uint32_t queue_percentage;         /* @44 in */
	uint32_t queue_priority;           /* @48 in, 0..15 */
	uint32_t queue_id;                 /* @52 out */
	uint64_t eop_buffer_address;       /* @56 */
	uint64_t eop_buffer_size;          /* @64 */
	uint64_t ctx_save_restore_address; /* @72 */
	uint32_t ctx_save_restore_size;    /* @80 */
	uint32_t ctl_stack_size;           /* @84 */
	uint32_t sdma_engine_id;           /* @88 (ABI >= 1.17) */
	uint32_t pad;                      /* @92 */
};
#define XSB_KFD_CREATE_QUEUE_SIZE_OLD 88u
#define XSB_KFD_CREATE_QUEUE_SIZE     96u

struct xsb_kfd_destroy_queue_args {
	uint32_t queue_id;
	uint32_t pad;
};

/* The kernel overwrites address, size, percentage and priority from these fields:
 * always pass the queue's original ring base and size. */
struct xsb_kfd_update_queue_args {
	uint64_t ring_base_address; /* @0 */
	uint32_t queue_id;          /* @8 */
	uint32_t ring_size;         /* @12 */
	uint32_t queue_percentage;  /* @16 */
	uint32_t queue_priority;    /* @20 */
};

struct xsb_kfd_set_cu_mask_args {
	uint32_t queue_id;    /* @0 */
	uint32_t num_cu_mask; /* @4, number of bits; multiple of 32 */
	uint64_t cu_mask_ptr; /* @8, uint32_t[num_cu_mask / 32] */
};

/* RUNTIME_ENABLE */
#define XSB_KFD_RUNTIME_ENABLE_MODE_ENABLE_MASK 1u
#define XSB_KFD_RUNTIME_ENABLE_MODE_TTMP_SAVE_MASK 2u
struct xsb_kfd_runtime_enable_args {
	uint64_t r_debug;           /* @0 */
	uint32_t mode_mask;         /* @8 */
	uint32_t capabilities_mask; /* @12 */
};

/* kfd_runtime_info.runtime_state */
#define XSB_KFD_RUNTIME_STATE_DISABLED        0
#define XSB_KFD_RUNTIME_STATE_ENABLED         1
#define XSB_KFD_RUNTIME_STATE_ENABLED_BUSY    2
#define XSB_KFD_RUNTIME_STATE_ENABLED_ERROR   3
struct xsb_kfd_runtime_info {
	uint64_t r_debug;       /* @0 */
	uint32_t runtime_state; /* @8 */
	uint32_t ttmp_setup;    /* @12 */
};

/* DBG_TRAP ops */
#define XSB_KFD_DBG_TRAP_ENABLE                   0
#define XSB_KFD_DBG_TRAP_DISABLE                  1
#define XSB_KFD_DBG_TRAP_SEND_RUNTIME_EVENT       2
#define XSB_KFD_DBG_TRAP_SET_EXCEPTIONS_ENABLED   3
#define XSB_KFD_DBG_TRAP_SET_WAVE_LAUNCH_OVERRIDE 4
#define XSB_KFD_DBG_TRAP_SET_WAVE_LAUNCH_MODE     5
#define XSB_KFD_DBG_TRAP_SUSPEND_QUEUES           6
#define XSB_KFD_DBG_TRAP_RESUME_QUEUES            7
#define XSB_KFD_DBG_TRAP_SET_NODE_ADDRESS_WATCH   8
#define XSB_KFD_DBG_TRAP_CLEAR_NODE_ADDRESS_WATCH 9
#define XSB_KFD_DBG_TRAP_SET_FLAGS                10
#define XSB_KFD_DBG_TRAP_QUERY_DEBUG_EVENT        11
#define XSB_KFD_DBG_TRAP_QUERY_EXCEPTION_INFO     12
#define XSB_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT       13
#define XSB_KFD_DBG_TRAP_GET_DEVICE_SNAPSHOT      14

struct xsb_kfd_dbg_trap_enable_args {
	uint64_t exception_mask; /* @0 */
	uint64_t rinfo_ptr;      /* @8  -> struct xsb_kfd_runtime_info */
	uint32_t rinfo_size;     /* @16 in/out */
	uint32_t dbg_fd;         /* @20 */
};
struct xsb_kfd_dbg_trap_send_runtime_event_args {
	uint64_t exception_mask; /* @0 */
	uint32_t gpu_id;         /* @8 */
	uint32_t queue_id;       /* @12 */
};
struct xsb_kfd_dbg_trap_suspend_queues_args {
	uint64_t exception_mask;  /* @0 exceptions to clear */
	uint64_t queue_array_ptr; /* @8 uint32_t[num_queues], status bits written back */
	uint32_t num_queues;      /* @16 */
	uint32_t grace_period;    /* @20 */
};
struct xsb_kfd_dbg_trap_resume_queues_args {
	uint64_t queue_array_ptr; /* @0 */
	uint32_t num_queues;      /* @8 */
	uint32_t pad;             /* @12 */
};
struct xsb_kfd_dbg_trap_queue_snapshot_args {
	uint64_t exception_mask;   /* @0 exceptions to clear */
	uint64_t snapshot_buf_ptr; /* @8 */
	uint32_t num_queues;       /* @16 in: capacity, out: total */
	uint32_t entry_size;       /* @20 in/out */
};
struct xsb_kfd_dbg_trap_args {
	uint32_t pid; /* @0 */
	uint32_t op;  /* @4 */
	union {       /* @8, 24 bytes */
		struct xsb_kfd_dbg_trap_enable_args enable;
		struct xsb_kfd_dbg_trap_send_runtime_event_args send_runtime_event;
		struct xsb_kfd_dbg_trap_suspend_queues_args suspend_queues;
		struct xsb_kfd_dbg_trap_resume_queues_args resume_queues;
		struct xsb_kfd_dbg_trap_queue_snapshot_args queue_snapshot;
		uint8_t raw[24];
	};
};

struct xsb_kfd_queue_snapshot_entry {
	uint64_t exception_status;           /* @0 */
	uint64_t ring_base_address;          /* @8 */
	uint64_t write_pointer_address;      /* @16 */
	uint64_t read_pointer_address;       /* @24 */
	uint64_t ctx_save_restore_address;   /* @32 */
	uint32_t queue_id;                   /* @40 */
	uint32_t gpu_id;                     /* @44 */
	uint32_t ring_size;                  /* @48 */
	uint32_t queue_type;                 /* @52 */
	uint32_t ctx_save_restore_area_size; /* @56 */
	uint32_t reserved;                   /* @60 */
};

/* Per-queue status bits written back into the id array by SUSPEND/RESUME. */
#define XSB_KFD_DBG_QUEUE_ERROR_MASK   0x40000000u /* bit 30: hardware/scheduler failure */
#define XSB_KFD_DBG_QUEUE_INVALID_MASK 0x80000000u /* bit 31: no such queue, new, or dying */

/* Exception codes; masks are 1ull << (code - 1). */
#define XSB_KFD_EC_QUEUE_NEW       31
#define XSB_KFD_EC_PROCESS_RUNTIME 48
#define XSB_KFD_EC_MASK(ec) (1ull << ((ec) - 1))
#define XSB_KFD_EC_MASK_QUEUE_NEW       XSB_KFD_EC_MASK(XSB_KFD_EC_QUEUE_NEW)       /* 0x40000000 */
#define XSB_KFD_EC_MASK_PROCESS_RUNTIME XSB_KFD_EC_MASK(XSB_KFD_EC_PROCESS_RUNTIME) /* 0x800000000000 */

/* Topology capability bit: firmware supports the debugger (ROCr >= 5.7 runtime-enables
 * only when every GPU node has it). */
#define XSB_KFD_CAP_TRAP_DEBUG_FIRMWARE_SUPPORTED 0x20000000u

/* Full ioctl values, for callers that issue them (never for matching). */
#define XSB_KFD_IOC_GET_VERSION    _IOR(XSB_KFD_IOCTL_BASE, XSB_KFD_NR_GET_VERSION, struct xsb_kfd_get_version_args)
#define XSB_KFD_IOC_CREATE_QUEUE   _IOWR(XSB_KFD_IOCTL_BASE, XSB_KFD_NR_CREATE_QUEUE, struct xsb_kfd_create_queue_args)
#define XSB_KFD_IOC_DESTROY_QUEUE  _IOWR(XSB_KFD_IOCTL_BASE, XSB_KFD_NR_DESTROY_QUEUE, struct xsb_kfd_destroy_queue_args)
#define XSB_KFD_IOC_UPDATE_QUEUE   _IOW(XSB_KFD_IOCTL_BASE, XSB_KFD_NR_UPDATE_QUEUE, struct xsb_kfd_update_queue_args)
#define XSB_KFD_IOC_SET_CU_MASK    _IOW(XSB_KFD_IOCTL_BASE, XSB_KFD_NR_SET_CU_MASK, struct xsb_kfd_set_cu_mask_args)
#define XSB_KFD_IOC_RUNTIME_ENABLE _IOWR(XSB_KFD_IOCTL_BASE, XSB_KFD_NR_RUNTIME_ENABLE, struct xsb_kfd_runtime_enable_args)
#define XSB_KFD_IOC_DBG_TRAP       _IOWR(XSB_KFD_IOCTL_BASE, XSB_KFD_NR_DBG_TRAP, struct xsb_kfd_dbg_trap_args)

/* True when cmd is a KFD ioctl with number nr, whatever its size field says. */
#define XSB_KFD_IS(cmd, nr) (_IOC_TYPE(cmd) == XSB_KFD_IOCTL_BASE && _IOC_NR(cmd) == (nr))

/* doorbell_offset returned by CREATE_QUEUE is an mmap offset on the kfd fd. */
#define XSB_KFD_MMAP_TYPE_DOORBELL (0x3ull << 62)
#define XSB_KFD_MMAP_GPU_ID(gpu_id) (((uint64_t)(gpu_id) & 0xffffull) << 46)

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
#define XSB_STATIC_ASSERT static_assert
#else
#define XSB_STATIC_ASSERT _Static_assert
#endif
XSB_STATIC_ASSERT(sizeof(struct xsb_kfd_create_queue_args) == 96, "create_queue_args");
XSB_STATIC_ASSERT(sizeof(struct xsb_kfd_update_queue_args) == 24, "update_queue_args");
XSB_STATIC_ASSERT(sizeof(struct xsb_kfd_set_cu_mask_args) == 16, "set_cu_mask_args");
XSB_STATIC_ASSERT(sizeof(struct xsb_kfd_runtime_enable_args) == 16, "runtime_enable_args");
XSB_STATIC_ASSERT(sizeof(struct xsb_kfd_dbg_trap_args) == 32, "dbg_trap_args");
XSB_STATIC_ASSERT(sizeof(struct xsb_kfd_queue_snapshot_entry) == 64, "queue_snapshot_entry");
XSB_STATIC_ASSERT(sizeof(struct xsb_kfd_runtime_info) == 16, "runtime_info");

#endif /* XSB_KFD_ABI_H */
