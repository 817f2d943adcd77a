/*
 * The emulated amdkfd driver: XSB_EMU_OP_IOCTL.
 *
 * Written after Linux 6.12 / ROCm amdgpu DKMS drivers/gpu/drm/amd/amdkfd:
 *   kfd_chardev.c      kfd_ioctl, set_queue_properties_from_user, kfd_ioctl_create_queue,
 *                      kfd_ioctl_update_queue, kfd_ioctl_set_cu_mask, runtime_enable,
 *                      runtime_disable, kfd_ioctl_set_debug_trap
 *   kfd_debug.c        kfd_dbg_trap_enable, kfd_dbg_trap_disable, kfd_dbg_trap_deactivate,
 *                      kfd_dbg_send_exception_to_runtime, kfd_dbg_ev_raise
 *   kfd_device_queue_manager.c  suspend_queues, resume_queues, suspend_single_queue,
 *                      resume_single_queue, set_queue_snapshot_entry
 *   kfd_process_queue_manager.c pqm_destroy_queue, pqm_update_queue_properties,
 *                      pqm_update_mqd, pqm_get_queue_snapshot
 * Where the emulator simplifies, the comment says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "device.h"

#define ENOTSUPP_KERNEL 524 /* kernel-internal ENOTSUPP, what userspace sees as errno 524 */
/* x86-64 TASK_SIZE_MAX: access_ok() fails above it */
#define USER_VA_END 0x00007ffffffff000ull

enum defer { DEFER_NONE, DEFER_TRANSITION, DEFER_RUNTIME, DEFER_DESTROY };

struct ioc {
	struct conn *c;
	const struct xsb_emu_msg *m;
	struct proc *p;        /* the caller's KFD process (filep->private_data) */
	uint8_t *kdata;        /* max(user size, kernel size), zero-extended */
	uint32_t usize;
	const uint8_t *extra;
	uint32_t extra_len;
	uint8_t *out_extra;    /* reply extra (malloc'd) */
	uint32_t out_extra_len;
	enum defer defer;
	const char *why;
	uint64_t grace_ns;
	struct proc *target;   /* DEFER_RUNTIME: whose semaphore */
	struct proc *dbg_target; /* DBG_TRAP target: waiting destroys finish after a resume */
	int queue;             /* DEFER_DESTROY */
};

bool kfd_queue_active(const struct kqueue *q)
{
	/* QUEUE_IS_ACTIVE: queue_size > 0 && queue_address != 0 && queue_percent > 0 */
	return q->ring_size > 0 && q->ring_base != 0 && q->percentage > 0;
}

bool kfd_queue_runnable(const struct kqueue *q)
{
	return q->used && kfd_queue_active(q) && !q->suspended && !q->destroying;
}

static bool resume_all(struct proc *p);
static void kfd_finish_destroys(struct proc *t);

static bool user_ok(uint64_t addr, uint64_t size)
{
	return addr + size >= addr && addr + size <= USER_VA_END;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int lookup(const struct proc *p, uint32_t queue_id)
{
	if (queue_id >= XSB_EMU_MAX_KFD_QUEUES)
		return NO_QUEUE;
	return p->qidx[queue_id];
}

/* Queues of a process in list order: pqm_create_queue list_add()s, so newest first. */
static unsigned proc_queues(const struct proc *p, int *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++)
		if (dev.queues[i].used && dev.queues[i].proc == p)
			out[n++] = (int)i;
	for (unsigned i = 1; i < n; i++) { /* insertion sort by create_seq, descending */
		int v = out[i];
		unsigned j = i;
		while (j && dev.queues[out[j - 1]].create_seq < dev.queues[v].create_seq) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = v;
	}
	return n;
}

/* ---------------- GET_VERSION ---------------- */

static int64_t ioc_get_version(struct ioc *x)
{
	struct xsb_kfd_get_version_args *a = (void *)x->kdata;
	a->major_version = 1;
	a->minor_version = dev.prof.kfd_minor;
	return 0;
}

/* ---------------- CREATE / DESTROY / UPDATE queue ---------------- */

/* The property checks CREATE_QUEUE (set_queue_properties_from_user) and UPDATE_QUEUE
 * (kfd_ioctl_update_queue) both make; a ring size below the minimum is clamped and the
 * clamped value copied back. */
static int64_t check_queue_props(uint32_t pct, uint32_t priority, uint64_t ring_base, uint32_t *ring_size)
{
	if (pct > XSB_KFD_MAX_QUEUE_PERCENTAGE)
		return -EINVAL;
	if (priority > XSB_KFD_MAX_QUEUE_PRIORITY)
		return -EINVAL;
	if (ring_base && !user_ok(ring_base, 8))
		return -EFAULT;
	if (!is_pow2(*ring_size) && *ring_size != 0)
		return -EINVAL;
	if (*ring_size < XSB_KFD_MIN_QUEUE_RING_SIZE)
		*ring_size = XSB_KFD_MIN_QUEUE_RING_SIZE;
	return 0;
}

