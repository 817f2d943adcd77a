/*
 * wire.cpp - the coordinator connection: hello, outgoing queue of JSON lines, and the service
 * thread (connect and reconnect, incoming config/lease, lease watchdog, periodic stats).
 *
 * Connection life: the first attempt is made at init (on the first HIP/KFD call) so that a
 * coordinator's first decisions apply before the first launch. Every later attempt is made by
 * the service thread, never on a launch path: while the process lives and XSB_SOCKET is set it
 * keeps trying, 100 ms after a loss doubling to 2 s while nothing listens (one connect() per
 * attempt), up to 30 s while a listener keeps closing the connection before any config (it
 * refuses this process). A process that started without a coordinator therefore attaches when
 * one starts later, and a restarted coordinator re-learns every running shim: each attachment
 * gets a fresh control block (a new shm name), a fresh hello and the queue table replayed as
 * queue create events. Losing the coordinator (socket closed, lease expired) fails open first:
 * queues released, gate open, the program carries on alone until the next attachment.
 */
#include "shim.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "xjson.h"

namespace xsb {

static int g_sock = -1;    /* written by the attaching thread and the service thread, under g_out_mu */
static int g_wake_fd = -1;
static pthread_mutex_t g_out_mu = PTHREAD_MUTEX_INITIALIZER;
static std::string *g_out; /* pending bytes (never destroyed: exit-time senders) */
static pthread_t g_service;
static bool g_service_started = false;
static std::atomic<int> g_service_stop{0};

/* config received on the current connection (init waits for the first, bounded) */
static pthread_mutex_t g_cfg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cfg_cv = PTHREAD_COND_INITIALIZER;
static bool g_got_config = false;

static const uint64_t RETRY_FIRST_MS = 100, RETRY_MAX_MS = 2000, REFUSED_MAX_MS = 30000;

static const char *mech_name(uint32_t m) { return m == XSB_MECH_DEACTIVATE ? "deactivate" : "dbg-trap"; }
static uint32_t mech_code(const char *s)
{
	return !strcmp(s, "dbg-trap") ? XSB_MECH_DBG_TRAP : !strcmp(s, "deactivate") ? XSB_MECH_DEACTIVATE : 0;
}

static bool got_config()
{
	pthread_mutex_lock(&g_cfg_mu);
	bool g = g_got_config;
	pthread_mutex_unlock(&g_cfg_mu);
	return g;
}

static void set_got_config(bool v)
{
	pthread_mutex_lock(&g_cfg_mu);
	g_got_config = v;
	if (v) pthread_cond_broadcast(&g_cfg_cv);
	pthread_mutex_unlock(&g_cfg_mu);
}

static void read_gpus(char *out, size_t cap)
{
	const char *root = getenv("XSB_SYSFS_ROOT");
	std::string base = std::string(root && *root ? root : "/sys") + "/class/kfd/kfd/topology/nodes";
	std::string list;
	if (DIR *d = opendir(base.c_str())) {
		while (struct dirent *e = readdir(d)) {
			if (e->d_name[0] == '.') continue;
			std::string p = base + "/" + e->d_name + "/gpu_id";
			FILE *f = fopen(p.c_str(), "re");
			if (!f) continue;
			unsigned long id = 0;
			if (fscanf(f, "%lu", &id) == 1 && id != 0) {
				if (!list.empty()) list += ",";
				list += std::to_string(id);
			}
			fclose(f);
		}
		closedir(d);
	}
	snprintf(out, cap, "%s", list.c_str());
}

/* Never blocks: appends, then writes what the socket takes now; the service thread writes
 * the rest. */
void wire_send(const char *json)
{
	pthread_mutex_lock(&g_out_mu);
	if (g_sock < 0 || !g_out) {
		pthread_mutex_unlock(&g_out_mu);
		return;
	}
	if (g_out->size() > (1u << 20)) {
		pthread_mutex_unlock(&g_out_mu);
		XSB_LOG(LOG_WARN, "coordinator is not reading; message dropped");
		return;
	}
	g_out->append(json);
	g_out->push_back('\n');
	while (!g_out->empty()) {
		ssize_t w = send(g_sock, g_out->data(), g_out->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w <= 0) break;
		g_out->erase(0, (size_t)w);
	}
	bool rest = !g_out->empty();
	pthread_mutex_unlock(&g_out_mu);
	if (rest && g_wake_fd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(g_wake_fd, &one, sizeof one);
		(void)r;
	}
}

static void send_stats()
{
	xsb_ctrl *c = g_ctrl;
	char buf[1100];
	auto L = [](const std::atomic<uint64_t> &a) { return (unsigned long long)a.load(std::memory_order_relaxed); };
	snprintf(buf, sizeof buf,
	         "{\"v\":%u,\"type\":\"stats\",\"launches\":%llu,\"gated_waits\":%llu,\"gated_wait_ns\":%llu,"
	         "\"lv1_waits\":%llu,\"suspends\":%llu,\"resumes\":%llu,\"suspend_ns_last\":%llu,"
	         "\"suspend_ns_max\":%llu,\"suspend_ns_sum\":%llu,\"resume_ns_last\":%llu,\"resume_ns_max\":%llu,"
	         "\"resume_ns_sum\":%llu,\"queues\":%u,\"exec_state\":%u,\"activity\":%u,\"mechanism\":\"%s\"}",
	         XSB_WIRE_VERSION, L(c->launches), L(c->gated_waits), L(c->gated_wait_ns), L(c->lv1_waits),
	         L(c->suspends), L(c->resumes), L(c->suspend_ns_last), L(c->suspend_ns_max), L(c->suspend_ns_sum),
	         L(c->resume_ns_last), L(c->resume_ns_max), L(c->resume_ns_sum), c->queues.load(),
	         c->exec_state.load(), c->activity.load(), mech_name(g_mechanism.load()));
	wire_send(buf);
}

static void set_lease(int64_t lease_ms)
{
	if (lease_ms <= 0) {
		g_ctrl->lease_deadline_ns.store(0);
		return;
	}
	if (lease_ms > XSB_LEASE_MAX_MS) lease_ms = XSB_LEASE_MAX_MS;
	g_ctrl->lease_deadline_ns.store(now_ns() + (uint64_t)lease_ms * 1000000ull);
}

static void handle_message(const char *s, size_t n)
{
	if (xj_check_object(s, n) != 0) {
		XSB_LOG(LOG_WARN, "coordinator sent a line that is not a JSON object; ignored");
		return;
	}
	int64_t v = 0;
	char type[32];
	if (!xj_get_i64(s, n, "v", &v) || v != XSB_WIRE_VERSION || !xj_get_str(s, n, "type", type, sizeof type)) {
		XSB_LOG(LOG_WARN, "coordinator message without \"v\":%u or \"type\"; ignored", XSB_WIRE_VERSION);
		return;
	}
	int64_t seq = -1;
	xj_get_i64(s, n, "seq", &seq);
	if (!strcmp(type, "config")) {
		char cls[16];
		if (xj_get_str(s, n, "class", cls, sizeof cls)) {
			uint32_t c = !strcmp(cls, "online") ? XSB_CLASS_ONLINE : !strcmp(cls, "offline") ? XSB_CLASS_OFFLINE : 0;
			if (c) {
				g_class.store(c);
				if (c == XSB_CLASS_ONLINE) activity_start();
			} else {
				XSB_LOG(LOG_WARN, "config: unknown class \"%s\" ignored", cls);
			}
		}
		int64_t prio;
		if (xj_get_i64(s, n, "priority", &prio)) {
			if (prio >= 0 && prio <= 15) {
				g_priority.store((int)prio);
				exec_kick(); /* re-applies the priority to every queue */
			} else {
				XSB_LOG(LOG_WARN, "config: priority %lld out of 0..15 ignored", (long long)prio);
			}
		}
		const char *o;
		size_t on;
		if (xj_get_obj(s, n, "lv1", &o, &on)) {
			int64_t t = g_ctrl->lv1_threshold.load(), b = g_ctrl->lv1_batch.load();
			xj_get_i64(o, on, "threshold", &t);
			xj_get_i64(o, on, "batch", &b);
			if (t >= 0 && t <= XSB_LV1_MAX && b >= 1 && b <= XSB_LV1_MAX) {
				if (t && b > t) b = t;
				g_ctrl->lv1_batch.store((uint32_t)b);
				g_ctrl->lv1_threshold.store((uint32_t)t);
			} else {
				XSB_LOG(LOG_WARN, "config: lv1 threshold %lld batch %lld invalid; ignored", (long long)t,
				        (long long)b);
			}
		}
		int64_t lease;
		if (xj_get_i64(s, n, "lease_ms", &lease)) set_lease(lease);
		/* the coordinator's mechanism wins over XSB_MECHANISM (xsb_wire.h) */
		char mech[32], pending_s[64] = "";
		if (xj_get_str(s, n, "mechanism", mech, sizeof mech)) {
			uint32_t m = mech_code(mech);
			bool pending = false;
			if (m) exec_request_mechanism(m, &pending);
			else XSB_LOG(LOG_WARN, "config: unknown mechanism \"%s\" ignored (dbg-trap|deactivate)", mech);
			if (pending) snprintf(pending_s, sizeof pending_s, ",\"mechanism_pending\":\"%s\"", mech_name(m));
		}
		char ack[256];
		snprintf(ack, sizeof ack, "{\"v\":%u,\"type\":\"ack\",\"of\":\"config\",\"seq\":%lld,\"mechanism\":\"%s\"%s}",
		         XSB_WIRE_VERSION, (long long)seq, mech_name(g_mechanism.load()), pending_s);
		wire_send(ack);
		set_got_config(true);
	} else if (!strcmp(type, "lease") || !strcmp(type, "heartbeat")) {
		int64_t lease;
		if (xj_get_i64(s, n, "lease_ms", &lease)) set_lease(lease);
	} else if (!strcmp(type, "ack")) {
		char of[32];
		/* the coordinator mapped the control block: its name is no longer needed */
		if (xj_get_str(s, n, "of", of, sizeof of) && !strcmp(of, "hello")) ctrl_unlink();
	} else {
		XSB_LOG(LOG_INFO, "coordinator message type \"%s\" not understood; ignored", type);
	}
}

static void lease_check()
{
	uint64_t d = g_ctrl->lease_deadline_ns.load();
	if (!d) return;
	uint64_t now = now_ns();
	if (d > now + (uint64_t)XSB_LEASE_MAX_MS * 1000000ull) {
		g_ctrl->errors.fetch_add(1);
		fail_open("lease deadline in the control block is corrupt");
	} else if (now > d) {
		fail_open("lease expired");
	}
}

/* One connection: serves it until it is lost (fail-open closed it) or the thread stops. */
static void serve_connection()
{
	std::string in;
	uint64_t next_stats = now_ns() + (uint64_t)g_cfg.stats_ms * 1000000ull;
	char buf[8192];
	while (!g_service_stop.load() && g_sock >= 0) {
		int timeout = 100;
		uint64_t d = g_ctrl->lease_deadline_ns.load();
		uint64_t now = now_ns();
		if (d && d > now && (d - now) / 1000000ull < (uint64_t)timeout) timeout = (int)((d - now) / 1000000ull) + 1;
		pthread_mutex_lock(&g_out_mu);
		bool want_out = g_out && !g_out->empty();
		pthread_mutex_unlock(&g_out_mu);
		struct pollfd p[2] = {{g_sock, (short)(POLLIN | (want_out ? POLLOUT : 0)), 0}, {g_wake_fd, POLLIN, 0}};
		int r = poll(p, 2, timeout);
		if (g_service_stop.load()) break;
		if (r > 0 && (p[1].revents & POLLIN)) {
			uint64_t x;
			ssize_t rr = read(g_wake_fd, &x, sizeof x);
			(void)rr;
		}
		if (r > 0 && (p[0].revents & POLLOUT)) wire_send("");
		if (r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = recv(g_sock, buf, sizeof buf, MSG_DONTWAIT);
			if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
				/* closed before any config: this coordinator refuses us (uid, trust), not news */
				fail_open("coordinator closed the connection", got_config() ? LOG_WARN : LOG_INFO);
				break;
			}
			if (got > 0) in.append(buf, (size_t)got);
			size_t nl;
			while ((nl = in.find('\n')) != std::string::npos) {
				if (nl > 0) handle_message(in.data(), nl);
				in.erase(0, nl + 1);
			}
			if (in.size() > XSB_WIRE_MAX_LINE) {
				XSB_LOG(LOG_WARN, "coordinator line longer than %u bytes; dropped", XSB_WIRE_MAX_LINE);
				in.clear();
			}
		}
		lease_check();
		if (g_fail_open.load()) break;
		if (g_cfg.stats_ms && now_ns() >= next_stats) {
			send_stats();
			next_stats = now_ns() + (uint64_t)g_cfg.stats_ms * 1000000ull;
		}
	}
}

