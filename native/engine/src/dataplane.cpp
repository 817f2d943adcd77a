#include "dataplane.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>

#include "futex.h"

namespace xsbe {

static bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

/* mu_ held. Events wait until the step's writes are done: reporting (a mutex and a wakeup of
 * the JS thread) must not delay the next gate or request. */
void DataPlane::emit(Event e) { pending_.push_back(std::move(e)); }

void DataPlane::emit_log(const char *level, const std::string &msg, uint64_t conn)
{
	Event e;
	e.kind = "log";
	e.conn = conn;
	e.text = msg;
	e.str("level", level);
	emit(std::move(e));
}

void DataPlane::flush_events()
{
	std::vector<Event> evs;
	{
		std::lock_guard<std::mutex> g(mu_);
		evs.swap(pending_);
	}
	for (Event &e : evs) ev_->push(std::move(e));
}

void DataPlane::start()
{
	if (running_) return;
	stop_.store(false);
	running_ = true;
	th_ = std::thread([this] { run(); });
}

void DataPlane::stop()
{
	if (!running_) return;
	stop_.store(true);
	plan_seq_.fetch_add(1);
	futex_wake_all(&plan_seq_);
	th_.join();
	running_ = false;
	std::lock_guard<std::mutex> g(mu_);
	for (xsb_ctrl *c : graveyard_) ctrl_unmap(c);
	graveyard_.clear();
}

bool DataPlane::attach(uint64_t conn, pid_t pid, uid_t uid, const std::string &shm, const MapOptions &o,
                       std::string *why)
{
	xsb_ctrl *c = ctrl_map(shm, pid, uid, o, why);
	if (!c) return false;
	std::lock_guard<std::mutex> g(mu_);
	if (procs_.count(conn)) {
		ctrl_unmap(c);
		*why = "connection already attached";
		return false;
	}
	Proc p;
	p.conn = conn;
	p.pid = pid;
	p.c = c;
	p.shm = shm;
	/* nothing is held by a new attachment: the plan decides from here on */
	c->gate.store(XSB_GATE_OPEN);
	futex_wake_all(&c->gate);
	p.doorbell = c->activity_doorbell.load();
	p.busy = c->activity.load() == XSB_ACT_BUSY;
	if (p.busy) {
		p.busy_seen = mono_ns();
		p.busy_shim = c->busy_since_ns.load();
	}
	if (plan_.lease_ns) {
		c->lease_deadline_ns.store(mono_ns() + plan_.lease_ns);
		p.lease_at = mono_ns();
	}
	procs_[conn] = p;
	/* Mapped and verified: the name has served its purpose. Unlinking it here, not only in the
	 * shim after ack{of:"hello"}, leaves nothing in /dev/shm when the shim dies between hello
	 * and that ack. Both mappings stay valid; the shim's own unlink then finds no name, which it
	 * ignores. Only a block that passed ctrl_map (owned by the peer's uid, naming the peer's pid)
	 * gets here, so a peer can only unlink its own names. */
	if (shm_unlink(shm.c_str()) != 0 && errno != ENOENT)
		emit_log("warn", "cannot unlink the control block name " + shm + " of pid " + std::to_string(pid) + ": " +
		                         strerror(errno) + "; it stays in /dev/shm until the shim removes it",
		         conn);
	plan_seq_.fetch_add(1);
	futex_wake_all(&plan_seq_);
	return true;
}

bool DataPlane::trusted(Proc &p, uint64_t now)
{
	std::string bad;
	if (ctrl_header_ok(p.c, p.pid, &bad)) return true;
	stats_.untrusted++;
	Event e;
	e.kind = "untrusted";
	e.conn = p.conn;
	e.text = "control block " + p.shm + " of pid " + std::to_string(p.pid) + " now has a wrong " + bad;
	e.num("pid", p.pid).num("t", (double)now).str("shm", p.shm).str("field", bad);
	emit(std::move(e));
	return false;
}

bool DataPlane::detach(uint64_t conn)
{
	{
		std::lock_guard<std::mutex> g(mu_);
		auto it = procs_.find(conn);
		if (it == procs_.end()) return false;
		Proc &p = it->second;
		/* if the process lives on, nothing stays held by us (it fails open on the closed socket too);
		 * a block whose header no longer checks out is not written to at all */
		uint64_t now = mono_ns();
		if (trusted(p, now)) {
			if (p.hold || p.awaiting) post(p, XSB_REQ_RUN, now, nullptr);
			if (p.gate_closed || p.c->gate.load() != XSB_GATE_OPEN) set_gate(p, false, now, nullptr);
		}
		graveyard_.push_back(p.c);
		procs_.erase(it);
		plan_seq_.fetch_add(1);
		futex_wake_all(&plan_seq_);
	}
	flush_events();
	return true;
}

void DataPlane::set_plan(const Plan &p)
{
	std::lock_guard<std::mutex> g(mu_);
	plan_ = p;
	plan_seq_.fetch_add(1);
	futex_wake_all(&plan_seq_);
}

int DataPlane::release_all(uint64_t timeout_ns)
{
	std::vector<std::pair<xsb_ctrl *, uint32_t>> waiting;
	{
		std::lock_guard<std::mutex> g(mu_);
		plan_.policy = POL_NONE;
		uint64_t now = mono_ns();
		for (auto it = procs_.begin(); it != procs_.end();) {
			Proc &p = it->second;
			if (!trusted(p, now)) {
				graveyard_.push_back(p.c);
				it = procs_.erase(it);
				continue;
			}
			++it;
			if (p.gate_closed || p.c->gate.load() != XSB_GATE_OPEN) set_gate(p, false, now, nullptr);
			if (p.hold || p.awaiting) {
				post(p, XSB_REQ_RUN, now, nullptr);
				waiting.emplace_back(p.c, p.await_seq);
			}
		}
		plan_seq_.fetch_add(1);
		futex_wake_all(&plan_seq_);
	}
	flush_events();
	uint64_t end = mono_ns() + timeout_ns;
	int left = 0;
	for (;;) {
		left = 0;
		{
			std::lock_guard<std::mutex> g(mu_); /* the mappings stay valid while listed here */
			for (auto &w : waiting) {
				bool mapped = false;
				for (auto &kv : procs_) mapped |= kv.second.c == w.first;
				if (!mapped) continue;
				uint32_t st = w.first->exec_state.load();
				bool acked = seq_ge(w.first->ack_seq.load(), w.second);
				if (!acked && (st == XSB_EXEC_HELD || st == XSB_EXEC_SUSPENDING || st == XSB_EXEC_RESUMING)) left++;
			}
		}
		if (!left || mono_ns() >= end) break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, nullptr);
	}
	return left;
}

