/* spin_kernel.h - the workload's kernel: xsb_spin(uint64_t ns) runs for ns nanoseconds. */
#ifndef XSB_WORKLOAD_SPIN_KERNEL_H
#define XSB_WORKLOAD_SPIN_KERNEL_H

#include "hip_decls.h"

/* Host handle of the kernel (what hipLaunchKernel and graph nodes take). */
const void *spin_handle();
/* xsb_spin<<<grid, block, 0, stream>>>(ns) */
hipError_t spin_launch_chevron(dim3 grid, dim3 block, hipStream_t stream, uint64_t ns);
/* The kernel as a hipFunction_t for the module launch APIs. */
hipError_t spin_function(hipFunction_t *f);
/* Device-side setup (the real kernel needs the wall clock rate). */
hipError_t spin_setup();

#endif