static int try_connect(int fail_level)
{
	/* non-blocking: a listener that stopped accepting (frozen, backlog full) answers EAGAIN
	 * instead of blocking the first HIP call or the service thread's exit */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) return -1;
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, g_cfg.socket_path);
	if (connect(s, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
		XSB_LOG(fail_level, "no coordinator at %s (%s): running untouched until one listens", g_cfg.socket_path, strerror(errno));
		close(s);
		return -1;
	}
	return s;
}

/* A connected socket becomes an attachment: a fresh control block, hello first, then every
 * queue the process has (a coordinator may be new to it), in order with concurrent events. */
static bool attach(int s)
{
	if (g_exiting.load()) {
		close(s);
		return false;
	}
	const char *shm = ctrl_publish();
	if (!shm) {
		close(s);
		return false;
	}
	xsb_ctrl *c = g_ctrl;
	set_got_config(false);
	char exe[1024] = {0}, exe_esc[2100], gpus[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) exe[n] = 0;
	xj_escape(exe, exe_esc, sizeof exe_esc);
	read_gpus(gpus, sizeof gpus);
	uint32_t cls = g_class.load();
	int prio = g_priority.load();
	char prio_s[16] = "null";
	if (prio >= 0) snprintf(prio_s, sizeof prio_s, "%d", prio);
	char hello[4096];
	snprintf(hello, sizeof hello,
	         "{\"v\":%u,\"type\":\"hello\",\"pid\":%d,\"class\":%s,\"priority\":%s,\"exe\":\"%s\",\"gpus\":[%s],"
	         "\"mechanism\":\"%s\",\"lv1\":{\"threshold\":%u,\"batch\":%u},\"shm\":\"%s\",\"shm_size\":%u,"
	         "\"ctrl_version\":%u}\n",
	         XSB_WIRE_VERSION, (int)getpid(),
	         cls == XSB_CLASS_ONLINE ? "\"online\"" : cls == XSB_CLASS_OFFLINE ? "\"offline\"" : "null", prio_s,
	         exe_esc, gpus, mech_name(g_mechanism.load()), c->lv1_threshold.load(), c->lv1_batch.load(), shm,
	         XSB_CTRL_SIZE, XSB_CTRL_VERSION);
	/* hello is queued before the socket becomes visible to other senders: it is the first line */
	pthread_mutex_lock(&g_out_mu);
	if (!g_out) g_out = new std::string;
	g_out->assign(hello);
	g_sock = s;
	pthread_mutex_unlock(&g_out_mu);
	g_fail_open.store(0);
	g_attached.store(1, std::memory_order_release);
	queues_send_all();
	wire_send(""); /* flush what the socket takes now */
	XSB_LOG(LOG_INFO, "attached to the coordinator at %s (control block %s)", g_cfg.socket_path, shm);
	return true;
}

