/*
 * test_emu_device: starts xsb-emu-device on a temporary directory and speaks the raw
 * protocol (no client library) to check the execution model:
 *   1. 200 spin kernels of 2 ms on one queue finish in 200 x (2 ms + 5 us) +- 5 % of model
 *      time, each completion signalled exactly once, in order;
 *   2. two processes saturating the device get about half of it each;
 *   3. a DBG_TRAP suspend of one queue delays another queue's running dispatch by exactly
 *      the modelled runlist transition, and the suspended dispatch finishes after RESUME.
 * Usage: test_emu_device PATH-TO-xsb-emu-device
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "xsb_emu_proto.h"
#include "xsb_kfd_abi.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", \
	__FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define DIE(...) do { fprintf(stderr, "FATAL: " __VA_ARGS__); fputc('\n', stderr); \
	cleanup(); exit(1); } while (0)

static char dir[64];
static pid_t device_pid = -1;

static int atexit_disabled;
static void cleanup(void)
{
	if (atexit_disabled) /* a child process: the parent cleans up */
		return;
	if (device_pid > 0) {
		kill(device_pid, SIGTERM);
		waitpid(device_pid, NULL, 0);
		device_pid = -1;
	}
	if (dir[0]) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "warning: could not remove %s\n", dir);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- a connection ---- */
struct dconn {
	int fd;
	int doorbell;
	uint8_t *base;
	size_t size;
	struct xsb_emu_shm *shm;
};

static uint8_t buf[XSB_EMU_MAX_MSG];

static int64_t rpc(struct dconn *c, struct xsb_emu_msg *m, const void *arg, const void *extra,
		   void *arg_out, void *extra_out, size_t extra_cap, int *fds)
{
	m->magic = XSB_EMU_MSG_MAGIC;
	m->version = XSB_EMU_PROTO_VERSION;
	m->tid = (uint32_t)syscall(SYS_gettid);
	size_t len = sizeof(*m) + m->arg_size + m->extra_len;
	memcpy(buf, m, sizeof(*m));
	if (m->arg_size)
		memcpy(buf + sizeof(*m), arg, m->arg_size);
	if (m->extra_len)
		memcpy(buf + sizeof(*m) + m->arg_size, extra, m->extra_len);
	if (send(c->fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		DIE("send: %s", strerror(errno));
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	if (poll(&pfd, 1, 20000) != 1)
		DIE("no reply within 20 s (op %u)", m->op);
	union { char b[CMSG_SPACE(2 * sizeof(int))]; struct cmsghdr a; } ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < (ssize_t)sizeof(*m))
		DIE("short reply (%zd)", n);
	struct xsb_emu_msg r;
	memcpy(&r, buf, sizeof(r));
	if (r.magic != XSB_EMU_MSG_MAGIC || (size_t)n != sizeof(r) + r.arg_size + r.extra_len)
		DIE("malformed reply");
	if (fds) {
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		if (!cm || cm->cmsg_type != SCM_RIGHTS)
			DIE("HELLO reply without fds");
		memcpy(fds, CMSG_DATA(cm), 2 * sizeof(int));
	}
	if (arg_out && r.arg_size)
		memcpy(arg_out, buf + sizeof(r), r.arg_size);
	if (extra_out && r.extra_len)
		memcpy(extra_out, buf + sizeof(r) + r.arg_size, r.extra_len < extra_cap ? r.extra_len : extra_cap);
	memcpy(m->u64, r.u64, sizeof(m->u64));
	return r.ret;
}

static void dconnect(struct dconn *c, uint32_t kind)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/device.sock", dir);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		DIE("connect %s: %s", sa.sun_path, strerror(errno));
	struct xsb_emu_msg m = { .op = XSB_EMU_OP_HELLO, .u64 = { kind } };
	int fds[2];
	int64_t r = rpc(c, &m, NULL, NULL, NULL, NULL, 0, fds);
	if (r)
		DIE("HELLO: %lld", (long long)r);
	c->size = m.u64[0];
	c->doorbell = fds[1];
	c->base = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (c->base == MAP_FAILED)
		DIE("mmap: %s", strerror(errno));
	c->shm = (struct xsb_emu_shm *)c->base;
	if (c->shm->magic != XSB_EMU_SHM_MAGIC)
		DIE("bad shm magic");
}

static struct xsb_emu_ring *ring_at(struct dconn *c, uint32_t slot)
{
	return (struct xsb_emu_ring *)(c->base + c->shm->off_rings) + slot;
}
static struct xsb_emu_signal *sig_at(struct dconn *c, uint32_t i)
{
	return (struct xsb_emu_signal *)(c->base + c->shm->off_signals) + i;
}

