/* What the shim's test drivers share: see coord_driver.h. */
#include "coord_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xjson.h"
#include "xsb_emu_client.h"

int failures;
char g_dir[512], g_socket[600], g_log[600];
struct proc g_coord;
struct xsb_emu_shm *g_dev;
char g_reply[16384];

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
uint64_t now_ms(void) { return now_ns() / 1000000ull; }

int driver_init(const char *log_name)
{
	signal(SIGPIPE, SIG_IGN);
	const char *d = getenv("XSB_TEST_DIR");
	if (!d || !getenv("XSB_TEST_PRELOAD")) {
		fprintf(stderr, "%s: run me through native/emu/tests/with-emu.sh --device --shim BUILD_DIR\n",
		        program_invocation_short_name);
		return 2;
	}
	snprintf(g_dir, sizeof g_dir, "%s", d);
	snprintf(g_socket, sizeof g_socket, "%s/coord.sock", g_dir);
	snprintf(g_log, sizeof g_log, "%s/%s", g_dir, log_name);
	int r = xsb_emu_attach(&g_dev);
	if (r < 0) {
		fprintf(stderr, "%s: cannot attach to the emulated device: %s\n", program_invocation_short_name,
		        strerror(-r));
		return 1;
	}
	return 0;
}

void proc_kill(struct proc *p)
{
	if (p->pid > 0 && !p->exited) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &p->status, 0);
		p->exited = 1;
	}
}

void spawn(struct proc *p, char *const argv[], const char *const *env, int shimmed)
{
	int pin[2], pout[2];
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC)) exit(1);
	memset(p, 0, sizeof *p);
	p->pid = fork();
	if (p->pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		if (shimmed) {
			setenv("LD_PRELOAD", getenv("XSB_TEST_PRELOAD"), 1);
			setenv("LD_LIBRARY_PATH", getenv("XSB_TEST_LD_LIBRARY_PATH"), 1);
			setenv("XSB_SOCKET", g_socket, 1);
			setenv("XSB_LOG", "warn", 0);
		}
		for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
		execv(argv[0], argv);
		fprintf(stderr, "%s: exec %s: %s\n", program_invocation_short_name, argv[0], strerror(errno));
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	p->in = pin[1];
	p->out = pout[0];
}

int read_line(struct proc *p, char *out, size_t cap, long ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	for (;;) {
		char *nl = memchr(p->buf, '\n', p->len);
		if (nl) {
			size_t n = (size_t)(nl - p->buf);
			size_t c = n < cap - 1 ? n : cap - 1;
			memcpy(out, p->buf, c);
			out[c] = 0;
			memmove(p->buf, nl + 1, p->len - n - 1);
			p->len -= n + 1;
			return 1;
		}
		uint64_t t = now_ms();
		if (t >= end) return 0;
		struct pollfd pf = {p->out, POLLIN, 0};
		if (poll(&pf, 1, (int)(end - t)) <= 0) continue;
		ssize_t r = read(p->out, p->buf + p->len, sizeof p->buf - p->len - 1);
		if (r <= 0) return 0;
		p->len += (size_t)r;
	}
}

int expect(struct proc *p, const char *prefix, long ms, char *line, size_t cap)
{
	char tmp[8192];
	if (!line) {
		line = tmp;
		cap = sizeof tmp;
	}
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end) {
		if (!read_line(p, line, cap, (long)(end - now_ms()))) return 0;
		if (!strncmp(line, prefix, strlen(prefix))) return 1;
	}
	return 0;
}

/* Writes one formatted line (newline added) to fd; 1 when all of it was written. */
static int write_line(int fd, const char *fmt, va_list ap)
{
	char b[1024];
	int n = vsnprintf(b, sizeof b - 1, fmt, ap);
	b[n++] = '\n';
	return write(fd, b, (size_t)n) == n;
}

void send_to(struct proc *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int sent = write_line(p->in, fmt, ap);
	va_end(ap);
	if (!sent) FAIL("write to pid %d failed", p->pid);
}

const char *coord(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int sent = write_line(g_coord.in, fmt, ap);
	va_end(ap);
	if (!sent || !read_line(&g_coord, g_reply, sizeof g_reply, 30000)) snprintf(g_reply, sizeof g_reply, "err no reply");
	return g_reply;
}
int ok(const char *reply) { return !strncmp(reply, "ok", 2); }

int wait_exit(struct proc *p, long ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end) {
		pid_t r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid) {
			p->exited = 1;
			return 1;
		}
		struct pollfd pf = {p->out, POLLIN, 0};
		if (poll(&pf, 1, 10) > 0) { /* drain output so the child never blocks on it */
			ssize_t n = read(p->out, p->buf + p->len, sizeof p->buf - p->len - 1);
			if (n > 0) p->len = (p->len + (size_t)n) % (sizeof p->buf / 2);
		}
	}
	return 0;
}

