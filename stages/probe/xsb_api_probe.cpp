/*
 * xsb-api-probe - stage 1's HIP API coverage check. Each step checks an effect, not only a
 * return code: data round trips through device memory, kernels of every launch flavour take
 * device time (event elapsed time >= the spin kernel's duration), streams and events report
 * completion. One JSON line per check on stdout:
 *   {"check":"copy.h2d_d2h","ok":true,"detail":"..."}
 * then {"check":"done","launches":N} and it waits for a line on stdin (so the caller can
 * query the coordinator's registry while the process is still attached) before freeing
 * everything and exiting. Built by the stage runner: with hipcc where ROCm is installed, else
 * with g++ against the emulated libamdhip64 (as stages/workloads/xsb-workload).
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hip_decls.h"
#include "spin_kernel.h"

namespace {
int g_failed = 0;
long g_launches = 0;

std::string esc(const std::string &s)
{
	std::string o;
	for (char c : s) {
		if (c == '"' || c == '\\') o += '\\';
		o += (c == '\n') ? ' ' : c;
	}
	return o;
}

void report(const char *check, bool ok, const std::string &detail)
{
	if (!ok) g_failed++;
	std::printf("{\"check\":\"%s\",\"ok\":%s,\"detail\":\"%s\"}\n", check, ok ? "true" : "false", esc(detail).c_str());
	std::fflush(stdout);
}

std::string err(const char *what, hipError_t e)
{
	return std::string(what) + " returned " + std::to_string((int)e) + " (" + hipGetErrorString(e) + ")";
}

const uint64_t kSpinNs = 2000000; /* 2 ms: long enough to tell from launch overhead */

/* A kernel of this flavour between two events on s; its effect: >= 90 % of kSpinNs of device time. */
void launch_check(const char *name, hipStream_t s, hipError_t (*launch)(hipStream_t s, uint64_t ns), bool spt = false)
{
	hipEvent_t a, b;
	if (hipEventCreate(&a) != hipSuccess || hipEventCreate(&b) != hipSuccess) {
		report(name, false, "hipEventCreate failed");
		return;
	}
	/* events on the stream the kernel goes to: the per-thread stream for _spt */
	hipError_t e = spt ? hipEventRecord_spt(a, s) : hipEventRecord(a, s);
	if (e == hipSuccess) e = launch(s, kSpinNs);
	if (e == hipSuccess) g_launches++;
	if (e == hipSuccess) e = spt ? hipEventRecord_spt(b, s) : hipEventRecord(b, s);
	if (e == hipSuccess) e = hipEventSynchronize(b);
	float ms = 0;
	if (e == hipSuccess) e = hipEventElapsedTime(&ms, a, b);
	if (e != hipSuccess) report(name, false, err("launch/record/sync", e));
	else report(name, ms >= 0.9 * kSpinNs / 1e6, "device time " + std::to_string(ms) + " ms for a 2 ms spin kernel");
	(void)hipEventDestroy(a);
	(void)hipEventDestroy(b);
}

dim3 G{1, 1, 1}, B{64, 1, 1};
hipFunction_t g_fn;

hipError_t l_chevron(hipStream_t s, uint64_t ns) { return spin_launch_chevron(G, B, s, ns); }
hipError_t l_api(hipStream_t s, uint64_t ns)
{
	void *args[] = {&ns};
	return hipLaunchKernel(spin_handle(), G, B, args, 0, s);
}
hipError_t l_null(hipStream_t, uint64_t ns)
{
	void *args[] = {&ns};
	return hipLaunchKernel(spin_handle(), G, B, args, 0, nullptr);
}
hipError_t l_spt(hipStream_t, uint64_t ns)
{
	void *args[] = {&ns};
	return hipLaunchKernel_spt(spin_handle(), G, B, args, 0, nullptr);
}
hipError_t l_module(hipStream_t s, uint64_t ns)
{
	void *args[] = {&ns};
	return hipModuleLaunchKernel(g_fn, 1, 1, 1, 64, 1, 1, 0, s, args, nullptr);
}
hipError_t l_ext(hipStream_t s, uint64_t ns)
{
	void *args[] = {&ns};
	return hipExtModuleLaunchKernel(g_fn, 64, 1, 1, 64, 1, 1, 0, s, args, nullptr, nullptr, nullptr, 0);
}
hipError_t l_coop(hipStream_t s, uint64_t ns)
{
	void *args[] = {&ns};
	return hipLaunchCooperativeKernel(spin_handle(), G, B, args, 0, s);
}
hipError_t l_graph(hipStream_t s, uint64_t ns)
{
	static uint64_t gns;
	gns = ns;
	void *args[] = {&gns};
	hipKernelNodeParams p;
	std::memset(&p, 0, sizeof p);
	p.blockDim = B;
	p.gridDim = G;
	p.func = const_cast<void *>(spin_handle());
	p.kernelParams = args;
	hipGraph_t g;
	hipGraphNode_t n;
	hipGraphExec_t x;
	hipError_t e = hipGraphCreate(&g, 0);
	if (e == hipSuccess) e = hipGraphAddKernelNode(&n, g, nullptr, 0, &p);
	if (e == hipSuccess) e = hipGraphInstantiate(&x, g, nullptr, nullptr, 0);
	if (e == hipSuccess) e = hipGraphLaunch(x, s);
	return e;
}
} // namespace

