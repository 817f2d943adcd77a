/* AMD_LOG_LEVEL (ROCclr) log parser: hardware queue creation, sharing and release, joined by
 * ring base (HWq). Messages from clr rocdevice.cpp (acquireQueue / releaseQueue /
 * ~VirtualGPU) as seen in shared/fixtures; lines may carry "[pid:N tid: 0x..]" prefixes and
 * ANSI colour escapes. */
#include "parse_line.h"

#define MAX_TIDS 16
#define MAX_PENDING 16

struct pending {
	uint64_t tid;
	int active;            /* inside hipStreamCreate* or hipStreamDestroy */
	int destroy;
	uint64_t stream;       /* destroy: the stream being destroyed */
	uint32_t n;
	uint32_t qidx[MAX_PENDING];  /* queue indexes awaiting the stream handle */
	uint32_t eidx[MAX_PENDING];  /* event indexes (UINT32_MAX when not stored) */
};

struct lg_state {
	struct xsb_log_queue *q;
	uint32_t qcap, nq;
	struct xsb_log_event *ev;
	uint32_t ecap, ne;
	struct pending p[MAX_TIDS];
};

static struct pending *pend_for(struct lg_state *st, uint64_t tid)
{
	for (int i = 0; i < MAX_TIDS; i++)
		if (st->p[i].active && st->p[i].tid == tid)
			return &st->p[i];
	return NULL;
}

static struct pending *pend_new(struct lg_state *st, uint64_t tid)
{
	struct pending *p = pend_for(st, tid);
	if (!p) {
		for (int i = 0; i < MAX_TIDS && !p; i++)
			if (!st->p[i].active)
				p = &st->p[i];
		if (!p)
			p = &st->p[tid % MAX_TIDS]; /* more concurrent threads than tracked: reuse */
	}
	memset(p, 0, sizeof(*p));
	p->tid = tid;
	p->active = 1;
	return p;
}

static void add_stream(struct xsb_log_queue *q, uint64_t s)
{
	if (!s)
		return;
	uint32_t stored = q->n_streams < XSB_LOG_MAX_STREAMS ? q->n_streams : XSB_LOG_MAX_STREAMS;
	for (uint32_t i = 0; i < stored; i++)
		if (q->streams[i] == s)
			return;
	if (q->n_streams < XSB_LOG_MAX_STREAMS)
		q->streams[q->n_streams] = s;
	q->n_streams++;
}

/* Index of the queue with ring base hwq, created on first sight; -1 when the array is full. */
static int queue_of(struct lg_state *st, uint64_t hwq)
{
	for (uint32_t i = 0; i < st->nq; i++)
		if (st->q[i].hwq == hwq)
			return (int)i;
	if (st->nq >= st->qcap)
		return -1;
	struct xsb_log_queue *q = &st->q[st->nq];
	memset(q, 0, sizeof(*q));
	q->hwq = hwq;
	q->priority = -1;
	q->max_refcount = -1;
	q->last_refcount = -1;
	return (int)st->nq++;
}

static int record(struct lg_state *st, struct xsb_parse_error *err, uint32_t line, uint64_t tid,
                  uint32_t kind, uint64_t hwq, uint64_t swq, int32_t ref, int32_t prio, uint32_t size)
{
	int qi = queue_of(st, hwq);
	if (qi < 0) {
		if (err) {
			err->line = line;
			err->err = ENOSPC;
			snprintf(err->msg, sizeof(err->msg), "line %u: more than %u hardware queues; call "
			         "again with a larger queue array", line, st->qcap);
		}
		return -ENOSPC;
	}
	struct xsb_log_queue *q = &st->q[qi];
	switch (kind) {
	case XSB_LOG_EV_CREATED:
		q->swq = swq;
		q->size = size;
		q->priority = prio;
		q->created_line = line;
		break;
	case XSB_LOG_EV_ACQUIRE: q->acquires++; break;
	case XSB_LOG_EV_SELECTED: q->selects++; break;
	case XSB_LOG_EV_RELEASE: q->releases++; break;
	case XSB_LOG_EV_DELETE: q->deleted_line = line; break;
	default: break;
	}
	if (ref >= 0) {
		q->last_refcount = ref;
		if (ref > q->max_refcount)
			q->max_refcount = ref;
	}
	uint32_t ei = UINT32_MAX;
	uint64_t stream = 0;
	struct pending *p = pend_for(st, tid);
	if (p && p->destroy && kind == XSB_LOG_EV_RELEASE) {
		stream = p->stream;
		add_stream(q, stream);
	}
	if (st->ne < st->ecap) {
		ei = st->ne;
		struct xsb_log_event *e = &st->ev[ei];
		memset(e, 0, sizeof(*e));
		e->line = line;
		e->kind = kind;
		e->hwq = hwq;
		e->swq = swq;
		e->stream = stream;
		e->refcount = ref;
		e->priority = prio;
		e->size = size;
	}
	st->ne++;
	if (p && !p->destroy && kind != XSB_LOG_EV_RELEASE && kind != XSB_LOG_EV_DELETE &&
	    p->n < MAX_PENDING) {
		p->qidx[p->n] = (uint32_t)qi;
		p->eidx[p->n] = ei;
		p->n++;
	}
	return 0;
}

