/*
 * hip_symbols.h - every HIP entry point the shim intercepts, listed ONCE.
 *
 * X(kind, spt, name, version, params, args, stream)
 *   kind     LAUNCH  gated, counted by the Lv1 in-flight bound, marks activity
 *            WORK    gated, marks activity, not counted (synchronous copies, event records)
 *            SYNC    stream synchronisation (pass through)
 *            DSYNC   device synchronisation (pass through)
 *            SCREATE stream creation (stream = the hipStream_t* out argument)
 *            SDESTROY stream destruction
 *            PROCADDR hipGetProcAddress (written by hand)
 *   spt      1 for the per-thread-default-stream entry points (a null stream means the
 *            calling thread's stream)
 *   version  the symbol version node of ROCm clr's hip_hcc.map.in (as reproduced by the
 *            emulated runtime's libamdhip64.map); the next definition is looked up with dlvsym
 *            and, failing that, dlsym (runtimes without version nodes)
 *   params/args  the exact HIP ABI signature (hip_runtime_api.h) and its argument list
 *
 * From this table come the wrappers, the hipGetProcAddress and dlsym maps and the versioned
 * lookups (hip_wrappers.cpp).
 */
/* clang-format off */
#define XSB_HIP_SYMBOLS(X) \
X(LAUNCH, 0, hipLaunchKernel, "hip_4.2", \
  (const void *f, dim3 g, dim3 b, void **a, size_t sh, hipStream_t s), (f, g, b, a, sh, s), s) \
X(LAUNCH, 1, hipLaunchKernel_spt, "hip_5.2", \
  (const void *f, dim3 g, dim3 b, void **a, size_t sh, hipStream_t s), (f, g, b, a, sh, s), s) \
X(LAUNCH, 0, hipLaunchCooperativeKernel, "hip_4.2", \
  (const void *f, dim3 g, dim3 b, void **a, unsigned int sh, hipStream_t s), (f, g, b, a, sh, s), s) \
X(LAUNCH, 1, hipLaunchCooperativeKernel_spt, "hip_5.2", \
  (const void *f, dim3 g, dim3 b, void **a, uint32_t sh, hipStream_t s), (f, g, b, a, sh, s), s) \
X(LAUNCH, 0, hipExtLaunchKernel, "hip_4.2", \
  (const void *f, dim3 g, dim3 b, void **a, size_t sh, hipStream_t s, hipEvent_t e0, hipEvent_t e1, int fl), \
  (f, g, b, a, sh, s, e0, e1, fl), s) \
X(LAUNCH, 0, hipModuleLaunchKernel, "hip_4.2", \
  (hipFunction_t f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, \
   unsigned int bz, unsigned int sh, hipStream_t s, void **kp, void **ex), \
  (f, gx, gy, gz, bx, by, bz, sh, s, kp, ex), s) \
X(LAUNCH, 0, hipModuleLaunchCooperativeKernel, "hip_5.5", \
  (hipFunction_t f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, \
   unsigned int bz, unsigned int sh, hipStream_t s, void **kp), \
  (f, gx, gy, gz, bx, by, bz, sh, s, kp), s) \
X(LAUNCH, 0, hipExtModuleLaunchKernel, "hip_4.2", \
  (hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t lx, uint32_t ly, uint32_t lz, size_t sh, \
   hipStream_t s, void **kp, void **ex, hipEvent_t e0, hipEvent_t e1, uint32_t fl), \
  (f, gx, gy, gz, lx, ly, lz, sh, s, kp, ex, e0, e1, fl), s) \
X(LAUNCH, 0, hipHccModuleLaunchKernel, "hip_4.2", \
  (hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t lx, uint32_t ly, uint32_t lz, size_t sh, \
   hipStream_t s, void **kp, void **ex, hipEvent_t e0, hipEvent_t e1), \
  (f, gx, gy, gz, lx, ly, lz, sh, s, kp, ex, e0, e1), s) \
X(LAUNCH, 0, hipGraphLaunch, "hip_4.3", (hipGraphExec_t x, hipStream_t s), (x, s), s) \
X(LAUNCH, 1, hipGraphLaunch_spt, "hip_5.3", (hipGraphExec_t x, hipStream_t s), (x, s), s) \
X(LAUNCH, 0, hipLaunchHostFunc, "hip_5.0", (hipStream_t s, hipHostFn_t fn, void *ud), (s, fn, ud), s) \
X(LAUNCH, 0, hipMemcpyAsync, "hip_4.2", \
  (void *d, const void *src, size_t n, hipMemcpyKind k, hipStream_t s), (d, src, n, k, s), s) \
X(LAUNCH, 1, hipMemcpyAsync_spt, "hip_5.2", \
  (void *d, const void *src, size_t n, hipMemcpyKind k, hipStream_t s), (d, src, n, k, s), s) \
