#include "events.h"

namespace xsbe {

void EventSink::set_notify(std::function<void()> fn)
{
	std::lock_guard<std::mutex> g(mu_);
	notify_ = std::move(fn);
}

void EventSink::push(Event e)
{
	std::function<void()> n;
	{
		std::lock_guard<std::mutex> g(mu_);
		bool was_empty = q_.empty();
		q_.push_back(std::move(e));
		/* bounded: a stalled JS thread must not grow memory without limit */
		if (q_.size() > 100000) q_.erase(q_.begin(), q_.begin() + 50000);
		if (was_empty) n = notify_;
	}
	if (n) n();
}

std::vector<Event> EventSink::drain()
{
	std::lock_guard<std::mutex> g(mu_);
	std::vector<Event> out;
	out.swap(q_);
	return out;
}

void EventSink::log(const char *level, const std::string &msg, uint64_t conn)
{
	Event e;
	e.kind = "log";
	e.conn = conn;
	e.text = msg;
	e.str("level", level);
	push(std::move(e));
}

} // namespace xsbe
