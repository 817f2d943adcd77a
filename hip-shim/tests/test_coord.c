/*
 * test_coord - a small coordinator speaking the shim wire (xsb_wire.h), driven by a script.
 *
 *   test_coord --socket PATH [--log FILE] [--gate open|closed] [--lease-ms N] [--lv1 T,B]
 *              [--mechanism dbg-trap|deactivate]
 *
 * Accepts shims, identifies them by SO_PEERCRED, appends every received line to the log as
 * {"peer":PID,"msg":...}, maps each control block (validating magic, version, size and
 * header checksum), sets the initial gate, then answers hello with ack + config. With
 * --lease-ms it renews every lease at a third of its length.
 * Commands on stdin, one reply line on stdout each ("ok ..." or "err ..."):
 *   wait-hello N MS            wait until N shims said hello; replies their pids
 *   gate PID open|closed       write the gate word (+ FUTEX_WAKE)
 *   hold PID | release PID     write suspend_req, bump req_seq (+ FUTEX_WAKE); replies the seq
 *   wait-exec PID held|running MS   wait for exec_state and ack_seq >= the last request
 *   stat PID                   counters of the control block as JSON
 *   wait-stat PID FIELD MIN MS wait until counter FIELD >= MIN
 *   lv1 PID T B                config with lv1 threshold/batch
 *   priority PID P             config with priority
 *   mechanism PID M            config with mechanism; replies its seq
 *   wait-ack PID SEQ MS        wait for the ack of config SEQ (or later); replies the ack line
 *   hello PID                  the peer's hello line
 *   queues PID                 the queue table built from the shim's queue events (JSON array)
 *   pause-lease PID            stop renewing PID's lease
 *   expire PID                 write a lease deadline in the past into the control block
 *   close PID                  close the connection
 *   wait-gone PID MS           wait until the shim closed its connection
 *   corrupt-gate PID VALUE     write an arbitrary gate value
 *   quit
 * PID may be "*" for the first peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "xjson.h"
#include "xsb_wire.h"

#define MAX_PEERS 32
#define MAX_QUEUES 64

struct tq {
	int used;
	unsigned id, gpu_id, qtype, ring_size, prio_req, prio_applied;
	unsigned long long ring_base;
	char state[16];
};

struct peer {
	int fd;
	int pid;
	int hello;
	int gone;
	int renew;
	long long lease_ms;
	unsigned long long next_renew;
	struct xsb_ctrl *ctrl;
	char buf[XSB_WIRE_MAX_LINE * 2];
	size_t len;
	uint32_t last_seq;
	struct tq q[MAX_QUEUES];
	char hello_line[4096];
	char ack_line[512];
	int64_t ack_seq;
};

static struct peer peers[MAX_PEERS];
static FILE *logf;
static int gate_closed;
static long long lease_ms;
static int lv1_t = -1, lv1_b = -1;
static const char *mechanism;
static int config_seq;

static unsigned long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull;
}

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void reply(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void send_line(struct peer *p, const char *s)
{
	if (p->fd < 0) return;
	size_t n = strlen(s);
	char *b = malloc(n + 1);
	memcpy(b, s, n);
	b[n] = '\n';
	size_t off = 0;
	while (off < n + 1) {
		ssize_t w = send(p->fd, b + off, n + 1 - off, MSG_NOSIGNAL);
		if (w <= 0) break;
		off += (size_t)w;
	}
	free(b);
}

/* A shim that reconnected has an older, closed entry too: the live one answers. */
static struct peer *find(const char *id)
{
	struct peer *any = NULL;
	for (int i = 0; i < MAX_PEERS; i++) {
		if (!peers[i].hello) continue;
		if (!strcmp(id, "*") || atoi(id) == peers[i].pid) {
			if (!peers[i].gone) return &peers[i];
			if (!any) any = &peers[i];
		}
	}
	return any;
}

/* s points into the peer's own receive buffer: a plain copy, truncated */
static void copy_line(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap) n = cap - 1;
	memmove(dst, s, n);
	dst[n] = 0;
}

static int send_config(struct peer *p, const char *extra)
{
	char b[512];
	int seq = ++config_seq;
	snprintf(b, sizeof b, "{\"v\":%u,\"type\":\"config\",\"seq\":%d%s%s}", XSB_WIRE_VERSION, seq, extra[0] ? "," : "",
	         extra);
	send_line(p, b);
	return seq;
}

