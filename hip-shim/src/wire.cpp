/*
 * wire.cpp - the coordinator connection: control block (POSIX shm), hello, outgoing queue of
 * JSON lines, and the service thread (incoming config/lease, lease watchdog, periodic stats).
 */
#include "shim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "xjson.h"

namespace xsb {

static int g_sock = -1;
static int g_wake_fd = -1;
static char g_shm_name[64];
static bool g_shm_linked = false;
static xsb_ctrl *g_shm = nullptr;
static pthread_mutex_t g_out_mu = PTHREAD_MUTEX_INITIALIZER;
static std::string *g_out; /* pending bytes (never destroyed: exit-time senders) */
static pthread_t g_service;
static bool g_service_started = false;
static std::atomic<int> g_service_stop{0};

/* first config received (init waits for it, bounded) */
static pthread_mutex_t g_cfg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cfg_cv = PTHREAD_COND_INITIALIZER;
static bool g_got_config = false;

const char *ctrl_shm_name() { return g_shm_name; }

static void unlink_shm()
{
	if (g_shm_linked) {
		shm_unlink(g_shm_name);
		g_shm_linked = false;
	}
}

/* The control block: mode 0600 (never world-writable), exclusive create, random suffix. */
static xsb_ctrl *create_ctrl()
{
	uint64_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) rnd = now_ns() ^ ((uint64_t)getpid() << 32);
	snprintf(g_shm_name, sizeof g_shm_name, "/xsb-%u-%d-%016llx", (unsigned)getuid(), (int)getpid(),
	         (unsigned long long)rnd);
	mode_t old = umask(077);
	int fd = shm_open(g_shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	umask(old);
	if (fd < 0) {
		XSB_LOG(LOG_WARN, "shm_open(%s): %s; no control block", g_shm_name, strerror(errno));
		return nullptr;
	}
	g_shm_linked = true;
	if (fchmod(fd, 0600) != 0 || ftruncate(fd, XSB_CTRL_SIZE) != 0) {
		XSB_LOG(LOG_WARN, "sizing %s: %s", g_shm_name, strerror(errno));
		close(fd);
		unlink_shm();
		return nullptr;
	}
	void *p = mmap(nullptr, XSB_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		unlink_shm();
		return nullptr;
	}
	auto *c = static_cast<xsb_ctrl *>(p);
	/* the local block's counters and words carry over (queues may exist already) */
	memcpy(static_cast<void *>(c), static_cast<const void *>(g_ctrl), sizeof(xsb_ctrl));
	c->magic = XSB_CTRL_MAGIC;
	c->version = XSB_CTRL_VERSION;
	c->size = XSB_CTRL_SIZE;
	c->pid = (uint32_t)getpid();
	c->cls = g_class.load();
	c->mechanism = g_cfg.mechanism;
	c->header_sum = xsb_ctrl_header_sum(c);
	return c;
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
	char buf[1024];
	auto L = [](const std::atomic<uint64_t> &a) { return (unsigned long long)a.load(std::memory_order_relaxed); };
	snprintf(buf, sizeof buf,
	         "{\"v\":%u,\"type\":\"stats\",\"launches\":%llu,\"gated_waits\":%llu,\"gated_wait_ns\":%llu,"
	         "\"lv1_waits\":%llu,\"suspends\":%llu,\"resumes\":%llu,\"suspend_ns_last\":%llu,"
	         "\"suspend_ns_max\":%llu,\"suspend_ns_sum\":%llu,\"resume_ns_last\":%llu,\"resume_ns_max\":%llu,"
	         "\"resume_ns_sum\":%llu,\"queues\":%u,\"exec_state\":%u,\"activity\":%u}",
	         XSB_WIRE_VERSION, L(c->launches), L(c->gated_waits), L(c->gated_wait_ns), L(c->lv1_waits),
	         L(c->suspends), L(c->resumes), L(c->suspend_ns_last), L(c->suspend_ns_max), L(c->suspend_ns_sum),
	         L(c->resume_ns_last), L(c->resume_ns_max), L(c->resume_ns_sum), c->queues.load(),
	         c->exec_state.load(), c->activity.load());
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
		char ack[128];
		snprintf(ack, sizeof ack, "{\"v\":%u,\"type\":\"ack\",\"of\":\"config\",\"seq\":%lld}", XSB_WIRE_VERSION,
		         (long long)seq);
		wire_send(ack);
		pthread_mutex_lock(&g_cfg_mu);
		g_got_config = true;
		pthread_cond_broadcast(&g_cfg_cv);
		pthread_mutex_unlock(&g_cfg_mu);
	} else if (!strcmp(type, "lease") || !strcmp(type, "heartbeat")) {
		int64_t lease;
		if (xj_get_i64(s, n, "lease_ms", &lease)) set_lease(lease);
	} else if (!strcmp(type, "ack")) {
		char of[32];
		/* the coordinator mapped the control block: its name is no longer needed */
		if (xj_get_str(s, n, "of", of, sizeof of) && !strcmp(of, "hello")) unlink_shm();
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

static void *service_main(void *)
{
	tl_depth = 1;
	std::string in;
	uint64_t next_stats = now_ns() + (uint64_t)g_cfg.stats_ms * 1000000ull;
	char buf[8192];
	while (!g_service_stop.load()) {
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
				fail_open("coordinator closed the connection");
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
	return nullptr;
}

bool wire_connect_and_hello()
{
	if (!g_cfg.socket_path[0]) return false;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) return false;
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, g_cfg.socket_path);
	if (connect(s, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
		XSB_LOG(LOG_INFO, "no coordinator at %s (%s): running untouched", g_cfg.socket_path, strerror(errno));
		close(s);
		return false;
	}
	xsb_ctrl *c = create_ctrl();
	if (!c) {
		close(s);
		return false;
	}
	g_shm = c;
	g_ctrl = c;
	g_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_lock(&g_out_mu);
	if (!g_out) g_out = new std::string;
	g_sock = s;
	pthread_mutex_unlock(&g_out_mu);

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
	         "\"ctrl_version\":%u}",
	         XSB_WIRE_VERSION, (int)getpid(),
	         cls == XSB_CLASS_ONLINE ? "\"online\"" : cls == XSB_CLASS_OFFLINE ? "\"offline\"" : "null", prio_s,
	         exe_esc, gpus, g_cfg.mechanism == XSB_MECH_DEACTIVATE ? "deactivate" : "dbg-trap",
	         c->lv1_threshold.load(), c->lv1_batch.load(), g_shm_name, XSB_CTRL_SIZE, XSB_CTRL_VERSION);
	g_attached.store(1, std::memory_order_release);
	wire_send(hello);
	queues_send_all();
	return true;
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

void wire_start_service()
{
	g_service_stop.store(0);
	if (pthread_create(&g_service, nullptr, service_main, nullptr) == 0) g_service_started = true;
	wait_first_config();
}

/* Exit or fail-open: a goodbye line, then the socket closes. */
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
	pthread_mutex_lock(&g_out_mu);
	if (g_sock >= 0) {
		if (g_out && !g_out->empty()) {
			ssize_t w = send(g_sock, g_out->data(), g_out->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)w;
		}
		close(g_sock);
		g_sock = -1;
	}
	pthread_mutex_unlock(&g_out_mu);
	unlink_shm();
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
	g_shm_linked = false; /* the name is the parent's */
	g_shm_name[0] = 0;
	/* the child keeps a private copy of the parent's block (MAP_SHARED would alias the
	 * parent's words): init.cpp points g_ctrl back at a local block */
	if (g_shm) munmap(g_shm, XSB_CTRL_SIZE);
	g_shm = nullptr;
}

} // namespace xsb
