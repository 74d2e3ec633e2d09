/*
 * loadgen: the echo load generator of the asyncore-ng benchmarks (issue 4).
 *
 * One epoll thread, non-blocking sockets, 127.0.0.1 only.  It is written so that it is never the
 * bottleneck of a Python server: a round trip costs it one read, one write and a share of one
 * epoll_wait, and it checks every echoed byte against what it sent (a wrong, short, long or lost
 * echo is an error, never a number).
 *
 * Modes
 *   pingpong  N connections, each keeping one message (--size bytes) in flight: round trips/s.
 *   line      as pingpong, but every message is printable bytes ending in "\n" (async_chat).
 *   stream    one connection sends --bytes while reading the echo back concurrently: MB/s.
 *   idle      first opens --idle connections (each sends one message and waits for its echo: that
 *             is when the server has accepted it), timing how long until the last echo is back;
 *             then pingpong on N other connections while the idle ones stay open.
 *
 * Measurement: after all busy connections are up, --warmup seconds pass, then the window of
 * --duration seconds is measured.  With --count, a fixed number of round trips is run instead
 * (for instruction counts under callgrind).  With --server-pid, the server's own CPU time is read
 * at the edges of the window: the sum of /proc/PID/task/STAR/schedstat (nanoseconds) and
 * utime+stime of /proc/PID/stat (clock ticks).  --server-pid PID,PID,... (a server of several
 * worker processes) sums them over the processes.
 *
 * Priming: before anything is measured, --prime connections (default 1) each echo one line
 * and close.  A fresh server is thus measured as one that has served before: glibc's malloc
 * raises its mmap threshold on the first free of a large mmapped block, and until then every
 * 256 KiB recv buffer of asyncio costs an mmap, an mremap and a munmap (measured: 25 us instead
 * of 9 us per round trip, for as long as the first connections live).
 *
 * Output: one JSON object on stdout; exit status 0 on success, 1 on error (the object then has
 * "ok": false and "error").  Connections are opened with at most --pace connects outstanding,
 * below the servers' listen backlog, so the accept time measures the server and not SYN retries.
 *
 * Build: cc -O2 -Wall -Wextra -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_PINGPONG, MODE_LINE, MODE_STREAM, MODE_IDLE };

enum cstate {
    C_NEW,        /* not yet connected */
    C_CONNECTING, /* connect() in progress */
    C_FIRST,      /* connected, first message in flight (not yet known to be accepted) */
    C_BUSY,       /* ping-pong running */
    C_IDLE,       /* idle connection: accepted and echoed once, now quiet */
    C_DONE        /* busy connection after the run: nothing in flight, nothing more expected */
};

struct conn {
    int fd;
    enum cstate state;
    int busy;          /* 1 for ping-pong connections, 0 for idle ones */
    int want_out;      /* EPOLLOUT armed */
    uint32_t id;
    uint64_t seq;      /* messages started on this connection */
    size_t sent;       /* bytes of the current message written */
    size_t got;        /* bytes of its echo received and verified */
    unsigned char *msg;
};

/* ---- options ------------------------------------------------------------------------------ */
static enum mode opt_mode = MODE_PINGPONG;
static int opt_port = 0;
static long opt_conns = 1;
static long opt_idle = 0;
static long opt_size = 64;
static double opt_warmup = 0.5;
static double opt_duration = 3.0;
static long long opt_count = 0;
static long long opt_bytes = 256LL << 20;
static long long opt_window = 8LL << 20;
static double opt_accept_cap = 60.0;
static double opt_deadline = 120.0;
#define MAX_SERVER_PIDS 64
static int opt_server_pids[MAX_SERVER_PIDS];
static int opt_server_npids = 0;
static int opt_cpu = -1;
static long opt_pace = 512;
static long opt_prime = 1;
static size_t opt_chunk = 256 * 1024;

/* ---- state -------------------------------------------------------------------------------- */
static int epfd = -1;
static struct conn *conns;
static long nconns;
static struct sockaddr_in server_addr;
static double t_begin;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long long own_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* The text is ours (no quotes or backslashes), so it is valid JSON as it stands. */
    printf("{\"ok\": false, \"error\": \"%s\"}\n", text);
    fflush(stdout);
    fprintf(stderr, "loadgen: %s\n", text);
    exit(1);
}