static int64_t ioc_create_queue(struct ioc *x)
{
	struct xsb_kfd_create_queue_args *a = (void *)x->kdata;
	struct proc *p = x->p;
	/* set_queue_properties_from_user(): bits 8-15 of queue_percentage are pm4_target_xcc */
	uint32_t pct = a->queue_percentage & 0xffu;
	int64_t bad = check_queue_props(pct, a->queue_priority, a->ring_base_address, &a->ring_size);
	if (bad)
		return bad;
	if (!user_ok(a->read_pointer_address, 4) || !user_ok(a->write_pointer_address, 4))
		return -EFAULT;
	if (a->eop_buffer_address && !user_ok(a->eop_buffer_address, 4))
		return -EFAULT;
	if (a->ctx_save_restore_address && !user_ok(a->ctx_save_restore_address, 4))
		return -EFAULT;
	if (a->queue_type > XSB_KFD_QUEUE_TYPE_SDMA_BY_ENG_ID)
		return -ENOTSUPP_KERNEL;
	if (a->gpu_id != dev.prof.gpu_id) /* kfd_process_device_data_by_id() */
		return -EINVAL;
	/* MI300X: 2 PCIe-optimised + 14 XGMI SDMA engines (topology num_sdma_*). With a
	 * user size of 88, sdma_engine_id reads as 0 (zero-extended argument). */
	if (a->queue_type == XSB_KFD_QUEUE_TYPE_SDMA_BY_ENG_ID && a->sdma_engine_id > 2 + 14 - 1)
		return -EINVAL;
	/* Emulator: the ring the device executes is named by slot (u64[0] = slot + 1). The
	 * real kfd_queue_acquire_buffers() check that the ring is a GPU-mapped BO has no
	 * equivalent here. */
	uint32_t slot = UINT32_MAX;
	if (x->m->u64[0]) {
		uint64_t s = x->m->u64[0] - 1;
		if (s >= XSB_EMU_MAX_RINGS || dev.rings[s].alloc_state != XSB_EMU_RING_ALLOCATED ||
		    dev.rings[s].owner_pid != (uint32_t)p->pid)
			return -EINVAL;
		slot = (uint32_t)s;
	}
	if (p->n_queues >= XSB_EMU_MAX_KFD_QUEUES)
		return -ENOMEM; /* find_available_queue_slot() */
	int qi = NO_QUEUE;
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++)
		if (!dev.queues[i].used) {
			qi = (int)i;
			break;
		}
	if (qi == NO_QUEUE)
		return -ENOMEM; /* emulator limit: 1024 queues device-wide */
	/* Queue ids are slots 0..1023 but nothing may assume 0..N: a per-process random start
	 * and an odd (coprime with 1024) stride; freed ids are reused. */
	uint32_t id = UINT32_MAX;
	for (uint32_t k = 0; k < XSB_EMU_MAX_KFD_QUEUES; k++) {
		uint32_t cand = (p->qid_start + k * p->qid_stride) & (XSB_EMU_MAX_KFD_QUEUES - 1);
		if (p->qidx[cand] < 0) {
			id = cand;
			break;
		}
	}
	uint32_t db = 0;
	while (db < XSB_EMU_MAX_KFD_QUEUES && p->doorbell_used[db])
		db++;
	if (id == UINT32_MAX || db >= XSB_EMU_MAX_KFD_QUEUES)
		return -ENOMEM;

	struct kqueue *q = &dev.queues[qi];
	memset(q, 0, sizeof(*q));
	q->used = true;
	q->proc = p;
	q->queue_id = id;
	q->doorbell_id = db;
	q->type = a->queue_type;
	q->priority = a->queue_priority;
	q->percentage = pct;
	q->ring_base = a->ring_base_address;
	q->ring_size = a->ring_size;
	q->wptr = a->write_pointer_address;
	q->rptr = a->read_pointer_address;
	q->eop = a->eop_buffer_address;
	q->ctx_save = a->ctx_save_restore_address;
	q->ctx_save_size = a->ctx_save_restore_size;
	q->ring_slot = slot;
	q->cu_limit = dev.prof.num_cus;
	q->create_seq = ++dev.queue_seq;
	/* kfd_dbg_ev_raise(EC_QUEUE_NEW) only marks queues while the trap is enabled */
	if (p->debug_trap_enabled)
		q->exception_status |= XSB_KFD_EC_MASK_QUEUE_NEW;
	p->qidx[id] = (int16_t)qi;
	p->doorbell_used[db] = 1;
	p->n_queues++;
	if (slot != UINT32_MAX) {
		struct dring *dr = &dev.drings[slot];
		dev.rings[slot].alloc_state = XSB_EMU_RING_BOUND;
		dev.rings[slot].queue_id = id;
		dr->queue = qi;
		dr->cur = NULL;
		dr->next = atomic_load_explicit(&dev.rings[slot].read_index, memory_order_acquire);
		dr->idle_since = dev.model_now;
	}
	a->queue_id = id;
	/* On SOC15 the offset includes the queue's doorbell in the process doorbell frame
	 * (8-byte doorbells). */
	a->doorbell_offset = XSB_KFD_MMAP_TYPE_DOORBELL | XSB_KFD_MMAP_GPU_ID(a->gpu_id) |
			     ((uint64_t)db * 8u);
	/* Assumption: map_queues of one new queue does not preempt the others (no unmap cost). */
	model_queue_mapping_changed();
	shm_mirror_queue(qi);
	sysfs_queue_add(q);
	xsbe_log("pid %d: created queue %u (slot %u ring %d prio %u pct %u)", (int)p->pid, id,
		 (unsigned)qi, (int)slot, q->priority, pct);
	return 0;
}

