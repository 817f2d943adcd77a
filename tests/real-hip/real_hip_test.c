/*
 * real_hip_test - runs one program built with the real ROCm toolchain (tests/real-hip/apps)
 * under the shim and the emulated GPU, next to hip-shim's scripted test coordinator, and checks
 * that it is throttled, suspended and reported like the project's own workload.
 *
 *   real_hip_test [--json FILE] MECHANISM PROGRAM ARGS...
 *     MECHANISM  dbg-trap | deactivate (XSB_MECHANISM of the shimmed program)
 *     PROGRAM    a program speaking tests/real-hip/apps/rh_app.h ("ready", "go", "synced", "finish", "done N ops M")
 *
 * Run through native/emu/tests/with-emu.sh --device --shim (a private device; XSB_TEST_PRELOAD =
 * shim first, XSB_TEST_LD_LIBRARY_PATH = the emulated libamdhip64); the driving and device
 * observation are hip-shim/tests/coord_driver.h's. The program is an offline process:
 *   1. throttled: the coordinator's gate is closed from the hello on; after "go" the program's
 *      first stream operation parks, no packet reaches the device, the program makes no progress;
 *      then, gate open with Lv1 threshold 4 / batch 2, the device never holds more than 4 of its
 *      kernels at once;
 *   2. suspended: mid-run the coordinator holds it; every compute queue of the process is
 *      suspended (dbg-trap) or deactivated (deactivate) in the device's queue table, nothing
 *      completes while held, it progresses after release; at the end every packet written has
 *      completed and the program itself has verified from its events that every kernel ran;
 *   3. reported: the coordinator's log holds its hello (class offline, mechanism) and queue
 *      events at the offline class priority (2), including the held state; during the hold the
 *      coordinator's queue table equals the device's.
 * Every wait is bounded and waits on a real condition.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord_driver.h"
#include "xjson.h"
#include "xsb_emu_proto.h"

#define LV1_THRESHOLD 4
#define LV1_BATCH 2
/* the shim's default KFD priority of the offline class (hip-shim: class priorities 2 / 15) */
#define OFFLINE_PRIORITY 2

static struct proc g_app;

void cleanup(void)
{
	proc_kill(&g_app);
	proc_kill(&g_coord);
}

/* The coordinator's table equals the device's: same ids, gpu, ring, class priority. */
static int compare_queues(pid_t pid, int want_held)
{
	struct cq c[64];
	struct devq d[64];
	int nc = coord_queues(pid, c, 64), nd = dev_queues(pid, d, 64);
	CHECK(nd >= 2, "the device holds %d queues of the program (want its stream's queue and the utility queue)", nd);
	CHECK(nc == nd, "the coordinator knows %d queues, the device %d", nc, nd);
	for (int i = 0; i < nd; i++) {
		int found = 0;
		for (int j = 0; j < nc; j++) {
			if (c[j].id != d[i].id) continue;
			found = 1;
			CHECK(c[j].gpu_id == d[i].gpu_id && (uint64_t)c[j].ring_base == d[i].ring_base,
			      "queue %u: coordinator gpu %lld ring 0x%llx, device gpu %u ring 0x%llx", d[i].id,
			      (long long)c[j].gpu_id, (unsigned long long)c[j].ring_base, d[i].gpu_id,
			      (unsigned long long)d[i].ring_base);
			CHECK(c[j].prio_applied == OFFLINE_PRIORITY, "queue %u: reported priority %lld, want %d", d[i].id,
			      (long long)c[j].prio_applied, OFFLINE_PRIORITY);
			if (want_held && is_compute(d[i].type))
				CHECK(!strcmp(c[j].state, "held"), "queue %u: reported state \"%s\" while held", d[i].id, c[j].state);
		}
		CHECK(found, "device queue %u was never reported to the coordinator", d[i].id);
		CHECK(d[i].priority == OFFLINE_PRIORITY, "device queue %u has priority %u, want the offline class's %d",
		      d[i].id, d[i].priority, OFFLINE_PRIORITY);
	}
	return nd;
}

/* Counts the coordinator log's lines from pid: hello (with the class and mechanism named) and
 * queue events; every queue event must carry the class priority. */
struct log_summary {
	int hello, hello_offline, hello_mech, queue_events, creates, held_events, wrong_priority;
};

