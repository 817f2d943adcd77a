/*
 * The device model, in real time (CLOCK_MONOTONIC ns).
 *
 * Events are processed at their modelled timestamps, in order, whenever the thread wakes
 * (timer, doorbell, RPC); a late wake-up never shifts model time, it only shows up as
 * lateness in the stats.
 *
 * - Each ring bound to a mapped KFD queue executes its packets in order (barrier
 *   semantics). A dispatch costs launch_ns, then its workgroups occupy one CU each for the
 *   kernel's duration. Workgroups are kept as batches (count, end time).
 * - Free CUs go to the highest pipe priority class first (KFD priority 0-6 low, 7-10
 *   medium, 11-15 high), shared evenly within a class (remainder round-robin). Running
 *   workgroups are never evicted by priority (arbitration only, KFD-FACTS).
 * - HWS runlist transitions (execute_queues_cpsch: suspend, resume, (de)activate, debug
 *   disable, exit of a busy process) are serialised device-wide. At t0 every running batch
 *   of every process stops: batches ending inside the grace window finish normally, the
 *   rest are CWSR-saved with their remaining time. Cost = max(runlist_unmap_ns, grace
 *   finish) + save + runlist_remap_ns + restore, where save/restore move
 *   cwsr_bytes_full_queue x (occupied CUs / num_cus) per queue at cwsr_bytes_per_s.
 *   Nothing progresses during a transition; afterwards saved workgroups of mapped queues
 *   compete for CUs again with their remaining time, those of held queues stay saved.
 *   (unmap_queues_cpsch/map_queues_cpsch in kfd_device_queue_manager.c: the unmap is
 *   skipped when no queue was mapped, the map when none is.)
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "device.h"

#define RING_MASK (XSB_EMU_RING_PACKETS - 1u)

static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static void futex_wake_all(XSB_ATOMIC(uint32_t) *addr)
{
	/* Shared (not PRIVATE): waiters are other processes mapping the memfd. */
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static unsigned prio_class(uint32_t prio)
{
	return prio >= 11 ? 0 : prio >= 7 ? 1 : 2; /* 0 high, 1 medium, 2 low */
}

bool model_in_transition(void)
{
	return dev.tr_active != NULL;
}

uint64_t model_grace_ns(uint32_t grace_period)
{
	/* units of ~1000 GPU clocks; 0 is treated as 1 (KFD-FACTS) */
	uint64_t units = grace_period ? grace_period : 1;
	return units * 1000000ull / (dev.prof.gpu_clock_mhz ? dev.prof.gpu_clock_mhz : 1);
}

static struct kqueue *ring_queue(unsigned slot)
{
	int qi = dev.drings[slot].queue;
	return qi == NO_QUEUE ? NULL : &dev.queues[qi];
}

/* A ring may start packets and workgroups: bound, its queue in the runlist, no transition. */
static bool ring_runs(unsigned slot)
{
	struct kqueue *q = ring_queue(slot);
	return q && q->mapped && !dev.tr_active;
}

static void busy_add(int32_t delta, uint64_t t)
{
	uint32_t before = dev.busy_cus;
	dev.busy_cus = (uint32_t)((int32_t)dev.busy_cus + delta);
	if (!before && dev.busy_cus) {
		dev.busy_since = t;
	} else if (before && !dev.busy_cus) {
		shm_stats_begin();
		dev.shm->stats.busy_ns += t - dev.busy_since;
		shm_stats_end();
	}
}

static uint32_t waiting_wgs(const struct dispatch *d)
{
	uint64_t w = d->wg_unstarted;
	for (unsigned i = 0; i < d->n_saved; i++)
		w += d->saved[i].count;
	return w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
}

static uint32_t saved_wgs(const struct dispatch *d)
{
	uint64_t w = 0;
	for (unsigned i = 0; i < d->n_saved; i++)
		w += d->saved[i].count;
	return (uint32_t)w;
}

