/* Helpers for tests that drive the (emulated) KFD with raw ioctl() calls, as any program would. */
#ifndef XSB_KFD_TEST_UTIL_H
#define XSB_KFD_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "xsb_kfd_abi.h"

extern int t_failed;
#define CHECK(cond, ...)                                                            \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                               \
			fprintf(stderr, "\n");                                      \
			t_failed = 1;                                               \
			return;                                                     \
		}                                                                   \
	} while (0)
/* ioctl result as the kernel returns it: >= 0, or -errno */
static inline long kio(int fd, unsigned long req, void *arg)
{
	int r = ioctl(fd, req, arg);
	return r < 0 ? -errno : r;
}

static inline int kfd_open(void)
{
	int fd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "open /dev/kfd: %s (is the emulator environment applied?)\n", strerror(errno));
		exit(2);
	}
	return fd;
}

/* The GPU node's gpu_id from the emulator's sysfs tree. */
static inline uint32_t kfd_gpu_id(void)
{
	const char *root = getenv("XSB_SYSFS_ROOT");
	char path[4096];
	for (int n = 0; n < 16; n++) {
		snprintf(path, sizeof path, "%s/class/kfd/kfd/topology/nodes/%d/gpu_id", root ? root : "/sys", n);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		unsigned v = 0;
		int ok = fscanf(f, "%u", &v);
		fclose(f);
		if (ok == 1 && v)
			return v;
	}
	fprintf(stderr, "no GPU node under %s\n", root ? root : "/sys");
	exit(2);
}

static inline long kfd_create_queue_sized(int fd, unsigned size, uint32_t prio, uint32_t pct,
                                          uint64_t ring, uint32_t *id)
{
	struct xsb_kfd_create_queue_args a;
	memset(&a, 0, sizeof a);
	a.ring_base_address = ring;
	a.ring_size = 65536;
	a.gpu_id = kfd_gpu_id();
	a.queue_type = XSB_KFD_QUEUE_TYPE_COMPUTE_AQL;
	a.queue_percentage = pct;
	a.queue_priority = prio;
	a.write_pointer_address = ring + 65536;
	a.read_pointer_address = ring + 65536 + 8;
	long r = kio(fd, _IOC(_IOC_READ | _IOC_WRITE, 'K', XSB_KFD_NR_CREATE_QUEUE, size), &a);
	if (r >= 0 && id)
		*id = a.queue_id;
	return r;
}

static inline long kfd_create_queue(int fd, uint32_t prio, uint32_t *id)
{
	static uint64_t next_ring = 0x7f0000100000ull;
	next_ring += 0x100000;
	return kfd_create_queue_sized(fd, 96, prio, 100, next_ring, id);
}

static inline long kfd_destroy_queue(int fd, uint32_t id)
{
	struct xsb_kfd_destroy_queue_args a = { id, 0 };
	return kio(fd, XSB_KFD_IOC_DESTROY_QUEUE, &a);
}

static inline long kfd_runtime_enable(int fd)
{
	struct xsb_kfd_runtime_enable_args a = { 0x1000, XSB_KFD_RUNTIME_ENABLE_MODE_ENABLE_MASK, 0 };
	return kio(fd, XSB_KFD_IOC_RUNTIME_ENABLE, &a);
}

static inline long kfd_dbg_enable(int fd, uint32_t pid, struct xsb_kfd_runtime_info *ri)
{
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof a);
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_ENABLE;
	a.enable.rinfo_ptr = (uint64_t)(uintptr_t)ri;
	a.enable.rinfo_size = sizeof *ri;
	a.enable.dbg_fd = (uint32_t)fd;
	return kio(fd, XSB_KFD_IOC_DBG_TRAP, &a);
}

static inline long kfd_dbg_simple(int fd, uint32_t pid, uint32_t op)
{
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof a);
	a.pid = pid;
	a.op = op;
	return kio(fd, XSB_KFD_IOC_DBG_TRAP, &a);
}

static inline long kfd_suspend(int fd, uint32_t pid, uint32_t *ids, uint32_t n, uint64_t clear)
{
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof a);
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_SUSPEND_QUEUES;
	a.suspend_queues.exception_mask = clear;
	a.suspend_queues.queue_array_ptr = (uint64_t)(uintptr_t)ids;
	a.suspend_queues.num_queues = n;
	a.suspend_queues.grace_period = 1;
	return kio(fd, XSB_KFD_IOC_DBG_TRAP, &a);
}

static inline long kfd_resume(int fd, uint32_t pid, uint32_t *ids, uint32_t n)
{
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof a);
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_RESUME_QUEUES;
	a.resume_queues.queue_array_ptr = (uint64_t)(uintptr_t)ids;
	a.resume_queues.num_queues = n;
	return kio(fd, XSB_KFD_IOC_DBG_TRAP, &a);
}

static inline long kfd_snapshot(int fd, uint32_t pid, uint64_t clear, struct xsb_kfd_queue_snapshot_entry *e,
                                uint32_t cap, uint32_t *total)
{
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof a);
	a.pid = pid;
	a.op = XSB_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT;
	a.queue_snapshot.exception_mask = clear;
	a.queue_snapshot.snapshot_buf_ptr = (uint64_t)(uintptr_t)e;
	a.queue_snapshot.num_queues = cap;
	a.queue_snapshot.entry_size = sizeof *e;
	long r = kio(fd, XSB_KFD_IOC_DBG_TRAP, &a);
	if (total)
		*total = a.queue_snapshot.num_queues;
	return r;
}

/* ---- a tiny runner: every test in a fresh process (a fresh KFD process), TAP-like lines ---- */
#include <signal.h>
#include <sys/wait.h>

struct kfd_test {
	const char *name;
	void (*fn)(void);
};

/* Runs every test (or the one named by argv[1]); exit status 1 if any failed or none ran. */
static inline int kfd_run_tests(const struct kfd_test *tests, int n, int argc, char **argv)
{
	int failed = 0, ran = 0;
	for (int i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
			continue;
		fflush(NULL);
		pid_t ch = fork();
		if (ch == 0) {
			alarm(60); /* a hang (e.g. a destroy that never unblocks) fails the test, not the run */
			t_failed = 0;
			tests[i].fn();
			fflush(NULL);
			_exit(t_failed);
		}
		int ws = 0;
		waitpid(ch, &ws, 0);
		int ok = WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
		if (WIFSIGNALED(ws))
			printf("  killed by signal %d%s\n", WTERMSIG(ws), WTERMSIG(ws) == SIGALRM ? " (timed out)" : "");
		printf("%s %d - %s\n", ok ? "ok" : "not ok", ++ran, tests[i].name);
		failed += !ok;
	}
	printf("%d passed, %d failed\n", ran - failed, failed);
	return failed || ran == 0 ? 1 : 0;
}

#endif
