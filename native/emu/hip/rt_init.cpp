/*
 * rt_init.cpp - runtime initialisation (first HIP call), KFD setup as ROCr does it, teardown at
 * exit, device queries.
 */
#include "rt.h"

#include <dirent.h>
#include <fcntl.h>
#include <link.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace xsbhip {

Runtime &g_rt = *new Runtime;

namespace {

enum InitState { UNINIT = 0, READY = 1, FAILED = 2, TORN_DOWN = 3 };
std::atomic<int> g_state{UNINIT};
hipError_t g_init_error = hipSuccess;
std::mutex g_init_mu;
thread_local bool tl_initialising = false;
thread_local hipError_t tl_last_error = hipSuccess;

const char kHint[] = "run `eval \"$(xsched-bridge emu env)\"` so programs use the emulated /dev/kfd";

void fail_init(hipError_t e, const char *what, int err)
{
	std::fprintf(stderr, "libamdhip64 (xsb emulator): %s: %s; %s\n", what, err ? std::strerror(err) : "failed",
	             kHint);
	g_init_error = e;
	g_state.store(FAILED, std::memory_order_release);
}

bool read_file(const std::string &path, std::string *out)
{
	FILE *f = std::fopen(path.c_str(), "re");
	if (!f) return false;
	char buf[4096];
	size_t n;
	out->clear();
	while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
	std::fclose(f);
	return true;
}

uint64_t prop_value(const std::string &props, const char *key, bool *found)
{
	size_t klen = std::strlen(key), pos = 0;
	while (pos < props.size()) {
		size_t eol = props.find('\n', pos);
		if (eol == std::string::npos) eol = props.size();
		if (props.compare(pos, klen, key) == 0 && pos + klen < eol && props[pos + klen] == ' ') {
			*found = true;
			return std::strtoull(props.c_str() + pos + klen + 1, nullptr, 0);
		}
		pos = eol + 1;
	}
	return 0;
}

/* The first GPU node of $XSB_SYSFS_ROOT/class/kfd/kfd/topology/nodes, as ROCr's thunk reads it. */
bool read_topology(std::string *why)
{
	const char *root = std::getenv("XSB_SYSFS_ROOT");
	std::string base = root && *root ? root : std::string(xsb_emu_dir()) + "/sysfs";
	std::string nodes = base + "/class/kfd/kfd/topology/nodes";
	DIR *d = opendir(nodes.c_str());
	if (!d) {
		*why = "cannot open " + nodes;
		return false;
	}
	long best = -1;
	struct dirent *de;
	while ((de = readdir(d)) != nullptr) {
		char *end;
		long n = std::strtol(de->d_name, &end, 10);
		if (*end || end == de->d_name) continue;
		std::string v;
		if (!read_file(nodes + "/" + de->d_name + "/gpu_id", &v)) continue;
		if (std::strtoul(v.c_str(), nullptr, 10) == 0) continue; /* CPU node */
		if (best < 0 || n < best) best = n;
	}
	closedir(d);
	if (best < 0) {
		*why = "no GPU node under " + nodes;
		return false;
	}
	std::string node = nodes + "/" + std::to_string(best), v, props;
	read_file(node + "/gpu_id", &v);
	g_rt.gpu_id = (uint32_t)std::strtoul(v.c_str(), nullptr, 10);
	if (!read_file(node + "/properties", &props)) {
		*why = "cannot read " + node + "/properties";
		return false;
	}
	bool f1 = false, f2 = false, f3 = false;
	uint64_t simd = prop_value(props, "simd_count", &f1);
	uint64_t per_cu = prop_value(props, "simd_per_cu", &f2);
	g_rt.capability = (uint32_t)prop_value(props, "capability", &f3);
	bool fclk = false;
	uint64_t clk = prop_value(props, "max_engine_clk_fcompute", &fclk);
	if (fclk && clk) g_rt.gpu_clock_mhz = (uint32_t)clk;
	if (!f1 || !f2 || per_cu == 0 || simd == 0) {
		*why = node + "/properties lacks simd_count/simd_per_cu";
		return false;
	}
	g_rt.num_cus = (uint32_t)(simd / per_cu);
	return true;
}

void teardown()
{
	if (g_state.load() != READY || getpid() != g_rt.init_pid) return;
	std::vector<HwQueue *> all;
	{
		std::lock_guard<std::mutex> lk(g_rt.mu);
		for (auto &p : g_rt.pools) {
			all.insert(all.end(), p.begin(), p.end());
			p.clear();
		}
		all.insert(all.end(), g_rt.dedicated.begin(), g_rt.dedicated.end());
		g_rt.dedicated.clear();
		if (g_rt.utility) all.push_back(g_rt.utility);
		g_rt.utility = nullptr;
		g_rt.null_stream.q = nullptr;
		for (Stream *s : g_rt.streams) s->q = nullptr;
	}
	/* hsa_shut_down order: queues first, then runtime disable (which blocks while a debugger
	 * session is enabled and has not sent the runtime event, as on ROCr). */
	for (HwQueue *q : all) destroy_hw_queue(q);
	if (g_rt.runtime_enabled) {
		struct xsb_kfd_runtime_enable_args a;
		std::memset(&a, 0, sizeof a);
		if (ioctl(g_rt.kfd_fd, XSB_KFD_IOC_RUNTIME_ENABLE, &a) != 0)
			std::fprintf(stderr, "libamdhip64 (xsb emulator): runtime disable failed: %s\n",
			             std::strerror(errno));
		g_rt.runtime_enabled = false;
	}
	close(g_rt.kfd_fd);
	g_rt.kfd_fd = -1;
	g_state.store(TORN_DOWN);
}

void do_init()
{
	int rc = xsb_emu_attach(&g_rt.shm);
	if (rc < 0) return fail_init(hipErrorNoDevice, "cannot attach to the emulated device", -rc);

	int fd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
	if (fd < 0) return fail_init(hipErrorNoDevice, "open(/dev/kfd) failed", errno);
	if (!is_emulated_fd(fd)) {
		close(fd);
		return fail_init(hipErrorNoDevice,
		                 "/dev/kfd is the real driver but this libamdhip64 is the emulator (preload "
		                 "libxsb_emu_kfd.so)",
		                 0);
	}
	g_rt.kfd_fd = fd;

	struct xsb_kfd_get_version_args ver = {0, 0};
	if (ioctl(fd, XSB_KFD_IOC_GET_VERSION, &ver) != 0) {
		int e = errno;
		close(fd);
		return fail_init(hipErrorNoDevice, "AMDKFD_IOC_GET_VERSION failed", e);
	}
	g_rt.kfd_major = ver.major_version;
	g_rt.kfd_minor = ver.minor_version;
	if (ver.major_version != 1) {
		close(fd);
		return fail_init(hipErrorNoDevice, "unsupported KFD major version", EPROTO);
	}

	std::string why;
	if (!read_topology(&why)) {
		close(fd);
		std::fprintf(stderr, "libamdhip64 (xsb emulator): topology: %s\n", why.c_str());
		return fail_init(hipErrorNoDevice, "cannot read the KFD topology", ENOENT);
	}

	struct xsb_emu_profile prof;
	char perr[256] = {0};
	if (xsb_emu_profile_load(nullptr, &prof, perr, sizeof perr) == 0) {
		if (prof.copy_bytes_per_s > 0) g_rt.copy_bytes_per_s = prof.copy_bytes_per_s;
		if (prof.gpu_clock_mhz) g_rt.gpu_clock_mhz = prof.gpu_clock_mhz;
	}
	std::snprintf(g_rt.profile_name, sizeof g_rt.profile_name, "%.*s", (int)sizeof g_rt.shm->profile_name - 1,
	              g_rt.shm->profile_name);

	if (const char *m = std::getenv("GPU_MAX_HW_QUEUES")) {
		long v = std::strtol(m, nullptr, 10);
		if (v > 0 && v < 1024) g_rt.max_hw_queues = (unsigned)v;
	}

	/* ROCr >= 5.7 (hsaKmtRuntimeEnable at hsa_init): only when the GPU has firmware debug support
	 * and the driver has the debug API, and before any queue exists. */
	if ((g_rt.capability & XSB_KFD_CAP_TRAP_DEBUG_FIRMWARE_SUPPORTED) &&
	    ver.minor_version >= XSB_KFD_DEBUG_MIN_MINOR) {
		struct xsb_kfd_runtime_enable_args a;
		std::memset(&a, 0, sizeof a);
		a.r_debug = (uint64_t)(uintptr_t)&_r_debug;
		a.mode_mask = XSB_KFD_RUNTIME_ENABLE_MODE_ENABLE_MASK;
		if (ioctl(fd, XSB_KFD_IOC_RUNTIME_ENABLE, &a) == 0)
			g_rt.runtime_enabled = true;
		else
			std::fprintf(stderr, "libamdhip64 (xsb emulator): runtime enable failed: %s\n", std::strerror(errno));
	}

	int err = 0;
	g_rt.utility = create_hw_queue(PRIO_NORMAL, kUtilityRingBytes, nullptr, 0, &err);
	if (!g_rt.utility) {
		if (g_rt.runtime_enabled) {
			struct xsb_kfd_runtime_enable_args a;
			std::memset(&a, 0, sizeof a);
			ioctl(fd, XSB_KFD_IOC_RUNTIME_ENABLE, &a);
			g_rt.runtime_enabled = false;
		}
		close(fd);
		g_rt.kfd_fd = -1;
		return fail_init(hipErrorNoDevice, "cannot create the runtime's utility queue", err);
	}
	g_rt.utility->utility = true;
	g_rt.null_stream.is_null = true;
	g_rt.init_pid = getpid();
	std::atexit(teardown);
	g_state.store(READY, std::memory_order_release);
}

} // namespace