/* ---- server CPU time ---------------------------------------------------------------------- */
struct cpu_sample {
    long long sched_ns; /* sum over the server's threads of schedstat's on-CPU nanoseconds */
    long long ticks;    /* utime + stime from /proc/PID/stat, in clock ticks */
    /* Time runnable but waiting for a CPU (schedstat's second field), the server's and ours:
     * the trace of other processes competing for our CPUs, reported as interference. */
    long long wait_ns;
    long long own_wait_ns;
};

static long long delta(long long a, long long b)
{
    return a >= 0 && b >= 0 ? b - a : -1;
}

static long long read_stat_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        fail("cannot read %s (server gone?)", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces: skip past it */
    if (!p)
        fail("unexpected format of %s", path);
    unsigned long long utime = 0, stime = 0;
    /* after ')' come fields 3..: state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
               &stime) != 2)
        fail("unexpected format of %s", path);
    return (long long)(utime + stime);
}

/* Field `field` (0: on-CPU time, 1: time runnable but waiting for a CPU; nanoseconds) of
 * /proc/PID/task/STAR/schedstat, summed over the process's threads; -1 if unavailable. */
static long long read_sched_ns(int pid, int field)
{
    char path[300], buf[256];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%.32s/schedstat", pid, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* a thread that just ended */
        long long ns[2] = {0, 0};
        if (fgets(buf, sizeof buf, f) && sscanf(buf, "%lld %lld", &ns[0], &ns[1]) == 2)
            total += ns[field];
        fclose(f);
    }
    closedir(d);
    return total;
}

/* a + b, unless either is unavailable (-1) */
static long long add_known(long long a, long long b)
{
    return a >= 0 && b >= 0 ? a + b : -1;
}

static struct cpu_sample sample_server(void)
{
    struct cpu_sample s = {-1, -1, -1, -1};
    if (opt_server_npids > 0) {
        s.sched_ns = s.wait_ns = s.ticks = 0;
        for (int i = 0; i < opt_server_npids; i++) {
            s.sched_ns = add_known(s.sched_ns, read_sched_ns(opt_server_pids[i], 0));
            s.wait_ns = add_known(s.wait_ns, read_sched_ns(opt_server_pids[i], 1));
            s.ticks = add_known(s.ticks, read_stat_ticks(opt_server_pids[i]));
        }
    }
    s.own_wait_ns = read_sched_ns(getpid(), 1);
    return s;
}

/* ---- messages ----------------------------------------------------------------------------- */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Fill the message of (connection, sequence number): different bytes every time, so an echo of
 * a stale or another connection's message does not compare equal. */
static void make_message(struct conn *c)
{
    uint64_t state = mix(((uint64_t)c->id << 40) ^ c->seq ^ 0x9e3779b97f4a7c15ULL);
    size_t n = (size_t)opt_size;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            state = mix(state + i);
        unsigned char b = (unsigned char)(state >> ((i & 7) * 8));
        if (opt_mode == MODE_LINE || opt_mode == MODE_IDLE)
            b = (unsigned char)('a' + b % 26);
        c->msg[i] = b;
    }
    if (opt_mode == MODE_LINE)
        c->msg[n - 1] = '\n';
    c->sent = 0;
    c->got = 0;
}

/* ---- connections -------------------------------------------------------------------------- */
static void set_interest(struct conn *c, int want_out)
{
    if (c->want_out == want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0)};
    ev.data.u64 = (uint64_t)(c - conns);
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        fail("epoll_ctl MOD: %s", strerror(errno));
    c->want_out = want_out;
}

static void start_connect(struct conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket: %s (open connections: %ld)", strerror(errno), (long)(c - conns));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->want_out = 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT};
    ev.data.u64 = (uint64_t)(c - conns);
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        fail("epoll_ctl ADD: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0 &&
        errno != EINPROGRESS)
        fail("connect: %s", strerror(errno));
    c->state = C_CONNECTING;
}

