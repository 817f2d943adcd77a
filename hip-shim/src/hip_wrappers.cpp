/*
 * hip_wrappers.cpp - the HIP wrappers generated from hip_symbols.h, their next-definition
 * lookups, and the two maps that hand out wrappers instead of the runtime's functions:
 * hipGetProcAddress and dlsym (a program that dlopen()s libamdhip64 and dlsym()s from its
 * handle would otherwise bypass LD_PRELOAD, as Triton's HIP driver does).
 *
 * The library itself carries no symbol versions: the dynamic linker binds a versioned
 * reference (hipLaunchKernel@hip_4.2, ioctl@GLIBC_2.2.5) to an unversioned definition of an
 * earlier object (glibc dl-lookup.c check_match accepts any version when the defining object
 * has no version table), so hipcc-built binaries and libhsakmt bind to these wrappers.
 */
#include "shim.h"

#include <dlfcn.h>
#include <string.h>

#include "hip_symbols.h"

namespace xsb {

enum Kind { LAUNCH, WORK, SYNC, DSYNC, SCREATE, SDESTROY, PROCADDR };

enum SymIdx {
#define X(kind, spt, name, ver, params, args, strm) SYM_##name,
	XSB_HIP_SYMBOLS(X)
#undef X
#define X(name, ver) AUX_##name,
	XSB_HIP_AUX(X)
#undef X
	SYM_COUNT
};

struct SymInfo {
	const char *name;
	const char *version;
	void *wrapper;
	std::atomic<void *> next;
};

} // namespace xsb

/* forward declarations of the wrappers (defined below) so the table can name them */
#define X(kind, spt, name, ver, params, args, strm) XSB_EXPORT hipError_t name params;
XSB_HIP_SYMBOLS(X)
#undef X

