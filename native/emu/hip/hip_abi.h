/*
 * hip_abi.h - the subset of the HIP runtime ABI the emulated libamdhip64 implements,
 * declared without HIP headers (none exist on this machine).
 *
 * Values and layouts are HIP's own:
 *   hipError_t, hipDeviceAttribute_t, hipMemcpyKind, hipStreamPerThread:
 *     ROCm/HIP include/hip/hip_runtime_api.h (enum hipError_t: hipSuccess 0, hipErrorInvalidValue 1,
 *     hipErrorOutOfMemory 2, hipErrorNotInitialized 3, hipErrorDeinitialized 4,
 *     hipErrorInvalidDeviceFunction 98, hipErrorNoDevice 100, hipErrorInvalidDevice 101,
 *     hipErrorInvalidHandle 400, hipErrorNotFound 500, hipErrorNotReady 600,
 *     hipErrorLaunchFailure 719, hipErrorNotSupported 801, hipErrorUnknown 999;
 *     hipDeviceAttributeMultiprocessorCount 63, ...AmdSpecificBegin 10000).
 *   hipKernelNodeParams: same header (blockDim, extra, func, gridDim, kernelParams, sharedMemBytes).
 *   Registration entry points: clr hipamd/src/hip_platform.cpp (__hipRegisterFunction(modules,
 *     hostFunction, deviceFunction, deviceName, threadLimit, tid, bid, blockDim, gridDim, wSize)).
 */
#ifndef XSB_HIP_ABI_H
#define XSB_HIP_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hipError_t {
	hipSuccess = 0,
	hipErrorInvalidValue = 1,
	hipErrorOutOfMemory = 2,
	hipErrorNotInitialized = 3,
	hipErrorDeinitialized = 4,
	hipErrorInvalidConfiguration = 9,
	hipErrorInvalidDevicePointer = 17,
	hipErrorInvalidMemcpyDirection = 21,
	hipErrorMissingConfiguration = 52,
	hipErrorInvalidDeviceFunction = 98,
	hipErrorNoDevice = 100,
	hipErrorInvalidDevice = 101,
	hipErrorInvalidImage = 200,
	hipErrorInvalidContext = 201,
	hipErrorFileNotFound = 301,
	hipErrorInvalidHandle = 400,
	hipErrorInvalidResourceHandle = 400,
	hipErrorIllegalState = 401,
	hipErrorNotFound = 500,
	hipErrorNotReady = 600,
	hipErrorLaunchFailure = 719,
	hipErrorCooperativeLaunchTooLarge = 720,
	hipErrorNotSupported = 801,
	hipErrorUnknown = 999,
} hipError_t;

typedef struct dim3 {
	uint32_t x, y, z;
} dim3;

typedef struct ihipStream_t *hipStream_t;
typedef struct ihipEvent_t *hipEvent_t;
typedef struct ihipModule_t *hipModule_t;
typedef struct ihipModuleSymbol_t *hipFunction_t;
typedef struct ihipGraph *hipGraph_t;
typedef struct hipGraphNode *hipGraphNode_t;
typedef struct hipGraphExec *hipGraphExec_t;
typedef void *hipDeviceptr_t;
typedef int hipDevice_t;

#define hipStreamLegacy ((hipStream_t)1)
#define hipStreamPerThread ((hipStream_t)2)

#define hipStreamDefault 0x0u
#define hipStreamNonBlocking 0x1u
#define hipEventDefault 0x0u
#define hipEventBlockingSync 0x1u
#define hipEventDisableTiming 0x2u
#define hipEventInterprocess 0x4u

#define HIP_LAUNCH_PARAM_BUFFER_POINTER ((void *)0x01)
#define HIP_LAUNCH_PARAM_BUFFER_SIZE ((void *)0x02)
#define HIP_LAUNCH_PARAM_END ((void *)0x03)

typedef enum hipMemcpyKind {
	hipMemcpyHostToHost = 0,
	hipMemcpyHostToDevice = 1,
	hipMemcpyDeviceToHost = 2,
	hipMemcpyDeviceToDevice = 3,
	hipMemcpyDefault = 4,
} hipMemcpyKind;

typedef enum hipDeviceAttribute_t {
	hipDeviceAttributeClockRate = 5,
	hipDeviceAttributeConcurrentKernels = 8,
	hipDeviceAttributeCooperativeLaunch = 10,
	hipDeviceAttributeIntegrated = 16,
	hipDeviceAttributeL2CacheSize = 19,
	hipDeviceAttributeComputeCapabilityMajor = 23,
	hipDeviceAttributeMaxBlockDimX = 26,
	hipDeviceAttributeMaxBlockDimY = 27,
	hipDeviceAttributeMaxBlockDimZ = 28,
	hipDeviceAttributeMaxGridDimX = 29,
	hipDeviceAttributeMaxGridDimY = 30,
	hipDeviceAttributeMaxGridDimZ = 31,
	hipDeviceAttributeMaxThreadsPerBlock = 56,
	hipDeviceAttributeMaxThreadsPerMultiProcessor = 57,
	hipDeviceAttributeComputeCapabilityMinor = 61,
	hipDeviceAttributeMultiprocessorCount = 63,
	hipDeviceAttributePciBusId = 67,
	hipDeviceAttributePciDeviceId = 68,
	hipDeviceAttributePciDomainID = 69,
	hipDeviceAttributeMaxSharedMemoryPerBlock = 74,
	hipDeviceAttributeStreamPrioritiesSupported = 78,
	hipDeviceAttributeWarpSize = 87,
	hipDeviceAttributeClockInstructionRate = 10000,
	hipDeviceAttributeMaxSharedMemoryPerMultiprocessor = 10002,
	hipDeviceAttributeIsLargeBar = 10011,
	hipDeviceAttributePhysicalMultiProcessorCount = 10015,
	hipDeviceAttributeWallClockRate = 10017,
} hipDeviceAttribute_t;

typedef struct hipKernelNodeParams {
	dim3 blockDim;
	void **extra;
	void *func;
	dim3 gridDim;
	void **kernelParams;
	unsigned int sharedMemBytes;
} hipKernelNodeParams;

typedef enum hipDriverProcAddressQueryResult {
	HIP_GET_PROC_ADDRESS_SUCCESS = 0,
	HIP_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND = 1,
	HIP_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT = 2,
} hipDriverProcAddressQueryResult;

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
static_assert(sizeof(dim3) == 12, "dim3");
static_assert(sizeof(hipKernelNodeParams) == 64, "hipKernelNodeParams");
static_assert(__builtin_offsetof(hipKernelNodeParams, func) == 24, "hipKernelNodeParams.func");
#endif

#endif /* XSB_HIP_ABI_H */