bool wire_connect_and_hello()
{
	if (!g_cfg.socket_path[0]) return false;
	int s = try_connect(LOG_INFO);
	return s >= 0 && attach(s);
}

/* After an attachment made by the service thread: the executor and tracker exist once per
 * process (created at the first attachment), a kick makes the executor answer the new block. */
static void after_reattach()
{
	exec_start();
	exec_kick();
	if (g_class.load() == XSB_CLASS_ONLINE) activity_start();
}

/* Sleeps ms unless the thread is told to stop. */
static void nap(uint64_t ms)
{
	struct pollfd p = {g_wake_fd, POLLIN, 0};
	if (poll(&p, 1, (int)ms) > 0) {
		uint64_t x;
		ssize_t r = read(g_wake_fd, &x, sizeof x);
		(void)r;
	}
}

static void *service_main(void *)
{
	tl_depth = 1;
	uint64_t retry_ms = RETRY_FIRST_MS;
	while (!g_service_stop.load() && !g_exiting.load()) {
		if (g_sock >= 0) {
			serve_connection();
			if (g_service_stop.load()) break;
			if (g_sock >= 0) wire_disconnect(); /* never serve a connection that failed open */
			/* a connection that was configured was a working coordinator: retry soon;
			 * one closed before any config refuses us: back off further */
			retry_ms = got_config() ? RETRY_FIRST_MS : std::min(retry_ms * 2, REFUSED_MAX_MS);
			continue;
		}
		nap(retry_ms);
		if (g_service_stop.load() || g_exiting.load()) break;
		int s = try_connect(LOG_DEBUG);
		if (s >= 0 && attach(s)) {
			after_reattach();
			continue;
		}
		if (retry_ms < RETRY_MAX_MS) retry_ms = std::min(retry_ms * 2, RETRY_MAX_MS);
	}
	return nullptr;
}

