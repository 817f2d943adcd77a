/* debugfs kfd/mqds parser. Format (amdkfd kfd_process_queue_manager.c pqm_debugfs_mqds):
 *   Process <pid> PASID <n>:
 *     Compute queue on device <gpu_id %x>      (or "SDMA queue on device <gpu_id>")
 *       <offset %08x>: <8 words %08x>         one seq_hex_dump per XCC, offsets restart at 0
 * Fields come from struct v9_mqd (linux drivers/gpu/drm/amd/include/v9_structs.h); the ring
 * base is stored >> 8 (kfd_mqd_manager_v9.c: m->cp_hqd_pq_base_lo = lower_32_bits(addr >> 8)). */
#include "parse_line.h"

/* struct v9_sdma_mqd: sdmax_rlcx_rb_base dword 1, _hi dword 2 (also stored >> 8). */
#define SDMA_DW_RB_BASE 1u
#define SDMA_DW_RB_BASE_HI 2u

struct mq_state {
	struct xsb_mqd_queue q;   /* the queue being filled */
	int open;                 /* a queue header was seen */
	uint32_t block_bytes;     /* bytes of the current block */
	int in_block;
	uint32_t last_dump_line;
	uint32_t lo, hi;          /* pq base words of the current block */
	uint32_t sdma_bytes;      /* expected block size for SDMA queues: first block's */
};

static void take_words(struct mq_state *st, uint64_t off, const uint32_t *w, int n)
{
	uint32_t x = st->q.n_xcc;
	struct xsb_mqd_xcc *b = x < XSB_MQD_MAX_XCC ? &st->q.xcc[x] : NULL;
	for (int i = 0; i < n; i++) {
		uint64_t dw = off / 4 + (uint64_t)i;
		if (st->q.kind == XSB_MQD_QUEUE_COMPUTE) {
			if (dw == XSB_V9_MQD_DW_CP_HQD_PQ_BASE_LO) st->lo = w[i];
			else if (dw == XSB_V9_MQD_DW_CP_HQD_PQ_BASE_HI) st->hi = w[i];
			else if (b && dw == XSB_V9_MQD_DW_CP_HQD_ACTIVE) b->active = w[i];
			else if (b && dw == XSB_V9_MQD_DW_CP_HQD_VMID) b->vmid = w[i];
			else if (b && dw == XSB_V9_MQD_DW_CP_HQD_PIPE_PRIORITY) b->pipe_priority = w[i];
			else if (b && dw == XSB_V9_MQD_DW_CP_HQD_QUEUE_PRIORITY) b->queue_priority = w[i];
		} else {
			if (dw == SDMA_DW_RB_BASE) st->lo = w[i];
			else if (dw == SDMA_DW_RB_BASE_HI) st->hi = w[i];
		}
	}
}

/* Closes the current block; error when it is truncated. */
static int end_block(struct mq_state *st, struct xsb_parse_error *err)
{
	if (!st->in_block)
		return 0;
	st->in_block = 0;
	uint32_t want = st->q.kind == XSB_MQD_QUEUE_COMPUTE ? XSB_V9_MQD_BYTES : st->sdma_bytes;
	if (want == 0) {
		st->sdma_bytes = want = st->block_bytes;
	}
	if (st->block_bytes != want)
		return parse_fail(err, st->last_dump_line,
		                  "truncated MQD dump: block %u of the queue at line %u has 0x%x bytes, "
		                  "expected 0x%x", st->q.n_xcc, st->q.line, st->block_bytes, want);
	uint32_t x = st->q.n_xcc;
	if (x < XSB_MQD_MAX_XCC)
		st->q.xcc[x].ring_base = (((uint64_t)st->hi << 32) | st->lo) << 8;
	if (x == 0) {
		st->q.ring_base = (((uint64_t)st->hi << 32) | st->lo) << 8;
		st->q.pipe_priority = st->q.xcc[0].pipe_priority;
		st->q.queue_priority = st->q.xcc[0].queue_priority;
	}
	st->q.n_xcc = x + 1;
	return 0;
}

static int end_queue(struct mq_state *st, struct xsb_mqd_queue *out, uint32_t cap, uint32_t *count,
                     struct xsb_parse_error *err)
{
	if (!st->open)
		return 0;
	int r = end_block(st, err);
	if (r < 0)
		return r;
	if (st->q.n_xcc == 0)
		return parse_fail(err, st->q.line, "queue header without an MQD dump");
	if (st->q.n_xcc > XSB_MQD_MAX_XCC)
		return parse_fail(err, st->q.line, "%u MQD blocks, more than the %u XCCs supported",
		                  st->q.n_xcc, XSB_MQD_MAX_XCC);
	if (*count < cap)
		out[*count] = st->q;
	(*count)++;
	st->open = 0;
	return 0;
}

