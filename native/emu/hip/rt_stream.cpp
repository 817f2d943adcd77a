/*
 * rt_stream.cpp - streams and events.
 *
 * A stream is a software queue on a shared hardware queue (in order: every packet carries the
 * barrier bit), so "everything before X on this stream is done" = "a marker packet submitted
 * after X completed". Synchronisation enqueues a BARRIER_AND marker with a completion signal
 * when work was submitted since the last one, as ROCclr does.
 */
#include "rt.h"

#include <cstring>

namespace xsbhip {

namespace {
thread_local Stream *tl_spt = nullptr;

hipError_t ensure_queue(Stream *s, PrioClass cls)
{
	std::lock_guard<std::mutex> lk(g_rt.mu);
	if (s->q) return hipSuccess;
	int err = 0;
	s->q = acquire_pool_queue(cls, &err);
	return s->q ? hipSuccess : hipErrorOutOfMemory;
}

hipError_t create_stream(hipStream_t *out, unsigned flags, int priority, const uint32_t *cu_mask, uint32_t cu_words)
{
	if (!out) return hipErrorInvalidValue;
	if (flags & ~hipStreamNonBlocking) return hipErrorInvalidValue;
	Stream *s = new Stream;
	s->flags = flags;
	s->priority = priority < -1 ? -1 : priority > 1 ? 1 : priority;
	std::lock_guard<std::mutex> lk(g_rt.mu);
	int err = 0;
	if (cu_mask) {
		s->q = create_hw_queue(PRIO_NORMAL, XSB_EMU_RING_PACKETS * 64u, cu_mask, cu_words, &err);
		if (s->q) {
			s->q->dedicated = true;
			s->q->refs = 1;
			g_rt.dedicated.push_back(s->q);
		}
	} else {
		s->q = acquire_pool_queue(prio_class_of(s->priority), &err);
	}
	if (!s->q) {
		delete s;
		return hipErrorOutOfMemory;
	}
	g_rt.streams.insert(s);
	*out = reinterpret_cast<hipStream_t>(s);
	return hipSuccess;
}

Event *resolve_event(hipEvent_t e)
{
	Event *ev = reinterpret_cast<Event *>(e);
	std::lock_guard<std::mutex> lk(g_rt.mu);
	return g_rt.events.count(ev) ? ev : nullptr;
}
} // namespace

PrioClass prio_class_of(int p) { return p < 0 ? PRIO_HIGH : p > 0 ? PRIO_LOW : PRIO_NORMAL; }

hipError_t resolve_stream(hipStream_t h, Stream **out)
{
	if (h == nullptr || h == hipStreamLegacy) {
		*out = &g_rt.null_stream;
		return ensure_queue(&g_rt.null_stream, PRIO_NORMAL);
	}
	if (h == hipStreamPerThread) {
		if (!tl_spt) {
			Stream *s = new Stream;
			s->is_spt = true;
			hipError_t e = ensure_queue(s, PRIO_NORMAL);
			if (e != hipSuccess) {
				delete s;
				return e;
			}
			std::lock_guard<std::mutex> lk(g_rt.mu);
			g_rt.streams.insert(s);
			tl_spt = s;
		}
		*out = tl_spt;
		return hipSuccess;
	}
	Stream *s = reinterpret_cast<Stream *>(h);
	std::lock_guard<std::mutex> lk(g_rt.mu);
	if (!g_rt.streams.count(s) || !s->q) return hipErrorInvalidHandle;
	*out = s;
	return hipSuccess;
}

void stream_submit(Stream *s, const PacketDesc &d)
{
	std::lock_guard<std::mutex> lk(s->mu);
	submit_packet(s->q, d);
	s->pending = true;
}

hipError_t stream_marker(Stream *s, SignalRef *out)
{
	int err = 0;
	SignalRef sig = alloc_signal(&err);
	if (!sig) return hipErrorOutOfMemory;
	PacketDesc d;
	d.type = XSB_AQL_TYPE_BARRIER_AND;
	d.signal = sig.get();
	std::lock_guard<std::mutex> lk(s->mu);
	if (!s->q) return hipErrorInvalidHandle; /* destroyed meanwhile by another thread */
	submit_packet(s->q, d);
	s->last_marker = sig;
	s->pending = false;
	*out = sig;
	return hipSuccess;
}

/* The signal that completes once everything submitted so far on s has (null: nothing pending). */
static hipError_t stream_tail(Stream *s, SignalRef *out)
{
	{
		std::lock_guard<std::mutex> lk(s->mu);
		if (!s->pending) {
			*out = s->last_marker;
			return hipSuccess;
		}
	}
	return stream_marker(s, out);
}

} // namespace xsbhip

using namespace xsbhip;

