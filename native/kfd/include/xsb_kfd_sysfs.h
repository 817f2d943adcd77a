/*
 * xsb_kfd_sysfs.h - KFD topology, per-process queues and amdgpu module parameters from sysfs.
 *
 * root: the directory that stands for the sysfs mount "/sys" (tests and the emulator use their
 * own tree: the emulator's is $XSB_EMU_DIR/sysfs, exported as XSB_SYSFS_ROOT). NULL or "" means
 * $XSB_SYSFS_ROOT when set, else "/sys". Paths below are relative to it (class/kfd/kfd/...,
 * module/amdgpu/parameters/...). Errors name the path and errno; a value that could not be
 * read is never guessed (see the missing masks and per-field errnos).
 */
#ifndef XSB_KFD_SYSFS_H
#define XSB_KFD_SYSFS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xsb_sysfs_error {
	int32_t err;      /* positive errno, 0 when none */
	char path[512];   /* the file or directory concerned */
	char msg[256];    /* one line, names the path and what to do */
};

/* Bits of xsb_topo_node.missing: properties absent from the node's properties file. */
#define XSB_TOPO_MISSING_GFX_TARGET_VERSION (1u << 0)
#define XSB_TOPO_MISSING_SIMD_COUNT         (1u << 1)
#define XSB_TOPO_MISSING_SIMD_PER_CU        (1u << 2)
#define XSB_TOPO_MISSING_CAPABILITY         (1u << 3)
#define XSB_TOPO_MISSING_NUM_CP_QUEUES      (1u << 4)
#define XSB_TOPO_MISSING_FW_VERSION         (1u << 5)
#define XSB_TOPO_MISSING_DRM_RENDER_MINOR   (1u << 6)
#define XSB_TOPO_MISSING_NAME               (1u << 7)

struct xsb_topo_node {
	uint32_t node;               /* N of topology/nodes/N */
	uint32_t gpu_id;             /* 0 for CPU nodes */
	char name[64];               /* the node's name file (e.g. "gfx942", "" for CPUs) */
	char gfx_name[16];           /* from gfx_target_version: 90402 -> "gfx942" */
	uint32_t gfx_target_version;
	uint32_t simd_count;
	uint32_t simd_per_cu;
	uint32_t cu_count;           /* simd_count / simd_per_cu, 0 when unknown */
	uint32_t capability;
	uint32_t fw_debug;           /* capability & XSB_KFD_CAP_TRAP_DEBUG_FIRMWARE_SUPPORTED */
	uint32_t num_cp_queues;
	uint32_t fw_version;
	int32_t drm_render_minor;    /* -1 when missing */
	uint32_t missing;            /* XSB_TOPO_MISSING_* */
};

/* Fills up to cap nodes in node order; returns the number of nodes (may exceed cap). */
int xsb_sysfs_topology(const char *root, struct xsb_topo_node *nodes, uint32_t cap,
                       struct xsb_sysfs_error *err);

/* gfx_target_version (decimal major*10000 + minor*100 + stepping) -> "gfx942", "gfx90a". */
int xsb_gfx_name(uint32_t gfx_target_version, char *buf, size_t len);

struct xsb_proc_queue {
	uint32_t queue_id;
	uint32_t type;     /* kernel enum kfd_queue_type: 0 compute, 1 SDMA, 2 HIQ, 3 DIQ, 4 SDMA XGMI, 5 SDMA by engine */
	uint32_t gpu_id;
	uint32_t pad;
	uint64_t size;     /* ring size in bytes */
};

/* <root>/class/kfd/kfd/proc/<pid>/queues/<id>/{size,type,gpuid}, sorted by queue id. Returns the
 * count (may exceed cap). -ENOENT (with the path) when the process has no KFD entry. */
int xsb_sysfs_proc_queues(const char *root, uint32_t pid, struct xsb_proc_queue *out, uint32_t cap,
                          struct xsb_sysfs_error *err);

/* <root>/module/amdgpu/parameters/{sched_policy,cwsr_enable,queue_preemption_timeout_ms,mes}.
 * Each value is -1 with its errno set when the file could not be read (e.g. ENOENT when the
 * amdgpu module is not loaded or the kernel predates the parameter). */
struct xsb_amdgpu_params {
	int32_t sched_policy;
	int32_t cwsr_enable;
	int32_t queue_preemption_timeout_ms;
	int32_t mes;
	int32_t sched_policy_errno;
	int32_t cwsr_enable_errno;
	int32_t queue_preemption_timeout_ms_errno;
	int32_t mes_errno;
};
int xsb_sysfs_amdgpu_params(const char *root, struct xsb_amdgpu_params *out);

/* Resolves root as the readers do (NULL -> $XSB_SYSFS_ROOT -> "/sys"). */
const char *xsb_sysfs_root(const char *root);

#ifdef __cplusplus
}
#endif
#endif /* XSB_KFD_SYSFS_H */