std::vector<ProcSnap> DataPlane::snapshot()
{
	std::lock_guard<std::mutex> g(mu_);
	std::vector<ProcSnap> out;
	for (auto &kv : procs_) {
		const Proc &p = kv.second;
		const xsb_ctrl *c = p.c;
		ProcSnap s;
		s.conn = p.conn;
		s.pid = p.pid;
		s.shm = p.shm;
		s.gate = c->gate.load();
		s.suspend_req = c->suspend_req.load();
		s.req_seq = c->req_seq.load();
		s.ack_seq = c->ack_seq.load();
		s.exec_state = c->exec_state.load();
		s.exec_error = c->exec_error.load();
		s.held_queues = c->held_queues.load();
		s.activity = c->activity.load();
		s.queues = c->queues.load();
		s.errors = c->errors.load();
		s.lv1_threshold = c->lv1_threshold.load();
		s.lease_deadline_ns = c->lease_deadline_ns.load();
		s.launches = c->launches.load();
		s.gated_waits = c->gated_waits.load();
		s.gated_wait_ns = c->gated_wait_ns.load();
		s.lv1_waits = c->lv1_waits.load();
		s.suspends = c->suspends.load();
		s.resumes = c->resumes.load();
		s.suspend_ns_last = c->suspend_ns_last.load();
		s.suspend_ns_max = c->suspend_ns_max.load();
		s.suspend_ns_sum = c->suspend_ns_sum.load();
		s.resume_ns_last = c->resume_ns_last.load();
		s.resume_ns_max = c->resume_ns_max.load();
		s.resume_ns_sum = c->resume_ns_sum.load();
		s.fail_open_ns = c->fail_open_ns.load();
		s.activity_transitions = c->activity_transitions.load();
		s.engine_gate_closed = p.gate_closed;
		s.engine_hold = p.hold;
		s.awaiting_ack = p.awaiting;
		out.push_back(s);
	}
	return out;
}

EngineStats DataPlane::stats()
{
	std::lock_guard<std::mutex> g(mu_);
	return stats_;
}

