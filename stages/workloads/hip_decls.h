/*
 * hip_decls.h - the HIP API subset xsb-workload uses. With hipcc (__HIP_PLATFORM_AMD__) this is
 * <hip/hip_runtime.h>; otherwise tiny declarations with HIP's ABI (values from ROCm/HIP
 * include/hip/hip_runtime_api.h), since no HIP headers exist where the emulator is built.
 */
#ifndef XSB_WORKLOAD_HIP_DECLS_H
#define XSB_WORKLOAD_HIP_DECLS_H

#if defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_runtime.h>
#else
#include <stddef.h>
#include <stdint.h>

extern "C" {
typedef int hipError_t; /* enum hipError_t: int-sized */
#define hipSuccess 0
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
typedef struct hipKernelNodeParams {
	dim3 blockDim;
	void **extra;
	void *func;
	dim3 gridDim;
	void **kernelParams;
	unsigned int sharedMemBytes;
} hipKernelNodeParams;
#define hipDeviceAttributeMultiprocessorCount 63
#define hipStreamPerThread ((hipStream_t)2)

hipError_t hipGetDeviceCount(int *count);
hipError_t hipDeviceGetAttribute(int *value, int attr, int device);
hipError_t hipDeviceGetName(char *name, int len, int device);
const char *hipGetErrorString(hipError_t e);
hipError_t hipGetLastError(void);
hipError_t hipStreamCreateWithPriority(hipStream_t *s, unsigned int flags, int priority);
hipError_t hipStreamDestroy(hipStream_t s);
hipError_t hipStreamSynchronize(hipStream_t s);
hipError_t hipStreamSynchronize_spt(hipStream_t s);
hipError_t hipEventCreate(hipEvent_t *e);
hipError_t hipEventDestroy(hipEvent_t e);
hipError_t hipEventRecord(hipEvent_t e, hipStream_t s);
hipError_t hipEventRecord_spt(hipEvent_t e, hipStream_t s);
hipError_t hipEventSynchronize(hipEvent_t e);
hipError_t hipEventElapsedTime(float *ms, hipEvent_t a, hipEvent_t b);
hipError_t hipLaunchKernel(const void *f, dim3 grid, dim3 block, void **args, size_t shmem, hipStream_t s);
hipError_t hipLaunchKernel_spt(const void *f, dim3 grid, dim3 block, void **args, size_t shmem, hipStream_t s);
hipError_t hipLaunchCooperativeKernel(const void *f, dim3 grid, dim3 block, void **args, unsigned int shmem,
                                      hipStream_t s);
hipError_t hipModuleLoadData(hipModule_t *m, const void *image);
hipError_t hipModuleGetFunction(hipFunction_t *f, hipModule_t m, const char *name);
hipError_t hipModuleLaunchKernel(hipFunction_t f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                 unsigned int by, unsigned int bz, unsigned int shmem, hipStream_t s, void **params,
                                 void **extra);
hipError_t hipExtModuleLaunchKernel(hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t lx,
                                    uint32_t ly, uint32_t lz, size_t shmem, hipStream_t s, void **params,
                                    void **extra, hipEvent_t start, hipEvent_t stop, uint32_t flags);
hipError_t hipGraphCreate(hipGraph_t *g, unsigned int flags);
hipError_t hipGraphAddKernelNode(hipGraphNode_t *n, hipGraph_t g, const hipGraphNode_t *deps, size_t ndeps,
                                 const hipKernelNodeParams *p);
hipError_t hipGraphInstantiate(hipGraphExec_t *x, hipGraph_t g, hipGraphNode_t *err, char *log, size_t logsz);
hipError_t hipGraphLaunch(hipGraphExec_t x, hipStream_t s);
hipError_t hipGraphExecDestroy(hipGraphExec_t x);
hipError_t hipGraphDestroy(hipGraph_t g);
hipError_t __hipPushCallConfiguration(dim3 grid, dim3 block, size_t shmem, hipStream_t s);
hipError_t __hipPopCallConfiguration(dim3 *grid, dim3 *block, size_t *shmem, hipStream_t *s);
void **__hipRegisterFatBinary(const void *data);
void __hipRegisterFunction(void **modules, const void *hostFunction, char *deviceFunction, const char *deviceName,
                           unsigned int threadLimit, void *tid, void *bid, dim3 *blockDim, dim3 *gridDim,
                           int *wSize);
void __hipUnregisterFatBinary(void **modules);
}
#endif
#endif