/* Write what is left of the current message; arm EPOLLOUT only while some of it is pending. */
static void push_message(struct conn *c)
{
    size_t n = (size_t)opt_size;
    while (c->sent < n) {
        ssize_t w = write(c->fd, c->msg + c->sent, n - c->sent);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            fail("write on connection %u: %s", c->id, strerror(errno));
        }
        c->sent += (size_t)w;
    }
    set_interest(c, c->sent < n);
}

/* ---- run state ---------------------------------------------------------------------------- */
static long long completed;      /* verified round trips, all busy connections */
static long long started_msgs;   /* messages begun (for --count) */
static long idle_done;           /* idle connections accepted and echoed once */
static long busy_up;             /* busy connections past their first echo */
static long outstanding_connects;/* connecting or waiting for the first echo */
static int stop_sending;         /* after the window (or --count): finish in-flight, send no more */

static void next_message(struct conn *c)
{
    if (stop_sending || (opt_count > 0 && started_msgs >= opt_count)) {
        c->sent = c->got = 0;
        c->state = C_DONE; /* nothing in flight on this connection any more */
        return;
    }
    c->seq++;
    started_msgs++;
    make_message(c);
    push_message(c);
}

static int in_flight(const struct conn *c)
{
    return (c->state == C_FIRST || c->state == C_BUSY) && c->sent > 0;
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err)
        fail("connect on connection %u: %s", c->id, strerror(err));
    c->state = C_FIRST;
    c->seq = 0;
    started_msgs += c->busy;
    make_message(c);
    push_message(c);
}

static void on_readable(struct conn *c)
{
    static unsigned char buf[1 << 16];
    for (int rounds = 0; rounds < 4; rounds++) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            fail("read on connection %u: %s", c->id, strerror(errno));
        }
        if (r == 0)
            fail("server closed connection %u (state %d)", c->id, (int)c->state);
        size_t n = (size_t)r;
        if (c->state == C_IDLE || c->state == C_DONE || c->got + n > c->sent)
            fail("connection %u: %zu unexpected echo bytes (echo longer than what was sent)", c->id,
                 c->got + n - c->sent);
        if (memcmp(buf, c->msg + c->got, n) != 0)
            fail("connection %u: echo differs from what was sent at byte %zu of message %" PRIu64,
                 c->id, c->got, c->seq);
        c->got += n;
        if (c->got < (size_t)opt_size)
            continue;
        /* one whole message echoed */
        if (c->state == C_FIRST) {
            outstanding_connects--;
            if (!c->busy) {
                c->state = C_IDLE;
                c->sent = c->got = 0;
                idle_done++;
                return;
            }
            busy_up++;
            c->state = C_BUSY;
        }
        completed++;
        next_message(c);
        return;
    }
}

