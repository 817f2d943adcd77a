#include "policy.h"

#include <map>

namespace xsbe {

std::vector<Decision> decide(const Plan &plan, const std::vector<Activity> &acts, uint64_t now_ns,
                             uint64_t *wake_at_ns)
{
	std::map<uint64_t, const Activity *> act;
	for (const Activity &a : acts) act[a.conn] = &a;
	uint64_t wake = 0;
	struct Level {
		int prio;
		uint64_t conn;
	};
	std::map<uint32_t, Level> level; /* gpu -> winning busy level */
	for (const PlanProc &p : plan.procs) {
		if (p.cls == CLS_NONE) continue;
		auto it = act.find(p.conn);
		if (it == act.end()) continue;
		const Activity &a = *it->second;
		bool active = a.busy;
		if (!active && a.idle_since_ns && now_ns < a.idle_since_ns + plan.hysteresis_ns) {
			active = true;
			uint64_t end = a.idle_since_ns + plan.hysteresis_ns;
			if (!wake || end < wake) wake = end;
		}
		if (!active) continue;
		for (uint32_t g : p.gpus) {
			auto l = level.find(g);
			if (l == level.end() || p.priority > l->second.prio) level[g] = Level{p.priority, p.conn};
		}
	}
	std::vector<Decision> out;
	out.reserve(plan.procs.size());
	for (const PlanProc &p : plan.procs) {
		Decision d;
		d.conn = p.conn;
		if (p.cls != CLS_NONE) {
			for (uint32_t g : p.gpus) {
				auto l = level.find(g);
				if (l != level.end() && l->second.prio > p.priority) {
					d.throttled = true;
					d.by_conn = l->second.conn;
					break;
				}
			}
		}
		if (d.throttled) {
			bool gate = plan.gate_enabled;
			switch (plan.policy) {
			case POL_LV1: d.gate_closed = gate; break;
			case POL_SUSPEND: d.hold = true; break;
			case POL_HYBRID: d.gate_closed = gate; d.hold = true; break;
			case POL_ADAPTIVE: d.gate_closed = gate; d.hold = p.allow_hold; break;
			default: break;
			}
		}
		out.push_back(d);
	}
	if (wake_at_ns) *wake_at_ns = wake;
	return out;
}

} // namespace xsbe