void kfd_destroy_queue_now(int qi)
{
	struct kqueue *q = &dev.queues[qi];
	struct proc *p = q->proc;
	if (q->ring_slot != UINT32_MAX) {
		model_ring_unbind(q->ring_slot);
		struct xsb_emu_ring *r = &dev.rings[q->ring_slot];
		if (r->alloc_state == XSB_EMU_RING_BOUND)
			r->alloc_state = XSB_EMU_RING_ALLOCATED;
		r->queue_id = UINT32_MAX;
	}
	sysfs_queue_remove(q);
	p->qidx[q->queue_id] = -1;
	p->doorbell_used[q->doorbell_id] = 0;
	p->n_queues--;
	reply_drop(&q->destroy_reply);
	xsbe_log("pid %d: destroyed queue %u", (int)p->pid, q->queue_id);
	memset(q, 0, sizeof(*q));
	q->ring_slot = UINT32_MAX;
	shm_mirror_queue(qi);
}

static int64_t ioc_destroy_queue(struct ioc *x)
{
	struct xsb_kfd_destroy_queue_args *a = (void *)x->kdata;
	int qi = lookup(x->p, a->queue_id);
	if (qi == NO_QUEUE)
		return -EINVAL; /* pqm_destroy_queue: "queue id does not match any known queue" */
	struct kqueue *q = &dev.queues[qi];
	if (q->suspended) {
		/* destroy_queue_cpsch(): a queue suspended by the debugger is marked
		 * is_being_destroyed and the caller waits until it is resumed. */
		if (q->destroying)
			return -EBUSY; /* emulator: one waiting destroyer per queue */
		q->destroying = true;
		shm_mirror_queue(qi);
		x->defer = DEFER_DESTROY;
		x->queue = qi;
		return 0;
	}
	/* Assumption: unmapping one queue is not charged as a whole-runlist transition. */
	kfd_destroy_queue_now(qi);
	return 0;
}

static int64_t ioc_update_queue(struct ioc *x)
{
	struct xsb_kfd_update_queue_args *a = (void *)x->kdata;
	uint32_t pct = a->queue_percentage & 0xffu;
	int64_t bad = check_queue_props(pct, a->queue_priority, a->ring_base_address, &a->ring_size);
	if (bad)
		return bad;
	int qi = lookup(x->p, a->queue_id);
	if (qi == NO_QUEUE)
		return -EFAULT; /* pqm_update_queue_properties: "No queue %d exists" -> -EFAULT */
	struct kqueue *q = &dev.queues[qi];
	bool was_active = kfd_queue_active(q);
	/* the kernel overwrites all four from the arguments */
	q->ring_base = a->ring_base_address;
	q->ring_size = a->ring_size;
	q->percentage = pct;
	q->priority = a->queue_priority;
	bool active = kfd_queue_active(q);
	shm_mirror_queue(qi);
	if (active != was_active) {
		/* update_queue() on HWS: unmap the runlist, update the MQD, map again. */
		x->defer = DEFER_TRANSITION;
		x->why = active ? "reactivate" : "deactivate";
		x->grace_ns = model_grace_ns(0);
	}
	/* Assumption: a priority-only change costs no unmap (the real update_queue() unmaps
	 * the runlist for every UPDATE_QUEUE on HWS). */
	return 0;
}