namespace xsb {

static SymInfo g_syms[SYM_COUNT] = {
#define X(kind, spt, name, ver, params, args, strm) {#name, ver, reinterpret_cast<void *>(&::name), {nullptr}},
	XSB_HIP_SYMBOLS(X)
#undef X
#define X(name, ver) {#name, ver, nullptr, {nullptr}},
	XSB_HIP_AUX(X)
#undef X
};

typedef void *(*dlsym_fn)(void *, const char *);
static dlsym_fn g_real_dlsym; /* __atomic builtins: no library calls before a sanitizer is up */

/* glibc >= 2.34 defines dlsym@@GLIBC_2.34 in libc, older ones dlsym@GLIBC_2.2.5 in libdl.
 * Not instrumented: sanitizer runtimes call dlsym(RTLD_NEXT) while they initialise. */
extern "C" __attribute__((visibility("hidden"), no_sanitize_thread, no_sanitize_address)) dlsym_fn xsb_real_dlsym()
{
	dlsym_fn f = __atomic_load_n(&g_real_dlsym, __ATOMIC_ACQUIRE);
	if (!f) {
		f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
		if (!f) f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
		if (!f) f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.17");
		__atomic_store_n(&g_real_dlsym, f, __ATOMIC_RELEASE);
	}
	return f;
}

static const char *const k_hip_sonames[] = {"libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6",
                                            "libamdhip64.so.5"};

static void *lookup_next(const SymInfo &s)
{
	void *p = dlvsym(RTLD_NEXT, s.name, s.version);
	if (!p) p = dlvsym(RTLD_NEXT, s.name, "hip_4.2");
	if (!p) p = xsb_real_dlsym()(RTLD_NEXT, s.name);
	/* a runtime dlopen()ed with RTLD_LOCAL is not in the global scope: ask it directly */
	for (size_t i = 0; !p && i < sizeof k_hip_sonames / sizeof *k_hip_sonames; i++) {
		void *h = dlopen(k_hip_sonames[i], RTLD_LAZY | RTLD_NOLOAD);
		if (!h) continue;
		p = dlvsym(h, s.name, s.version);
		if (!p) p = xsb_real_dlsym()(h, s.name);
		dlclose(h);
	}
	if (p == s.wrapper) p = nullptr;
	return p;
}

static __attribute__((noinline)) void *hip_next_slow(int idx)
{
	SymInfo &s = g_syms[idx];
	void *p = lookup_next(s);
	if (p) s.next.store(p, std::memory_order_release);
	return p;
}

/* Resolved once: afterwards one load (the wrappers inline it). */
static inline void *next_of(int idx)
{
	void *p = g_syms[idx].next.load(std::memory_order_acquire);
	return XSB_LIKELY(p) ? p : hip_next_slow(idx);
}

void *hip_next(int idx) { return next_of(idx); }

/* Wrapper for the runtime's function `real` named `name`, or nullptr. */
static void *wrapper_for(const char *name, void *real)
{
	if (!name || !real) return nullptr;
	for (int i = 0; i < SYM_COUNT; i++) {
		SymInfo &s = g_syms[i];
		if (!s.wrapper || real == s.wrapper) continue;
		if (s.next.load(std::memory_order_acquire) == real) return s.wrapper;
	}
	for (int i = 0; i < SYM_COUNT; i++) {
		SymInfo &s = g_syms[i];
		if (!s.wrapper || strcmp(s.name, name) != 0) continue;
		if (real == s.wrapper) return nullptr;
		void *expected = nullptr;
		s.next.compare_exchange_strong(expected, real);
		return s.wrapper;
	}
	return nullptr;
}

#define AUX(name, ...)                                                                     \
	do {                                                                               \
		auto f = reinterpret_cast<decltype(&aux_proto_##name)>(next_of(AUX_##name)); \
		return f ? f(__VA_ARGS__) : hipErrorNotSupported;                          \
	} while (0)
hipError_t aux_proto_hipEventCreateWithFlags(hipEvent_t *, unsigned int);
hipError_t aux_proto_hipEventDestroy(hipEvent_t);
hipError_t aux_proto_hipEventQuery(hipEvent_t);
hipError_t aux_proto_hipEventSynchronize(hipEvent_t);
hipError_t aux_event_create(hipEvent_t *e) { AUX(hipEventCreateWithFlags, e, hipEventDisableTiming); }
hipError_t aux_event_destroy(hipEvent_t e) { AUX(hipEventDestroy, e); }
hipError_t aux_event_query(hipEvent_t e) { AUX(hipEventQuery, e); }
hipError_t aux_event_sync(hipEvent_t e) { AUX(hipEventSynchronize, e); }
hipError_t aux_event_record(hipEvent_t e, hipStream_t s)
{
	auto f = reinterpret_cast<hipError_t (*)(hipEvent_t, hipStream_t)>(hip_next(SYM_hipEventRecord));
	return f ? f(e, s) : hipErrorNotSupported;
}
hipError_t aux_device_sync()
{
	auto f = reinterpret_cast<hipError_t (*)(void)>(hip_next(SYM_hipDeviceSynchronize));
	return f ? f() : hipErrorNotSupported;
}

/* ---- the generic wrapper around one call ----
 * Per launch, once initialised: the re-entry depth (initial-exec TLS), one load each for init,
 * class and attachment, the launches counter (the only RMW of unclassified and online launches),
 * the activity word (online), the gate word, the thread's cached stream slot and its lock
 * (offline, attached). Everything else is out of line, on the paths that wait. */
template <int KIND, int SPT> struct Call {
	hipStream_t stream;
	Lv1Ticket t{nullptr, 0, 0};
	bool managed = false;

	explicit Call(hipStream_t st) : stream(st)
	{
		tl_depth++;
		ensure_init();
		if (KIND != LAUNCH && KIND != WORK) return;
		/* seq_cst: also the activity tracker's launch sequence, ordered before the activity load */
		g_ctrl->launches.fetch_add(1, std::memory_order_seq_cst);
		uint32_t cls = g_class.load(std::memory_order_relaxed);
		if (cls == XSB_CLASS_ONLINE) {
			activity_launch();
		} else if (cls == XSB_CLASS_OFFLINE && g_attached.load(std::memory_order_relaxed)) {
			managed = true;
			if (KIND == LAUNCH) t = lv1_admit(SPT, stream); /* waits at the gate first */
			else gate_wait();
		}
	}
	void done(hipError_t r)
	{
		if (KIND == LAUNCH && managed) lv1_done(t, r == hipSuccess);
		if (r == hipSuccess) on_hip_success();
		tl_depth--;
	}
};

} // namespace xsb

using namespace xsb;

#define XSB_GEN_LAUNCH(kind, spt, name, ver, params, args, strm)                               \
	XSB_EXPORT hipError_t name params                                                      \
	{                                                                                      \
		auto next = reinterpret_cast<hipError_t(*) params>(next_of(SYM_##name));     \
		if (!next) return hipErrorNotSupported;                                        \
		if (tl_depth) return next args;                                                \
		Call<kind, spt> c(strm);                                                       \
		hipError_t r = next args;                                                      \
		c.done(r);                                                                     \
		return r;                                                                      \
	}
#define XSB_GEN_WORK XSB_GEN_LAUNCH
#define XSB_GEN_SYNC XSB_GEN_LAUNCH
#define XSB_GEN_DSYNC XSB_GEN_LAUNCH
/* stream creation has no stream to admit yet */
#define XSB_GEN_SCREATE(kind, spt, name, ver, params, args, strm) \
	XSB_GEN_LAUNCH(kind, spt, name, ver, params, args, nullptr)
#define XSB_GEN_SDESTROY(kind, spt, name, ver, params, args, strm)                             \
	XSB_EXPORT hipError_t name params                                                      \
	{                                                                                      \
		auto next = reinterpret_cast<hipError_t(*) params>(next_of(SYM_##name));     \
		if (!next) return hipErrorNotSupported;                                        \
		if (tl_depth) return next args;                                                \
		Call<kind, spt> c(strm);                                                       \
		lv1_stream_destroyed(strm);                                                    \
		hipError_t r = next args;                                                      \
		c.done(r);                                                                     \
		return r;                                                                      \
	}
#define XSB_GEN_PROCADDR(...)

#define X(kind, spt, name, ver, params, args, strm) XSB_GEN_##kind(kind, spt, name, ver, params, args, strm)
XSB_HIP_SYMBOLS(X)
#undef X

/* ROCm 6.1+: a program asking the runtime for a function pointer must get the wrapper. */
XSB_EXPORT hipError_t hipGetProcAddress(const char *sym, void **pfn, int ver, uint64_t fl,
                                        hipDriverProcAddressQueryResult *st)
{
	auto next = reinterpret_cast<hipError_t (*)(const char *, void **, int, uint64_t,
	                                            hipDriverProcAddressQueryResult *)>(hip_next(SYM_hipGetProcAddress));
	if (!next) return hipErrorNotSupported;
	tl_depth++;
	hipError_t r = next(sym, pfn, ver, fl, st);
	tl_depth--;
	if (r == hipSuccess && pfn && *pfn) {
		if (void *w = wrapper_for(sym, *pfn)) *pfn = w;
	}
	return r;
}

/* dlsym: RTLD_NEXT resolves relative to the caller's object, so that case jumps straight to
 * the real dlsym with the caller's return address intact (x86-64 trampoline below). */
extern "C" __attribute__((visibility("hidden"), no_sanitize_thread, no_sanitize_address)) void *
xsb_dlsym_impl(void *handle, const char *name)
{
	dlsym_fn real = xsb_real_dlsym();
	if (!real) return nullptr;
	void *p = real(handle, name);
	if (p && name && name[0] == 'h' && name[1] == 'i' && name[2] == 'p') {
		if (void *w = wrapper_for(name, p)) return w;
	}
	return p;
}

#if defined(__x86_64__)
__asm__(".text\n"
        ".globl dlsym\n"
        ".type dlsym,@function\n"
        "dlsym:\n"
        "  cmpq $-1, %rdi\n" /* RTLD_NEXT */
        "  jne 2f\n"
        "  movq xsb_dlsym_ptr(%rip), %rax\n"
        "  testq %rax, %rax\n"
        "  jz 1f\n"
        "  jmp *%rax\n"
        "1:\n"
        "  pushq %rdi\n"
        "  pushq %rsi\n"
        "  subq $8, %rsp\n"
        "  call xsb_real_dlsym\n"
        "  addq $8, %rsp\n"
        "  popq %rsi\n"
        "  popq %rdi\n"
        "  movq %rax, xsb_dlsym_ptr(%rip)\n"
        "  jmp *%rax\n"
        "2:\n"
        "  jmp xsb_dlsym_impl\n"
        ".size dlsym, .-dlsym\n");
extern "C" {
__attribute__((visibility("hidden"), used)) void *xsb_dlsym_ptr = nullptr;
}
#endif
