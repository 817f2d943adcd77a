/*
 * shim_app - a HIP program for the shim tests (built against the emulated libamdhip64, run
 * with the shim preloaded). It reports progress on stdout, one flushed line per step, and
 * takes orders on stdin so a test driver can interleave its checks.
 *
 *   shim_app flavours US          "ready", then per stdin line FLAVOUR: one launch of that flavour,
 *                                 "launched FLAVOUR", device sync, "done FLAVOUR"; "exit" ends
 *   shim_app streams N PRIO       N streams (HIP priority PRIO), a kernel on each, sync, "done",
 *                                 then waits for "exit" (or "destroy": destroys them, "destroyed")
 *   shim_app loop COUNT US        "started", COUNT kernels on one stream, sync, "done COUNT"
 *   shim_app threads T COUNT US   T threads, each COUNT kernels on its own stream and its
 *                                 per-thread stream, "done"
 *   shim_app fork-child US        forks before HIP init; parent and child each run a kernel
 *   shim_app fork-exec PATH...    runs a kernel, then fork+exec PATH (shim inherited), waits
 *   shim_app fork-nohip US        runs a kernel, forks a child that exits without HIP, runs another
 * Every kernel is the emulator's spin kernel (name contains "xsb_spin"; duration = argument).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "hip_api.h"

extern "C" __attribute__((visibility("default"), noinline)) void xsb_spin_app(uint64_t ns)
{
	/* the host stub hipcc would generate: pop the <<<>>> configuration and launch */
	dim3 g, b;
	size_t sh;
	hipStream_t s;
	if (__hipPopCallConfiguration(&g, &b, &sh, &s) != hipSuccess) return;
	void *args[] = {&ns};
	hipLaunchKernel(reinterpret_cast<const void *>(&xsb_spin_app), g, b, args, sh, s);
}

static const void *K = reinterpret_cast<const void *>(&xsb_spin_app);

static void say(const char *fmt, const char *arg = "")
{
	printf(fmt, arg);
	putchar('\n');
	fflush(stdout);
}

