/* Connection churn: C slots, each in a loop connect -> send one line -> read its echo -> close (the client closes
 * first, with a FIN), for --warmup + --duration seconds. Single-threaded epoll, loopback only, source addresses spread
 * over 127.0.0.2..254 (IP_BIND_ADDRESS_NO_PORT) so TIME_WAIT never runs out of ports.
 * Prints `RESULT conns=N conns_per_s=R errors=E` for the measured window; the script beside it reads the server's CPU.
 * gcc -O2 -o churn churn.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { CONNECTING, READING };
struct slot { int fd, state, got; };

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int port, conns = 20;
static double duration = 5, warmup = 1;
static struct slot *slots;
static int ep, next_src;
static const char msg[] = "hello churn\n";
static long done_total, errors;

static void start(int i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("socket"); exit(1); }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = { .sin_family = AF_INET };
    src.sin_addr.s_addr = htonl(0x7f000002 + (next_src++ % 253));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); exit(1); }
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
    dst.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) { errors++; close(fd); start(i); return; }
    slots[i] = (struct slot){ .fd = fd, .state = CONNECTING };
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = i };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void restart(int i, int ok) {
    close(slots[i].fd);
    if (ok) done_total++; else errors++;
    start(i);
}

int main(int argc, char **argv) {
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--port") && a + 1 < argc) port = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--conns") && a + 1 < argc) conns = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--duration") && a + 1 < argc) duration = atof(argv[++a]);
        else if (!strcmp(argv[a], "--warmup") && a + 1 < argc) warmup = atof(argv[++a]);
        else { fprintf(stderr, "usage: churn --port P [--conns N] [--duration S] [--warmup S]\n"); return 2; }
    }
    if (port <= 0 || conns <= 0 || conns > 10000 || duration <= 0 || duration > 600) { fprintf(stderr, "churn: bad arguments\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)(warmup + duration + 30));
    ep = epoll_create1(0);
    slots = calloc(conns, sizeof *slots);
    for (int i = 0; i < conns; i++) start(i);
    double t0 = now(), measure_from = t0 + warmup, end = measure_from + duration;
    long at_start = -1, err_start = 0;
    struct epoll_event evs[256];
    char buf[256];
    for (;;) {
        double t = now();
        if (at_start < 0 && t >= measure_from) { at_start = done_total; err_start = errors; printf("MEASURING\n"); fflush(stdout); }
        if (t >= end) break;
        int n = epoll_wait(ep, evs, 256, 50);
        for (int k = 0; k < n; k++) {
            int i = evs[k].data.u32;
            struct slot *s = &slots[i];
            if (s->state == CONNECTING) {
                int err = 0; socklen_t len = sizeof err;
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) { restart(i, 0); continue; }
                if (send(s->fd, msg, sizeof msg - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof msg - 1)) { restart(i, 0); continue; }
                s->state = READING; s->got = 0;
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
                epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
                continue;
            }
            ssize_t r = recv(s->fd, buf, sizeof buf, 0);
            if (r > 0) { s->got += r; if (s->got >= (int)(sizeof msg - 1)) restart(i, 1); }
            else if (r == 0 || (errno != EAGAIN && errno != EINTR)) restart(i, 0);
        }
    }
    double secs = duration;
    long measured = done_total - (at_start < 0 ? 0 : at_start);
    printf("RESULT conns=%ld conns_per_s=%.0f errors=%ld\n", measured, measured / secs, errors - err_start);
    return 0;
}
