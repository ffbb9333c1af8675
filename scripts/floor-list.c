/*
 * floor-list: the raw syscall floor of listing a tree the way `ppd file-list`
 * must: every directory read with getdents64, every other entry lstat'ed
 * (fstatat relative to its open directory).  The lstat cannot be skipped: an
 * in-place edit through a hard link shared with a dependency changes nothing
 * but the inode's own size, mtime or mode, so only the inode shows it.
 *
 * Nothing else is done: no manifest, no comparison, no output, no sorting.
 * Directories are shared out to THREADS worker threads through a stack, so
 * large trees keep every thread busy.  No real tool can be faster than this
 * with the same answers; ppd's benchmark reports its time against it.
 *
 * Usage: floor-list THREADS TREE...   (prints "<entries> entries stat'ed")
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct dirent64_raw {
    unsigned long long ino;
    long long off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static int *stack;
static size_t depth, cap;
static int busy;           /* workers holding a directory */
static long stated;

static void die(const char *op)
{
    fprintf(stderr, "floor-list: %s: %s\n", op, strerror(errno));
    exit(1);
}

static void push(int fd)
{
    pthread_mutex_lock(&lock);
    if (depth == cap) {
        cap = cap ? 2 * cap : 256;
        stack = realloc(stack, cap * sizeof *stack);
        if (!stack)
            die("realloc");
    }
    stack[depth++] = fd;
    pthread_cond_signal(&more);
    pthread_mutex_unlock(&lock);
}

static void list(int dir, char *buf, size_t size, long *count)
{
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, size);
        if (n < 0)
            die("getdents64");
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct dirent64_raw *d = (void *)(buf + off);
            off += d->reclen;
            if (d->name[0] == '.' && (!d->name[1] || (d->name[1] == '.' && !d->name[2])))
                continue;
            int is_dir = d->type == DT_DIR;
            if (!is_dir) {
                struct stat st;
                if (fstatat(dir, d->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                    die("fstatat");
                /* Differs from d_type only where the filesystem reports none. */
                is_dir = S_ISDIR(st.st_mode);
                if (!is_dir) {
                    (*count)++;
                    continue;
                }
            }
            int sub = openat(dir, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                die("openat");
            push(sub);
        }
    }
    close(dir);
}

static void *worker(void *arg)
{
    (void)arg;
    char *buf = malloc(32768);
    long count = 0;
    if (!buf)
        die("malloc");
    for (;;) {
        pthread_mutex_lock(&lock);
        while (depth == 0 && busy > 0)
            pthread_cond_wait(&more, &lock);
        if (depth == 0) {
            /* Nothing queued and nobody left to queue more: done. */
            pthread_cond_broadcast(&more);
            stated += count;
            pthread_mutex_unlock(&lock);
            free(buf);
            return NULL;
        }
        int dir = stack[--depth];
        busy++;
        pthread_mutex_unlock(&lock);
        list(dir, buf, 32768, &count);
        pthread_mutex_lock(&lock);
        busy--;
        if (busy == 0 && depth == 0)
            pthread_cond_broadcast(&more);
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: floor-list THREADS TREE...\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    if (threads < 1 || threads > 256)
        threads = 1;
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            die(argv[i]);
        push(fd);
    }
    pthread_t tid[256];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tid[i], NULL, worker, NULL) != 0)
            die("pthread_create");
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    printf("%ld entries stat'ed\n", stated);
    return 0;
}
