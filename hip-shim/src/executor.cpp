/*
 * executor.cpp - the thread that holds and releases the process's own compute queues.
 *
 * Level-triggered: on every wake-up it computes the wanted state (HOLD when the coordinator's
 * suspend_req says so and the shim is attached, not failing open, not exiting) and brings the
 * queue table there, then acknowledges with ack_seq = the req_seq it answered.
 *
 * dbg-trap (KFD-FACTS "Semantics of the debug path"): a self-debug session (pid = getpid(),
 * own fd) opened only after the runtime initialised; GET_QUEUE_SNAPSHOT clearing EC_QUEUE_NEW
 * before each suspend (new queues are otherwise INVALID); SUSPEND/RESUME_QUEUES; DISABLE at
 * exit before the runtime's teardown (ROCr's runtime-disable blocks while a session is open).
 * deactivate: UPDATE_QUEUE percentage 0 / 100 with the queue's original ring base and size;
 * the runtime's own UPDATE_QUEUEs of held queues are held back by the ioctl hook and the
 * latest one is replayed on release.
 * Only compute queues are held (SDMA queues are left alone). A queue being destroyed is
 * released first: DESTROY_QUEUE on a suspended queue blocks until it is resumed.
 */
#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <vector>

#include "xsb_kfd.h"

