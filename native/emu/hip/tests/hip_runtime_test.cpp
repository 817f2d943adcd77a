/*
 * hip_runtime_test - the emulated libamdhip64 seen as a HIP program and a shim see it: KFD queues
 * in sysfs and the device's queue mirror, model timing, copies, every launch flavour, symbol
 * lookup and re-entry through the PLT.
 *
 * usage: hip_runtime_test <test>   (one test per process: each needs a fresh runtime)
 * Runs inside native/emu/tests/with-emu.sh --device (emulator environment, private device).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "hip_api.h"
#include "xsb_emu_client.h"

static int g_failed;
#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			std::fprintf(stderr, __VA_ARGS__);                         \
			std::fprintf(stderr, "\n");                                \
			g_failed = 1;                                              \
		}                                                                  \
	} while (0)
#define HIPOK(call)                                                                                  \
	do {                                                                                         \
		hipError_t e_ = (call);                                                              \
		if (e_ != hipSuccess) {                                                              \
			std::fprintf(stderr, "FAIL %s:%d: %s = %s\n", __FILE__, __LINE__, #call, hipGetErrorName(e_)); \
			std::exit(1);                                                                \
		}                                                                                    \
	} while (0)

/* ---- interposed in this executable (exported with -rdynamic), as a shim would ---- */
static int g_launch_calls, g_sync_calls;
extern "C" hipError_t hipLaunchKernel(const void *f, dim3 g, dim3 b, void **a, size_t sh, hipStream_t s)
{
	using Fn = hipError_t (*)(const void *, dim3, dim3, void **, size_t, hipStream_t);
	static Fn next = (Fn)dlsym(RTLD_NEXT, "hipLaunchKernel");
	g_launch_calls++;
	return next(f, g, b, a, sh, s);
}
extern "C" hipError_t hipStreamSynchronize(hipStream_t s)
{
	using Fn = hipError_t (*)(hipStream_t);
	static Fn next = (Fn)dlsym(RTLD_NEXT, "hipStreamSynchronize");
	g_sync_calls++;
	return next(s);
}

/* ---- a hipcc-style kernel: host stub registered in a constructor ---- */
void xsb_spin(uint64_t ns);
void xsb_spin(uint64_t ns)
{
	dim3 g, b;
	size_t sh;
	hipStream_t s;
	if (__hipPopCallConfiguration(&g, &b, &sh, &s) != hipSuccess) return;
	void *args[] = {&ns};
	(void)hipLaunchKernel((const void *)&xsb_spin, g, b, args, sh, s);
}
void other_kernel(int);
void other_kernel(int) {}
static char kSpinName[] = "_Z8xsb_spinm";
static char kOtherName[] = "_Z12other_kerneli";
__attribute__((constructor)) static void register_kernels()
{
	static const struct {
		uint32_t magic, version;
		const void *bin;
		void *unused;
	} fatbin = {0x48495046u, 1, "", nullptr};
	void **h = __hipRegisterFatBinary(&fatbin);
	__hipRegisterFunction(h, (const void *)&xsb_spin, kSpinName, kSpinName, ~0u, nullptr, nullptr, nullptr,
	                      nullptr, nullptr);
	__hipRegisterFunction(h, (const void *)&other_kernel, kOtherName, kOtherName, ~0u, nullptr, nullptr,
	                      nullptr, nullptr, nullptr);
}

/* ---- device views ---- */
static std::string sysfs_root()
{
	const char *r = std::getenv("XSB_SYSFS_ROOT");
	return r ? r : "/sys";
}

struct SysQueue {
	std::string id, type, size, gpuid;
};

static std::string slurp(const std::string &p)
{
	FILE *f = std::fopen(p.c_str(), "r");
	if (!f) return "";
	char buf[256];
	size_t n = std::fread(buf, 1, sizeof buf - 1, f);
	std::fclose(f);
	buf[n] = 0;
	std::string s(buf);
	while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
	return s;
}