static void saved_add(struct dispatch *d, uint32_t count, uint64_t remaining)
{
	for (unsigned i = 0; i < d->n_saved; i++)
		if (d->saved[i].remaining_ns == remaining) {
			d->saved[i].count += count;
			return;
		}
	if (d->n_saved == d->cap_saved) {
		unsigned cap = d->cap_saved ? d->cap_saved * 2 : 4;
		struct wg_saved *n = realloc(d->saved, cap * sizeof(*n));
		if (!n) { /* keep the work: fold it into the first entry rather than lose it */
			if (d->n_saved)
				d->saved[0].count += count;
			return;
		}
		d->saved = n;
		d->cap_saved = cap;
	}
	d->saved[d->n_saved].count = count;
	d->saved[d->n_saved].remaining_ns = remaining;
	d->n_saved++;
}

static int batch_add(uint32_t slot, uint32_t count, uint64_t end)
{
	if (dev.n_batches == dev.cap_batches) {
		unsigned cap = dev.cap_batches ? dev.cap_batches * 2 : 64;
		struct batch *n = realloc(dev.batches, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		dev.batches = n;
		dev.cap_batches = cap;
	}
	dev.batches[dev.n_batches++] = (struct batch){ .ring = slot, .count = count, .end_ns = end };
	return 0;
}

static void batch_remove(unsigned i)
{
	dev.batches[i] = dev.batches[--dev.n_batches];
}

static void dispatch_free(struct dispatch *d)
{
	if (d) {
		free(d->saved);
		free(d);
	}
}

/* ---- packets ---- */

static struct xsb_emu_packet *visible_packet(unsigned slot, uint64_t idx)
{
	struct xsb_emu_ring *r = &dev.rings[slot];
	uint64_t db = atomic_load_explicit(&r->doorbell, memory_order_acquire);
	if (idx > db)
		return NULL;
	struct xsb_emu_packet *p = &r->packets[idx & RING_MASK];
	uint16_t h = atomic_load_explicit(&p->header, memory_order_acquire);
	if ((h & XSB_AQL_TYPE_MASK) == XSB_AQL_TYPE_INVALID)
		return NULL;
	return p;
}

/* Model time a ring's next packet arrives, or UINT64_MAX when none is visible. */
static uint64_t arrival_time(unsigned slot, uint64_t wall)
{
	struct dring *dr = &dev.drings[slot];
	struct xsb_emu_packet *p = visible_packet(slot, dr->next);
	if (!p)
		return UINT64_MAX;
	uint64_t submit = p->submit_ns;
	if (submit == 0 || submit > wall) {
		/* The host did not stamp it (or stamped nonsense): use when we first saw it. */
		if (dr->seen_index != dr->next + 1) {
			dr->seen_index = dr->next + 1;
			dr->seen_wall = wall;
		}
		submit = dr->seen_wall;
	}
	return max64(max64(submit, dr->idle_since), dev.model_now);
}

static uint64_t wg_count(const struct xsb_emu_packet *p)
{
	uint64_t g[3] = { p->grid_size_x, p->grid_size_y, p->grid_size_z };
	uint64_t w[3] = { p->workgroup_size_x, p->workgroup_size_y, p->workgroup_size_z };
	uint64_t n = 1;
	for (int i = 0; i < 3; i++) {
		uint64_t gi = g[i] ? g[i] : 1, wi = w[i] ? w[i] : 1;
		n *= (gi + wi - 1) / wi;
		if (n > UINT32_MAX)
			return UINT32_MAX;
	}
	return n;
}

static void complete_dispatch(unsigned slot, uint64_t t);

static void start_packet(unsigned slot, uint64_t t)
{
	struct dring *dr = &dev.drings[slot];
	struct xsb_emu_ring *r = &dev.rings[slot];
	struct xsb_emu_packet *p = &r->packets[dr->next & RING_MASK];
	uint16_t h = atomic_load_explicit(&p->header, memory_order_acquire);
	struct dispatch *d = calloc(1, sizeof(*d));
	if (!d)
		return; /* retried on the next event */
	d->index = dr->next;
	d->signal = p->completion_signal;
	d->start_ns = t;
	d->launch_ready = t;
	r->dispatched++;
	dr->cur = d;
	if ((h & XSB_AQL_TYPE_MASK) == XSB_AQL_TYPE_KERNEL_DISPATCH) {
		uint64_t karg0;
		memcpy(&karg0, r->kernarg[d->index & RING_MASK], sizeof(karg0));
		if (p->kernel_object == XSB_EMU_KOBJ_SPIN || p->kernel_object == XSB_EMU_KOBJ_COPY)
			d->dur_ns = karg0;
		else
			d->dur_ns = dev.prof.default_kernel_ns;
		/* a copy (blit) is a single workgroup */
		d->wg_unstarted = p->kernel_object == XSB_EMU_KOBJ_COPY ? 1u : (uint32_t)wg_count(p);
		d->launch_ready = t + dev.prof.launch_ns;
	} else {
		/* BARRIER_AND and anything else: a zero-duration marker, completes now. */
		complete_dispatch(slot, t);
	}
}

static void complete_dispatch(unsigned slot, uint64_t t)
{
	struct dring *dr = &dev.drings[slot];
	struct xsb_emu_ring *r = &dev.rings[slot];
	struct dispatch *d = dr->cur;
	atomic_store_explicit(&r->packets[d->index & RING_MASK].header,
			      (uint16_t)XSB_AQL_TYPE_INVALID, memory_order_release);
	r->completed++;
	dr->next = d->index + 1;
	atomic_store_explicit(&r->read_index, dr->next, memory_order_release);
	atomic_fetch_add_explicit(&r->read_futex, 1, memory_order_release);
	futex_wake_all(&r->read_futex);
	/* the signal last: a waiter that sees it sees the ring and the stats already updated */
	uint64_t now = wall_ns();
	shm_record_lateness(now > t ? now - t : 0);
	if (d->signal && d->signal <= XSB_EMU_MAX_SIGNALS && dev.sig_owner[d->signal - 1]) {
		struct xsb_emu_signal *s = &dev.signals[d->signal - 1];
		s->start_ns = d->start_ns;
		s->end_ns = t;
		atomic_fetch_sub_explicit(&s->value, 1, memory_order_release);
		atomic_fetch_add_explicit(&s->futex, 1, memory_order_release);
		futex_wake_all(&s->futex);
	}
	dispatch_free(d);
	dr->cur = NULL;
	dr->idle_since = t;
}

/* ---- compute units ---- */

static uint32_t want(unsigned slot)
{
	struct dispatch *d = dev.drings[slot].cur;
	struct kqueue *q = ring_queue(slot);
	uint32_t w = waiting_wgs(d);
	uint32_t head = q->cu_limit > d->running ? q->cu_limit - d->running : 0;
	return w < head ? w : head;
}

static void start_wgs(unsigned slot, uint32_t n, uint64_t t)
{
	struct dispatch *d = dev.drings[slot].cur;
	uint32_t started = 0;
	while (n && d->n_saved) {
		struct wg_saved *e = &d->saved[d->n_saved - 1];
		uint32_t k = e->count < n ? e->count : n;
		if (batch_add(slot, k, t + e->remaining_ns))
			break;
		e->count -= k;
		n -= k;
		started += k;
		if (!e->count)
			d->n_saved--;
	}
	if (n && d->wg_unstarted) {
		uint32_t k = d->wg_unstarted < n ? d->wg_unstarted : n;
		if (!batch_add(slot, k, t + d->dur_ns)) {
			d->wg_unstarted -= k;
			started += k;
		}
	}
	d->running += started;
	busy_add((int32_t)started, t);
}

static void arbitrate(uint64_t t)
{
	static unsigned cands[XSB_EMU_MAX_RINGS];
	uint32_t free_cus = dev.prof.num_cus > dev.busy_cus ? dev.prof.num_cus - dev.busy_cus : 0;
	for (unsigned cls = 0; cls < 3 && free_cus; cls++) {
		unsigned n = 0;
		for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++) {
			struct dispatch *d = dev.drings[s].cur;
			if (!d || !ring_runs(s) || d->launch_ready > t)
				continue;
			if (prio_class(ring_queue(s)->priority) != cls || !want(s))
				continue;
			cands[n++] = s;
		}
		if (!n)
			continue;
		unsigned rot = dev.rr[cls]++ % n;
		while (free_cus && n) {
			uint32_t share = free_cus / n, rem = free_cus % n;
			bool progressed = false;
			for (unsigned i = 0; i < n && free_cus; i++) {
				unsigned s = cands[(rot + i) % n];
				uint32_t give = share + (i < rem ? 1u : 0u), w = want(s);
				if (give > w)
					give = w;
				if (give > free_cus)
					give = free_cus;
				if (!give)
					continue;
				start_wgs(s, give, t);
				free_cus -= give;
				progressed = true;
			}
			unsigned m = 0;
			for (unsigned i = 0; i < n; i++)
				if (want(cands[i]))
					cands[m++] = cands[i];
			n = m;
			rot = 0;
			if (!progressed)
				break;
		}
	}
}