static void on_hello(struct peer *p, const char *s, size_t n)
{
	char name[128];
	if (!xj_get_str(s, n, "shm", name, sizeof name)) {
		fprintf(stderr, "test_coord: hello without shm\n");
		return;
	}
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0) {
		fprintf(stderr, "test_coord: shm_open %s: %s\n", name, strerror(errno));
		return;
	}
	void *m = mmap(NULL, XSB_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) return;
	struct xsb_ctrl *c = m;
	if (c->magic != XSB_CTRL_MAGIC || c->version != XSB_CTRL_VERSION || c->size != XSB_CTRL_SIZE ||
	    c->header_sum != xsb_ctrl_header_sum(c) || (int)c->pid != p->pid) {
		fprintf(stderr, "test_coord: control block %s fails validation\n", name);
		munmap(m, XSB_CTRL_SIZE);
		return;
	}
	p->ctrl = c;
	p->hello = 1;
	copy_line(p->hello_line, sizeof p->hello_line, s, n);
	p->ack_seq = -1;
	atomic_store(&c->gate, gate_closed ? XSB_GATE_CLOSED : XSB_GATE_OPEN);
	char ack[128];
	snprintf(ack, sizeof ack, "{\"v\":%u,\"type\":\"ack\",\"of\":\"hello\"}", XSB_WIRE_VERSION);
	send_line(p, ack);
	char extra[256] = "";
	size_t o = 0;
	if (lease_ms > 0) {
		o += (size_t)snprintf(extra + o, sizeof extra - o, "\"lease_ms\":%lld", lease_ms);
		p->renew = 1;
		p->lease_ms = lease_ms;
		p->next_renew = now_ms() + (unsigned long long)lease_ms / 3;
	}
	if (lv1_t >= 0)
		o += (size_t)snprintf(extra + o, sizeof extra - o, "%s\"lv1\":{\"threshold\":%d,\"batch\":%d}", o ? "," : "",
		                      lv1_t, lv1_b);
	if (mechanism)
		o += (size_t)snprintf(extra + o, sizeof extra - o, "%s\"mechanism\":\"%s\"", o ? "," : "", mechanism);
	send_config(p, extra);
}

static void on_queue(struct peer *p, const char *s, size_t n)
{
	char ev[16];
	int64_t id, v;
	if (!xj_get_str(s, n, "event", ev, sizeof ev) || !xj_get_i64(s, n, "id", &id)) return;
	struct tq *q = NULL;
	for (int i = 0; i < MAX_QUEUES; i++)
		if (p->q[i].used && p->q[i].id == (unsigned)id) q = &p->q[i];
	if (!strcmp(ev, "destroy")) {
		if (q) q->used = 0;
		return;
	}
	for (int i = 0; !q && i < MAX_QUEUES; i++)
		if (!p->q[i].used) q = &p->q[i];
	if (!q) return;
	q->used = 1;
	q->id = (unsigned)id;
	if (xj_get_i64(s, n, "gpu_id", &v)) q->gpu_id = (unsigned)v;
	if (xj_get_i64(s, n, "qtype", &v)) q->qtype = (unsigned)v;
	if (xj_get_i64(s, n, "ring_base", &v)) q->ring_base = (unsigned long long)v;
	if (xj_get_i64(s, n, "ring_size", &v)) q->ring_size = (unsigned)v;
	if (xj_get_i64(s, n, "priority_requested", &v)) q->prio_req = (unsigned)v;
	if (xj_get_i64(s, n, "priority_applied", &v)) q->prio_applied = (unsigned)v;
	xj_get_str(s, n, "state", q->state, sizeof q->state);
}

static void on_line(struct peer *p, const char *s, size_t n)
{
	fprintf(logf, "{\"peer\":%d,\"msg\":%.*s}\n", p->pid, (int)n, s);
	fflush(logf);
	if (xj_check_object(s, n) != 0) {
		fprintf(stderr, "test_coord: peer %d sent a malformed line\n", p->pid);
		return;
	}
	char type[32];
	int64_t v;
	if (!xj_get_i64(s, n, "v", &v) || v != XSB_WIRE_VERSION || !xj_get_str(s, n, "type", type, sizeof type)) return;
	if (!strcmp(type, "hello")) on_hello(p, s, n);
	else if (!strcmp(type, "queue")) on_queue(p, s, n);
	else if (!strcmp(type, "ack")) {
		char of[16];
		int64_t seq;
		if (xj_get_str(s, n, "of", of, sizeof of) && !strcmp(of, "config") && xj_get_i64(s, n, "seq", &seq)) {
			p->ack_seq = seq;
			copy_line(p->ack_line, sizeof p->ack_line, s, n);
		}
	}
}

