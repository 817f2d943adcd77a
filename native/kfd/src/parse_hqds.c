/* debugfs kfd/hqds parser. Format (amdkfd kfd_device_queue_manager.c dqm_debugfs_hqds and
 * kfd_debugfs.c): "Node N, gpu_id X:", per XCC "Inst i, HIQ on MEC m Pipe p Queue q" and
 * "Inst i,  CP Pipe p, Queue q", then "SDMA Engine e, RLC r", each followed by register
 * dump lines "<addr>: <values>". CP/HIQ dumps are CP_MQD_BASE_ADDR..CP_HQD_PQ_WPTR_HI
 * (amdgpu_amdkfd_gfx_v9.c kgd_gfx_v9_hqd_dump): 56 registers = v9_mqd dwords 128..183. */
#include "parse_line.h"

/* register positions inside a CP/HIQ slot (v9_mqd dword - 128) */
#define R_ACTIVE 2u
#define R_VMID 3u
#define R_PIPE_PRIO 5u
#define R_QUEUE_PRIO 6u
#define R_PQ_BASE_LO 8u
#define R_PQ_BASE_HI 9u

struct hq_state {
	struct xsb_hqd_slot s;
	int open;
	uint32_t regs[10];
	uint32_t last_dump_line;
};

static int end_slot(struct hq_state *st, struct xsb_hqd_slot *out, uint32_t cap, uint32_t *count,
                    struct xsb_parse_error *err)
{
	if (!st->open)
		return 0;
	st->open = 0;
	struct xsb_hqd_slot *s = &st->s;
	if (s->kind != XSB_HQD_KIND_SDMA) {
		if (s->n_regs != XSB_HQD_CP_REGS)
			return parse_fail(err, s->n_regs ? st->last_dump_line : s->line,
			                  "truncated register dump: the %s slot at line %u has %u registers, "
			                  "expected %u", s->kind == XSB_HQD_KIND_HIQ ? "HIQ" : "CP", s->line,
			                  s->n_regs, XSB_HQD_CP_REGS);
		s->active = st->regs[R_ACTIVE] & 1u;
		s->vmid = st->regs[R_VMID];
		s->pipe_priority = st->regs[R_PIPE_PRIO];
		s->queue_priority = st->regs[R_QUEUE_PRIO];
		s->ring_base = (((uint64_t)st->regs[R_PQ_BASE_HI] << 32) | st->regs[R_PQ_BASE_LO]) << 8;
	} else if (s->n_regs == 0) {
		return parse_fail(err, s->line, "SDMA slot without registers");
	}
	if (*count < cap)
		out[*count] = *s;
	(*count)++;
	return 0;
}

int xsb_parse_hqds(const char *buf, size_t len, struct xsb_hqd_slot *out, uint32_t cap,
                   struct xsb_parse_error *err)
{
	struct line_iter it;
	struct hq_state st;
	uint32_t count = 0, node = 0, gpu_id = 0;
	int have_node = 0;
	if (err)
		memset(err, 0, sizeof(*err));
	if (!out)
		cap = 0;
	memset(&st, 0, sizeof(st));
	line_iter_init(&it, buf, len);
	while (line_next(&it)) {
		const char *t = skip_ws(it.text);
		uint64_t addr;
		uint32_t w[16];
		int n = parse_dump_line(it.text, &addr, w, 16);
		if (n == -2)
			return parse_fail(err, it.lineno, "malformed register dump line (values must be 8 hex "
			                  "digits)");
		if (n >= 0) {
			if (!st.open)
				return parse_fail(err, it.lineno, "register dump outside a slot (no \"Inst\" or "
				                  "\"SDMA Engine\" header before it)");
			if (n == 0)
				return parse_fail(err, it.lineno, "register dump line without values");
			for (int i = 0; i < n; i++) {
				if (st.s.n_regs < 10)
					st.regs[st.s.n_regs] = w[i];
				st.s.n_regs++;
			}
			if (st.s.kind != XSB_HQD_KIND_SDMA && st.s.n_regs > XSB_HQD_CP_REGS)
				return parse_fail(err, it.lineno, "more than %u registers in a CP/HIQ slot",
				                  XSB_HQD_CP_REGS);
			if (st.s.n_regs > 4096)
				return parse_fail(err, it.lineno, "more than 4096 registers in a slot");
			st.last_dump_line = it.lineno;
			continue;
		}
		const char *p = t;
		if (!take_lit(&p, "Node ")) {
			int r = end_slot(&st, out, cap, &count, err);
			if (r < 0)
				return r;
			uint64_t a, g;
			if (take_dec(&p, &a, UINT32_MAX) || take_lit(&p, ", gpu_id ") || take_hex(&p, &g, 8) ||
			    *p != ':' || p[1])
				return parse_fail(err, it.lineno, "bad node header (expected \"Node <n>, gpu_id "
				                  "<hex>:\")");
			node = (uint32_t)a;
			gpu_id = (uint32_t)g;
			have_node = 1;
			continue;
		}
		p = t;
		int inst_hdr = !take_lit(&p, "Inst ");
		const char *sp = t;
		int sdma_hdr = !inst_hdr && !take_lit(&sp, "SDMA Engine ");
		if (inst_hdr || sdma_hdr) {
			int r = end_slot(&st, out, cap, &count, err);
			if (r < 0)
				return r;
			if (!have_node)
				return parse_fail(err, it.lineno, "slot header before any \"Node\" header");
			memset(&st.s, 0, sizeof(st.s));
			memset(st.regs, 0, sizeof(st.regs));
			st.s.node = node;
			st.s.gpu_id = gpu_id;
			st.s.line = it.lineno;
			uint64_t a, b, c, d;
			if (inst_hdr) {
				if (take_dec(&p, &a, 255) || take_lit(&p, ", "))
					return parse_fail(err, it.lineno, "bad slot header (expected \"Inst <n>, ...\")");
				st.s.inst = (uint32_t)a;
				const char *h = p;
				if (!take_lit(&h, "HIQ on MEC ")) {
					if (take_dec(&h, &b, 255) || take_lit(&h, " Pipe ") || take_dec(&h, &c, 255) ||
					    take_lit(&h, " Queue ") || take_dec(&h, &d, 255) || *h)
						return parse_fail(err, it.lineno, "bad HIQ header (expected \"HIQ on MEC <m> "
						                  "Pipe <p> Queue <q>\")");
					st.s.kind = XSB_HQD_KIND_HIQ;
					st.s.mec = (uint32_t)b;
				} else {
					h = p;
					if (take_lit(&h, "CP Pipe ") || take_dec(&h, &c, 255) || take_lit(&h, ", Queue ") ||
					    take_dec(&h, &d, 255) || *h)
						return parse_fail(err, it.lineno, "bad CP slot header (expected \"CP Pipe <p>, "
						                  "Queue <q>\")");
					st.s.kind = XSB_HQD_KIND_CP;
				}
				st.s.pipe = (uint32_t)c;
				st.s.queue = (uint32_t)d;
			} else {
				if (take_dec(&sp, &a, 255) || take_lit(&sp, ", RLC ") || take_dec(&sp, &b, 255) || *sp)
					return parse_fail(err, it.lineno, "bad SDMA header (expected \"SDMA Engine <e>, "
					                  "RLC <r>\")");
				st.s.kind = XSB_HQD_KIND_SDMA;
				st.s.engine = (uint32_t)a;
				st.s.rlc = (uint32_t)b;
			}
			st.open = 1;
			continue;
		}
		/* unknown lines are tolerated */
	}
	int r = end_slot(&st, out, cap, &count, err);
	if (r < 0)
		return r;
	return (int)count;
}
