/*
 * launch_bench - per-launch cost with and without the shim, in one run (not a test).
 *
 *   launch_bench [N]        (run through run-bench.sh, which sets up the emulated device)
 *
 * Configurations, each its own process: without the shim, then with the shim preloaded for
 * each class: unclassified (observe only), online (activity tracking), offline with a
 * coordinator-less fail-open (tagging only), and offline attached to a coordinator with an
 * open gate and Lv1 unbounded. Each launches N kernels of 0 ns on one stream, in batches of
 * 512 synchronised between batches (so the ring never fills), and times the hipLaunchKernel
 * calls only (the device runs asynchronously).
 *
 * Precision: the machine is shared (2 cores, the device process spinning on one) and load
 * only ever adds time, in bursts longer than a whole run. So the configurations run side by
 * side and take turns batch by batch (the parent hands out one batch at a time, rotating who
 * goes first): a slow phase hits every configuration alike. Before each timed batch the
 * process launches 64 untimed kernels (its caches and the runtime's state are warm again after
 * waiting for its turn). Each configuration's figure is its fastest batch (min of N/512),
 * median beside it; the summary gives each one's added cost against the same estimator
 * without the shim.
 *
 * A second baseline, "without shim, one idle thread", is the plain process with one more thread
 * that only sleeps. On the emulated runtime (a write(2) doorbell per launch, in a VM) any second
 * live thread in a process makes each launch slower, shim or not: about 40 ns (20-50 between
 * runs; one or three sleeping threads alike, a thread that has exited much less). An attached
 * shim always has its service thread and executor, so its configurations are also compared
 * against that baseline. On ROCm the runtime's own threads make every process multi-threaded.
 *
 * Environment: XSB_BENCH_EXTRA=1 adds unclassified and online processes attached to the
 * coordinator; XSB_BENCH_REF_PRELOAD="<shim> <kfd>" runs every shim configuration a second time
 * with another build of the shim, labelled "ref:" (before/after in one run).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "hip_api.h"

extern "C" __attribute__((visibility("default"), noinline)) void xsb_spin_bench(uint64_t) {}

enum { BATCH = 512, WARM = 64 };

static double now_s()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *sleeper(void *)
{
	for (;;) pause();
	return nullptr;
}

/* Child: "ready" once set up, then one batch per "b" line (answers ns per launch), exits on EOF. */
static int child(void)
{
	pthread_t idle;
	if (getenv("XSB_BENCH_IDLE_THREAD") && pthread_create(&idle, nullptr, sleeper, nullptr) != 0) return 1;
	hipStream_t s;
	if (hipStreamCreate(&s) != hipSuccess) return 1;
	uint64_t ns = 0;
	void *args[] = {&ns};
	const void *k = reinterpret_cast<const void *>(&xsb_spin_bench);
	for (int i = 0; i < 200; i++) hipLaunchKernel(k, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s);
	hipStreamSynchronize(s);
	printf("ready\n");
	fflush(stdout);
	char line[16];
	while (fgets(line, sizeof line, stdin)) {
		for (int i = 0; i < WARM; i++) hipLaunchKernel(k, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s);
		hipStreamSynchronize(s);
		double t0 = now_s();
		for (int i = 0; i < BATCH; i++)
			if (hipLaunchKernel(k, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s) != hipSuccess) return 1;
		double dt = now_s() - t0;
		hipStreamSynchronize(s);
		printf("%.3f\n", dt / BATCH * 1e9);
		fflush(stdout);
	}
	return 0;
}

struct Proc {
	std::string label;
	pid_t pid = -1;
	FILE *to = nullptr, *from = nullptr;
	std::vector<double> ns; /* per launch, one per batch */
};

static bool start(Proc *p, const char *self, const char *preload, const char *cls, const char *socket,
                  bool idle_thread = false)
{
	int in[2], out[2];
	/* close-on-exec: later children must not hold this child's pipes open */
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return false;
	p->pid = fork();
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		setenv("LD_PRELOAD", preload, 1);
		if (cls) setenv("XSB_CLASS", cls, 1);
		else unsetenv("XSB_CLASS");
		if (socket) setenv("XSB_SOCKET", socket, 1);
		else unsetenv("XSB_SOCKET");
		if (idle_thread) setenv("XSB_BENCH_IDLE_THREAD", "1", 1);
		execl(self, self, "--child", (char *)nullptr);
		_exit(127);
	}
	close(in[0]), close(out[1]);
	p->to = fdopen(in[1], "w");
	p->from = fdopen(out[0], "r");
	char line[64];
	if (!p->from || !fgets(line, sizeof line, p->from) || strcmp(line, "ready\n") != 0) {
		fprintf(stderr, "launch_bench: %s did not start (status of its first line: %s)\n", p->label.c_str(),
		        feof(p->from) ? "end of file" : "unexpected");
		return false;
	}
	return true;
}

