/*
 * xsb_kfd_parse.h - parsers for captures: debugfs kfd/mqds, kfd/hqds and AMD_LOG_LEVEL logs.
 *
 * Pure functions over (buf, len): no allocation, no I/O, no global state (libFuzzer targets).
 * Each fills up to cap records and returns the total number found (which may exceed cap: call
 * again with a larger array), or -EBADMSG with *err naming the line (1-based) and the defect.
 * Unknown lines are skipped; ANSI escape sequences are ignored. xsb_parse_amdlog returns
 * -ENOSPC when the log holds more hardware queues than qcap (call again with more room).
 */
#ifndef XSB_KFD_PARSE_H
#define XSB_KFD_PARSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xsb_parse_error {
	uint32_t line; /* 1-based, 0 when not tied to a line */
	int32_t err;   /* positive errno (EBADMSG) */
	char msg[200];
};

/* ---- mqds ----
 * One MQD per XCC: a struct v9_mqd dump of 0x800 bytes. Dword offsets (struct v9_mqd,
 * linux drivers/gpu/drm/amd/include/v9_structs.h): cp_hqd_active 130, cp_hqd_vmid 131,
 * cp_hqd_pipe_priority 133, cp_hqd_queue_priority 134, cp_hqd_quantum 135,
 * cp_hqd_pq_base_lo 136, cp_hqd_pq_base_hi 137 (base = ring address >> 8, set in
 * kfd_mqd_manager_v9.c update_mqd). */
#define XSB_V9_MQD_BYTES 0x800u
#define XSB_V9_MQD_DW_CP_MQD_BASE_ADDR_LO 128u
#define XSB_V9_MQD_DW_CP_HQD_ACTIVE 130u
#define XSB_V9_MQD_DW_CP_HQD_VMID 131u
#define XSB_V9_MQD_DW_CP_HQD_PIPE_PRIORITY 133u
#define XSB_V9_MQD_DW_CP_HQD_QUEUE_PRIORITY 134u
#define XSB_V9_MQD_DW_CP_HQD_PQ_BASE_LO 136u
#define XSB_V9_MQD_DW_CP_HQD_PQ_BASE_HI 137u
#define XSB_MQD_MAX_XCC 16u

struct xsb_mqd_xcc {
	uint64_t ring_base;      /* (pq_base_hi:pq_base_lo) << 8 */
	uint32_t active;         /* cp_hqd_active as saved in the MQD */
	uint32_t vmid;
	uint32_t pipe_priority;  /* 0 low, 1 medium, 2 high */
	uint32_t queue_priority; /* 0..15 */
	uint32_t line;           /* line of the block's first dump line */
	uint32_t pad;
};

#define XSB_MQD_QUEUE_COMPUTE 0u
#define XSB_MQD_QUEUE_SDMA    1u
struct xsb_mqd_queue {
	uint32_t pid;            /* from "Process <pid> PASID <n>:" */
	uint32_t pasid;
	uint32_t gpu_id;         /* "Compute queue on device <hex>" */
	uint32_t kind;           /* XSB_MQD_QUEUE_* */
	uint32_t line;           /* line of the queue header */
	uint32_t n_xcc;          /* complete 0x800-byte blocks (compute) */
	uint64_t ring_base;      /* XCC 0's */
	uint32_t pipe_priority;  /* XCC 0's */
	uint32_t queue_priority; /* XCC 0's */
	struct xsb_mqd_xcc xcc[XSB_MQD_MAX_XCC];
};
int xsb_parse_mqds(const char *buf, size_t len, struct xsb_mqd_queue *out, uint32_t cap,
                   struct xsb_parse_error *err);

/* ---- hqds ----
 * Per "Node N, gpu_id X:", per XCC "Inst i": a HIQ, CP slots ("CP Pipe p, Queue q") of 56
 * registers each, then SDMA entries. The CP/HIQ registers are CP_MQD_BASE_ADDR .. CP_HQD_PQ_WPTR_HI,
 * i.e. v9_mqd dwords 128..183 (amdgpu_amdkfd_gfx_v9.c kgd_gfx_v9_hqd_dump): register 2 is
 * CP_HQD_ACTIVE (bit 0 = live), 5/6 pipe/queue priority, 8/9 PQ base. */
