/*
 * fuzz_hqds - xsb_parse_hqds (debugfs kfd/hqds) on arbitrary bytes.
 * Contract (xsb_kfd_parse.h): total number of slots (>= 0, possibly more than cap; a second
 * call with room for all agrees) or -EBADMSG with a terminated message naming an existing line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "xsb_kfd_parse.h"

#define SMALL 4u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct xsb_hqd_slot small[SMALL];
	memset(small, 0, sizeof small); /* records compared bytewise below, padding included */
	struct xsb_parse_error err;
	memset(&err, 0, sizeof err);
	int n = xsb_parse_hqds(buf, size, small, SMALL, &err);
	if (n < 0) {
		FUZZ_ASSERT(n == -EBADMSG, "returned %d", n);
		FUZZ_CHECK_ERR(err, fuzz_count_lines(buf, size));
		return 0;
	}
	for (uint32_t i = 0; i < (uint32_t)n && i < SMALL; i++) {
		FUZZ_ASSERT(small[i].kind <= XSB_HQD_KIND_SDMA, "kind %u", small[i].kind);
		FUZZ_ASSERT(small[i].active <= 1, "active %u", small[i].active);
	}
	if ((uint32_t)n > SMALL) {
		struct xsb_hqd_slot *all = calloc((size_t)n, sizeof *all);
		FUZZ_ASSERT(all != NULL, "calloc %d", n);
		int m = xsb_parse_hqds(buf, size, all, (uint32_t)n, &err);
		FUZZ_ASSERT(m == n, "second call returned %d, first %d", m, n);
		FUZZ_ASSERT(memcmp(all, small, sizeof small) == 0, "records differ between calls");
		free(all);
	}
	FUZZ_ASSERT(xsb_parse_hqds(buf, size, small, 0, NULL) == n, "cap 0 changed the total");
	return 0;
}