/* ---- transitions ---- */

static bool any_mapped(void)
{
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++)
		if (dev.queues[i].used && dev.queues[i].mapped)
			return true;
	return false;
}

static uint64_t cwsr_ns(uint64_t cus)
{
	double bytes = (double)dev.prof.cwsr_bytes_full_queue * (double)cus / (double)dev.prof.num_cus;
	return (uint64_t)(bytes / dev.prof.cwsr_bytes_per_s * 1e9 + 0.5);
}

static void transition_start(struct transition *tr, uint64_t t)
{
	static uint32_t occupied[XSB_EMU_MAX_KFD_QUEUES];
	memset(occupied, 0, sizeof(occupied));
	dev.tr_active = tr;
	bool mapped_before = any_mapped();
	uint64_t grace_end = t;
	for (unsigned i = 0; i < dev.n_batches;) {
		struct batch *b = &dev.batches[i];
		uint64_t remaining = b->end_ns > t ? b->end_ns - t : 0;
		if (remaining <= tr->grace_ns) {
			b->grace = true; /* ends normally inside the grace window */
			grace_end = max64(grace_end, b->end_ns);
			i++;
			continue;
		}
		struct dispatch *d = dev.drings[b->ring].cur;
		saved_add(d, b->count, remaining);
		d->running -= b->count;
		int qi = dev.drings[b->ring].queue;
		if (qi != NO_QUEUE)
			occupied[qi] += b->count;
		busy_add(-(int32_t)b->count, t);
		batch_remove(i);
	}
	uint64_t save_cus = 0, restore_cus = 0;
	bool mapped_after = false;
	for (unsigned qi = 0; qi < XSB_EMU_MAX_KFD_QUEUES; qi++) {
		struct kqueue *q = &dev.queues[qi];
		if (!q->used)
			continue;
		save_cus += occupied[qi];
		if (q->mapped) {
			q->mapped = false;
			shm_mirror_queue((int)qi);
		}
		if (kfd_queue_runnable(q)) {
			mapped_after = true;
			if (q->ring_slot != UINT32_MAX && dev.drings[q->ring_slot].cur)
				restore_cus += saved_wgs(dev.drings[q->ring_slot].cur);
		}
	}
	uint64_t unmap = grace_end - t;
	if (mapped_before)
		unmap = max64(unmap, dev.prof.runlist_unmap_ns);
	uint64_t cost = unmap;
	/* each queue's resident state: cwsr_full x occupied/num_cus; summed, so sum CUs first */
	cost += cwsr_ns(min64(save_cus, UINT32_MAX));
	if (mapped_after)
		cost += dev.prof.runlist_remap_ns;
	cost += cwsr_ns(min64(restore_cus, UINT32_MAX));
	dev.tr_end_ns = t + cost;
	xsbe_log("runlist transition (%s) at %llu: unmap %llu save %llu CUs restore %llu CUs, "
		 "cost %llu ns", tr->why, (unsigned long long)t, (unsigned long long)unmap,
		 (unsigned long long)save_cus, (unsigned long long)restore_cus,
		 (unsigned long long)cost);
}