static bool batch(Proc *p)
{
	char line[64];
	if (fputs("b\n", p->to) < 0 || fflush(p->to) != 0 || !fgets(line, sizeof line, p->from)) {
		fprintf(stderr, "launch_bench: %s stopped answering\n", p->label.c_str());
		return false;
	}
	p->ns.push_back(atof(line));
	return true;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--child")) return child();
	long n = argc > 1 ? atol(argv[1]) : 20000;
	const char *preload = getenv("XSB_BENCH_PRELOAD"), *plain = getenv("XSB_BENCH_PLAIN_PRELOAD");
	const char *coord = getenv("XSB_BENCH_COORD"), *ref = getenv("XSB_BENCH_REF_PRELOAD");
	bool extra = getenv("XSB_BENCH_EXTRA") && !strcmp(getenv("XSB_BENCH_EXTRA"), "1");
	if (!preload || !plain) {
		fprintf(stderr, "launch_bench: run through hip-shim/bench/run-bench.sh\n");
		return 2;
	}
	char self[4096];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0) return 1;
	self[sl] = 0;
	std::string sock = std::string(getenv("XSB_EMU_DIR") ? getenv("XSB_EMU_DIR") : "/tmp") + "/bench-coord.sock";
	struct Run {
		const char *label, *cls;
		bool attached, extra;
	} runs[] = {
	    {"shim, unclassified (observe)", nullptr, false, false},
	    {"shim, online (activity)", "online", false, false},
	    {"shim, offline, no coordinator", "offline", false, false},
	    {"shim, offline, attached (gate open)", "offline", true, false},
	    {"shim, unclassified, attached", nullptr, true, true},
	    {"shim, online, attached", "online", true, true},
	};
	pid_t cpid = -1;
	if (coord) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) != 0) return 1;
		cpid = fork();
		if (cpid == 0) {
			dup2(p[0], 0);
			int devnull = open("/dev/null", O_WRONLY);
			dup2(devnull, 1);
			execl(coord, coord, "--socket", sock.c_str(), "--lv1", "0,1", (char *)nullptr);
			_exit(127);
		}
		close(p[0]); /* the write end stays open: the coordinator lives until we exit */
		for (int i = 0; i < 200 && access(sock.c_str(), F_OK) != 0; i++) usleep(10000);
	}
	std::vector<Proc> procs;
	procs.emplace_back();
	procs.back().label = "without shim";
	bool ok = start(&procs.back(), self, plain, nullptr, nullptr);
	procs.emplace_back();
	procs.back().label = "without shim, one idle thread";
	ok = ok && start(&procs.back(), self, plain, nullptr, nullptr, true);
	for (int pass = 0; ok && pass < (ref ? 2 : 1); pass++) {
		for (const Run &r : runs) {
			if ((r.attached && !coord) || (r.extra && !extra)) continue;
			procs.emplace_back();
			procs.back().label = std::string(pass ? "ref: " : "") + r.label;
			ok = start(&procs.back(), self, pass ? ref : preload, r.cls, r.attached ? sock.c_str() : nullptr);
			if (!ok) break;
		}
	}
	long batches = n / BATCH > 0 ? n / BATCH : 1;
	for (long b = 0; ok && b < batches; b++) /* rotate who goes first: no position is favoured */
		for (size_t i = 0; ok && i < procs.size(); i++) ok = batch(&procs[(i + (size_t)b) % procs.size()]);
	for (Proc &p : procs) {
		if (p.to) fclose(p.to); /* end of file: the child exits */
		if (p.pid > 0) waitpid(p.pid, nullptr, 0);
		if (p.from) fclose(p.from);
	}
	if (cpid > 0) {
		kill(cpid, SIGTERM);
		waitpid(cpid, nullptr, 0);
	}
	if (!ok) return 1;
	for (Proc &p : procs) {
		std::sort(p.ns.begin(), p.ns.end());
		/* first figure: the fastest batch (what bench/run.mjs reads) */
		printf("%-40s %8.4f us per launch (%ld launches; min of %zu interleaved batches; median %.4f)\n",
		       p.label.c_str(), p.ns.front() / 1e3, (long)p.ns.size() * BATCH, p.ns.size(), p.ns[p.ns.size() / 2] / 1e3);
	}
	const Proc &b0 = procs[0], &b1 = procs[1];
	printf("added per launch, fastest batch (by medians), against %.1f ns without the shim", b0.ns.front());
	printf(" / %.1f ns without the shim but with one idle thread:\n", b1.ns.front());
	for (size_t i = 2; i < procs.size(); i++) {
		const Proc &p = procs[i];
		printf("  %-40s %+7.1f ns (%+7.1f)", p.label.c_str(), p.ns.front() - b0.ns.front(),
		       p.ns[p.ns.size() / 2] - b0.ns[b0.ns.size() / 2]);
		if (p.label.find("attached") != std::string::npos)
			printf("  / %+7.1f ns (%+7.1f)", p.ns.front() - b1.ns.front(), p.ns[p.ns.size() / 2] - b1.ns[b1.ns.size() / 2]);
		printf("\n");
	}
	return 0;
}
