/*
 * timed: run a command and append "<program> <operation> <microseconds>" to
 * the file named by $EXAMPLE_TIMING_LOG: the program's name ("ppd") and its
 * first non-option argument (the ppd subcommand). Exits with the command's
 * status.
 * It execs nothing else and keeps every inherited descriptor, so make's
 * jobserver pipe still reaches ppd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	const char *log = getenv("EXAMPLE_TIMING_LOG"), *op = "run", *prog;
	long long t0 = now_us();
	int status, i;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: timed COMMAND [ARG...]\n");
		return 2;
	}
	for (i = 2; i < argc; i++)
		if (argv[i][0] != '-') {
			op = argv[i];
			break;
		}
	pid = fork();
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		perror("timed");
		return 2;
	}
	if (log) {
		FILE *f = fopen(log, "a");

		if (f) {
			prog = strrchr(argv[1], '/');
			fprintf(f, "%s %s %lld\n", prog ? prog + 1 : argv[1], op,
				now_us() - t0);
			fclose(f);
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
