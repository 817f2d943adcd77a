/*
 * xsb_kfd.h - libxsbkfd: the project's one door to the KFD (real /dev/kfd or the emulated one).
 *
 * Every function returns >= 0 on success and -errno on failure; nothing aborts or prints.
 * The ABI (ioctl numbers, struct layouts) is native/include/xsb_kfd_abi.h, checked against the
 * real kernel header by scripts/abi-check.
 */
#ifndef XSB_KFD_H
#define XSB_KFD_H

#include <stddef.h>
#include <stdint.h>
#include "xsb_kfd_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsb_kfd xsb_kfd_t;

/* Operations, for xsb_kfd_diagnose(). */
enum xsb_kfd_op {
	XSB_KFD_OP_OPEN = 1,
	XSB_KFD_OP_VERSION,
	XSB_KFD_OP_DBG_ENABLE,
	XSB_KFD_OP_DBG_DISABLE,
	XSB_KFD_OP_SUSPEND,
	XSB_KFD_OP_RESUME,
	XSB_KFD_OP_SNAPSHOT,
	XSB_KFD_OP_UPDATE_QUEUE,
};

/* runtime_state value meaning "the kernel did not report one" (the ioctl failed). */
#define XSB_KFD_RUNTIME_STATE_UNKNOWN 0xffffffffu

/* path NULL -> "/dev/kfd". Opened O_RDWR|O_CLOEXEC through libc open() (so an LD_PRELOAD
 * interposer sees it). The version is queried once at open. */
int xsb_kfd_open(xsb_kfd_t **k, const char *path);
void xsb_kfd_close(xsb_kfd_t *k);
int xsb_kfd_fd(const xsb_kfd_t *k);
int xsb_kfd_version(xsb_kfd_t *k, uint32_t *major, uint32_t *minor);

/* DBG_TRAP ENABLE with exception_mask 0, dbg_fd = the kfd fd itself, a 16-byte runtime info.
 * *runtime_state receives the target's runtime state (XSB_KFD_RUNTIME_STATE_UNKNOWN when the
 * ioctl failed). The kernel can accept ENABLE while runtime_state is 0, 2 or 3; every
 * suspend would then fail with EPERM. So this function treats runtime_state != 1 as an
 * error: it DISABLEs the session again (a trap left enabled would make ROCr's later
 * RUNTIME_ENABLE block) and returns -EPERM; xsb_kfd_diagnose(XSB_KFD_OP_DBG_ENABLE, EPERM,
 * runtime_state) names the cause. Needs KFD >= 1.13, else -ENOTSUP. */
int xsb_kfd_dbg_enable(xsb_kfd_t *k, uint32_t pid, uint32_t *runtime_state);
int xsb_kfd_dbg_disable(xsb_kfd_t *k, uint32_t pid);

/* Returns the ioctl's count of queues suspended; each ids[i] gets the status bits back
 * (XSB_KFD_DBG_QUEUE_INVALID_MASK / _ERROR_MASK). clear_mask: exceptions to clear. */
int xsb_kfd_suspend(xsb_kfd_t *k, uint32_t pid, uint32_t *ids, uint32_t n,
                    uint32_t grace_period, uint64_t clear_mask);
int xsb_kfd_resume(xsb_kfd_t *k, uint32_t pid, uint32_t *ids, uint32_t n);

/* GET_QUEUE_SNAPSHOT: entries (struct xsb_kfd_queue_snapshot_entry[capacity], may be NULL when
 * capacity is 0) receives min(capacity, total) entries; *total the number of queues.
 * clear_mask: exceptions to clear (XSB_KFD_EC_MASK_QUEUE_NEW before a suspend). Returns the
 * number of entries written. */
int xsb_kfd_queue_snapshot(xsb_kfd_t *k, uint32_t pid, uint64_t clear_mask, void *entries,
                           uint32_t capacity, uint32_t *total);

/* UPDATE_QUEUE: pass the queue's original ring base and size (the kernel overwrites them). */
int xsb_kfd_update_queue(xsb_kfd_t *k, uint32_t queue_id, uint64_t ring_base, uint32_t ring_size,
                         uint32_t percentage, uint32_t priority);

/* One line: cause and fix for errno err (positive or negative) of operation op. */
const char *xsb_kfd_diagnose(int op, int err, uint32_t runtime_state, char *buf, size_t len);
const char *xsb_kfd_op_name(int op);

/* Status bits written back by SUSPEND/RESUME (tested as unsigned 32-bit values). */
static inline int xsb_kfd_status_invalid(uint32_t s) { return (s & XSB_KFD_DBG_QUEUE_INVALID_MASK) != 0; }
static inline int xsb_kfd_status_error(uint32_t s) { return (s & XSB_KFD_DBG_QUEUE_ERROR_MASK) != 0; }
static inline uint32_t xsb_kfd_status_queue_id(uint32_t s) { return s & ~(XSB_KFD_DBG_QUEUE_INVALID_MASK | XSB_KFD_DBG_QUEUE_ERROR_MASK); }
/* sizeof(struct <name>) for the public structs ("xsb_topo_node", ...), 0 for unknown names:
 * FFI bindings check their layouts against it. */
size_t xsb_kfd_sizeof(const char *name);
/* Exported copies for FFI users (static inline functions have no symbol). */
int xsb_kfd_queue_status_invalid(uint32_t s);
int xsb_kfd_queue_status_error(uint32_t s);

#ifdef __cplusplus
}
#endif
#include "xsb_kfd_sysfs.h"
#include "xsb_kfd_parse.h"
#endif /* XSB_KFD_H */