void DataPlane::set_gate(Proc &p, bool closed, uint64_t now, const Decision *why)
{
	p.c->gate.store(closed ? XSB_GATE_CLOSED : XSB_GATE_OPEN, std::memory_order_release);
	if (!closed) futex_wake_all(&p.c->gate); /* launching threads wait on it */
	p.gate_closed = closed;
	(void)now;
	Event e;
	e.kind = "gate";
	e.conn = p.conn;
	/* the time the word was written, not the step's start: what the benchmark reports */
	e.num("closed", closed ? 1 : 0).num("t", (double)mono_ns());
	if (why && why->by_conn) {
		auto it = procs_.find(why->by_conn);
		if (it != procs_.end()) {
			e.num("by", (double)why->by_conn)
			        .num("t_busy", (double)it->second.busy_shim)
			        .num("t_seen", (double)it->second.busy_seen);
		}
	}
	emit(std::move(e));
}

void DataPlane::post(Proc &p, uint32_t req, uint64_t now, const Decision *why)
{
	xsb_ctrl *c = p.c;
	c->suspend_req.store(req, std::memory_order_release);
	uint32_t seq = c->req_seq.fetch_add(1) + 1;
	futex_wake_all(&c->req_seq);
	p.hold = req == XSB_REQ_HOLD;
	p.awaiting = true;
	p.await_seq = seq;
	p.posted_at = now;
	Event e;
	e.kind = "request";
	e.conn = p.conn;
	e.str("what", p.hold ? "hold" : "run");
	e.num("seq", seq).num("t", (double)mono_ns());
	if (why && why->by_conn) {
		auto it = procs_.find(why->by_conn);
		if (it != procs_.end()) {
			e.num("by", (double)why->by_conn)
			        .num("t_busy", (double)it->second.busy_shim)
			        .num("t_seen", (double)it->second.busy_seen);
		}
	}
	emit(std::move(e));
}

void DataPlane::check_ack(Proc &p, uint64_t now, uint32_t ack)
{
	if (!p.awaiting) return;
	xsb_ctrl *c = p.c;
	uint32_t st = c->exec_state.load();
	bool done = seq_ge(ack, p.await_seq) && st != XSB_EXEC_SUSPENDING && st != XSB_EXEC_RESUMING;
	bool timeout = !done && now >= p.posted_at + plan_.ack_timeout_ns;
	if (!done && !timeout) return;
	p.awaiting = false;
	Event e;
	e.kind = "ack";
	e.conn = p.conn;
	e.str("what", p.hold ? "hold" : "run");
	e.num("seq", p.await_seq)
	        .num("ack_seq", ack)
	        .num("exec_state", st)
	        .num("exec_error", c->exec_error.load())
	        .num("held_queues", c->held_queues.load())
	        .num("t_posted", (double)p.posted_at)
	        .num("t", (double)now)
	        .num("timeout", timeout ? 1 : 0);
	emit(std::move(e));
	if (timeout)
		emit_log("warn",
		         "pid " + std::to_string(p.pid) + " did not acknowledge " + (p.hold ? "HOLD" : "RUN") + " within " +
		                 std::to_string(plan_.ack_timeout_ns / 1000000) + " ms (exec_state " + std::to_string(st) + ")",
		         p.conn);
	if (p.open_after_ack) {
		p.open_after_ack = false;
		set_gate(p, false, now, nullptr);
	}
}

void DataPlane::observe(Proc &p, uint64_t now)
{
	xsb_ctrl *c = p.c;
	p.doorbell = c->activity_doorbell.load(std::memory_order_acquire);
	uint32_t a = c->activity.load(std::memory_order_acquire);
	if (a != XSB_ACT_BUSY && a != XSB_ACT_IDLE && !p.warned_activity) {
		p.warned_activity = true;
		emit_log("warn", "pid " + std::to_string(p.pid) + " activity word holds " + std::to_string(a) + "; read as idle",
		         p.conn);
	}
	bool busy = a == XSB_ACT_BUSY;
	if (busy == p.busy) return;
	p.busy = busy;
	Event e;
	e.kind = "activity";
	e.conn = p.conn;
	e.num("busy", busy ? 1 : 0).num("t_seen", (double)now);
	if (busy) {
		p.busy_seen = now;
		p.busy_shim = c->busy_since_ns.load();
		e.num("t_shim", (double)p.busy_shim);
	} else {
		p.idle_since = now;
		e.num("t_shim", (double)c->idle_since_ns.load());
	}
	emit(std::move(e));
}

