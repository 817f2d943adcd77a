/*
 * spin_kernel.hip - a HIP program with a real __global__ spin kernel, built by hipcc
 * (HIP_PLATFORM=amd, --offload-arch=gfx90a). hipcc embeds the gfx90a code object, registers it
 * at load time (__hipRegisterFatBinary + __hipRegisterFunction for xsb_spin) and compiles both
 * launch syntaxes below to __hipPushCallConfiguration, then the host stub's
 * __hipPopCallConfiguration + hipLaunchKernel, all referenced at version hip_4.2.
 *
 *   spin_kernel loop COUNT US      (protocol: rh_app.h)
 */
#include "xsb_spin_kernel.h"
#include "rh_app.h"

static void launch(int path, uint64_t ns, hipStream_t s)
{
	if (path == 0) hipLaunchKernelGGL(xsb_spin, dim3(1), dim3(64), 0, s, ns);
	else xsb_spin<<<dim3(1), dim3(64), 0, s>>>(ns);
}

int main(int argc, char **argv)
{
	g_prog = "spin_kernel";
	return rh_main(argc, argv, launch, 4);
}
