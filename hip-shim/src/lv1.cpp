/*
 * lv1.cpp - Lv1 for offline processes: the gate and the in-flight bound per stream.
 *
 * Gate: a closed gate makes the launching thread wait before it calls the runtime; nothing
 * is copied or reordered, so the application's call order is preserved exactly.
 * Bound: per stream, an event is recorded every `batch` launches; a launch that would make
 * `threshold` launches in flight first waits for the oldest recorded event (XSched Lv1).
 * The null stream, hipStreamLegacy and each thread's per-thread stream are streams too.
 */
#include "shim.h"

#include <pthread.h>
#include <string.h>

#include <deque>
#include <vector>
#include <unordered_map>

namespace xsb {

/* The slot lock is taken and released on every counted launch: inline, one locked instruction
 * each way when uncontended (a futex lock with a waiters state, Drepper's "Futexes Are
 * Tricky" mutex2), instead of two calls into libpthread. */
struct SlotLock {
	std::atomic<uint32_t> w{0}; /* 0 free, 1 held, 2 held and someone may sleep */
	void lock()
	{
		uint32_t c = 0;
		if (XSB_LIKELY(w.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed)))
			return;
		lock_contended(c);
	}
	void unlock()
	{
		if (XSB_UNLIKELY(w.exchange(0, std::memory_order_release) == 2)) futex_wake(&w);
	}
	__attribute__((noinline)) void lock_contended(uint32_t c)
	{
		if (c != 2) c = w.exchange(2, std::memory_order_acquire);
		while (c != 0) {
			futex_wait(&w, 2, 0);
			c = w.exchange(2, std::memory_order_acquire);
		}
	}
};

struct Lv1Slot {
	SlotLock mu;
	hipStream_t handle = nullptr; /* the handle to record events on */
	std::atomic<bool> dead{false};
	uint32_t inflight = 0;    /* launches not known complete */
	uint32_t since_event = 0; /* launches after the newest event */
	std::deque<std::pair<hipEvent_t, uint32_t>> events; /* oldest first: event, launches it covers */
};

static pthread_mutex_t g_map_mu = PTHREAD_MUTEX_INITIALIZER;
static std::unordered_map<hipStream_t, Lv1Slot *> *g_map;
static std::atomic<Lv1Slot *> g_null_slot{nullptr}; /* created once, read on every null-stream launch */
static XSB_TLS thread_local Lv1Slot *tl_spt_slot;
static XSB_TLS thread_local hipStream_t tl_last_handle;
static XSB_TLS thread_local Lv1Slot *tl_last_slot;
static std::vector<hipEvent_t> *g_event_pool;
static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;

static hipEvent_t event_get()
{
	pthread_mutex_lock(&g_pool_mu);
	hipEvent_t e = nullptr;
	if (g_event_pool && !g_event_pool->empty()) {
		e = g_event_pool->back();
		g_event_pool->pop_back();
	}
	pthread_mutex_unlock(&g_pool_mu);
	if (!e && aux_event_create(&e) != hipSuccess) e = nullptr;
	return e;
}

static void event_put(hipEvent_t e)
{
	pthread_mutex_lock(&g_pool_mu);
	if (!g_event_pool) g_event_pool = new std::vector<hipEvent_t>;
	if (g_event_pool->size() < 256) {
		g_event_pool->push_back(e);
		e = nullptr;
	}
	pthread_mutex_unlock(&g_pool_mu);
	if (e) aux_event_destroy(e);
}

static __attribute__((noinline)) Lv1Slot *null_slot_create()
{
	pthread_mutex_lock(&g_map_mu);
	Lv1Slot *n = g_null_slot.load(std::memory_order_relaxed);
	if (!n) {
		n = new Lv1Slot; /* handle nullptr: the null stream */
		g_null_slot.store(n, std::memory_order_release);
	}
	pthread_mutex_unlock(&g_map_mu);
	return n;
}

