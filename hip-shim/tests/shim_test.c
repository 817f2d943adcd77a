/*
 * shim_test CASE - acceptance tests of libxsb_hip.so (issue 4) on the emulated GPU.
 *
 * Run through native/emu/tests/with-emu.sh --device --shim (a private device, XSB_TEST_PRELOAD =
 * shim first; coord_driver.h). The driver
 * itself is not preloaded: it starts test_coord and shimmed shim_app processes, scripts them
 * over pipes, and observes effects where they happen: the control block through the
 * coordinator, the device through its shared memory (KFD queue mirror, rings). Every wait is
 * bounded and waits on a real condition.
 */
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord_driver.h"
#include "xjson.h"
#include "xsb_emu_client.h"
#include "xsb_emu_proto.h"

static struct proc g_app, g_app2;

void cleanup(void)
{
	proc_kill(&g_app);
	proc_kill(&g_app2);
	proc_kill(&g_coord);
}

static const char *tdir(void)
{
	static char d[512];
	if (!d[0]) {
		ssize_t n = readlink("/proc/self/exe", d, sizeof d - 1);
		d[n > 0 ? n : 0] = 0;
		char *s = strrchr(d, '/');
		if (s) *s = 0;
	}
	return d;
}

static void start_coord(const char *extra1, const char *extra2)
{
	char path[600];
	snprintf(path, sizeof path, "%s/test_coord", tdir());
	char *argv[12] = {path, "--socket", g_socket, "--log", g_log};
	int a = 5;
	char e1[128], e2[128], *t;
	if (extra1) {
		snprintf(e1, sizeof e1, "%s", extra1);
		t = strchr(e1, ' ');
		argv[a++] = e1;
		if (t) *t = 0, argv[a++] = t + 1;
	}
	if (extra2) {
		snprintf(e2, sizeof e2, "%s", extra2);
		t = strchr(e2, ' ');
		argv[a++] = e2;
		if (t) *t = 0, argv[a++] = t + 1;
	}
	argv[a] = NULL;
	spawn(&g_coord, argv, NULL, 0);
	REQUIRE(expect(&g_coord, "ready", 10000, NULL, 0), "test_coord did not start");
}