X(LAUNCH, 0, hipMemcpyHtoDAsync, "hip_4.2", (hipDeviceptr_t d, void *src, size_t n, hipStream_t s), (d, src, n, s), s) \
X(LAUNCH, 0, hipMemcpyDtoHAsync, "hip_4.2", (void *d, hipDeviceptr_t src, size_t n, hipStream_t s), (d, src, n, s), s) \
X(LAUNCH, 0, hipMemcpyDtoDAsync, "hip_4.2", (hipDeviceptr_t d, hipDeviceptr_t src, size_t n, hipStream_t s), (d, src, n, s), s) \
X(LAUNCH, 0, hipMemcpy2DAsync, "hip_4.2", \
  (void *d, size_t dp, const void *src, size_t sp, size_t w, size_t h, hipMemcpyKind k, hipStream_t s), \
  (d, dp, src, sp, w, h, k, s), s) \
X(LAUNCH, 0, hipMemcpyPeerAsync, "hip_4.2", \
  (void *d, int dd, const void *src, int sd, size_t n, hipStream_t s), (d, dd, src, sd, n, s), s) \
X(LAUNCH, 0, hipMemsetAsync, "hip_4.2", (void *d, int v, size_t n, hipStream_t s), (d, v, n, s), s) \
X(LAUNCH, 1, hipMemsetAsync_spt, "hip_5.3", (void *d, int v, size_t n, hipStream_t s), (d, v, n, s), s) \
X(LAUNCH, 0, hipMemsetD8Async, "hip_4.2", (hipDeviceptr_t d, unsigned char v, size_t n, hipStream_t s), (d, v, n, s), s) \
X(LAUNCH, 0, hipMemsetD16Async, "hip_4.2", (hipDeviceptr_t d, unsigned short v, size_t n, hipStream_t s), (d, v, n, s), s) \
X(LAUNCH, 0, hipMemsetD32Async, "hip_4.2", (hipDeviceptr_t d, int v, size_t n, hipStream_t s), (d, v, n, s), s) \
X(WORK, 0, hipMemcpy, "hip_4.2", (void *d, const void *src, size_t n, hipMemcpyKind k), (d, src, n, k), nullptr) \
X(WORK, 1, hipMemcpy_spt, "hip_5.2", (void *d, const void *src, size_t n, hipMemcpyKind k), (d, src, n, k), nullptr) \
X(WORK, 0, hipMemcpyHtoD, "hip_4.2", (hipDeviceptr_t d, void *src, size_t n), (d, src, n), nullptr) \
X(WORK, 0, hipMemcpyDtoH, "hip_4.2", (void *d, hipDeviceptr_t src, size_t n), (d, src, n), nullptr) \
X(WORK, 0, hipMemcpyDtoD, "hip_4.2", (hipDeviceptr_t d, hipDeviceptr_t src, size_t n), (d, src, n), nullptr) \
X(WORK, 0, hipMemset, "hip_4.2", (void *d, int v, size_t n), (d, v, n), nullptr) \
X(WORK, 1, hipMemset_spt, "hip_5.2", (void *d, int v, size_t n), (d, v, n), nullptr) \
X(WORK, 0, hipEventRecord, "hip_4.2", (hipEvent_t e, hipStream_t s), (e, s), s) \
X(WORK, 1, hipEventRecord_spt, "hip_5.2", (hipEvent_t e, hipStream_t s), (e, s), s) \
X(SYNC, 0, hipStreamSynchronize, "hip_4.2", (hipStream_t s), (s), s) \
X(SYNC, 1, hipStreamSynchronize_spt, "hip_5.2", (hipStream_t s), (s), s) \
X(DSYNC, 0, hipDeviceSynchronize, "hip_4.2", (void), (), nullptr) \
X(SCREATE, 0, hipStreamCreate, "hip_4.2", (hipStream_t *ps), (ps), ps) \
X(SCREATE, 0, hipStreamCreateWithFlags, "hip_4.2", (hipStream_t *ps, unsigned int fl), (ps, fl), ps) \
X(SCREATE, 0, hipStreamCreateWithPriority, "hip_4.2", (hipStream_t *ps, unsigned int fl, int pr), (ps, fl, pr), ps) \
X(SCREATE, 0, hipExtStreamCreateWithCUMask, "hip_4.2", \
  (hipStream_t *ps, uint32_t n, const uint32_t *m), (ps, n, m), ps) \
X(SDESTROY, 0, hipStreamDestroy, "hip_4.2", (hipStream_t s), (s), s) \
X(PROCADDR, 0, hipGetProcAddress, "hip_6.1", \
  (const char *sym, void **pfn, int ver, uint64_t fl, hipDriverProcAddressQueryResult *st), \
  (sym, pfn, ver, fl, st), nullptr)
/* clang-format on */

/* Runtime functions the shim calls itself (never wrapped): name, version. */
#define XSB_HIP_AUX(X)                            \
	X(hipEventCreateWithFlags, "hip_4.2")     \
	X(hipEventDestroy, "hip_4.2")             \
	X(hipEventQuery, "hip_4.2")               \
	X(hipEventSynchronize, "hip_4.2")
