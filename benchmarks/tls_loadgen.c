/* The TLS load generator (issue #10): loadgen.c's ping-pong and stream modes over TLS, with
 * OpenSSL, in C so that it is not the bottleneck (a Python client spends more per record than
 * the servers measured).
 *
 *   tls_loadgen --port P [--mode pingpong|stream] [--conns N] [--size B] [--warmup S]
 *               [--duration S] [--bytes B] [--server-pid PID[,PID...]] [--cpu C] [--deadline S]
 *
 * pingpong: N connections, each with one message of --size bytes in flight; every echo is
 *   compared with what was sent (different bytes per connection and per round trip). Round
 *   trips are counted over --duration seconds after --warmup.
 * stream: one connection sends --bytes of a pattern while reading the echo concurrently; every
 *   byte is compared. MB/s (10^6 bytes) over the whole transfer.
 * Handshakes (TLS 1.3, no session reuse) happen before the measurement; certificates are not
 *   verified (a benchmark on loopback). The server's CPU is read from
 *   /proc/PID/task/STAR/schedstat at the edges of the window, as loadgen.c does. One JSON line
 *   on stdout, with the same keys as loadgen.c's.
 *
 * Build: cc -O2 -Wall -Wextra -o tls_loadgen tls_loadgen.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MODE_PINGPONG, MODE_STREAM };

static int opt_port = 0, opt_mode = MODE_PINGPONG, opt_cpu = -1;
static long opt_conns = 1, opt_size = 64;
static double opt_warmup = 0.25, opt_duration = 1.25, opt_deadline = 60.0;
static long long opt_bytes = 64LL << 20;
static int opt_server_pids[64], opt_server_npids = 0;

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
    for (char *p = text; *p; p++)
        if (*p == '"' || *p == '\\')
            *p = '\'';
    printf("{\"ok\": false, \"error\": \"%s\"}\n", text);
    fflush(stdout);
    fprintf(stderr, "tls_loadgen: %s\n", text);
    exit(1);
}

/* ---- server CPU time (as loadgen.c) ---------------------------------------------------------- */
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
            continue;
        long long ns[2] = {0, 0};
        if (fgets(buf, sizeof buf, f) && sscanf(buf, "%lld %lld", &ns[0], &ns[1]) == 2)
            total += ns[field];
        fclose(f);
    }
    closedir(d);
    return total;
}

static long long read_stat_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    return (long long)(utime + stime);
}

struct cpu_sample {
    long long sched_ns, ticks, wait_ns, own_wait_ns;
};

static long long add_known(long long a, long long b) { return a >= 0 && b >= 0 ? a + b : -1; }
static long long delta(long long a, long long b) { return a >= 0 && b >= 0 ? b - a : -1; }

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

/* ---- connections ------------------------------------------------------------------------------ */
struct conn {
    int fd;
    SSL *ssl;
    uint32_t id;
    uint64_t seq;
    unsigned char *msg;
    long sent, got; /* of the current message */
    int want_out;
};

static SSL_CTX *ctx;
static int epfd;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void make_message(struct conn *c)
{
    uint64_t state = mix(((uint64_t)c->id << 40) ^ c->seq ^ 0x9e3779b97f4a7c15ULL);
    for (long i = 0; i < opt_size; i++) {
        if ((i & 7) == 0)
            state = mix(state + (uint64_t)i);
        c->msg[i] = (unsigned char)(state >> ((i & 7) * 8));
    }
    c->sent = c->got = 0;
}

