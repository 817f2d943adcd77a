/*
 * The project's spin kernel as real device code: it runs for its first argument in ns. On a
 * real gfx9 GPU it spins on s_memrealtime (wall_clock64(), a constant 100 MHz counter on
 * MI200/MI300, i.e. 10 ns per tick); on the emulator the same kernel is recognised by its name
 * ("xsb_spin") and modelled with the same duration.
 * wall_clock64() is declared for device compilation only in the ROCm 5.2 headers.
 */
#ifndef XSB_SPIN_KERNEL_H
#define XSB_SPIN_KERNEL_H
#include <hip/hip_runtime.h>
#include <stdint.h>

extern "C" __global__ void xsb_spin(uint64_t ns)
{
#if defined(__HIP_DEVICE_COMPILE__)
	const long long t0 = wall_clock64();
	while ((uint64_t)(wall_clock64() - t0) * 10u < ns) __builtin_amdgcn_s_sleep(1);
#else
	(void)ns;
#endif
}
#endif