static void peer_read(struct peer *p)
{
	ssize_t r = recv(p->fd, p->buf + p->len, sizeof p->buf - p->len, 0);
	if (r <= 0) {
		close(p->fd);
		p->fd = -1;
		p->gone = 1;
		return;
	}
	p->len += (size_t)r;
	char *nl;
	while ((nl = memchr(p->buf, '\n', p->len))) {
		size_t n = (size_t)(nl - p->buf);
		if (n) on_line(p, p->buf, n);
		memmove(p->buf, nl + 1, p->len - n - 1);
		p->len -= n + 1;
	}
	if (p->len >= sizeof p->buf) p->len = 0;
}

static int lsock = -1;

static void pump(int timeout_ms)
{
	struct pollfd fds[MAX_PEERS + 2];
	int map[MAX_PEERS + 2], n = 0;
	fds[n].fd = lsock;
	fds[n].events = POLLIN;
	map[n++] = -1;
	fds[n].fd = 0; /* a command wakes the loop at once */
	fds[n].events = POLLIN;
	map[n++] = -2;
	for (int i = 0; i < MAX_PEERS; i++)
		if (peers[i].fd >= 0 && !peers[i].gone) {
			fds[n].fd = peers[i].fd;
			fds[n].events = POLLIN;
			map[n++] = i;
		}
	if (poll(fds, (nfds_t)n, timeout_ms) > 0) {
		for (int k = 0; k < n; k++) {
			if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)) || map[k] == -2) continue;
			if (map[k] == -1) {
				int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
				if (c < 0) continue;
				struct ucred cr;
				socklen_t cl = sizeof cr;
				getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
				for (int i = 0; i < MAX_PEERS; i++)
					if (peers[i].fd < 0 && !peers[i].hello && !peers[i].gone) {
						memset(&peers[i], 0, sizeof peers[i]);
						peers[i].fd = c;
						peers[i].pid = cr.pid;
						c = -1;
						break;
					}
				if (c >= 0) close(c);
			} else {
				peer_read(&peers[map[k]]);
			}
		}
	}
	unsigned long long t = now_ms();
	for (int i = 0; i < MAX_PEERS; i++) {
		struct peer *p = &peers[i];
		if (p->fd >= 0 && p->renew && t >= p->next_renew) {
			char b[128];
			snprintf(b, sizeof b, "{\"v\":%u,\"type\":\"lease\",\"lease_ms\":%lld}", XSB_WIRE_VERSION, p->lease_ms);
			send_line(p, b);
			p->next_renew = t + (unsigned long long)p->lease_ms / 3;
		}
	}
}

/* Pumps until cond(arg) holds or ms elapsed. */
static int wait_for(int (*cond)(void *), void *arg, long ms)
{
	unsigned long long end = now_ms() + (unsigned long long)ms;
	for (;;) {
		if (cond(arg)) return 1;
		if (now_ms() >= end) return 0;
		pump(50);
	}
}

static int hello_count(void)
{
	int n = 0;
	for (int i = 0; i < MAX_PEERS; i++) n += peers[i].hello;
	return n;
}
static int cond_hellos(void *a) { return hello_count() >= *(int *)a; }

struct exec_wait {
	struct peer *p;
	uint32_t state;
};
static int cond_exec(void *a)
{
	struct exec_wait *w = a;
	struct xsb_ctrl *c = w->p->ctrl;
	uint32_t ack = atomic_load(&c->ack_seq);
	return atomic_load(&c->exec_state) == w->state && (int32_t)(ack - w->p->last_seq) >= 0;
}

static uint64_t stat_field(struct xsb_ctrl *c, const char *f)
{
#define F(name) if (!strcmp(f, #name)) return (uint64_t)atomic_load(&c->name);
	F(launches) F(gated_waits) F(gated_wait_ns) F(lv1_waits) F(suspends) F(resumes) F(suspend_ns_last)
	F(suspend_ns_max) F(resume_ns_last) F(resume_ns_max) F(queues) F(errors) F(exec_state) F(held_queues)
	F(activity) F(activity_transitions) F(fail_open_ns) F(ack_seq) F(exec_error)
#undef F
	return UINT64_MAX;
}

struct stat_wait {
	struct peer *p;
	const char *f;
	uint64_t min;
};
static int cond_stat(void *a)
{
	struct stat_wait *w = a;
	uint64_t v = stat_field(w->p->ctrl, w->f);
	return v != UINT64_MAX && v >= w->min;
}
static int cond_gone(void *a) { return ((struct peer *)a)->gone; }