static int64_t ioc_set_cu_mask(struct ioc *x)
{
	struct xsb_kfd_set_cu_mask_args *a = (void *)x->kdata;
	uint32_t bits = a->num_cu_mask;
	if (bits % 32)
		return -EINVAL;
	if (!bits)
		return -EINVAL;
	if (bits > 1024)
		bits = 1024; /* bits past 1024 are dropped */
	uint32_t words = bits / 32;
	if (x->extra_len < words * 4)
		return -EFAULT; /* copy_from_user of the mask */
	int qi = lookup(x->p, a->queue_id);
	if (qi == NO_QUEUE)
		return -EFAULT; /* pqm_update_mqd: "No queue %d exists" -> -EFAULT */
	uint32_t n = 0;
	for (uint32_t w = 0; w < words; w++) {
		uint32_t v;
		memcpy(&v, x->extra + w * 4, 4);
		for (uint32_t b = 0; b < 32; b++)
			if ((v >> b) & 1u && w * 32 + b < dev.prof.num_cus)
				n++;
	}
	dev.queues[qi].cu_limit = n;
	return 0;
}

/* ---------------- RUNTIME_ENABLE ---------------- */

static int64_t runtime_down(struct ioc *x, struct proc *p)
{
	/* down_interruptible(&p->runtime_enable_sema): a prior up lets it pass */
	if (p->runtime_sema > 0) {
		p->runtime_sema--;
		p->is_runtime_retry = false;
		return 0;
	}
	if (p->n_runtime_waiters >= DEV_MAX_RUNTIME_WAITERS)
		return -EBUSY; /* emulator limit on blocked threads */
	x->defer = DEFER_RUNTIME;
	x->target = p;
	return 0;
}

static int64_t ioc_runtime_enable(struct ioc *x)
{
	struct xsb_kfd_runtime_enable_args *a = (void *)x->kdata;
	struct proc *p = x->p;
	if (a->mode_mask & XSB_KFD_RUNTIME_ENABLE_MODE_ENABLE_MASK) {
		/* runtime_enable() */
		if (!p->is_runtime_retry) {
			if (p->runtime_state != XSB_KFD_RUNTIME_STATE_DISABLED)
				return -EBUSY;
			if (p->n_queues)
				return -EEXIST; /* pdd->qpd.queue_count */
			p->runtime_state = XSB_KFD_RUNTIME_STATE_ENABLED;
			p->r_debug = a->r_debug;
			p->ttmp_setup = !!(a->mode_mask & XSB_KFD_RUNTIME_ENABLE_MODE_TTMP_SAVE_MASK);
		}
		if (p->debug_trap_enabled) {
			if (!p->is_runtime_retry) /* kfd_dbg_trap_activate + kfd_dbg_ev_raise */
				p->exception_status |= XSB_KFD_EC_MASK_PROCESS_RUNTIME;
			return runtime_down(x, p);
		}
		return 0;
	}
	/* runtime_disable() */
	bool was_enabled = p->runtime_state == XSB_KFD_RUNTIME_STATE_ENABLED;
	p->runtime_state = XSB_KFD_RUNTIME_STATE_DISABLED;
	p->r_debug = 0;
	if (p->debug_trap_enabled) {
		/* kfd_dbg_trap_deactivate: resume_queues(target, 0, NULL) */
		if (was_enabled && resume_all(p)) {
			model_request_transition("runtime disable resumes", model_grace_ns(0), NULL);
			kfd_finish_destroys(p);
		}
		if (!p->is_runtime_retry)
			p->exception_status |= XSB_KFD_EC_MASK_PROCESS_RUNTIME;
		int64_t r = runtime_down(x, p);
		if (r)
			return r;
	}
	p->ttmp_setup = 0;
	return 0;
}

/* ---------------- DBG_TRAP ---------------- */

static bool pid_exists(pid_t pid)
{
	char path[64];
	struct stat st;
	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) == 0;
}

/* ptrace_parent(target->lead_thread) == current, seen through /proc. */
static bool is_tracer(pid_t target, pid_t caller_pid, uint32_t tid)
{
	char path[96];
	struct stat st;
	if (!tid)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%u", (int)caller_pid, tid);
	if (stat(path, &st) != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)target);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	char line[256];
	long tracer = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
			break;
	fclose(f);
	return tracer > 0 && (uint32_t)tracer == tid;
}

static struct proc *kfd_proc_of(pid_t pid)
{
	for (unsigned i = 0; i < XSB_EMU_MAX_PROCS; i++) {
		struct proc *p = &dev.procs[i];
		if (p->used && !p->dead && p->pid == pid && p->has_kfd)
			return p;
	}
	return NULL;
}

static void runtime_up(struct proc *p)
{
	if (p->n_runtime_waiters) {
		struct pending_reply r = p->runtime_waiters[0];
		memmove(&p->runtime_waiters[0], &p->runtime_waiters[1],
			(p->n_runtime_waiters - 1) * sizeof(r));
		p->n_runtime_waiters--;
		p->is_runtime_retry = false;
		reply_send(&r, 0, false);
	} else {
		p->runtime_sema++;
	}
}

/* resume_queues(target, 0, NULL) without the runlist part: true when any was suspended. */
static bool resume_all(struct proc *p)
{
	bool any = false;
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++) {
		struct kqueue *q = &dev.queues[i];
		if (!q->used || q->proc != p || !q->suspended)
			continue;
		q->suspended = false;
		q->resume_count++;
		any = true;
		shm_mirror_queue((int)i);
	}
	return any;
}

