/* libxsbkfd against the emulated driver, from real processes (run by run-emu-test.sh in the
 * emulator environment).
 *   kfd_test_emu HELPER            self-debugging, EC_QUEUE_NEW, update_queue, sysfs queues,
 *                                  cross-process EPERM and the ptrace tracer (HELPER = kfd_test_ptrace)
 *   kfd_test_emu --old-kfd         device reporting KFD 1.11: debug path refused with ENOTSUP
 *   kfd_test_emu --no-hws          device with sched_policy 2: DBG_TRAP refused with EINVAL */
#include "emu_util.h"
#include "check.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char diag[1024];
#define DIAG(op, r, rs) xsb_kfd_diagnose(op, r, rs, diag, sizeof(diag))

static void self_debug(void)
{
	xsb_kfd_t *k;
	CHECK(xsb_kfd_open(&k, NULL) == 0, "open");
	uint32_t ma = 0, mi = 0;
	CHECK(xsb_kfd_version(k, &ma, &mi) == 0 && ma == 1 && mi >= 13, "version %u.%u", ma, mi);
	uint32_t gpu = first_gpu_id();
	CHECK(gpu != 0, "gpu");
	uint32_t pid = (uint32_t)getpid();

	/* runtime not enabled yet: ENABLE "succeeds" in the kernel with runtime_state 0; the
	 * library rolls back and reports EPERM with the runtime diagnosis */
	uint32_t rs = 77;
	int r = xsb_kfd_dbg_enable(k, pid, &rs);
	CHECK(r == -EPERM && rs == XSB_KFD_RUNTIME_STATE_DISABLED, "enable without runtime: %d rs %u", r, rs);
	CHECK(strstr(DIAG(XSB_KFD_OP_DBG_ENABLE, r, rs), "5.7") && strstr(diag, "runtime_state 0"), "%s", diag);
	/* rolled back: a later op sees "not enabled" (EINVAL), not a live session */
	uint32_t none = 0;
	r = xsb_kfd_suspend(k, pid, &none, 1, 1, 0);
	CHECK(r == -EINVAL, "suspend after rollback: %d", r);

	CHECK(runtime_enable(k) == 0, "RUNTIME_ENABLE");
	uint32_t ids[3];
	CHECK(create_queue(k, gpu, 0x7f4100000000ull, &ids[0]) == 0, "create 0");
	CHECK(create_queue(k, gpu, 0x7f4100200000ull, &ids[1]) == 0, "create 1");
	r = xsb_kfd_dbg_enable(k, pid, &rs);
	CHECK(r >= 0 && rs == XSB_KFD_RUNTIME_STATE_ENABLED, "enable: %d rs %u %s", r, rs,
	      r < 0 ? DIAG(XSB_KFD_OP_DBG_ENABLE, r, rs) : "");
	r = xsb_kfd_dbg_enable(k, pid, &rs);
	CHECK(r == -EALREADY && strstr(DIAG(XSB_KFD_OP_DBG_ENABLE, r, rs), "rocgdb"), "second enable: %d", r);

	/* a queue created while the trap is enabled carries EC_QUEUE_NEW: SUSPEND skips it */
	CHECK(create_queue(k, gpu, 0x7f4100400000ull, &ids[2]) == 0, "create 2");
	uint32_t st[3] = {ids[0], ids[1], ids[2]};
	r = xsb_kfd_suspend(k, pid, st, 3, 1, 0);
	CHECK(r == 2, "suspend with a new queue: %d", r);
	CHECK(!xsb_kfd_status_invalid(st[0]) && !xsb_kfd_status_invalid(st[1]), "old queues suspended %08x %08x", st[0], st[1]);
	CHECK(xsb_kfd_status_invalid(st[2]) && xsb_kfd_status_queue_id(st[2]) == ids[2], "new queue invalid %08x", st[2]);

	/* snapshot: count first, then entries, clearing EC_QUEUE_NEW */
	uint32_t total = 0;
	r = xsb_kfd_queue_snapshot(k, pid, 0, NULL, 0, &total);
	CHECK(r == 0 && total == 3, "snapshot count: %d total %u", r, total);
	struct xsb_kfd_queue_snapshot_entry e[8];
	memset(e, 0, sizeof(e));
	r = xsb_kfd_queue_snapshot(k, pid, XSB_KFD_EC_MASK_QUEUE_NEW, e, 8, &total);
	CHECK(r == 3 && total == 3, "snapshot: %d total %u", r, total);
	int seen = 0;
	for (int i = 0; i < r && i < 8; i++) {
		if (e[i].queue_id == ids[2]) {
			seen = 1;
			CHECK(e[i].ring_base_address == 0x7f4100400000ull && e[i].gpu_id == gpu && e[i].ring_size == 65536,
			      "entry ring %llx gpu %u size %u", (unsigned long long)e[i].ring_base_address, e[i].gpu_id, e[i].ring_size);
			CHECK(e[i].exception_status & XSB_KFD_EC_MASK_QUEUE_NEW, "new queue's exception status %llx",
			      (unsigned long long)e[i].exception_status);
		}
	}
	CHECK(seen, "new queue in snapshot");
	/* cleared: now it suspends; already-suspended queues count as success */
	uint32_t st2[3] = {ids[0], ids[1], ids[2]};
	r = xsb_kfd_suspend(k, pid, st2, 3, 1, 0);
	CHECK(r == 3 && !xsb_kfd_status_invalid(st2[2]), "suspend after clear: %d %08x", r, st2[2]);
	/* unknown queue id: INVALID bit 31 */
	uint32_t bogus = 1000;
	r = xsb_kfd_suspend(k, pid, &bogus, 1, 1, 0);
	CHECK(r == 0 && xsb_kfd_status_invalid(bogus), "bogus: %d %08x", r, bogus);
	uint32_t rsm[3] = {ids[0], ids[1], ids[2]};
	r = xsb_kfd_resume(k, pid, rsm, 3);
	CHECK(r == 3 && !xsb_kfd_status_invalid(rsm[0]) && !xsb_kfd_status_error(rsm[0]), "resume: %d", r);

	/* the queues as sysfs lists them */
	struct xsb_proc_queue pq[8];
	struct xsb_sysfs_error se;
	r = xsb_sysfs_proc_queues(NULL, pid, pq, 8, &se);
	CHECK(r == 3 && pq[0].gpu_id == gpu && pq[0].size == 65536, "sysfs queues: %d %s", r, se.msg);

	/* UPDATE_QUEUE deactivate/reactivate (no debugger needed) and its argument checks */
	CHECK(xsb_kfd_update_queue(k, ids[0], 0x7f4100000000ull, 65536, 0, 7) == 0, "deactivate");
	CHECK(xsb_kfd_update_queue(k, ids[0], 0x7f4100000000ull, 65536, 100, 11) == 0, "reactivate");
	CHECK(xsb_kfd_update_queue(k, ids[0], 0x7f4100000000ull, 65536, 100, 16) == -EINVAL, "prio 16");
	r = xsb_kfd_update_queue(k, 999, 0x7f4100000000ull, 65536, 100, 7);
	CHECK(r < 0, "update unknown queue: %d", r);

	CHECK(xsb_kfd_dbg_disable(k, pid) == 0, "disable");
	r = xsb_kfd_suspend(k, pid, st, 1, 1, 0);
	CHECK(r == -EINVAL && strstr(DIAG(XSB_KFD_OP_SUSPEND, r, XSB_KFD_RUNTIME_STATE_UNKNOWN), "ENABLE"), "after disable: %d", r);
	/* ESRCH for a pid without a KFD process */
	r = xsb_kfd_dbg_enable(k, 0x7ffffff0u, &rs);
	CHECK(r == -ESRCH, "unknown pid: %d", r);
	for (int i = 0; i < 3; i++)
		CHECK(destroy_queue(k, ids[i]) == 0, "destroy %d", i);
	xsb_kfd_close(k);
}

