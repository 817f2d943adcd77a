/*
 * One test per rule of the emulated KFD driver (issue "Foundation", item 3; shared/KFD-FACTS.md),
 * each run in a fresh process that talks to the driver only through open("/dev/kfd") and raw
 * ioctl() (the LD_PRELOAD interposer is the "driver"). Device state that no ioctl exposes
 * (whether a queue is held down) is read from the device's published queue table, the same
 * one `xsched-bridge emu status` shows.
 *
 * usage: kfd_rules [test-name]    (TAP-like output; exit 1 if any test failed)
 */
#include "kfd_test_util.h"
#include "xsb_emu_client.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

int t_failed;

/* ---- device state, as published in its shared queue table ---- */
static uint32_t queue_flags(uint32_t pid, uint32_t qid)
{
	struct xsb_emu_shm *shm;
	if (xsb_emu_attach(&shm) < 0)
		return 0;
	const struct xsb_emu_kfd_queue *q = (const void *)((const char *)shm + shm->off_kfd_queues);
	for (uint32_t i = 0; i < XSB_EMU_QUEUE_MIRROR; i++) {
		uint32_t s1 = atomic_load(&shm->seq);
		if (q[i].flags & XSB_EMU_KQ_USED && q[i].pid == pid && q[i].queue_id == qid) {
			uint32_t f = q[i].flags;
			if (!(s1 & 1) && atomic_load(&shm->seq) == s1)
				return f;
		}
	}
	return 0;
}

