/*
 * policy.h - the pure decision table of the data plane. xsched-bridge/src/coordinator/policy.ts
 * implements the same table; a test feeds both the same cases.
 *
 * Per GPU g, the winning level is the highest priority among processes on g that are busy, or
 * went idle less than the hysteresis ago (only online processes report activity). A process on
 * any GPU whose level is above its own priority is throttled; what throttling means depends on
 * the policy:
 *   none      nothing (observe and record)
 *   lv1       gate closed
 *   suspend   HOLD
 *   hybrid    gate closed + HOLD (applied gate first; released RUN first, gate after the ack)
 *   adaptive  gate closed + HOLD only where allow_hold (TS's drain-vs-cost estimate)
 * gate_enabled = false (XSched provides Lv1) leaves every gate open.
 */
#ifndef XSB_ENGINE_POLICY_H
#define XSB_ENGINE_POLICY_H

#include <stdint.h>

#include <vector>

namespace xsbe {

enum Policy : int { POL_NONE = 0, POL_LV1 = 1, POL_SUSPEND = 2, POL_HYBRID = 3, POL_ADAPTIVE = 4 };
enum Cls : int { CLS_NONE = 0, CLS_ONLINE = 1, CLS_OFFLINE = 2 };

struct PlanProc {
	uint64_t conn = 0;
	int cls = CLS_NONE;
	int priority = 0;
	std::vector<uint32_t> gpus;
	bool allow_hold = true;
};

struct Plan {
	int policy = POL_NONE;
	bool gate_enabled = true;
	uint64_t hysteresis_ns = 2000000;
	uint64_t lease_ns = 2000000000ull;
	uint64_t ack_timeout_ns = 1000000000ull;
	uint64_t poll_ns = 0; /* > 0: poll every poll_ns instead of waiting on doorbells (benchmarks) */
	std::vector<PlanProc> procs;
};

struct Activity {
	uint64_t conn = 0;
	bool busy = false;
	uint64_t idle_since_ns = 0; /* when it went idle (0 = never busy) */
};

struct Decision {
	uint64_t conn = 0;
	bool throttled = false;
	bool gate_closed = false;
	bool hold = false;
	uint64_t by_conn = 0; /* a busy process that wins over this one (0 = none) */
};

/* wake_at_ns: when a hysteresis window ends and the decision may change (0 = never). */
std::vector<Decision> decide(const Plan &plan, const std::vector<Activity> &acts, uint64_t now_ns,
                             uint64_t *wake_at_ns);

} // namespace xsbe

#endif