int xsb_parse_mqds(const char *buf, size_t len, struct xsb_mqd_queue *out, uint32_t cap,
                   struct xsb_parse_error *err)
{
	struct line_iter it;
	struct mq_state st;
	uint32_t count = 0;
	int have_proc = 0, skipping = 0;
	uint32_t pid = 0, pasid = 0;
	if (err)
		memset(err, 0, sizeof(*err));
	if (!out)
		cap = 0;
	memset(&st, 0, sizeof(st));
	line_iter_init(&it, buf, len);
	while (line_next(&it)) {
		const char *t = skip_ws(it.text);
		uint64_t addr;
		uint32_t w[8];
		int n = parse_dump_line(it.text, &addr, w, 8);
		if (n == -2)
			return parse_fail(err, it.lineno, "malformed hex dump line (words must be 8 hex digits, "
			                  "at most 8 per line)");
		if (n >= 0 && skipping)
			continue;
		if (n >= 0) {
			if (!st.open)
				return parse_fail(err, it.lineno, "hex dump outside a queue (no \"Compute queue "
				                  "on device\" header before it)");
			if (n == 0)
				return parse_fail(err, it.lineno, "hex dump line without words");
			if (addr == 0 && st.in_block) {
				int r = end_block(&st, err);
				if (r < 0)
					return r;
			}
			if (!st.in_block) {
				if (addr != 0)
					return parse_fail(err, it.lineno, "MQD dump starts at offset 0x%llx, "
					                  "expected 0", (unsigned long long)addr);
				st.in_block = 1;
				st.block_bytes = 0;
				st.lo = st.hi = 0;
				if (st.q.n_xcc < XSB_MQD_MAX_XCC)
					st.q.xcc[st.q.n_xcc].line = it.lineno;
			} else if (addr != st.block_bytes) {
				return parse_fail(err, it.lineno, "MQD dump offset 0x%llx where 0x%x was expected "
				                  "(lines missing or reordered)", (unsigned long long)addr,
				                  st.block_bytes);
			}
			if (st.q.kind == XSB_MQD_QUEUE_COMPUTE &&
			    st.block_bytes + 4u * (uint32_t)n > XSB_V9_MQD_BYTES)
				return parse_fail(err, it.lineno, "MQD block longer than 0x%x bytes",
				                  XSB_V9_MQD_BYTES);
			if (st.block_bytes > 0x100000)
				return parse_fail(err, it.lineno, "MQD block longer than 1 MiB");
			take_words(&st, addr, w, n);
			st.block_bytes += 4u * (uint32_t)n;
			st.last_dump_line = it.lineno;
			continue;
		}
		if (!strncmp(t, "Process", 7) && (t[7] == ' ' || t[7] == '\t')) {
			int r = end_queue(&st, out, cap, &count, err);
			if (r < 0)
				return r;
			const char *p = t;
			uint64_t a, b;
			if (take_lit(&p, "Process ") || take_dec(&p, &a, UINT32_MAX) ||
			    take_lit(&p, " PASID ") || take_dec(&p, &b, UINT32_MAX) || *p != ':' || p[1])
				return parse_fail(err, it.lineno, "bad process header (expected \"Process <pid> "
				                  "PASID <n>:\")");
			skipping = 0;
			pid = (uint32_t)a;
			pasid = (uint32_t)b;
			have_proc = 1;
			continue;
		}
		int compute = !strncmp(t, "Compute queue on device", 23);
		int sdma = !strncmp(t, "SDMA queue on device", 20);
		if (compute || sdma) {
			int r = end_queue(&st, out, cap, &count, err);
			if (r < 0)
				return r;
			if (!have_proc)
				return parse_fail(err, it.lineno, "queue header before any \"Process\" header");
			const char *p = skip_ws(t + (compute ? 23 : 20));
			uint64_t g;
			if (take_hex(&p, &g, 8) || *p)
				return parse_fail(err, it.lineno, "bad gpu id in queue header (expected hex)");
			memset(&st.q, 0, sizeof(st.q));
			st.q.pid = pid;
			st.q.pasid = pasid;
			st.q.gpu_id = (uint32_t)g;
			st.q.kind = compute ? XSB_MQD_QUEUE_COMPUTE : XSB_MQD_QUEUE_SDMA;
			st.q.line = it.lineno;
			st.open = 1;
			skipping = 0;
			st.in_block = 0;
			st.sdma_bytes = 0;
			continue;
		}
		/* Other queue kinds ("DIQ on device", "Bad user queue type ... on device"): their
		 * dumps are skipped. Any other line is tolerated. */
		if (strstr(t, " on device ")) {
			int r = end_queue(&st, out, cap, &count, err);
			if (r < 0)
				return r;
			skipping = 1;
		}
	}
	int r = end_queue(&st, out, cap, &count, err);
	if (r < 0)
		return r;
	return (int)count;
}