int main()
{
	int n = 0, cus = 0;
	char name[256] = {0};
	hipError_t e = hipGetDeviceCount(&n);
	if (e == hipSuccess) e = hipDeviceGetAttribute(&cus, hipDeviceAttributeMultiprocessorCount, 0);
	if (e == hipSuccess) e = hipDeviceGetName(name, sizeof name, 0);
	report("device.query", e == hipSuccess && n >= 1 && cus > 0 && name[0] != 0,
	       e != hipSuccess ? err("device query", e)
	                       : std::to_string(n) + " device(s), " + name + ", " + std::to_string(cus) + " CUs");
	if (e != hipSuccess || n < 1) return 2;
	if ((e = spin_setup()) != hipSuccess) report("kernel.setup", false, err("spin_setup", e));

	const size_t N = 1 << 20;
	std::vector<unsigned char> src(N), back(N, 0);
	for (size_t i = 0; i < N; i++) src[i] = (unsigned char)(i * 131u + 7u);
	void *d1 = nullptr, *d2 = nullptr;
	e = hipMalloc(&d1, N);
	if (e == hipSuccess) e = hipMalloc(&d2, N);
	report("memory.malloc", e == hipSuccess && d1 && d2 && d1 != d2, e != hipSuccess ? err("hipMalloc", e) : "two distinct 1 MiB device buffers");

	e = hipMemcpy(d1, src.data(), N, hipMemcpyHostToDevice);
	if (e == hipSuccess) e = hipMemcpy(d2, d1, N, hipMemcpyDeviceToDevice);
	if (e == hipSuccess) e = hipMemcpy(back.data(), d2, N, hipMemcpyDeviceToHost);
	report("copy.h2d_d2d_d2h", e == hipSuccess && back == src,
	       e != hipSuccess ? err("hipMemcpy", e) : back == src ? "1 MiB pattern came back intact" : "data differs after the round trip");

	e = hipMemset(d1, 0xab, N);
	std::fill(back.begin(), back.end(), 0);
	if (e == hipSuccess) e = hipMemcpy(back.data(), d1, N, hipMemcpyDeviceToHost);
	bool all_ab = true;
	for (unsigned char c : back) all_ab = all_ab && c == 0xab;
	report("copy.memset", e == hipSuccess && all_ab, e != hipSuccess ? err("hipMemset", e) : all_ab ? "1 MiB set to 0xab" : "memset had no effect");

	int least = 0, greatest = 0, prio = 99;
	hipStream_t s = nullptr;
	e = hipDeviceGetStreamPriorityRange(&least, &greatest);
	if (e == hipSuccess) e = hipStreamCreateWithPriority(&s, 0, greatest);
	if (e == hipSuccess) e = hipStreamGetPriority(s, &prio);
	report("stream.create", e == hipSuccess && s != nullptr && prio == greatest,
	       e != hipSuccess ? err("stream create/priority", e) : "stream at priority " + std::to_string(prio) + " (range " + std::to_string(least) + ".." + std::to_string(greatest) + ")");

	std::fill(back.begin(), back.end(), 0);
	e = hipMemcpyAsync(d2, src.data(), N, hipMemcpyHostToDevice, s);
	if (e == hipSuccess) e = hipMemsetAsync(d1, 0, 16, s);
	if (e == hipSuccess) e = hipMemcpyAsync(back.data(), d2, N, hipMemcpyDeviceToHost, s);
	if (e == hipSuccess) e = hipStreamSynchronize(s);
	report("copy.async", e == hipSuccess && back == src, e != hipSuccess ? err("async copies", e) : back == src ? "async round trip on a stream intact" : "async data differs");

	if ((e = spin_function(&g_fn)) != hipSuccess) report("kernel.module_load", false, err("module load", e));
	launch_check("launch.chevron", s, l_chevron);
	launch_check("launch.hipLaunchKernel", s, l_api);
	launch_check("launch.null_stream", nullptr, l_null);
	launch_check("launch.spt", nullptr, l_spt, true);
	launch_check("launch.module", s, l_module);
	launch_check("launch.ext_module", s, l_ext);
	launch_check("launch.cooperative", s, l_coop);
	launch_check("launch.graph", s, l_graph);

	hipEvent_t ev;
	e = hipEventCreate(&ev);
	uint64_t ns = 20000000; /* 20 ms: still running when queried */
	void *args[] = {&ns};
	if (e == hipSuccess) e = hipLaunchKernel(spin_handle(), G, B, args, 0, s);
	if (e == hipSuccess) g_launches++;
	if (e == hipSuccess) e = hipEventRecord(ev, s);
	hipError_t busy = hipStreamQuery(s), ebusy = hipEventQuery(ev);
	hipError_t sync = e == hipSuccess ? hipEventSynchronize(ev) : e;
	hipError_t idle = hipStreamQuery(s), eidle = hipEventQuery(ev);
	report("stream_event.query", e == hipSuccess && busy != hipSuccess && ebusy != hipSuccess && sync == hipSuccess && idle == hipSuccess && eidle == hipSuccess,
	       "while a 20 ms kernel runs: stream " + std::to_string((int)busy) + ", event " + std::to_string((int)ebusy) +
	           "; after sync: stream " + std::to_string((int)idle) + ", event " + std::to_string((int)eidle));
	e = hipDeviceSynchronize();
	report("device.synchronize", e == hipSuccess, e == hipSuccess ? "device idle" : err("hipDeviceSynchronize", e));

	std::printf("{\"check\":\"done\",\"launches\":%ld,\"failed\":%d}\n", g_launches, g_failed);
	std::fflush(stdout);
	char line[64];
	if (!std::fgets(line, sizeof line, stdin)) { /* the caller closed stdin: exit as asked */
	}
	e = hipFree(d1);
	hipError_t e2 = hipFree(d2);
	hipError_t e3 = hipEventDestroy(ev);
	hipError_t e4 = hipStreamDestroy(s);
	report("memory.free", e == hipSuccess && e2 == hipSuccess && e3 == hipSuccess && e4 == hipSuccess,
	       e != hipSuccess ? err("hipFree", e) : "buffers, event and stream released");
	return g_failed ? 1 : 0;
}