struct ack_wait {
	struct peer *p;
	int64_t seq;
};
static int cond_ack(void *a)
{
	struct ack_wait *w = a;
	return w->p->ack_seq >= w->seq;
}

static void command(char *line)
{
	char *argv[8];
	int argc = 0;
	for (char *t = strtok(line, " \t\n"); t && argc < 8; t = strtok(NULL, " \t\n")) argv[argc++] = t;
	if (!argc) return;
	const char *c = argv[0];
	if (!strcmp(c, "quit")) exit(0);
	if (!strcmp(c, "wait-hello") && argc == 3) {
		int want = atoi(argv[1]);
		if (!wait_for(cond_hellos, &want, atol(argv[2]))) return reply("err timeout (%d hellos)", hello_count());
		char b[512] = "ok";
		for (int i = 0; i < MAX_PEERS; i++)
			if (peers[i].hello) snprintf(b + strlen(b), sizeof b - strlen(b), " %d", peers[i].pid);
		return reply("%s", b);
	}
	struct peer *p = argc >= 2 ? find(argv[1]) : NULL;
	if (!p || !p->ctrl) return reply("err no such peer");
	struct xsb_ctrl *x = p->ctrl;
	if (!strcmp(c, "gate") && argc == 3) {
		atomic_store(&x->gate, !strcmp(argv[2], "closed") ? XSB_GATE_CLOSED : XSB_GATE_OPEN);
		wake(&x->gate);
		return reply("ok %llu", now_ns());
	}
	if (!strcmp(c, "corrupt-gate") && argc == 3) {
		atomic_store(&x->gate, (uint32_t)strtoul(argv[2], NULL, 0));
		wake(&x->gate);
		return reply("ok");
	}
	if ((!strcmp(c, "hold") || !strcmp(c, "release")) && argc == 2) {
		atomic_store(&x->suspend_req, !strcmp(c, "hold") ? XSB_REQ_HOLD : XSB_REQ_RUN);
		p->last_seq = atomic_fetch_add(&x->req_seq, 1) + 1;
		wake(&x->req_seq);
		return reply("ok %u", p->last_seq);
	}
	if (!strcmp(c, "wait-exec") && argc == 4) {
		struct exec_wait w = {p, !strcmp(argv[2], "held") ? XSB_EXEC_HELD : XSB_EXEC_RUNNING};
		if (!wait_for(cond_exec, &w, atol(argv[3])))
			return reply("err timeout exec_state=%u ack=%u want_seq=%u error=%d", atomic_load(&x->exec_state),
			             atomic_load(&x->ack_seq), p->last_seq, atomic_load(&x->exec_error));
		return reply("ok held=%u", atomic_load(&x->held_queues));
	}
	if (!strcmp(c, "stat")) {
		return reply("ok {\"launches\":%llu,\"gated_waits\":%llu,\"lv1_waits\":%llu,\"suspends\":%llu,"
		             "\"resumes\":%llu,\"suspend_ns_last\":%llu,\"resume_ns_last\":%llu,\"queues\":%u,"
		             "\"exec_state\":%u,\"held_queues\":%u,\"errors\":%u,\"activity\":%u,\"fail_open_ns\":%llu}",
		             (unsigned long long)x->launches, (unsigned long long)x->gated_waits,
		             (unsigned long long)x->lv1_waits, (unsigned long long)x->suspends,
		             (unsigned long long)x->resumes, (unsigned long long)x->suspend_ns_last,
		             (unsigned long long)x->resume_ns_last, (unsigned)x->queues, (unsigned)x->exec_state,
		             (unsigned)x->held_queues, (unsigned)x->errors, (unsigned)x->activity,
		             (unsigned long long)x->fail_open_ns);
	}
	if (!strcmp(c, "wait-stat") && argc == 5) {
		struct stat_wait w = {p, argv[2], strtoull(argv[3], NULL, 10)};
		if (!wait_for(cond_stat, &w, atol(argv[4])))
			return reply("err timeout %s=%llu", argv[2], (unsigned long long)stat_field(x, argv[2]));
		return reply("ok %llu %llu", (unsigned long long)stat_field(x, argv[2]), now_ns());
	}
	if (!strcmp(c, "lv1") && argc == 4) {
		char e[128];
		snprintf(e, sizeof e, "\"lv1\":{\"threshold\":%s,\"batch\":%s}", argv[2], argv[3]);
		send_config(p, e);
		return reply("ok");
	}
	if (!strcmp(c, "priority") && argc == 3) {
		char e[64];
		snprintf(e, sizeof e, "\"priority\":%s", argv[2]);
		send_config(p, e);
		return reply("ok");
	}
	if (!strcmp(c, "mechanism") && argc == 3) {
		char e[64];
		snprintf(e, sizeof e, "\"mechanism\":\"%s\"", argv[2]);
		return reply("ok %d", send_config(p, e));
	}
	if (!strcmp(c, "wait-ack") && argc == 4) {
		struct ack_wait w = {p, atoll(argv[2])};
		if (!wait_for(cond_ack, &w, atol(argv[3]))) return reply("err timeout (last ack %lld)", (long long)p->ack_seq);
		return reply("ok %s", p->ack_line);
	}
	if (!strcmp(c, "hello")) return reply("ok %s", p->hello_line);
	if (!strcmp(c, "queues")) {
		pump(20); /* take in what is already on the socket */
		char b[8192] = "ok [";
		int first = 1;
		for (int i = 0; i < MAX_QUEUES; i++) {
			struct tq *q = &p->q[i];
			if (!q->used) continue;
			snprintf(b + strlen(b), sizeof b - strlen(b),
			         "%s{\"id\":%u,\"gpu_id\":%u,\"qtype\":%u,\"ring_base\":%llu,\"ring_size\":%u,"
			         "\"priority_requested\":%u,\"priority_applied\":%u,\"state\":\"%s\"}",
			         first ? "" : ",", q->id, q->gpu_id, q->qtype, q->ring_base, q->ring_size, q->prio_req,
			         q->prio_applied, q->state);
			first = 0;
		}
		strcat(b, "]");
		return reply("%s", b);
	}
	if (!strcmp(c, "pause-lease")) {
		p->renew = 0;
		return reply("ok");
	}
	if (!strcmp(c, "expire")) {
		atomic_store(&x->lease_deadline_ns, 1);
		return reply("ok");
	}
	if (!strcmp(c, "close")) {
		if (p->fd >= 0) close(p->fd);
		p->fd = -1;
		return reply("ok");
	}
	if (!strcmp(c, "wait-gone") && argc == 3) {
		if (!wait_for(cond_gone, p, atol(argv[2]))) return reply("err timeout");
		return reply("ok");
	}
	reply("err unknown command %s", c);
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *logpath = "/dev/null";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) sock = argv[++i];
		else if (!strcmp(argv[i], "--log") && i + 1 < argc) logpath = argv[++i];
		else if (!strcmp(argv[i], "--gate") && i + 1 < argc) gate_closed = !strcmp(argv[++i], "closed");
		else if (!strcmp(argv[i], "--lease-ms") && i + 1 < argc) lease_ms = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--lv1") && i + 1 < argc) {
			if (sscanf(argv[++i], "%d,%d", &lv1_t, &lv1_b) != 2) lv1_t = -1;
		} else if (!strcmp(argv[i], "--mechanism") && i + 1 < argc) {
			mechanism = argv[++i];
		} else {
			fprintf(stderr, "usage: test_coord --socket PATH [--log FILE] [--gate open|closed] [--lease-ms N] [--lv1 T,B] [--mechanism M]\n");
			return 2;
		}
	}
	if (!sock) return 2;
	logf = fopen(logpath, "a");
	if (!logf) return 2;
	for (int i = 0; i < MAX_PEERS; i++) peers[i].fd = -1;
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	unlink(sock);
	if (bind(lsock, (struct sockaddr *)&a, sizeof a) != 0 || listen(lsock, 16) != 0) {
		perror("test_coord: bind/listen");
		return 1;
	}
	reply("ready");
	char line[1024];
	size_t ll = 0;
	for (;;) {
		struct pollfd in = {0, POLLIN, 0};
		if (poll(&in, 1, 0) > 0) {
			ssize_t r = read(0, line + ll, sizeof line - 1 - ll);
			if (r <= 0) return 0; /* the driver went away */
			ll += (size_t)r;
			char *nl;
			while ((nl = memchr(line, '\n', ll))) {
				*nl = 0;
				char cmd[1024];
				memcpy(cmd, line, (size_t)(nl - line) + 1);
				size_t used = (size_t)(nl - line) + 1;
				memmove(line, nl + 1, ll - used);
				ll -= used;
				command(cmd);
			}
		}
		pump(50);
	}
}