#define XSB_HQD_CP_REGS 56u
#define XSB_HQD_KIND_HIQ  0u
#define XSB_HQD_KIND_CP   1u
#define XSB_HQD_KIND_SDMA 2u
struct xsb_hqd_slot {
	uint32_t node;
	uint32_t gpu_id;
	uint32_t kind;           /* XSB_HQD_KIND_* */
	uint32_t inst;           /* XCC instance (HIQ/CP) */
	uint32_t mec, pipe, queue;   /* HIQ/CP (mec only for HIQ) */
	uint32_t engine, rlc;    /* SDMA */
	uint32_t n_regs;
	uint32_t active;         /* CP/HIQ: register 2 bit 0 */
	uint32_t vmid;
	uint32_t pipe_priority;
	uint32_t queue_priority;
	uint64_t ring_base;      /* CP/HIQ: (reg9:reg8) << 8 */
	uint32_t line;           /* line of the slot header */
	uint32_t pad;
};
int xsb_parse_hqds(const char *buf, size_t len, struct xsb_hqd_slot *out, uint32_t cap,
                   struct xsb_parse_error *err);

/* ---- AMD_LOG_LEVEL logs (HIP/ROCclr) ----
 * Events joined by the hardware queue's ring base (HWq=, equal to KFD ring_base_address):
 *   "Created SWq=<p> to map on HWq=<ring> with size <packets> with priority <0|1|2>"
 *   "acquireQueue refCount: <ring> (<n>)", "Selected queue refCount: <ring> (<n>)"
 *   "releaseQueue refCount:<ring> (<n>)", "Deleting hardware queue <ring> with refCount <n>"
 * A queue event between "hipStreamCreate*(" and its "Returned ... stream:<h>" belongs to stream
 * <h>; a release inside "hipStreamDestroy ( stream:<h> )" too (per thread when tids are logged). */
#define XSB_LOG_EV_CREATED  1u
#define XSB_LOG_EV_ACQUIRE  2u
#define XSB_LOG_EV_SELECTED 3u
#define XSB_LOG_EV_RELEASE  4u
#define XSB_LOG_EV_DELETE   5u
struct xsb_log_event {
	uint32_t line;
	uint32_t kind;       /* XSB_LOG_EV_* */
	uint64_t hwq;
	uint64_t swq;        /* CREATED */
	uint64_t stream;     /* 0 when not attributable */
	int32_t refcount;    /* -1 when not logged */
	int32_t priority;    /* CREATED: 0 low, 1 normal, 2 high; else -1 */
	uint32_t size;       /* CREATED: ring size in packets */
	uint32_t pad;
};

#define XSB_LOG_MAX_STREAMS 64u
struct xsb_log_queue {
	uint64_t hwq;            /* ring base */
	uint64_t swq;            /* ROCr hsa_queue_t* (0 when the creation is not in the log) */
	uint32_t size;           /* packets, 0 when unknown */
	int32_t priority;        /* 0 low, 1 normal, 2 high; -1 unknown */
	uint32_t created_line, deleted_line;  /* 0 when absent */
	uint32_t acquires, selects, releases;
	int32_t max_refcount;    /* -1 when none logged */
	int32_t last_refcount;
	uint32_t n_streams;      /* distinct streams attributed (stored up to XSB_LOG_MAX_STREAMS) */
	uint32_t pad;
	uint64_t streams[XSB_LOG_MAX_STREAMS];
};

/* Queues in order of first appearance. events/ecap may be NULL/0; *n_events (may be NULL)
 * receives the total number of events. */
int xsb_parse_amdlog(const char *buf, size_t len, struct xsb_log_queue *queues, uint32_t qcap,
                     struct xsb_log_event *events, uint32_t ecap, uint32_t *n_events,
                     struct xsb_parse_error *err);

#ifdef __cplusplus
}
#endif
#endif /* XSB_KFD_PARSE_H */