static void transition_finish(uint64_t t)
{
	struct transition *tr = dev.tr_active;
	dev.tr_active = NULL;
	for (unsigned i = 0; i < dev.n_batches; i++)
		dev.batches[i].grace = false;
	for (unsigned qi = 0; qi < XSB_EMU_MAX_KFD_QUEUES; qi++) {
		struct kqueue *q = &dev.queues[qi];
		if (!q->used)
			continue;
		q->mapped = kfd_queue_runnable(q);
		if (q->mapped && q->ring_slot != UINT32_MAX)
			dev.drings[q->ring_slot].idle_since = max64(dev.drings[q->ring_slot].idle_since, t);
		shm_mirror_queue((int)qi);
	}
	shm_stats_begin();
	dev.shm->stats.runlist_transitions++;
	shm_stats_end();
	for (unsigned i = 0; i < tr->n_replies; i++)
		reply_send(&tr->replies[i], 0, false);
	free(tr->replies);
	free(tr);
}

void model_request_transition(const char *why, uint64_t grace_ns, struct pending_reply *r)
{
	struct transition *tr = calloc(1, sizeof(*tr));
	if (!tr) {
		if (r)
			reply_send(r, 0, false); /* cannot model it: answer now rather than hang */
		return;
	}
	tr->why = why;
	tr->grace_ns = grace_ns;
	tr->request_ns = max64(dev.model_now, wall_ns());
	if (r) {
		tr->replies = malloc(sizeof(*r));
		if (tr->replies) {
			tr->replies[0] = *r;
			tr->n_replies = 1;
		} else {
			reply_send(r, 0, false);
		}
		memset(r, 0, sizeof(*r));
	}
	if (dev.tr_tail)
		dev.tr_tail->next = tr;
	else
		dev.tr_head = tr;
	dev.tr_tail = tr;
}