static std::vector<SysQueue> sysfs_queues()
{
	std::vector<SysQueue> out;
	std::string dir = sysfs_root() + "/class/kfd/kfd/proc/" + std::to_string(getpid()) + "/queues";
	DIR *d = opendir(dir.c_str());
	if (!d) return out;
	while (struct dirent *de = readdir(d)) {
		if (de->d_name[0] == '.') continue;
		std::string q = dir + "/" + de->d_name;
		out.push_back(SysQueue{de->d_name, slurp(q + "/type"), slurp(q + "/size"), slurp(q + "/gpuid")});
	}
	closedir(d);
	return out;
}

static xsb_emu_shm *shm()
{
	xsb_emu_shm *s = nullptr;
	if (xsb_emu_attach(&s) < 0) {
		std::fprintf(stderr, "FAIL: xsb_emu_attach\n");
		std::exit(1);
	}
	return s;
}

/* Our queues in the device's mirror (seqlock-consistent copy). */
static std::vector<xsb_emu_kfd_queue> mirror_queues()
{
	xsb_emu_shm *s = shm();
	const xsb_emu_kfd_queue *tab =
	    reinterpret_cast<const xsb_emu_kfd_queue *>(reinterpret_cast<const char *>(s) + s->off_kfd_queues);
	std::vector<xsb_emu_kfd_queue> copy(XSB_EMU_QUEUE_MIRROR);
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t a = s->seq.load(std::memory_order_acquire);
		if (a & 1) continue;
		std::memcpy(copy.data(), tab, sizeof(xsb_emu_kfd_queue) * XSB_EMU_QUEUE_MIRROR);
		std::atomic_thread_fence(std::memory_order_acquire);
		if (s->seq.load(std::memory_order_acquire) == a) break;
	}
	std::vector<xsb_emu_kfd_queue> mine;
	for (auto &q : copy)
		if ((q.flags & XSB_EMU_KQ_USED) && q.pid == (uint32_t)getpid()) mine.push_back(q);
	return mine;
}

/* Packets completed on the rings this process owns. */
static uint64_t ring_completions()
{
	xsb_emu_shm *s = shm();
	uint64_t sum = 0;
	for (uint32_t i = 0; i < XSB_EMU_MAX_RINGS; i++) {
		xsb_emu_ring *r = xsb_emu_ring_at(i);
		if (r && r->owner_pid == (uint32_t)getpid() && r->alloc_state != XSB_EMU_RING_FREE)
			sum += __atomic_load_n(&r->completed, __ATOMIC_ACQUIRE);
	}
	(void)s;
	return sum;
}

/* The device bumps a ring's completed counter just after it signals completion: wait (bounded)
 * for the counter instead of reading it once. */
static uint64_t wait_completions(uint64_t at_least)
{
	uint64_t c = ring_completions();
	for (int i = 0; i < 2000 && c < at_least; i++) {
		usleep(1000);
		c = ring_completions();
	}
	return c;
}

/* ---- tests ---- */
static void test_queue_pool()
{
	/* 16 streams: GPU_MAX_HW_QUEUES (default 4) pooled queues + the runtime's utility queue */
	const char *env = std::getenv("GPU_MAX_HW_QUEUES");
	const int pooled = env ? std::atoi(env) : 4;
	std::vector<hipStream_t> st(16);
	for (auto &s : st) HIPOK(hipStreamCreate(&s));
	auto q = sysfs_queues();
	CHECK(q.size() == (size_t)pooled + 1, "%zu KFD queues in sysfs, expected %d", q.size(), pooled + 1);
	int big = 0, small = 0;
	for (auto &e : q) {
		if (e.size == std::to_string(XSB_EMU_RING_PACKETS * 64)) big++;
		if (e.size == "4096") small++;
		CHECK(e.type == q[0].type, "queue %s type %s differs from %s", e.id.c_str(), e.type.c_str(), q[0].type.c_str());
		CHECK(!e.gpuid.empty() && e.gpuid != "0", "queue %s gpuid '%s'", e.id.c_str(), e.gpuid.c_str());
	}
	CHECK(big == pooled && small == 1, "ring sizes: %d of 64 KiB, %d of 4 KiB", big, small);
	auto m = mirror_queues();
	CHECK(m.size() == (size_t)pooled + 1, "%zu queues in the device mirror", m.size());
	for (auto &e : m) CHECK(e.priority == 7, "queue %u priority %u, expected 7", e.queue_id, e.priority);
	/* destroying every stream releases the pool: only the utility queue stays */
	for (auto &s : st) HIPOK(hipStreamDestroy(s));
	q = sysfs_queues();
	CHECK(q.size() == 1, "%zu queues after destroying all streams, expected 1", q.size());
}