/* Queues whose DESTROY_QUEUE waited and that are no longer suspended go now; their
 * replies join the last queued transition (the waiter wakes after execute_queues_cpsch). */
static void kfd_finish_destroys(struct proc *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++) {
		struct kqueue *q = &dev.queues[i];
		if (!q->used || q->proc != t || !q->destroying || q->suspended)
			continue;
		struct pending_reply r = q->destroy_reply;
		memset(&q->destroy_reply, 0, sizeof(r));
		kfd_destroy_queue_now((int)i);
		if (r.buf && !model_attach_reply(&r))
			reply_send(&r, 0, false);
	}
}

/* kfd_dbg_trap_disable(); true when suspended queues were resumed (a transition). */
static bool dbg_disable(struct proc *t)
{
	bool resumed = false;
	if (!t->debug_trap_enabled)
		return false;
	if (t->runtime_state == XSB_KFD_RUNTIME_STATE_ENABLED)
		resumed = resume_all(t); /* kfd_dbg_trap_deactivate */
	else if (t->runtime_state != XSB_KFD_RUNTIME_STATE_DISABLED)
		t->runtime_state = XSB_KFD_RUNTIME_STATE_ENABLED;
	t->debug_trap_enabled = false;
	t->debugger_pid = 0;
	/* kfd_dbg_clean_exception_status */
	t->exception_status = 0;
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++)
		if (dev.queues[i].used && dev.queues[i].proc == t && dev.queues[i].exception_status) {
			dev.queues[i].exception_status = 0;
			shm_mirror_queue((int)i);
		}
	return resumed;
}

static int queue_array_index(uint32_t queue_id, const uint32_t *ids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (queue_id == (ids[i] & ~XSB_KFD_DBG_QUEUE_INVALID_MASK))
			return (int)i;
	return -1;
}

static int64_t dbg_suspend(struct ioc *x, struct proc *t, const struct xsb_kfd_dbg_trap_args *a)
{
	const struct xsb_kfd_dbg_trap_suspend_queues_args *s = &a->suspend_queues;
	uint32_t n = s->num_queues;
	if ((uint64_t)n * 4 > x->extra_len)
		return -EFAULT; /* get_queue_ids: copy_from_user */
	uint32_t *ids = malloc(n ? n * 4u : 4u);
	if (!ids)
		return -ENOMEM;
	memcpy(ids, x->extra, n * 4u);
	for (uint32_t i = 0; i < n; i++) /* q_array_invalidate: unmask per success */
		ids[i] |= XSB_KFD_DBG_QUEUE_INVALID_MASK;
	int list[XSB_EMU_MAX_KFD_QUEUES];
	unsigned nq = proc_queues(t, list);
	int64_t total = 0;
	for (unsigned i = 0; i < nq; i++) {
		struct kqueue *q = &dev.queues[list[i]];
		int idx = queue_array_index(q->queue_id, ids, n);
		if (idx < 0)
			continue;
		/* suspend_single_queue(): already suspended -> 0; new or being destroyed -> -EBUSY
		 * (left INVALID, not counted) */
		if (!q->suspended) {
			if ((q->exception_status & XSB_KFD_EC_MASK_QUEUE_NEW) || q->destroying)
				continue;
			q->suspended = true;
			q->suspend_count++;
			shm_mirror_queue(list[i]);
		}
		ids[idx] &= ~XSB_KFD_DBG_QUEUE_INVALID_MASK;
		total++;
	}
	/* The ERROR bit (0x40000000) is set when execute_queues_cpsch fails; the emulated
	 * preemption never fails, so it is never set here. */
	if (total) {
		/* execute_queues_cpsch() runs whenever a queue was counted, also when all of them
		 * were already suspended: an unmap/remap of the whole device runlist. */
		x->defer = DEFER_TRANSITION;
		x->why = "suspend";
		x->grace_ns = model_grace_ns(s->grace_period);
		/* on success, clear exception_mask from every queue named in the array */
		if (s->exception_mask)
			for (unsigned i = 0; i < nq; i++) {
				struct kqueue *q = &dev.queues[list[i]];
				if (queue_array_index(q->queue_id, ids, n) >= 0) {
					q->exception_status &= ~s->exception_mask;
					shm_mirror_queue(list[i]);
				}
			}
	}
	x->out_extra = (uint8_t *)ids;
	x->out_extra_len = n * 4u;
	return total;
}

