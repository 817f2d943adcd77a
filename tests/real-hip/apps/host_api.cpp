/*
 * host_api.cpp - a host-only HIP program compiled by g++ against the REAL ROCm headers
 * (hip_runtime_api.h, __HIP_PLATFORM_AMD__) and linked against Debian's real libamdhip64.so.5,
 * so its references carry the real symbol versions (hip_4.2). At run time LD_LIBRARY_PATH
 * points at the emulated runtime, which must satisfy the same versioned references.
 *
 * It launches the spin kernel two ways, alternating:
 *   path 0: hipModuleLoad(MODULE) + hipModuleGetFunction("xsb_spin") + hipModuleLaunchKernel,
 *           MODULE being the gfx90a code object hipcc --genco built;
 *   path 1: hipLaunchKernel on a host stub registered the way hipcc's generated constructor
 *           does it: __hipRegisterFatBinary on a fat-binary wrapper around the same code
 *           object, then __hipRegisterFunction(stub -> "xsb_spin").
 *
 *   host_api loop COUNT US MODULE  (protocol: rh_app.h)
 */
#include <hip/hip_runtime_api.h>

#include <fstream>
#include <iterator>

#include "rh_app.h"

/* Registration entry points: emitted by the compiler, so no header declares them; the
 * signatures are clr's (hipamd/src/hip_platform.cpp). */
extern "C" {
void **__hipRegisterFatBinary(const void *data);
void __hipRegisterFunction(void **modules, const void *hostFunction, char *deviceFunction, const char *deviceName,
                           unsigned int threadLimit, void *tid, void *bid, dim3 *blockDim, dim3 *gridDim, int *wSize);
void __hipUnregisterFatBinary(void **modules);
}

/* The wrapper hipcc places in .hipFatBinSegment: magic "HIPF", version 1, the bundle. */
struct FatbinWrapper {
	unsigned int magic;
	unsigned int version;
	const void *binary;
	void *unused;
};

static hipFunction_t g_module_fn;
static std::vector<char> g_image;
static void **g_fatbin;

/* The host stub a registered kernel is launched through; its address is the kernel's identity. */
extern "C" __attribute__((noinline)) void xsb_spin_stub(uint64_t ns)
{
	(void)ns;
}

static void launch(int path, uint64_t ns, hipStream_t s)
{
	void *args[] = {&ns};
	if (path == 0)
		RH_CHECK(hipModuleLaunchKernel(g_module_fn, 1, 1, 1, 64, 1, 1, 0, s, args, nullptr));
	else
		RH_CHECK(hipLaunchKernel(reinterpret_cast<const void *>(&xsb_spin_stub), dim3(1), dim3(64), args, 0, s));
}

int main(int argc, char **argv)
{
	g_prog = "host_api";
	if (argc != 5) return rh_usage();
	std::ifstream in(argv[4], std::ios::binary);
	g_image.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
	if (g_image.empty()) {
		fprintf(stderr, "host_api: cannot read the code object %s (build it with hipcc --genco)\n", argv[4]);
		return 2;
	}
	static FatbinWrapper wrapper = {0x48495046u, 1u, nullptr, nullptr};
	wrapper.binary = g_image.data();
	g_fatbin = __hipRegisterFatBinary(&wrapper);
	static char kname[] = "xsb_spin";
	__hipRegisterFunction(g_fatbin, reinterpret_cast<const void *>(&xsb_spin_stub), kname, kname, (unsigned)-1,
	                      nullptr, nullptr, nullptr, nullptr, nullptr);

	hipModule_t mod;
	RH_CHECK(hipModuleLoad(&mod, argv[4]));
	RH_CHECK(hipModuleGetFunction(&g_module_fn, mod, "xsb_spin"));
	int rc = rh_main(argc, argv, launch, 5);
	if (rc == 0) RH_CHECK(hipModuleUnload(mod));
	__hipUnregisterFatBinary(g_fatbin);
	return rc;
}