static const char *ssl_reason(void)
{
    static char text[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return strerror(errno);
    ERR_error_string_n(e, text, sizeof text);
    return text;
}

/* A connected, handshaken TLS connection (blocking for the handshake, non-blocking after). */
static void open_conn(struct conn *c)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        fail("socket: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        fail("connect: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = SSL_new(ctx);
    if (!c->ssl)
        fail("SSL_new: %s", ssl_reason());
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (SSL_connect(c->ssl) != 1)
        fail("TLS handshake: %s", ssl_reason());
    int flags = fcntl(c->fd, F_GETFL);
    if (flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0)
        fail("non-blocking: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        fail("epoll_ctl: %s", strerror(errno));
}

static void set_out(struct conn *c, int want)
{
    if (c->want_out == want)
        return;
    c->want_out = want;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* SSL_write of what is left of [buf, buf+len): the count written (0: try again later). */
static long tls_write(struct conn *c, const unsigned char *buf, long len)
{
    int n = SSL_write(c->ssl, buf, (int)len);
    if (n > 0) {
        set_out(c, 0);
        return n;
    }
    int err = SSL_get_error(c->ssl, n);
    if (err == SSL_ERROR_WANT_WRITE) {
        set_out(c, 1);
        return 0;
    }
    if (err == SSL_ERROR_WANT_READ)
        return 0;
    fail("SSL_write: %s", ssl_reason());
}

/* ---- ping-pong -------------------------------------------------------------------------------- */
static long long round_trips, window_rt;
static int counting;

static void pp_send(struct conn *c)
{
    while (c->sent < opt_size) {
        long n = tls_write(c, c->msg + c->sent, opt_size - c->sent);
        if (!n)
            return;
        c->sent += n;
    }
}

static void pp_read(struct conn *c)
{
    unsigned char buf[65536];
    for (;;) {
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n <= 0) {
            int err = SSL_get_error(c->ssl, n);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
                return;
            if (err == SSL_ERROR_ZERO_RETURN)
                fail("server closed connection %u", c->id);
            fail("SSL_read: %s", ssl_reason());
        }
        if (c->got + n > opt_size)
            fail("echo longer than the message on connection %u", c->id);
        if (memcmp(buf, c->msg + c->got, (size_t)n) != 0)
            fail("echo differs from what was sent on connection %u", c->id);
        c->got += n;
        if (c->got == opt_size) {
            round_trips++;
            if (counting)
                window_rt++;
            c->seq++;
            make_message(c);
            pp_send(c);
        }
    }
}

static void run_pingpong(void)
{
    struct conn *conns = calloc((size_t)opt_conns, sizeof *conns);
    unsigned char *msgs = malloc((size_t)opt_conns * (size_t)opt_size);
    if (!conns || !msgs)
        fail("out of memory");
    for (long i = 0; i < opt_conns; i++) {
        conns[i].id = (uint32_t)i;
        conns[i].msg = msgs + (size_t)i * (size_t)opt_size;
        open_conn(&conns[i]);
    }
    double t_start = now();
    for (long i = 0; i < opt_conns; i++) {
        make_message(&conns[i]);
        pp_send(&conns[i]);
    }
    double t0 = t_start + opt_warmup, t1 = t0 + opt_duration, hard = t_start + opt_deadline;
    struct cpu_sample s0 = {0}, s1 = {0};
    long long own0 = 0, own1 = 0;
    double w0 = 0, w1 = 0;
    struct epoll_event events[256];
    for (;;) {
        double t = now();
        if (!counting && w0 == 0 && t >= t0) {
            s0 = sample_server();
            own0 = own_cpu_ns();
            w0 = now();
            counting = 1;
        }
        if (counting && t >= t1) {
            w1 = now();
            s1 = sample_server();
            own1 = own_cpu_ns();
            counting = 0;
            break;
        }
        if (t > hard)
            fail("deadline reached");
        int n = epoll_wait(epfd, events, 256, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (events[i].events & EPOLLOUT)
                pp_send(c);
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                pp_read(c);
        }
    }
    double secs = w1 - w0;
    printf("{\"ok\": true, \"mode\": \"pingpong\", \"conns\": %ld, \"round_trips\": %lld, "
           "\"seconds\": %.6f, \"rate\": %.3f, \"server_cpu_ns\": %lld, \"server_cpu_ticks\": %lld, "
           "\"client_cpu_ns\": %lld, \"server_wait_ns\": %lld, \"client_wait_ns\": %lld}\n",
           opt_conns, window_rt, secs, secs > 0 ? (double)window_rt / secs : 0.0,
           delta(s0.sched_ns, s1.sched_ns), delta(s0.ticks, s1.ticks), own1 - own0,
           delta(s0.wait_ns, s1.wait_ns), delta(s0.own_wait_ns, s1.own_wait_ns));
    for (long i = 0; i < opt_conns; i++) {
        SSL_free(conns[i].ssl);
        close(conns[i].fd);
    }
    free(msgs);
    free(conns);
}

/* ---- stream ----------------------------------------------------------------------------------- */
static void run_stream(void)
{
    struct conn c;
    memset(&c, 0, sizeof c);
    open_conn(&c);
    const size_t period = 1000003; /* a prime: a shifted or repeated chunk does not match */
    unsigned char *pattern = malloc(period + (1 << 20));
    unsigned char *buf = malloc(1 << 20);
    if (!pattern || !buf)
        fail("out of memory");
    for (size_t i = 0; i < period + (1 << 20); i++)
        pattern[i] = (unsigned char)(mix(i % period) >> 7);
    long long sent = 0, got = 0, total = opt_bytes;
    struct cpu_sample s0 = sample_server();
    long long own0 = own_cpu_ns();
    double t0 = now(), hard = t0 + opt_deadline;
    set_out(&c, 1);
    struct epoll_event events[4];
    while (got < total) {
        if (now() > hard)
            fail("deadline reached after %lld of %lld bytes", got, total);
        int n = epoll_wait(epfd, events, 4, 50);
        if (n <= 0)
            continue;
        unsigned int ev = events[0].events;
        if ((ev & EPOLLOUT) && sent < total) {
            for (int rounds = 0; rounds < 8 && sent < total; rounds++) {
                long chunk = total - sent < 262144 ? (long)(total - sent) : 262144;
                long w = tls_write(&c, pattern + (size_t)(sent % (long long)period), chunk);
                if (!w)
                    break;
                sent += w;
            }
            if (sent >= total)
                set_out(&c, 0);
            else if (!c.want_out)
                set_out(&c, 1);
        }
        if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            for (int rounds = 0; rounds < 64 && got < total; rounds++) {
                int r = SSL_read(c.ssl, buf, 1 << 20);
                if (r <= 0) {
                    int err = SSL_get_error(c.ssl, r);
                    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
                        break;
                    fail("SSL_read after %lld of %lld bytes: %s", got, total, ssl_reason());
                }
                if (got + r > sent)
                    fail("echo longer than what was sent");
                if (memcmp(buf, pattern + (size_t)(got % (long long)period), (size_t)r) != 0)
                    fail("echo differs from what was sent near byte %lld", got);
                got += r;
            }
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
    SSL_free(c.ssl);
    close(c.fd);
    free(pattern);
    free(buf);
}

static void usage(void)
{
    fprintf(stderr, "usage: tls_loadgen --port P [--mode pingpong|stream] [--conns N] [--size B]\n"
                    "       [--warmup S] [--duration S] [--bytes B] [--server-pid PID[,PID...]]\n"
                    "       [--cpu C] [--deadline S]\n");
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
        else if (!strcmp(a, "--mode"))
            opt_mode = !strcmp(v, "stream") ? MODE_STREAM : !strcmp(v, "pingpong") ? MODE_PINGPONG : -1;
        else if (!strcmp(a, "--conns"))
            opt_conns = atol(v);
        else if (!strcmp(a, "--size"))
            opt_size = atol(v);
        else if (!strcmp(a, "--warmup"))
            opt_warmup = atof(v);
        else if (!strcmp(a, "--duration"))
            opt_duration = atof(v);
        else if (!strcmp(a, "--bytes"))
            opt_bytes = atoll(v);
        else if (!strcmp(a, "--deadline"))
            opt_deadline = atof(v);
        else if (!strcmp(a, "--cpu"))
            opt_cpu = atoi(v);
        else if (!strcmp(a, "--server-pid")) {
            const char *p = v;
            while (*p && opt_server_npids < 64) {
                opt_server_pids[opt_server_npids++] = atoi(p);
                p = strchr(p, ',');
                if (!p)
                    break;
                p++;
            }
        }
        else
            usage();
    }
    if (opt_port <= 0 || opt_port > 65535 || opt_mode < 0 || opt_conns < 1 || opt_size < 1 ||
        opt_size > 65536 || opt_bytes < 1 || opt_duration <= 0)
        usage();
    signal(SIGPIPE, SIG_IGN);
    if (opt_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt_cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        fail("SSL_CTX_new: %s", ssl_reason());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        fail("epoll_create1: %s", strerror(errno));
    if (opt_mode == MODE_STREAM)
        run_stream();
    else
        run_pingpong();
    fflush(stdout);
    SSL_CTX_free(ctx);
    close(epfd);
    return 0;
}
