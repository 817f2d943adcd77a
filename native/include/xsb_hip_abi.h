/*
 * xsb_hip_abi.h - the subset of the HIP runtime ABI the project uses, declared without HIP headers
 * (none exist where the emulator is built). One copy for the emulated libamdhip64 (native/emu/hip),
 * the LD_PRELOAD shim (hip-shim) and the g++-built workload and probe (stages/workloads, stages/probe),
 * so the three cannot drift apart.
 *
 * Values, layouts and signatures are HIP's own (ROCm 6 where they differ):
 *   hipError_t, hipDeviceAttribute_t, hipMemcpyKind, hipStreamPerThread/hipStreamLegacy, stream and
 *     event flags, hipKernelNodeParams, hipHostFn_t, hipDriverProcAddressQueryResult and the
 *     prototypes: ROCm/HIP include/hip/hip_runtime_api.h (enum hipError_t: hipSuccess 0,
 *     hipErrorInvalidValue 1, hipErrorOutOfMemory 2, hipErrorNotInitialized 3, hipErrorDeinitialized 4,
 *     hipErrorInvalidDeviceFunction 98, hipErrorNoDevice 100, hipErrorInvalidDevice 101,
 *     hipErrorFileNotFound 301, hipErrorInvalidHandle 400,
 *     hipErrorNotFound 500, hipErrorNotReady 600, hipErrorLaunchFailure 719,
 *     hipErrorNotSupported 801, hipErrorUnknown 999; hipDeviceAttributeMultiprocessorCount 63,
 *     ...AmdSpecificBegin 10000). HIP's enums are int-sized, so an enum here and an int in a caller
 *     are the same ABI; the real header's enum types are used so callers compile against both.
 *   Registration entry points: clr hipamd/src/hip_platform.cpp (__hipRegisterFunction(modules,
 *     hostFunction, deviceFunction, deviceName, threadLimit, tid, bid, blockDim, gridDim, wSize)).
 *
 * XSB_HIP_EXPORT (default empty) prefixes every prototype: the emulated runtime defines it to
 * export its definitions.
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
typedef void (*hipHostFn_t)(void *userData);

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

#ifndef XSB_HIP_EXPORT
#define XSB_HIP_EXPORT
#endif
#define XH XSB_HIP_EXPORT

/* device */
XH hipError_t hipInit(unsigned int flags);
XH hipError_t hipDriverGetVersion(int *v);
XH hipError_t hipRuntimeGetVersion(int *v);
XH hipError_t hipGetDeviceCount(int *count);
XH hipError_t hipSetDevice(int device);
XH hipError_t hipGetDevice(int *device);
XH hipError_t hipDeviceGetAttribute(int *value, hipDeviceAttribute_t attr, int device);
XH hipError_t hipDeviceGetName(char *name, int len, hipDevice_t device);
XH hipError_t hipDeviceGetStreamPriorityRange(int *leastPriority, int *greatestPriority);
XH hipError_t hipDeviceSynchronize(void);
XH hipError_t hipDeviceReset(void);
XH hipError_t hipMemGetInfo(size_t *free_bytes, size_t *total_bytes);

/* errors */
XH hipError_t hipGetLastError(void);
XH hipError_t hipPeekAtLastError(void);
XH const char *hipGetErrorString(hipError_t e);
XH const char *hipGetErrorName(hipError_t e);