#define CHECK(x)                                                                          \
	do {                                                                              \
		hipError_t e_ = (x);                                                      \
		if (e_ != hipSuccess) {                                                   \
			fprintf(stderr, "shim_app: %s failed: %d (%s)\n", #x, (int)e_, hipGetErrorName(e_)); \
			exit(3);                                                          \
		}                                                                         \
	} while (0)

typedef hipError_t (*launch_fn)(const void *, dim3, dim3, void **, size_t, hipStream_t);

static int flavours(uint64_t ns)
{
	hipStream_t s;
	CHECK(hipSetDevice(0));
	CHECK(hipStreamCreate(&s));
	hipEvent_t e0, e1, er;
	CHECK(hipEventCreate(&e0));
	CHECK(hipEventCreate(&e1));
	CHECK(hipEventCreate(&er));
	hipFunction_t f;
	CHECK(hipGetFuncBySymbol(&f, K));
	hipGraph_t g;
	hipGraphNode_t node;
	hipGraphExec_t x;
	uint64_t gns = ns;
	void *gargs[] = {&gns};
	hipKernelNodeParams np;
	memset(&np, 0, sizeof np);
	np.blockDim = dim3{64, 1, 1};
	np.gridDim = dim3{1, 1, 1};
	np.func = const_cast<void *>(K);
	np.kernelParams = gargs;
	CHECK(hipGraphCreate(&g, 0));
	CHECK(hipGraphAddKernelNode(&node, g, nullptr, 0, &np));
	CHECK(hipGraphInstantiate(&x, g, nullptr, nullptr, 0));
	void *dbuf;
	CHECK(hipMalloc(&dbuf, 1 << 16));
	std::vector<char> hbuf(1 << 16, 1);
	void *dl = dlopen("libamdhip64.so.6", RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "shim_app: dlopen libamdhip64.so.6: %s\n", dlerror());
		return 3;
	}
	say("ready");
	char line[128];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		std::string fl = line;
		if (fl == "exit") break;
		void *args[] = {&ns};
		dim3 g1{1, 1, 1}, b64{64, 1, 1};
		hipError_t e = hipErrorInvalidValue;
		if (fl == "api") e = hipLaunchKernel(K, g1, b64, args, 0, s);
		else if (fl == "null") e = hipLaunchKernel(K, g1, b64, args, 0, nullptr);
		else if (fl == "legacy") e = hipLaunchKernel(K, g1, b64, args, 0, hipStreamLegacy);
		else if (fl == "spt") e = hipLaunchKernel_spt(K, g1, b64, args, 0, nullptr);
		else if (fl == "ptstream") e = hipLaunchKernel(K, g1, b64, args, 0, hipStreamPerThread);
		else if (fl == "coop") e = hipLaunchCooperativeKernel(K, g1, b64, args, 0, s);
		else if (fl == "coop_spt") e = hipLaunchCooperativeKernel_spt(K, g1, b64, args, 0, nullptr);
		else if (fl == "ext") e = hipExtLaunchKernel(K, g1, b64, args, 0, s, e0, e1, 0);
		else if (fl == "module") e = hipModuleLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, s, args, nullptr);
		else if (fl == "extmodule")
			e = hipExtModuleLaunchKernel(f, 64, 1, 1, 64, 1, 1, 0, s, args, nullptr, nullptr, nullptr, 0);
		else if (fl == "graph") e = hipGraphLaunch(x, s);
		else if (fl == "graph_spt") e = hipGraphLaunch_spt(x, nullptr);
		else if (fl == "memcpyasync") e = hipMemcpyAsync(dbuf, hbuf.data(), 4096, hipMemcpyHostToDevice, s);
		else if (fl == "memcpyasync_spt") e = hipMemcpyAsync_spt(dbuf, hbuf.data(), 4096, hipMemcpyHostToDevice, nullptr);
		else if (fl == "htodasync") e = hipMemcpyHtoDAsync(dbuf, hbuf.data(), 4096, s);
		else if (fl == "memsetasync") e = hipMemsetAsync(dbuf, 0, 4096, s);
		else if (fl == "memsetasync_spt") e = hipMemsetAsync_spt(dbuf, 0, 4096, nullptr);
		else if (fl == "memcpy") e = hipMemcpy(dbuf, hbuf.data(), 4096, hipMemcpyHostToDevice);
		else if (fl == "memset") e = hipMemset(dbuf, 0, 4096);
		else if (fl == "eventrecord") e = hipEventRecord(er, s);
		else if (fl == "eventrecord_spt") e = hipEventRecord_spt(er, nullptr);
		else if (fl == "chevron") {
			e = __hipPushCallConfiguration(g1, b64, 0, s);
			if (e == hipSuccess) {
				xsb_spin_app(ns);
				e = hipGetLastError();
			}
		} else if (fl == "procaddr") {
			void *p = nullptr;
			hipDriverProcAddressQueryResult st;
			e = hipGetProcAddress("hipLaunchKernel", &p, 600, 0, &st);
			if (e == hipSuccess) e = reinterpret_cast<launch_fn>(p)(K, g1, b64, args, 0, s);
		} else if (fl == "dlsym") {
			void *p = dlsym(RTLD_DEFAULT, "hipLaunchKernel");
			e = p ? reinterpret_cast<launch_fn>(p)(K, g1, b64, args, 0, s) : hipErrorNotFound;
		} else if (fl == "dlopen") {
			void *p = dlsym(dl, "hipLaunchKernel");
			e = p ? reinterpret_cast<launch_fn>(p)(K, g1, b64, args, 0, s) : hipErrorNotFound;
		} else if (fl == "dlvsym") {
			void *p = dlvsym(dl, "hipLaunchKernel", "hip_4.2");
			e = p ? reinterpret_cast<launch_fn>(p)(K, g1, b64, args, 0, s) : hipErrorNotFound;
		}
		if (e != hipSuccess) {
			fprintf(stderr, "shim_app: flavour %s failed: %d\n", fl.c_str(), (int)e);
			return 4;
		}
		say("launched %s", fl.c_str());
		CHECK(hipDeviceSynchronize());
		if (fl == "eventrecord" || fl == "eventrecord_spt") CHECK(hipEventSynchronize(er));
		say("done %s", fl.c_str());
	}
	return 0;
}

