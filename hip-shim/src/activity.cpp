/*
 * activity.cpp - busy/idle of an online process, published in the control block.
 *
 * Launch path: a load of the activity word (shim.h activity_launch); only the idle->busy
 * transition does more (timestamps, doorbell, FUTEX_WAKE). The tracker thread detects
 * busy->idle: it synchronises the device (hipDeviceSynchronize waits for the work of every
 * stream submitted before it, per-thread streams included) and declares idle when no launch
 * happened since it started waiting and none follows within the hysteresis.
 *
 * Launch sequence: the control block's launches counter (every launch-flavour call bumps it
 * with a seq_cst RMW before it reads the activity word) plus the hints' own count, while the
 * process is online. So the
 * launch path adds no atomic of its own, and the Dekker pair stays: a launch either sees the
 * IDLE store, or the tracker's check after that store sees the launch. A control block swap
 * folds the counter's late increments into the new block under the activity lock
 * (ctrl_block.cpp), so the tracker's decision under that lock never misses one.
 */
#include "shim.h"

#include <pthread.h>
#include <time.h>

namespace xsb {

static std::atomic<uint64_t> g_hint_seq{0}; /* xsb_online_begin calls */
static std::atomic<int> g_hint_depth{0};
static std::atomic<uint32_t> g_tracker_wake{0}; /* local futex: a transition to busy */
static pthread_t g_tracker;
static std::atomic<int> g_tracker_on{0};
static std::atomic<int> g_tracker_stop{0};
static pthread_mutex_t g_act_mu = PTHREAD_MUTEX_INITIALIZER;

static void publish(uint32_t state)
{
	xsb_ctrl *c = g_ctrl;
	uint64_t t = now_ns();
	if (state == XSB_ACT_BUSY) c->busy_since_ns.store(t, std::memory_order_relaxed);
	else c->idle_since_ns.store(t, std::memory_order_relaxed);
	c->activity.store(state);
	c->activity_transitions.fetch_add(1, std::memory_order_relaxed);
	c->activity_doorbell.fetch_add(1);
	futex_wake(&c->activity_doorbell);
}

static void to_busy()
{
	pthread_mutex_lock(&g_act_mu);
	if (g_ctrl->activity.load() != XSB_ACT_BUSY) {
		publish(XSB_ACT_BUSY);
		g_tracker_wake.fetch_add(1);
		futex_wake(&g_tracker_wake);
	}
	pthread_mutex_unlock(&g_act_mu);
}

void activity_lock() { pthread_mutex_lock(&g_act_mu); }
void activity_unlock() { pthread_mutex_unlock(&g_act_mu); }

void activity_to_busy() { to_busy(); }

/* Changes whenever an online launch (or an xsb_online_begin) happened: launches made while the
 * coordinator has the process in another class do not keep it busy. */
static uint64_t launch_seq()
{
	uint64_t h = g_hint_seq.load();
	return g_class.load() == XSB_CLASS_ONLINE ? g_ctrl->launches.load() + h : h;
}

int activity_hint(int delta)
{
	int d = g_hint_depth.fetch_add(delta) + delta;
	if (d < 0) {
		g_hint_depth.store(0);
		d = 0;
	}
	if (g_class.load() != XSB_CLASS_ONLINE) return d;
	if (delta > 0) {
		g_hint_seq.fetch_add(1);
		to_busy();
	} else {
		g_tracker_wake.fetch_add(1);
		futex_wake(&g_tracker_wake);
	}
	return d;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	while (nanosleep(&ts, &ts) != 0) {
	}
}

static void *tracker_main(void *)
{
	tl_depth = 1; /* its HIP calls are the shim's, not the application's */
	while (!g_tracker_stop.load()) {
		uint32_t w = g_tracker_wake.load();
		if (g_ctrl->activity.load() != XSB_ACT_BUSY) {
			futex_wait(&g_tracker_wake, w, 500000000ull);
			continue;
		}
		uint64_t s0 = launch_seq();
		if (aux_device_sync() != hipSuccess && g_exiting.load()) break;
		if (g_tracker_stop.load()) break;
		if (launch_seq() != s0) continue;
		/* hysteresis: a launch soon after the drain keeps the process busy */
		sleep_ns((uint64_t)g_cfg.idle_hysteresis_us * 1000ull);
		if (launch_seq() != s0 || g_hint_depth.load() > 0) {
			if (g_hint_depth.load() > 0) futex_wait(&g_tracker_wake, g_tracker_wake.load(), 100000000ull);
			continue;
		}
		pthread_mutex_lock(&g_act_mu);
		if (launch_seq() == s0 && g_hint_depth.load() == 0) publish(XSB_ACT_IDLE);
		pthread_mutex_unlock(&g_act_mu);
		/* a launch that read BUSY just before the store above must not be lost */
		if (launch_seq() != s0) to_busy();
	}
	return nullptr;
}

void activity_start()
{
	int expected = 0;
	if (!g_tracker_on.compare_exchange_strong(expected, 1)) return;
	g_tracker_stop.store(0);
	if (pthread_create(&g_tracker, nullptr, tracker_main, nullptr) != 0) g_tracker_on.store(0);
}

void activity_stop()
{
	if (!g_tracker_on.load()) return;
	g_tracker_stop.store(1);
	g_tracker_wake.fetch_add(1);
	futex_wake(&g_tracker_wake);
	pthread_join(g_tracker, nullptr);
	g_tracker_on.store(0);
}

void activity_child_reset()
{
	pthread_mutex_init(&g_act_mu, nullptr);
	g_tracker_on.store(0);
	g_tracker_stop.store(0);
	g_hint_depth.store(0);
}

} // namespace xsb