static void test_priority()
{
	hipStream_t hi, lo, norm;
	int least = 0, greatest = 0;
	HIPOK(hipDeviceGetStreamPriorityRange(&least, &greatest));
	CHECK(least == 1 && greatest == -1, "range %d..%d", least, greatest);
	HIPOK(hipStreamCreateWithPriority(&hi, 0, -1));
	HIPOK(hipStreamCreateWithPriority(&lo, 0, 1));
	HIPOK(hipStreamCreateWithPriority(&norm, 0, 0));
	int p = 5;
	HIPOK(hipStreamGetPriority(hi, &p));
	CHECK(p == -1, "high stream priority %d", p);
	std::map<uint32_t, int> by_prio;
	for (auto &e : mirror_queues()) by_prio[e.priority]++;
	CHECK(by_prio[11] == 1, "%d queues at KFD priority 11", by_prio[11]);
	CHECK(by_prio[0] == 1, "%d queues at KFD priority 0", by_prio[0]);
	CHECK(by_prio[7] == 2, "%d queues at KFD priority 7 (normal + utility)", by_prio[7]);
	/* CU-masked streams get a dedicated queue */
	uint32_t mask[2] = {0xffffffffu, 0x0000ffffu};
	hipStream_t cu;
	HIPOK(hipExtStreamCreateWithCUMask(&cu, 2, mask));
	CHECK(sysfs_queues().size() == 5, "%zu queues after a CU-masked stream", sysfs_queues().size());
	HIPOK(hipStreamDestroy(cu));
	HIPOK(hipStreamDestroy(hi));
	HIPOK(hipStreamDestroy(lo));
	HIPOK(hipStreamDestroy(norm));
}

static void test_spin_timing()
{
	hipStream_t s;
	hipEvent_t a, b;
	HIPOK(hipStreamCreate(&s));
	HIPOK(hipEventCreate(&a));
	HIPOK(hipEventCreate(&b));
	HIPOK(hipEventRecord(a, s));
	for (int i = 0; i < 200; i++) {
		HIPOK(__hipPushCallConfiguration(dim3{8, 1, 1}, dim3{64, 1, 1}, 0, s));
		xsb_spin(2000000);
	}
	HIPOK(hipEventRecord(b, s));
	HIPOK(hipEventSynchronize(b));
	float ms = 0;
	HIPOK(hipEventElapsedTime(&ms, a, b));
	std::printf("200 x 2 ms spin kernels: %.3f ms (device model time)\n", ms);
	CHECK(ms > 380.0f && ms < 420.0f, "elapsed %.3f ms, expected 400 ms +- 5%%", ms);
	HIPOK(hipEventQuery(b));
	HIPOK(hipStreamQuery(s));
	HIPOK(hipStreamDestroy(s));
	HIPOK(hipEventDestroy(a));
	HIPOK(hipEventDestroy(b));
}