/* Waits (bounded by XSB_CONFIG_WAIT_MS) for the coordinator's first config so its initial
 * decisions (gate, Lv1, lease) apply before the first launch. */
static void wait_first_config()
{
	uint64_t deadline = now_ns() + (uint64_t)g_cfg.config_wait_ms * 1000000ull;
	pthread_mutex_lock(&g_cfg_mu);
	while (!g_got_config && !g_fail_open.load()) {
		uint64_t now = now_ns();
		if (now >= deadline) break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t left = deadline - now;
		ts.tv_sec += (time_t)(left / 1000000000ull);
		ts.tv_nsec += (long)(left % 1000000000ull);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g_cfg_cv, &g_cfg_mu, &ts);
	}
	bool got = g_got_config;
	pthread_mutex_unlock(&g_cfg_mu);
	if (!got && g_cfg.config_wait_ms) XSB_LOG(LOG_INFO, "no config from the coordinator within %u ms", g_cfg.config_wait_ms);
}

void wire_start_service(bool attached)
{
	if (!g_cfg.socket_path[0] || g_service_started) return;
	if (g_wake_fd < 0) g_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g_wake_fd < 0) {
		XSB_LOG(LOG_WARN, "eventfd: %s; no service thread", strerror(errno));
		return;
	}
	g_service_stop.store(0);
	if (pthread_create(&g_service, nullptr, service_main, nullptr) == 0) g_service_started = true;
	if (attached) wait_first_config();
}

