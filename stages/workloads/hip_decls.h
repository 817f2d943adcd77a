/*
 * hip_decls.h - the HIP API xsb-workload (and stages/probe) use. With hipcc (__HIP_PLATFORM_AMD__)
 * this is <hip/hip_runtime.h>; otherwise the project's HIP ABI declarations, since no HIP headers
 * exist where the emulator is built. The path is relative because stage1 builds the probe with
 * g++ -I stages/workloads only.
 */
#ifndef XSB_WORKLOAD_HIP_DECLS_H
#define XSB_WORKLOAD_HIP_DECLS_H

#if defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_runtime.h>
#else
#include "../../native/include/xsb_hip_abi.h"
#endif
#endif
