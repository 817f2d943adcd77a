/*
 * hip_min.h - the few HIP ABI types the shim's wrappers need, declared without HIP headers.
 * Layouts and values follow ROCm/HIP include/hip/hip_runtime_api.h (hipError_t is a 32-bit
 * enum, dim3 three uint32_t passed by value, handles are pointers, hipStreamPerThread is
 * ((hipStream_t)2), hipStreamLegacy ((hipStream_t)1)).
 */
#ifndef XSB_SHIM_HIP_MIN_H
#define XSB_SHIM_HIP_MIN_H

#include <stddef.h>
#include <stdint.h>

extern "C" {
typedef enum hipError_t {
	hipSuccess = 0,
	hipErrorNotReady = 600,
	hipErrorNotSupported = 801,
	hipErrorSharedObjectSymbolNotFound = 302,
	hipErrorNotFound = 500,
} hipError_t;

typedef struct dim3 {
	uint32_t x, y, z;
} dim3;

typedef struct ihipStream_t *hipStream_t;
typedef struct ihipEvent_t *hipEvent_t;
typedef struct ihipModuleSymbol_t *hipFunction_t;
typedef struct hipGraphExec *hipGraphExec_t;
typedef void *hipDeviceptr_t;
typedef int hipMemcpyKind; /* enum hipMemcpyKind */
typedef void (*hipHostFn_t)(void *userData);
typedef int hipDriverProcAddressQueryResult; /* enum */
}

#define XSB_HIP_STREAM_LEGACY ((hipStream_t)1)
#define XSB_HIP_STREAM_PER_THREAD ((hipStream_t)2)
#define XSB_HIP_EVENT_DISABLE_TIMING 0x2u

static_assert(sizeof(dim3) == 12, "dim3");
static_assert(sizeof(hipError_t) == 4, "hipError_t");

#endif