static uint32_t alloc_ring(struct dconn *c)
{
	struct xsb_emu_msg m = { .op = XSB_EMU_OP_ALLOC_RING };
	int64_t r = rpc(c, &m, NULL, NULL, NULL, NULL, 0, NULL);
	if (r)
		DIE("ALLOC_RING: %lld", (long long)r);
	return (uint32_t)m.u64[0];
}

static uint32_t alloc_signals(struct dconn *c, uint32_t n)
{
	struct xsb_emu_msg m = { .op = XSB_EMU_OP_ALLOC_SIGNALS, .u64 = { n } };
	int64_t r = rpc(c, &m, NULL, NULL, NULL, NULL, 0, NULL);
	if (r)
		DIE("ALLOC_SIGNALS: %lld", (long long)r);
	return (uint32_t)m.u64[0];
}

static int64_t ioctl_rpc(struct dconn *c, uint32_t nr, void *arg, uint32_t size,
			 const void *extra, uint32_t extra_len, uint64_t u0, uint32_t flags,
			 void *extra_out, size_t extra_cap)
{
	struct xsb_emu_msg m = { .op = XSB_EMU_OP_IOCTL, .nr = nr, .ioc_dir = _IOC_READ | _IOC_WRITE,
				 .arg_size = size, .extra_len = extra_len, .flags = flags,
				 .u64 = { u0 } };
	return rpc(c, &m, arg, extra, arg, extra_out, extra_cap, NULL);
}

static uint32_t create_queue(struct dconn *c, uint32_t slot, uint32_t prio)
{
	struct xsb_emu_ring *r = ring_at(c, slot);
	struct xsb_kfd_create_queue_args a = {
		.ring_base_address = (uint64_t)(uintptr_t)r->packets,
		.write_pointer_address = (uint64_t)(uintptr_t)&r->write_index,
		.read_pointer_address = (uint64_t)(uintptr_t)&r->read_index,
		.ring_size = XSB_EMU_RING_PACKETS * 64,
		.gpu_id = c->shm->gpu_id,
		.queue_type = XSB_KFD_QUEUE_TYPE_COMPUTE_AQL,
		.queue_percentage = 100,
		.queue_priority = prio,
	};
	int64_t ret = ioctl_rpc(c, XSB_KFD_NR_CREATE_QUEUE, &a, sizeof(a), NULL, 0, slot + 1, 0, NULL, 0);
	if (ret)
		DIE("CREATE_QUEUE: %lld", (long long)ret);
	return a.queue_id;
}

/* Writes packet i (grid/wg given) of duration ns with completion signal sig. */
static void put_packet(struct xsb_emu_ring *r, uint64_t i, uint32_t grid, uint32_t wg,
		       uint64_t ns, uint32_t sig)
{
	struct xsb_emu_packet *p = &r->packets[i & (XSB_EMU_RING_PACKETS - 1)];
	memcpy(r->kernarg[i & (XSB_EMU_RING_PACKETS - 1)], &ns, sizeof(ns));
	p->setup = 1;
	p->workgroup_size_x = (uint16_t)wg;
	p->workgroup_size_y = p->workgroup_size_z = 1;
	p->grid_size_x = grid;
	p->grid_size_y = p->grid_size_z = 1;
	p->kernel_object = XSB_EMU_KOBJ_SPIN;
	p->completion_signal = (uint64_t)sig + 1;
	p->submit_ns = now_ns();
	atomic_store_explicit(&p->header,
			      (uint16_t)(XSB_AQL_TYPE_KERNEL_DISPATCH | XSB_AQL_HEADER_BARRIER),
			      memory_order_release);
}

static void ring_doorbell(struct dconn *c, struct xsb_emu_ring *r, uint64_t count)
{
	atomic_store(&r->write_index, count);
	atomic_store_explicit(&r->doorbell, count - 1, memory_order_release);
	uint64_t one = 1;
	if (write(c->doorbell, &one, sizeof(one)) != sizeof(one))
		DIE("doorbell write");
}

/* Waits until signal value <= 0, at most timeout_ms. */
static int wait_signal(struct xsb_emu_signal *s, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint32_t f = atomic_load(&s->futex);
		if (atomic_load(&s->value) <= 0)
			return 0;
		uint64_t now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct timespec ts = { .tv_sec = (time_t)((deadline - now) / 1000000000ull),
				       .tv_nsec = (long)((deadline - now) % 1000000000ull) };
		syscall(SYS_futex, (uint32_t *)&s->futex, FUTEX_WAIT, f, &ts, NULL, 0);
	}
}