static void test_memory()
{
	const size_t n = 1 << 20;
	std::vector<unsigned char> h(n), back(n, 0);
	for (size_t i = 0; i < n; i++) h[i] = (unsigned char)(i * 7 + 3);
	void *d1, *d2, *hp;
	HIPOK(hipMalloc(&d1, n));
	HIPOK(hipMalloc(&d2, n));
	HIPOK(hipHostMalloc(&hp, n, 0));
	uint64_t c0 = ring_completions();
	HIPOK(hipMemcpy(d1, h.data(), n, hipMemcpyHostToDevice));
	HIPOK(hipMemcpyDtoD(d2, d1, n));
	HIPOK(hipMemcpyDtoH(back.data(), d2, n));
	CHECK(std::memcmp(back.data(), h.data(), n) == 0, "H2D/D2D/D2H round trip changed the data");
	CHECK(wait_completions(c0 + 3) >= c0 + 3, "copies did not complete packets on the device");
	HIPOK(hipMemset(d1, 0x5a, n));
	HIPOK(hipMemcpy(back.data(), d1, n, hipMemcpyDeviceToHost));
	CHECK(back[0] == 0x5a && back[n - 1] == 0x5a, "memset not applied");
	hipStream_t s;
	HIPOK(hipStreamCreate(&s));
	HIPOK(hipMemsetAsync(d2, 0x11, n / 2, s));
	HIPOK(hipMemcpyAsync(hp, d2, n, hipMemcpyDeviceToHost, s));
	HIPOK(hipStreamSynchronize(s));
	const unsigned char *hpc = (const unsigned char *)hp;
	CHECK(hpc[0] == 0x11 && hpc[n / 2 - 1] == 0x11 && hpc[n / 2] == h[n / 2], "async set+copy order");
	HIPOK(hipMemcpyHtoDAsync(d1, h.data(), n, s));
	HIPOK(hipMemcpyDtoHAsync(back.data(), d1, n, s));
	HIPOK(hipStreamSynchronize(s));
	CHECK(std::memcmp(back.data(), h.data(), n) == 0, "async round trip");
	/* re-entry: hipMemcpy synchronises through the exported hipStreamSynchronize */
	int before = g_sync_calls;
	HIPOK(hipMemcpy(back.data(), d1, 16, hipMemcpyDeviceToHost));
	CHECK(g_sync_calls >= before + 1, "hipMemcpy did not call hipStreamSynchronize through the PLT");
	HIPOK(hipStreamDestroy(s));
	HIPOK(hipFree(d1));
	HIPOK(hipFree(d2));
	HIPOK(hipHostFree(hp));
	CHECK(hipFree((void *)0x1234) == hipErrorInvalidValue, "hipFree of a foreign pointer");
	(void)hipGetLastError();
}