static struct log_summary read_log(pid_t pid, const char *mech)
{
	struct log_summary s = {0};
	FILE *f = fopen(g_log, "r");
	if (!f) return s;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		int64_t peer;
		const char *m;
		size_t mn;
		if (!xj_get_i64(line, (size_t)n, "peer", &peer) || peer != pid) continue;
		if (!xj_get_obj(line, (size_t)n, "msg", &m, &mn)) continue;
		char type[32] = "", v[32] = "";
		xj_get_str(m, mn, "type", type, sizeof type);
		if (!strcmp(type, "hello")) {
			s.hello++;
			if (xj_get_str(m, mn, "class", v, sizeof v) && !strcmp(v, "offline")) s.hello_offline++;
			if (xj_get_str(m, mn, "mechanism", v, sizeof v) && !strcmp(v, mech)) s.hello_mech++;
		} else if (!strcmp(type, "queue")) {
			int64_t prio = -1;
			s.queue_events++;
			if (xj_get_str(m, mn, "event", v, sizeof v) && !strcmp(v, "create")) s.creates++;
			if (xj_get_str(m, mn, "state", v, sizeof v) && !strcmp(v, "held")) s.held_events++;
			if (!xj_get_i64(m, mn, "priority_applied", &prio) || prio != OFFLINE_PRIORITY) s.wrong_priority++;
		}
	}
	free(line);
	fclose(f);
	return s;
}

static void start_coord(void)
{
	char path[600], lv1[32];
	/* hip-shim's test coordinator, from the build with-emu.sh was given */
	snprintf(path, sizeof path, "%s/tests/test_coord", getenv("XSB_TEST_BUILD"));
	snprintf(lv1, sizeof lv1, "%d,%d", LV1_THRESHOLD, LV1_BATCH);
	char *argv[] = {path, "--socket", g_socket, "--log", g_log, "--gate", "closed", "--lv1", lv1, NULL};
	spawn(&g_coord, argv, NULL, 0);
	REQUIRE(expect(&g_coord, "ready", 10000, NULL, 0), "test_coord (%s) did not start", path);
}

