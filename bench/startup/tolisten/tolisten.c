// Time from exec to the first line of stdout that contains a marker ("listening" by default), for N runs of a
// command, then SIGKILL. Unlike a shell harness (a fifo and a read loop: tens of ms of its own on a small VM),
// this adds only a fork, a pipe and a poll: what it prints is the program's own start.
//   tolisten [-n RUNS] [-w WARMUP] [-m MARKER] -- COMMAND ARGS...
// Prints one line per run (microseconds) to stderr with -v, and a summary (min, median, mean, max) to stdout.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// One run: -1 when the program ended or stayed silent for 10 s without printing the marker.
static double run_once(char **argv, const char *marker) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) { perror("pipe"); exit(2); }
    double start = now_us();
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(2); }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execvp(argv[0], argv);
        perror("exec");
        _exit(127);
    }
    close(fds[1]);
    char buf[65536];
    size_t have = 0;
    double at = -1;
    for (;;) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        int r = poll(&p, 1, 10000);
        if (r <= 0) break;
        ssize_t n = read(fds[0], buf + have, sizeof buf - 1 - have);
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = 0;
        if (strstr(buf, marker)) { at = now_us() - start; break; }
        if (have > sizeof buf / 2) {  // keep the tail: a marker may straddle two reads
            memmove(buf, buf + have - 256, 256);
            have = 256;
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    return at;
}

int main(int argc, char **argv) {
    int runs = 30, warmup = 3, verbose = 0;
    const char *marker = "listening";
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-w") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) marker = argv[++i];
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (!strcmp(argv[i], "--")) { i++; break; }
        else break;
    }
    if (i >= argc || runs < 1) {
        fprintf(stderr, "usage: tolisten [-n RUNS] [-w WARMUP] [-m MARKER] [-v] -- COMMAND ARGS...\n");
        return 2;
    }
    char **cmd = argv + i;
    for (int k = 0; k < warmup; k++)
        if (run_once(cmd, marker) < 0) { fprintf(stderr, "tolisten: no \"%s\" line from %s\n", marker, cmd[0]); return 1; }
    double *t = calloc((size_t)runs, sizeof *t);
    double sum = 0;
    for (int k = 0; k < runs; k++) {
        t[k] = run_once(cmd, marker);
        if (t[k] < 0) { fprintf(stderr, "tolisten: run %d printed no \"%s\" line\n", k + 1, marker); return 1; }
        if (verbose) fprintf(stderr, "%.0f\n", t[k]);
        sum += t[k];
    }
    qsort(t, (size_t)runs, sizeof *t, cmp);
    double median = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
    printf("runs %d  min %.2f ms  median %.2f ms  mean %.2f ms  max %.2f ms\n",
           runs, t[0] / 1e3, median / 1e3, sum / runs / 1e3, t[runs - 1] / 1e3);
    return 0;
}
