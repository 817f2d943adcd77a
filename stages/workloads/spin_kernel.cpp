/*
 * spin_kernel.cpp - the spin kernel. With hipcc it is a real kernel that spins on the GPU's
 * constant-rate wall clock. Without hipcc (the emulator build), it is what hipcc would generate
 * on the host side: a stub that pops the launch configuration and calls hipLaunchKernel, and a
 * constructor registering the stub under its device name with __hipRegisterFatBinary /
 * __hipRegisterFunction, so the runtime resolves the kernel the way it does for real binaries.
 */
#include "spin_kernel.h"

#include <cstdlib>

#if defined(__HIP_PLATFORM_AMD__)

__device__ uint64_t xsb_wall_khz = 100000;

__global__ void xsb_spin(uint64_t ns)
{
	const uint64_t t0 = wall_clock64();
	const uint64_t ticks = ns * xsb_wall_khz / 1000000u;
	while (wall_clock64() - t0 < ticks) __builtin_amdgcn_s_sleep(1);
}

const void *spin_handle() { return reinterpret_cast<const void *>(&xsb_spin); }

hipError_t spin_launch_chevron(dim3 grid, dim3 block, hipStream_t stream, uint64_t ns)
{
	xsb_spin<<<grid, block, 0, stream>>>(ns);
	return hipGetLastError();
}

hipError_t spin_function(hipFunction_t *f) { return hipGetFuncBySymbol(f, spin_handle()); }

hipError_t spin_setup()
{
	int khz = 0;
	hipError_t e = hipDeviceGetAttribute(&khz, hipDeviceAttributeWallClockRate, 0);
	if (e != hipSuccess || khz <= 0) return e;
	uint64_t v = (uint64_t)khz;
	return hipMemcpyToSymbol(HIP_SYMBOL(xsb_wall_khz), &v, sizeof v);
}

#else /* host stub, as hipcc generates it */

/* mangled like hipcc's kernel symbol: void xsb_spin(unsigned long) */
void xsb_spin(uint64_t ns);

void xsb_spin(uint64_t ns)
{
	dim3 grid, block;
	size_t shmem;
	hipStream_t stream;
	if (__hipPopCallConfiguration(&grid, &block, &shmem, &stream) != hipSuccess) return;
	void *args[] = {&ns};
	(void)hipLaunchKernel(reinterpret_cast<const void *>(&xsb_spin), grid, block, args, shmem, stream);
}

namespace {
struct FatbinWrapper {
	uint32_t magic, version;
	const void *binary;
	void *unused;
};
const unsigned char kNoCodeObject[16] = {0};
const FatbinWrapper kFatbin = {0x48495046u /* "HIPF" */, 1, kNoCodeObject, nullptr};
void **g_gpubin_handle = nullptr;
char kDeviceName[] = "_Z8xsb_spinm";

void module_dtor()
{
	if (g_gpubin_handle) __hipUnregisterFatBinary(g_gpubin_handle);
	g_gpubin_handle = nullptr;
}

__attribute__((constructor)) void module_ctor()
{
	if (!g_gpubin_handle) g_gpubin_handle = __hipRegisterFatBinary(&kFatbin);
	__hipRegisterFunction(g_gpubin_handle, reinterpret_cast<const void *>(&xsb_spin), kDeviceName, kDeviceName,
	                      ~0u, nullptr, nullptr, nullptr, nullptr, nullptr);
	std::atexit(module_dtor);
}
} // namespace

const void *spin_handle() { return reinterpret_cast<const void *>(&xsb_spin); }

hipError_t spin_launch_chevron(dim3 grid, dim3 block, hipStream_t stream, uint64_t ns)
{
	hipError_t e = __hipPushCallConfiguration(grid, block, 0, stream);
	if (e != hipSuccess) return e;
	(void)hipGetLastError();
	xsb_spin(ns);
	return hipGetLastError();
}

hipError_t spin_function(hipFunction_t *f)
{
	/* the emulator accepts any image: load one and look the kernel up by name */
	static const char image[] = "xsb-emu code object placeholder";
	hipModule_t m;
	hipError_t e = hipModuleLoadData(&m, image);
	if (e != hipSuccess) return e;
	return hipModuleGetFunction(f, m, kDeviceName);
}

hipError_t spin_setup() { return hipSuccess; }

#endif
