/*
 * rt_props.cpp - hipGetDeviceProperties (added for programs built against the real ROCm
 * headers: tests/real-hip).
 *
 * The exported name hipGetDeviceProperties@hip_4.2 takes the pre-6.0 hipDeviceProp_t, 792
 * bytes (ROCm 6 keeps that layout as hipDeviceProp_tR0000 behind the old name and adds
 * hipGetDevicePropertiesR0600@hip_6.0 with a new one, not provided here). The layout below is
 * the one in Debian bookworm's ROCm 5.2.3 hip_runtime_api.h; every offset was measured with
 * offsetof() against that header and is asserted. Values come from the same sources as
 * hipDeviceGetAttribute / hipDeviceGetName / hipMemGetInfo, so every query agrees.
 */
#include "rt.h"

#include <cstddef>
#include <cstdio>
#include <cstring>

namespace {

struct DeviceArch { /* hipDeviceArch_t: 17 one-bit flags in one unsigned */
	unsigned hasGlobalInt32Atomics : 1, hasGlobalFloatAtomicExch : 1, hasSharedInt32Atomics : 1,
	    hasSharedFloatAtomicExch : 1, hasFloatAtomicAdd : 1, hasGlobalInt64Atomics : 1, hasSharedInt64Atomics : 1,
	    hasDoubles : 1, hasWarpVote : 1, hasWarpBallot : 1, hasWarpShuffle : 1, hasFunnelShift : 1,
	    hasThreadFenceSystem : 1, hasSyncThreadsExt : 1, hasSurfaceFuncs : 1, has3dGrid : 1,
	    hasDynamicParallelism : 1;
};

struct DevicePropR0000 {
	char name[256];
	size_t totalGlobalMem;
	size_t sharedMemPerBlock;
	int regsPerBlock;
	int warpSize;
	int maxThreadsPerBlock;
	int maxThreadsDim[3];
	int maxGridSize[3];
	int clockRate;
	int memoryClockRate;
	int memoryBusWidth;
	size_t totalConstMem;
	int major;
	int minor;
	int multiProcessorCount;
	int l2CacheSize;
	int maxThreadsPerMultiProcessor;
	int computeMode;
	int clockInstructionRate;
	DeviceArch arch;
	int concurrentKernels;
	int pciDomainID;
	int pciBusID;
	int pciDeviceID;
	size_t maxSharedMemoryPerMultiProcessor;
	int isMultiGpuBoard;
	int canMapHostMemory;
	int gcnArch;
	char gcnArchName[256];
	int integrated;
	int cooperativeLaunch;
	int cooperativeMultiDeviceLaunch;
	int maxTexture1DLinear;
	int maxTexture1D;
	int maxTexture2D[2];
	int maxTexture3D[3];
	unsigned int *hdpMemFlushCntl;
	unsigned int *hdpRegFlushCntl;
	size_t memPitch;
	size_t textureAlignment;
	size_t texturePitchAlignment;
	int kernelExecTimeoutEnabled;
	int ECCEnabled;
	int tccDriver;
	int cooperativeMultiDeviceUnmatchedFunc;
	int cooperativeMultiDeviceUnmatchedGridDim;
	int cooperativeMultiDeviceUnmatchedBlockDim;
	int cooperativeMultiDeviceUnmatchedSharedMem;
	int isLargeBar;
	int asicRevision;
	int managedMemory;
	int directManagedMemAccessFromHost;
	int concurrentManagedAccess;
	int pageableMemoryAccess;
	int pageableMemoryAccessUsesHostPageTables;
};

static_assert(sizeof(DeviceArch) == 4, "hipDeviceArch_t is 4 bytes");
static_assert(sizeof(DevicePropR0000) == 792, "hipDeviceProp_t (ROCm 5.2 / R0000) is 792 bytes");
static_assert(offsetof(DevicePropR0000, totalGlobalMem) == 256, "layout");
static_assert(offsetof(DevicePropR0000, clockRate) == 308, "layout");
static_assert(offsetof(DevicePropR0000, totalConstMem) == 320, "layout");
static_assert(offsetof(DevicePropR0000, multiProcessorCount) == 336, "layout");
static_assert(offsetof(DevicePropR0000, arch) == 356, "layout");
static_assert(offsetof(DevicePropR0000, maxSharedMemoryPerMultiProcessor) == 376, "layout");
static_assert(offsetof(DevicePropR0000, gcnArch) == 392, "layout");
static_assert(offsetof(DevicePropR0000, gcnArchName) == 396, "layout");
static_assert(offsetof(DevicePropR0000, integrated) == 652, "layout");
static_assert(offsetof(DevicePropR0000, maxTexture3D) == 680, "layout");
static_assert(offsetof(DevicePropR0000, hdpMemFlushCntl) == 696, "layout");
static_assert(offsetof(DevicePropR0000, memPitch) == 712, "layout");
static_assert(offsetof(DevicePropR0000, kernelExecTimeoutEnabled) == 736, "layout");
static_assert(offsetof(DevicePropR0000, isLargeBar) == 764, "layout");
static_assert(offsetof(DevicePropR0000, pageableMemoryAccessUsesHostPageTables) == 788, "layout");

int attr(hipDeviceAttribute_t a)
{
	int v = 0;
	return hipDeviceGetAttribute(&v, a, 0) == hipSuccess ? v : 0;
}

} // namespace

