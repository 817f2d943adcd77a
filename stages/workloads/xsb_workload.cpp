/*
 * xsb-workload - spin-kernel workload for the stages (HIP API only).
 *
 *   xsb-workload --kernel-us N --count N [--streams S] [--period-ms P] [--requests R]
 *                [--kernels-per-request K] [--cus C] [--priority low|normal|high]
 *                [--launch api|module|ext|cooperative|graph|spt|null] [--json FILE]
 *
 * Without a period: count kernels round-robin over S streams, then synchronise.
 * With a period: R requests every P ms (absolute schedule); a request is K kernels on one stream
 * followed by an event that the workload waits for; its latency is issue -> completion.
 */
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hip_decls.h"
#include "spin_kernel.h"

namespace {

struct Options {
	long kernel_us = -1;
	long count = -1;
	long streams = 1;
	double period_ms = 0;
	long requests = -1;
	long kernels_per_request = 1;
	long cus = 0;
	std::string priority = "normal";
	std::string launch = "api";
	std::string json;
};

[[noreturn]] void usage_error(const char *flag, const char *why)
{
	std::fprintf(stderr, "xsb-workload: %s: %s (see --help)\n", flag, why);
	std::exit(2);
}

long parse_long(const char *flag, const char *v, long min)
{
	char *end;
	errno = 0;
	long x = std::strtol(v, &end, 10);
	if (errno || end == v || *end || x < min) {
		char why[128];
		std::snprintf(why, sizeof why, "expected an integer >= %ld, got '%s'", min, v);
		usage_error(flag, why);
	}
	return x;
}

Options parse(int argc, char **argv)
{
	Options o;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		if (a == "--help" || a == "-h") {
			std::printf("usage: xsb-workload --kernel-us N --count N [--streams S] [--period-ms P] "
			            "[--requests R] [--kernels-per-request K] [--cus C] [--priority low|normal|high] "
			            "[--launch api|module|ext|cooperative|graph|spt|null] [--json FILE]\n");
			std::exit(0);
		}
		if (a.rfind("--", 0) != 0) usage_error(argv[i], "unexpected argument");
		if (i + 1 >= argc) usage_error(argv[i], "missing value");
		const char *v = argv[++i];
		if (a == "--kernel-us") o.kernel_us = parse_long("--kernel-us", v, 0);
		else if (a == "--count") o.count = parse_long("--count", v, 1);
		else if (a == "--streams") o.streams = parse_long("--streams", v, 1);
		else if (a == "--requests") o.requests = parse_long("--requests", v, 1);
		else if (a == "--kernels-per-request") o.kernels_per_request = parse_long("--kernels-per-request", v, 1);
		else if (a == "--cus") o.cus = parse_long("--cus", v, 1);
		else if (a == "--period-ms") {
			char *end;
			o.period_ms = std::strtod(v, &end);
			if (end == v || *end || !(o.period_ms > 0) || !std::isfinite(o.period_ms))
				usage_error("--period-ms", "expected a positive number of milliseconds");
		} else if (a == "--priority") {
			o.priority = v;
			if (o.priority != "low" && o.priority != "normal" && o.priority != "high")
				usage_error("--priority", "expected low, normal or high");
		} else if (a == "--launch") {
			o.launch = v;
			static const char *ok[] = {"api", "module", "ext", "cooperative", "graph", "spt", "null"};
			if (std::none_of(std::begin(ok), std::end(ok), [&](const char *k) { return o.launch == k; }))
				usage_error("--launch", "expected api, module, ext, cooperative, graph, spt or null");
		} else if (a == "--json") {
			o.json = v;
		} else {
			usage_error(argv[i - 1], "unknown flag");
		}
	}
	if (o.kernel_us < 0) usage_error("--kernel-us", "required");
	if (o.count < 0) usage_error("--count", "required");
	if (o.launch == "spt" || o.launch == "null") o.streams = 1; /* one implicit stream */
	return o;
}

[[noreturn]] void die(const char *what, hipError_t e)
{
	std::fprintf(stderr, "xsb-workload: %s failed: %s (%d)\n", what, hipGetErrorString(e), (int)e);
	std::exit(1);
}

double now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Issues kernels of one launch flavour. */
struct Launcher {
	const Options &o;
	dim3 grid, block;
	uint64_t ns;
	hipFunction_t fn = nullptr;
	hipGraphExec_t exec = nullptr;
	hipGraph_t graph = nullptr;
	long graph_nodes = 0;