namespace xsb {

static pthread_t g_exec;
static std::atomic<int> g_exec_on{0};
static std::atomic<int> g_exec_stop{0};
static xsb_kfd_t *g_kfd;
static bool g_dbg_enabled;
static uint32_t g_applied_prio_gen; /* priority last applied to the queues */
static std::atomic<uint32_t> g_release_gen{0}; /* futex: bumped after releases */
static std::atomic<uint32_t> g_mech_pending{0}; /* a coordinator's mechanism waiting for the release */

void exec_kick()
{
	if (!g_exec_on.load()) return;
	g_ctrl->req_seq.fetch_add(1);
	futex_wake(&g_ctrl->req_seq);
}

static uint32_t valid_request()
{
	uint32_t r = g_ctrl->suspend_req.load();
	if (r == XSB_REQ_HOLD || r == XSB_REQ_RUN) return r;
	static std::atomic<int> logged{0};
	if (!logged.exchange(1)) {
		g_ctrl->errors.fetch_add(1);
		XSB_LOG(LOG_ERROR, "suspend_req word holds 0x%08x, neither RUN nor HOLD: treated as RUN", r);
	}
	return XSB_REQ_RUN;
}

static void record_latency(bool suspend, uint64_t ns)
{
	xsb_ctrl *c = g_ctrl;
	if (suspend) {
		c->suspend_ns_last.store(ns, std::memory_order_relaxed);
		atomic_max(&c->suspend_ns_max, ns);
		c->suspend_ns_sum.fetch_add(ns, std::memory_order_relaxed);
		c->suspends.fetch_add(1, std::memory_order_relaxed);
	} else {
		c->resume_ns_last.store(ns, std::memory_order_relaxed);
		atomic_max(&c->resume_ns_max, ns);
		c->resume_ns_sum.fetch_add(ns, std::memory_order_relaxed);
		c->resumes.fetch_add(1, std::memory_order_relaxed);
	}
}

static int open_kfd()
{
	if (g_kfd) return 0;
	int r = xsb_kfd_open(&g_kfd, nullptr);
	if (r < 0) {
		g_kfd = nullptr;
		XSB_LOG(LOG_ERROR, "executor: opening /dev/kfd: %s", strerror(-r));
	}
	return r;
}

static int dbg_enable()
{
	if (g_dbg_enabled) return 0;
	uint32_t rs = XSB_KFD_RUNTIME_STATE_UNKNOWN;
	int r = xsb_kfd_dbg_enable(g_kfd, (uint32_t)getpid(), &rs);
	if (r < 0) {
		char why[256];
		XSB_LOG(LOG_ERROR, "executor: debug session: %s",
		        xsb_kfd_diagnose(XSB_KFD_OP_DBG_ENABLE, r, rs, why, sizeof why));
		return r;
	}
	g_dbg_enabled = true;
	XSB_LOG(LOG_INFO, "executor: self-debug session open (runtime_state %u)", rs);
	return 0;
}

static void dbg_disable()
{
	if (!g_dbg_enabled) return;
	int r = xsb_kfd_dbg_disable(g_kfd, (uint32_t)getpid());
	if (r < 0) XSB_LOG(LOG_WARN, "executor: closing the debug session: %s", strerror(-r));
	g_dbg_enabled = false;
}

static int current_prio(const Queue &q)
{
	int p = g_priority.load();
	return p >= 0 ? p : (int)q.prio_requested;
}

/* Holds every compute queue not yet held. Returns 0 or -errno. */
static int hold_all(uint32_t *held_count)
{
	static Queue snap[1024];
	int n = queues_snapshot(snap, 1024);
	std::vector<uint32_t> ids;
	for (int i = 0; i < n; i++)
		if (queue_is_compute(snap[i].type) && !snap[i].held && !snap[i].destroying) ids.push_back(snap[i].id);
	uint32_t already = 0;
	for (int i = 0; i < n; i++) already += snap[i].held;
	*held_count = already;
	if (ids.empty()) return 0;
	int err = 0;
	if (g_mechanism.load() == XSB_MECH_DBG_TRAP) {
		if (!g_hip_ready.load()) return 0; /* the session may not open before the runtime did */
		int r = dbg_enable();
		if (r < 0) return r;
		uint32_t total = 0;
		uint64_t t0 = now_ns();
		/* every queue created while the session is open carries EC_QUEUE_NEW */
		r = xsb_kfd_queue_snapshot(g_kfd, (uint32_t)getpid(), XSB_KFD_EC_MASK_QUEUE_NEW, nullptr, 0, &total);
		if (r < 0) XSB_LOG(LOG_WARN, "executor: queue snapshot: %s", strerror(-r));
		std::vector<uint32_t> st(ids);
		r = xsb_kfd_suspend(g_kfd, (uint32_t)getpid(), st.data(), (uint32_t)st.size(), g_cfg.grace_period, 0);
		uint64_t dt = now_ns() - t0;
		if (r < 0) {
			char why[256];
			XSB_LOG(LOG_ERROR, "executor: SUSPEND_QUEUES: %s",
			        xsb_kfd_diagnose(XSB_KFD_OP_SUSPEND, r, XSB_KFD_RUNTIME_STATE_UNKNOWN, why, sizeof why));
			return r;
		}
		record_latency(true, dt);
		for (size_t i = 0; i < st.size(); i++) {
			if (xsb_kfd_status_invalid(st[i]) || xsb_kfd_status_error(st[i])) {
				XSB_LOG(LOG_WARN, "executor: queue %u not suspended (status 0x%08x)", ids[i], st[i]);
				if (xsb_kfd_status_error(st[i])) err = -EIO;
				continue;
			}
			queue_set_held(ids[i], true);
			(*held_count)++;
		}
	} else {
		uint64_t t0 = now_ns();
		uint32_t done = 0;
		for (uint32_t id : ids) {
			Queue q;
			if (!queue_get(id, &q) || q.destroying) continue;
			int r = xsb_kfd_update_queue(g_kfd, id, q.ring_base, q.ring_size, 0, (uint32_t)current_prio(q));
			if (r < 0) {
				XSB_LOG(LOG_ERROR, "executor: UPDATE_QUEUE %u percentage 0: %s", id, strerror(-r));
				err = r;
				continue;
			}
			queue_set_held(id, true);
			(*held_count)++;
			done++;
		}
		if (done) record_latency(true, now_ns() - t0);
	}
	return err;
}

/* Releases held queues: all of them, or only those being destroyed. */
static int release(bool only_destroying)
{
	static Queue snap[1024];
	int n = queues_snapshot(snap, 1024);
	std::vector<uint32_t> ids;
	for (int i = 0; i < n; i++)
		if (snap[i].held && (!only_destroying || snap[i].destroying)) ids.push_back(snap[i].id);
	if (ids.empty()) return 0;
	int err = 0;
	uint64_t t0 = now_ns();
	if (g_mechanism.load() == XSB_MECH_DBG_TRAP) {
		std::vector<uint32_t> st(ids);
		int r = g_dbg_enabled ? xsb_kfd_resume(g_kfd, (uint32_t)getpid(), st.data(), (uint32_t)st.size()) : 0;
		if (r < 0) {
			XSB_LOG(LOG_ERROR, "executor: RESUME_QUEUES: %s", strerror(-r));
			err = r;
		} else {
			record_latency(false, now_ns() - t0);
		}
		/* a failed resume leaves nothing we can do but DISABLE, which resumes every queue */
		if (r < 0) dbg_disable();
		for (uint32_t id : ids) queue_set_held(id, false);
	} else {
		for (uint32_t id : ids) {
			Queue q;
			if (!queue_get(id, &q)) continue;
			uint32_t pct = q.update_pending ? q.pct_runtime : 100;
			uint32_t prio = (uint32_t)current_prio(q);
			int r = xsb_kfd_update_queue(g_kfd, id, q.ring_base, q.ring_size, pct, prio);
			if (r < 0) {
				XSB_LOG(LOG_ERROR, "executor: UPDATE_QUEUE %u percentage %u: %s", id, pct, strerror(-r));
				err = r;
			}
			queue_note_released(id, pct, prio);
			queue_set_held(id, false);
		}
		record_latency(false, now_ns() - t0);
	}
	g_release_gen.fetch_add(1);
	futex_wake(&g_release_gen);
	return err;
}

/* The coordinator changed the class priority: apply it to queues that are not held. */
static void reprioritise()
{
	int p = g_priority.load();
	if (p < 0 || (uint32_t)p == g_applied_prio_gen) return;
	g_applied_prio_gen = (uint32_t)p;
	static Queue snap[1024];
	int n = queues_snapshot(snap, 1024);
	for (int i = 0; i < n; i++) {
		if (snap[i].held || snap[i].destroying || snap[i].prio_applied == (uint32_t)p) continue;
		int r = xsb_kfd_update_queue(g_kfd, snap[i].id, snap[i].ring_base, snap[i].ring_size, snap[i].pct_runtime,
		                             (uint32_t)p);
		if (r == 0) queue_note_released(snap[i].id, snap[i].pct_runtime, (uint32_t)p);
	}
}

static bool any_held()
{
	static Queue snap[1024];
	int n = queues_snapshot(snap, 1024);
	for (int i = 0; i < n; i++)
		if (snap[i].held) return true;
	return false;
}

/* With the queue-operation lock held and nothing held: leaving dbg-trap closes the debug
 * session (the process would otherwise stay under a debugger it no longer uses). */
static void switch_mechanism(uint32_t m)
{
	uint32_t cur = g_mechanism.load();
	g_mech_pending.store(0);
	if (m == cur) return;
	if (cur == XSB_MECH_DBG_TRAP) {
		tl_kfd_pass++;
		dbg_disable();
		tl_kfd_pass--;
	}
	g_mechanism.store(m);
	XSB_LOG(LOG_INFO, "executor: mechanism %s (the coordinator's)", m == XSB_MECH_DEACTIVATE ? "deactivate" : "dbg-trap");
}

uint32_t exec_request_mechanism(uint32_t m, bool *pending)
{
	QopLock op;
	*pending = false;
	if (m == g_mechanism.load()) {
		g_mech_pending.store(0);
	} else if (any_held()) {
		g_mech_pending.store(m); /* never switch under held queues: they are released the way they were held */
		*pending = true;
		exec_kick();
	} else {
		switch_mechanism(m);
	}
	return g_mechanism.load();
}

static void publish(uint32_t state, int err, uint32_t seq, uint32_t held)
{
	g_ctrl->exec_error.store(err);
	g_ctrl->held_queues.store(held);
	g_ctrl->exec_state.store(state);
	g_ctrl->ack_seq.store(seq);
	futex_wake(&g_ctrl->ack_seq);
}

static void *exec_main(void *)
{
	tl_depth = 1;
	tl_kfd_pass = 1; /* our own ioctls go straight to the driver */
	g_applied_prio_gen = (uint32_t)g_priority.load();
	if (open_kfd() < 0) {
		publish(XSB_EXEC_ERROR, -ENODEV, g_ctrl->req_seq.load(), 0);
		g_exec_on.store(0);
		return nullptr;
	}
	publish(XSB_EXEC_RUNNING, 0, g_ctrl->req_seq.load(), 0);
	for (;;) {
		uint32_t seq = g_ctrl->req_seq.load();
		bool stop = g_exec_stop.load();
		bool want_hold = !stop && valid_request() == XSB_REQ_HOLD && g_attached.load() && !g_fail_open.load() &&
		                 !g_exiting.load();
		int err = 0;
		uint32_t held = 0;
		{
			QopLock op;
			release(true); /* queues being destroyed first, whatever the request */
			if (want_hold) {
				if (g_ctrl->exec_state.load() != XSB_EXEC_HELD) g_ctrl->exec_state.store(XSB_EXEC_SUSPENDING);
				err = hold_all(&held);
				if (err < 0) release(false);
			} else {
				if (g_ctrl->held_queues.load()) g_ctrl->exec_state.store(XSB_EXEC_RESUMING);
				err = release(false);
			}
			uint32_t pm = g_mech_pending.load();
			if (pm && !any_held()) switch_mechanism(pm);
			reprioritise();
		}
		if (err < 0) g_ctrl->errors.fetch_add(1);
		uint32_t state = err < 0 ? XSB_EXEC_ERROR : want_hold ? XSB_EXEC_HELD : XSB_EXEC_RUNNING;
		publish(state, err, seq, err < 0 ? 0 : held);
		if (stop) break;
		futex_wait(&g_ctrl->req_seq, seq, 1000000000ull);
	}
	{
		QopLock op;
		release(false);
		dbg_disable();
	}
	publish(XSB_EXEC_IDLE, 0, g_ctrl->req_seq.load(), 0);
	return nullptr;
}

void exec_start()
{
	int expected = 0;
	if (!g_exec_on.compare_exchange_strong(expected, 1)) return;
	g_exec_stop.store(0);
	if (pthread_create(&g_exec, nullptr, exec_main, nullptr) != 0) g_exec_on.store(0);
}

void exec_release_for_destroy(uint32_t id)
{
	if (!g_exec_on.load()) return;
	uint64_t deadline = now_ns() + 10000000000ull;
	for (;;) {
		Queue q;
		if (!queue_get(id, &q) || !q.held) return;
		uint32_t g = g_release_gen.load();
		exec_kick();
		uint64_t now = now_ns();
		if (now >= deadline) {
			XSB_LOG(LOG_ERROR, "queue %u still held 10 s after its destroy began", id);
			return;
		}
		futex_wait(&g_release_gen, g, deadline - now);
	}
}

void exec_shutdown()
{
	if (!g_exec_on.load()) return;
	g_exec_stop.store(1);
	exec_kick();
	pthread_join(g_exec, nullptr);
	g_exec_on.store(0);
	if (g_kfd) {
		tl_kfd_pass++;
		xsb_kfd_close(g_kfd);
		tl_kfd_pass--;
		g_kfd = nullptr;
	}
}

void exec_child_reset()
{
	/* the parent's fd serves the parent only (EBADF here); the child's KFD is its own */
	g_exec_on.store(0);
	g_exec_stop.store(0);
	g_kfd = nullptr;
	g_dbg_enabled = false;
}

} // namespace xsb
