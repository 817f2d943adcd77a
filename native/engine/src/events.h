/*
 * events.h - what the engine's threads report to TypeScript: connection lines and state, data
 * plane decisions with their timestamps (CLOCK_MONOTONIC ns), logs. Producers append to one
 * queue; the first append after a drain asks the JS thread (a ThreadSafeFunction) to drain it,
 * so a burst costs one JS call.
 */
#ifndef XSB_ENGINE_EVENTS_H
#define XSB_ENGINE_EVENTS_H

#include <stdint.h>

#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace xsbe {

struct Event {
	std::string kind;          /* open, line, close, refused, activity, gate, request, ack, untrusted, log */
	uint64_t conn = 0;
	std::string text;          /* line, reason, log message */
	std::vector<std::pair<std::string, double>> nums;
	std::vector<std::pair<std::string, std::string>> strs;

	Event &num(const char *k, double v)
	{
		nums.emplace_back(k, v);
		return *this;
	}
	Event &str(const char *k, std::string v)
	{
		strs.emplace_back(k, std::move(v));
		return *this;
	}
};

class EventSink {
public:
	/* notify: called (from any thread) when the queue went from empty to non-empty */
	void set_notify(std::function<void()> fn);
	void push(Event e);
	std::vector<Event> drain();
	void log(const char *level, const std::string &msg, uint64_t conn = 0);

private:
	std::mutex mu_;
	std::vector<Event> q_;
	std::function<void()> notify_;
};

} // namespace xsbe

#endif