/* Adds a reply to the last queued (or the active) transition; false when there is none. */
bool model_attach_reply(struct pending_reply *r)
{
	struct transition *tr = dev.tr_tail ? dev.tr_tail : dev.tr_active;
	if (!tr)
		return false;
	struct pending_reply *n = realloc(tr->replies, (tr->n_replies + 1) * sizeof(*n));
	if (!n)
		return false;
	tr->replies = n;
	tr->replies[tr->n_replies++] = *r;
	memset(r, 0, sizeof(*r));
	return true;
}

/* ---- queue binding ---- */

void model_queue_mapping_changed(void)
{
	if (dev.tr_active)
		return; /* the transition's end builds the runlist */
	for (unsigned qi = 0; qi < XSB_EMU_MAX_KFD_QUEUES; qi++) {
		struct kqueue *q = &dev.queues[qi];
		if (!q->used)
			continue;
		bool m = kfd_queue_runnable(q);
		if (m != q->mapped) {
			q->mapped = m;
			if (m && q->ring_slot != UINT32_MAX)
				dev.drings[q->ring_slot].idle_since =
					max64(dev.drings[q->ring_slot].idle_since, dev.model_now);
			shm_mirror_queue((int)qi);
		}
	}
}

void model_ring_unbind(uint32_t slot)
{
	if (slot >= XSB_EMU_MAX_RINGS)
		return;
	struct dring *dr = &dev.drings[slot];
	struct xsb_emu_ring *r = &dev.rings[slot];
	for (unsigned i = 0; i < dev.n_batches;) {
		if (dev.batches[i].ring == slot) {
			busy_add(-(int32_t)dev.batches[i].count, dev.model_now);
			batch_remove(i);
		} else {
			i++;
		}
	}
	dispatch_free(dr->cur);
	dr->cur = NULL;
	/* Pending packets of a destroyed queue are dropped, their signals never complete
	 * (as on hardware). Make the slots reusable and let a host waiting for space go on. */
	uint64_t w = atomic_load_explicit(&r->write_index, memory_order_acquire);
	uint64_t from = dr->next;
	if (w > from) {
		uint64_t n = w - from > XSB_EMU_RING_PACKETS ? XSB_EMU_RING_PACKETS : w - from;
		for (uint64_t i = 0; i < n; i++)
			atomic_store_explicit(&r->packets[(from + i) & RING_MASK].header,
					      (uint16_t)XSB_AQL_TYPE_INVALID, memory_order_release);
		dr->next = w;
		atomic_store_explicit(&r->read_index, w, memory_order_release);
		atomic_fetch_add_explicit(&r->read_futex, 1, memory_order_release);
		futex_wake_all(&r->read_futex);
	}
	dr->queue = NO_QUEUE;
}

/* ---- event loop ---- */