int has_output(struct proc *p, long ms)
{
	if (p->len) return 1;
	struct pollfd pf = {p->out, POLLIN, 0};
	return poll(&pf, 1, (int)ms) > 0;
}

int64_t stat_of(pid_t pid, const char *field)
{
	const char *r = coord("stat %d", pid);
	if (!ok(r)) return -1;
	int64_t v = -1;
	const char *j = strchr(r, '{');
	if (!j || !xj_get_i64(j, strlen(j), field, &v)) return -1;
	return v;
}

int coord_queues(pid_t pid, struct cq *out, int cap)
{
	const char *r = coord("queues %d", pid);
	if (!ok(r)) return -1;
	int n = 0;
	for (const char *p = strchr(r, '{'); p && n < cap; p = strchr(p + 1, '{')) {
		const char *e = strchr(p, '}');
		if (!e) break;
		size_t len = (size_t)(e - p + 1);
		memset(&out[n], 0, sizeof out[n]);
		xj_get_i64(p, len, "id", &out[n].id);
		xj_get_i64(p, len, "gpu_id", &out[n].gpu_id);
		xj_get_i64(p, len, "ring_base", &out[n].ring_base);
		xj_get_i64(p, len, "priority_applied", &out[n].prio_applied);
		xj_get_i64(p, len, "priority_requested", &out[n].prio_req);
		xj_get_str(p, len, "state", out[n].state, sizeof out[n].state);
		n++;
	}
	return n;
}

int dev_queues(pid_t pid, struct devq *out, int cap)
{
	const struct xsb_emu_kfd_queue *t =
	    (const struct xsb_emu_kfd_queue *)((const char *)g_dev + g_dev->off_kfd_queues);
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t s0 = atomic_load(&g_dev->seq);
		if (s0 & 1) continue;
		int n = 0;
		for (unsigned i = 0; i < XSB_EMU_QUEUE_MIRROR && n < cap; i++) {
			if (!(t[i].flags & XSB_EMU_KQ_USED) || t[i].pid != (uint32_t)pid) continue;
			out[n].id = t[i].queue_id;
			out[n].gpu_id = t[i].gpu_id;
			out[n].type = t[i].queue_type;
			out[n].priority = t[i].priority;
			out[n].flags = t[i].flags;
			out[n].percentage = t[i].percentage;
			out[n].ring_slot = t[i].ring_slot;
			out[n].ring_base = t[i].ring_base_address;
			n++;
		}
		if (atomic_load(&g_dev->seq) == s0) return n;
	}
	return -1;
}

static struct xsb_emu_ring *ring(uint32_t slot)
{
	return (struct xsb_emu_ring *)((char *)g_dev + g_dev->off_rings) + slot;
}

static int owns(const struct xsb_emu_ring *r, pid_t pid)
{
	return r->owner_pid == (uint32_t)pid && r->alloc_state != XSB_EMU_RING_FREE;
}

uint64_t dev_written(pid_t pid)
{
	uint64_t w = 0;
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++)
		if (owns(ring(s), pid)) w += atomic_load(&ring(s)->write_index);
	return w;
}

uint64_t dev_completed(pid_t pid)
{
	uint64_t c = 0;
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++)
		if (owns(ring(s), pid)) c += atomic_load(&ring(s)->read_index);
	return c;
}

int dev_kernels_in_flight(pid_t pid)
{
	int n = 0;
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++) {
		struct xsb_emu_ring *r = ring(s);
		if (!owns(r, pid)) continue;
		uint64_t ri = atomic_load(&r->read_index), wi = atomic_load(&r->write_index);
		for (uint64_t i = ri; i < wi && i < ri + XSB_EMU_RING_PACKETS; i++) {
			uint16_t h = atomic_load(&r->packets[i % XSB_EMU_RING_PACKETS].header);
			if ((h & XSB_AQL_TYPE_MASK) == XSB_AQL_TYPE_KERNEL_DISPATCH) n++;
		}
	}
	return n;
}

int is_compute(uint32_t queue_type) { return queue_type == 0 || queue_type == 2; }

int dev_all_compute(pid_t pid, uint32_t flag, int want_set)
{
	struct devq q[64];
	int n = dev_queues(pid, q, 64), m = 0;
	for (int i = 0; i < n; i++) {
		if (!is_compute(q[i].type)) continue;
		if (!!(q[i].flags & flag) != !!want_set) return 0;
		m++;
	}
	return m > 0;
}

int wait_dev(pid_t pid, uint32_t flag, int set, long ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end) {
		if (dev_all_compute(pid, flag, set)) return 1;
		usleep(1000); /* polling a state word with a deadline */
	}
	return 0;
}