/* Waits (bounded) until a queue's flags satisfy want/mask; a condition, not a guess of time. */
static int wait_flags(uint32_t pid, uint32_t qid, uint32_t mask, uint32_t want)
{
	for (int i = 0; i < 20000; i++) {
		if ((queue_flags(pid, qid) & mask) == want)
			return 1;
		struct timespec ts = { 0, 250000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int sysfs_queue_exists(uint32_t pid, uint32_t qid)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/class/kfd/kfd/proc/%u/queues/%u/gpuid", getenv("XSB_SYSFS_ROOT"), pid, qid);
	return stat(p, &st) == 0;
}

static long read_sysfs_num(uint32_t pid, uint32_t qid, const char *name)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/class/kfd/kfd/proc/%u/queues/%u/%s", getenv("XSB_SYSFS_ROOT"), pid, qid, name);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	long v = -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* ---- tests ---- */
static void t_version(void)
{
	int fd = kfd_open();
	struct xsb_kfd_get_version_args v = { 0, 0 };
	CHECK(kio(fd, XSB_KFD_IOC_GET_VERSION, &v) == 0, "GET_VERSION failed");
	CHECK(v.major_version == 1 && v.minor_version == 17, "version %u.%u", v.major_version, v.minor_version);
}

static void t_create_layouts(void)
{
	int fd = kfd_open();
	uint32_t a = 0, b = 0;
	long r = kfd_create_queue_sized(fd, 96, 7, 100, 0x7f1000000000ull, &a);
	CHECK(r == 0, "96-byte create: %ld", r);
	r = kfd_create_queue_sized(fd, 88, 7, 100, 0x7f1000100000ull, &b);
	CHECK(r == 0, "88-byte create (pre-1.17 libhsakmt): %ld", r);
	CHECK(a != b, "distinct ids");
	CHECK(a < 1024 && b < 1024, "ids are per-process slots 0..1023: %u %u", a, b);
	/* matched by number, not the full request value: the 88-byte request is 0xC0584B02 */
	CHECK(_IOC(_IOC_READ | _IOC_WRITE, 'K', 2, 88) == 0xC0584B02ul, "request value");
}

static void t_create_priority_range(void)
{
	int fd = kfd_open();
	uint32_t id;
	CHECK(kfd_create_queue_sized(fd, 96, 16, 100, 0x7f2000000000ull, &id) == -EINVAL, "priority 16 must be EINVAL");
	CHECK(kfd_create_queue_sized(fd, 96, 7, 101, 0x7f2000100000ull, &id) == -EINVAL, "percentage 101 must be EINVAL");
	CHECK(kfd_create_queue_sized(fd, 96, 15, 100, 0x7f2000200000ull, &id) == 0, "priority 15 is valid");
	CHECK(kfd_create_queue_sized(fd, 96, 0, 100, 0x7f2000300000ull, &id) == 0, "priority 0 is valid");
}

static void t_ids_not_sequential(void)
{
	int fd = kfd_open();
	uint32_t ids[8];
	for (int i = 0; i < 8; i++)
		CHECK(kfd_create_queue(fd, 7, &ids[i]) == 0, "create %d", i);
	int sequential = 1;
	for (int i = 0; i < 8; i++)
		if (ids[i] != (uint32_t)i)
			sequential = 0;
	CHECK(!sequential, "ids must not be 0..N (got 0..7)");
	int consecutive = 1;
	for (int i = 1; i < 8; i++)
		if (ids[i] != ids[i - 1] + 1)
			consecutive = 0;
	CHECK(!consecutive, "ids must not be consecutive from %u", ids[0]);
	for (int i = 0; i < 8; i++)
		for (int j = i + 1; j < 8; j++)
			CHECK(ids[i] != ids[j], "duplicate id %u", ids[i]);
}

static void t_destroy_unknown(void)
{
	int fd = kfd_open();
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create");
	CHECK(kfd_destroy_queue(fd, id) == 0, "destroy");
	CHECK(kfd_destroy_queue(fd, id) == -EINVAL, "second destroy of %u must be EINVAL", id);
	CHECK(kfd_destroy_queue(fd, 5000) == -EINVAL, "destroy of id 5000 must be EINVAL");
}

static void t_update_queue(void)
{
	int fd = kfd_open();
	uint32_t id;
	uint64_t ring = 0x7f3000000000ull;
	CHECK(kfd_create_queue_sized(fd, 96, 7, 100, ring, &id) == 0, "create");
	struct xsb_kfd_update_queue_args u = { ring, id, 65536, 100, 16 };
	CHECK(kio(fd, XSB_KFD_IOC_UPDATE_QUEUE, &u) == -EINVAL, "priority 16 must be EINVAL");
	u.queue_priority = 11;
	u.queue_percentage = 101;
	CHECK(kio(fd, XSB_KFD_IOC_UPDATE_QUEUE, &u) == -EINVAL, "percentage 101 must be EINVAL");
	u.queue_percentage = 100;
	CHECK(kio(fd, XSB_KFD_IOC_UPDATE_QUEUE, &u) == 0, "update to 11");
	u.queue_id = 4000;
	/* pqm_update_queue_properties: no such queue -> -EFAULT (kfd_process_queue_manager.c) */
	CHECK(kio(fd, XSB_KFD_IOC_UPDATE_QUEUE, &u) == -EFAULT, "unknown queue must be EFAULT");
	/* a request whose size field differs is still UPDATE_QUEUE (matched by number) */
	u.queue_id = id;
	u.queue_percentage = 0;
	CHECK(kio(fd, _IOC(_IOC_WRITE, 'K', XSB_KFD_NR_UPDATE_QUEUE, 24), &u) == 0, "deactivate");
	CHECK(wait_flags(getpid(), id, XSB_EMU_KQ_DEACTIVATED, XSB_EMU_KQ_DEACTIVATED), "queue shows deactivated");
	u.queue_percentage = 100;
	CHECK(kio(fd, XSB_KFD_IOC_UPDATE_QUEUE, &u) == 0, "reactivate");
	CHECK(wait_flags(getpid(), id, XSB_EMU_KQ_DEACTIVATED, 0), "queue shows active again");
	/* deactivated queues do not block destroy */
	u.queue_percentage = 0;
	CHECK(kio(fd, XSB_KFD_IOC_UPDATE_QUEUE, &u) == 0, "deactivate again");
	CHECK(kfd_destroy_queue(fd, id) == 0, "destroy of a deactivated queue returns");
}

static void t_set_cu_mask(void)
{
	int fd = kfd_open();
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create");
	uint32_t mask[10];
	memset(mask, 0xff, sizeof mask);
	struct xsb_kfd_set_cu_mask_args a = { id, 0, (uint64_t)(uintptr_t)mask };
	CHECK(kio(fd, XSB_KFD_IOC_SET_CU_MASK, &a) == -EINVAL, "empty mask must be EINVAL");
	a.num_cu_mask = 320;
	CHECK(kio(fd, XSB_KFD_IOC_SET_CU_MASK, &a) == 0, "320-bit mask");
	a.cu_mask_ptr = 8; /* unmapped */
	CHECK(kio(fd, XSB_KFD_IOC_SET_CU_MASK, &a) == -EFAULT, "bad pointer must be EFAULT");
}

static void t_runtime_enable(void)
{
	int fd = kfd_open();
	CHECK(kfd_runtime_enable(fd) == 0, "runtime enable");
	CHECK(kfd_runtime_enable(fd) == -EBUSY, "second runtime enable must be EBUSY");
	struct xsb_kfd_runtime_enable_args dis = { 0, 0, 0 };
	CHECK(kio(fd, XSB_KFD_IOC_RUNTIME_ENABLE, &dis) == 0, "runtime disable");
	CHECK(kfd_runtime_enable(fd) == 0, "enable after disable");
}

static void t_dbg_before_enable(void)
{
	int fd = kfd_open();
	kfd_runtime_enable(fd);
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create");
	CHECK(kfd_suspend(fd, getpid(), &id, 1, 0) == -EINVAL, "suspend before ENABLE must be EINVAL");
	CHECK(kfd_dbg_simple(fd, getpid(), XSB_KFD_DBG_TRAP_SEND_RUNTIME_EVENT) == -EINVAL,
	      "other ops before ENABLE must be EINVAL");
	CHECK(kfd_dbg_simple(fd, 0x3fffffff, XSB_KFD_DBG_TRAP_ENABLE) == -ESRCH, "unknown pid must be ESRCH");
}

static void t_enable_twice(void)
{
	int fd = kfd_open();
	kfd_runtime_enable(fd);
	struct xsb_kfd_runtime_info ri;
	memset(&ri, 0xaa, sizeof ri);
	CHECK(kfd_dbg_enable(fd, getpid(), &ri) == 0, "enable");
	CHECK(ri.runtime_state == XSB_KFD_RUNTIME_STATE_ENABLED, "runtime_state %u", ri.runtime_state);
	CHECK(ri.r_debug == 0x1000, "r_debug from RUNTIME_ENABLE: %#llx", (unsigned long long)ri.r_debug);
	CHECK(kfd_dbg_enable(fd, getpid(), &ri) == -EALREADY, "second enable must be EALREADY");
	struct xsb_kfd_dbg_trap_args a;
	memset(&a, 0, sizeof a);
	CHECK(kfd_dbg_simple(fd, getpid(), XSB_KFD_DBG_TRAP_DISABLE) == 0, "disable");
	a.pid = getpid();
	a.op = XSB_KFD_DBG_TRAP_ENABLE;
	a.enable.rinfo_ptr = (uint64_t)(uintptr_t)&ri;
	a.enable.rinfo_size = sizeof ri;
	a.enable.dbg_fd = 999; /* not open */
	CHECK(kio(fd, XSB_KFD_IOC_DBG_TRAP, &a) == -EBADF, "enable with a closed dbg_fd must be EBADF");
}

static void t_runtime_not_enabled(void)
{
	int fd = kfd_open();
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create");
	struct xsb_kfd_runtime_info ri;
	CHECK(kfd_dbg_enable(fd, getpid(), &ri) == 0, "enable succeeds without runtime");
	CHECK(ri.runtime_state != XSB_KFD_RUNTIME_STATE_ENABLED, "runtime_state %u must not be ENABLED",
	      ri.runtime_state);
	CHECK(kfd_suspend(fd, getpid(), &id, 1, 0) == -EPERM, "suspend while runtime_state != 1 must be EPERM");
	CHECK(kfd_resume(fd, getpid(), &id, 1) == -EPERM, "resume while runtime_state != 1 must be EPERM");
}

static void t_queue_new(void)
{
	int fd = kfd_open();
	kfd_runtime_enable(fd);
	struct xsb_kfd_runtime_info ri;
	CHECK(kfd_dbg_enable(fd, getpid(), &ri) == 0, "enable");
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create while enabled");
	uint32_t st = id;
	CHECK(kfd_suspend(fd, getpid(), &st, 1, 0) == 0, "a NEW queue is skipped: count 0");
	CHECK(st == (id | XSB_KFD_DBG_QUEUE_INVALID_MASK), "status %#x must carry INVALID", st);
	struct xsb_kfd_queue_snapshot_entry e[4];
	uint32_t total = 0;
	CHECK(kfd_snapshot(fd, getpid(), 0, e, 4, &total) == 0, "snapshot");
	CHECK(total == 1 && e[0].queue_id == id, "snapshot total %u", total);
	CHECK(e[0].exception_status & XSB_KFD_EC_MASK_QUEUE_NEW, "EC_QUEUE_NEW pending");
	CHECK(kfd_snapshot(fd, getpid(), XSB_KFD_EC_MASK_QUEUE_NEW, e, 4, &total) == 0, "clearing snapshot");
	CHECK(kfd_snapshot(fd, getpid(), 0, e, 4, &total) == 0, "snapshot");
	CHECK(!(e[0].exception_status & XSB_KFD_EC_MASK_QUEUE_NEW), "EC_QUEUE_NEW cleared");
	st = id;
	CHECK(kfd_suspend(fd, getpid(), &st, 1, 0) == 1, "suspend after the snapshot: count 1");
	CHECK(st == id, "status %#x clean", st);
	CHECK(wait_flags(getpid(), id, XSB_EMU_KQ_SUSPENDED, XSB_EMU_KQ_SUSPENDED), "held");
	st = id;
	CHECK(kfd_resume(fd, getpid(), &st, 1) == 1, "resume");
	/* queues created before ENABLE never carry EC_QUEUE_NEW */
	kfd_dbg_simple(fd, getpid(), XSB_KFD_DBG_TRAP_DISABLE);
	uint32_t old;
	CHECK(kfd_create_queue(fd, 7, &old) == 0, "create while disabled");
	CHECK(kfd_dbg_enable(fd, getpid(), &ri) == 0, "re-enable");
	st = old;
	CHECK(kfd_suspend(fd, getpid(), &st, 1, 0) == 1, "a queue created before ENABLE suspends at once");
	kfd_resume(fd, getpid(), &st, 1);
}

static void t_status_bits_and_idempotence(void)
{
	int fd = kfd_open();
	kfd_runtime_enable(fd);
	uint32_t a, b;
	CHECK(kfd_create_queue(fd, 7, &a) == 0 && kfd_create_queue(fd, 7, &b) == 0, "create");
	struct xsb_kfd_runtime_info ri;
	CHECK(kfd_dbg_enable(fd, getpid(), &ri) == 0, "enable");
	uint32_t ids[3] = { a, 777, b };
	if (a == 777 || b == 777)
		ids[1] = 778;
	uint32_t unknown = ids[1];
	CHECK(kfd_suspend(fd, getpid(), ids, 3, 0) == 2, "count of suspended queues");
	CHECK(ids[0] == a && ids[2] == b, "known ids clean");
	CHECK((ids[1] & XSB_KFD_DBG_QUEUE_INVALID_MASK) && (ids[1] & ~0xC0000000u) == unknown,
	      "unknown id gets INVALID (bit 31, unsigned): %#x", ids[1]);
	uint32_t again[2] = { a, b };
	CHECK(kfd_suspend(fd, getpid(), again, 2, 0) == 2, "suspending suspended queues counts as success");
	CHECK(kfd_resume(fd, getpid(), again, 2) == 2, "resume");
	CHECK(wait_flags(getpid(), a, XSB_EMU_KQ_SUSPENDED, 0), "a resumed");
	CHECK(kfd_resume(fd, getpid(), again, 2) == 2, "resuming running queues counts as success");
}

struct destroy_ctx {
	int fd;
	uint32_t id;
	atomic_int done;
	long ret;
};

static void *destroy_thread(void *p)
{
	struct destroy_ctx *c = p;
	c->ret = kfd_destroy_queue(c->fd, c->id);
	atomic_store(&c->done, 1);
	return NULL;
}

static void t_destroy_blocks_while_suspended(void)
{
	int fd = kfd_open();
	kfd_runtime_enable(fd);
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create");
	struct xsb_kfd_runtime_info ri;
	CHECK(kfd_dbg_enable(fd, getpid(), &ri) == 0, "enable");
	uint32_t st = id;
	CHECK(kfd_suspend(fd, getpid(), &st, 1, 0) == 1, "suspend");
	struct destroy_ctx c = { fd, id, 0, 0 };
	pthread_t th;
	pthread_create(&th, NULL, destroy_thread, &c);
	CHECK(wait_flags(getpid(), id, XSB_EMU_KQ_DESTROYING, XSB_EMU_KQ_DESTROYING), "destroy is pending");
	CHECK(!atomic_load(&c.done), "DESTROY_QUEUE returned while the queue was suspended");
	CHECK(sysfs_queue_exists(getpid(), id), "queue still listed while destroy waits");
	st = id;
	CHECK(kfd_resume(fd, getpid(), &st, 1) == 1, "resume from another thread is not blocked");
	pthread_join(th, NULL);
	CHECK(c.ret == 0, "destroy after resume: %ld", c.ret);
	CHECK(!sysfs_queue_exists(getpid(), id), "queue gone from sysfs");
}

static void t_disable_resumes(void)
{
	int fd = kfd_open();
	kfd_runtime_enable(fd);
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create");
	struct xsb_kfd_runtime_info ri;
	CHECK(kfd_dbg_enable(fd, getpid(), &ri) == 0, "enable");
	uint32_t st = id;
	CHECK(kfd_suspend(fd, getpid(), &st, 1, 0) == 1, "suspend");
	CHECK(kfd_dbg_simple(fd, getpid(), XSB_KFD_DBG_TRAP_DISABLE) == 0, "disable");
	CHECK(wait_flags(getpid(), id, XSB_EMU_KQ_SUSPENDED, 0), "DISABLE resumed the queue");
	CHECK(kfd_destroy_queue(fd, id) == 0, "destroy does not block");
}

/* A child process tries to debug its parent. */
static void t_cross_process_eperm(void)
{
	int fd = kfd_open();
	kfd_runtime_enable(fd);
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create");
	pid_t parent = getpid();
	int pfd[2];
	CHECK(pipe(pfd) == 0, "pipe");
	pid_t ch = fork();
	if (ch == 0) {
		int cfd = kfd_open();
		struct xsb_kfd_runtime_info ri;
		long r1 = kfd_dbg_enable(cfd, (uint32_t)parent, &ri);
		uint32_t st = id;
		long r2 = kfd_suspend(cfd, (uint32_t)parent, &st, 1, 0);
		long r3 = kfd_dbg_simple(cfd, (uint32_t)parent, XSB_KFD_DBG_TRAP_DISABLE);
		/* the parent's fd is not usable here: a KFD fd works only in its process */
		struct xsb_kfd_get_version_args v;
		long r4 = kio(fd, XSB_KFD_IOC_GET_VERSION, &v);
		long rs[4] = { r1, r2, r3, r4 };
		if (write(pfd[1], rs, sizeof rs) != sizeof rs)
			_exit(3);
		_exit(0);
	}
	long rs[4];
	CHECK(read(pfd[0], rs, sizeof rs) == sizeof rs, "child result");
	waitpid(ch, NULL, 0);
	CHECK(rs[0] == -EPERM, "ENABLE on another process without ptrace: %ld", rs[0]);
	CHECK(rs[1] == -EPERM, "SUSPEND on another process without ptrace: %ld", rs[1]);
	CHECK(rs[2] == -EINVAL || rs[2] == 0, "DISABLE is exempt from the ptrace check: %ld", rs[2]);
	CHECK(rs[3] == -EBADF, "inherited kfd fd used in the child: %ld", rs[3]);
}

/* A ptrace tracer may debug its tracee; when the debugger exits, its targets are resumed. */
static void t_ptrace_tracer_allowed(void)
{
	int go[2], res[2];
	CHECK(pipe(go) == 0 && pipe(res) == 0, "pipes");
	pid_t target = fork();
	if (target == 0) {
		int fd = kfd_open();
		kfd_runtime_enable(fd);
		uint32_t id;
		if (kfd_create_queue(fd, 7, &id) != 0)
			_exit(3);
		if (write(res[1], &id, sizeof id) != sizeof id)
			_exit(3);
		char c;
		if (read(go[0], &c, 1) != 1) /* parent says: done */
			_exit(3);
		/* the tracer has exited: our queue must be back and destroyable */
		_exit(kfd_destroy_queue(fd, id) == 0 ? 0 : 4);
	}
	uint32_t id;
	CHECK(read(res[0], &id, sizeof id) == sizeof id, "target ready");
	pid_t dbg = fork();
	if (dbg == 0) {
		int fd = kfd_open();
		if (ptrace(PTRACE_SEIZE, target, 0, 0) != 0)
			_exit(10);
		struct xsb_kfd_runtime_info ri;
		if (kfd_dbg_enable(fd, (uint32_t)target, &ri) != 0)
			_exit(11);
		uint32_t st = id;
		long n = kfd_suspend(fd, (uint32_t)target, &st, 1, 0);
		if (n != 1)
			_exit(12);
		_exit(0); /* exit while the target is held */
	}
	int ws = 0;
	waitpid(dbg, &ws, 0);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "tracer could enable+suspend (exit %d)", WEXITSTATUS(ws));
	CHECK(wait_flags((uint32_t)target, id, XSB_EMU_KQ_SUSPENDED, 0), "debugger exit resumed the target");
	CHECK(write(go[1], "x", 1) == 1, "go");
	waitpid(target, &ws, 0);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "target destroyed its queue (exit %d)", WEXITSTATUS(ws));
}