static void handle_event(struct conn *c, uint32_t events)
{
    if (c->state == C_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(c);
    if ((events & EPOLLOUT) && (c->state == C_FIRST || c->state == C_BUSY) &&
        c->sent < (size_t)opt_size)
        push_message(c);
}

static void poll_once(int timeout_ms)
{
    static struct epoll_event evs[1024];
    int n = epoll_wait(epfd, evs, 1024, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return;
        fail("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++)
        handle_event(&conns[evs[i].data.u64], evs[i].events);
}

static int ms_until(double t)
{
    double d = (t - now()) * 1000.0;
    if (d <= 0)
        return 0;
    if (d > 100)
        return 100;
    return (int)d + 1;
}

static void check_deadline(void)
{
    if (now() - t_begin > opt_deadline)
        fail("deadline of %.0f s exceeded", opt_deadline);
}

/* Open connections [first, last) keeping at most --pace of them outstanding; stop when all of
 * them have had their first echo, or at `cap` (absolute time; 0 = no cap). */
static void open_connections(long first, long last, double cap)
{
    long next = first;
    for (;;) {
        check_deadline();
        while (next < last && outstanding_connects < opt_pace) {
            start_connect(&conns[next++]);
            outstanding_connects++;
        }
        int done = 1;
        if (next < last || outstanding_connects > 0)
            done = 0;
        if (done)
            return;
        if (cap > 0 && now() >= cap)
            return;
        poll_once(cap > 0 ? ms_until(cap) : 100);
    }
}

/* ---- priming ------------------------------------------------------------------------------ */
static void prime_server(void)
{
    static const char line[] = "prime-the-server-with-one-line-of-sixty-four-bytes-0123456789ab\n";
    char back[sizeof line];
    for (long i = 0; i < opt_prime; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fail("socket: %s", strerror(errno));
        struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0)
            fail("priming connect: %s", strerror(errno));
        size_t n = sizeof line - 1, got = 0;
        if (write(fd, line, n) != (ssize_t)n)
            fail("priming write: %s", strerror(errno));
        while (got < n) {
            ssize_t r = read(fd, back + got, n - got);
            if (r <= 0)
                fail("priming read: %s", r == 0 ? "server closed the connection" : strerror(errno));
            got += (size_t)r;
        }
        if (memcmp(back, line, n) != 0)
            fail("priming: the echo differs from what was sent");
        close(fd);
    }
    if (opt_prime > 0) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        nanosleep(&pause, NULL); /* let the server see the close */
    }
}

/* ---- modes -------------------------------------------------------------------------------- */
static void run_stream(void)
{
    const size_t period = 1048573; /* a prime: a shifted, repeated or reordered chunk won't match */
    const size_t chunk = opt_chunk;
    unsigned char *pattern = malloc(period + chunk);
    unsigned char *buf = malloc(chunk);
    if (!pattern || !buf)
        fail("out of memory");
    uint64_t state = 0x1234567;
    for (size_t i = 0; i < period; i++) {
        if ((i & 7) == 0)
            state = mix(state + i);
        pattern[i] = (unsigned char)(state >> ((i & 7) * 8));
    }
    memcpy(pattern + period, pattern, chunk);

    struct conn *c = &conns[0];
    start_connect(c);
    while (c->state == C_CONNECTING) {
        check_deadline();
        struct epoll_event ev;
        int n = epoll_wait(epfd, &ev, 1, 100);
        if (n < 0 && errno != EINTR)
            fail("epoll_wait: %s", strerror(errno));
        if (n == 1) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err)
                fail("connect: %s", strerror(err));
            c->state = C_BUSY;
        }
    }
    int sndbuf = 4 << 20;
    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);

    long long total = opt_bytes, sent = 0, got = 0;
    int want_out = 1;
    struct cpu_sample s0 = sample_server();
    long long own0 = own_cpu_ns();
    double t0 = now();
    while (got < total) {
        check_deadline();
        /* write while the window and the socket allow */
        int blocked = 0;
        while (sent < total && sent - got < opt_window) {
            long long room = opt_window - (sent - got);
            size_t n = chunk;
            if ((long long)n > total - sent)
                n = (size_t)(total - sent);
            if ((long long)n > room)
                n = (size_t)room;
            ssize_t w = write(c->fd, pattern + (size_t)(sent % (long long)period), n);
            if (w < 0) {
                if (errno == EAGAIN) {
                    blocked = 1;
                    break;
                }
                if (errno == EINTR)
                    continue;
                fail("write: %s", strerror(errno));
            }
            sent += w;
        }
        int want = blocked && sent < total;
        if (want != want_out) {
            struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0)};
            ev.data.u64 = 0;
            if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
                fail("epoll_ctl: %s", strerror(errno));
            want_out = want;
        }
        struct epoll_event ev;
        int n = epoll_wait(epfd, &ev, 1, 100);
        if (n < 0 && errno != EINTR)
            fail("epoll_wait: %s", strerror(errno));
        if (n < 1 || !(ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            continue;
        for (int rounds = 0; rounds < 16 && got < total; rounds++) {
            ssize_t r = read(c->fd, buf, chunk);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                fail("read: %s", strerror(errno));
            }
            if (r == 0)
                fail("server closed the connection after %lld of %lld bytes", got, total);
            if (got + r > sent)
                fail("echo longer than what was sent (%lld > %lld)", got + r, sent);
            if (memcmp(buf, pattern + (size_t)(got % (long long)period), (size_t)r) != 0)
                fail("echo differs from what was sent near byte %lld", got);
            got += r;
        }
    }
    double t1 = now();
    long long own1 = own_cpu_ns();
    struct cpu_sample s1 = sample_server();
    double secs = t1 - t0;
    printf("{\"ok\": true, \"mode\": \"stream\", \"bytes\": %lld, \"seconds\": %.6f, "
           "\"mbps\": %.3f, \"server_cpu_ns\": %lld, \"server_cpu_ticks\": %lld, "
           "\"client_cpu_ns\": %lld, \"server_wait_ns\": %lld, \"client_wait_ns\": %lld}\n",
           total, secs, (double)total / 1e6 / secs, delta(s0.sched_ns, s1.sched_ns),
           delta(s0.ticks, s1.ticks), own1 - own0, delta(s0.wait_ns, s1.wait_ns),
           delta(s0.own_wait_ns, s1.own_wait_ns));
    free(pattern);
    free(buf);
}