	Launcher(const Options &opt, long cus) : o(opt), grid{(uint32_t)cus, 1, 1}, block{64, 1, 1}
	{
		ns = (uint64_t)o.kernel_us * 1000u;
		if (o.launch == "module" || o.launch == "ext") {
			hipError_t e = spin_function(&fn);
			if (e != hipSuccess) die("loading the spin kernel as a module function", e);
		}
		if (o.launch == "graph") {
			/* one node per kernel of a request (one without a period) */
			graph_nodes = o.period_ms > 0 ? o.kernels_per_request : 1;
			hipError_t e = hipGraphCreate(&graph, 0);
			if (e != hipSuccess) die("hipGraphCreate", e);
			void *args[] = {&ns};
			hipKernelNodeParams p;
			std::memset(&p, 0, sizeof p);
			p.func = const_cast<void *>(spin_handle());
			p.gridDim = grid;
			p.blockDim = block;
			p.kernelParams = args;
			for (long i = 0; i < graph_nodes; i++) {
				hipGraphNode_t n;
				e = hipGraphAddKernelNode(&n, graph, nullptr, 0, &p);
				if (e != hipSuccess) die("hipGraphAddKernelNode", e);
			}
			e = hipGraphInstantiate(&exec, graph, nullptr, nullptr, 0);
			if (e != hipSuccess) die("hipGraphInstantiate", e);
		}
	}
	~Launcher()
	{
		if (exec) (void)hipGraphExecDestroy(exec);
		if (graph) (void)hipGraphDestroy(graph);
	}

	/* Launches n kernels on s; returns how many were accepted. */
	long launch(hipStream_t s, long n)
	{
		if (o.launch == "graph") {
			long done = 0;
			while (done < n) {
				hipError_t e = hipGraphLaunch(exec, s);
				if (e != hipSuccess) die("hipGraphLaunch", e);
				done += graph_nodes;
			}
			return done;
		}
		long ok = 0;
		for (long i = 0; i < n; i++) {
			uint64_t arg = ns;
			void *args[] = {&arg};
			hipError_t e;
			if (o.launch == "api") e = spin_launch_chevron(grid, block, s, ns);
			else if (o.launch == "module")
				e = hipModuleLaunchKernel(fn, grid.x, 1, 1, block.x, 1, 1, 0, s, args, nullptr);
			else if (o.launch == "ext")
				e = hipExtModuleLaunchKernel(fn, grid.x * block.x, 1, 1, block.x, 1, 1, 0, s, args, nullptr,
				                             nullptr, nullptr, 0);
			else if (o.launch == "cooperative")
				e = hipLaunchCooperativeKernel(spin_handle(), grid, block, args, 0, s);
			else if (o.launch == "spt")
				e = hipLaunchKernel_spt(spin_handle(), grid, block, args, 0, s);
			else
				e = hipLaunchKernel(spin_handle(), grid, block, args, 0, s);
			if (e != hipSuccess) die("kernel launch", e);
			ok++;
		}
		return ok;
	}

	hipError_t record(hipEvent_t e, hipStream_t s)
	{
		return o.launch == "spt" ? hipEventRecord_spt(e, s) : hipEventRecord(e, s);
	}
	hipError_t sync(hipStream_t s)
	{
		return o.launch == "spt" ? hipStreamSynchronize_spt(s) : hipStreamSynchronize(s);
	}
};

double percentile(std::vector<double> v, double p)
{
	if (v.empty()) return 0;
	std::sort(v.begin(), v.end());
	double rank = p / 100.0 * (double)(v.size() - 1);
	size_t lo = (size_t)rank;
	size_t hi = std::min(lo + 1, v.size() - 1);
	return v[lo] + (v[hi] - v[lo]) * (rank - (double)lo);
}

void add_ms(timespec *t, double ms)
{
	long long ns = t->tv_nsec + (long long)(ms * 1e6);
	t->tv_sec += ns / 1000000000LL;
	t->tv_nsec = ns % 1000000000LL;
}

} // namespace