static int64_t dbg_resume(struct ioc *x, struct proc *t, const struct xsb_kfd_dbg_trap_args *a)
{
	const struct xsb_kfd_dbg_trap_resume_queues_args *r = &a->resume_queues;
	uint32_t n = r->num_queues;
	if ((uint64_t)n * 4 > x->extra_len)
		return -EFAULT;
	uint32_t *ids = malloc(n ? n * 4u : 4u);
	if (!ids)
		return -ENOMEM;
	memcpy(ids, x->extra, n * 4u);
	for (uint32_t i = 0; i < n; i++)
		ids[i] |= XSB_KFD_DBG_QUEUE_INVALID_MASK;
	int list[XSB_EMU_MAX_KFD_QUEUES];
	unsigned nq = proc_queues(t, list);
	int64_t total = 0;
	for (unsigned i = 0; i < nq; i++) {
		struct kqueue *q = &dev.queues[list[i]];
		int idx = queue_array_index(q->queue_id, ids, n);
		if (idx < 0)
			continue;
		/* resume_single_queue(): a queue that is not suspended counts as resumed. Unlike
		 * suspend, resume does not skip new or dying queues. */
		if (q->suspended) {
			q->suspended = false;
			q->resume_count++;
			shm_mirror_queue(list[i]);
		}
		ids[idx] &= ~XSB_KFD_DBG_QUEUE_INVALID_MASK;
		total++;
	}
	x->out_extra = (uint8_t *)ids;
	x->out_extra_len = n * 4u;
	if (total) {
		x->defer = DEFER_TRANSITION;
		x->why = "resume";
		x->grace_ns = model_grace_ns(0);
	}
	return total;
}

static void fill_snapshot(const struct kqueue *q, struct xsb_kfd_queue_snapshot_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->exception_status = q->exception_status;
	e->ring_base_address = q->ring_base;
	e->write_pointer_address = q->wptr;
	e->read_pointer_address = q->rptr;
	e->ctx_save_restore_address = q->ctx_save;
	e->queue_id = q->queue_id;
	e->gpu_id = dev.prof.gpu_id;
	e->ring_size = q->ring_size;
	/* set_queue_type_for_user(): SDMA_BY_ENG_ID is not recognised there */
	e->queue_type = q->type <= XSB_KFD_QUEUE_TYPE_SDMA_XGMI ? q->type : 0xffffffffu;
	e->ctx_save_restore_area_size = q->ctx_save_size;
}

static int64_t dbg_snapshot(struct ioc *x, struct proc *t, struct xsb_kfd_dbg_trap_args *a)
{
	/* pqm_get_queue_snapshot() */
	struct xsb_kfd_dbg_trap_queue_snapshot_args *s = &a->queue_snapshot;
	uint32_t capacity = s->num_queues;
	s->num_queues = 0;
	if (!s->entry_size)
		return -EINVAL;
	uint32_t esize = s->entry_size < sizeof(struct xsb_kfd_queue_snapshot_entry) ?
			 s->entry_size : (uint32_t)sizeof(struct xsb_kfd_queue_snapshot_entry);
	s->entry_size = esize;
	int list[XSB_EMU_MAX_KFD_QUEUES];
	unsigned nq = proc_queues(t, list);
	uint32_t copies = capacity < nq ? capacity : nq;
	x->out_extra = calloc(copies ? copies : 1, esize);
	if (!x->out_extra)
		return -ENOMEM;
	for (unsigned i = 0; i < nq; i++) {
		struct kqueue *q = &dev.queues[list[i]];
		if (i < copies) {
			struct xsb_kfd_queue_snapshot_entry e;
			fill_snapshot(q, &e);
			memcpy(x->out_extra + (size_t)i * esize, &e, esize);
			/* set_queue_snapshot_entry clears the mask on the queues it copies */
			q->exception_status &= ~s->exception_mask;
			shm_mirror_queue(list[i]);
		}
		s->num_queues++;
	}
	x->out_extra_len = copies * esize;
	return 0;
}

