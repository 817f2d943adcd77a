/* Capture parsers on the real MI308X fixtures, and malformed variants made from them. */
#include "xsb_kfd.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open fixture %s\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (fread(b, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Offset of the start of 1-based line `line`. */
static size_t line_off(const char *b, size_t len, unsigned line)
{
	size_t o = 0;
	for (unsigned l = 1; l < line && o < len; o++)
		if (b[o] == '\n')
			l++;
	return o;
}

/* Copy of b with line `line` removed. */
static char *drop_line(const char *b, size_t len, unsigned line, size_t *nlen)
{
	size_t s = line_off(b, len, line), e = line_off(b, len, line + 1);
	char *c = malloc(len + 1);
	memcpy(c, b, s);
	memcpy(c + s, b + e, len - e);
	*nlen = len - (e - s);
	c[*nlen] = 0;
	return c;
}

/* Copy of b with the first occurrence of `from` at or after line `line` replaced by `to` (same length). */
static char *patch(const char *b, size_t len, unsigned line, const char *from, const char *to)
{
	char *c = malloc(len + 1);
	memcpy(c, b, len + 1);
	char *p = strstr(c + line_off(b, len, line), from);
	if (!p || strlen(from) != strlen(to)) {
		fprintf(stderr, "patch: '%s' not found after line %u\n", from, line);
		exit(1);
	}
	memcpy(p, to, strlen(to));
	return c;
}

static const char *MQDS = "mi308x_mqds_16streams_pid94314_5queues.txt";
static const char *HQDS = "mi308x_hqds_16streams_pid94314_8gpus_same_moment.txt";
static const char *LOG3C = "mi308x_amdlog3_16streams_create_gpu_max_hw_queues_default4.log";
static const char *LOG3T = "mi308x_amdlog3_16streams_teardown.log";
static const char *LOG5 = "mi308x_amdlog5_stream_priority_4streams_create_dispatch.log";

