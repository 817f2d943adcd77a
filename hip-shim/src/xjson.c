/* xjson.c - see xjson.h. Depth-limited (nesting beyond 32 is rejected). */
#include "xjson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
	return p;
}

static const char *skip_string(const char *p, const char *e)
{
	if (p >= e || *p != '"') return NULL;
	for (p++; p < e; p++) {
		if ((unsigned char)*p < 0x20) return NULL;
		if (*p == '\\') {
			if (++p >= e) return NULL;
			if (!strchr("\"\\/bfnrtu", *p)) return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

static const char *skip_value(const char *p, const char *e, int depth);

static const char *skip_container(const char *p, const char *e, int depth, char open, char close)
{
	if (depth > 32) return NULL;
	p = ws(p + 1, e);
	if (p < e && *p == close) return p + 1;
	for (;;) {
		if (open == '{') {
			p = skip_string(ws(p, e), e);
			if (!p) return NULL;
			p = ws(p, e);
			if (p >= e || *p != ':') return NULL;
			p++;
		}
		p = skip_value(ws(p, e), e, depth + 1);
		if (!p) return NULL;
		p = ws(p, e);
		if (p >= e) return NULL;
		if (*p == close) return p + 1;
		if (*p != ',') return NULL;
		p++;
	}
}

static const char *skip_value(const char *p, const char *e, int depth)
{
	p = ws(p, e);
	if (p >= e) return NULL;
	switch (*p) {
	case '"': return skip_string(p, e);
	case '{': return skip_container(p, e, depth, '{', '}');
	case '[': return skip_container(p, e, depth, '[', ']');
	case 't': return (e - p >= 4 && !memcmp(p, "true", 4)) ? p + 4 : NULL;
	case 'f': return (e - p >= 5 && !memcmp(p, "false", 5)) ? p + 5 : NULL;
	case 'n': return (e - p >= 4 && !memcmp(p, "null", 4)) ? p + 4 : NULL;
	default: {
		const char *q = p;
		if (q < e && *q == '-') q++;
		if (q >= e || *q < '0' || *q > '9') return NULL;
		while (q < e && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' ||
		                 *q == '-'))
			q++;
		return q;
	}
	}
}

int xj_check_object(const char *s, size_t n)
{
	const char *e = s + n, *p = ws(s, e);
	if (p >= e || *p != '{') return -1;
	p = skip_value(p, e, 0);
	if (!p) return -1;
	return ws(p, e) == e ? 0 : -1;
}

int xj_find(const char *s, size_t n, const char *key, const char **v, size_t *vn)
{
	const char *e = s + n, *p = ws(s, e);
	size_t klen = strlen(key);
	if (p >= e || *p != '{') return -1;
	p = ws(p + 1, e);
	if (p < e && *p == '}') return 0;
	for (;;) {
		const char *k = ws(p, e);
		const char *ke = skip_string(k, e);
		if (!ke) return -1;
		p = ws(ke, e);
		if (p >= e || *p != ':') return -1;
		const char *vs = ws(p + 1, e);
		const char *ve = skip_value(vs, e, 1);
		if (!ve) return -1;
		if ((size_t)(ke - k - 2) == klen && !memcmp(k + 1, key, klen)) {
			*v = vs;
			*vn = (size_t)(ve - vs);
			return 1;
		}
		p = ws(ve, e);
		if (p >= e) return -1;
		if (*p == '}') return 0;
		if (*p != ',') return -1;
		p++;
	}
}

int xj_get_str(const char *s, size_t n, const char *key, char *out, size_t cap)
{
	const char *v;
	size_t vn;
	if (xj_find(s, n, key, &v, &vn) != 1 || vn < 2 || v[0] != '"' || cap == 0) return 0;
	size_t o = 0;
	for (size_t i = 1; i + 1 < vn; i++) {
		char c = v[i];
		if (c == '\\' && i + 2 < vn) {
			c = v[++i];
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': c = '?'; i += 4; break; /* the wire carries no non-ASCII names */
			default: break;
			}
		}
		if (o + 1 >= cap) return 0;
		out[o++] = c;
	}
	out[o] = 0;
	return 1;
}

int xj_get_i64(const char *s, size_t n, const char *key, int64_t *out)
{
	const char *v;
	size_t vn;
	if (xj_find(s, n, key, &v, &vn) != 1 || vn == 0 || vn > 30) return 0;
	char buf[32];
	/* numbers, or decimal strings (u64 values such as ring bases travel as strings) */
	if (v[0] == '"') {
		if (vn < 3) return 0;
		memcpy(buf, v + 1, vn - 2);
		buf[vn - 2] = 0;
	} else {
		memcpy(buf, v, vn);
		buf[vn] = 0;
	}
	char *end;
	errno = 0;
	long long x = strtoll(buf, &end, 10);
	if (errno || *end || end == buf) {
		if (errno == ERANGE && buf[0] != '-') {
			unsigned long long u = strtoull(buf, &end, 10);
			if (*end) return 0;
			*out = (int64_t)u;
			return 1;
		}
		return 0;
	}
	*out = x;
	return 1;
}

int xj_get_obj(const char *s, size_t n, const char *key, const char **v, size_t *vn)
{
	return xj_find(s, n, key, v, vn) == 1 && (*v)[0] == '{';
}

void xj_escape(const char *src, char *out, size_t cap)
{
	size_t o = 0;
	if (!cap) return;
	for (; src && *src && o + 7 < cap; src++) {
		unsigned char c = (unsigned char)*src;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			static const char hex[] = "0123456789abcdef";
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
}
