/* Minimal test assertions for the native tests. */
#ifndef XSB_CHECK_H
#define XSB_CHECK_H
#include <stdio.h>
#include <stdlib.h>

static int check_failures, check_count;
#define CHECK(cond, ...) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)
#define CHECK_DONE(name) do { \
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures); \
	return check_failures ? 1 : 0; \
} while (0)
#endif
