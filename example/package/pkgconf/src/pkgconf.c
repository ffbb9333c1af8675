/*
 * pkgconf: a minimal pkg-config for the example. It reads NAME.pc from the
 * colon-separated PKG_CONFIG_LIBDIR, expands ${var} references, follows
 * Requires recursively, and prefixes absolute -I and -L paths with
 * PKG_CONFIG_SYSROOT_DIR, which is all the example's packages need.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hutil.h>

#define MAXVARS 32
#define MAXOUT 256

struct pc {
	char *names[MAXVARS];
	char *values[MAXVARS];
	int nvars;
	char *cflags, *libs, *requires, *version;
};

static const char *out[MAXOUT];
static int nout;
static const char *seen[MAXOUT];
static int nseen;

static const char *lookup(struct pc *pc, const char *name, size_t len)
{
	int i;

	for (i = 0; i < pc->nvars; i++)
		if (strlen(pc->names[i]) == len && !strncmp(pc->names[i], name, len))
			return pc->values[i];
	return "";
}

/* Returns value with every ${var} replaced by the variables read so far. */
static char *expand(struct pc *pc, const char *value)
{
	char buf[4096];
	size_t n = 0;

	while (*value && n < sizeof(buf) - 1) {
		const char *end;

		if (value[0] == '$' && value[1] == '{' && (end = strchr(value, '}'))) {
			const char *v = lookup(pc, value + 2, end - value - 2);

			while (*v && n < sizeof(buf) - 1)
				buf[n++] = *v++;
			value = end + 1;
		} else {
			buf[n++] = *value++;
		}
	}
	return hutil_strndup(buf, n);
}

static int load(const char *module, struct pc *pc)
{
	const char *dirs = getenv("PKG_CONFIG_LIBDIR");
	char path[4096], *text = NULL, *line, *save;

	memset(pc, 0, sizeof(*pc));
	while (dirs && *dirs && !text) {
		size_t len = strcspn(dirs, ":");

		snprintf(path, sizeof(path), "%.*s/%s.pc", (int)len, dirs, module);
		text = hutil_read_file(path);
		dirs += len + (dirs[len] == ':');
	}
	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t key = strcspn(line, "=:");

		if (line[0] == '#' || !line[key])
			continue;
		if (line[key] == '=' && pc->nvars < MAXVARS) {
			pc->names[pc->nvars] = hutil_strndup(line, key);
			pc->values[pc->nvars++] = expand(pc, line + key + 1);
		} else if (line[key] == ':') {
			char *v = expand(pc, line + key + 1 + (line[key + 1] == ' '));

			if (!strncmp(line, "Cflags", key))
				pc->cflags = v;
			else if (!strncmp(line, "Libs", key))
				pc->libs = v;
			else if (!strncmp(line, "Requires", key))
				pc->requires = v;
			else if (!strncmp(line, "Version", key))
				pc->version = v;
		}
	}
	free(text);
	return 0;
}

static void emit(const char *flags)
{
	const char *sysroot = getenv("PKG_CONFIG_SYSROOT_DIR");
	char *copy, *tok, *save;
	int i;

	if (!flags)
		return;
	copy = hutil_strndup(flags, strlen(flags));
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char buf[4096];

		if (sysroot && *sysroot && strcmp(sysroot, "/") &&
		    (!strncmp(tok, "-I/", 3) || !strncmp(tok, "-L/", 3)))
			snprintf(buf, sizeof(buf), "%.2s%s%s", tok, sysroot, tok + 2);
		else
			snprintf(buf, sizeof(buf), "%s", tok);
		for (i = 0; i < nout && strcmp(out[i], buf); i++)
			;
		if (i == nout && nout < MAXOUT)
			out[nout++] = hutil_strndup(buf, strlen(buf));
	}
}

static void walk(const char *module, int want_cflags, int want_libs)
{
	struct pc pc;
	char *copy, *tok, *save;
	int i;

	for (i = 0; i < nseen; i++)
		if (!strcmp(seen[i], module))
			return;
	if (nseen < MAXOUT)
		seen[nseen++] = module;
	if (load(module, &pc))
		hutil_die("pkgconf", "Package %s was not found in the pkg-config search path", module);
	if (want_cflags)
		emit(pc.cflags);
	if (want_libs)
		emit(pc.libs);
	if (!pc.requires)
		return;
	copy = hutil_strndup(pc.requires, strlen(pc.requires));
	for (tok = strtok_r(copy, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
		walk(tok, want_cflags, want_libs);
}

int main(int argc, char **argv)
{
	int cflags = 0, libs = 0, modversion = 0, exists = 0, i;

	for (i = 1; i < argc; i++) {
		struct pc pc;

		if (!strcmp(argv[i], "--cflags"))
			cflags = 1;
		else if (!strcmp(argv[i], "--libs"))
			libs = 1;
		else if (!strcmp(argv[i], "--modversion"))
			modversion = 1;
		else if (!strcmp(argv[i], "--exists"))
			exists = 1;
		else if (!strcmp(argv[i], "--version"))
			return printf("1.0 (%s)\n", hutil_version()) < 0;
		else if (argv[i][0] == '-')
			hutil_die("pkgconf", "unknown option %s", argv[i]);
		else if (exists)
			return load(argv[i], &pc) ? 1 : 0;
		else if (modversion) {
			if (load(argv[i], &pc))
				hutil_die("pkgconf", "Package %s was not found", argv[i]);
			printf("%s\n", pc.version ? pc.version : "");
		} else
			walk(argv[i], cflags, libs);
	}
	for (i = 0; i < nout; i++)
		printf("%s%s", i ? " " : "", out[i]);
	if (nout || cflags || libs)
		printf("\n");
	return 0;
}
