/*
 * fuzz_mqds - xsb_parse_mqds (debugfs kfd/mqds) on arbitrary bytes.
 * Contract (xsb_kfd_parse.h): returns the total number of queues (>= 0, possibly more than cap:
 * a second call with room for all returns the same total and the same first records) or
 * -EBADMSG with a terminated message naming an existing line; reads only [buf, buf+len).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "xsb_kfd_parse.h"

#define SMALL 2u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct xsb_mqd_queue small[SMALL];
	memset(small, 0, sizeof small); /* records compared bytewise below, padding included */
	struct xsb_parse_error err;
	memset(&err, 0, sizeof err);
	int n = xsb_parse_mqds(buf, size, small, SMALL, &err);
	if (n < 0) {
		FUZZ_ASSERT(n == -EBADMSG, "returned %d", n);
		FUZZ_ASSERT(err.err == EBADMSG, "err.err %d", err.err);
		FUZZ_CHECK_ERR(err, fuzz_count_lines(buf, size));
		return 0;
	}
	for (uint32_t i = 0; i < (uint32_t)n && i < SMALL; i++) {
		FUZZ_ASSERT(small[i].n_xcc <= XSB_MQD_MAX_XCC, "n_xcc %u", small[i].n_xcc);
		FUZZ_ASSERT(small[i].kind == XSB_MQD_QUEUE_COMPUTE || small[i].kind == XSB_MQD_QUEUE_SDMA, "kind %u",
		            small[i].kind);
	}
	if ((uint32_t)n > SMALL) {
		/* "call again with a larger array" must give the same answer */
		struct xsb_mqd_queue *all = calloc((size_t)n, sizeof *all);
		FUZZ_ASSERT(all != NULL, "calloc %d", n);
		int m = xsb_parse_mqds(buf, size, all, (uint32_t)n, &err);
		FUZZ_ASSERT(m == n, "second call returned %d, first %d", m, n);
		FUZZ_ASSERT(memcmp(all, small, sizeof small) == 0, "records differ between calls");
		free(all);
	}
	/* no output room at all is legal too */
	FUZZ_ASSERT(xsb_parse_mqds(buf, size, small, 0, NULL) == n, "cap 0 changed the total");
	return 0;
}