/* A process that exits while its queue is suspended (and with a destroy pending) is cleaned up. */
static void t_process_exit_cleans(void)
{
	int res[2];
	CHECK(pipe(res) == 0, "pipe");
	pid_t ch = fork();
	if (ch == 0) {
		int fd = kfd_open();
		kfd_runtime_enable(fd);
		uint32_t id;
		struct xsb_kfd_runtime_info ri;
		if (kfd_create_queue(fd, 7, &id) || kfd_dbg_enable(fd, getpid(), &ri))
			_exit(3);
		uint32_t st = id;
		if (kfd_suspend(fd, getpid(), &st, 1, 0) != 1)
			_exit(4);
		if (write(res[1], &id, sizeof id) != sizeof id)
			_exit(5);
		_exit(0);
	}
	uint32_t id;
	CHECK(read(res[0], &id, sizeof id) == sizeof id, "child ready");
	waitpid(ch, NULL, 0);
	char p[4096];
	snprintf(p, sizeof p, "%s/class/kfd/kfd/proc/%u", getenv("XSB_SYSFS_ROOT"), (unsigned)ch);
	int gone = 0;
	for (int i = 0; i < 20000 && !gone; i++) {
		struct stat st;
		gone = stat(p, &st) != 0;
		if (!gone) {
			struct timespec ts = { 0, 250000 };
			nanosleep(&ts, NULL);
		}
	}
	CHECK(gone, "proc/%u removed after exit", (unsigned)ch);
	CHECK(queue_flags((uint32_t)ch, id) == 0, "no queue of the dead process remains");
}

