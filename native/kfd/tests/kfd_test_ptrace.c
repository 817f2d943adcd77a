/* Test helper for cross-process KFD debugging (used by kfd_test_emu and the vitest suite).
 *   kfd_test_ptrace target N         runtime-enable, create N queues, print "READY <pid> <ids>",
 *                                    wait for EOF on stdin, destroy the queues, exit 0
 *   kfd_test_ptrace seize PID ID...  PTRACE_SEIZE PID, then ENABLE/SUSPEND/RESUME/DISABLE its
 *                                    queues; prints one line per step; exit 0 when all succeed
 *   kfd_test_ptrace noseize PID ID...  the same without ptrace: prints each result and diagnosis */
#include "emu_util.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static int target(int n)
{
	xsb_kfd_t *k;
	int r = xsb_kfd_open(&k, NULL);
	if (r < 0) {
		fprintf(stderr, "target: open: %s\n", strerror(-r));
		return 2;
	}
	r = runtime_enable(k);
	if (r < 0) {
		fprintf(stderr, "target: RUNTIME_ENABLE: %s\n", strerror(-r));
		return 2;
	}
	uint32_t gpu = first_gpu_id();
	uint32_t ids[64];
	if (!gpu || n < 1 || n > 64)
		return 2;
	for (int i = 0; i < n; i++) {
		r = create_queue(k, gpu, 0x7f0000000000ull + 0x200000ull * (uint64_t)(i + 1), &ids[i]);
		if (r < 0) {
			fprintf(stderr, "target: CREATE_QUEUE: %s\n", strerror(-r));
			return 2;
		}
	}
	printf("READY %d", (int)getpid());
	for (int i = 0; i < n; i++)
		printf(" %u", ids[i]);
	printf("\n");
	fflush(stdout);
	char buf[64];
	while (read(0, buf, sizeof(buf)) > 0)
		;
	for (int i = 0; i < n; i++)
		destroy_queue(k, ids[i]);
	xsb_kfd_close(k);
	return 0;
}

static int drive(uint32_t pid, uint32_t *ids, uint32_t n, int seize)
{
	char diag[512];
	int ok = 1;
	if (seize && ptrace(PTRACE_SEIZE, (pid_t)pid, 0, 0) != 0) {
		printf("SEIZE %d %s\n", -errno, strerror(errno));
		return 1;
	}
	xsb_kfd_t *k;
	int r = xsb_kfd_open(&k, NULL);
	if (r < 0) {
		printf("OPEN %d\n", r);
		return 1;
	}
	uint32_t rs;
	r = xsb_kfd_dbg_enable(k, pid, &rs);
	printf("ENABLE %d %u %s\n", r, rs, r < 0 ? xsb_kfd_diagnose(XSB_KFD_OP_DBG_ENABLE, r, rs, diag, sizeof(diag)) : "ok");
	ok &= r >= 0;
	uint32_t st[64];
	memcpy(st, ids, n * sizeof(*ids));
	r = xsb_kfd_suspend(k, pid, st, n, 1, XSB_KFD_EC_MASK_QUEUE_NEW);
	printf("SUSPEND %d %s", r, r < 0 ? xsb_kfd_diagnose(XSB_KFD_OP_SUSPEND, r, XSB_KFD_RUNTIME_STATE_UNKNOWN, diag, sizeof(diag)) : "");
	for (uint32_t i = 0; r >= 0 && i < n; i++)
		printf(" %08x", st[i]);
	printf("\n");
	ok &= r == (int)n;
	memcpy(st, ids, n * sizeof(*ids));
	r = xsb_kfd_resume(k, pid, st, n);
	printf("RESUME %d\n", r);
	ok &= r == (int)n;
	r = xsb_kfd_dbg_disable(k, pid);
	printf("DISABLE %d\n", r);
	ok &= r == 0;
	xsb_kfd_close(k);
	fflush(stdout);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "target"))
		return target(atoi(argv[2]));
	if (argc >= 4 && (!strcmp(argv[1], "seize") || !strcmp(argv[1], "noseize"))) {
		uint32_t ids[64];
		uint32_t n = 0;
		for (int i = 3; i < argc && n < 64; i++)
			ids[n++] = (uint32_t)strtoul(argv[i], NULL, 0);
		return drive((uint32_t)strtoul(argv[2], NULL, 0), ids, n, !strcmp(argv[1], "seize"));
	}
	fprintf(stderr, "usage: %s target N | seize PID ID... | noseize PID ID...\n", argv[0]);
	return 2;
}
