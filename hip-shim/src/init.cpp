/*
 * init.cpp - process life cycle of the shim: environment at load, lazy attach on the first
 * HIP or KFD call (so processes that merely inherit LD_PRELOAD stay untouched), the exit
 * handler ordered before the HIP runtime's teardown, fail-open, fork.
 */
#include "shim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xsb_hint.h"

namespace xsb {

std::atomic<uint32_t> g_class{XSB_CLASS_NONE};
std::atomic<int> g_priority{-1};
std::atomic<uint32_t> g_mechanism{XSB_MECH_DBG_TRAP};
std::atomic<int> g_attached{0};
std::atomic<int> g_fail_open{0};
std::atomic<int> g_hip_ready{0};
std::atomic<int> g_exiting{0};
XSB_TLS __thread int tl_depth = 0;
XSB_TLS __thread int tl_kfd_pass = 0;

std::atomic<int> g_init{INIT_NONE};
static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
static XSB_TLS thread_local int tl_in_init = 0;
static std::atomic<int> g_atexit_done{0};

/* The process's own block (g_ctrl's page) before any coordinator: gate open, the shim's Lv1. */
static void init_local_ctrl()
{
	xsb_ctrl *c = g_ctrl;
	memset(static_cast<void *>(c), 0, sizeof *c);
	c->magic = XSB_CTRL_MAGIC;
	c->version = XSB_CTRL_VERSION;
	c->size = XSB_CTRL_SIZE;
	c->pid = (uint32_t)getpid();
	c->cls = g_class.load();
	c->mechanism = g_mechanism.load();
	c->gate.store(XSB_GATE_OPEN);
	c->suspend_req.store(XSB_REQ_RUN);
	c->lv1_threshold.store(g_cfg.lv1_threshold);
	c->lv1_batch.store(g_cfg.lv1_batch);
	c->exec_state.store(XSB_EXEC_IDLE);
	c->activity.store(XSB_ACT_IDLE);
	c->header_sum = xsb_ctrl_header_sum(c);
}

static void load_config()
{
	parse_env(&g_cfg);
	if (g_cfg.env_ok) {
		g_class.store(g_cfg.cls);
		g_priority.store(g_cfg.priority);
	} else {
		g_class.store(XSB_CLASS_NONE);
		g_priority.store(-1);
	}
	g_mechanism.store(g_cfg.mechanism);
	init_local_ctrl();
}

static void at_exit_handler();

void ensure_init_slow()
{
	if (g_init.load(std::memory_order_acquire) == INIT_DONE || tl_in_init) return;
	pthread_mutex_lock(&g_init_mu);
	if (g_init.load() != INIT_NONE) {
		pthread_mutex_unlock(&g_init_mu);
		return;
	}
	g_init.store(INIT_RUNNING);
	tl_in_init = 1;
	int depth = tl_depth;
	tl_depth = depth + 1; /* nothing done here may count as the application's */
	if (!g_cfg.env_ok) {
		/* once, and only in a process that uses the GPU */
		ssize_t w = write(2, g_cfg.env_error, strlen(g_cfg.env_error));
		w = write(2, "\n", 1);
		(void)w;
	} else if (g_cfg.socket_path[0]) {
		/* one attempt here; later ones (no coordinator yet, or lost) are the service thread's */
		bool attached = wire_connect_and_hello();
		wire_start_service(attached);
		if (attached) {
			exec_start();
			if (g_class.load() == XSB_CLASS_ONLINE) activity_start();
		}
	}
	tl_depth = depth;
	tl_in_init = 0;
	g_init.store(INIT_DONE, std::memory_order_release);
	pthread_mutex_unlock(&g_init_mu);
}

/* The runtime is initialised once a wrapped call returned success. Only now may the debug
 * session open (ROCr's RUNTIME_ENABLE must precede it), and an atexit handler registered
 * now runs before the runtime's own teardown (KFD-FACTS: DISABLE before hsa_shut_down). */
void on_hip_success_slow()
{
	int expected = 0;
	if (!g_hip_ready.compare_exchange_strong(expected, 1)) return;
	atexit(at_exit_handler);
	exec_kick();
}

uint32_t ctrl_gate()
{
	uint32_t g = g_ctrl->gate.load(std::memory_order_acquire);
	if (g == XSB_GATE_OPEN || g == XSB_GATE_CLOSED) return g;
	static std::atomic<int> logged{0};
	if (!logged.exchange(1)) {
		g_ctrl->errors.fetch_add(1);
		XSB_LOG(LOG_ERROR, "gate word holds 0x%08x, neither OPEN nor CLOSED: failing open", g);
	}
	return XSB_GATE_OPEN;
}

/* Until the next attachment (wire.cpp reconnects): the program carries on alone. */
void fail_open(const char *why, int level)
{
	int expected = 0;
	if (!g_fail_open.compare_exchange_strong(expected, 1)) return;
	XSB_LOG(level, "%s: releasing queues, opening the gate, continuing alone", why);
	g_ctrl->fail_open_ns.store(now_ns());
	char bye[256];
	snprintf(bye, sizeof bye, "{\"v\":%u,\"type\":\"bye\",\"reason\":\"%s\"}", XSB_WIRE_VERSION, why);
	wire_send(bye);
	g_attached.store(0);
	g_ctrl->lease_deadline_ns.store(0);
	g_ctrl->gate.store(XSB_GATE_OPEN);
	futex_wake(&g_ctrl->gate);
	exec_kick();
	wire_disconnect();
}

static void at_exit_handler()
{
	if (g_atexit_done.exchange(1)) return;
	g_exiting.store(1);
	tl_depth++;
	/* launch threads still waiting must not keep the process from exiting */
	g_ctrl->gate.store(XSB_GATE_OPEN);
	futex_wake(&g_ctrl->gate);
	wire_stop(); /* first: no reconnect may start an executor or tracker after they stopped */
	activity_stop();
	exec_shutdown(); /* releases every held queue and closes the debug session */
	if (g_attached.load()) {
		char bye[128];
		snprintf(bye, sizeof bye, "{\"v\":%u,\"type\":\"bye\",\"reason\":\"exit\"}", XSB_WIRE_VERSION);
		wire_send(bye);
	}
	g_attached.store(0);
	wire_close();
	tl_depth--;
}

static void child_after_fork()
{
	/* The child is a new process: none of the parent's threads, socket, KFD process or
	 * debug session are its own. It re-initialises lazily on its first HIP/KFD call. */
	pthread_mutex_init(&g_init_mu, nullptr);
	ctrl_child_reset();
	g_mechanism.store(g_cfg.mechanism);
	init_local_ctrl();
	wire_child_reset();
	queues_child_reset();
	exec_child_reset();
	activity_child_reset();
	lv1_child_reset();
	g_attached.store(0);
	g_fail_open.store(0);
	g_hip_ready.store(0);
	g_exiting.store(0);
	g_atexit_done.store(0);
	g_init.store(INIT_NONE);
}

__attribute__((constructor)) static void shim_load()
{
	ctrl_map_initial();
	load_config();
	pthread_atfork(nullptr, nullptr, child_after_fork);
}

} // namespace xsb

using namespace xsb;

XSB_EXPORT int xsb_online_begin(void)
{
	ensure_init();
	return activity_hint(+1);
}

XSB_EXPORT int xsb_online_end(void) { return activity_hint(-1); }

XSB_EXPORT const char *xsb_class(void)
{
	switch (g_class.load()) {
	case XSB_CLASS_ONLINE: return "online";
	case XSB_CLASS_OFFLINE: return "offline";
	default: return nullptr;
	}
}