static void t_sysfs_lists_queues(void)
{
	int fd = kfd_open();
	uint32_t id;
	CHECK(kfd_create_queue(fd, 7, &id) == 0, "create");
	CHECK(sysfs_queue_exists(getpid(), id), "proc/<pid>/queues/<id> exists");
	CHECK(read_sysfs_num(getpid(), id, "size") == 65536, "size %ld", read_sysfs_num(getpid(), id, "size"));
	/* kfd_procfs_queue_show prints the kernel's internal type: AQL queues are KFD_QUEUE_TYPE_COMPUTE (0) */
	CHECK(read_sysfs_num(getpid(), id, "type") == 0, "type %ld", read_sysfs_num(getpid(), id, "type"));
	CHECK(read_sysfs_num(getpid(), id, "gpuid") == (long)kfd_gpu_id(), "gpuid");
	CHECK(kfd_destroy_queue(fd, id) == 0, "destroy");
	CHECK(!sysfs_queue_exists(getpid(), id), "gone after destroy");
}

static void t_unknown_ioctl(void)
{
	int fd = kfd_open();
	char buf[16] = { 0 };
	CHECK(kio(fd, _IOC(_IOC_READ | _IOC_WRITE, 'K', 0x7f, 16), buf) == -EINVAL, "unknown nr must be EINVAL");
	struct xsb_kfd_get_version_args *bad = (void *)8;
	CHECK(kio(fd, XSB_KFD_IOC_GET_VERSION, bad) == -EFAULT, "bad argument pointer must be EFAULT");
}

