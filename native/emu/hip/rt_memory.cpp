/*
 * rt_memory.cpp - allocations and copies. Device memory is host memory (the emulated device never
 * touches data); a copy or set moves the bytes when it is enqueued (kernels touch no memory, so
 * program order holds) and enqueues a blit packet so it also takes device time.
 */
#include "rt.h"

#include <cstdlib>
#include <cstring>

namespace xsbhip {
namespace {

std::mutex g_mem_mu;
std::unordered_map<void *, size_t> &g_allocs = *new std::unordered_map<void *, size_t>;

hipError_t alloc(void **ptr, size_t size)
{
	if (!ptr) return hipErrorInvalidValue;
	*ptr = nullptr;
	if (size == 0) return hipSuccess;
	void *p = nullptr;
	if (posix_memalign(&p, 4096, size) != 0) return hipErrorOutOfMemory;
	std::lock_guard<std::mutex> lk(g_mem_mu);
	g_allocs[p] = size;
	*ptr = p;
	return hipSuccess;
}

hipError_t release(void *p)
{
	if (!p) return hipSuccess;
	{
		std::lock_guard<std::mutex> lk(g_mem_mu);
		if (!g_allocs.erase(p)) return hipErrorInvalidValue;
	}
	std::free(p);
	return hipSuccess;
}

/* The blit's device time: bytes / copy bandwidth of the profile. */
hipError_t enqueue_blit(size_t n, hipStream_t h)
{
	Stream *s;
	hipError_t e = resolve_stream(h, &s);
	if (e != hipSuccess) return e;
	PacketDesc d;
	d.kernel_object = XSB_EMU_KOBJ_COPY;
	d.arg0 = (uint64_t)((double)n / g_rt.copy_bytes_per_s * 1e9);
	d.block = dim3{256, 1, 1};
	d.grid = dim3{256, 1, 1};
	stream_submit(s, d);
	return hipSuccess;
}

} // namespace
} // namespace xsbhip

using namespace xsbhip;