/* memory */
XH hipError_t hipMalloc(void **ptr, size_t size);
XH hipError_t hipFree(void *ptr);
XH hipError_t hipHostMalloc(void **ptr, size_t size, unsigned int flags);
XH hipError_t hipHostFree(void *ptr);
XH hipError_t hipMemcpy(void *dst, const void *src, size_t n, hipMemcpyKind kind);
XH hipError_t hipMemcpyAsync(void *dst, const void *src, size_t n, hipMemcpyKind kind, hipStream_t s);
XH hipError_t hipMemset(void *dst, int value, size_t n);
XH hipError_t hipMemsetAsync(void *dst, int value, size_t n, hipStream_t s);
XH hipError_t hipMemcpyHtoD(hipDeviceptr_t dst, void *src, size_t n);
XH hipError_t hipMemcpyDtoH(void *dst, hipDeviceptr_t src, size_t n);
XH hipError_t hipMemcpyDtoD(hipDeviceptr_t dst, hipDeviceptr_t src, size_t n);
XH hipError_t hipMemcpyHtoDAsync(hipDeviceptr_t dst, void *src, size_t n, hipStream_t s);
XH hipError_t hipMemcpyDtoHAsync(void *dst, hipDeviceptr_t src, size_t n, hipStream_t s);
XH hipError_t hipMemcpyDtoDAsync(hipDeviceptr_t dst, hipDeviceptr_t src, size_t n, hipStream_t s);

/* streams */
XH hipError_t hipStreamCreate(hipStream_t *s);
XH hipError_t hipStreamCreateWithFlags(hipStream_t *s, unsigned int flags);
XH hipError_t hipStreamCreateWithPriority(hipStream_t *s, unsigned int flags, int priority);
XH hipError_t hipExtStreamCreateWithCUMask(hipStream_t *s, uint32_t cuMaskSize, const uint32_t *cuMask);
XH hipError_t hipStreamDestroy(hipStream_t s);
XH hipError_t hipStreamSynchronize(hipStream_t s);
XH hipError_t hipStreamQuery(hipStream_t s);
XH hipError_t hipStreamWaitEvent(hipStream_t s, hipEvent_t e, unsigned int flags);
XH hipError_t hipStreamGetPriority(hipStream_t s, int *priority);
XH hipError_t hipStreamGetFlags(hipStream_t s, unsigned int *flags);

/* events */
XH hipError_t hipEventCreate(hipEvent_t *e);
XH hipError_t hipEventCreateWithFlags(hipEvent_t *e, unsigned int flags);
XH hipError_t hipEventRecord(hipEvent_t e, hipStream_t s);
XH hipError_t hipEventSynchronize(hipEvent_t e);
XH hipError_t hipEventQuery(hipEvent_t e);
XH hipError_t hipEventElapsedTime(float *ms, hipEvent_t start, hipEvent_t stop);
XH hipError_t hipEventDestroy(hipEvent_t e);

/* kernels and modules */
XH void **__hipRegisterFatBinary(const void *data);
XH void __hipUnregisterFatBinary(void **modules);
XH void __hipRegisterFunction(void **modules, const void *hostFunction, char *deviceFunction,
                              const char *deviceName, unsigned int threadLimit, void *tid, void *bid,
                              dim3 *blockDim, dim3 *gridDim, int *wSize);
XH void __hipRegisterVar(void **modules, void *var, char *hostVar, char *deviceVar, int ext,
                         size_t size, int constant, int global);
XH hipError_t __hipPushCallConfiguration(dim3 gridDim, dim3 blockDim, size_t sharedMem, hipStream_t stream);
XH hipError_t __hipPopCallConfiguration(dim3 *gridDim, dim3 *blockDim, size_t *sharedMem, hipStream_t *stream);
XH hipError_t hipLaunchKernel(const void *f, dim3 numBlocks, dim3 dimBlocks, void **args,
                              size_t sharedMemBytes, hipStream_t stream);
XH hipError_t hipLaunchCooperativeKernel(const void *f, dim3 gridDim, dim3 blockDim, void **kernelParams,
                                         unsigned int sharedMemBytes, hipStream_t stream);
XH hipError_t hipExtLaunchKernel(const void *f, dim3 numBlocks, dim3 dimBlocks, void **args,
                                 size_t sharedMemBytes, hipStream_t stream, hipEvent_t startEvent,
                                 hipEvent_t stopEvent, int flags);
XH hipError_t hipModuleLoad(hipModule_t *module, const char *fname);
XH hipError_t hipModuleLoadData(hipModule_t *module, const void *image);
XH hipError_t hipModuleLoadDataEx(hipModule_t *module, const void *image, unsigned int numOptions,
                                  int *options, void **optionValues);