static void start_app(struct proc *p, const char *const *env, const char *a1, const char *a2, const char *a3,
                      const char *a4)
{
	char path[600];
	snprintf(path, sizeof path, "%s/shim_app", tdir());
	char *argv[] = {path, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
	spawn(p, argv, env, 1);
}

/* ---- cases ---- */
static const char *k_flavours[] = {"api", "null", "legacy", "spt", "ptstream", "coop", "coop_spt", "ext",
                                   "module", "extmodule", "graph", "graph_spt", "memcpyasync", "memcpyasync_spt",
                                   "htodasync", "memsetasync", "memsetasync_spt", "memcpy", "memset",
                                   "eventrecord", "eventrecord_spt", "chevron", "procaddr", "dlsym", "dlopen"};
/* not covered: dlvsym() on a dlopen()ed runtime handle (the shim does not interpose dlvsym) */

static int case_gate(void)
{
	start_coord("--gate closed", NULL);
	const char *env[] = {"XSB_CLASS=offline", NULL};
	start_app(&g_app, env, "flavours", "2000", NULL, NULL);
	REQUIRE(ok(coord("wait-hello 1 10000")), "no hello: %s", g_reply);
	REQUIRE(expect(&g_app, "ready", 10000, NULL, 0), "app not ready");
	pid_t pid = g_app.pid;
	for (size_t i = 0; i < sizeof k_flavours / sizeof *k_flavours; i++) {
		const char *f = k_flavours[i];
		int64_t g0 = stat_of(pid, "gated_waits"), l0 = stat_of(pid, "launches");
		uint64_t w0 = dev_written(pid);
		send_to(&g_app, "%s", f);
		const char *r = coord("wait-stat %d gated_waits %lld 5000", pid, (long long)g0 + 1);
		CHECK(ok(r), "flavour %s never waited at the closed gate: %s", f, r);
		/* parked: nothing reached the device and the call has not returned */
		CHECK(dev_written(pid) == w0, "flavour %s: %llu packets reached the device through a closed gate", f,
		      (unsigned long long)(dev_written(pid) - w0));
		struct pollfd pf = {g_app.out, POLLIN, 0};
		CHECK(g_app.len == 0 && poll(&pf, 1, 50) == 0, "flavour %s returned while the gate was closed", f);
		CHECK(ok(coord("gate %d open", pid)), "gate open");
		char want[64];
		snprintf(want, sizeof want, "done %s", f);
		CHECK(expect(&g_app, want, 10000, NULL, 0), "flavour %s did not complete after the gate opened", f);
		CHECK(ok(coord("gate %d closed", pid)), "gate close");
		int64_t g1 = stat_of(pid, "gated_waits"), l1 = stat_of(pid, "launches");
		/* the runtime's internal re-entry (ext -> hipEventRecord + hipLaunchKernel, spt -> non-spt,
		 * coop -> hipLaunchKernel, chevron stub -> hipLaunchKernel) counts once */
		CHECK(g1 == g0 + 1 && l1 == l0 + 1, "flavour %s: gated_waits %lld->%lld launches %lld->%lld (want +1 each)",
		      f, (long long)g0, (long long)g1, (long long)l0, (long long)l1);
		printf("gate holds %-16s ok\n", f);
	}
	coord("gate %d open", pid);
	send_to(&g_app, "exit");
	CHECK(wait_exit(&g_app, 10000) && WIFEXITED(g_app.status) && WEXITSTATUS(g_app.status) == 0, "app exit");
	return 0;
}

static void compare_queues(pid_t pid, int want_n, uint32_t prio, int want_update)
{
	struct cq c[64];
	struct devq d[64];
	int nc = coord_queues(pid, c, 64), nd = dev_queues(pid, d, 64);
	CHECK(nd == want_n, "device holds %d queues of the app, want %d", nd, want_n);
	CHECK(nc == nd, "coordinator knows %d queues, the device %d", nc, nd);
	int updated = 0;
	for (int i = 0; i < nd; i++) {
		int found = 0;
		for (int j = 0; j < nc; j++)
			if (c[j].id == d[i].id) {
				found = 1;
				CHECK(c[j].gpu_id == d[i].gpu_id && (uint64_t)c[j].ring_base == d[i].ring_base,
				      "queue %u: coordinator gpu %lld ring 0x%llx, device gpu %u ring 0x%llx", d[i].id,
				      (long long)c[j].gpu_id, (unsigned long long)c[j].ring_base, d[i].gpu_id,
				      (unsigned long long)d[i].ring_base);
				CHECK(c[j].prio_applied == prio, "queue %u: reported applied priority %lld, want %u", d[i].id,
				      (long long)c[j].prio_applied, prio);
				if (c[j].prio_req != 7) updated++;
			}
		CHECK(found, "device queue %u never reported to the coordinator", d[i].id);
		CHECK(d[i].priority == prio, "device queue %u has priority %u, want the class priority %u", d[i].id,
		      d[i].priority, prio);
	}
	if (want_update) CHECK(updated > 0, "no queue saw the runtime's UPDATE_QUEUE");
	printf("queues: %d on the device, %d reported, priority %u, %d updated by the runtime\n", nd, nc, prio, updated);
}

static int case_queues(void)
{
	start_coord(NULL, NULL);
	const char *env[] = {"XSB_CLASS=offline", NULL};
	start_app(&g_app, env, "streams", "16", "0", NULL);
	REQUIRE(ok(coord("wait-hello 1 10000")), "no hello");
	REQUIRE(expect(&g_app, "done", 20000, NULL, 0), "16-stream app failed");
	compare_queues(g_app.pid, 5, 2, 0); /* GPU_MAX_HW_QUEUES 4 + the utility queue */
	send_to(&g_app, "exit");
	CHECK(wait_exit(&g_app, 10000), "app exit");

	/* high-priority streams: ROCr creates at 7 and UPDATE_QUEUEs to 11; the shim rewrites both */
	const char *env2[] = {"XSB_CLASS=offline", "XSB_PRIORITY=3", NULL};
	start_app(&g_app2, env2, "streams", "2", "-1", NULL);
	REQUIRE(ok(coord("wait-hello 2 10000")), "no second hello");
	REQUIRE(expect(&g_app2, "done", 20000, NULL, 0), "priority app failed");
	compare_queues(g_app2.pid, 3, 3, 1);
	send_to(&g_app2, "exit");
	CHECK(wait_exit(&g_app2, 10000), "app exit");
	return 0;
}

static int case_lv1(void)
{
	start_coord("--lv1 4,2", NULL);
	const char *env[] = {"XSB_CLASS=offline", NULL};
	start_app(&g_app, env, "loop", "300", "1000", NULL);
	REQUIRE(ok(coord("wait-hello 1 10000")), "no hello");
	REQUIRE(expect(&g_app, "started", 10000, NULL, 0), "app not started");
	int maxk = 0;
	char line[256];
	uint64_t end = now_ms() + 30000;
	for (;;) {
		int k = dev_kernels_in_flight(g_app.pid);
		if (k > maxk) maxk = k;
		struct pollfd pf = {g_app.out, POLLIN, 0};
		if (poll(&pf, 1, 0) > 0 && read_line(&g_app, line, sizeof line, 1000)) {
			if (!strncmp(line, "done", 4)) break;
		}
		REQUIRE(now_ms() < end, "lv1 app did not finish");
	}
	int64_t waits = stat_of(g_app.pid, "lv1_waits");
	printf("lv1 threshold 4 batch 2: at most %d kernels in flight on the device, %lld bound waits\n", maxk,
	       (long long)waits);
	CHECK(maxk <= 4, "the device saw %d kernels in flight (threshold 4)", maxk);
	CHECK(maxk >= 2, "never more than %d kernel in flight: the sampling saw nothing", maxk);
	CHECK(waits > 0, "no Lv1 waits");
	CHECK(wait_exit(&g_app, 10000), "app exit");

	/* closing the gate stops new dispatches at once */
	start_app(&g_app2, env, "loop", "4000", "250", NULL);
	REQUIRE(ok(coord("wait-hello 2 10000")), "no hello");
	REQUIRE(expect(&g_app2, "started", 10000, NULL, 0), "app not started");
	pid_t pid = g_app2.pid;
	coord("lv1 %d 0 1", pid); /* unbounded: only the gate holds it */
	uint64_t t_end = now_ms() + 10000;
	while (dev_written(pid) < 100 && now_ms() < t_end) usleep(500);
	const char *r = coord("gate %d closed", pid);
	uint64_t t_close = now_ns();
	uint64_t w_close = dev_written(pid); /* the gate word is stored before the reply */
	/* the time of the last packet that reached the device after the close */
	uint64_t w_last = w_close, t_last = t_close;
	while (now_ns() - t_close < 200000000ull) {
		uint64_t w = dev_written(pid);
		if (w != w_last) {
			w_last = w;
			t_last = now_ns();
		}
	}
	r = coord("wait-stat %d gated_waits 1 5000", pid);
	REQUIRE(ok(r), "launching thread never parked at the gate: %s", r);
	uint64_t w_park = dev_written(pid);
	/* drain what was submitted before the close, then nothing more may come */
	t_end = now_ms() + 20000;
	while (dev_completed(pid) < dev_written(pid) && now_ms() < t_end) usleep(1000);
	usleep(100000); /* a window for a leak to show; the assertion is that nothing arrives */
	uint64_t w_after = dev_written(pid);
	printf("gate close -> launches stopped: %llu packets reached the device after the close, the last %.1f us after "
	       "it; after parking: %llu\n",
	       (unsigned long long)(w_last - w_close), (double)(t_last - t_close) / 1000.0,
	       (unsigned long long)(w_after - w_park));
	CHECK(w_after == w_park, "%llu packets reached the device after the thread parked",
	      (unsigned long long)(w_after - w_park));
	CHECK(w_last - w_close <= 2, "%llu packets submitted after the close", (unsigned long long)(w_last - w_close));
	coord("gate %d open", pid);
	CHECK(expect(&g_app2, "done 4000", 30000, NULL, 0), "app did not finish after the gate opened");
	CHECK(wait_exit(&g_app2, 10000), "app exit");
	return 0;
}

static int case_hold(const char *mech)
{
	char menv[64];
	snprintf(menv, sizeof menv, "XSB_MECHANISM=%s", mech);
	uint32_t flag = !strcmp(mech, "dbg-trap") ? XSB_EMU_KQ_SUSPENDED : XSB_EMU_KQ_DEACTIVATED;
	start_coord(NULL, NULL);
	const char *env[] = {"XSB_CLASS=offline", menv, NULL};
	start_app(&g_app, env, "loop", "300", "2000", NULL);
	REQUIRE(ok(coord("wait-hello 1 10000")), "no hello");
	REQUIRE(expect(&g_app, "started", 10000, NULL, 0), "app not started");
	pid_t pid = g_app.pid;
	uint64_t t_end = now_ms() + 10000;
	while (dev_completed(pid) < 5 && now_ms() < t_end) usleep(500);
	for (int round = 0; round < 3; round++) {
		coord("hold %d", pid);
		const char *r = coord("wait-exec %d held 10000", pid);
		CHECK(ok(r), "%s: not held: %s", mech, r);
		CHECK(wait_dev(pid, flag, 1, 5000), "%s: the device does not show every compute queue held", mech);
		uint64_t c1 = dev_completed(pid);
		usleep(30000); /* a window in which a held process must not progress */
		CHECK(dev_completed(pid) == c1, "%s: %llu packets completed while held", mech,
		      (unsigned long long)(dev_completed(pid) - c1));
		coord("release %d", pid);
		r = coord("wait-exec %d running 10000", pid);
		CHECK(ok(r), "%s: not released: %s", mech, r);
		CHECK(wait_dev(pid, flag, 0, 5000), "%s: queues still held on the device", mech);
		t_end = now_ms() + 5000;
		while (dev_completed(pid) == c1 && now_ms() < t_end) usleep(500);
		CHECK(dev_completed(pid) > c1, "%s: no progress after release", mech);
	}
	printf("%s: suspend %lld ns, resume %lld ns (last ioctl latency), %lld holds\n", mech,
	       (long long)stat_of(pid, "suspend_ns_last"), (long long)stat_of(pid, "resume_ns_last"),
	       (long long)stat_of(pid, "suspends"));
	CHECK(expect(&g_app, "done 300", 30000, NULL, 0), "%s: app did not complete", mech);
	CHECK(dev_completed(pid) == dev_written(pid), "%s: %llu packets written, %llu completed", mech,
	      (unsigned long long)dev_written(pid), (unsigned long long)dev_completed(pid));
	CHECK(wait_exit(&g_app, 10000) && WIFEXITED(g_app.status) && WEXITSTATUS(g_app.status) == 0, "app exit");

	/* stream destroy and process exit while held */
	start_app(&g_app2, env, "streams", "4", "0", NULL);
	REQUIRE(ok(coord("wait-hello 2 10000")), "no hello");
	REQUIRE(expect(&g_app2, "done", 20000, NULL, 0), "streams app");
	pid = g_app2.pid;
	coord("hold %d", pid);
	CHECK(ok(coord("wait-exec %d held 10000", pid)), "%s: streams app not held: %s", mech, g_reply);
	CHECK(wait_dev(pid, flag, 1, 5000), "%s: not held on the device", mech);
	send_to(&g_app2, "destroy");
	CHECK(expect(&g_app2, "destroyed", 15000, NULL, 0), "%s: hipStreamDestroy hung on held queues", mech);
	struct devq q[16];
	int n = dev_queues(pid, q, 16);
	CHECK(n == 1, "%s: %d queues left after destroying the streams (want the utility queue)", mech, n);
	send_to(&g_app2, "exit");
	CHECK(wait_exit(&g_app2, 15000), "%s: exit while held hung (debug-session shutdown ordering?)", mech);
	CHECK(WIFEXITED(g_app2.status) && WEXITSTATUS(g_app2.status) == 0, "%s: app exit status %d", mech,
	      g_app2.status);
	return 0;
}

static int case_lease(void)
{
	const char *env[] = {"XSB_CLASS=offline", NULL};
	const long lease = 300;
	for (int variant = 0; variant < 2; variant++) {
		start_coord("--lease-ms 300", NULL);
		start_app(&g_app, env, "loop", "400", "1000", NULL);
		REQUIRE(ok(coord("wait-hello 1 10000")), "no hello");
		REQUIRE(expect(&g_app, "started", 10000, NULL, 0), "app not started");
		pid_t pid = g_app.pid;
		coord("gate %d closed", pid);
		coord("hold %d", pid);
		REQUIRE(ok(coord("wait-exec %d held 10000", pid)), "not held: %s", g_reply);
		REQUIRE(wait_dev(pid, XSB_EMU_KQ_SUSPENDED, 1, 5000), "not held on the device");
		uint64_t t0 = now_ns();
		if (variant == 0) {
			proc_kill(&g_coord); /* the coordinator dies */
		} else {
			coord("pause-lease %d", pid); /* alive but silent */
		}
		int released = wait_dev(pid, XSB_EMU_KQ_SUSPENDED, 0, lease + 5000);
		double ms = (double)(now_ns() - t0) / 1e6;
		printf("lease %ld ms, coordinator %s: released after %.1f ms\n", lease, variant ? "silent" : "killed", ms);
		CHECK(released, "queues never released after the coordinator went away");
		CHECK(ms <= lease + 250, "released after %.1f ms, lease %ld ms", ms, lease);
		CHECK(expect(&g_app, "done 400", 30000, NULL, 0), "app did not finish after fail-open");
		CHECK(wait_exit(&g_app, 10000), "app exit");
		proc_kill(&g_coord);
	}
	return 0;
}

static int case_fork(void)
{
	start_coord(NULL, NULL);
	const char *env[] = {"XSB_CLASS=offline", NULL};
	start_app(&g_app, env, "fork-child", "100", NULL, NULL);
	CHECK(ok(coord("wait-hello 2 10000")), "fork before HIP: want hellos of parent and child: %s", g_reply);
	CHECK(expect(&g_app, "parent done", 20000, NULL, 0), "fork-child app");
	CHECK(wait_exit(&g_app, 10000) && WEXITSTATUS(g_app.status) == 0, "fork-child exit");

	char self[600];
	snprintf(self, sizeof self, "%s/shim_app", tdir());
	char path[600];
	snprintf(path, sizeof path, "%s/shim_app", tdir());
	char *argv[] = {path, "fork-exec", self, "loop", "10", "100", NULL};
	spawn(&g_app2, argv, env, 1);
	CHECK(ok(coord("wait-hello 4 10000")), "fork+exec: want hellos of the parent and the exec'd child: %s", g_reply);
	CHECK(expect(&g_app2, "parent done", 20000, NULL, 0), "fork-exec app");
	CHECK(wait_exit(&g_app2, 10000) && WEXITSTATUS(g_app2.status) == 0, "fork-exec exit");

	start_app(&g_app, env, "fork-nohip", "100", NULL, NULL);
	CHECK(ok(coord("wait-hello 5 10000")), "fork-nohip hello");
	CHECK(expect(&g_app, "parent done", 20000, NULL, 0), "the parent broke after its child exited");
	CHECK(wait_exit(&g_app, 10000) && WEXITSTATUS(g_app.status) == 0, "fork-nohip exit");
	printf("fork/exec: every process attached as its own\n");
	return 0;
}

static int case_threads(void)
{
	start_coord("--lv1 4,2", NULL);
	const char *off[] = {"XSB_CLASS=offline", NULL};
	const char *on[] = {"XSB_CLASS=online", NULL};
	start_app(&g_app, off, "threads", "4", "40", "200");
	start_app(&g_app2, on, "threads", "3", "30", "100");
	REQUIRE(ok(coord("wait-hello 2 10000")), "no hellos");
	for (int i = 0; i < 5; i++) {
		coord("gate %d closed", g_app.pid);
		coord("gate %d open", g_app.pid);
	}
	CHECK(expect(&g_app, "done", 60000, NULL, 0), "offline threads");
	CHECK(expect(&g_app2, "done", 60000, NULL, 0), "online threads");
	CHECK(wait_exit(&g_app, 10000) && WEXITSTATUS(g_app.status) == 0, "offline exit %d", g_app.status);
	CHECK(wait_exit(&g_app2, 10000) && WEXITSTATUS(g_app2.status) == 0, "online exit %d", g_app2.status);
	return 0;
}

static int case_activity(void)
{
	start_coord(NULL, NULL);
	const char *env[] = {"XSB_CLASS=online", "XSB_IDLE_HYSTERESIS_US=1000", NULL};
	start_app(&g_app, env, "streams", "2", "0", NULL);
	REQUIRE(ok(coord("wait-hello 1 10000")), "no hello");
	REQUIRE(expect(&g_app, "done", 20000, NULL, 0), "app");
	pid_t pid = g_app.pid;
	CHECK(ok(coord("wait-stat %d activity_transitions 2 5000", pid)), "busy->idle not seen: %s", g_reply);
	CHECK(stat_of(pid, "activity") == 0, "still busy after the work drained");
	send_to(&g_app, "launch");
	CHECK(ok(coord("wait-stat %d activity_transitions 3 5000", pid)), "idle->busy not seen: %s", g_reply);
	CHECK(ok(coord("wait-stat %d activity_transitions 4 5000", pid)), "second busy->idle not seen: %s", g_reply);
	/* queues of an online process carry the online priority */
	struct devq q[16];
	int n = dev_queues(pid, q, 16);
	for (int i = 0; i < n; i++) CHECK(q[i].priority == 15, "online queue %u priority %u", q[i].id, q[i].priority);
	send_to(&g_app, "exit");
	CHECK(wait_exit(&g_app, 10000), "app exit");
	printf("activity: busy/idle transitions published\n");
	return 0;
}

static int case_failopen(void)
{
	/* no coordinator: runs untouched, queues still tagged */
	snprintf(g_socket, sizeof g_socket, "%s/nobody.sock", g_dir);
	const char *env[] = {"XSB_CLASS=offline", NULL};
	start_app(&g_app, env, "streams", "1", "0", NULL);
	REQUIRE(expect(&g_app, "done", 20000, NULL, 0), "app without a coordinator");
	struct devq q[16];
	int n = dev_queues(g_app.pid, q, 16);
	CHECK(n == 2, "%d queues", n);
	for (int i = 0; i < n; i++) CHECK(q[i].priority == 2, "queue %u priority %u without coordinator", q[i].id, q[i].priority);
	send_to(&g_app, "exit");
	CHECK(wait_exit(&g_app, 10000) && WEXITSTATUS(g_app.status) == 0, "exit");

	/* malformed environment: one line on stderr, nothing rewritten */
	const char *bad[] = {"XSB_CLASS=sideline", NULL};
	int errp[2];
	REQUIRE(pipe(errp) == 0, "pipe");
	int saved = dup(2);
	dup2(errp[1], 2);
	start_app(&g_app2, bad, "streams", "1", "0", NULL);
	dup2(saved, 2);
	close(errp[1]);
	REQUIRE(expect(&g_app2, "done", 20000, NULL, 0), "app with a malformed XSB_CLASS");
	n = dev_queues(g_app2.pid, q, 16);
	for (int i = 0; i < n; i++) CHECK(q[i].priority == 7, "queue %u rewritten to %u despite the bad env", q[i].id, q[i].priority);
	send_to(&g_app2, "exit");
	CHECK(wait_exit(&g_app2, 10000), "exit");
	char eb[4096] = {0};
	ssize_t r = read(errp[0], eb, sizeof eb - 1);
	CHECK(r > 0 && strstr(eb, "XSB_CLASS=\"sideline\"") && strchr(eb, '\n') == strrchr(eb, '\n'),
	      "want one line naming XSB_CLASS on stderr, got: %s", eb);

	/* a corrupt gate word fails open */
	snprintf(g_socket, sizeof g_socket, "%s/coord.sock", g_dir);
	start_coord("--gate closed", NULL);
	start_app(&g_app, env, "loop", "20", "100", NULL);
	REQUIRE(ok(coord("wait-hello 1 10000")), "no hello");
	REQUIRE(expect(&g_app, "started", 10000, NULL, 0), "started");
	CHECK(ok(coord("wait-stat %d gated_waits 1 5000", g_app.pid)), "not gated");
	coord("corrupt-gate %d 0x12345678", g_app.pid);
	CHECK(expect(&g_app, "done 20", 10000, NULL, 0), "a corrupt gate word did not fail open");
	CHECK(stat_of(g_app.pid, "errors") >= 1, "corruption not counted");
	CHECK(wait_exit(&g_app, 10000), "exit");
	printf("fail-open: untouched without coordinator, malformed env, corrupt gate\n");
	return 0;
}

/* The device's view of the process's debug session (xsb-emu-ctl status): 1 open, 0 closed,
 * -1 unknown. */
static int dev_debug_enabled(pid_t pid)
{
	/* a sanitizer build has no device tools: they come with the device's build */
	const char *b = getenv("XSB_TEST_DEVICE_BUILD");
	if (!b || !*b) b = getenv("XSB_TEST_BUILD");
	char cmd[1400];
	snprintf(cmd, sizeof cmd, "'%s/bin/xsb-emu-ctl' --dir '%s' status", b, g_dir);
	FILE *f = popen(cmd, "r");
	if (!f) return -1;
	static char out[1 << 20];
	size_t n = 0;
	int ch;
	while ((ch = fgetc(f)) != EOF && n < sizeof out - 1)
		if (ch != ' ' && ch != '\n' && ch != '\t') out[n++] = (char)ch;
	out[n] = 0;
	pclose(f);
	char key[64];
	snprintf(key, sizeof key, "\"pid\":%d,", (int)pid);
	const char *p = strstr(out, key);
	if (!p) return -1;
	const char *d = strstr(p, "\"debug_trap_enabled\":");
	if (!d) return -1;
	d += strlen("\"debug_trap_enabled\":");
	return !strncmp(d, "true", 4) ? 1 : !strncmp(d, "false", 5) ? 0 : -1;
}

static int wait_debug(pid_t pid, int want, long ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end) {
		if (dev_debug_enabled(pid) == want) return 1;
		usleep(5000); /* polling device state with a deadline */
	}
	return 0;
}

