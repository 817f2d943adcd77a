/*
 * What the shim's test drivers share (hip-shim/tests/shim_test.c, tests/real-hip/real_hip_test.c):
 * children with line-oriented pipes (hip-shim's test coordinator, shimmed programs), scripting
 * the coordinator, and observing the emulated device through its shared memory (KFD queue
 * mirror, rings). A driver runs under native/emu/tests/with-emu.sh --device --shim, which gives
 * it a private device and XSB_TEST_PRELOAD (shim first) for its shimmed children. Every wait is
 * bounded and waits on a real condition.
 */
#ifndef XSB_COORD_DRIVER_H
#define XSB_COORD_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "xsb_emu_proto.h"

extern int failures;
#define FAIL(...)                                                    \
	do {                                                         \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                        \
		fputc('\n', stderr);                                 \
		failures++;                                          \
	} while (0)
#define CHECK(c, ...)                        \
	do {                                 \
		if (!(c)) FAIL(__VA_ARGS__); \
	} while (0)
#define REQUIRE(c, ...)                    \
	do {                               \
		if (!(c)) {                \
			FAIL(__VA_ARGS__); \
			cleanup();         \
			exit(1);           \
		}                          \
	} while (0)

/* Each driver defines it: kills the children it started (REQUIRE calls it before exiting). */
void cleanup(void);

uint64_t now_ns(void);
uint64_t now_ms(void);

/* ---- child processes with line-oriented pipes ---- */
struct proc {
	pid_t pid;
	int in, out;
	char buf[65536];
	size_t len;
	int exited, status;
};

/* the device directory, the coordinator's socket and log in it */
extern char g_dir[512], g_socket[600], g_log[600];
extern struct proc g_coord;
extern struct xsb_emu_shm *g_dev;
/* the coordinator's last reply (coord()) */
extern char g_reply[16384];

/* Reads the environment with-emu.sh set up, names the coordinator's socket and log (log_name,
 * in the device directory) and attaches to the device. 0, or the status main should return. */
int driver_init(const char *log_name);

void proc_kill(struct proc *p);
/* argv[0] started with its stdin/stdout on pipes; shimmed: with XSB_TEST_PRELOAD, the emulated
 * runtime and the coordinator's socket. env: more NAME=value entries (NULL-terminated). */
void spawn(struct proc *p, char *const argv[], const char *const *env, int shimmed);
/* Next line from p within ms; 1 ok, 0 timeout/EOF. */
int read_line(struct proc *p, char *out, size_t cap, long ms);
/* Reads p's lines until one starts with prefix (1), or ms passed or EOF (0). line: where the
 * matching line goes (NULL: not kept). */
int expect(struct proc *p, const char *prefix, long ms, char *line, size_t cap);
/* One line to p's stdin. */
void send_to(struct proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One command to the coordinator and its reply (in g_reply; "err no reply" when none). */
const char *coord(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ok(const char *reply);
/* 1 when p exited within ms (its status in p->status); drains its output meanwhile. */
int wait_exit(struct proc *p, long ms);
/* 1 when p printed a line within ms (the line is left in its buffer) */
int has_output(struct proc *p, long ms);
/* One field of the shim's stats the coordinator reports for pid; -1 when unknown. */
int64_t stat_of(pid_t pid, const char *field);

/* A queue as the coordinator reports it (fields it did not report are 0 / ""). */
struct cq {
	int64_t id, gpu_id, ring_base, prio_applied, prio_req;
	char state[16];
};
/* pid's queues as the coordinator knows them; -1 when it does not answer ok. */
int coord_queues(pid_t pid, struct cq *out, int cap);

/* ---- device observation (the emulated device's shared memory) ---- */
struct devq {
	uint32_t id, gpu_id, type, priority, flags, percentage, ring_slot;
	uint64_t ring_base;
};

/* pid's queues in the device's KFD queue mirror (a consistent snapshot); -1 when none could be read. */
int dev_queues(pid_t pid, struct devq *out, int cap);
/* Packets written to / completed on all of pid's rings so far. */
uint64_t dev_written(pid_t pid);
uint64_t dev_completed(pid_t pid);
/* Kernel dispatch packets submitted and not completed on pid's rings. */
int dev_kernels_in_flight(pid_t pid);
int is_compute(uint32_t queue_type);
/* every compute queue of pid (at least one) has flag set (want_set) or clear */
int dev_all_compute(pid_t pid, uint32_t flag, int want_set);
/* dev_all_compute() within ms */
int wait_dev(pid_t pid, uint32_t flag, int set, long ms);

#endif