int main(int argc, char **argv)
{
	Options o = parse(argc, argv);

	int ndev = 0;
	hipError_t e = hipGetDeviceCount(&ndev);
	if (e != hipSuccess || ndev < 1) die("hipGetDeviceCount (no usable GPU)", e != hipSuccess ? e : hipErrorNoDevice);
	int cu_count = 0;
	e = hipDeviceGetAttribute(&cu_count, hipDeviceAttributeMultiprocessorCount, 0);
	if (e != hipSuccess) die("hipDeviceGetAttribute(MultiprocessorCount)", e);
	char devname[256] = {0};
	(void)hipDeviceGetName(devname, sizeof devname, 0);
	const bool emulated = dlsym(RTLD_DEFAULT, "__hipXsbEmuIsEmulated") != nullptr;
	long cus = o.cus > 0 ? o.cus : cu_count;
	e = spin_setup();
	if (e != hipSuccess) die("spin kernel setup", e);

	/* HIP stream priorities: 1 low, 0 normal, -1 high */
	int prio = o.priority == "low" ? 1 : o.priority == "high" ? -1 : 0;
	std::vector<hipStream_t> streams;
	if (o.launch == "spt" || o.launch == "null") {
		streams.push_back(nullptr); /* the _spt entry points map it to the per-thread stream */
	} else {
		for (long i = 0; i < o.streams; i++) {
			hipStream_t s;
			e = hipStreamCreateWithPriority(&s, 0, prio);
			if (e != hipSuccess) die("hipStreamCreateWithPriority", e);
			streams.push_back(s);
		}
	}
	Launcher L(o, cus);

	long expected = 0, completed = 0;
	double elapsed_ms = 0, device_ms = -1;
	std::vector<double> lat;
	hipEvent_t first;
	if ((e = hipEventCreate(&first)) != hipSuccess) die("hipEventCreate", e);

	if (o.period_ms <= 0) {
		expected = o.count;
		std::vector<long> issued(streams.size(), 0);
		std::vector<hipEvent_t> last(streams.size());
		for (auto &ev : last)
			if ((e = hipEventCreate(&ev)) != hipSuccess) die("hipEventCreate", e);
		double t0 = now_ms();
		if ((e = L.record(first, streams[0])) != hipSuccess) die("hipEventRecord", e);
		for (long i = 0; i < o.count; i++) issued[i % streams.size()] += L.launch(streams[i % streams.size()], 1);
		for (size_t i = 0; i < streams.size(); i++)
			if ((e = L.record(last[i], streams[i])) != hipSuccess) die("hipEventRecord", e);
		for (size_t i = 0; i < streams.size(); i++) {
			if (L.sync(streams[i]) == hipSuccess && hipEventSynchronize(last[i]) == hipSuccess)
				completed += issued[i];
		}
		elapsed_ms = now_ms() - t0;
		for (size_t i = 0; i < streams.size(); i++) {
			float ms;
			if (issued[i] && hipEventElapsedTime(&ms, first, last[i]) == hipSuccess) device_ms = std::max(device_ms, (double)ms);
			(void)hipEventDestroy(last[i]);
		}
	} else {
		long k = o.kernels_per_request;
		long reqs = o.requests > 0 ? o.requests : std::max(1L, o.count / k);
		expected = reqs * k;
		hipEvent_t done;
		if ((e = hipEventCreate(&done)) != hipSuccess) die("hipEventCreate", e);
		struct timespec next;
		clock_gettime(CLOCK_MONOTONIC, &next);
		double t0 = now_ms();
		for (long r = 0; r < reqs; r++) {
			/* the workload's own pacing: an absolute schedule, late requests go at once */
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR) {
			}
			add_ms(&next, o.period_ms);
			hipStream_t s = streams[(size_t)r % streams.size()];
			double issue = now_ms();
			if (r == 0 && (e = L.record(first, s)) != hipSuccess) die("hipEventRecord", e);
			long n = L.launch(s, k);
			if ((e = L.record(done, s)) != hipSuccess) die("hipEventRecord", e);
			if (hipEventSynchronize(done) == hipSuccess) {
				completed += n;
				lat.push_back(now_ms() - issue);
			}
		}
		elapsed_ms = now_ms() - t0;
		float ms;
		if (hipEventElapsedTime(&ms, first, done) == hipSuccess) device_ms = ms;
		(void)hipEventDestroy(done);
	}
	(void)hipEventDestroy(first);
	for (hipStream_t s : streams)
		if (s) (void)hipStreamDestroy(s);

	std::string j = "{";
	char buf[512];
	std::snprintf(buf, sizeof buf,
	              "\"backend\":\"%s\",\"device\":\"%s\",\"launch\":\"%s\",\"priority\":\"%s\","
	              "\"kernels_expected\":%ld,\"kernels_completed\":%ld,\"elapsed_ms\":%.3f,",
	              emulated ? "emu" : "kfd", devname, o.launch.c_str(), o.priority.c_str(), expected, completed,
	              elapsed_ms);
	j += buf;
	if (device_ms >= 0) std::snprintf(buf, sizeof buf, "\"device_elapsed_ms\":%.3f,", device_ms);
	else std::snprintf(buf, sizeof buf, "\"device_elapsed_ms\":null,");
	j += buf;
	std::snprintf(buf, sizeof buf, "\"streams\":%zu,\"kernel_us\":%ld,\"count\":%ld,\"cus\":%ld", streams.size(),
	              o.kernel_us, o.count, cus);
	j += buf;
	if (o.period_ms > 0) {
		std::snprintf(buf, sizeof buf,
		              ",\"period_ms\":%g,\"requests\":%zu,\"kernels_per_request\":%ld,"
		              "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"latency_ms_raw\":[",
		              o.period_ms, lat.size(), o.kernels_per_request, percentile(lat, 50), percentile(lat, 99),
		              lat.empty() ? 0.0 : *std::max_element(lat.begin(), lat.end()));
		j += buf;
		for (size_t i = 0; i < lat.size(); i++) {
			std::snprintf(buf, sizeof buf, "%s%.3f", i ? "," : "", lat[i]);
			j += buf;
		}
		j += "]";
	}
	j += "}\n";

	if (!o.json.empty() && o.json != "-") {
		FILE *f = std::fopen(o.json.c_str(), "w");
		if (!f || std::fputs(j.c_str(), f) < 0 || std::fclose(f) != 0) {
			std::fprintf(stderr, "xsb-workload: --json: cannot write %s: %s\n", o.json.c_str(), std::strerror(errno));
			return 1;
		}
		std::printf("xsb-workload: %s backend, %ld/%ld kernels in %.1f ms (device %.1f ms)\n", emulated ? "emu" : "kfd",
		            completed, expected, elapsed_ms, device_ms);
	} else {
		std::fputs(j.c_str(), stdout);
	}
	return completed == expected ? 0 : 1;
}
