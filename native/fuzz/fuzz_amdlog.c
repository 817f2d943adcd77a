/*
 * fuzz_amdlog - xsb_parse_amdlog (AMD_LOG_LEVEL HIP/ROCclr logs) on arbitrary bytes.
 * Contract (xsb_kfd_parse.h): number of hardware queues, -ENOSPC when they exceed qcap (a call
 * with more room succeeds), or -EBADMSG with a terminated message naming an existing line.
 * Events: *n_events is the total, at most ecap are written; the parse must not depend on ecap.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "xsb_kfd_parse.h"

#define QCAP 4u
#define ECAP 8u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct xsb_log_queue *q = calloc(QCAP, sizeof *q);
	struct xsb_log_event ev[ECAP];
	struct xsb_parse_error err;
	uint32_t nev = 0;
	memset(&err, 0, sizeof err);
	FUZZ_ASSERT(q != NULL, "calloc");
	int n = xsb_parse_amdlog(buf, size, q, QCAP, ev, ECAP, &nev, &err);
	uint32_t qcap = QCAP;
	/* -ENOSPC: grow as the header says, up to one queue per input line */
	while (n == -ENOSPC && qcap < fuzz_count_lines(buf, size) + 1u) {
		qcap *= 4;
		free(q);
		q = calloc(qcap, sizeof *q);
		FUZZ_ASSERT(q != NULL, "calloc %u", qcap);
		n = xsb_parse_amdlog(buf, size, q, qcap, ev, ECAP, &nev, &err);
	}
	if (n < 0) {
		FUZZ_ASSERT(n == -EBADMSG, "returned %d with room for %u queues", n, qcap);
		FUZZ_CHECK_ERR(err, fuzz_count_lines(buf, size));
		free(q);
		return 0;
	}
	FUZZ_ASSERT((uint32_t)n <= qcap, "%d queues reported into %u slots", n, qcap);
	for (int i = 0; i < n; i++) {
		FUZZ_ASSERT(q[i].priority >= -1 && q[i].priority <= 2, "queue priority %d", q[i].priority);
		uint32_t stored = q[i].n_streams < XSB_LOG_MAX_STREAMS ? q[i].n_streams : XSB_LOG_MAX_STREAMS;
		(void)q[i].streams[stored ? stored - 1 : 0];
	}
	for (uint32_t i = 0; i < nev && i < ECAP; i++)
		FUZZ_ASSERT(ev[i].kind >= XSB_LOG_EV_CREATED && ev[i].kind <= XSB_LOG_EV_DELETE, "event kind %u", ev[i].kind);
	/* without an event array the queues come out the same */
	struct xsb_log_queue *q2 = calloc(qcap, sizeof *q2);
	uint32_t nev2 = 0;
	FUZZ_ASSERT(q2 != NULL, "calloc");
	int n2 = xsb_parse_amdlog(buf, size, q2, qcap, NULL, 0, &nev2, NULL);
	FUZZ_ASSERT(n2 == n && nev2 == nev, "without events: %d queues %u events, with: %d %u", n2, nev2, n, nev);
	FUZZ_ASSERT(memcmp(q, q2, (size_t)n * sizeof *q) == 0, "queues differ without the event array");
	free(q2);
	free(q);
	return 0;
}
