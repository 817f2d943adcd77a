/* util.cpp - logging, clocks, futexes and the XSB_* environment. */
#include "shim.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace xsb {

Config g_cfg;

static const char *level_name(int l)
{
	switch (l) {
	case LOG_ERROR: return "error";
	case LOG_WARN: return "warn";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

/* One write(2) per line: no stdio lock, usable from the ioctl hook and after fork. */
void log_msg(int level, const char *fmt, ...)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "xsb-shim[%d] %s: ", (int)getpid(), level_name(level));
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0) m = 0;
	size_t len = (size_t)n + ((size_t)m < sizeof buf - (size_t)n - 1 ? (size_t)m : sizeof buf - (size_t)n - 2);
	buf[len++] = '\n';
	ssize_t w = write(2, buf, len);
	(void)w;
}

uint64_t now_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int futex_wait(std::atomic<uint32_t> *w, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts, *tp = nullptr;
	if (timeout_ns) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tp = &ts;
	}
	long r = syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAIT, val, tp, nullptr, 0);
	return r < 0 ? -errno : 0;
}

void futex_wake(std::atomic<uint32_t> *w)
{
	syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void atomic_max(std::atomic<uint64_t> *a, uint64_t v)
{
	uint64_t cur = a->load(std::memory_order_relaxed);
	while (cur < v && !a->compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
	}
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	if (!s || !*s) return false;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || s[0] == '-' || v < lo || v > hi) return false;
	*out = (uint32_t)v;
	return true;
}

static void env_bad(Config *c, const char *name, const char *val, const char *want)
{
	if (!c->env_ok) return; /* the first problem is the one reported */
	c->env_ok = false;
	snprintf(c->env_error, sizeof c->env_error,
	         "xsb-shim: %s=\"%.60s\" is invalid (expected %s); the program runs without the shim", name, val,
	         want);
}

void parse_env(Config *c)
{
	*c = Config();
	const char *v;
	if ((v = getenv(XSB_ENV_LOG)) && *v) {
		if (!strcmp(v, "error")) c->log_level = LOG_ERROR;
		else if (!strcmp(v, "warn")) c->log_level = LOG_WARN;
		else if (!strcmp(v, "info")) c->log_level = LOG_INFO;
		else if (!strcmp(v, "debug")) c->log_level = LOG_DEBUG;
		else env_bad(c, XSB_ENV_LOG, v, "error|warn|info|debug");
	}
	if ((v = getenv(XSB_ENV_CLASS)) && *v) {
		if (!strcmp(v, "online")) c->cls = XSB_CLASS_ONLINE;
		else if (!strcmp(v, "offline")) c->cls = XSB_CLASS_OFFLINE;
		else env_bad(c, XSB_ENV_CLASS, v, "online|offline");
	}
	if (c->cls == XSB_CLASS_ONLINE) c->priority = XSB_PRIORITY_ONLINE_DEFAULT;
	if (c->cls == XSB_CLASS_OFFLINE) c->priority = XSB_PRIORITY_OFFLINE_DEFAULT;
	if ((v = getenv(XSB_ENV_PRIORITY)) && *v) {
		uint32_t p;
		if (!parse_u32(v, 0, 15, &p)) env_bad(c, XSB_ENV_PRIORITY, v, "an integer 0..15");
		else if (c->cls == XSB_CLASS_NONE) env_bad(c, XSB_ENV_PRIORITY, v, "XSB_CLASS set as well");
		else c->priority = (int)p;
	}
	if ((v = getenv(XSB_ENV_LV1_THRESHOLD)) && *v &&
	    !parse_u32(v, 0, XSB_LV1_MAX, &c->lv1_threshold))
		env_bad(c, XSB_ENV_LV1_THRESHOLD, v, "an integer 0..65536 (0 = unbounded)");
	if ((v = getenv(XSB_ENV_LV1_BATCH)) && *v && !parse_u32(v, 1, XSB_LV1_MAX, &c->lv1_batch))
		env_bad(c, XSB_ENV_LV1_BATCH, v, "an integer 1..65536");
	if (c->lv1_threshold && c->lv1_batch > c->lv1_threshold) c->lv1_batch = c->lv1_threshold;
	if ((v = getenv(XSB_ENV_MECHANISM)) && *v) {
		if (!strcmp(v, "dbg-trap")) c->mechanism = XSB_MECH_DBG_TRAP;
		else if (!strcmp(v, "deactivate")) c->mechanism = XSB_MECH_DEACTIVATE;
		else env_bad(c, XSB_ENV_MECHANISM, v, "dbg-trap|deactivate");
	}
	if ((v = getenv(XSB_ENV_IDLE_HYSTERESIS_US)) && *v &&
	    !parse_u32(v, 0, 10000000, &c->idle_hysteresis_us))
		env_bad(c, XSB_ENV_IDLE_HYSTERESIS_US, v, "microseconds 0..10000000");
	if ((v = getenv(XSB_ENV_STATS_MS)) && *v && !parse_u32(v, 0, 3600000, &c->stats_ms))
		env_bad(c, XSB_ENV_STATS_MS, v, "milliseconds (0 = no periodic stats)");
	if ((v = getenv("XSB_CONFIG_WAIT_MS")) && *v && !parse_u32(v, 0, 60000, &c->config_wait_ms))
		env_bad(c, "XSB_CONFIG_WAIT_MS", v, "milliseconds 0..60000");
	if ((v = getenv("XSB_GRACE_PERIOD")) && *v && !parse_u32(v, 0, 1000000, &c->grace_period))
		env_bad(c, "XSB_GRACE_PERIOD", v, "an integer (units of ~1000 GPU clocks)");
	if ((v = getenv(XSB_ENV_SOCKET)) && *v) {
		if (strlen(v) >= sizeof c->socket_path) env_bad(c, XSB_ENV_SOCKET, v, "a path shorter than 108 bytes");
		else strcpy(c->socket_path, v);
	}
}

} // namespace xsb