bool is_emulated_fd(int fd)
{
	/* The interposer backs /dev/kfd with a socket to the device; the real driver is a char device. */
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

hipError_t ensure_init()
{
	int s = g_state.load(std::memory_order_acquire);
	if (s == READY) return hipSuccess;
	if (s == FAILED) return g_init_error;
	if (s == TORN_DOWN) return hipErrorDeinitialized;
	if (tl_initialising) return hipErrorNotInitialized; /* re-entered from an ioctl hook */
	std::lock_guard<std::mutex> lk(g_init_mu);
	s = g_state.load();
	if (s == UNINIT) {
		tl_initialising = true;
		do_init();
		tl_initialising = false;
	}
	return ensure_init();
}

hipError_t set_error(hipError_t e)
{
	if (e != hipSuccess && e != hipErrorNotReady) tl_last_error = e;
	return e;
}

hipError_t take_last_error(bool reset)
{
	hipError_t e = tl_last_error;
	if (reset) tl_last_error = hipSuccess;
	return e;
}

} // namespace xsbhip

using namespace xsbhip;

extern "C" {

XSB_HIP_EXPORT int __hipXsbEmuIsEmulated(void) { return 1; }

hipError_t hipInit(unsigned int flags)
{
	if (flags != 0) XSB_RET(hipErrorInvalidValue);
	XSB_INIT_OR_RET();
	return hipSuccess;
}

hipError_t hipDriverGetVersion(int *v)
{
	if (!v) XSB_RET(hipErrorInvalidValue);
	*v = 60241134; /* HIP_VERSION encoding of 6.2.41134 */
	return hipSuccess;
}

hipError_t hipRuntimeGetVersion(int *v) { return hipDriverGetVersion(v); }

hipError_t hipGetDeviceCount(int *count)
{
	if (!count) XSB_RET(hipErrorInvalidValue);
	*count = 0;
	XSB_INIT_OR_RET();
	*count = 1;
	return hipSuccess;
}

hipError_t hipSetDevice(int device)
{
	XSB_INIT_OR_RET();
	if (device != 0) XSB_RET(hipErrorInvalidDevice);
	return hipSuccess;
}

hipError_t hipGetDevice(int *device)
{
	if (!device) XSB_RET(hipErrorInvalidValue);
	XSB_INIT_OR_RET();
	*device = 0;
	return hipSuccess;
}

hipError_t hipDeviceGetAttribute(int *value, hipDeviceAttribute_t attr, int device)
{
	if (!value) XSB_RET(hipErrorInvalidValue);
	XSB_INIT_OR_RET();
	if (device != 0) XSB_RET(hipErrorInvalidDevice);
	int v;
	switch ((int)attr) {
	case hipDeviceAttributeMultiprocessorCount:
	case hipDeviceAttributePhysicalMultiProcessorCount: v = (int)g_rt.num_cus; break;
	case hipDeviceAttributeClockRate: v = (int)g_rt.gpu_clock_mhz * 1000; break; /* kHz */
	case hipDeviceAttributeConcurrentKernels:
	case hipDeviceAttributeCooperativeLaunch:
	case hipDeviceAttributeStreamPrioritiesSupported:
	case hipDeviceAttributeIsLargeBar: v = 1; break;
	case hipDeviceAttributeIntegrated: v = 0; break;
	case hipDeviceAttributeL2CacheSize: v = 4 * 1024 * 1024; break;
	case hipDeviceAttributeComputeCapabilityMajor: v = 9; break; /* gfx942 */
	case hipDeviceAttributeComputeCapabilityMinor: v = 4; break;
	case hipDeviceAttributeMaxBlockDimX:
	case hipDeviceAttributeMaxBlockDimY:
	case hipDeviceAttributeMaxBlockDimZ:
	case hipDeviceAttributeMaxThreadsPerBlock: v = 1024; break;
	case hipDeviceAttributeMaxThreadsPerMultiProcessor: v = 2048; break;
	case hipDeviceAttributeMaxGridDimX: v = 2147483647; break;
	case hipDeviceAttributeMaxGridDimY:
	case hipDeviceAttributeMaxGridDimZ: v = 65536; break;
	case hipDeviceAttributePciBusId:
	case hipDeviceAttributePciDeviceId:
	case hipDeviceAttributePciDomainID: v = 0; break;
	case hipDeviceAttributeMaxSharedMemoryPerBlock:
	case hipDeviceAttributeMaxSharedMemoryPerMultiprocessor: v = 65536; break;
	case hipDeviceAttributeWarpSize: v = 64; break;
	case hipDeviceAttributeClockInstructionRate:
	case hipDeviceAttributeWallClockRate: v = 100000; break; /* 100 MHz constant timer (MI300) */
	default: XSB_RET(hipErrorInvalidValue);
	}
	*value = v;
	return hipSuccess;
}

hipError_t hipDeviceGetName(char *name, int len, hipDevice_t device)
{
	if (!name || len <= 0) XSB_RET(hipErrorInvalidValue);
	XSB_INIT_OR_RET();
	if (device != 0) XSB_RET(hipErrorInvalidDevice);
	std::snprintf(name, (size_t)len, "AMD Instinct MI300X (xsb-emu%s%s)", g_rt.profile_name[0] ? " " : "",
	              g_rt.profile_name);
	return hipSuccess;
}

hipError_t hipDeviceGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
	XSB_INIT_OR_RET();
	/* HIP: least 1 (low), greatest -1 (high), 0 normal. */
	if (leastPriority) *leastPriority = 1;
	if (greatestPriority) *greatestPriority = -1;
	return hipSuccess;
}