static __attribute__((noinline)) Lv1Slot *stream_slot_lookup(hipStream_t s)
{
	pthread_mutex_lock(&g_map_mu);
	if (!g_map) g_map = new std::unordered_map<hipStream_t, Lv1Slot *>;
	Lv1Slot *&slot = (*g_map)[s];
	if (!slot) {
		slot = new Lv1Slot;
		slot->handle = s;
	}
	Lv1Slot *r = slot;
	pthread_mutex_unlock(&g_map_mu);
	tl_last_handle = s;
	tl_last_slot = r;
	return r;
}

/* The slot of stream s; the common cases (the thread's last stream, the null stream) take no
 * lock. */
static inline Lv1Slot *slot_for(int spt, hipStream_t s)
{
	if (s == hipStreamPerThread || (spt && s == nullptr)) {
		if (XSB_UNLIKELY(!tl_spt_slot)) {
			tl_spt_slot = new Lv1Slot;
			tl_spt_slot->handle = hipStreamPerThread;
		}
		return tl_spt_slot;
	}
	if (s == nullptr || s == hipStreamLegacy) {
		Lv1Slot *n = g_null_slot.load(std::memory_order_acquire);
		return XSB_LIKELY(n) ? n : null_slot_create();
	}
	if (XSB_LIKELY(tl_last_handle == s && tl_last_slot && !tl_last_slot->dead.load(std::memory_order_acquire)))
		return tl_last_slot;
	return stream_slot_lookup(s);
}

void gate_wait_slow()
{
	if (ctrl_gate() == XSB_GATE_OPEN || g_fail_open.load(std::memory_order_relaxed)) return;
	uint64_t t0 = now_ns();
	g_ctrl->gated_waits.fetch_add(1, std::memory_order_relaxed);
	while (ctrl_gate() == XSB_GATE_CLOSED && !g_fail_open.load() && !g_exiting.load()) {
		/* woken by whoever opens it; the timeout only bounds a missed wake-up */
		futex_wait(&g_ctrl->gate, XSB_GATE_CLOSED, 200000000ull);
	}
	g_ctrl->gated_wait_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
}

static __attribute__((noinline)) void lv1_limits_invalid(uint32_t t, uint32_t b, uint32_t *thr, uint32_t *batch)
{
	static std::atomic<int> logged{0};
	if (!logged.exchange(1)) {
		g_ctrl->errors.fetch_add(1);
		XSB_LOG(LOG_ERROR, "Lv1 words hold threshold %u batch %u: invalid, using %u/%u", t, b, g_cfg.lv1_threshold,
		        g_cfg.lv1_batch);
	}
	t = g_cfg.lv1_threshold;
	b = g_cfg.lv1_batch;
	if (t && b > t) b = t;
	*thr = t;
	*batch = b;
}

static inline void lv1_limits(uint32_t *thr, uint32_t *batch)
{
	uint32_t t = g_ctrl->lv1_threshold.load(std::memory_order_relaxed);
	uint32_t b = g_ctrl->lv1_batch.load(std::memory_order_relaxed);
	if (XSB_UNLIKELY(t > XSB_LV1_MAX || b - 1u >= XSB_LV1_MAX)) { /* b outside 1..MAX */
		lv1_limits_invalid(t, b, thr, batch);
		return;
	}
	if (t && b > t) b = t;
	*thr = t;
	*batch = b;
}

/* The gate closed (and still applies) while this thread waited for the stream or its oldest
 * batch: an open gate costs one load. */
static inline bool gate_closed_now()
{
	if (XSB_LIKELY(g_ctrl->gate.load(std::memory_order_acquire) == XSB_GATE_OPEN)) return false;
	return ctrl_gate() == XSB_GATE_CLOSED && !g_fail_open.load() && !g_exiting.load();
}