extern "C" {

hipError_t hipStreamCreate(hipStream_t *s)
{
	XSB_INIT_OR_RET();
	XSB_RET(create_stream(s, 0, 0, nullptr, 0));
}

hipError_t hipStreamCreateWithFlags(hipStream_t *s, unsigned int flags)
{
	XSB_INIT_OR_RET();
	XSB_RET(create_stream(s, flags, 0, nullptr, 0));
}

hipError_t hipStreamCreateWithPriority(hipStream_t *s, unsigned int flags, int priority)
{
	XSB_INIT_OR_RET();
	XSB_RET(create_stream(s, flags, priority, nullptr, 0));
}

hipError_t hipExtStreamCreateWithCUMask(hipStream_t *s, uint32_t cuMaskSize, const uint32_t *cuMask)
{
	XSB_INIT_OR_RET();
	if (!cuMask || cuMaskSize == 0) XSB_RET(hipErrorInvalidValue);
	XSB_RET(create_stream(s, 0, 0, cuMask, cuMaskSize));
}

hipError_t hipStreamDestroy(hipStream_t h)
{
	XSB_INIT_OR_RET();
	if (h == nullptr || h == hipStreamLegacy || h == hipStreamPerThread) XSB_RET(hipErrorInvalidHandle);
	Stream *s;
	hipError_t e = resolve_stream(h, &s);
	if (e != hipSuccess) XSB_RET(e);
	if (s->is_spt) XSB_RET(hipErrorInvalidHandle);
	/* clr drains the stream before releasing its hardware queue */
	SignalRef tail;
	if (stream_tail(s, &tail) == hipSuccess && tail) signal_wait(*tail);
	{
		std::lock_guard<std::mutex> lk(g_rt.mu);
		if (!g_rt.streams.erase(s)) XSB_RET(hipErrorInvalidHandle);
		{
			std::lock_guard<std::mutex> sl(s->mu);
			release_queue(s->q);
			s->q = nullptr;
		}
		if (s->pins > 0) {
			s->destroyed = true; /* hipDeviceSynchronize still walks it: it deletes */
			return hipSuccess;
		}
	}
	delete s;
	return hipSuccess;
}

hipError_t hipStreamSynchronize(hipStream_t h)
{
	XSB_INIT_OR_RET();
	Stream *s;
	hipError_t e = resolve_stream(h, &s);
	if (e != hipSuccess) XSB_RET(e);
	SignalRef tail;
	e = stream_tail(s, &tail);
	if (e != hipSuccess) XSB_RET(e);
	if (tail) signal_wait(*tail);
	return hipSuccess;
}

hipError_t hipStreamQuery(hipStream_t h)
{
	XSB_INIT_OR_RET();
	Stream *s;
	hipError_t e = resolve_stream(h, &s);
	if (e != hipSuccess) XSB_RET(e);
	SignalRef tail;
	e = stream_tail(s, &tail);
	if (e != hipSuccess) XSB_RET(e);
	return !tail || signal_done(*tail) ? hipSuccess : hipErrorNotReady;
}

hipError_t hipStreamWaitEvent(hipStream_t h, hipEvent_t ev, unsigned int flags)
{
	XSB_INIT_OR_RET();
	if (flags != 0) XSB_RET(hipErrorInvalidValue);
	Stream *s;
	hipError_t e = resolve_stream(h, &s);
	if (e != hipSuccess) XSB_RET(e);
	Event *evt = resolve_event(ev);
	if (!evt) XSB_RET(hipErrorInvalidHandle);
	SignalRef sig;
	HwQueue *q;
	{
		std::lock_guard<std::mutex> lk(evt->mu);
		sig = evt->sig;
		q = evt->q;
	}
	/* Same hardware queue: already ordered. Across queues the emulated packet processor has no
	 * dependency signals, so the host waits for the event before later work is enqueued. */
	if (sig && q != s->q) signal_wait(*sig);
	return hipSuccess;
}

hipError_t hipStreamGetPriority(hipStream_t h, int *priority)
{
	XSB_INIT_OR_RET();
	if (!priority) XSB_RET(hipErrorInvalidValue);
	Stream *s;
	hipError_t e = resolve_stream(h, &s);
	if (e != hipSuccess) XSB_RET(e);
	*priority = s->priority;
	return hipSuccess;
}

hipError_t hipStreamGetFlags(hipStream_t h, unsigned int *flags)
{
	XSB_INIT_OR_RET();
	if (!flags) XSB_RET(hipErrorInvalidValue);
	Stream *s;
	hipError_t e = resolve_stream(h, &s);
	if (e != hipSuccess) XSB_RET(e);
	*flags = s->flags;
	return hipSuccess;
}

hipError_t hipDeviceSynchronize(void)
{
	XSB_INIT_OR_RET();
	bool null_stream = false;
	std::vector<Stream *> all;
	{
		std::lock_guard<std::mutex> lk(g_rt.mu);
		null_stream = g_rt.null_stream.q != nullptr;
		for (Stream *s : g_rt.streams) {
			s->pins++;
			all.push_back(s);
		}
	}
	/* Through the exported symbol, as clr's own API re-entry does. A stream destroyed by
	 * another thread meanwhile answers hipErrorInvalidHandle and is skipped. */
	hipError_t err = null_stream ? hipStreamSynchronize(nullptr) : hipSuccess;
	if (err == hipErrorInvalidHandle) err = hipSuccess;
	for (Stream *s : all) {
		if (err == hipSuccess) {
			hipError_t e = hipStreamSynchronize(reinterpret_cast<hipStream_t>(s));
			if (e != hipSuccess && e != hipErrorInvalidHandle) err = e;
		}
		bool last;
		{
			std::lock_guard<std::mutex> lk(g_rt.mu);
			last = --s->pins == 0 && s->destroyed;
		}
		if (last) delete s;
	}
	if (err != hipSuccess) XSB_RET(err);
	return hipSuccess;
}

hipError_t hipEventCreateWithFlags(hipEvent_t *e, unsigned int flags)
{
	XSB_INIT_OR_RET();
	if (!e) XSB_RET(hipErrorInvalidValue);
	if (flags & ~(hipEventBlockingSync | hipEventDisableTiming | hipEventInterprocess | 0xC0000000u))
		XSB_RET(hipErrorInvalidValue);
	Event *ev = new Event;
	ev->flags = flags;
	std::lock_guard<std::mutex> lk(g_rt.mu);
	g_rt.events.insert(ev);
	*e = reinterpret_cast<hipEvent_t>(ev);
	return hipSuccess;
}

hipError_t hipEventCreate(hipEvent_t *e) { return hipEventCreateWithFlags(e, 0); }

hipError_t hipEventRecord(hipEvent_t ev, hipStream_t h)
{
	XSB_INIT_OR_RET();
	Event *evt = resolve_event(ev);
	if (!evt) XSB_RET(hipErrorInvalidHandle);
	Stream *s;
	hipError_t e = resolve_stream(h, &s);
	if (e != hipSuccess) XSB_RET(e);
	SignalRef sig;
	e = stream_marker(s, &sig);
	if (e != hipSuccess) XSB_RET(e);
	std::lock_guard<std::mutex> lk(evt->mu);
	evt->sig = sig;
	evt->q = s->q;
	return hipSuccess;
}

hipError_t hipEventSynchronize(hipEvent_t ev)
{
	XSB_INIT_OR_RET();
	Event *evt = resolve_event(ev);
	if (!evt) XSB_RET(hipErrorInvalidHandle);
	SignalRef sig;
	{
		std::lock_guard<std::mutex> lk(evt->mu);
		sig = evt->sig;
	}
	if (sig) signal_wait(*sig);
	return hipSuccess;
}

hipError_t hipEventQuery(hipEvent_t ev)
{
	XSB_INIT_OR_RET();
	Event *evt = resolve_event(ev);
	if (!evt) XSB_RET(hipErrorInvalidHandle);
	std::lock_guard<std::mutex> lk(evt->mu);
	return !evt->sig || signal_done(*evt->sig) ? hipSuccess : hipErrorNotReady;
}

hipError_t hipEventElapsedTime(float *ms, hipEvent_t start, hipEvent_t stop)
{
	XSB_INIT_OR_RET();
	if (!ms) XSB_RET(hipErrorInvalidValue);
	Event *a = resolve_event(start), *b = resolve_event(stop);
	if (!a || !b) XSB_RET(hipErrorInvalidHandle);
	if ((a->flags | b->flags) & hipEventDisableTiming) XSB_RET(hipErrorInvalidHandle);
	SignalRef sa, sb;
	{
		std::lock_guard<std::mutex> lk(a->mu);
		sa = a->sig;
	}
	{
		std::lock_guard<std::mutex> lk(b->mu);
		sb = b->sig;
	}
	if (!sa || !sb) XSB_RET(hipErrorInvalidHandle);
	if (!signal_done(*sa) || !signal_done(*sb)) XSB_RET(hipErrorNotReady);
	/* model completion timestamps written by the device (profiling) */
	double d = (double)(int64_t)(sb->sig->end_ns - sa->sig->end_ns);
	*ms = (float)(d / 1e6);
	return hipSuccess;
}

hipError_t hipEventDestroy(hipEvent_t ev)
{
	XSB_INIT_OR_RET();
	Event *evt = reinterpret_cast<Event *>(ev);
	{
		std::lock_guard<std::mutex> lk(g_rt.mu);
		if (!g_rt.events.erase(evt)) XSB_RET(hipErrorInvalidHandle);
	}
	delete evt;
	return hipSuccess;
}

} // extern "C"