static void start_device(const char *exe)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		DIE("pipe");
	device_pid = fork();
	if (device_pid == 0) {
		char fdnum[16];
		snprintf(fdnum, sizeof(fdnum), "%d", p[1]);
		fcntl(p[1], F_SETFD, 0);
		setenv("XSB_EMU_READY_FD", fdnum, 1);
		unsetenv("XSB_EMU_PROFILE");
		execl(exe, exe, "--dir", dir, "--foreground", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	struct pollfd pfd = { .fd = p[0], .events = POLLIN };
	char c = 0;
	if (poll(&pfd, 1, 10000) != 1 || read(p[0], &c, 1) != 1 || c != 'R')
		DIE("device did not become ready within 10 s");
	close(p[0]);
}

/* ---- 1. 200 x 2 ms on one stream ---- */
static void test_serial(void)
{
	struct dconn c;
	dconnect(&c, XSB_EMU_CONN_FILE);
	uint32_t slot = alloc_ring(&c);
	uint32_t sig0 = alloc_signals(&c, 200);
	create_queue(&c, slot, 7);
	struct xsb_emu_ring *r = ring_at(&c, slot);
	for (uint32_t i = 0; i < 200; i++) {
		atomic_store(&sig_at(&c, sig0 + i)->value, 1);
		put_packet(r, i, 1, 1, 2000000, sig0 + i);
	}
	ring_doorbell(&c, r, 200);
	CHECK(wait_signal(sig_at(&c, sig0 + 199), 5000) == 0, "200 kernels did not finish in 5 s");
	uint64_t prev_end = 0;
	for (uint32_t i = 0; i < 200; i++) {
		struct xsb_emu_signal *s = sig_at(&c, sig0 + i);
		CHECK(atomic_load(&s->value) == 0, "signal %u value %lld (completed once = 0)", i,
		      (long long)atomic_load(&s->value));
		CHECK(s->end_ns - s->start_ns >= 2005000 && s->end_ns - s->start_ns < 2006000,
		      "packet %u took %llu ns (2 ms + 5 us launch)", i,
		      (unsigned long long)(s->end_ns - s->start_ns));
		CHECK(s->start_ns >= prev_end, "packet %u started before packet %u ended", i, i - 1);
		prev_end = s->end_ns;
	}
	double total_ms = (double)(sig_at(&c, sig0 + 199)->end_ns - sig_at(&c, sig0)->start_ns) / 1e6;
	printf("serial: 200 x 2 ms in %.3f ms of model time (expected 401, +-5%%)\n", total_ms);
	CHECK(total_ms >= 380 && total_ms <= 420, "200 x 2 ms took %.3f ms", total_ms);
	CHECK(r->completed == 200 && atomic_load(&r->read_index) == 200,
	      "ring completed %llu read_index %llu", (unsigned long long)r->completed,
	      (unsigned long long)atomic_load(&r->read_index));
	const struct xsb_emu_stats *st = &c.shm->stats;
	double mean = st->completions ? (double)st->late_sum_ns / (double)st->completions : 0;
	uint64_t acc = 0, p99 = 0;
	for (unsigned b = 0; b < 64; b++) {
		acc += st->late_hist[b];
		if (!p99 && acc * 100 >= st->completions * 99)
			p99 = 2ull << b;
	}
	printf("lateness: count %llu mean %.1f us p99 <= %.1f us max %.1f us\n",
	       (unsigned long long)st->completions, mean / 1e3, (double)p99 / 1e3,
	       (double)st->late_max_ns / 1e3);
	close(c.fd);
}

static void dump_status(struct dconn *c)
{
	struct xsb_emu_msg m = { .op = XSB_EMU_OP_STATUS };
	static char js[XSB_EMU_MAX_EXTRA + 1];
	memset(js, 0, sizeof(js));
	rpc(c, &m, NULL, NULL, NULL, js, sizeof(js) - 1, NULL);
	fprintf(stderr, "device status: %s\n", js);
}

/* ---- 2. two processes saturating the device ---- */
#define FAIR_N 40
static void fair_child(int go_fd, int ready_fd, uint32_t *out)
{
	struct dconn c;
	dconnect(&c, XSB_EMU_CONN_FILE);
	uint32_t slot = alloc_ring(&c);
	uint32_t sig0 = alloc_signals(&c, FAIR_N);
	create_queue(&c, slot, 7);
	for (uint32_t i = 0; i < FAIR_N; i++)
		atomic_store(&sig_at(&c, sig0 + i)->value, 1);
	uint32_t info[2] = { slot, sig0 };
	if (write(ready_fd, info, sizeof(info)) != sizeof(info))
		_exit(3);
	char g;
	if (read(go_fd, &g, 1) != 1)
		_exit(4);
	struct xsb_emu_ring *r = ring_at(&c, slot);
	uint32_t cus = c.shm->num_cus;
	for (uint32_t i = 0; i < FAIR_N; i++) {
		put_packet(r, i, cus * 64, 64, 1000000, sig0 + i); /* fills every CU for 1 ms */
	}
	ring_doorbell(&c, r, FAIR_N);
	(void)out;
	/* stay alive (the KFD process must exist) until the parent closes the pipe */
	while (read(go_fd, &g, 1) > 0)
		;
	_exit(0);
}

static void test_fairness(void)
{
	int go[2][2], rd[2];
	if (pipe(go[0]) < 0 || pipe(go[1]) < 0 || pipe(rd) < 0)
		DIE("pipe");
	pid_t kids[2];
	uint32_t info[2][2];
	fflush(stdout);
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			close(go[k][1]);
			close(go[1 - k][1]);
			close(go[1 - k][0]);
			fair_child(go[k][0], rd[1], NULL);
		}
		if (read(rd[0], info[k], sizeof(info[k])) != sizeof(info[k]))
			DIE("child %d setup failed", k);
	}
	struct dconn c;
	dconnect(&c, XSB_EMU_CONN_ADMIN);
	if (write(go[0][1], "g", 1) != 1 || write(go[1][1], "g", 1) != 1)
		DIE("go");
	uint64_t end[2], start = UINT64_MAX;
	for (int k = 0; k < 2; k++) {
		struct xsb_emu_signal *last = sig_at(&c, info[k][1] + FAIR_N - 1);
		if (wait_signal(last, 5000) != 0) {
			CHECK(0, "process %d did not finish", k);
			dump_status(&c);
		}
		end[k] = last->end_ns;
		uint64_t s = sig_at(&c, info[k][1])->start_ns;
		if (s < start)
			start = s;
		for (int i = 0; i < FAIR_N; i++)
			CHECK(atomic_load(&sig_at(&c, info[k][1] + i)->value) == 0,
			      "process %d packet %d not completed exactly once", k, i);
	}
	double ta = (double)(end[0] - start) / 1e6, tb = (double)(end[1] - start) / 1e6;
	double total = ta > tb ? ta : tb;
	printf("fairness: two processes x %d full-device 1 ms kernels: done at %.2f and %.2f ms "
	       "(device-serial total %.1f ms)\n", FAIR_N, ta, tb, 2.0 * FAIR_N * 1.005);
	CHECK(total >= 2 * FAIR_N * 1.0 && total <= 2 * FAIR_N * 1.05,
	      "both together took %.2f ms", total);
	CHECK((ta > tb ? ta - tb : tb - ta) / total < 0.10,
	      "unfair: one process finished at %.2f ms, the other at %.2f ms", ta, tb);
	close(go[0][1]);
	close(go[1][1]);
	for (int k = 0; k < 2; k++)
		waitpid(kids[k], NULL, 0);
	close(c.fd);
}