static void run_pingpong(void)
{
    long nidle = opt_mode == MODE_IDLE ? opt_idle : 0;
    double accept_seconds = -1;
    long idle_reached = 0;
    if (nidle > 0) {
        double t0 = now();
        open_connections(0, nidle, t0 + opt_accept_cap);
        accept_seconds = now() - t0;
        idle_reached = idle_done;
    }
    /* the busy connections: up (first echo back) before the clock starts */
    open_connections(nidle, nconns, 0);

    long long window_rt = 0;
    double secs = 0;
    struct cpu_sample s0 = {-1, -1, -1, -1}, s1 = {-1, -1, -1, -1};
    long long own0 = 0, own1 = 0;
    if (opt_count > 0) {
        s0 = sample_server();
        own0 = own_cpu_ns();
        double t0 = now();
        for (;;) {
            check_deadline();
            if (started_msgs >= opt_count) {
                int pending = 0;
                for (long i = nidle; i < nconns && !pending; i++)
                    pending = in_flight(&conns[i]);
                if (!pending)
                    break;
            }
            poll_once(100);
        }
        secs = now() - t0;
        own1 = own_cpu_ns();
        s1 = sample_server();
        window_rt = completed;
    } else {
        double t_warm = now() + opt_warmup;
        while (now() < t_warm) {
            check_deadline();
            poll_once(ms_until(t_warm));
        }
        s0 = sample_server();
        own0 = own_cpu_ns();
        double t0 = now();
        long long c0 = completed;
        double t_end = t0 + opt_duration;
        double t;
        while ((t = now()) < t_end) {
            check_deadline();
            poll_once(ms_until(t_end));
        }
        long long c1 = completed;
        own1 = own_cpu_ns();
        s1 = sample_server();
        secs = t - t0;
        window_rt = c1 - c0;
        /* drain: every message in flight must still come back, verified */
        stop_sending = 1;
        double t_drain = now() + 5.0;
        for (;;) {
            int pending = 0;
            for (long i = nidle; i < nconns && !pending; i++)
                pending = in_flight(&conns[i]);
            if (!pending)
                break;
            if (now() > t_drain) {
                long missing = 0;
                for (long i = nidle; i < nconns; i++)
                    missing += in_flight(&conns[i]);
                fail("%ld echoes still missing 5 s after the window", missing);
            }
            poll_once(ms_until(t_drain));
        }
    }
    long idle_open = 0;
    for (long i = 0; i < nidle; i++)
        idle_open += conns[i].state == C_IDLE || conns[i].state == C_FIRST;
    printf("{\"ok\": true, \"mode\": \"%s\", \"conns\": %ld, \"idle_requested\": %ld, "
           "\"idle_reached\": %ld, \"idle_open\": %ld, \"accept_seconds\": %.6f, "
           "\"round_trips\": %lld, \"seconds\": %.6f, \"rate\": %.3f, \"server_cpu_ns\": %lld, "
           "\"server_cpu_ticks\": %lld, \"client_cpu_ns\": %lld, "
           "\"server_wait_ns\": %lld, \"client_wait_ns\": %lld}\n",
           opt_mode == MODE_LINE ? "line" : opt_mode == MODE_IDLE ? "idle" : "pingpong",
           nconns - nidle, nidle, idle_reached, idle_open, accept_seconds, window_rt, secs,
           secs > 0 ? (double)window_rt / secs : 0.0, delta(s0.sched_ns, s1.sched_ns),
           delta(s0.ticks, s1.ticks), own1 - own0, delta(s0.wait_ns, s1.wait_ns),
           delta(s0.own_wait_ns, s1.own_wait_ns));
}

