/* hutil: small helpers shared by the example's host tools. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hutil.h"

const char *hutil_version(void)
{
	return "hutil 1.4";
}

void hutil_die(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

char *hutil_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		hutil_die("hutil", "out of memory");
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *hutil_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc(len + 1);
	if (!buf || fread(buf, 1, len, f) != (size_t)len) {
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}