static int run(const char *mech, char **app_argv, const char *json_path)
{
	const uint32_t flag = !strcmp(mech, "dbg-trap") ? XSB_EMU_KQ_SUSPENDED : XSB_EMU_KQ_DEACTIVATED;
	const char *prog = strrchr(app_argv[0], '/') ? strrchr(app_argv[0], '/') + 1 : app_argv[0];
	start_coord();
	char menv[64];
	snprintf(menv, sizeof menv, "XSB_MECHANISM=%s", mech);
	const char *env[] = {"XSB_CLASS=offline", menv, NULL};
	spawn(&g_app, app_argv, env, 1);
	REQUIRE(ok(coord("wait-hello 1 20000")), "%s never said hello to the coordinator: %s", prog, g_reply);
	REQUIRE(expect(&g_app, "ready", 20000, NULL, 0), "%s did not initialise", prog);
	pid_t pid = g_app.pid;

	/* 1. throttled: the gate is closed */
	uint64_t w0 = dev_written(pid);
	send_to(&g_app, "go");
	const char *r = coord("wait-stat %d gated_waits 1 10000", pid);
	REQUIRE(ok(r), "%s: its first stream operation never parked at the closed gate: %s", prog, r);
	CHECK(!has_output(&g_app, 100), "%s made progress through a closed gate", prog);
	uint64_t leaked = dev_written(pid) - w0;
	CHECK(leaked == 0, "%s: %llu packets reached the device through a closed gate", prog, (unsigned long long)leaked);
	int64_t launches_closed = stat_of(pid, "launches");
	printf("%s [%s] throttled: gate closed -> its first operation parked (shim launches %lld), %llu packets reached "
	       "the device\n",
	       prog, mech, (long long)launches_closed, (unsigned long long)leaked);

	/* 2. gate open, Lv1 bound; hold and release in the middle of the run */
	CHECK(ok(coord("gate %d open", pid)), "gate open: %s", g_reply);
	int max_inflight = 0, held_queues = 0, inflight_held = 0, nq = 0, held_round = 0;
	uint64_t completed_while_held = 0, wr = 0, co = 0;
	char line[256] = "";
	int done = 0;
	uint64_t end = now_ms() + 120000;
	while (!done) {
		int k = dev_kernels_in_flight(pid);
		if (k > max_inflight) max_inflight = k;
		if (has_output(&g_app, 0)) {
			if (!read_line(&g_app, line, sizeof line, 1000)) break; /* EOF: it exited */
			if (!strncmp(line, "synced", 6)) {
				/* synchronised, queues not yet released: every packet written has completed */
				wr = dev_written(pid);
				co = dev_completed(pid);
				send_to(&g_app, "finish");
			}
			if (!strncmp(line, "done", 4)) done = 1;
			continue;
		}
		if (!held_round && dev_completed(pid) >= w0 + 40) {
			held_round = 1;
			coord("hold %d", pid);
			r = coord("wait-exec %d held 10000", pid);
			CHECK(ok(r), "%s [%s]: not held: %s", prog, mech, r);
			if (ok(r)) held_queues = atoi(r + strlen("ok held="));
			CHECK(wait_dev(pid, flag, 1, 5000), "%s [%s]: the device does not show every compute queue held", prog,
			      mech);
			inflight_held = dev_kernels_in_flight(pid);
			uint64_t c1 = dev_completed(pid);
			(void)has_output(&g_app, 50); /* a window in which a held process must not progress */
			completed_while_held = dev_completed(pid) - c1;
			CHECK(completed_while_held == 0, "%s [%s]: %llu packets completed while held", prog, mech,
			      (unsigned long long)completed_while_held);
			CHECK(inflight_held >= 1, "%s [%s]: nothing was pending on the device when it was held", prog, mech);
			nq = compare_queues(pid, 1);
			struct devq q[64];
			int n = dev_queues(pid, q, 64);
			printf("%s [%s] suspended: coordinator held=%d, device queue table:", prog, mech, held_queues);
			for (int i = 0; i < n; i++)
				printf(" {id %u type %u prio %u%s%s}", q[i].id, q[i].type, q[i].priority,
				       q[i].flags & XSB_EMU_KQ_SUSPENDED ? " suspended" : "",
				       q[i].flags & XSB_EMU_KQ_DEACTIVATED ? " deactivated" : "");
			printf("; %d kernels pending, %llu packets completed in 50 ms held\n", inflight_held,
			       (unsigned long long)completed_while_held);
			coord("release %d", pid);
			r = coord("wait-exec %d running 10000", pid);
			CHECK(ok(r), "%s [%s]: not released: %s", prog, mech, r);
			CHECK(wait_dev(pid, flag, 0, 5000), "%s [%s]: queues still held on the device after release", prog, mech);
			uint64_t t_end = now_ms() + 5000;
			while (dev_completed(pid) == c1 && now_ms() < t_end) usleep(500);
			CHECK(dev_completed(pid) > c1, "%s [%s]: no progress after release", prog, mech);
			continue;
		}
		REQUIRE(now_ms() < end, "%s [%s] did not finish within 120 s", prog, mech);
		usleep(200); /* sampling the rings while the program runs */
	}
	CHECK(done, "%s [%s] ended without \"done\" (last line: %s)", prog, mech, line);
	CHECK(held_round, "%s [%s] finished before it could be held: give it more kernels", prog, mech);
	long kernels = 0, ops = 0;
	CHECK(sscanf(line, "done %ld ops %ld", &kernels, &ops) == 2, "unexpected final line: %s", line);
	CHECK(wait_exit(&g_app, 15000) && WIFEXITED(g_app.status) && WEXITSTATUS(g_app.status) == 0,
	      "%s [%s] exit status %d (it checks its own results: see its stderr)", prog, mech, g_app.status);

	int64_t lv1_waits = stat_of(pid, "lv1_waits"), launches = stat_of(pid, "launches");
	int64_t suspend_ns = stat_of(pid, "suspend_ns_last"), resume_ns = stat_of(pid, "resume_ns_last");
	printf("%s [%s] Lv1 threshold %d batch %d: at most %d kernels in flight on the device, %lld bound waits\n", prog,
	       mech, LV1_THRESHOLD, LV1_BATCH, max_inflight, (long long)lv1_waits);
	CHECK(max_inflight <= LV1_THRESHOLD, "%s: the device saw %d kernels in flight (threshold %d)", prog, max_inflight,
	      LV1_THRESHOLD);
	CHECK(max_inflight >= 2, "%s: never more than %d kernel in flight: the sampling saw nothing", prog, max_inflight);
	CHECK(lv1_waits > 0, "%s: no Lv1 bound waits", prog);
	/* every stream operation the program issued went through the shim, once */
	CHECK(launches == ops, "%s: the shim counted %lld launches, the program issued %ld stream operations", prog,
	      (long long)launches, ops);
	CHECK(wr > 0 && wr == co, "%s: %llu packets written, %llu completed", prog, (unsigned long long)wr,
	      (unsigned long long)co);

	/* 3. reported */
	struct log_summary ls = read_log(pid, mech);
	printf("%s [%s] reported: %d hello (class offline %d, mechanism %d), %d queue events (%d create, %d held), "
	       "%d not at priority %d\n",
	       prog, mech, ls.hello, ls.hello_offline, ls.hello_mech, ls.queue_events, ls.creates, ls.held_events,
	       ls.wrong_priority, OFFLINE_PRIORITY);
	CHECK(ls.hello == 1 && ls.hello_offline == 1 && ls.hello_mech == 1, "%s: hello missing or wrong in the log", prog);
	CHECK(ls.creates >= 2, "%s: %d queue creations reported", prog, ls.creates);
	CHECK(ls.held_events >= 1, "%s: the held state was never reported", prog);
	CHECK(ls.wrong_priority == 0, "%s: %d queue events without the class priority", prog, ls.wrong_priority);
	printf("%s [%s] %ld kernels completed, %ld stream operations, suspend %lld ns, resume %lld ns\n", prog, mech,
	       kernels, ops, (long long)suspend_ns, (long long)resume_ns);

	if (json_path) {
		FILE *f = fopen(json_path, "w");
		if (!f) {
			FAIL("cannot write %s: %s", json_path, strerror(errno));
		} else {
			fprintf(f,
			        "{\"program\":\"%s\",\"mechanism\":\"%s\",\"kernels_completed\":%ld,\"stream_ops\":%ld,"
			        "\"shim_launches\":%lld,\"packets_written\":%llu,\"packets_completed\":%llu,"
			        "\"gate\":{\"packets_while_closed\":%llu,\"launches_while_closed\":%lld},"
			        "\"lv1\":{\"threshold\":%d,\"batch\":%d,\"max_kernels_in_flight\":%d,\"waits\":%lld},"
			        "\"hold\":{\"device_queues\":%d,\"held_queues\":%d,\"kernels_pending\":%d,"
			        "\"packets_completed_while_held\":%llu,\"suspend_ns\":%lld,\"resume_ns\":%lld},"
			        "\"report\":{\"hello\":%d,\"queue_events\":%d,\"creates\":%d,\"held_events\":%d,"
			        "\"priority\":%d,\"wrong_priority\":%d},\"failures\":%d}\n",
			        prog, mech, kernels, ops, (long long)launches, (unsigned long long)wr, (unsigned long long)co,
			        (unsigned long long)leaked, (long long)launches_closed, LV1_THRESHOLD, LV1_BATCH, max_inflight,
			        (long long)lv1_waits, nq, held_queues, inflight_held, (unsigned long long)completed_while_held,
			        (long long)suspend_ns, (long long)resume_ns, ls.hello, ls.queue_events, ls.creates,
			        ls.held_events, OFFLINE_PRIORITY, ls.wrong_priority, failures);
			fclose(f);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	int a = 1;
	if (a + 1 < argc && !strcmp(argv[a], "--json")) {
		json = argv[a + 1];
		a += 2;
	}
	if (argc - a < 2 || (strcmp(argv[a], "dbg-trap") && strcmp(argv[a], "deactivate"))) {
		fprintf(stderr, "usage: real_hip_test [--json FILE] dbg-trap|deactivate PROGRAM ARGS...\n");
		return 2;
	}
	char log_name[64];
	snprintf(log_name, sizeof log_name, "coord-%d.jsonl", (int)getpid());
	int r = driver_init(log_name);
	if (r) return r;
	run(argv[a], argv + a + 1, json);
	cleanup();
	if (failures) fprintf(stderr, "%d failure(s)\n", failures);
	else printf("PASS %s %s\n", argv[a], argv[a + 1]);
	return failures ? 1 : 0;
}
