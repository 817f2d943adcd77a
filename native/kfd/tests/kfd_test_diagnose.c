/* Diagnoses name the cause and the fix for every errno KFD-FACTS documents; status bits;
 * version gate without a device. */
#include "xsb_kfd.h"
#include "check.h"

#include <errno.h>
#include <string.h>

static const char *d(int op, int err, uint32_t rs)
{
	static char buf[1024];
	return xsb_kfd_diagnose(op, err, rs, buf, sizeof(buf));
}

#define HAS(s, sub) (strstr((s), (sub)) != NULL)

int main(void)
{
	const uint32_t U = XSB_KFD_RUNTIME_STATE_UNKNOWN;
	const char *s;
	s = d(XSB_KFD_OP_SUSPEND, -EINVAL, U);
	CHECK(HAS(s, "EINVAL") && HAS(s, "NO_HWS") && HAS(s, "sched_policy") && HAS(s, "ENABLE"), "%s", s);
	s = d(XSB_KFD_OP_SUSPEND, -ESRCH, U);
	CHECK(HAS(s, "ESRCH") && HAS(s, "pid"), "%s", s);
	s = d(XSB_KFD_OP_SUSPEND, EPERM, U);
	CHECK(HAS(s, "ptrace") && HAS(s, "5.7") && HAS(s, "0x20000000"), "%s", s);
	s = d(XSB_KFD_OP_SUSPEND, -EPERM, 0);
	CHECK(HAS(s, "runtime_state 0") && HAS(s, "5.7") && HAS(s, "0x20000000") && !HAS(s, "tracer"), "%s", s);
	s = d(XSB_KFD_OP_DBG_ENABLE, -EPERM, U);
	CHECK(HAS(s, "ptrace tracer") && HAS(s, "PTRACE_SEIZE") && !HAS(s, "5.7"), "%s", s);
	s = d(XSB_KFD_OP_DBG_ENABLE, -EPERM, 2);
	CHECK(HAS(s, "ENABLED_BUSY"), "%s", s);
	s = d(XSB_KFD_OP_DBG_ENABLE, -EPERM, 3);
	CHECK(HAS(s, "ENABLED_ERROR"), "%s", s);
	s = d(XSB_KFD_OP_DBG_ENABLE, -EALREADY, U);
	CHECK(HAS(s, "EALREADY") && HAS(s, "rocgdb") && HAS(s, "debug agent") && HAS(s, "core"), "%s", s);
	s = d(XSB_KFD_OP_SUSPEND, -EBADF, U);
	CHECK(HAS(s, "EBADF") && HAS(s, "another process"), "%s", s);
	s = d(XSB_KFD_OP_RESUME, -EBUSY, U);
	CHECK(HAS(s, "EBUSY"), "%s", s);
	s = d(XSB_KFD_OP_DBG_ENABLE, -ENOTSUP, U);
	CHECK(HAS(s, "6.5") && HAS(s, "1.13"), "%s", s);
	s = d(XSB_KFD_OP_UPDATE_QUEUE, -EINVAL, U);
	CHECK(HAS(s, "UPDATE_QUEUE") && HAS(s, "ring base"), "%s", s);
	s = d(XSB_KFD_OP_OPEN, -ENOENT, U);
	CHECK(HAS(s, "emu"), "%s", s);
	/* one line, never longer than the buffer */
	char small[16];
	xsb_kfd_diagnose(XSB_KFD_OP_SUSPEND, -EPERM, U, small, sizeof(small));
	CHECK(strlen(small) == 15, "truncation %zu", strlen(small));
	CHECK(!strchr(d(XSB_KFD_OP_SUSPEND, -EPERM, 0), '\n'), "newline");

	/* status bits, as unsigned 32-bit values */
	uint32_t st = 5u | XSB_KFD_DBG_QUEUE_INVALID_MASK;
	CHECK(xsb_kfd_queue_status_invalid(st) && !xsb_kfd_queue_status_error(st), "invalid");
	CHECK(xsb_kfd_status_queue_id(st) == 5, "id");
	st = 7u | XSB_KFD_DBG_QUEUE_ERROR_MASK;
	CHECK(!xsb_kfd_queue_status_invalid(st) && xsb_kfd_queue_status_error(st), "error");
	CHECK(XSB_KFD_EC_MASK_QUEUE_NEW == 0x40000000ull && XSB_KFD_EC_MASK_PROCESS_RUNTIME == 0x800000000000ull, "masks");

	/* open of a missing device: -ENOENT, handle NULL */
	xsb_kfd_t *k = (xsb_kfd_t *)1;
	CHECK(xsb_kfd_open(&k, "/nonexistent/kfd") == -ENOENT && k == NULL, "open missing");
	/* a non-KFD file: GET_VERSION fails (ENOTTY), every debug op reports it */
	CHECK(xsb_kfd_open(&k, "/dev/null") == 0 && k, "open /dev/null");
	uint32_t ma, mi, rs;
	int r = xsb_kfd_version(k, &ma, &mi);
	CHECK(r == -ENOTTY, "version on /dev/null: %d", r);
	r = xsb_kfd_dbg_enable(k, 1, &rs);
	CHECK(r == -ENOTTY && rs == U, "enable on /dev/null: %d", r);
	xsb_kfd_close(k);
	CHECK_DONE("kfd_test_diagnose");
}