/* The "shm" name in the peer's hello (test_coord keeps the line). */
static int hello_shm(pid_t pid, char *out, size_t cap)
{
	const char *r = coord("hello %d", pid);
	const char *j = strchr(r, '{');
	return ok(r) && j && xj_get_str(j, strlen(j), "shm", out, cap);
}

/* Held, then released, with the effect checked in the device: launches made while held do not
 * complete; they do after the release. */
static void hold_and_release(struct proc *app, uint32_t flag, const char *what)
{
	pid_t pid = app->pid;
	coord("hold %d", pid);
	CHECK(ok(coord("wait-exec %d held 10000", pid)), "%s: not held: %s", what, g_reply);
	CHECK(wait_dev(pid, flag, 1, 5000), "%s: the device does not show every compute queue held", what);
	uint64_t c0 = dev_completed(pid);
	send_to(app, "launch");
	CHECK(expect(app, "launched", 10000, NULL, 0), "%s: launch while held did not return", what);
	usleep(30000); /* a window in which a held process must not progress */
	CHECK(dev_completed(pid) == c0, "%s: %llu packets completed while held", what,
	      (unsigned long long)(dev_completed(pid) - c0));
	coord("release %d", pid);
	CHECK(ok(coord("wait-exec %d running 10000", pid)), "%s: not released: %s", what, g_reply);
	CHECK(wait_dev(pid, flag, 0, 5000), "%s: still held on the device", what);
	send_to(app, "sync");
	CHECK(expect(app, "synced", 10000, NULL, 0), "%s: the launches made while held never completed", what);
}

