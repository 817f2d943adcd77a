/*
 * ctrl_block.cpp - where g_ctrl lives, and how a coordinator's control block takes its place.
 *
 * g_ctrl is one fixed address for the life of the process: a shared anonymous page at load,
 * later the POSIX shm block of each coordinator connection, moved over the same address with
 * mremap(MREMAP_FIXED). Launching threads, the executor and the tracker therefore never hold
 * a stale pointer, nothing needs an atomic pointer on the launch path, and a block of a dead
 * coordinator can be unmapped at once. The replacement happens under the kernel's mmap lock:
 * a thread touching the page meanwhile faults and waits, it never sees a hole.
 *
 * Words the shim writes between the copy and the swap would land in the old page; a second
 * mapping of the old page (mremap with old_size 0, which duplicates a shared mapping) lets
 * the publisher fold those late increments into the new block and wake futex waiters that
 * still sleep on the old page's key. Activity transitions are kept out of that window by the
 * activity lock (they are state, not counters), which is held until the fold is done (the
 * activity tracker takes the launches counter for its launch sequence).
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace xsb {

static xsb_ctrl g_static_ctrl; /* before load, or if the page cannot be mapped: never published */
xsb_ctrl *g_ctrl = &g_static_ctrl;
static bool g_movable = false;     /* g_ctrl is our own page, replaceable by a shm block */
static char g_name[64];
static bool g_linked = false;

/* The page at load: shared (not private) so that mremap can alias it during a swap. */
void ctrl_map_initial()
{
	void *p = mmap(nullptr, XSB_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		g_ctrl = &g_static_ctrl;
		g_movable = false;
		return;
	}
	g_ctrl = static_cast<xsb_ctrl *>(p);
	g_movable = true;
}

/* A forked child inherits the parent's shared page (or shm block): writes there would be the
 * parent's. It gets a fresh page at the same address. */
void ctrl_child_reset()
{
	g_linked = false; /* a name in the parent's table is the parent's to unlink */
	g_name[0] = 0;
	if (!g_movable) return;
	void *p = mmap(static_cast<void *>(g_ctrl), XSB_CTRL_SIZE, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		/* not the parent's words either way: a private block, never published */
		g_ctrl = &g_static_ctrl;
		g_movable = false;
	}
}


void ctrl_unlink()
{
	if (g_linked) {
		shm_unlink(g_name);
		g_linked = false;
	}
}

/* The [S] words carried from one block to the next (atomic loads: other threads write them). */
struct Carry {
	uint32_t req_seq, ack_seq, exec_state, held_queues, activity, activity_doorbell, queues, errors;
	int32_t exec_error;
	uint64_t busy_since, idle_since, transitions, launches, gated_waits, gated_wait_ns, lv1_waits, suspends,
	    resumes, s_last, s_max, s_sum, r_last, r_max, r_sum;
};

static Carry carry_of(const xsb_ctrl *c)
{
	Carry k;
	k.req_seq = c->req_seq.load();
	k.ack_seq = c->ack_seq.load();
	k.exec_state = c->exec_state.load();
	k.exec_error = c->exec_error.load();
	k.held_queues = c->held_queues.load();
	k.activity = c->activity.load();
	k.activity_doorbell = c->activity_doorbell.load();
	k.busy_since = c->busy_since_ns.load();
	k.idle_since = c->idle_since_ns.load();
	k.transitions = c->activity_transitions.load();
	k.launches = c->launches.load();
	k.gated_waits = c->gated_waits.load();
	k.gated_wait_ns = c->gated_wait_ns.load();
	k.lv1_waits = c->lv1_waits.load();
	k.suspends = c->suspends.load();
	k.resumes = c->resumes.load();
	k.s_last = c->suspend_ns_last.load();
	k.s_max = c->suspend_ns_max.load();
	k.s_sum = c->suspend_ns_sum.load();
	k.r_last = c->resume_ns_last.load();
	k.r_max = c->resume_ns_max.load();
	k.r_sum = c->resume_ns_sum.load();
	k.queues = c->queues.load();
	k.errors = c->errors.load();
	return k;
}

/* A fresh block for a new coordinator: the shim's state and counters carry over, the
 * coordinator's words start as a new coordinator expects them (gate open, RUN, no lease, the
 * shim's own Lv1 settings), fail_open_ns is 0 (attached). */
static void fill(xsb_ctrl *n, const Carry &k)
{
	memset(static_cast<void *>(n), 0, XSB_CTRL_SIZE);
	n->magic = XSB_CTRL_MAGIC;
	n->version = XSB_CTRL_VERSION;
	n->size = XSB_CTRL_SIZE;
	n->pid = (uint32_t)getpid();
	n->cls = g_class.load();
	n->mechanism = g_mechanism.load();
	n->header_sum = xsb_ctrl_header_sum(n);
	n->gate.store(XSB_GATE_OPEN);
	n->suspend_req.store(XSB_REQ_RUN);
	n->req_seq.store(k.req_seq);
	n->lv1_threshold.store(g_cfg.lv1_threshold);
	n->lv1_batch.store(g_cfg.lv1_batch);
	n->lease_deadline_ns.store(0);
	n->ack_seq.store(k.ack_seq);
	n->exec_state.store(k.exec_state);
	n->exec_error.store(k.exec_error);
	n->held_queues.store(k.held_queues);
	n->activity.store(k.activity);
	n->activity_doorbell.store(k.activity_doorbell);
	n->busy_since_ns.store(k.busy_since);
	n->idle_since_ns.store(k.idle_since);
	n->activity_transitions.store(k.transitions);
	n->launches.store(k.launches);
	n->gated_waits.store(k.gated_waits);
	n->gated_wait_ns.store(k.gated_wait_ns);
	n->lv1_waits.store(k.lv1_waits);
	n->suspends.store(k.suspends);
	n->resumes.store(k.resumes);
	n->suspend_ns_last.store(k.s_last);
	n->suspend_ns_max.store(k.s_max);
	n->suspend_ns_sum.store(k.s_sum);
	n->resume_ns_last.store(k.r_last);
	n->resume_ns_max.store(k.r_max);
	n->resume_ns_sum.store(k.r_sum);
	n->queues.store(k.queues);
	n->errors.store(k.errors);
	n->fail_open_ns.store(0);
}