/* Runs helper with args, returns its exit status; stdout captured in out. */
static int run_helper(char *const argv[], char *out, size_t cap)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t c = fork();
	if (c == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	size_t o = 0;
	ssize_t n;
	while ((n = read(p[0], out + o, cap - 1 - o)) > 0 && o < cap - 1)
		o += (size_t)n;
	out[o] = 0;
	close(p[0]);
	int st;
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cross_process(const char *helper)
{
	int in[2], outp[2];
	CHECK(pipe(in) == 0 && pipe(outp) == 0, "pipes");
	pid_t t = fork();
	if (t == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		execl(helper, helper, "target", "2", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	char line[256];
	size_t o = 0;
	ssize_t n;
	/* bounded by ctest's TIMEOUT: the target prints READY once its queues exist */
	while (o < sizeof(line) - 1 && (n = read(outp[0], line + o, 1)) == 1 && line[o] != '\n')
		o++;
	line[o] = 0;
	unsigned tpid = 0, q0 = 0, q1 = 0;
	int ok = sscanf(line, "READY %u %u %u", &tpid, &q1, &q0) == 3 && tpid == (unsigned)t;
	if (!ok) {
		kill(t, SIGKILL);
		waitpid(t, NULL, 0);
	}
	CHECK(ok, "target did not get ready: '%s'", line);

	/* from this process, not a tracer: EPERM and the ptrace diagnosis */
	xsb_kfd_t *k;
	CHECK(xsb_kfd_open(&k, NULL) == 0, "open");
	uint32_t rs;
	int r = xsb_kfd_dbg_enable(k, tpid, &rs);
	CHECK(r == -EPERM && rs == XSB_KFD_RUNTIME_STATE_UNKNOWN, "cross enable: %d rs %u", r, rs);
	CHECK(strstr(DIAG(XSB_KFD_OP_DBG_ENABLE, r, rs), "ptrace tracer"), "%s", diag);
	uint32_t ids[2] = {q0, q1};
	r = xsb_kfd_suspend(k, tpid, ids, 2, 1, 0);
	CHECK(r == -EPERM && strstr(DIAG(XSB_KFD_OP_SUSPEND, r, XSB_KFD_RUNTIME_STATE_UNKNOWN), "ptrace"),
	      "cross suspend: %d", r);
	xsb_kfd_close(k);

	/* another process that seizes the target: accepted */
	char a1[16], a2[16], a3[16], out[2048];
	snprintf(a1, sizeof(a1), "%u", tpid);
	snprintf(a2, sizeof(a2), "%u", q0);
	snprintf(a3, sizeof(a3), "%u", q1);
	char *argv[] = {(char *)helper, "seize", a1, a2, a3, NULL};
	int rc = run_helper(argv, out, sizeof(out));
	CHECK(rc == 0 && strstr(out, "SUSPEND 2") && strstr(out, "RESUME 2"), "seize helper rc %d:\n%s", rc, out);
	char *argv2[] = {(char *)helper, "noseize", a1, a2, a3, NULL};
	rc = run_helper(argv2, out, sizeof(out));
	CHECK(rc == 1 && strstr(out, "ENABLE -1 ") && strstr(out, "ptrace tracer"), "noseize helper rc %d:\n%s", rc, out);

	close(in[1]); /* target destroys its queues and exits */
	int st;
	waitpid(t, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "target exit %d", st);
}

static void old_kfd(void)
{
	xsb_kfd_t *k;
	CHECK(xsb_kfd_open(&k, NULL) == 0, "open");
	uint32_t ma, mi, rs;
	CHECK(xsb_kfd_version(k, &ma, &mi) == 0 && ma == 1 && mi == 11, "version %u.%u", ma, mi);
	int r = xsb_kfd_dbg_enable(k, (uint32_t)getpid(), &rs);
	CHECK(r == -ENOTSUP && strstr(DIAG(XSB_KFD_OP_DBG_ENABLE, r, rs), "6.5"), "enable on 1.11: %d", r);
	uint32_t id = 0;
	CHECK(xsb_kfd_suspend(k, (uint32_t)getpid(), &id, 1, 1, 0) == -ENOTSUP, "suspend on 1.11");
	xsb_kfd_close(k);
}

static void no_hws(void)
{
	xsb_kfd_t *k;
	CHECK(xsb_kfd_open(&k, NULL) == 0, "open");
	CHECK(runtime_enable(k) == 0 || 1, "runtime enable");
	uint32_t rs;
	int r = xsb_kfd_dbg_enable(k, (uint32_t)getpid(), &rs);
	CHECK(r == -EINVAL && strstr(DIAG(XSB_KFD_OP_DBG_ENABLE, r, rs), "NO_HWS"), "enable on NO_HWS: %d", r);
	struct xsb_amdgpu_params p;
	CHECK(xsb_sysfs_amdgpu_params(NULL, &p) == 0, "params");
	CHECK(p.sched_policy == 2 || p.sched_policy_errno != 0, "sched_policy %d (errno %d)", p.sched_policy, p.sched_policy_errno);
	xsb_kfd_close(k);
}

static void emu_sysfs(void)
{
	struct xsb_topo_node n[8];
	struct xsb_sysfs_error e;
	int r = xsb_sysfs_topology(NULL, n, 8, &e);
	CHECK(r >= 1, "emulator topology: %d %s", r, e.msg);
	int gpus = 0;
	for (int i = 0; i < r && i < 8; i++) {
		if (!n[i].gpu_id)
			continue;
		gpus++;
		CHECK(n[i].gfx_name[0] && n[i].cu_count > 0 && n[i].fw_debug == 1, "gpu node %u: %s cu %u fw %u missing %x",
		      n[i].node, n[i].gfx_name, n[i].cu_count, n[i].fw_debug, n[i].missing);
	}
	CHECK(gpus >= 1, "no GPU node");
	struct xsb_amdgpu_params p;
	CHECK(xsb_sysfs_amdgpu_params(NULL, &p) == 0, "params");
	printf("emulator params: sched_policy %d (errno %d) cwsr %d (errno %d) timeout %d mes %d (errno %d)\n",
	       p.sched_policy, p.sched_policy_errno, p.cwsr_enable, p.cwsr_enable_errno,
	       p.queue_preemption_timeout_ms, p.mes, p.mes_errno);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--old-kfd")) {
		old_kfd();
		CHECK_DONE("kfd_test_emu --old-kfd");
	}
	if (argc > 1 && !strcmp(argv[1], "--no-hws")) {
		no_hws();
		CHECK_DONE("kfd_test_emu --no-hws");
	}
	if (argc < 2) {
		fprintf(stderr, "usage: kfd_test_emu PTRACE_HELPER | --old-kfd | --no-hws\n");
		return 2;
	}
	self_debug(); /* its open() starts the device, which writes the sysfs tree */
	emu_sysfs();
	cross_process(argv[1]);
	CHECK_DONE("kfd_test_emu");
}