hipError_t hipMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
	XSB_INIT_OR_RET();
	const size_t total = (size_t)192 << 30;
	if (free_bytes) *free_bytes = total;
	if (total_bytes) *total_bytes = total;
	return hipSuccess;
}

hipError_t hipGetLastError(void) { return take_last_error(true); }
hipError_t hipPeekAtLastError(void) { return take_last_error(false); }

const char *hipGetErrorName(hipError_t e)
{
	switch (e) {
#define N(x)   \
	case x: \
		return #x;
		N(hipSuccess)
		N(hipErrorInvalidValue)
		N(hipErrorOutOfMemory)
		N(hipErrorNotInitialized)
		N(hipErrorDeinitialized)
		N(hipErrorInvalidConfiguration)
		N(hipErrorInvalidDevicePointer)
		N(hipErrorInvalidMemcpyDirection)
		N(hipErrorMissingConfiguration)
		N(hipErrorInvalidDeviceFunction)
		N(hipErrorNoDevice)
		N(hipErrorInvalidDevice)
		N(hipErrorInvalidImage)
		N(hipErrorInvalidContext)
		N(hipErrorFileNotFound)
		N(hipErrorInvalidHandle)
		N(hipErrorIllegalState)
		N(hipErrorNotFound)
		N(hipErrorNotReady)
		N(hipErrorLaunchFailure)
		N(hipErrorCooperativeLaunchTooLarge)
		N(hipErrorNotSupported)
		N(hipErrorUnknown)
#undef N
	}
	return "hipErrorUnknown";
}

const char *hipGetErrorString(hipError_t e)
{
	switch (e) {
	case hipSuccess: return "no error";
	case hipErrorInvalidValue: return "invalid argument";
	case hipErrorOutOfMemory: return "out of memory";
	case hipErrorNotInitialized: return "initialization error";
	case hipErrorDeinitialized: return "driver shutting down";
	case hipErrorInvalidDeviceFunction: return "invalid device function";
	case hipErrorNoDevice: return "no ROCm-capable device is detected";
	case hipErrorInvalidDevice: return "invalid device ordinal";
	case hipErrorInvalidHandle: return "invalid resource handle";
	case hipErrorNotFound: return "named symbol not found";
	case hipErrorNotReady: return "device not ready";
	case hipErrorLaunchFailure: return "unspecified launch failure";
	case hipErrorNotSupported: return "operation not supported";
	default: return "unknown error";
	}
}

hipError_t hipDeviceReset(void)
{
	XSB_INIT_OR_RET();
	return hipDeviceSynchronize();
}

} // extern "C"