/* ---- main --------------------------------------------------------------------------------- */
static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --port P [--mode pingpong|line|stream|idle] [--conns N] [--size B]\n"
            "               [--idle M] [--warmup S] [--duration S] [--count N] [--bytes B]\n"
            "               [--window B] [--accept-cap S] [--deadline S] [--server-pid PID[,PID...]]\n"
            "               [--cpu C] [--pace N] [--prime N] [--chunk B]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--port"))
            opt_port = atoi(v);
        else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "pingpong"))
                opt_mode = MODE_PINGPONG;
            else if (!strcmp(v, "line"))
                opt_mode = MODE_LINE;
            else if (!strcmp(v, "stream"))
                opt_mode = MODE_STREAM;
            else if (!strcmp(v, "idle"))
                opt_mode = MODE_IDLE;
            else
                usage();
        } else if (!strcmp(a, "--conns"))
            opt_conns = atol(v);
        else if (!strcmp(a, "--idle"))
            opt_idle = atol(v);
        else if (!strcmp(a, "--size"))
            opt_size = atol(v);
        else if (!strcmp(a, "--warmup"))
            opt_warmup = atof(v);
        else if (!strcmp(a, "--duration"))
            opt_duration = atof(v);
        else if (!strcmp(a, "--count"))
            opt_count = atoll(v);
        else if (!strcmp(a, "--bytes"))
            opt_bytes = atoll(v);
        else if (!strcmp(a, "--window"))
            opt_window = atoll(v);
        else if (!strcmp(a, "--accept-cap"))
            opt_accept_cap = atof(v);
        else if (!strcmp(a, "--deadline"))
            opt_deadline = atof(v);
        else if (!strcmp(a, "--server-pid")) {
            for (const char *p = v; *p; p++) {
                if (opt_server_npids == MAX_SERVER_PIDS)
                    usage();
                int pid = atoi(p);
                if (pid <= 0)
                    usage();
                opt_server_pids[opt_server_npids++] = pid;
                p = strchr(p, ',');
                if (!p)
                    break;
            }
        }
        else if (!strcmp(a, "--cpu"))
            opt_cpu = atoi(v);
        else if (!strcmp(a, "--pace"))
            opt_pace = atol(v);
        else if (!strcmp(a, "--prime"))
            opt_prime = atol(v);
        else if (!strcmp(a, "--chunk"))
            opt_chunk = (size_t)atol(v);
        else
            usage();
    }
    if (opt_port <= 0 || opt_port > 65535 || opt_conns < 1 || opt_idle < 0 || opt_size < 2 ||
        opt_size > 65536 || opt_bytes < 1 || opt_window < 1 || opt_pace < 1 ||
        opt_duration <= 0 || opt_chunk < 4096 || opt_chunk > (64 << 20))
        usage();
    if (opt_mode != MODE_IDLE)
        opt_idle = 0;
    if (opt_mode == MODE_STREAM)
        opt_conns = 1;
    if (opt_count > 0 && opt_count < opt_conns)
        fail("--count must be at least --conns");

    signal(SIGPIPE, SIG_IGN);
    if (opt_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt_cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0)
            fprintf(stderr, "loadgen: cannot pin to CPU %d: %s\n", opt_cpu, strerror(errno));
    }
    nconns = opt_conns + opt_idle;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)(nconns + 16) > rl.rlim_cur)
        fail("RLIMIT_NOFILE %llu is too low for %ld connections", (unsigned long long)rl.rlim_cur,
             nconns);

    memset(&server_addr, 0, sizeof server_addr);
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)opt_port);
    server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    conns = calloc((size_t)nconns, sizeof *conns);
    unsigned char *msgs = malloc((size_t)nconns * (size_t)opt_size);
    if (!conns || !msgs)
        fail("out of memory");
    for (long i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].id = (uint32_t)i;
        conns[i].busy = i >= opt_idle;
        conns[i].msg = msgs + (size_t)i * (size_t)opt_size;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        fail("epoll_create1: %s", strerror(errno));
    t_begin = now();
    prime_server();

    if (opt_mode == MODE_STREAM)
        run_stream();
    else
        run_pingpong();
    fflush(stdout);
    for (long i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    close(epfd);
    free(msgs);
    free(conns);
    return 0;
}
