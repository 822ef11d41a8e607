/* util.c - error records and growable arrays. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "koff.h"

int koff_fail(struct koff_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int koff_grow(void *ptr, int *cap, int need, size_t elem)
{
	void **p = ptr;
	int ncap;
	void *n;

	if (need < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap <= need)
		ncap *= 2;
	n = realloc(*p, (size_t)ncap * elem);
	if (!n)
		return -ENOMEM;
	/* Zero the new tail so that fresh elements start out empty. */
	memset((char *)n + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
	*p = n;
	*cap = ncap;
	return 0;
}
