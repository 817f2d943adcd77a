/*
 * launch_bench - per-launch cost with and without the shim, in one run (not a test).
 *
 *   launch_bench [N]        (run through run-bench.sh, which sets up the emulated device)
 *
 * The parent measures itself (no shim), then runs itself as a child with the shim preloaded
 * for each class: unclassified (observe only), online (activity tracking), offline with a
 * coordinator-less fail-open (tagging only), and offline attached to a coordinator with an
 * open gate and Lv1 unbounded. Each run launches N kernels of 0 ns on one stream and times
 * the hipLaunchKernel calls only (the device runs asynchronously).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "hip_api.h"

extern "C" __attribute__((visibility("default"), noinline)) void xsb_spin_bench(uint64_t) {}

static double now_s()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int measure(long n, const char *label)
{
	hipStream_t s;
	if (hipStreamCreate(&s) != hipSuccess) return 1;
	uint64_t ns = 0;
	void *args[] = {&ns};
	const void *k = reinterpret_cast<const void *>(&xsb_spin_bench);
	for (int i = 0; i < 200; i++) hipLaunchKernel(k, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s);
	hipStreamSynchronize(s);
	double total = 0;
	long done = 0;
	/* batches of 512 launches, synchronised between batches, so the ring never fills */
	while (done < n) {
		double t0 = now_s();
		for (int i = 0; i < 512; i++)
			if (hipLaunchKernel(k, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s) != hipSuccess) return 1;
		total += now_s() - t0;
		done += 512;
		hipStreamSynchronize(s);
	}
	printf("%-34s %8.3f us per launch (%ld launches)\n", label, total / (double)done * 1e6, done);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	if (argc > 2) return measure(n, argv[2]);
	const char *preload = getenv("XSB_BENCH_PRELOAD"), *plain = getenv("XSB_BENCH_PLAIN_PRELOAD");
	const char *coord = getenv("XSB_BENCH_COORD");
	if (!preload || !plain) {
		fprintf(stderr, "launch_bench: run through hip-shim/bench/run-bench.sh\n");
		return 2;
	}
	struct Run {
		const char *label, *cls, *socket, *preload;
	} runs[] = {
	    {"without shim", nullptr, nullptr, plain},
	    {"shim, unclassified (observe)", nullptr, nullptr, preload},
	    {"shim, online (activity)", "online", nullptr, preload},
	    {"shim, offline, no coordinator", "offline", nullptr, preload},
	    {"shim, offline, attached (gate open)", "offline", "attached", preload},
	};
	pid_t cpid = -1;
	std::string sock = std::string(getenv("XSB_EMU_DIR") ? getenv("XSB_EMU_DIR") : "/tmp") + "/bench-coord.sock";
	if (coord) {
		int p[2];
		if (pipe(p) != 0) return 1;
		cpid = fork();
		if (cpid == 0) {
			dup2(p[0], 0);
			close(p[1]);
			int devnull = open("/dev/null", O_WRONLY);
			dup2(devnull, 1);
			execl(coord, coord, "--socket", sock.c_str(), "--lv1", "0,1", (char *)nullptr);
			_exit(127);
		}
		close(p[0]);
		for (int i = 0; i < 200 && access(sock.c_str(), F_OK) != 0; i++) usleep(10000);
	}
	for (const Run &r : runs) {
		if (r.socket && !coord) continue;
		pid_t c = fork();
		if (c == 0) {
			setenv("LD_PRELOAD", r.preload, 1);
			if (r.cls) setenv("XSB_CLASS", r.cls, 1);
			if (r.socket) setenv("XSB_SOCKET", sock.c_str(), 1);
			char nb[32];
			snprintf(nb, sizeof nb, "%ld", n);
			execl("/proc/self/exe", argv[0], nb, r.label, (char *)nullptr);
			_exit(127);
		}
		int st;
		waitpid(c, &st, 0);
	}
	if (cpid > 0) {
		kill(cpid, SIGTERM);
		waitpid(cpid, nullptr, 0);
	}
	return 0;
}
