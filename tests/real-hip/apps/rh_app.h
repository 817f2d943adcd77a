/*
 * rh_app.h - the run loop shared by the real-HIP client programs (host_api.cpp built by g++,
 * spin_kernel.hip built by hipcc). Both include the REAL ROCm headers (/usr/include/hip), so
 * every type and call here is the one a user's program compiles against.
 *
 *   PROGRAM loop COUNT US [MODULE]
 *     initialises HIP, creates a stream, COUNT+1 events and device memory, prints "ready",
 *     waits for "go" on stdin, then: async H2D copy, event, COUNT spin kernels of US us
 *     (alternating the program's two launch paths) each followed by an event, async D2H copy,
 *     stream sync. It then checks the copy round trip and, from the events, that every kernel
 *     ran for at least its duration in device time (each kernel completed), prints
 *     "synced COUNT ops N" (N = the stream operations it issued), waits for "finish" on stdin
 *     (its queues still exist meanwhile), releases everything, prints "done COUNT ops N" and
 *     exits 0.
 * One flushed line per step, so a test driver can interleave its checks.
 */
#ifndef RH_APP_H
#define RH_APP_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#define RH_CHECK(x)                                                                                   \
	do {                                                                                          \
		hipError_t e_ = (x);                                                                  \
		if (e_ != hipSuccess) {                                                               \
			fprintf(stderr, "%s: %s failed: %d (%s)\n", g_prog, #x, (int)e_, hipGetErrorName(e_)); \
			exit(3);                                                                      \
		}                                                                                     \
	} while (0)

static const char *g_prog = "real-hip";

/* path 0 / path 1: the program's two launch flavours */
typedef void (*rh_launch_fn)(int path, uint64_t ns, hipStream_t s);

static void rh_say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

static int rh_usage(void)
{
	fprintf(stderr, "usage: %s loop COUNT US [MODULE]\n", g_prog);
	return 2;
}

static int rh_run(long count, uint64_t us, rh_launch_fn launch)
{
	int ndev = 0;
	RH_CHECK(hipGetDeviceCount(&ndev));
	if (ndev < 1) {
		fprintf(stderr, "%s: no HIP device\n", g_prog);
		return 3;
	}
	RH_CHECK(hipSetDevice(0));
	char name[256] = "";
	RH_CHECK(hipDeviceGetName(name, (int)sizeof name, 0));
	/* the runtime must fill exactly the header's hipDeviceProp_t: a canary after it */
	struct {
		hipDeviceProp_t p;
		unsigned char canary[64];
	} props;
	memset(&props, 0xa5, sizeof props);
	RH_CHECK(hipGetDeviceProperties(&props.p, 0));
	for (unsigned char c : props.canary)
		if (c != 0xa5) {
			fprintf(stderr, "%s: hipGetDeviceProperties wrote past the %zu-byte hipDeviceProp_t\n", g_prog,
			        sizeof props.p);
			return 4;
		}
	if (strcmp(props.p.name, name) != 0 || props.p.multiProcessorCount < 1 || props.p.warpSize != 64 ||
	    strncmp(props.p.gcnArchName, "gfx", 3) != 0 || props.p.totalGlobalMem == 0) {
		fprintf(stderr, "%s: implausible device properties: name \"%.64s\" CUs %d warp %d arch \"%.32s\" memory %zu\n",
		        g_prog, props.p.name, props.p.multiProcessorCount, props.p.warpSize, props.p.gcnArchName,
		        props.p.totalGlobalMem);
		return 4;
	}
	int least = 0, greatest = 0;
	RH_CHECK(hipDeviceGetStreamPriorityRange(&least, &greatest));
	hipStream_t s;
	RH_CHECK(hipStreamCreateWithFlags(&s, hipStreamNonBlocking));
	std::vector<hipEvent_t> ev((size_t)count + 1);
	for (auto &e : ev) RH_CHECK(hipEventCreate(&e));
	const size_t n = 1 << 20;
	std::vector<unsigned char> h(n), back(n, 0);
	for (size_t i = 0; i < n; i++) h[i] = (unsigned char)(i * 131u + 7u);
	void *d = nullptr;
	RH_CHECK(hipMalloc(&d, n));
	fprintf(stderr, "%s: device %s (%s, %d CUs), stream priorities %d..%d\n", g_prog, name, props.p.gcnArchName,
	        props.p.multiProcessorCount, least, greatest);
	rh_say("ready");

	char line[64];
	if (!fgets(line, sizeof line, stdin) || strncmp(line, "go", 2) != 0) {
		fprintf(stderr, "%s: expected \"go\" on stdin\n", g_prog);
		return 2;
	}
	const uint64_t ns = us * 1000u;
	long ops = 0;
	RH_CHECK(hipMemcpyAsync(d, h.data(), n, hipMemcpyHostToDevice, s));
	ops++;
	RH_CHECK(hipEventRecord(ev[0], s));
	ops++;
	for (long i = 0; i < count; i++) {
		launch((int)(i & 1), ns, s);
		ops++;
		RH_CHECK(hipGetLastError());
		RH_CHECK(hipEventRecord(ev[(size_t)i + 1], s));
		ops++;
	}
	RH_CHECK(hipMemcpyAsync(back.data(), d, n, hipMemcpyDeviceToHost, s));
	ops++;
	RH_CHECK(hipStreamSynchronize(s));

	if (memcmp(h.data(), back.data(), n) != 0) {
		fprintf(stderr, "%s: the device memory round trip changed the data\n", g_prog);
		return 4;
	}
	/* Each interval between consecutive events holds one kernel: in device time it lasts at
	 * least that kernel's duration (float milliseconds: allow rounding of the last digit). */
	for (long i = 0; i < count; i++) {
		RH_CHECK(hipEventQuery(ev[(size_t)i + 1]));
		float ms = 0;
		RH_CHECK(hipEventElapsedTime(&ms, ev[(size_t)i], ev[(size_t)i + 1]));
		if ((double)ms * 1e6 < (double)ns * 0.999) {
			fprintf(stderr, "%s: kernel %ld took %.4f ms of device time, shorter than its %.4f ms: it did not run\n",
			        g_prog, i, (double)ms, (double)ns / 1e6);
			return 4;
		}
	}
	/* a driver inspects the device while the queues still exist, then says "finish" */
	printf("synced %ld ops %ld\n", count, ops);
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin) || strncmp(line, "finish", 6) != 0)
		fprintf(stderr, "%s: no \"finish\" on stdin; tearing down\n", g_prog);
	for (auto &e : ev) RH_CHECK(hipEventDestroy(e));
	RH_CHECK(hipFree(d));
	RH_CHECK(hipStreamDestroy(s));
	printf("done %ld ops %ld\n", count, ops);
	fflush(stdout);
	return 0;
}

static int rh_main(int argc, char **argv, rh_launch_fn launch, int min_args)
{
	if (argc < min_args || strcmp(argv[1], "loop") != 0) return rh_usage();
	long count = atol(argv[2]);
	uint64_t us = strtoull(argv[3], nullptr, 10);
	if (count < 1 || us < 1) return rh_usage();
	return rh_run(count, us, launch);
}
#endif