/* ---- 3. suspend delays everyone by the transition; resume finishes the rest ---- */
static void test_suspend(void)
{
	struct dconn c;
	dconnect(&c, XSB_EMU_CONN_FILE);
	struct xsb_kfd_runtime_enable_args re = { .mode_mask = XSB_KFD_RUNTIME_ENABLE_MODE_ENABLE_MASK };
	CHECK(ioctl_rpc(&c, XSB_KFD_NR_RUNTIME_ENABLE, &re, sizeof(re), NULL, 0, 0, 0, NULL, 0) == 0,
	      "RUNTIME_ENABLE");
	uint32_t sa = alloc_ring(&c), sb = alloc_ring(&c);
	uint32_t sig = alloc_signals(&c, 2);
	uint32_t qa = create_queue(&c, sa, 7);
	create_queue(&c, sb, 7);
	struct xsb_kfd_dbg_trap_args en = { .pid = (uint32_t)getpid(), .op = XSB_KFD_DBG_TRAP_ENABLE };
	en.enable.rinfo_size = sizeof(struct xsb_kfd_runtime_info);
	en.enable.dbg_fd = 0;
	struct xsb_kfd_runtime_info ri = { 0 };
	CHECK(ioctl_rpc(&c, XSB_KFD_NR_DBG_TRAP, &en, sizeof(en), NULL, 0, 0,
			XSB_EMU_F_DBG_FD_VALID, &ri, sizeof(ri)) == 0, "DBG_TRAP ENABLE");
	CHECK(ri.runtime_state == XSB_KFD_RUNTIME_STATE_ENABLED, "runtime_state %u", ri.runtime_state);
	struct xsb_emu_ring *ra = ring_at(&c, sa), *rb = ring_at(&c, sb);
	atomic_store(&sig_at(&c, sig)->value, 1);
	atomic_store(&sig_at(&c, sig + 1)->value, 1);
	put_packet(ra, 0, 1, 1, 50000000, sig);     /* A: 50 ms */
	put_packet(rb, 0, 1, 1, 50000000, sig + 1); /* B: 50 ms */
	ring_doorbell(&c, ra, 1);
	ring_doorbell(&c, rb, 1);
	struct timespec ts = { 0, 10 * 1000000 };
	nanosleep(&ts, NULL); /* let both run for a while (not synchronisation: any delay works) */
	uint32_t ids[1] = { qa };
	struct xsb_kfd_dbg_trap_args su = { .pid = (uint32_t)getpid(), .op = XSB_KFD_DBG_TRAP_SUSPEND_QUEUES };
	su.suspend_queues.num_queues = 1;
	su.suspend_queues.grace_period = 0;
	uint32_t status[1] = { 0 };
	int64_t n = ioctl_rpc(&c, XSB_KFD_NR_DBG_TRAP, &su, sizeof(su), ids, sizeof(ids), 0, 0,
			      status, sizeof(status));
	CHECK(n == 1 && status[0] == qa, "SUSPEND returned %lld status %#x", (long long)n, status[0]);
	CHECK(wait_signal(sig_at(&c, sig + 1), 5000) == 0, "B did not finish");
	CHECK(atomic_load(&sig_at(&c, sig)->value) == 1, "A completed while suspended");
	struct xsb_emu_signal *b = sig_at(&c, sig + 1);
	/* expected: 1 ms unmap + save of 2 CUs + 1 ms remap + restore of B's 1 CU */
	double per_cu = 185597952.0 / 304.0 / 2.5e12 * 1e9;
	double expect = 1e6 + 2 * per_cu + 1e6 + per_cu;
	double delay = (double)(b->end_ns - b->start_ns) - 50005000.0;
	printf("suspend: B delayed by %.1f us (model %.1f us)\n", delay / 1e3, expect / 1e3);
	CHECK(delay > expect - 2000 && delay < expect + 2000, "B delayed by %.0f ns, expected %.0f",
	      delay, expect);
	struct xsb_kfd_dbg_trap_args rs = { .pid = (uint32_t)getpid(), .op = XSB_KFD_DBG_TRAP_RESUME_QUEUES };
	rs.resume_queues.num_queues = 1;
	n = ioctl_rpc(&c, XSB_KFD_NR_DBG_TRAP, &rs, sizeof(rs), ids, sizeof(ids), 0, 0,
		      status, sizeof(status));
	CHECK(n == 1 && status[0] == qa, "RESUME returned %lld status %#x", (long long)n, status[0]);
	CHECK(wait_signal(sig_at(&c, sig), 5000) == 0, "A did not finish after RESUME");
	struct xsb_emu_signal *a = sig_at(&c, sig);
	CHECK(atomic_load(&a->value) == 0, "A value %lld", (long long)atomic_load(&a->value));
	CHECK(a->end_ns - a->start_ns > 50005000ull + 4000000ull,
	      "A ran %llu ns: should include its suspension and two transitions",
	      (unsigned long long)(a->end_ns - a->start_ns));
	CHECK(c.shm->stats.runlist_transitions >= 2, "transitions %llu",
	      (unsigned long long)c.shm->stats.runlist_transitions);
	close(c.fd);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-xsb-emu-device\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "/tmp/xsb-emu-devtest-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	start_device(argv[1]);
	test_serial();
	test_fairness();
	/* a fresh pid: this one still owns test 1's queue, and RUNTIME_ENABLE with queues
	 * present is -EEXIST (runtime_enable: pdd->qpd.queue_count) */
	fflush(stdout);
	pid_t kid = fork();
	if (kid == 0) {
		atexit_disabled = 1;
		device_pid = -1; /* the parent owns the device and the directory */
		test_suspend();
		fflush(stdout);
		_exit(failures ? 1 : 0);
	}
	int st = 0;
	waitpid(kid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		failures++;
	cleanup();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
