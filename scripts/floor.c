/*
 * floor: the raw syscall floor of one prepare step.
 *
 * It replays a precomputed plan (written by scripts/lib/floor-plan.py outside
 * the timing) with nothing but the system calls the result needs: mkdirat,
 * linkat, symlinkat, and utimensat/fchmodat for the directory and symlink
 * metadata the rsync loop also sets.  No scanning, no stat, no conflict
 * handling: the union of the dependencies was computed beforehand, so this is
 * a lower bound that no real tool can reach, only approach.
 *
 * Plan format: a sequence of NUL-terminated fields.  Each record starts with a
 * one-letter field:
 *   R <dest root>                 create the root (and missing parents), make it current
 *   S <source root>               open a source tree; sources are numbered from 0
 *   d <mode octal> <rel>          mkdirat(root, rel, mode)
 *   l <source index> <rel>        linkat(source, rel, root, rel, 0)
 *   s <target> <rel>              symlinkat(target, root, rel)
 *   m <mode octal> <rel>          fchmodat(root, rel, mode) (rel "." is the root)
 *   t <sec> <nsec> <rel>          utimensat(root, rel, {omit, mtime}, AT_SYMLINK_NOFOLLOW)
 *
 * Usage: floor [-C DIR] PLAN...   (exit 0, or 1 with one "floor: op path: reason" line)
 *   -C DIR  change to DIR first: relative R and S paths are below it (PLAN
 *           names stay relative to the directory floor was started in; the
 *           distro workload's plans name <pkg>/<tree> in the replay's
 *           per-package directory, so one plan serves every method)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_SOURCES 4096

static int sources[MAX_SOURCES];
static int nsources;
static int plan_dir = AT_FDCWD; /* where PLAN names are relative to (before -C) */

static void die(const char *op, const char *path)
{
    fprintf(stderr, "floor: %s %s: %s\n", op, path, strerror(errno));
    exit(1);
}

/* mkdir -p for the destination root only (once per tree). */
static void mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                die("mkdir", path);
            *p = '/';
        }
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("mkdir", path);
}

static char *read_all(const char *path, size_t *len)
{
    int fd = openat(plan_dir, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("stat", path);
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        die("malloc", path);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            die("read", path);
        got += (size_t)n;
    }
    buf[got] = 0;
    close(fd);
    *len = got;
    return buf;
}

static void replay(const char *plan)
{
    size_t len;
    char *buf = read_all(plan, &len);
    char *p = buf, *end = buf + len;
    int root = -1;
#define FIELD() ({ char *f_ = p; p += strlen(p) + 1; if (p > end + 1) { errno = EINVAL; die("parse", plan); } f_; })
    while (p < end) {
        char *op = FIELD();
        switch (op[0]) {
        case 'R': {
            char *path = FIELD();
            mkdir_p(path);
            if (root >= 0)
                close(root);
            /* Source indices are per tree. */
            for (int i = 0; i < nsources; i++)
                close(sources[i]);
            nsources = 0;
            root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (root < 0)
                die("open", path);
            break;
        }
        case 'S': {
            char *path = FIELD();
            if (nsources == MAX_SOURCES) {
                errno = E2BIG;
                die("open", path);
            }
            int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0)
                die("open", path);
            sources[nsources++] = fd;
            break;
        }
        case 'd': {
            mode_t mode = (mode_t)strtoul(FIELD(), NULL, 8);
            char *rel = FIELD();
            if (mkdirat(root, rel, mode) != 0)
                die("mkdir", rel);
            break;
        }
        case 'l': {
            int src = atoi(FIELD());
            char *rel = FIELD();
            if (linkat(sources[src], rel, root, rel, 0) != 0)
                die("link", rel);
            break;
        }
        case 's': {
            char *target = FIELD();
            char *rel = FIELD();
            if (symlinkat(target, root, rel) != 0)
                die("symlink", rel);
            break;
        }
        case 'm': {
            mode_t mode = (mode_t)strtoul(FIELD(), NULL, 8);
            char *rel = FIELD();
            if (fchmodat(root, rel, mode, 0) != 0)
                die("chmod", rel);
            break;
        }
        case 't': {
            struct timespec ts[2];
            ts[0].tv_sec = 0;
            ts[0].tv_nsec = UTIME_OMIT;
            ts[1].tv_sec = strtoll(FIELD(), NULL, 10);
            ts[1].tv_nsec = strtol(FIELD(), NULL, 10);
            char *rel = FIELD();
            if (utimensat(root, rel, ts, AT_SYMLINK_NOFOLLOW) != 0)
                die("utime", rel);
            break;
        }
        default:
            errno = EINVAL;
            die("parse", plan);
        }
    }
#undef FIELD
    if (root >= 0)
        close(root);
    for (int i = 0; i < nsources; i++)
        close(sources[i]);
    nsources = 0;
    free(buf);
}

int main(int argc, char **argv)
{
    umask(0); /* modes in the plan are exact */
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-C") == 0) {
        plan_dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (plan_dir < 0)
            die("open", ".");
        if (chdir(argv[2]) != 0)
            die("chdir", argv[2]);
        i = 3;
    }
    for (; i < argc; i++)
        replay(argv[i]);
    return 0;
}