/* Fail-open (service thread): the queued goodbye goes out if the socket takes it, then the
 * socket closes; the service thread reconnects later. */
void wire_disconnect()
{
	pthread_mutex_lock(&g_out_mu);
	if (g_sock >= 0) {
		if (g_out && !g_out->empty()) {
			ssize_t w = send(g_sock, g_out->data(), g_out->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)w;
		}
		close(g_sock);
		g_sock = -1;
	}
	if (g_out) g_out->clear();
	pthread_mutex_unlock(&g_out_mu);
	ctrl_unlink();
}

/* Exit: no more reconnects; then the socket closes (the caller sent its goodbye). Callable
 * twice: the exit handler stops the thread first and closes the socket last. */
void wire_stop()
{
	g_service_stop.store(1);
	if (g_wake_fd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(g_wake_fd, &one, sizeof one);
		(void)r;
	}
	if (g_service_started && !pthread_equal(pthread_self(), g_service)) {
		pthread_join(g_service, nullptr);
		g_service_started = false;
	}
}

void wire_close()
{
	wire_stop();
	wire_disconnect();
}

void wire_child_reset()
{
	/* the parent's socket, thread and block: the child closes its copies and starts afresh */
	pthread_mutex_init(&g_out_mu, nullptr);
	pthread_mutex_init(&g_cfg_mu, nullptr);
	pthread_cond_init(&g_cfg_cv, nullptr);
	if (g_sock >= 0) close(g_sock);
	if (g_wake_fd >= 0) close(g_wake_fd);
	g_sock = g_wake_fd = -1;
	if (g_out) g_out->clear();
	g_service_started = false;
	g_service_stop.store(0);
	g_got_config = false;
}

} // namespace xsb