/* "0x<hex> (<dec>)" */
static int ring_ref(const char **s, uint64_t *hwq, int32_t *ref)
{
	uint64_t r;
	const char *p = skip_ws(*s);
	if (take_hex(&p, hwq, 16) || take_lit(&p, " (") || take_dec(&p, &r, INT32_MAX) || *p != ')')
		return -1;
	*ref = (int32_t)r;
	*s = p + 1;
	return 0;
}

static uint64_t line_tid(const char *t)
{
	const char *p = strstr(t, "tid: ");
	uint64_t v = 0;
	if (p) {
		p += 5;
		if (take_hex(&p, &v, 16))
			v = 0;
	}
	return v;
}

/* stream handle after "stream:" in s, 0 when none. */
static uint64_t stream_handle(const char *s)
{
	const char *p = strstr(s, "stream:");
	uint64_t v = 0;
	if (p) {
		p += 7;
		if (take_hex(&p, &v, 16))
			v = 0;
	}
	return v;
}

static int on_line(struct lg_state *st, const char *t, uint32_t line, struct xsb_parse_error *err)
{
	uint64_t tid = line_tid(t);
	const char *m;
	if ((m = strstr(t, "Created SWq="))) {
		const char *p = m + 12;
		uint64_t swq, hwq, size, prio;
		if (take_hex(&p, &swq, 16) || take_lit(&p, " to map on HWq=") || take_hex(&p, &hwq, 16) ||
		    take_lit(&p, " with size ") || take_dec(&p, &size, UINT32_MAX) ||
		    take_lit(&p, " with priority ") || take_dec(&p, &prio, 2) || !at_delim(p, ", "))
			return parse_fail(err, line, "bad queue creation line (expected \"Created SWq=0x.. to "
			                  "map on HWq=0x.. with size <n> with priority <0-2>\")");
		return record(st, err, line, tid, XSB_LOG_EV_CREATED, hwq, swq, -1, (int32_t)prio,
		              (uint32_t)size);
	}
	uint32_t kind = 0;
	if ((m = strstr(t, "acquireQueue refCount:"))) { kind = XSB_LOG_EV_ACQUIRE; m += 22; }
	else if ((m = strstr(t, "Selected queue refCount:"))) { kind = XSB_LOG_EV_SELECTED; m += 24; }
	else if ((m = strstr(t, "releaseQueue refCount:"))) { kind = XSB_LOG_EV_RELEASE; m += 22; }
	if (kind) {
		uint64_t hwq;
		int32_t ref;
		if (ring_ref(&m, &hwq, &ref) || !at_delim(m, " "))
			return parse_fail(err, line, "bad refCount line (expected \"refCount: 0x<ring> (<n>)\")");
		return record(st, err, line, tid, kind, hwq, 0, ref, -1, 0);
	}
	if ((m = strstr(t, "Deleting hardware queue "))) {
		const char *p = m + 24;
		uint64_t hwq, ref;
		if (take_hex(&p, &hwq, 16) || take_lit(&p, " with refCount ") || take_dec(&p, &ref, INT32_MAX) ||
		    !at_delim(p, " "))
			return parse_fail(err, line, "bad queue deletion line (expected \"Deleting hardware "
			                  "queue 0x<ring> with refCount <n>\")");
		return record(st, err, line, tid, XSB_LOG_EV_DELETE, hwq, 0, (int32_t)ref, -1, 0);
	}
	if ((m = strstr(t, "hipStreamCreate"))) {
		const char *p = m + 15;
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
			p++;
		const char *q = skip_ws(p);
		if (*q == '(') {
			(void)pend_new(st, tid);
		} else if (*q == ':') {
			struct pending *pd = pend_for(st, tid);
			uint64_t s = stream_handle(q);
			if (pd && !pd->destroy) {
				for (uint32_t i = 0; i < pd->n; i++) {
					add_stream(&st->q[pd->qidx[i]], s);
					if (pd->eidx[i] != UINT32_MAX)
						st->ev[pd->eidx[i]].stream = s;
				}
				pd->active = 0;
			}
		}
		return 0;
	}
	if ((m = strstr(t, "hipStreamDestroy"))) {
		const char *q = skip_ws(m + 16);
		if (*q == '(') {
			struct pending *pd = pend_new(st, tid);
			pd->destroy = 1;
			pd->stream = stream_handle(q);
		} else if (*q == ':') {
			struct pending *pd = pend_for(st, tid);
			if (pd && pd->destroy)
				pd->active = 0;
		}
		return 0;
	}
	return 0;
}

int xsb_parse_amdlog(const char *buf, size_t len, struct xsb_log_queue *queues, uint32_t qcap,
                     struct xsb_log_event *events, uint32_t ecap, uint32_t *n_events,
                     struct xsb_parse_error *err)
{
	struct line_iter it;
	struct lg_state st;
	if (err)
		memset(err, 0, sizeof(*err));
	if (n_events)
		*n_events = 0;
	memset(&st, 0, sizeof(st));
	st.q = queues;
	st.qcap = queues ? qcap : 0;
	st.ev = events;
	st.ecap = events ? ecap : 0;
	line_iter_init(&it, buf, len);
	while (line_next(&it)) {
		int r = on_line(&st, it.text, it.lineno, err);
		if (r < 0)
			return r;
	}
	if (n_events)
		*n_events = st.ne;
	return (int)st.nq;
}