extern "C" {

hipError_t hipMalloc(void **ptr, size_t size)
{
	XSB_INIT_OR_RET();
	XSB_RET(alloc(ptr, size));
}

hipError_t hipFree(void *ptr)
{
	XSB_INIT_OR_RET();
	/* hipFree synchronises the device in HIP */
	if (ptr) {
		hipError_t e = hipDeviceSynchronize();
		if (e != hipSuccess) XSB_RET(e);
	}
	XSB_RET(release(ptr));
}

hipError_t hipHostMalloc(void **ptr, size_t size, unsigned int flags)
{
	(void)flags;
	XSB_INIT_OR_RET();
	XSB_RET(alloc(ptr, size));
}

hipError_t hipHostFree(void *ptr)
{
	XSB_INIT_OR_RET();
	if (ptr) {
		hipError_t e = hipDeviceSynchronize();
		if (e != hipSuccess) XSB_RET(e);
	}
	XSB_RET(release(ptr));
}

hipError_t hipMemcpyAsync(void *dst, const void *src, size_t n, hipMemcpyKind kind, hipStream_t s)
{
	XSB_INIT_OR_RET();
	if ((unsigned)kind > hipMemcpyDefault) XSB_RET(hipErrorInvalidMemcpyDirection);
	if (n == 0) return hipSuccess;
	if (!dst || !src) XSB_RET(hipErrorInvalidValue);
	std::memmove(dst, src, n);
	XSB_RET(enqueue_blit(n, s));
}

hipError_t hipMemsetAsync(void *dst, int value, size_t n, hipStream_t s)
{
	XSB_INIT_OR_RET();
	if (n == 0) return hipSuccess;
	if (!dst) XSB_RET(hipErrorInvalidValue);
	std::memset(dst, value, n);
	XSB_RET(enqueue_blit(n, s));
}

/* Synchronous forms: wait for the stream, enqueue through the exported async entry point,
 * wait again (clr re-enters its own API the same way). */
hipError_t hipMemcpy(void *dst, const void *src, size_t n, hipMemcpyKind kind)
{
	XSB_INIT_OR_RET();
	hipError_t e = hipStreamSynchronize(nullptr);
	if (e == hipSuccess) e = hipMemcpyAsync(dst, src, n, kind, nullptr);
	if (e == hipSuccess) e = hipStreamSynchronize(nullptr);
	XSB_RET(e);
}

hipError_t hipMemset(void *dst, int value, size_t n)
{
	XSB_INIT_OR_RET();
	hipError_t e = hipStreamSynchronize(nullptr);
	if (e == hipSuccess) e = hipMemsetAsync(dst, value, n, nullptr);
	if (e == hipSuccess) e = hipStreamSynchronize(nullptr);
	XSB_RET(e);
}

hipError_t hipMemcpyHtoD(hipDeviceptr_t dst, void *src, size_t n)
{
	return hipMemcpy(dst, src, n, hipMemcpyHostToDevice);
}
hipError_t hipMemcpyDtoH(void *dst, hipDeviceptr_t src, size_t n)
{
	return hipMemcpy(dst, src, n, hipMemcpyDeviceToHost);
}
hipError_t hipMemcpyDtoD(hipDeviceptr_t dst, hipDeviceptr_t src, size_t n)
{
	return hipMemcpy(dst, src, n, hipMemcpyDeviceToDevice);
}
hipError_t hipMemcpyHtoDAsync(hipDeviceptr_t dst, void *src, size_t n, hipStream_t s)
{
	return hipMemcpyAsync(dst, src, n, hipMemcpyHostToDevice, s);
}
hipError_t hipMemcpyDtoHAsync(void *dst, hipDeviceptr_t src, size_t n, hipStream_t s)
{
	return hipMemcpyAsync(dst, src, n, hipMemcpyDeviceToHost, s);
}
hipError_t hipMemcpyDtoDAsync(hipDeviceptr_t dst, hipDeviceptr_t src, size_t n, hipStream_t s)
{
	return hipMemcpyAsync(dst, src, n, hipMemcpyDeviceToDevice, s);
}

/* _spt: the null stream means this thread's default stream */
hipError_t hipMemcpyAsync_spt(void *dst, const void *src, size_t n, hipMemcpyKind kind, hipStream_t s)
{
	return hipMemcpyAsync(dst, src, n, kind, s ? s : hipStreamPerThread);
}
hipError_t hipMemsetAsync_spt(void *dst, int value, size_t n, hipStream_t s)
{
	return hipMemsetAsync(dst, value, n, s ? s : hipStreamPerThread);
}
hipError_t hipMemcpy_spt(void *dst, const void *src, size_t n, hipMemcpyKind kind)
{
	hipError_t e = hipStreamSynchronize(hipStreamPerThread);
	if (e == hipSuccess) e = hipMemcpyAsync(dst, src, n, kind, hipStreamPerThread);
	if (e == hipSuccess) e = hipStreamSynchronize(hipStreamPerThread);
	return e;
}
hipError_t hipMemset_spt(void *dst, int value, size_t n)
{
	hipError_t e = hipStreamSynchronize(hipStreamPerThread);
	if (e == hipSuccess) e = hipMemsetAsync(dst, value, n, hipStreamPerThread);
	if (e == hipSuccess) e = hipStreamSynchronize(hipStreamPerThread);
	return e;
}
hipError_t hipStreamSynchronize_spt(hipStream_t s) { return hipStreamSynchronize(s ? s : hipStreamPerThread); }
hipError_t hipStreamQuery_spt(hipStream_t s) { return hipStreamQuery(s ? s : hipStreamPerThread); }
hipError_t hipStreamGetPriority_spt(hipStream_t s, int *p) { return hipStreamGetPriority(s ? s : hipStreamPerThread, p); }
hipError_t hipStreamWaitEvent_spt(hipStream_t s, hipEvent_t e, unsigned int f)
{
	return hipStreamWaitEvent(s ? s : hipStreamPerThread, e, f);
}
hipError_t hipEventRecord_spt(hipEvent_t e, hipStream_t s) { return hipEventRecord(e, s ? s : hipStreamPerThread); }

} // extern "C"
