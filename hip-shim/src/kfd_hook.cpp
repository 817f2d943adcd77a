/*
 * kfd_hook.cpp - the ioctl() interposer and the process's KFD queue table.
 *
 * libhsakmt calls glibc ioctl() through the PLT (KFD-FACTS "Priorities and queues"), so this
 * definition, first in LD_PRELOAD, sees every KFD call of the process and forwards it to the
 * next one (libc, or the emulator's interposer) with dlsym(RTLD_NEXT). The kernel dispatches
 * on _IOC_NR only and copies _IOC_SIZE(cmd) bytes: calls are matched by type 'K' + number and
 * only _IOC_SIZE bytes of the argument are touched.
 */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xsb_kfd_abi.h"

namespace xsb {

typedef int (*ioctl_fn)(int, unsigned long, ...);
static std::atomic<ioctl_fn> g_real_ioctl{nullptr};

static ioctl_fn real_ioctl()
{
	ioctl_fn f = g_real_ioctl.load(std::memory_order_acquire);
	if (!f) {
		f = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
		g_real_ioctl.store(f, std::memory_order_release);
	}
	return f;
}

#define MAX_Q 1024 /* KFD queue ids are per-process slots 0..1023 */
static Queue g_q[MAX_Q];
static pthread_mutex_t g_q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_qop_mu = PTHREAD_MUTEX_INITIALIZER;

QopLock::QopLock() { pthread_mutex_lock(&g_qop_mu); }
QopLock::~QopLock() { pthread_mutex_unlock(&g_qop_mu); }

bool queue_is_compute(uint32_t type)
{
	return type == XSB_KFD_QUEUE_TYPE_COMPUTE || type == XSB_KFD_QUEUE_TYPE_COMPUTE_AQL;
}

int queues_snapshot(Queue *out, int cap)
{
	int n = 0;
	pthread_mutex_lock(&g_q_mu);
	for (int i = 0; i < MAX_Q && n < cap; i++)
		if (g_q[i].used) out[n++] = g_q[i];
	pthread_mutex_unlock(&g_q_mu);
	return n;
}

bool queue_get(uint32_t id, Queue *out)
{
	if (id >= MAX_Q) return false;
	pthread_mutex_lock(&g_q_mu);
	bool ok = g_q[id].used;
	if (ok) *out = g_q[id];
	pthread_mutex_unlock(&g_q_mu);
	return ok;
}

void queue_set_held(uint32_t id, bool held)
{
	if (id >= MAX_Q) return;
	Queue copy;
	pthread_mutex_lock(&g_q_mu);
	bool changed = g_q[id].used && g_q[id].held != held;
	if (changed) g_q[id].held = held;
	copy = g_q[id];
	pthread_mutex_unlock(&g_q_mu);
	if (changed) queue_send_event("update", copy);
}

void queue_note_released(uint32_t id, uint32_t pct, uint32_t prio)
{
	if (id >= MAX_Q) return;
	pthread_mutex_lock(&g_q_mu);
	if (g_q[id].used) {
		g_q[id].prio_applied = prio;
		g_q[id].pct_runtime = pct;
		g_q[id].update_pending = false;
	}
	pthread_mutex_unlock(&g_q_mu);
}

void queue_send_event(const char *event, const Queue &q)
{
	if (!g_attached.load(std::memory_order_acquire)) return;
	char buf[512];
	snprintf(buf, sizeof buf,
	         "{\"v\":%u,\"type\":\"queue\",\"event\":\"%s\",\"id\":%u,\"gpu_id\":%u,\"qtype\":%u,"
	         "\"ring_base\":\"%llu\",\"ring_size\":%u,\"priority_requested\":%u,\"priority_applied\":%u,"
	         "\"percentage\":%u,\"state\":\"%s\"}",
	         XSB_WIRE_VERSION, event, q.id, q.gpu_id, q.type, (unsigned long long)q.ring_base, q.ring_size,
	         q.prio_requested, q.prio_applied, q.pct_runtime,
	         q.destroying ? "destroying" : q.held ? "held" : "active");
	wire_send(buf);
}

/* Under the table lock: an event of a concurrent change either is in the replay or is sent
 * after it (the hook sends after unlocking), so a destroyed queue is never replayed after its
 * destroy event. */
void queues_send_all()
{
	pthread_mutex_lock(&g_q_mu);
	for (int i = 0; i < MAX_Q; i++)
		if (g_q[i].used) queue_send_event("create", g_q[i]);
	pthread_mutex_unlock(&g_q_mu);
}

void queues_child_reset()
{
	/* the parent's queues belong to the parent's KFD process */
	pthread_mutex_init(&g_q_mu, nullptr);
	pthread_mutex_init(&g_qop_mu, nullptr);
	memset(g_q, 0, sizeof g_q);
}

static uint32_t count_queues_locked()
{
	uint32_t n = 0;
	for (int i = 0; i < MAX_Q; i++) n += g_q[i].used;
	return n;
}

static int on_create(int fd, unsigned long cmd, void *arg)
{
	size_t sz = _IOC_SIZE(cmd);
	auto *a = static_cast<xsb_kfd_create_queue_args *>(arg);
	/* queue_id sits at @52: a shorter argument is not a create we understand */
	if (!a || sz < offsetof(xsb_kfd_create_queue_args, queue_id) + sizeof(uint32_t))
		return real_ioctl()(fd, cmd, arg);
	uint32_t requested = a->queue_priority;
	int prio = g_priority.load(std::memory_order_acquire);
	if (prio >= 0) a->queue_priority = (uint32_t)prio;
	int r = real_ioctl()(fd, cmd, arg);
	int saved = errno;
	if (r == 0 && a->queue_id < MAX_Q) {
		Queue q;
		memset(&q, 0, sizeof q);
		q.used = true;
		q.id = a->queue_id;
		q.gpu_id = a->gpu_id;
		q.type = a->queue_type;
		q.ring_base = a->ring_base_address;
		q.ring_size = a->ring_size;
		q.prio_requested = requested;
		q.prio_applied = a->queue_priority;
		q.pct_runtime = a->queue_percentage;
		pthread_mutex_lock(&g_q_mu);
		g_q[q.id] = q;
		g_ctrl->queues.store(count_queues_locked(), std::memory_order_relaxed);
		pthread_mutex_unlock(&g_q_mu);
		XSB_LOG(LOG_DEBUG, "CREATE_QUEUE id %u gpu %u type %u ring 0x%llx size %u priority %u -> %u", q.id,
		        q.gpu_id, q.type, (unsigned long long)q.ring_base, q.ring_size, requested, q.prio_applied);
		queue_send_event("create", q);
		/* a process held down holds its new queues too */
		if (queue_is_compute(q.type)) exec_kick();
	}
	/* the caller sees its own priority back, as if nothing had rewritten it */
	a->queue_priority = requested;
	errno = saved;
	return r;
}

static int on_update(int fd, unsigned long cmd, void *arg)
{
	auto *a = static_cast<xsb_kfd_update_queue_args *>(arg);
	if (!a || _IOC_SIZE(cmd) < sizeof(*a)) return real_ioctl()(fd, cmd, arg);
	uint32_t id = a->queue_id;
	uint32_t requested = a->queue_priority;
	int prio = g_priority.load(std::memory_order_acquire);
	QopLock op; /* never interleave with a hold/release of the executor */
	if (id < MAX_Q) {
		pthread_mutex_lock(&g_q_mu);
		Queue *q = g_q[id].used ? &g_q[id] : nullptr;
		if (q) {
			q->prio_requested = requested;
			if (q->held && g_mechanism.load() == XSB_MECH_DEACTIVATE) {
				/* Forwarding would re-activate the queue (ROCr re-sends percentage 100):
				 * keep the latest values and replay them on release (KFD-FACTS). */
				q->pct_runtime = a->queue_percentage;
				if (a->ring_base_address) q->ring_base = a->ring_base_address;
				if (a->ring_size) q->ring_size = a->ring_size;
				q->update_pending = true;
				Queue copy = *q;
				pthread_mutex_unlock(&g_q_mu);
				XSB_LOG(LOG_DEBUG, "UPDATE_QUEUE id %u held back while the queue is held", id);
				queue_send_event("update", copy);
				return 0;
			}
		}
		pthread_mutex_unlock(&g_q_mu);
	}
	if (prio >= 0) a->queue_priority = (uint32_t)prio;
	int r = real_ioctl()(fd, cmd, arg);
	int saved = errno;
	a->queue_priority = requested;
	if (r == 0 && id < MAX_Q) {
		pthread_mutex_lock(&g_q_mu);
		Queue copy;
		bool have = g_q[id].used;
		if (have) {
			Queue *q = &g_q[id];
			q->prio_applied = prio >= 0 ? (uint32_t)prio : requested;
			q->pct_runtime = a->queue_percentage;
			q->ring_base = a->ring_base_address;
			q->ring_size = a->ring_size;
			copy = *q;
		}
		pthread_mutex_unlock(&g_q_mu);
		if (have) queue_send_event("update", copy);
	}
	errno = saved;
	return r;
}

static int on_destroy(int fd, unsigned long cmd, void *arg)
{
	auto *a = static_cast<xsb_kfd_destroy_queue_args *>(arg);
	if (!a || _IOC_SIZE(cmd) < sizeof(uint32_t)) return real_ioctl()(fd, cmd, arg);
	uint32_t id = a->queue_id;
	bool held = false;
	if (id < MAX_Q) {
		pthread_mutex_lock(&g_q_mu);
		if (g_q[id].used) {
			g_q[id].destroying = true; /* the executor leaves it alone from now on */
			held = g_q[id].held;
		}
		pthread_mutex_unlock(&g_q_mu);
	}
	/* DESTROY_QUEUE on a suspended queue blocks until it is resumed (KFD-FACTS) */
	if (held) exec_release_for_destroy(id);
	int r = real_ioctl()(fd, cmd, arg);
	int saved = errno;
	if (id < MAX_Q) {
		Queue copy;
		bool have = false;
		pthread_mutex_lock(&g_q_mu);
		if (g_q[id].used) {
			copy = g_q[id];
			have = true;
			if (r == 0) g_q[id].used = false;
			else g_q[id].destroying = false;
		}
		g_ctrl->queues.store(count_queues_locked(), std::memory_order_relaxed);
		pthread_mutex_unlock(&g_q_mu);
		if (have && r == 0) queue_send_event("destroy", copy);
	}
	errno = saved;
	return r;
}

static int on_cu_mask(int fd, unsigned long cmd, void *arg)
{
	int r = real_ioctl()(fd, cmd, arg);
	if (r == 0) XSB_LOG(LOG_DEBUG, "SET_CU_MASK queue %u", static_cast<xsb_kfd_set_cu_mask_args *>(arg)->queue_id);
	return r;
}

} // namespace xsb

using namespace xsb;

XSB_EXPORT int ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (_IOC_TYPE(cmd) != XSB_KFD_IOCTL_BASE || tl_kfd_pass) return real_ioctl()(fd, cmd, arg);
	ensure_init();
	if (!g_cfg.env_ok) return real_ioctl()(fd, cmd, arg);
	switch (_IOC_NR(cmd)) {
	case XSB_KFD_NR_CREATE_QUEUE: return on_create(fd, cmd, arg);
	case XSB_KFD_NR_UPDATE_QUEUE: return on_update(fd, cmd, arg);
	case XSB_KFD_NR_DESTROY_QUEUE: return on_destroy(fd, cmd, arg);
	case XSB_KFD_NR_SET_CU_MASK: return on_cu_mask(fd, cmd, arg);
	default: return real_ioctl()(fd, cmd, arg);
	}
}
