/*
 * dataplane.h - the engine's data-plane thread. It maps the attached shims' control blocks,
 * sleeps on their activity doorbells (futex_waitv) plus one internal futex for plan changes,
 * and applies the plan's decision table (policy.h) to gates and suspend requests without
 * entering JavaScript. It renews every block's lease, watches the executors' acks, and reports
 * every decision with its timestamps as events.
 *
 * Trust: a block's header (magic, version, size, checksum, pid) is checked again at every step
 * before the block is acted on (every step after a doorbell, and every lease/4 with the lease
 * renewal). A block that fails is no longer trusted at once: nothing more is written to it, no
 * ack is awaited from it (the process counts as detached here) and an "untrusted" event asks
 * TypeScript to close the connection; the shim then fails open by itself and reconnects with a
 * new block.
 *
 * Order of operations (hybrid): throttle = gate closed, then HOLD posted; release = RUN posted,
 * the gate opens once the executor acknowledged (or ack_timeout passed: nothing stays held
 * because an executor is slow).
 */
#ifndef XSB_ENGINE_DATAPLANE_H
#define XSB_ENGINE_DATAPLANE_H

#include <stdint.h>
#include <sys/types.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ctrl_map.h"
#include "events.h"
#include "policy.h"

namespace xsbe {

struct ProcSnap {
	uint64_t conn;
	pid_t pid;
	std::string shm;
	uint32_t gate, suspend_req, req_seq, ack_seq, exec_state, held_queues, activity, queues, errors, lv1_threshold;
	int32_t exec_error;
	uint64_t lease_deadline_ns, launches, gated_waits, gated_wait_ns, lv1_waits, suspends, resumes;
	uint64_t suspend_ns_last, suspend_ns_max, suspend_ns_sum, resume_ns_last, resume_ns_max, resume_ns_sum;
	uint64_t fail_open_ns, activity_transitions;
	bool engine_gate_closed, engine_hold, awaiting_ack;
};

struct EngineStats {
	uint64_t wakeups = 0, decisions = 0, futex_fallback = 0, untrusted = 0;
	bool polling = false;
};

class DataPlane {
public:
	explicit DataPlane(EventSink *ev) : ev_(ev) {}
	~DataPlane() { stop(); }
	void start();
	void stop();
	bool attach(uint64_t conn, pid_t pid, uid_t uid, const std::string &shm, const MapOptions &o, std::string *why);
	bool detach(uint64_t conn);
	void set_plan(const Plan &p);
	/* Opens every gate, posts RUN where this engine asked for HOLD, switches to policy none and
	 * waits (bounded) until the executors report they run again. Returns how many stayed held. */
	int release_all(uint64_t timeout_ns);
	std::vector<ProcSnap> snapshot();
	EngineStats stats();

private:
	struct Proc {
		uint64_t conn = 0;
		pid_t pid = 0;
		xsb_ctrl *c = nullptr;
		std::string shm;
		bool busy = false;
		uint32_t doorbell = 0;
		uint64_t busy_seen = 0, busy_shim = 0, idle_since = 0;
		bool gate_closed = false;
		bool hold = false;
		bool awaiting = false;
		bool open_after_ack = false;
		uint32_t await_seq = 0;
		uint64_t posted_at = 0;
		uint64_t lease_at = 0;
		bool warned_activity = false;
	};
	void run();
	bool trusted(Proc &p, uint64_t now); /* mu_ held; false: reported, the caller forgets p */
	uint64_t step(uint64_t now, std::vector<struct WaitItem> *waits); /* mu_ held; returns deadline */
	void observe(Proc &p, uint64_t now);
	void apply(Proc &p, const Decision &d, uint64_t now);
	void post(Proc &p, uint32_t req, uint64_t now, const Decision *why);
	void set_gate(Proc &p, bool closed, uint64_t now, const Decision *why);
	void check_ack(Proc &p, uint64_t now, uint32_t ack);
	void emit(Event e);
	void emit_log(const char *level, const std::string &msg, uint64_t conn = 0);
	void flush_events();

	EventSink *ev_;
	std::mutex mu_;
	std::map<uint64_t, Proc> procs_;
	std::vector<xsb_ctrl *> graveyard_;
	std::vector<Event> pending_; /* mu_ */
	Plan plan_;
	std::atomic<uint32_t> plan_seq_{0};
	std::atomic<bool> stop_{false};
	std::thread th_;
	bool running_ = false;
	EngineStats stats_;
};

} // namespace xsbe

#endif