/* Waits (slot lock held) until the stream has fewer than thr launches in flight. */
static __attribute__((noinline)) void bound_wait(Lv1Slot *slot, uint32_t thr)
{
	if (g_fail_open.load()) return;
	while (thr && slot->inflight >= thr) {
		if (slot->events.empty()) {
			/* batch > what is pending: mark the tail now so there is something to wait for */
			hipEvent_t e = event_get();
			if (!e || aux_event_record(e, slot->handle) != hipSuccess) {
				if (e) event_put(e);
				slot->inflight = 0; /* cannot bound this stream: count afresh */
				break;
			}
			slot->events.emplace_back(e, slot->since_event);
			slot->since_event = 0;
		}
		auto oldest = slot->events.front();
		if (aux_event_query(oldest.first) != hipSuccess) {
			g_ctrl->lv1_waits.fetch_add(1, std::memory_order_relaxed);
			aux_event_sync(oldest.first);
		}
		slot->events.pop_front();
		slot->inflight = slot->inflight > oldest.second ? slot->inflight - oldest.second : 0;
		event_put(oldest.first);
	}
}

/* Takes the slot lock (released by lv1_done) once the gate is open and the stream has room.
 * Common case: gate open, the thread's cached slot, room in the stream: loads and the lock. */
Lv1Ticket lv1_admit(int spt, hipStream_t s)
{
	Lv1Slot *slot = slot_for(spt, s);
	uint32_t thr, batch;
	for (;;) {
		gate_wait();
		slot->mu.lock();
		if (XSB_UNLIKELY(slot->dead.load())) { /* destroyed under us: a new stream may reuse the handle */
			slot->mu.unlock();
			tl_last_slot = nullptr;
			slot = slot_for(spt, s);
			continue;
		}
		if (gate_closed_now()) { /* closed while this thread waited for the stream */
			slot->mu.unlock();
			continue;
		}
		lv1_limits(&thr, &batch);
		if (XSB_LIKELY(!thr || slot->inflight < thr)) break;
		bound_wait(slot, thr);
		if (gate_closed_now()) { /* closed while this thread waited for the oldest batch */
			slot->mu.unlock();
			continue;
		}
		break;
	}
	return Lv1Ticket{slot, thr, batch};
}

/* A batch is complete: an event marks its end (slot lock held). */
static __attribute__((noinline)) void batch_event(Lv1Slot *slot)
{
	hipEvent_t e = event_get();
	if (e && aux_event_record(e, slot->handle) == hipSuccess) {
		slot->events.emplace_back(e, slot->since_event);
		slot->since_event = 0;
	} else if (e) {
		event_put(e);
	}
}

void lv1_done(const Lv1Ticket &t, bool ok)
{
	Lv1Slot *slot = t.slot;
	if (ok) {
		slot->inflight++;
		slot->since_event++;
		if (t.thr && slot->since_event >= t.batch) batch_event(slot);
	}
	slot->mu.unlock();
}

void lv1_stream_destroyed(hipStream_t s)
{
	if (!s || s == hipStreamLegacy || s == hipStreamPerThread) return;
	Lv1Slot *slot = nullptr;
	pthread_mutex_lock(&g_map_mu);
	if (g_map) {
		auto it = g_map->find(s);
		if (it != g_map->end()) {
			slot = it->second;
			g_map->erase(it);
		}
	}
	pthread_mutex_unlock(&g_map_mu);
	if (tl_last_handle == s) tl_last_slot = nullptr;
	if (!slot) return;
	slot->mu.lock();
	slot->dead.store(true); /* other threads' caches see it and look again; the slot is never freed */
	for (auto &e : slot->events) aux_event_destroy(e.first);
	slot->events.clear();
	slot->inflight = slot->since_event = 0;
	slot->mu.unlock();
}

void lv1_child_reset()
{
	/* the parent's events and streams belong to the parent's runtime instance */
	pthread_mutex_init(&g_map_mu, nullptr);
	pthread_mutex_init(&g_pool_mu, nullptr);
	g_map = nullptr;
	g_null_slot.store(nullptr);
	g_event_pool = nullptr;
	tl_spt_slot = nullptr;
	tl_last_slot = nullptr;
	tl_last_handle = nullptr;
}

} // namespace xsb
