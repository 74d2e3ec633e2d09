/*
 * c_echo: a minimal epoll echo server in C, the reference that shows the load generator's
 * ceiling (what loadgen reaches when the server costs next to nothing).
 *
 * Usage: c_echo [PORT]   (0 or nothing: an ephemeral port on 127.0.0.1)
 * Prints one JSON line {"port": N, "impl": "c-echo", ...} once listening; runs until killed.
 * Level-triggered epoll; reads 256 KiB, writes it back; on a partial write it keeps the rest,
 * stops reading that connection and waits for EPOLLOUT (so its buffer stays bounded).
 *
 * Build: cc -O2 -Wall -Wextra -o c_echo c_echo.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSIZE (1 << 18)

struct conn {
    int fd;
    size_t off, len; /* pending output: buf[off..len) */
    unsigned char buf[BUFSIZE];
};

static int epfd;

static void die(const char *what)
{
    fprintf(stderr, "c_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void drop(struct conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

/* Write the pending output; returns 0 when all of it went, 1 when some is left, -1 on error. */
static int flush(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
        if (w < 0)
            return errno == EAGAIN ? 1 : -1;
        c->off += (size_t)w;
    }
    c->off = c->len = 0;
    return 0;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("bind");
    if (listen(lfd, 4096) < 0)
        die("listen");
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    epfd = epoll_create1(0);
    if (epfd < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0)
        die("epoll_ctl");
    printf("{\"port\": %d, \"impl\": \"c-echo\", \"module\": \"c_echo.c\", \"python\": null}\n",
           ntohs(addr.sin_port));
    fflush(stdout);

    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(epfd, evs, 512, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = malloc(sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->off = nc->len = 0;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                        die("epoll_ctl");
                }
                continue;
            }
            if (c->len > 0) { /* waiting for EPOLLOUT */
                int r = flush(c);
                if (r < 0)
                    drop(c);
                else if (r == 0)
                    watch(c, EPOLLIN);
                continue;
            }
            ssize_t got = read(c->fd, c->buf, BUFSIZE);
            if (got == 0 || (got < 0 && errno != EAGAIN)) {
                drop(c);
                continue;
            }
            if (got < 0)
                continue;
            c->len = (size_t)got;
            int r = flush(c);
            if (r < 0)
                drop(c);
            else if (r > 0)
                watch(c, EPOLLOUT);
        }
    }
}