extern "C" XSB_HIP_EXPORT hipError_t hipGetDeviceProperties(void *prop, int device)
{
	if (!prop) XSB_RET(hipErrorInvalidValue);
	XSB_INIT_OR_RET();
	if (device != 0) XSB_RET(hipErrorInvalidDevice);
	DevicePropR0000 p;
	std::memset(&p, 0, sizeof p);
	hipError_t e = hipDeviceGetName(p.name, (int)sizeof p.name, 0);
	if (e != hipSuccess) return e;
	size_t free_b = 0;
	e = hipMemGetInfo(&free_b, &p.totalGlobalMem);
	if (e != hipSuccess) return e;
	p.sharedMemPerBlock = (size_t)attr(hipDeviceAttributeMaxSharedMemoryPerBlock);
	p.regsPerBlock = 65536;
	p.warpSize = attr(hipDeviceAttributeWarpSize);
	p.maxThreadsPerBlock = attr(hipDeviceAttributeMaxThreadsPerBlock);
	p.maxThreadsDim[0] = attr(hipDeviceAttributeMaxBlockDimX);
	p.maxThreadsDim[1] = attr(hipDeviceAttributeMaxBlockDimY);
	p.maxThreadsDim[2] = attr(hipDeviceAttributeMaxBlockDimZ);
	p.maxGridSize[0] = attr(hipDeviceAttributeMaxGridDimX);
	p.maxGridSize[1] = attr(hipDeviceAttributeMaxGridDimY);
	p.maxGridSize[2] = attr(hipDeviceAttributeMaxGridDimZ);
	p.clockRate = attr(hipDeviceAttributeClockRate);
	p.memoryClockRate = 1300000; /* kHz: MI300X HBM3 (stated assumption, like the profile's) */
	p.memoryBusWidth = 8192;
	p.totalConstMem = (size_t)2 << 30;
	p.major = attr(hipDeviceAttributeComputeCapabilityMajor);
	p.minor = attr(hipDeviceAttributeComputeCapabilityMinor);
	p.multiProcessorCount = attr(hipDeviceAttributeMultiprocessorCount);
	p.l2CacheSize = attr(hipDeviceAttributeL2CacheSize);
	p.maxThreadsPerMultiProcessor = attr(hipDeviceAttributeMaxThreadsPerMultiProcessor);
	p.clockInstructionRate = attr(hipDeviceAttributeClockInstructionRate);
	/* what gfx9 hardware offers; no dynamic parallelism or surface functions in HIP */
	p.arch.hasGlobalInt32Atomics = p.arch.hasGlobalFloatAtomicExch = p.arch.hasSharedInt32Atomics = 1;
	p.arch.hasSharedFloatAtomicExch = p.arch.hasFloatAtomicAdd = p.arch.hasGlobalInt64Atomics = 1;
	p.arch.hasSharedInt64Atomics = p.arch.hasDoubles = p.arch.hasWarpVote = p.arch.hasWarpBallot = 1;
	p.arch.hasWarpShuffle = p.arch.hasFunnelShift = p.arch.hasThreadFenceSystem = 1;
	p.arch.hasSyncThreadsExt = p.arch.has3dGrid = 1;
	p.concurrentKernels = attr(hipDeviceAttributeConcurrentKernels);
	p.pciDomainID = attr(hipDeviceAttributePciDomainID);
	p.pciBusID = attr(hipDeviceAttributePciBusId);
	p.pciDeviceID = attr(hipDeviceAttributePciDeviceId);
	p.maxSharedMemoryPerMultiProcessor = (size_t)attr(hipDeviceAttributeMaxSharedMemoryPerMultiprocessor);
	p.canMapHostMemory = 1;
	p.gcnArch = 942;
	std::snprintf(p.gcnArchName, sizeof p.gcnArchName, "gfx942:sramecc+:xnack-");
	p.integrated = attr(hipDeviceAttributeIntegrated);
	p.cooperativeLaunch = attr(hipDeviceAttributeCooperativeLaunch);
	p.cooperativeMultiDeviceLaunch = p.cooperativeLaunch;
	p.maxTexture1DLinear = 1 << 27;
	p.maxTexture1D = 16384;
	p.maxTexture2D[0] = p.maxTexture2D[1] = 16384;
	p.maxTexture3D[0] = p.maxTexture3D[1] = p.maxTexture3D[2] = 16384;
	p.memPitch = (size_t)INT32_MAX;
	p.textureAlignment = 256;
	p.texturePitchAlignment = 256;
	p.ECCEnabled = 1;
	p.isLargeBar = attr(hipDeviceAttributeIsLargeBar);
	p.managedMemory = 1;
	std::memcpy(prop, &p, sizeof p);
	return hipSuccess;
}