XH hipError_t hipModuleUnload(hipModule_t module);
XH hipError_t hipModuleGetFunction(hipFunction_t *function, hipModule_t module, const char *kname);
XH hipError_t hipGetFuncBySymbol(hipFunction_t *functionPtr, const void *symbolPtr);
XH hipError_t hipModuleLaunchKernel(hipFunction_t f, unsigned int gridDimX, unsigned int gridDimY,
                                    unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                    unsigned int blockDimZ, unsigned int sharedMemBytes, hipStream_t stream,
                                    void **kernelParams, void **extra);
XH hipError_t hipExtModuleLaunchKernel(hipFunction_t f, uint32_t globalWorkSizeX, uint32_t globalWorkSizeY,
                                       uint32_t globalWorkSizeZ, uint32_t localWorkSizeX,
                                       uint32_t localWorkSizeY, uint32_t localWorkSizeZ, size_t sharedMemBytes,
                                       hipStream_t hStream, void **kernelParams, void **extra,
                                       hipEvent_t startEvent, hipEvent_t stopEvent, uint32_t flags);

/* graphs */
XH hipError_t hipGraphCreate(hipGraph_t *pGraph, unsigned int flags);
XH hipError_t hipGraphDestroy(hipGraph_t graph);
XH hipError_t hipGraphAddKernelNode(hipGraphNode_t *pGraphNode, hipGraph_t graph,
                                    const hipGraphNode_t *pDependencies, size_t numDependencies,
                                    const hipKernelNodeParams *pNodeParams);
XH hipError_t hipGraphInstantiate(hipGraphExec_t *pGraphExec, hipGraph_t graph, hipGraphNode_t *pErrorNode,
                                  char *pLogBuffer, size_t bufferSize);
XH hipError_t hipGraphLaunch(hipGraphExec_t graphExec, hipStream_t stream);
XH hipError_t hipGraphExecDestroy(hipGraphExec_t graphExec);

/* per-thread default stream entry points */
XH hipError_t hipLaunchKernel_spt(const void *f, dim3 numBlocks, dim3 dimBlocks, void **args,
                                  size_t sharedMemBytes, hipStream_t stream);
XH hipError_t hipLaunchCooperativeKernel_spt(const void *f, dim3 gridDim, dim3 blockDim, void **kernelParams,
                                             uint32_t sharedMemBytes, hipStream_t stream);
XH hipError_t hipMemcpyAsync_spt(void *dst, const void *src, size_t n, hipMemcpyKind kind, hipStream_t s);
XH hipError_t hipMemsetAsync_spt(void *dst, int value, size_t n, hipStream_t s);
XH hipError_t hipMemcpy_spt(void *dst, const void *src, size_t n, hipMemcpyKind kind);
XH hipError_t hipMemset_spt(void *dst, int value, size_t n);
XH hipError_t hipStreamSynchronize_spt(hipStream_t s);
XH hipError_t hipStreamQuery_spt(hipStream_t s);
XH hipError_t hipStreamGetPriority_spt(hipStream_t s, int *priority);
XH hipError_t hipStreamWaitEvent_spt(hipStream_t s, hipEvent_t e, unsigned int flags);
XH hipError_t hipEventRecord_spt(hipEvent_t e, hipStream_t s);
XH hipError_t hipGraphLaunch_spt(hipGraphExec_t graphExec, hipStream_t stream);

/* lookup */
XH hipError_t hipGetProcAddress(const char *symbol, void **pfn, int hipVersion, uint64_t flags,
                                hipDriverProcAddressQueryResult *symbolStatus);

#undef XH

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
static_assert(sizeof(dim3) == 12, "dim3");
static_assert(sizeof(hipError_t) == 4, "hipError_t");
static_assert(sizeof(hipKernelNodeParams) == 64, "hipKernelNodeParams");
static_assert(__builtin_offsetof(hipKernelNodeParams, func) == 24, "hipKernelNodeParams.func");
#endif

#endif /* XSB_HIP_ABI_H */
