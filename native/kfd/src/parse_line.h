/* Line iteration for the capture parsers: explicit lengths, ANSI escapes removed, NUL bytes
 * neutralised, trailing CR/LF dropped. Internal to libxsbkfd. */
#ifndef XSB_PARSE_LINE_H
#define XSB_PARSE_LINE_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "xsb_kfd_parse.h"

#define XSB_LINE_MAX 4096

struct line_iter {
	const char *buf;
	size_t len, pos;
	uint32_t lineno;
	char text[XSB_LINE_MAX];
	size_t text_len;
	int truncated; /* the line was longer than XSB_LINE_MAX - 1 */
};

static inline void line_iter_init(struct line_iter *it, const char *buf, size_t len)
{
	it->buf = buf ? buf : "";
	it->len = buf ? len : 0;
	it->pos = 0;
	it->lineno = 0;
}

/* Next line into it->text; 0 at end of input. */
static inline int line_next(struct line_iter *it)
{
	if (it->pos >= it->len)
		return 0;
	size_t o = 0;
	it->truncated = 0;
	it->lineno++;
	while (it->pos < it->len) {
		unsigned char c = (unsigned char)it->buf[it->pos++];
		if (c == '\n')
			break;
		if (c == 0x1b) {
			/* CSI: ESC [ params intermediates final; other escapes: ESC + one char */
			if (it->pos < it->len && it->buf[it->pos] == '[') {
				it->pos++;
				while (it->pos < it->len) {
					unsigned char d = (unsigned char)it->buf[it->pos];
					if (d == '\n')
						break;
					it->pos++;
					if (d >= 0x40 && d <= 0x7e)
						break;
				}
			} else if (it->pos < it->len && it->buf[it->pos] != '\n') {
				it->pos++;
			}
			continue;
		}
		if (c == 0)
			c = '?';
		if (o < XSB_LINE_MAX - 1)
			it->text[o++] = (char)c;
		else
			it->truncated = 1;
	}
	while (o > 0 && (it->text[o - 1] == '\r' || it->text[o - 1] == ' ' || it->text[o - 1] == '\t'))
		o--;
	it->text[o] = '\0';
	it->text_len = o;
	return 1;
}

static inline int parse_fail(struct xsb_parse_error *err, uint32_t line, const char *fmt, ...)
{
	if (err) {
		err->line = line;
		err->err = EBADMSG;
		va_list ap;
		va_start(ap, fmt);
		int n = snprintf(err->msg, sizeof(err->msg), "line %u: ", line);
		if (n > 0 && (size_t)n < sizeof(err->msg))
			vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static inline const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static inline int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Unsigned decimal; *s advanced. 0 on success. */
static inline int take_dec(const char **s, uint64_t *v, uint64_t max)
{
	const char *p = *s;
	uint64_t x = 0;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		uint64_t d = (uint64_t)(*p - '0');
		/* d > max first: max - d would wrap for a small max (fuzz_amdlog found "with
		 * priority 14" accepted against max 2) */
		if (d > max || x > (max - d) / 10)
			return -1;
		x = x * 10 + d;
		p++;
	}
	*s = p;
	*v = x;
	return 0;
}

/* Hex with optional 0x; at most maxdigits digits; *s advanced. */
static inline int take_hex(const char **s, uint64_t *v, int maxdigits)
{
	const char *p = *s;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	uint64_t x = 0;
	int n = 0;
	int h;
	while ((h = hexval(*p)) >= 0) {
		if (++n > maxdigits)
			return -1;
		x = (x << 4) | (uint64_t)h;
		p++;
	}
	if (n == 0)
		return -1;
	*s = p;
	*v = x;
	return 0;
}

/* Literal prefix match with flexible runs of spaces where lit has a space. */
static inline int take_lit(const char **s, const char *lit)
{
	const char *p = *s;
	while (*lit) {
		if (*lit == ' ') {
			if (*p != ' ' && *p != '\t')
				return -1;
			p = skip_ws(p);
			lit++;
			continue;
		}
		if (*p != *lit)
			return -1;
		p++;
		lit++;
	}
	*s = p;
	return 0;
}

/* Token end: the number must be followed by a delimiter, not by more junk. */
static inline int at_delim(const char *s, const char *delims)
{
	return *s == '\0' || strchr(delims, *s) != NULL;
}

/* A hex-dump line: indent, an address of 8 or 16 characters, ':' then words of 8 hex digits.
 * Returns the number of words (0..max), -1 when the line is not a dump line, -2 when it is one
 * but malformed (non-hex address or word, wrong width, too many words). */
static inline int parse_dump_line(const char *t, uint64_t *addr, uint32_t *words, int max)
{
	const char *p = skip_ws(t);
	*addr = 0;
	if (p == t)
		return -1; /* dumps are indented; an unindented "abc:" is some other line */
	const char *q = p;
	while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))
		q++;
	size_t alen = (size_t)(q - p);
	if (*q != ':' || (alen != 8 && alen != 16))
		return -1;
	uint64_t a = 0;
	int h;
	for (const char *c = p; c < q; c++) {
		if ((h = hexval(*c)) < 0)
			return -2;
		a = (a << 4) | (uint64_t)h;
	}
	q++;
	*addr = a;
	int cnt = 0;
	for (;;) {
		q = skip_ws(q);
		if (!*q)
			break;
		uint32_t w = 0;
		int d = 0;
		while ((h = hexval(*q)) >= 0) {
			w = (w << 4) | (uint32_t)h;
			q++;
			d++;
			if (d > 8)
				return -2;
		}
		if (d != 8 || (*q && *q != ' ' && *q != '\t'))
			return -2;
		if (cnt >= max)
			return -2;
		words[cnt++] = w;
	}
	return cnt;
}

#endif