static uint64_t next_event(uint64_t wall)
{
	uint64_t t = UINT64_MAX;
	for (unsigned i = 0; i < dev.n_batches; i++)
		t = min64(t, dev.batches[i].end_ns);
	if (dev.tr_active)
		return min64(t, dev.tr_end_ns);
	if (dev.tr_head)
		t = min64(t, max64(dev.tr_head->request_ns, dev.model_now));
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++) {
		if (!ring_runs(s))
			continue;
		struct dispatch *d = dev.drings[s].cur;
		if (!d) {
			t = min64(t, arrival_time(s, wall));
		} else if (d->launch_ready > dev.model_now && waiting_wgs(d) && want(s)) {
			t = min64(t, d->launch_ready);
		}
	}
	return t;
}

static void process_at(uint64_t t, uint64_t wall)
{
	/* 1. workgroups that end now; dispatches whose last workgroup ended complete */
	for (unsigned i = 0; i < dev.n_batches;) {
		struct batch *b = &dev.batches[i];
		if (b->end_ns > t) {
			i++;
			continue;
		}
		unsigned slot = b->ring;
		uint32_t count = b->count;
		batch_remove(i);
		struct dispatch *d = dev.drings[slot].cur;
		busy_add(-(int32_t)count, t);
		if (!d)
			continue;
		d->running -= count;
		if (!d->running && !d->wg_unstarted && !d->n_saved)
			complete_dispatch(slot, t);
	}
	/* 2. runlist transitions */
	if (dev.tr_active && t >= dev.tr_end_ns)
		transition_finish(t);
	if (!dev.tr_active && dev.tr_head && dev.tr_head->request_ns <= t) {
		struct transition *tr = dev.tr_head;
		dev.tr_head = tr->next;
		if (!dev.tr_head)
			dev.tr_tail = NULL;
		tr->next = NULL;
		transition_start(tr, t);
		return;
	}
	if (dev.tr_active)
		return;
	/* 3. packets that arrive now start (markers complete at once, so loop per ring) */
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++) {
		for (unsigned guard = 0; guard < XSB_EMU_RING_PACKETS; guard++) {
			if (!ring_runs(s) || dev.drings[s].cur || arrival_time(s, wall) > t)
				break;
			start_packet(s, t);
		}
	}
	/* 4. free CUs to waiting workgroups */
	arbitrate(t);
}

static void arm_timer(uint64_t t)
{
	if (t == UINT64_MAX) {
		if (dev.armed_ns) {
			struct itimerspec off = { 0 };
			timerfd_settime(dev.timer_fd, TFD_TIMER_ABSTIME, &off, NULL);
			dev.armed_ns = 0;
		}
		return;
	}
	if (t == 0)
		t = 1;
	if (t == dev.armed_ns)
		return;
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)(t / 1000000000ull);
	its.it_value.tv_nsec = (long)(t % 1000000000ull);
	timerfd_settime(dev.timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
	dev.armed_ns = t;
}

static void model_advance(uint64_t wall)
{
	for (unsigned iter = 0;; iter++) {
		uint64_t t = next_event(wall);
		if (t == UINT64_MAX || t > wall)
			break;
		if (t < dev.model_now)
			t = dev.model_now;
		dev.model_now = t;
		process_at(t, wall);
		if (iter > 10000000u) {
			xsbe_err("model: no progress at %llu ns; please report", (unsigned long long)t);
			break;
		}
	}
	if (dev.model_now < wall && !dev.n_batches && !dev.tr_active && !dev.tr_head)
		dev.model_now = wall; /* idle: nothing can happen before now */
}

void model_run(void)
{
	uint64_t wall = wall_ns();
	model_advance(wall);
	arm_timer(next_event(wall));
}

void model_stats_json(void *obj)
{
	cJSON *o = obj;
	cJSON_AddNumberToObject(o, "model_now_ns", (double)dev.model_now);
	cJSON_AddNumberToObject(o, "busy_cus", dev.busy_cus);
	cJSON_AddNumberToObject(o, "running_batches", dev.n_batches);
	cJSON_AddBoolToObject(o, "in_transition", dev.tr_active != NULL);
	unsigned pending = 0;
	for (struct transition *t = dev.tr_head; t; t = t->next)
		pending++;
	cJSON_AddNumberToObject(o, "pending_transitions", pending);
}