static void test_mqds(const char *dir)
{
	size_t len;
	char *b = slurp(dir, MQDS, &len);
	struct xsb_mqd_queue q[16];
	struct xsb_parse_error e;
	int n = xsb_parse_mqds(b, len, q, 16, &e);
	CHECK(n == 5, "mqds: %d queues (%s)", n, e.msg);
	int found = 0;
	for (int i = 0; i < n && i < 16; i++) {
		CHECK(q[i].pid == 94314, "pid %u", q[i].pid);
		CHECK(q[i].gpu_id == 0xf7bc, "gpu %x", q[i].gpu_id);
		CHECK(q[i].kind == XSB_MQD_QUEUE_COMPUTE, "kind");
		CHECK(q[i].n_xcc == 4, "queue %d: %u XCC blocks", i, q[i].n_xcc);
		CHECK(q[i].pipe_priority == 1 && q[i].queue_priority == 7, "queue %d prio %u/%u", i,
		      q[i].pipe_priority, q[i].queue_priority);
		for (unsigned x = 0; x < q[i].n_xcc; x++)
			CHECK(q[i].xcc[x].ring_base == q[i].ring_base, "queue %d xcc %u ring base differs", i, x);
		if (q[i].ring_base == 0x7f41b5200000ull)
			found = 1;
	}
	CHECK(found, "ring base 0x7f41b5200000 not found");
	CHECK(q[0].line == 2 && q[0].xcc[1].line == 67, "lines %u %u", q[0].line, q[0].xcc[1].line);
	/* capacity smaller than the count: total still returned */
	n = xsb_parse_mqds(b, len, q, 2, &e);
	CHECK(n == 5, "mqds with cap 2: %d", n);

	/* malformed: a dump line removed inside block 2 of queue 1 (line 100) */
	size_t l2;
	char *m = drop_line(b, len, 100, &l2);
	n = xsb_parse_mqds(m, l2, q, 16, &e);
	CHECK(n == -EBADMSG && e.line == 100, "dropped line: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* malformed: file cut in the middle of the last block (last 3 lines removed) */
	size_t cut = line_off(b, len, 1284);
	n = xsb_parse_mqds(b, cut, q, 16, &e);
	CHECK(n == -EBADMSG && e.line == 1283, "truncated: %d line %u %s", n, e.line, e.msg);
	/* malformed: a line cut in the middle of a word */
	char *t = malloc(len);
	size_t co = line_off(b, len, 300) + 30;
	memcpy(t, b, co);
	memcpy(t + co, "\n", 1);
	n = xsb_parse_mqds(t, co + 1, q, 16, &e);
	CHECK(n == -EBADMSG && e.line == 300, "cut word: %d line %u %s", n, e.line, e.msg);
	free(t);
	/* malformed: bad number in the process header */
	m = patch(b, len, 1, "Process 94314", "Process 94x14");
	n = xsb_parse_mqds(m, len, q, 16, &e);
	CHECK(n == -EBADMSG && e.line == 1, "bad pid: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* malformed: bad gpu id in a queue header */
	m = patch(b, len, 259, "device f7bc", "device f7zc");
	n = xsb_parse_mqds(m, len, q, 16, &e);
	CHECK(n == -EBADMSG && e.line == 259, "bad gpu: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* malformed: bad hex word */
	m = patch(b, len, 5, "00000040 00000000 00000000 ffffffff", "0000004g 00000000 00000000 ffffffff");
	n = xsb_parse_mqds(m, len, q, 16, &e);
	CHECK(n == -EBADMSG && e.line == 5, "bad word: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* malformed: bad digit in a dump offset */
	m = patch(b, len, 5, "00000040:", "0000004g:");
	n = xsb_parse_mqds(m, len, q, 16, &e);
	CHECK(n == -EBADMSG && e.line == 5, "bad offset: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* tolerated: unknown lines and ANSI escapes */
	const char *extra = "\x1b[32mgarbage line\x1b[0m\n\n";
	size_t el = strlen(extra);
	m = malloc(len + el + 1);
	memcpy(m, extra, el);
	memcpy(m + el, b, len + 1);
	n = xsb_parse_mqds(m, len + el, q, 16, &e);
	CHECK(n == 5 && q[0].line == 4, "with noise: %d %s", n, e.msg);
	free(m);
	/* empty input */
	CHECK(xsb_parse_mqds("", 0, q, 16, &e) == 0, "empty");
	CHECK(xsb_parse_mqds(NULL, 0, NULL, 0, &e) == 0, "null");
	free(b);
}

static void test_hqds(const char *dir)
{
	size_t len;
	char *b = slurp(dir, HQDS, &len);
	static struct xsb_hqd_slot s[2000];
	struct xsb_parse_error e;
	int n = xsb_parse_hqds(b, len, s, 2000, &e);
	CHECK(n == 32 + 768 + 512, "hqds: %d slots (%s)", n, e.msg);
	int active_f7bc = 0, active_other = 0, hiq = 0, gpus = 0;
	uint32_t last_gpu = 0;
	for (int i = 0; i < n && i < 2000; i++) {
		if (s[i].gpu_id != last_gpu) {
			gpus++;
			last_gpu = s[i].gpu_id;
		}
		if (s[i].kind == XSB_HQD_KIND_HIQ) {
			hiq++;
			continue;
		}
		if (s[i].kind != XSB_HQD_KIND_CP || !s[i].active)
			continue;
		if (s[i].gpu_id == 0xf7bc) {
			active_f7bc++;
			CHECK(s[i].pipe_priority == 1 && s[i].queue_priority == 7, "slot prio");
			CHECK((s[i].ring_base >> 40) == 0x7f, "slot ring base %llx", (unsigned long long)s[i].ring_base);
		} else {
			active_other++;
		}
	}
	CHECK(active_f7bc == 20, "active CP slots on f7bc: %d", active_f7bc);
	CHECK(active_other == 0, "active CP slots elsewhere: %d", active_other);
	CHECK(hiq == 32 && gpus == 8, "hiq %d gpus %d", hiq, gpus);
	CHECK(s[0].node == 2 && s[0].line == 2, "first slot node %u line %u", s[0].node, s[0].line);
	/* the ring 0x7f41b5200000 of the mqds capture is live on 4 XCCs */
	int live = 0;
	for (int i = 0; i < n && i < 2000; i++)
		if (s[i].kind == XSB_HQD_KIND_CP && s[i].active && s[i].ring_base == 0x7f41b5200000ull)
			live++;
	CHECK(live == 4, "ring 0x7f41b5200000 live on %d XCCs", live);

	/* malformed: one register line of the first CP slot (lines 11-17) removed: reported at
	 * the slot's last dump line */
	size_t l2;
	char *m = drop_line(b, len, 12, &l2);
	n = xsb_parse_hqds(m, l2, s, 2000, &e);
	CHECK(n == -EBADMSG && e.line == 16, "dropped line: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* malformed: bad gpu id in a node header */
	m = patch(b, len, 1, "gpu_id f7bc", "gpu_id f7bx");
	n = xsb_parse_hqds(m, len, s, 2000, &e);
	CHECK(n == -EBADMSG && e.line == 1, "bad node: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* malformed: bad number in a CP header */
	m = patch(b, len, 10, "Pipe 0, Queue 2", "Pipe 0, Queue x");
	n = xsb_parse_hqds(m, len, s, 2000, &e);
	CHECK(n == -EBADMSG && e.line == 10, "bad slot: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* malformed: file cut inside a CP slot */
	n = xsb_parse_hqds(b, line_off(b, len, 14), s, 2000, &e);
	CHECK(n == -EBADMSG && e.line == 13, "cut: %d line %u %s", n, e.line, e.msg);
	free(b);
}

static void test_logs(const char *dir)
{
	size_t len;
	char *b = slurp(dir, LOG3C, &len);
	struct xsb_log_queue q[16];
	static struct xsb_log_event ev[256];
	uint32_t ne = 0;
	struct xsb_parse_error e;
	int n = xsb_parse_amdlog(b, len, q, 16, ev, 256, &ne, &e);
	CHECK(n == 4, "log3 create: %d queues (%s)", n, e.msg);
	for (int i = 0; i < n && i < 16; i++) {
		CHECK(q[i].priority == 1 && q[i].size == 16384, "queue %d prio %d size %u", i, q[i].priority, q[i].size);
		CHECK(q[i].acquires == 1 && q[i].selects == 3 && q[i].max_refcount == 4,
		      "queue %d acq %u sel %u max %d", i, q[i].acquires, q[i].selects, q[i].max_refcount);
		CHECK(q[i].n_streams == 4, "queue %d shared by %u streams", i, q[i].n_streams);
	}
	CHECK(q[0].hwq == 0x7f3660c00000ull && q[0].swq == 0x7f36633ca000ull && q[0].streams[0] == 0xef26c0,
	      "first queue %llx swq %llx stream %llx", (unsigned long long)q[0].hwq,
	      (unsigned long long)q[0].swq, (unsigned long long)q[0].streams[0]);
	CHECK(ne == 20, "events %u", ne);
	CHECK(ev[0].kind == XSB_LOG_EV_CREATED && ev[0].line == 42 && ev[0].stream == 0xef26c0, "event 0");
	/* malformed: bad priority on a creation line */
	char *m = patch(b, len, 42, "with priority 1", "with priority x");
	n = xsb_parse_amdlog(m, len, q, 16, NULL, 0, NULL, &e);
	CHECK(n == -EBADMSG && e.line == 42, "bad prio: %d line %u %s", n, e.line, e.msg);
	free(m);
	m = patch(b, len, 43, "(1)", "(1]");
	n = xsb_parse_amdlog(m, len, q, 16, NULL, 0, NULL, &e);
	CHECK(n == -EBADMSG && e.line == 43, "bad refcount: %d line %u %s", n, e.line, e.msg);
	free(m);
	/* too many queues for the array */
	n = xsb_parse_amdlog(b, len, q, 2, NULL, 0, NULL, &e);
	CHECK(n == -ENOSPC, "cap 2: %d", n);
	free(b);

	b = slurp(dir, LOG3T, &len);
	n = xsb_parse_amdlog(b, len, q, 16, ev, 256, &ne, &e);
	CHECK(n == 4, "teardown: %d (%s)", n, e.msg);
	for (int i = 0; i < n && i < 16; i++) {
		CHECK(q[i].releases == 4 && q[i].deleted_line > 0 && q[i].last_refcount == 0 && q[i].priority == -1,
		      "teardown queue %d rel %u del %u last %d", i, q[i].releases, q[i].deleted_line, q[i].last_refcount);
		CHECK(q[i].n_streams == 4, "teardown queue %d streams %u", i, q[i].n_streams);
	}
	CHECK(q[0].hwq == 0x7f3660c00000ull && q[0].streams[0] == 0xef26c0, "teardown join by ring base");
	free(b);

	b = slurp(dir, LOG5, &len);
	n = xsb_parse_amdlog(b, len, q, 16, ev, 256, &ne, &e);
	CHECK(n == 4, "log5: %d (%s)", n, e.msg);
	int prios[3] = {0, 0, 0};
	for (int i = 0; i < n && i < 16; i++) {
		if (q[i].priority >= 0 && q[i].priority <= 2)
			prios[q[i].priority]++;
		CHECK(q[i].n_streams == 1, "log5 queue %d streams %u", i, q[i].n_streams);
	}
	CHECK(prios[0] == 1 && prios[1] == 1 && prios[2] == 2, "log5 priorities %d %d %d", prios[0], prios[1], prios[2]);
	CHECK(q[0].hwq == 0x7f8acd200000ull && q[0].priority == 2 && q[0].streams[0] == 0x1952020, "log5 first");
	free(b);
}

int main(int argc, char **argv)
{
	const char *dir = getenv("XSB_FIXTURES");
	if (!dir || !*dir)
		dir = argc > 1 ? argv[1] : "../shared/fixtures";
	char probe[1024];
	snprintf(probe, sizeof(probe), "%s/%s", dir, MQDS);
	FILE *f = fopen(probe, "r");
	if (!f) {
		printf("SKIP: fixtures not found at %s (set XSB_FIXTURES or clone shared/ beside the repo)\n", dir);
		return 77;
	}
	fclose(f);
	test_mqds(dir);
	test_hqds(dir);
	test_logs(dir);
	CHECK_DONE("kfd_test_parsers");
}