static int64_t ioc_dbg_trap(struct ioc *x)
{
	struct xsb_kfd_dbg_trap_args *a = (void *)x->kdata;
	/* kfd_ioctl_set_debug_trap(), checks in the kernel's order */
	if (dev.prof.sched_policy == 2)
		return -EINVAL; /* KFD_SCHED_POLICY_NO_HWS */
	if (!pid_exists((pid_t)a->pid))
		return -ESRCH; /* find_get_pid / get_pid_task / get_task_mm */
	struct proc *t = kfd_proc_of((pid_t)a->pid);
	if (!t)
		return -ESRCH; /* kfd_lookup_process_by_pid */
	if (t != x->p && a->op != XSB_KFD_DBG_TRAP_DISABLE &&
	    !is_tracer(t->pid, x->c->pid, x->m->tid))
		return -EPERM; /* "PID %i is not PTRACED and cannot be debugged" */
	if (a->op != XSB_KFD_DBG_TRAP_ENABLE && !t->debug_trap_enabled)
		return -EINVAL;
	x->dbg_target = t;
	switch (a->op) {
	case XSB_KFD_DBG_TRAP_SET_WAVE_LAUNCH_OVERRIDE:
	case XSB_KFD_DBG_TRAP_SET_WAVE_LAUNCH_MODE:
	case XSB_KFD_DBG_TRAP_SUSPEND_QUEUES:
	case XSB_KFD_DBG_TRAP_RESUME_QUEUES:
	case XSB_KFD_DBG_TRAP_SET_NODE_ADDRESS_WATCH:
	case XSB_KFD_DBG_TRAP_CLEAR_NODE_ADDRESS_WATCH:
	case XSB_KFD_DBG_TRAP_SET_FLAGS:
		if (t->runtime_state != XSB_KFD_RUNTIME_STATE_ENABLED)
			return -EPERM; /* the uapi comment says EACCES; the code returns EPERM */
		break;
	default:
		break;
	}
	switch (a->op) {
	case XSB_KFD_DBG_TRAP_ENABLE: {
		/* kfd_dbg_trap_enable() */
		if (t->debug_trap_enabled)
			return -EALREADY;
		if (!(x->m->flags & XSB_EMU_F_DBG_FD_VALID))
			return -EBADF; /* fget(dbg_fd) failed */
		/* Emulator: kfd_dbg_trap_activate()'s debug_refresh_runlist (an unmap/remap when
		 * the runtime is already enabled) is not charged. */
		t->debug_trap_enabled = true;
		t->debugger_pid = t != x->p ? x->p->pid : 0; /* kfd_ioctl_set_debug_trap */
		t->exception_enable_mask = a->enable.exception_mask;
		struct xsb_kfd_runtime_info ri = {
			.r_debug = t->r_debug,
			.runtime_state = t->runtime_state,
			.ttmp_setup = t->ttmp_setup,
		};
		uint32_t n = a->enable.rinfo_size < sizeof(ri) ? a->enable.rinfo_size : (uint32_t)sizeof(ri);
		x->out_extra = malloc(sizeof(ri));
		if (x->out_extra) {
			memcpy(x->out_extra, &ri, n);
			x->out_extra_len = n;
		}
		a->enable.rinfo_size = sizeof(ri);
		return 0;
	}
	case XSB_KFD_DBG_TRAP_DISABLE:
		if (dbg_disable(t)) {
			/* the reply comes when the runlist has the resumed queues again */
			x->defer = DEFER_TRANSITION;
			x->why = "debug disable resumes";
			x->grace_ns = model_grace_ns(0);
		}
		return 0;
	case XSB_KFD_DBG_TRAP_SEND_RUNTIME_EVENT:
		/* kfd_dbg_send_exception_to_runtime(): EC_PROCESS_RUNTIME ups the semaphore;
		 * other exceptions are recorded as pending on the process. */
		if (a->send_runtime_event.exception_mask & XSB_KFD_EC_MASK_PROCESS_RUNTIME)
			runtime_up(t);
		t->exception_status |= a->send_runtime_event.exception_mask &
				       ~XSB_KFD_EC_MASK_PROCESS_RUNTIME;
		return 0;
	case XSB_KFD_DBG_TRAP_SET_EXCEPTIONS_ENABLED:
		t->exception_enable_mask = a->send_runtime_event.exception_mask;
		return 0;
	case XSB_KFD_DBG_TRAP_SUSPEND_QUEUES:
		return dbg_suspend(x, t, a);
	case XSB_KFD_DBG_TRAP_RESUME_QUEUES:
		return dbg_resume(x, t, a);
	case XSB_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT:
		return dbg_snapshot(x, t, a);
	default:
		/* Wave launch, address watch, flags, debug event and device snapshot queries are
		 * not emulated. */
		return -EINVAL;
	}
}

/* ---------------- dispatch (kfd_ioctl) ---------------- */

struct ioc_def {
	uint32_t nr;
	uint32_t dir;  /* the kernel's own definition gives the direction */
	uint32_t size;
	int64_t (*fn)(struct ioc *);
};

static const struct ioc_def ioc_defs[] = {
	{ XSB_KFD_NR_GET_VERSION, _IOC_READ, sizeof(struct xsb_kfd_get_version_args), ioc_get_version },
	{ XSB_KFD_NR_CREATE_QUEUE, _IOC_READ | _IOC_WRITE, sizeof(struct xsb_kfd_create_queue_args), ioc_create_queue },
	{ XSB_KFD_NR_DESTROY_QUEUE, _IOC_READ | _IOC_WRITE, sizeof(struct xsb_kfd_destroy_queue_args), ioc_destroy_queue },
	{ XSB_KFD_NR_UPDATE_QUEUE, _IOC_WRITE, sizeof(struct xsb_kfd_update_queue_args), ioc_update_queue },
	{ XSB_KFD_NR_SET_CU_MASK, _IOC_WRITE, sizeof(struct xsb_kfd_set_cu_mask_args), ioc_set_cu_mask },
	{ XSB_KFD_NR_RUNTIME_ENABLE, _IOC_READ | _IOC_WRITE, sizeof(struct xsb_kfd_runtime_enable_args), ioc_runtime_enable },
	{ XSB_KFD_NR_DBG_TRAP, _IOC_READ | _IOC_WRITE, sizeof(struct xsb_kfd_dbg_trap_args), ioc_dbg_trap },
};

