/*
 * xjson.h - a small JSON reader for the wire (shim and test coordinator): validates one
 * object and looks up its top-level keys. No allocation; values are returned as spans of the
 * input. Nested objects are read by calling the lookups again on the span.
 */
#ifndef XSB_XJSON_H
#define XSB_XJSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when [s, s+n) is exactly one JSON object (surrounding whitespace allowed), else -1. */
int xj_check_object(const char *s, size_t n);
/* Finds top-level key in the object: 1 found (*v, *vn: the value's text), 0 absent, -1 malformed. */
int xj_find(const char *s, size_t n, const char *key, const char **v, size_t *vn);
/* Typed lookups: 1 found with the right type, 0 absent or another type. */
int xj_get_str(const char *s, size_t n, const char *key, char *out, size_t cap);
int xj_get_i64(const char *s, size_t n, const char *key, int64_t *out);
int xj_get_obj(const char *s, size_t n, const char *key, const char **v, size_t *vn);
/* Escapes src into out as a JSON string body (no quotes); always NUL-terminates. */
void xj_escape(const char *src, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
