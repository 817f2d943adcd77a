/*
 * fuzz_shim_proto - the shim's decoding of coordinator -> shim lines (hip-shim/src/wire.cpp:
 * handle_message and the service thread's newline framing) and the JSON reader under it
 * (hip-shim/src/xjson.c), on arbitrary bytes.
 *
 * handle_message is static, so this file compiles wire.cpp into itself (the shim is not
 * restructured) and supplies the few process-wide objects wire.cpp uses from the other shim
 * units: a local control block, the config, and counting stand-ins for the executor and the
 * activity tracker, and the control block. No socket is open (wire_send drops), so acks go
 * nowhere. When the shim's internal interfaces (shim.h) change, these stand-ins follow.
 *
 * Checked after every input: what the decoder stored stays within the wire's contract
 * (xsb_wire.h): priority -1 or 0..15; Lv1 threshold <= XSB_LV1_MAX, batch 1..threshold (or
 * 1..MAX when unbounded); a lease deadline no further than XSB_LEASE_MAX_MS away; class one
 * of the known ones. The xjson lookups are run over the raw input as well.
 */
#include "../../hip-shim/src/wire.cpp"

#include <stdarg.h>
#include <time.h>

#include "fuzz_check.h"

namespace xsb {
Config g_cfg;
std::atomic<uint32_t> g_class{XSB_CLASS_OFFLINE};
std::atomic<int> g_priority{-1};
std::atomic<uint32_t> g_mechanism{XSB_MECH_DBG_TRAP};
std::atomic<int> g_attached{1};
std::atomic<int> g_fail_open{0};
std::atomic<int> g_hip_ready{0};
std::atomic<int> g_exiting{0};
static xsb_ctrl g_local_ctrl;
xsb_ctrl *g_ctrl = &g_local_ctrl;
XSB_TLS __thread int tl_depth;
XSB_TLS __thread int tl_kfd_pass;
static unsigned g_kicks, g_activity_starts, g_fail_opens, g_unlinks;

void log_msg(int level, const char *fmt, ...)
{
	/* format for real (a bad format argument would show here), print nothing */
	char b[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	(void)level;
}
uint64_t now_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
void fail_open(const char *why, int level)
{
	(void)why, (void)level;
	g_fail_opens++;
}
void exec_kick() { g_kicks++; }
void exec_start() {}
/* the executor switches at once when nothing is held */
uint32_t exec_request_mechanism(uint32_t m, bool *pending)
{
	FUZZ_ASSERT(m == XSB_MECH_DBG_TRAP || m == XSB_MECH_DEACTIVATE, "mechanism %u requested", m);
	g_mechanism.store(m);
	if (pending) *pending = false;
	return m;
}
void activity_start() { g_activity_starts++; }
void queues_send_all() {}
/* control block (ctrl_block.cpp): the local one never gets a shared name here */
const char *ctrl_publish() { return nullptr; }
void ctrl_unlink() { g_unlinks++; }
const char *ctrl_shm_name() { return ""; }
} // namespace xsb

using namespace xsb;

static void reset_state()
{
	/* what init leaves before the coordinator speaks: the shim's defaults */
	g_ctrl->lv1_threshold.store(XSB_LV1_THRESHOLD_DEFAULT);
	g_ctrl->lv1_batch.store(XSB_LV1_BATCH_DEFAULT);
	g_ctrl->lease_deadline_ns.store(0);
	g_ctrl->errors.store(0);
	g_class.store(XSB_CLASS_OFFLINE);
	g_priority.store(-1);
	g_mechanism.store(XSB_MECH_DBG_TRAP);
	set_got_config(false);
}

static void check_state()
{
	int p = g_priority.load();
	FUZZ_ASSERT(p >= -1 && p <= 15, "priority %d", p);
	uint32_t t = g_ctrl->lv1_threshold.load(), b = g_ctrl->lv1_batch.load();
	FUZZ_ASSERT(t <= XSB_LV1_MAX, "lv1 threshold %u", t);
	FUZZ_ASSERT(b >= 1 && b <= XSB_LV1_MAX && (t == 0 || b <= t), "lv1 batch %u threshold %u", b, t);
	uint64_t d = g_ctrl->lease_deadline_ns.load();
	FUZZ_ASSERT(d == 0 || d <= now_ns() + (uint64_t)XSB_LEASE_MAX_MS * 1000000ull, "lease deadline %llu",
	            (unsigned long long)d);
	uint32_t c = g_class.load();
	FUZZ_ASSERT(c == XSB_CLASS_OFFLINE || c == XSB_CLASS_ONLINE, "class %u", c);
	uint32_t m = g_mechanism.load();
	FUZZ_ASSERT(m == XSB_MECH_DBG_TRAP || m == XSB_MECH_DEACTIVATE, "mechanism %u", m);
}

/* The xjson reader on its own: lookups over arbitrary text never read out of bounds, return
 * 1/0/-1, and terminate what they copy. */
static void xjson_probe(const char *s, size_t n)
{
	int whole = xj_check_object(s, n);
	FUZZ_ASSERT(whole == 0 || whole == -1, "xj_check_object %d", whole);
	static const char *keys[] = {"v",        "type", "class", "priority", "lv1",      "threshold",
	                             "batch",    "lease_ms", "seq", "of",  "mechanism", ""};
	for (const char *k : keys) {
		const char *v;
		size_t vn;
		int f = xj_find(s, n, k, &v, &vn);
		FUZZ_ASSERT(f >= -1 && f <= 1, "xj_find %d", f);
		if (f == 1) FUZZ_ASSERT(v >= s && v + vn <= s + n, "value span outside the input");
		char out[8];
		memset(out, 'x', sizeof out);
		if (xj_get_str(s, n, k, out, sizeof out) == 1) FUZZ_ASSERT(memchr(out, 0, sizeof out), "unterminated string");
		int64_t i;
		(void)xj_get_i64(s, n, k, &i);
		if (xj_get_obj(s, n, k, &v, &vn) == 1) {
			FUZZ_ASSERT(v >= s && v + vn <= s + n, "object span outside the input");
			(void)xj_get_i64(v, vn, "threshold", &i);
		}
	}
	char esc[64];
	char src[48];
	size_t m = n < sizeof src - 1 ? n : sizeof src - 1;
	memcpy(src, s, m);
	src[m] = 0;
	xj_escape(src, esc, sizeof esc);
	FUZZ_ASSERT(memchr(esc, 0, sizeof esc), "xj_escape did not terminate");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = reinterpret_cast<const char *>(data);
	xjson_probe(s, size);
	reset_state();
	/* the service thread's framing: bytes arrive in chunks, complete lines are handled, an
	 * over-long partial line is dropped. The first byte picks the chunk size. */
	size_t chunk = size ? (size_t)data[0] % 64 + 1 : 1;
	std::string in;
	for (size_t off = 0; off < size; off += chunk) {
		in.append(s + off, size - off < chunk ? size - off : chunk);
		size_t nl;
		while ((nl = in.find('\n')) != std::string::npos) {
			if (nl > 0) handle_message(in.data(), nl);
			in.erase(0, nl + 1);
			check_state();
		}
		if (in.size() > XSB_WIRE_MAX_LINE) in.clear();
	}
	check_state();
	return 0;
}