static void test_launch_flavours()
{
	hipStream_t s;
	HIPOK(hipStreamCreate(&s));
	uint64_t ns = 100000;
	void *args[] = {&ns};
	dim3 g{4, 1, 1}, b{64, 1, 1};
	hipModule_t mod;
	hipFunction_t fn, fn_other;
	HIPOK(hipModuleLoadData(&mod, "any image"));
	HIPOK(hipModuleGetFunction(&fn, mod, "xsb_spin_kernel"));
	HIPOK(hipModuleGetFunction(&fn_other, mod, "whatever"));
	hipEvent_t e0, e1;
	HIPOK(hipEventCreate(&e0));
	HIPOK(hipEventCreate(&e1));

	auto run = [&](const char *name, int reentries, auto &&launch, hipStream_t sync_on) {
		HIPOK(hipDeviceSynchronize());
		uint64_t c0 = ring_completions();
		int l0 = g_launch_calls;
		hipError_t e = launch();
		CHECK(e == hipSuccess, "%s: %s", name, hipGetErrorName(e));
		HIPOK(hipStreamSynchronize(sync_on));
		HIPOK(hipDeviceSynchronize());
		uint64_t c1 = wait_completions(c0 + 2);
		CHECK(c1 >= c0 + 2, "%s: ring completions %llu -> %llu", name, (unsigned long long)c0,
		      (unsigned long long)c1);
		CHECK(g_launch_calls - l0 >= reentries, "%s: %d calls of hipLaunchKernel, expected >= %d", name,
		      g_launch_calls - l0, reentries);
	};
	run("chevron", 1, [&] {
		hipError_t e = __hipPushCallConfiguration(g, b, 0, s);
		xsb_spin(ns);
		return e;
	}, s);
	run("hipLaunchKernel default kernel", 1, [&] { return hipLaunchKernel((const void *)&other_kernel, g, b, nullptr, 0, s); }, s);
	run("hipModuleLaunchKernel", 0, [&] { return hipModuleLaunchKernel(fn, 4, 1, 1, 64, 1, 1, 0, s, args, nullptr); }, s);
	run("hipModuleLaunchKernel extra", 0, [&] {
		uint64_t buf = ns;
		size_t sz = sizeof buf;
		void *extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &buf, HIP_LAUNCH_PARAM_BUFFER_SIZE, &sz, HIP_LAUNCH_PARAM_END};
		return hipModuleLaunchKernel(fn_other, 4, 1, 1, 64, 1, 1, 0, s, nullptr, extra);
	}, s);
	run("hipExtModuleLaunchKernel", 0, [&] {
		return hipExtModuleLaunchKernel(fn, 256, 1, 1, 64, 1, 1, 0, s, args, nullptr, e0, e1, 0);
	}, s);
	float ms = -1;
	HIPOK(hipEventElapsedTime(&ms, e0, e1));
	/* the events bracket the kernel; the upper bound only catches nonsense (host gaps between the
	 * start marker and the kernel count in, as on hardware) */
	CHECK(ms >= 0.099f && ms < 1000.0f, "ext launch start/stop events: %.4f ms for a 0.1 ms kernel", ms);
	run("hipLaunchCooperativeKernel", 1, [&] { return hipLaunchCooperativeKernel((const void *)&xsb_spin, g, b, args, 0, s); }, s);
	run("hipExtLaunchKernel", 1, [&] {
		return hipExtLaunchKernel((const void *)&xsb_spin, g, b, args, 0, s, e0, e1, 0);
	}, s);
	run("hipLaunchKernel_spt", 1, [&] { return hipLaunchKernel_spt((const void *)&xsb_spin, g, b, args, 0, nullptr); }, hipStreamPerThread);
	run("hipLaunchCooperativeKernel_spt", 1, [&] {
		return hipLaunchCooperativeKernel_spt((const void *)&xsb_spin, g, b, args, 0, nullptr);
	}, hipStreamPerThread);
	run("null stream", 1, [&] { return hipLaunchKernel((const void *)&xsb_spin, g, b, args, 0, nullptr); }, nullptr);

	hipGraph_t graph;
	hipGraphExec_t exec;
	HIPOK(hipGraphCreate(&graph, 0));
	hipKernelNodeParams p;
	std::memset(&p, 0, sizeof p);
	p.func = (void *)&xsb_spin;
	p.gridDim = g;
	p.blockDim = b;
	p.kernelParams = args;
	hipGraphNode_t n1, n2;
	HIPOK(hipGraphAddKernelNode(&n1, graph, nullptr, 0, &p));
	HIPOK(hipGraphAddKernelNode(&n2, graph, &n1, 1, &p));
	HIPOK(hipGraphInstantiate(&exec, graph, nullptr, nullptr, 0));
	run("hipGraphLaunch", 0, [&] { return hipGraphLaunch(exec, s); }, s);
	run("hipGraphLaunch_spt", 0, [&] { return hipGraphLaunch_spt(exec, nullptr); }, hipStreamPerThread);
	HIPOK(hipGraphExecDestroy(exec));
	HIPOK(hipGraphDestroy(graph));

	/* errors */
	CHECK(hipLaunchKernel((const void *)&g_failed, g, b, args, 0, s) == hipErrorInvalidDeviceFunction,
	      "launch of a non-kernel");
	CHECK(hipGetLastError() == hipErrorInvalidDeviceFunction, "last error");
	CHECK(hipGetLastError() == hipSuccess, "last error reset");
	CHECK(hipStreamSynchronize((hipStream_t)&g_failed) == hipErrorInvalidHandle, "foreign stream handle");
	(void)hipGetLastError();
	HIPOK(hipModuleUnload(mod));
	HIPOK(hipEventDestroy(e0));
	HIPOK(hipEventDestroy(e1));
	HIPOK(hipStreamDestroy(s));
}