void DataPlane::apply(Proc &p, const Decision &d, uint64_t now)
{
	if (d.hold && !p.hold) {
		if (d.gate_closed && !p.gate_closed) set_gate(p, true, now, &d);
		p.open_after_ack = false;
		post(p, XSB_REQ_HOLD, now, &d);
	}
	if (d.gate_closed && !p.gate_closed) set_gate(p, true, now, &d);
	if (d.gate_closed) p.open_after_ack = false;
	if (!d.hold && p.hold) {
		post(p, XSB_REQ_RUN, now, nullptr);
		if (p.gate_closed && !d.gate_closed) p.open_after_ack = true;
	}
	if (!d.gate_closed && p.gate_closed && !p.open_after_ack) set_gate(p, false, now, nullptr);
}

uint64_t DataPlane::step(uint64_t now, std::vector<WaitItem> *waits)
{
	for (xsb_ctrl *c : graveyard_) ctrl_unmap(c);
	graveyard_.clear();
	uint64_t deadline = 0;
	auto at = [&deadline](uint64_t t) {
		if (t && (!deadline || t < deadline)) deadline = t;
	};
	std::vector<Activity> acts;
	acts.reserve(procs_.size());
	for (auto it = procs_.begin(); it != procs_.end();) {
		Proc &p = it->second;
		/* before anything is read from or written to the block in this step */
		if (!trusted(p, now)) {
			graveyard_.push_back(p.c); /* unmapped at the next step, like a detached block */
			it = procs_.erase(it);
			continue;
		}
		++it;
		observe(p, now);
		acts.push_back(Activity{p.conn, p.busy, p.idle_since});
		if (plan_.lease_ns) {
			uint64_t every = plan_.lease_ns / 4;
			if (now >= p.lease_at + every) {
				p.c->lease_deadline_ns.store(now + plan_.lease_ns);
				p.lease_at = now;
			}
			at(p.lease_at + every);
		}
	}
	uint64_t wake = 0;
	std::vector<Decision> ds = decide(plan_, acts, now, &wake);
	at(wake);
	stats_.decisions++;
	for (const Decision &d : ds) {
		auto it = procs_.find(d.conn);
		if (it != procs_.end()) apply(it->second, d, now);
	}
	/* processes attached but not (yet) in the plan are left open */
	for (auto &kv : procs_) {
		Proc &p = kv.second;
		bool planned = false;
		for (const Decision &d : ds) planned |= d.conn == p.conn;
		if (!planned) apply(p, Decision{p.conn, false, false, false, 0}, now);
		/* the value waited on is the one judged: a later ack wakes the wait */
		uint32_t ack = p.c->ack_seq.load(std::memory_order_acquire);
		check_ack(p, now, ack);
		if (p.awaiting) at(p.posted_at + plan_.ack_timeout_ns);
		waits->push_back(WaitItem{&p.c->activity_doorbell, p.doorbell});
		if (p.awaiting) waits->push_back(WaitItem{&p.c->ack_seq, ack});
	}
	return deadline;
}

void DataPlane::run()
{
	bool fallback = false;
	std::vector<WaitItem> waits;
	while (!stop_.load()) {
		waits.clear();
		uint32_t seq = plan_seq_.load(std::memory_order_acquire);
		waits.push_back(WaitItem{&plan_seq_, seq});
		uint64_t deadline, poll;
		{
			std::lock_guard<std::mutex> g(mu_);
			stats_.wakeups++;
			deadline = step(mono_ns(), &waits);
			poll = plan_.poll_ns;
			stats_.polling = fallback || poll;
		}
		flush_events();
		if (poll || fallback) {
			uint64_t now = mono_ns(), until = now + (poll ? poll : 100000);
			if (deadline && deadline < until) until = deadline;
			struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
			continue;
		}
		if (waits.size() > 128) {
			/* futex_waitv takes 128 words: beyond that, the rest are checked at least every ms */
			waits.resize(128);
			uint64_t soon = mono_ns() + 1000000;
			if (!deadline || soon < deadline) deadline = soon;
		}
		int r = futex_waitv_abs(waits.data(), waits.size(), deadline);
		if (r == -ENOSYS) {
			fallback = true;
			std::lock_guard<std::mutex> g(mu_);
			stats_.futex_fallback = 1;
			emit_log("warn", "futex_waitv is not available (Linux < 5.16): polling every 100 us instead");
		} else if (r < 0 && r != -ETIMEDOUT && r != -EINTR) {
			/* EFAULT: a block was unmapped while listed; the next step rebuilds the list */
			struct timespec ts = {0, 100000};
			nanosleep(&ts, nullptr);
		}
	}
}

} // namespace xsbe
