#include "fake_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "futex.h"
#include "xsb_wire.h"

namespace xsbe {

namespace {
struct Fake {
	xsb_ctrl *c = nullptr;
	std::thread exec;
	std::atomic<bool> exec_stop{false};
};
std::mutex g_mu;
std::map<std::string, std::unique_ptr<Fake>> g_fakes;

Fake *find(const std::string &name)
{
	auto it = g_fakes.find(name);
	return it == g_fakes.end() ? nullptr : it->second.get();
}

void exec_main(Fake *f)
{
	xsb_ctrl *c = f->c;
	uint32_t seen = c->req_seq.load();
	while (!f->exec_stop.load()) {
		futex_wait(&c->req_seq, seen, 20000000);
		uint32_t seq = c->req_seq.load();
		if (seq == seen) continue;
		seen = seq;
		bool hold = c->suspend_req.load() == XSB_REQ_HOLD;
		c->exec_state.store(hold ? XSB_EXEC_HELD : XSB_EXEC_RUNNING);
		c->held_queues.store(hold ? 1 : 0);
		if (hold) c->suspends.fetch_add(1);
		else c->resumes.fetch_add(1);
		c->ack_seq.store(seq);
		futex_wake_all(&c->ack_seq);
	}
}
} // namespace

std::string fake_create(const std::string &name, uint32_t pid, uint32_t cls, uint32_t mechanism, unsigned mode,
                        bool corrupt_sum)
{
	std::lock_guard<std::mutex> g(g_mu);
	if (find(name)) return "exists";
	mode_t old = umask(0);
	int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	umask(old);
	if (fd < 0) return std::string("shm_open: ") + strerror(errno);
	if (fchmod(fd, mode) != 0 || ftruncate(fd, XSB_CTRL_SIZE) != 0) {
		close(fd);
		shm_unlink(name.c_str());
		return std::string("ftruncate: ") + strerror(errno);
	}
	void *p = mmap(nullptr, XSB_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) return std::string("mmap: ") + strerror(errno);
	auto *c = static_cast<xsb_ctrl *>(p);
	c->magic = XSB_CTRL_MAGIC;
	c->version = XSB_CTRL_VERSION;
	c->size = XSB_CTRL_SIZE;
	c->pid = pid;
	c->cls = cls;
	c->mechanism = mechanism;
	c->header_sum = xsb_ctrl_header_sum(c) ^ (corrupt_sum ? 1u : 0u);
	c->gate.store(XSB_GATE_OPEN);
	c->suspend_req.store(XSB_REQ_RUN);
	c->exec_state.store(XSB_EXEC_RUNNING);
	c->activity.store(XSB_ACT_IDLE);
	auto f = std::make_unique<Fake>();
	f->c = c;
	g_fakes[name] = std::move(f);
	return "";
}

bool fake_set(const std::string &name, const std::string &field, uint64_t v)
{
	std::lock_guard<std::mutex> g(g_mu);
	Fake *f = find(name);
	if (!f) return false;
	xsb_ctrl *c = f->c;
	uint32_t w = (uint32_t)v;
	if (field == "activity") {
		/* the shim's tracker: timestamp, state, then doorbell + wake */
		uint64_t now = mono_ns();
		if (w == XSB_ACT_BUSY) c->busy_since_ns.store(now);
		else c->idle_since_ns.store(now);
		c->activity.store(w, std::memory_order_release);
		c->activity_transitions.fetch_add(1);
		c->activity_doorbell.fetch_add(1, std::memory_order_release);
		futex_wake_all(&c->activity_doorbell);
	} else if (field == "gate") {
		c->gate.store(w);
		futex_wake_all(&c->gate);
	} else if (field == "exec_state") {
		c->exec_state.store(w);
	} else if (field == "ack_seq") {
		c->ack_seq.store(w);
		futex_wake_all(&c->ack_seq);
	} else if (field == "queues") {
		c->queues.store(w);
	} else if (field == "launches") {
		c->launches.store(v);
	} else if (field == "lv1_waits") {
		c->lv1_waits.store(v);
	} else if (field == "lv1_threshold") {
		c->lv1_threshold.store(w);
	} else {
		return false;
	}
	return true;
}

bool fake_get(const std::string &name, std::vector<std::pair<std::string, double>> *out)
{
	std::lock_guard<std::mutex> g(g_mu);
	Fake *f = find(name);
	if (!f) return false;
	xsb_ctrl *c = f->c;
	out->emplace_back("gate", c->gate.load());
	out->emplace_back("suspend_req", c->suspend_req.load());
	out->emplace_back("req_seq", c->req_seq.load());
	out->emplace_back("ack_seq", c->ack_seq.load());
	out->emplace_back("exec_state", c->exec_state.load());
	out->emplace_back("activity", c->activity.load());
	out->emplace_back("lease_deadline_ns", (double)c->lease_deadline_ns.load());
	out->emplace_back("busy_since_ns", (double)c->busy_since_ns.load());
	return true;
}

bool fake_executor(const std::string &name, bool on)
{
	std::lock_guard<std::mutex> g(g_mu);
	Fake *f = find(name);
	if (!f) return false;
	if (on && !f->exec.joinable()) {
		f->exec_stop.store(false);
		f->exec = std::thread(exec_main, f);
	} else if (!on && f->exec.joinable()) {
		f->exec_stop.store(true);
		f->c->req_seq.fetch_add(0);
		futex_wake_all(&f->c->req_seq);
		f->exec.join();
	}
	return true;
}

void fake_remove(const std::string &name)
{
	std::unique_ptr<Fake> f;
	{
		std::lock_guard<std::mutex> g(g_mu);
		auto it = g_fakes.find(name);
		if (it == g_fakes.end()) return;
		f = std::move(it->second);
		g_fakes.erase(it);
	}
	if (f->exec.joinable()) {
		f->exec_stop.store(true);
		futex_wake_all(&f->c->req_seq);
		f->exec.join();
	}
	munmap(static_cast<void *>(f->c), XSB_CTRL_SIZE);
	shm_unlink(name.c_str());
}

} // namespace xsbe