static const struct kfd_test tests[] = {
	{ "version", t_version },
	{ "create_layouts", t_create_layouts },
	{ "create_priority_range", t_create_priority_range },
	{ "ids_not_sequential", t_ids_not_sequential },
	{ "destroy_unknown", t_destroy_unknown },
	{ "update_queue", t_update_queue },
	{ "set_cu_mask", t_set_cu_mask },
	{ "runtime_enable", t_runtime_enable },
	{ "dbg_before_enable", t_dbg_before_enable },
	{ "enable_twice", t_enable_twice },
	{ "runtime_not_enabled", t_runtime_not_enabled },
	{ "queue_new", t_queue_new },
	{ "status_bits_and_idempotence", t_status_bits_and_idempotence },
	{ "destroy_blocks_while_suspended", t_destroy_blocks_while_suspended },
	{ "disable_resumes", t_disable_resumes },
	{ "cross_process_eperm", t_cross_process_eperm },
	{ "ptrace_tracer_allowed", t_ptrace_tracer_allowed },
	{ "process_exit_cleans", t_process_exit_cleans },
	{ "sysfs_lists_queues", t_sysfs_lists_queues },
	{ "unknown_ioctl", t_unknown_ioctl },
};

int main(int argc, char **argv)
{
	return kfd_run_tests(tests, (int)(sizeof tests / sizeof tests[0]), argc, argv);
}