static int case_reconnect(void)
{
	const char *env[] = {"XSB_CLASS=offline", NULL};
	/* a coordinator dies while the process is held: released at once (socket closed), then a
	 * new coordinator on the same path re-learns it */
	start_coord("--lease-ms 500", NULL);
	start_app(&g_app, env, "streams", "2", "0", NULL);
	REQUIRE(ok(coord("wait-hello 1 10000")), "no hello");
	REQUIRE(expect(&g_app, "done", 20000, NULL, 0), "app");
	pid_t pid = g_app.pid;
	char shm1[128] = "", shm2[128] = "";
	CHECK(hello_shm(pid, shm1, sizeof shm1), "no shm in the first hello: %s", g_reply);
	coord("hold %d", pid);
	REQUIRE(ok(coord("wait-exec %d held 10000", pid)), "not held: %s", g_reply);
	REQUIRE(wait_dev(pid, XSB_EMU_KQ_SUSPENDED, 1, 5000), "not held on the device");
	uint64_t t0 = now_ns();
	proc_kill(&g_coord);
	CHECK(wait_dev(pid, XSB_EMU_KQ_SUSPENDED, 0, 1500), "not released after the coordinator died");
	double rel_ms = (double)(now_ns() - t0) / 1e6;
	start_coord("--lease-ms 500", NULL);
	uint64_t t1 = now_ns();
	REQUIRE(ok(coord("wait-hello 1 5000")), "the running shim never came back to a restarted coordinator: %s", g_reply);
	double re_ms = (double)(now_ns() - t1) / 1e6;
	printf("reconnect: released %.1f ms after the coordinator died; hello %.1f ms after the new one listened\n",
	       rel_ms, re_ms);
	CHECK(re_ms < 2000 + 1000, "reconnect took %.1f ms (retry interval at most 2 s)", re_ms);
	CHECK(hello_shm(pid, shm2, sizeof shm2) && strcmp(shm1, shm2) != 0, "the new attachment reuses control block %s",
	      shm1);
	compare_queues(pid, 3, 2, 0); /* replayed: the new coordinator knows every queue */
	CHECK(stat_of(pid, "launches") >= 2, "counters did not carry over to the new control block");
	CHECK(stat_of(pid, "fail_open_ns") == 0, "the new block says failed open");
	hold_and_release(&g_app, XSB_EMU_KQ_SUSPENDED, "after reconnect");
	send_to(&g_app, "exit");
	CHECK(wait_exit(&g_app, 10000) && WIFEXITED(g_app.status) && WEXITSTATUS(g_app.status) == 0, "app exit");
	proc_kill(&g_coord);

	/* no coordinator at start: runs untouched, attaches when one starts */
	snprintf(g_socket, sizeof g_socket, "%s/late.sock", g_dir);
	start_app(&g_app, env, "streams", "1", "0", NULL);
	REQUIRE(expect(&g_app, "done", 20000, NULL, 0), "app without a coordinator");
	pid = g_app.pid;
	start_coord(NULL, NULL);
	t1 = now_ns();
	REQUIRE(ok(coord("wait-hello 1 5000")), "a process that started alone never attached: %s", g_reply);
	re_ms = (double)(now_ns() - t1) / 1e6;
	printf("late coordinator: hello %.1f ms after it listened\n", re_ms);
	compare_queues(pid, 2, 2, 0);
	hold_and_release(&g_app, XSB_EMU_KQ_SUSPENDED, "late attach");
	send_to(&g_app, "exit");
	CHECK(wait_exit(&g_app, 10000) && WIFEXITED(g_app.status) && WEXITSTATUS(g_app.status) == 0, "app exit");
	return 0;
}