/* Late writes into the old page (between the copy and the swap) folded into the new one:
 * counters by their increment, "last" words only where nobody wrote the new block since. */
static void fold(xsb_ctrl *dst, const xsb_ctrl *old, const Carry &k)
{
	auto add64 = [](std::atomic<uint64_t> &d, uint64_t now, uint64_t then) {
		if (now != then) d.fetch_add(now - then);
	};
	add64(dst->launches, old->launches.load(), k.launches);
	add64(dst->gated_waits, old->gated_waits.load(), k.gated_waits);
	add64(dst->gated_wait_ns, old->gated_wait_ns.load(), k.gated_wait_ns);
	add64(dst->lv1_waits, old->lv1_waits.load(), k.lv1_waits);
	add64(dst->suspends, old->suspends.load(), k.suspends);
	add64(dst->resumes, old->resumes.load(), k.resumes);
	add64(dst->suspend_ns_sum, old->suspend_ns_sum.load(), k.s_sum);
	add64(dst->resume_ns_sum, old->resume_ns_sum.load(), k.r_sum);
	uint32_t e = old->errors.load();
	if (e != k.errors) dst->errors.fetch_add(e - k.errors);
	atomic_max(&dst->suspend_ns_max, old->suspend_ns_max.load());
	atomic_max(&dst->resume_ns_max, old->resume_ns_max.load());
	uint64_t s = k.s_last, r = k.r_last;
	dst->suspend_ns_last.compare_exchange_strong(s, old->suspend_ns_last.load());
	dst->resume_ns_last.compare_exchange_strong(r, old->resume_ns_last.load());
	uint32_t q = k.queues;
	dst->queues.compare_exchange_strong(q, old->queues.load());
	uint32_t rs = k.req_seq;
	dst->req_seq.compare_exchange_strong(rs, old->req_seq.load());
}

/* Creates the shm block of a new connection and moves it over g_ctrl. Returns its name (for
 * hello) or nullptr. Mode 0600, exclusive create, random suffix: a new name per connection,
 * so a coordinator never maps a block another one had. */
const char *ctrl_publish()
{
	if (!g_movable) return nullptr;
	ctrl_unlink();
	uint64_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) rnd = now_ns() ^ ((uint64_t)getpid() << 32);
	snprintf(g_name, sizeof g_name, "/xsb-%u-%d-%016llx", (unsigned)getuid(), (int)getpid(), (unsigned long long)rnd);
	mode_t old_mask = umask(077);
	int fd = shm_open(g_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	umask(old_mask);
	if (fd < 0) {
		XSB_LOG(LOG_WARN, "shm_open(%s): %s; no control block", g_name, strerror(errno));
		return nullptr;
	}
	g_linked = true;
	if (fchmod(fd, 0600) != 0 || ftruncate(fd, XSB_CTRL_SIZE) != 0) {
		XSB_LOG(LOG_WARN, "sizing %s: %s", g_name, strerror(errno));
		close(fd);
		ctrl_unlink();
		return nullptr;
	}
	void *n = mmap(nullptr, XSB_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (n == MAP_FAILED) {
		ctrl_unlink();
		return nullptr;
	}
	auto *nb = static_cast<xsb_ctrl *>(n);
	void *at = static_cast<void *>(g_ctrl);

	activity_lock();
	Carry k = carry_of(g_ctrl);
	fill(nb, k);
	void *alias = mremap(at, 0, XSB_CTRL_SIZE, MREMAP_MAYMOVE); /* the old page, kept visible */
	void *moved = mremap(n, XSB_CTRL_SIZE, XSB_CTRL_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, at);
	if (moved == MAP_FAILED) {
		activity_unlock();
		XSB_LOG(LOG_WARN, "moving the control block into place: %s", strerror(errno));
		munmap(n, XSB_CTRL_SIZE);
		if (alias != MAP_FAILED) munmap(alias, XSB_CTRL_SIZE);
		ctrl_unlink();
		return nullptr;
	}
	auto *ob = alias != MAP_FAILED ? static_cast<xsb_ctrl *>(alias) : nullptr;
	/* folded before the activity lock is released: the tracker's idle decision (under that
	 * lock) reads the launches counter as its launch sequence */
	if (ob) fold(g_ctrl, ob, k);
	activity_unlock();
	if (ob) {
		/* waiters still asleep on the old page's futex key re-read the new block */
		futex_wake(&ob->gate);
		futex_wake(&ob->req_seq);
		futex_wake(&ob->ack_seq);
		munmap(alias, XSB_CTRL_SIZE);
	}
	futex_wake(&g_ctrl->gate);
	futex_wake(&g_ctrl->req_seq);
	return g_name;
}

} // namespace xsb
