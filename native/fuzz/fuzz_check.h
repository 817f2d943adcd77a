/* Assertions of the fuzz targets: a violated contract aborts, so libFuzzer reports it like a
 * crash and keeps the input. */
#ifndef XSB_FUZZ_CHECK_H
#define XSB_FUZZ_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c, ...)                                                   \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "contract violated at %s:%d: %s: ", __FILE__, __LINE__, #c); \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                             \
	} while (0)

/* An error record must be a terminated message tied to an existing line (or none). */
#define FUZZ_CHECK_ERR(e, nlines)                                                                    \
	do {                                                                                         \
		FUZZ_ASSERT(memchr((e).msg, 0, sizeof(e).msg) != NULL, "error message not terminated"); \
		FUZZ_ASSERT((e).msg[0] != 0, "empty error message");                                   \
		FUZZ_ASSERT((e).line <= (nlines), "error line %u beyond the input's %u lines", (e).line, \
		            (unsigned)(nlines));                                                       \
	} while (0)

static inline unsigned fuzz_count_lines(const char *d, size_t n)
{
	unsigned l = n ? 1 : 0;
	for (size_t i = 0; i + 1 < n; i++) l += d[i] == '\n';
	return l;
}
#endif