static void test_proc_address()
{
	const char *names[] = {"hipLaunchKernel", "hipStreamSynchronize", "hipMemcpy", "hipGraphLaunch",
	                       "hipLaunchKernel_spt", "hipGetProcAddress"};
	for (const char *n : names) {
		void *p = nullptr;
		hipDriverProcAddressQueryResult st = HIP_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
		HIPOK(hipGetProcAddress(n, &p, 600, 0, &st));
		CHECK(p == dlsym(RTLD_DEFAULT, n), "%s: %p vs dlsym %p", n, p, dlsym(RTLD_DEFAULT, n));
		CHECK(st == HIP_GET_PROC_ADDRESS_SUCCESS, "%s status %d", n, (int)st);
	}
	void *p = nullptr;
	HIPOK(hipGetProcAddress("hipLaunchKernel", &p, 600, 0, nullptr));
	CHECK(p == (void *)&hipLaunchKernel, "hipGetProcAddress must return the interposer's wrapper");
	hipDriverProcAddressQueryResult st;
	CHECK(hipGetProcAddress("hipNoSuchFunction", &p, 600, 0, &st) == hipErrorNotFound && !p &&
	          st == HIP_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND,
	      "unknown symbol");
	/* versioned exports, as hipcc-built programs reference them */
	void *lib = dlopen("libamdhip64.so.6", RTLD_NOW | RTLD_NOLOAD);
	CHECK(lib != nullptr, "libamdhip64.so.6 not loaded");
	if (lib) {
		CHECK(dlvsym(lib, "hipLaunchKernel", "hip_4.2") != nullptr, "hipLaunchKernel@hip_4.2");
		CHECK(dlvsym(lib, "__hipRegisterFatBinary", "hip_4.2") != nullptr, "__hipRegisterFatBinary@hip_4.2");
		CHECK(dlvsym(lib, "__hipPushCallConfiguration", "hip_4.2") != nullptr, "__hipPushCallConfiguration@hip_4.2");
		CHECK(dlvsym(lib, "hipGraphLaunch", "hip_4.3") != nullptr, "hipGraphLaunch@hip_4.3");
		CHECK(dlvsym(lib, "hipLaunchKernel_spt", "hip_5.2") != nullptr, "hipLaunchKernel_spt@hip_5.2");
		CHECK(dlvsym(lib, "hipGetProcAddress", "hip_6.1") != nullptr, "hipGetProcAddress@hip_6.1");
		dlclose(lib);
	}
}

static void test_device()
{
	int n = 0, cus = 0, dev = -1;
	HIPOK(hipGetDeviceCount(&n));
	CHECK(n == 1, "%d devices", n);
	HIPOK(hipSetDevice(0));
	HIPOK(hipGetDevice(&dev));
	CHECK(dev == 0, "device %d", dev);
	CHECK(hipSetDevice(1) == hipErrorInvalidDevice, "hipSetDevice(1)");
	(void)hipGetLastError();
	HIPOK(hipDeviceGetAttribute(&cus, hipDeviceAttributeMultiprocessorCount, 0));
	CHECK(cus > 0 && (uint32_t)cus == shm()->num_cus, "CU count %d vs device %u", cus, shm()->num_cus);
	char name[128];
	HIPOK(hipDeviceGetName(name, sizeof name, 0));
	CHECK(std::strstr(name, "xsb-emu") != nullptr, "name %s", name);
	CHECK(std::strcmp(hipGetErrorName(hipErrorNotReady), "hipErrorNotReady") == 0, "error name");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::fprintf(stderr, "usage: %s queue_pool|priority|spin_timing|memory|launch|proc_address|device\n", argv[0]);
		return 2;
	}
	std::string t = argv[1];
	if (t == "queue_pool") test_queue_pool();
	else if (t == "priority") test_priority();
	else if (t == "spin_timing") test_spin_timing();
	else if (t == "memory") test_memory();
	else if (t == "launch") test_launch_flavours();
	else if (t == "proc_address") test_proc_address();
	else if (t == "device") test_device();
	else {
		std::fprintf(stderr, "unknown test %s\n", argv[1]);
		return 2;
	}
	if (!g_failed) std::printf("PASS %s\n", argv[1]);
	return g_failed;
}
