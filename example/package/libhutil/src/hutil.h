/* hutil: small helpers shared by the example's host tools. */
#ifndef HUTIL_H
#define HUTIL_H

#include <stddef.h>

/* Returns the library's version string. */
const char *hutil_version(void);
/* Prints "<prog>: <message>" on stderr and exits with status 1. */
void hutil_die(const char *prog, const char *fmt, ...);
/* Returns a heap copy of the first n bytes of s (always NUL-terminated). */
char *hutil_strndup(const char *s, size_t n);
/* Returns the whole file as a NUL-terminated heap string, or NULL. */
char *hutil_read_file(const char *path);

#endif