void kfd_ioctl(struct conn *c, const struct xsb_emu_msg *m, const uint8_t *arg, const uint8_t *extra)
{
	struct ioc x = { .c = c, .m = m, .usize = m->arg_size, .extra = extra,
			 .extra_len = m->extra_len, .queue = NO_QUEUE };
	struct pending_reply r = { 0 };
	int64_t ret;
	uint8_t kbuf[XSB_EMU_MAX_ARG + 128];
	const struct ioc_def *d = NULL;

	for (size_t i = 0; i < sizeof(ioc_defs) / sizeof(ioc_defs[0]); i++)
		if (ioc_defs[i].nr == m->nr)
			d = &ioc_defs[i];
	/* filep->private_data: only the process that opened /dev/kfd may use the fd */
	struct proc *p = (c->kind == XSB_EMU_CONN_FILE || c->kind == XSB_EMU_CONN_THREAD) ?
			 kfd_proc_of(c->pid) : NULL;
	if (!d) {
		ret = -EINVAL; /* nr outside the table, or not emulated */
		goto reply;
	}
	if (!p) {
		ret = -EBADF;
		goto reply;
	}
	if (m->tid) { /* the calling thread must belong to the process the fd belongs to */
		char path[96];
		struct stat st;
		snprintf(path, sizeof(path), "/proc/%d/task/%u", (int)c->pid, m->tid);
		if (stat(path, &st) != 0) {
			ret = -EBADF;
			goto reply;
		}
	}
	x.p = p;
	uint32_t asize = x.usize > d->size ? x.usize : d->size;
	memset(kbuf, 0, asize);
	if (d->dir & _IOC_WRITE) /* IOC_IN: copy the user's bytes; the rest stays zero */
		memcpy(kbuf, arg, x.usize);
	x.kdata = kbuf;
	ret = d->fn(&x);

reply:
	if (reply_build(&r, c, m, ret, x.kdata ? x.kdata : arg, x.kdata ? x.usize : 0,
			x.out_extra, x.out_extra_len) != 0) {
		free(x.out_extra);
		return;
	}
	free(x.out_extra);
	if (x.defer != DEFER_NONE)
		c->blocked = true; /* input pauses until the reply goes; reply_send unblocks */
	switch (x.defer) {
	case DEFER_NONE:
		reply_send(&r, 0, false);
		break;
	case DEFER_TRANSITION:
		model_request_transition(x.why, x.grace_ns, &r);
		kfd_finish_destroys(x.dbg_target);
		break;
	case DEFER_RUNTIME:
		x.target->runtime_waiters[x.target->n_runtime_waiters++] = r;
		break;
	case DEFER_DESTROY:
		dev.queues[x.queue].destroy_reply = r;
		break;
	}
}

void kfd_process_teardown(struct proc *p)
{
	/* kfd_process_notifier_release / kfd_process_wq_release: the debug session ends
	 * (resuming everything), every queue is destroyed. */
	if (p->debug_trap_enabled) {
		for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++)
			if (dev.queues[i].used && dev.queues[i].proc == p)
				dev.queues[i].suspended = false;
		p->debug_trap_enabled = false;
	}
	/* kfd_process_notifier_release_internal(): a dying debugger disables the debug session
	 * of every process it was debugging, which resumes their queues. */
	bool resumed = false;
	for (unsigned i = 0; i < XSB_EMU_MAX_PROCS; i++) {
		struct proc *t = &dev.procs[i];
		if (t->used && !t->dead && t != p && t->debug_trap_enabled && t->debugger_pid == p->pid)
			resumed |= dbg_disable(t);
	}
	if (resumed)
		model_request_transition("debugger exit resumes", model_grace_ns(0), NULL);
	for (unsigned i = 0; i < p->n_runtime_waiters; i++)
		reply_drop(&p->runtime_waiters[i]);
	p->n_runtime_waiters = 0;
	/* Choice: taking a dead process's queues off costs a normal unmap/remap only when one
	 * of them was mapped and had work on the device (running or saved workgroups). */
	bool busy = false;
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++) {
		struct kqueue *q = &dev.queues[i];
		if (!q->used || q->proc != p)
			continue;
		if (q->mapped && q->ring_slot != UINT32_MAX && dev.drings[q->ring_slot].cur)
			busy = true;
		kfd_destroy_queue_now((int)i);
	}
	if (busy)
		model_request_transition("process exit", model_grace_ns(0), NULL);
}