static int streams(int n, int prio)
{
	std::vector<hipStream_t> ss(n);
	for (auto &s : ss) CHECK(hipStreamCreateWithPriority(&s, 0, prio));
	uint64_t ns = 200000;
	void *args[] = {&ns};
	for (auto &s : ss) CHECK(hipLaunchKernel(K, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s));
	CHECK(hipDeviceSynchronize());
	say("done");
	char line[64];
	while (fgets(line, sizeof line, stdin)) {
		if (!strncmp(line, "destroy", 7)) {
			for (auto &s : ss) CHECK(hipStreamDestroy(s));
			say("destroyed");
		} else if (!strncmp(line, "launch", 6)) {
			for (auto &s : ss) CHECK(hipLaunchKernel(K, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s));
			say("launched");
		} else if (!strncmp(line, "sync", 4)) {
			CHECK(hipDeviceSynchronize());
			say("synced");
		} else if (!strncmp(line, "exit", 4)) {
			break;
		}
	}
	return 0;
}

static int loop(long count, uint64_t ns)
{
	hipStream_t s;
	CHECK(hipStreamCreate(&s));
	say("started");
	void *args[] = {&ns};
	for (long i = 0; i < count; i++) CHECK(hipLaunchKernel(K, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s));
	CHECK(hipStreamSynchronize(s));
	printf("done %ld\n", count);
	fflush(stdout);
	return 0;
}

struct ThreadArg {
	long count;
	uint64_t ns;
};
static void *thread_main(void *p)
{
	ThreadArg *a = static_cast<ThreadArg *>(p);
	hipStream_t s;
	CHECK(hipStreamCreate(&s));
	void *args[] = {&a->ns};
	for (long i = 0; i < a->count; i++) {
		CHECK(hipLaunchKernel(K, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, s));
		CHECK(hipLaunchKernel_spt(K, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, nullptr));
	}
	CHECK(hipStreamSynchronize(s));
	CHECK(hipStreamSynchronize_spt(nullptr));
	CHECK(hipStreamDestroy(s));
	return nullptr;
}

static int threads(int t, long count, uint64_t ns)
{
	CHECK(hipSetDevice(0));
	std::vector<pthread_t> th(t);
	ThreadArg a{count, ns};
	for (auto &x : th) pthread_create(&x, nullptr, thread_main, &a);
	for (auto &x : th) pthread_join(x, nullptr);
	CHECK(hipDeviceSynchronize());
	say("done");
	return 0;
}

static void one_kernel(uint64_t ns)
{
	void *args[] = {&ns};
	CHECK(hipLaunchKernel(K, dim3{1, 1, 1}, dim3{64, 1, 1}, args, 0, nullptr));
	CHECK(hipDeviceSynchronize());
}

int main(int argc, char **argv)
{
	if (argc < 2) return 2;
	std::string m = argv[1];
	if (m == "flavours" && argc == 3) return flavours(strtoull(argv[2], nullptr, 10) * 1000);
	if (m == "streams" && argc == 4) return streams(atoi(argv[2]), atoi(argv[3]));
	if (m == "loop" && argc == 4) return loop(atol(argv[2]), strtoull(argv[3], nullptr, 10) * 1000);
	if (m == "threads" && argc == 5) return threads(atoi(argv[2]), atol(argv[3]), strtoull(argv[4], nullptr, 10) * 1000);
	if (m == "fork-child" && argc == 3) {
		pid_t c = fork();
		one_kernel(strtoull(argv[2], nullptr, 10) * 1000);
		if (c == 0) {
			say("child done");
			return 0;
		}
		int st;
		waitpid(c, &st, 0);
		say("parent done");
		return WIFEXITED(st) ? WEXITSTATUS(st) : 5;
	}
	if (m == "fork-exec" && argc >= 3) {
		one_kernel(100000);
		fflush(stdout);
		pid_t c = fork();
		if (c == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		int st;
		waitpid(c, &st, 0);
		one_kernel(100000);
		say("parent done");
		return WIFEXITED(st) ? WEXITSTATUS(st) : 5;
	}
	if (m == "fork-nohip" && argc == 3) {
		uint64_t ns = strtoull(argv[2], nullptr, 10) * 1000;
		one_kernel(ns);
		pid_t c = fork();
		if (c == 0) exit(0); /* atexit handlers inherited from the parent run in the child */
		int st;
		waitpid(c, &st, 0);
		one_kernel(ns);
		say("parent done");
		return 0;
	}
	fprintf(stderr, "shim_app: bad arguments\n");
	return 2;
}