static int case_mechanism(void)
{
	/* the coordinator's config wins over XSB_MECHANISM (without one, hold-* show the variable
	 * works) */
	start_coord("--mechanism deactivate", NULL);
	const char *env[] = {"XSB_CLASS=offline", "XSB_MECHANISM=dbg-trap", NULL};
	start_app(&g_app, env, "streams", "2", "0", NULL);
	REQUIRE(ok(coord("wait-hello 1 10000")), "no hello");
	REQUIRE(expect(&g_app, "done", 20000, NULL, 0), "app");
	pid_t pid = g_app.pid;
	CHECK(ok(coord("hello %d", pid)) && strstr(g_reply, "\"mechanism\":\"dbg-trap\""), "hello: %s", g_reply);
	CHECK(ok(coord("wait-ack %d 1 5000", pid)) && strstr(g_reply, "\"mechanism\":\"deactivate\"") &&
	          !strstr(g_reply, "pending"),
	      "ack of the first config: %s", g_reply);
	hold_and_release(&g_app, XSB_EMU_KQ_DEACTIVATED, "config deactivate");
	CHECK(dev_debug_enabled(pid) == 0, "a debug session was opened under deactivate");

	const char *r = coord("mechanism %d dbg-trap", pid);
	CHECK(ok(r) && ok(coord("wait-ack %d %s 5000", pid, r + 3)) && strstr(g_reply, "\"mechanism\":\"dbg-trap\""),
	      "switch to dbg-trap: %s", g_reply);
	coord("hold %d", pid);
	CHECK(ok(coord("wait-exec %d held 10000", pid)), "dbg-trap: not held: %s", g_reply);
	CHECK(wait_dev(pid, XSB_EMU_KQ_SUSPENDED, 1, 5000), "dbg-trap: not suspended on the device");
	CHECK(dev_debug_enabled(pid) == 1, "dbg-trap hold without a debug session");
	/* while held: the switch waits for the release (queues are released the way they were held) */
	r = coord("mechanism %d deactivate", pid);
	CHECK(ok(r) && ok(coord("wait-ack %d %s 5000", pid, r + 3)) && strstr(g_reply, "\"mechanism\":\"dbg-trap\"") &&
	          strstr(g_reply, "\"mechanism_pending\":\"deactivate\""),
	      "switch while held: %s", g_reply);
	CHECK(dev_all_compute(pid, XSB_EMU_KQ_SUSPENDED, 1), "a switch while held touched the held queues");
	coord("release %d", pid);
	CHECK(ok(coord("wait-exec %d running 10000", pid)), "not released: %s", g_reply);
	CHECK(wait_dev(pid, XSB_EMU_KQ_SUSPENDED, 0, 5000), "still suspended");
	CHECK(wait_debug(pid, 0, 5000), "leaving dbg-trap did not close the debug session");
	hold_and_release(&g_app, XSB_EMU_KQ_DEACTIVATED, "pending deactivate");
	send_to(&g_app, "exit");
	CHECK(wait_exit(&g_app, 10000) && WIFEXITED(g_app.status) && WEXITSTATUS(g_app.status) == 0, "app exit");
	printf("mechanism: the coordinator's config wins, switches only while nothing is held\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: shim_test gate|queues|lv1|hold-dbg-trap|hold-deactivate|lease|fork|threads|activity|failopen|reconnect|mechanism\n");
		return 2;
	}
	int r = driver_init("coord.jsonl");
	if (r) return r;
	const char *c = argv[1];
	if (!strcmp(c, "gate")) case_gate();
	else if (!strcmp(c, "queues")) case_queues();
	else if (!strcmp(c, "lv1")) case_lv1();
	else if (!strcmp(c, "hold-dbg-trap")) case_hold("dbg-trap");
	else if (!strcmp(c, "hold-deactivate")) case_hold("deactivate");
	else if (!strcmp(c, "lease")) case_lease();
	else if (!strcmp(c, "fork")) case_fork();
	else if (!strcmp(c, "threads")) case_threads();
	else if (!strcmp(c, "activity")) case_activity();
	else if (!strcmp(c, "failopen")) case_failopen();
	else if (!strcmp(c, "reconnect")) case_reconnect();
	else if (!strcmp(c, "mechanism")) case_mechanism();
	else {
		fprintf(stderr, "unknown case %s\n", c);
		return 2;
	}
	cleanup();
	if (failures) fprintf(stderr, "%d failure(s)\n", failures);
	else printf("PASS %s\n", c);
	return failures ? 1 : 0;
}
