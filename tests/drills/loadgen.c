/*
 * loadgen: the drills' load generator. A steady request rate over a fixed
 * pool of keep-alive HTTP/1.1 connections (one epoll thread), mixed writes
 * (POST /v1/items) and reads (GET /v1/items/{id} of an id acknowledged
 * earlier), recording every request and every acknowledged write.
 *
 *   loadgen -a 10.0.0.10 -p 80 -k KEYFILE -r 1000 -c 64 -d 60 -w 30 -o OUTDIR
 *
 *   -a ADDR -p PORT   the load balancer (IPv4)
 *   -k KEYFILE        the API key (first line)
 *   -r RATE           requests per second, paced (default 1000)
 *   -s SCHEDULE       stepped rates instead of -r and -d: RATE:SECONDS,...
 *                     (e.g. 200:30,800:60,200:90), then it stops; SIGUSR1
 *                     ends the current step at once (a drill moves on when
 *                     what it waits for has happened)
 *   -c CONNS          connections (default 64); a request waits for a free one
 *   -d SECONDS        how long to send (0: until SIGTERM/SIGINT)
 *   -w PERCENT        share of writes (default 30)
 *   -t SECONDS        per-request timeout (default 30)
 *   -o OUTDIR         where to write:
 *       requests.csv  start_us,end_us,kind,status,error,id,request_id,retry_after
 *                     (wall clock in microseconds; kind W = POST, R = GET;
 *                     status 0 = no HTTP response, error says why;
 *                     retry_after 1 = the response had a Retry-After header)
 *       acked.csv     id,name of every write answered 201: the writes the
 *                     service acknowledged, which must all be in the database
 *       summary.txt   key=value totals
 *   -v                a progress line on stderr every 5 s
 *
 * On SIGTERM/SIGINT or at the end of -d it stops sending, waits for the
 * requests in flight (up to the timeout) and writes the summary. Only the
 * C library: it is compiled by tests/drills/run.sh.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum cstate { C_CLOSED, C_CONNECTING, C_WRITING, C_READING, C_IDLE };

struct conn {
    int fd;
    enum cstate st;
    int busy;  /* a request is assigned */
    char wbuf[1536];
    size_t wlen, woff;
    char *rbuf;
    size_t rlen, rcap;
    int64_t start_wall, deadline;
    char kind;
    int64_t seq, get_id;
    int reused;      /* the request went out on a kept-alive connection */
    int retry_after; /* the response carried Retry-After */
};

static volatile sig_atomic_t g_stop, g_next_step;
static struct sockaddr_in g_addr;
static char g_key[600];
static char g_host[64];
static int g_ep;
static FILE *g_req, *g_ack;
static char g_run[32];

static int64_t *g_ids;
static size_t g_nids, g_capids;

static uint64_t g_rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static struct {
    uint64_t sent, done, ok2xx, non2xx, errors, writes_acked, skipped_slots, waited_for_conn;
    uint64_t by_status[600];
} S;

/* -s: the rate of each step and when it ends (us after the start). */
#define MAX_STEPS 64
static double g_step_rate[MAX_STEPS];
static int64_t g_step_end[MAX_STEPS];
static int g_nsteps;

static int parse_schedule(const char *spec)
{
    int64_t end = 0;
    const char *p = spec;
    while (*p) {
        char *q;
        double r = strtod(p, &q);
        if (q == p || *q != ':' || r <= 0 || g_nsteps == MAX_STEPS)
            return -1;
        p = q + 1;
        double secs = strtod(p, &q);
        if (q == p || secs <= 0 || (*q && *q != ','))
            return -1;
        end += (int64_t)(secs * 1e6);
        g_step_rate[g_nsteps] = r;
        g_step_end[g_nsteps++] = end;
        p = *q ? q + 1 : q;
    }
    return g_nsteps > 0 ? 0 : -1;
}

/* The step at T us after the start (g_nsteps once the schedule is over). */
static int step_at(int64_t t)
{
    int i = 0;
    while (i < g_nsteps && t >= g_step_end[i])
        i++;
    return i;
}

/* Microseconds between requests at T us after the start. */
static int64_t interval_at(int64_t t, double rate)
{
    for (int i = 0; i < g_nsteps; i++)
        if (t < g_step_end[i])
            return (int64_t)(1e6 / g_step_rate[i]);
    return g_nsteps ? (int64_t)(1e6 / g_step_rate[g_nsteps - 1]) : (int64_t)(1e6 / rate);
}

static int64_t *g_lat; /* latencies in us of completed requests */
static size_t g_nlat, g_caplat;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    g_next_step = 1;
}

static void die(const char *msg)
{
    perror(msg);
    exit(2);
}

static void push_id(int64_t id)
{
    if (g_nids == g_capids) {
        g_capids = g_capids ? g_capids * 2 : 4096;
        g_ids = realloc(g_ids, g_capids * sizeof(*g_ids));
        if (!g_ids)
            die("realloc");
    }
    g_ids[g_nids++] = id;
}

static void push_lat(int64_t us)
{
    if (g_nlat == g_caplat) {
        g_caplat = g_caplat ? g_caplat * 2 : 65536;
        g_lat = realloc(g_lat, g_caplat * sizeof(*g_lat));
        if (!g_lat)
            die("realloc");
    }
    g_lat[g_nlat++] = us;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->st = C_CLOSED;
    c->rlen = 0;
}

static void watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl mod");
}

/* Record the end of the current request and free the connection. */
static void finish(struct conn *c, int status, const char *err, int64_t id)
{
    int64_t end = wall_us();
    fprintf(g_req, "%" PRId64 ",%" PRId64 ",%c,%d,%s,%" PRId64 ",lg-%s-%" PRId64 ",%d\n", c->start_wall,
            end, c->kind, status, err ? err : "", id, g_run, c->seq, c->retry_after);
    c->retry_after = 0;
    S.done++;
    if (status >= 200 && status < 300)
        S.ok2xx++;
    else if (status > 0)
        S.non2xx++;
    else
        S.errors++;
    if (status > 0 && status < 600)
        S.by_status[status]++;
    push_lat(end - c->start_wall);
    c->busy = 0;
}

static int conn_open(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl add");
    c->rlen = 0;
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) == 0) {
        c->st = C_WRITING;
        return 0;
    }
    if (errno == EINPROGRESS) {
        c->st = C_CONNECTING;
        return 0;
    }
    return -1;
}

static void try_write(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            watch(c, EPOLLOUT | EPOLLIN | EPOLLRDHUP);
            return;
        }
        finish(c, 0, errno == ECONNRESET ? "reset-on-send" : "send-error", 0);
        conn_close(c);
        return;
    }
    c->st = C_READING;
    watch(c, EPOLLIN | EPOLLRDHUP);
}

static void dispatch(struct conn *c, int write_pct, int64_t timeout_us)
{
    static int64_t seq;
    c->busy = 1;
    c->seq = ++seq;
    c->start_wall = wall_us();
    c->deadline = mono_us() + timeout_us;
    c->woff = 0;
    int is_write = g_nids == 0 || (int)(rnd() % 100) < write_pct;
    if (is_write) {
        char body[256];
        int bl = snprintf(body, sizeof(body), "{\"name\":\"lg-%s-%" PRId64 "\",\"data\":{\"seq\":%" PRId64 "}}",
                          g_run, c->seq, c->seq);
        c->kind = 'W';
        c->get_id = 0;
        c->wlen = (size_t)snprintf(c->wbuf, sizeof(c->wbuf),
                                   "POST /v1/items HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                                   "Content-Type: application/json\r\nContent-Length: %d\r\n"
                                   "X-Request-Id: lg-%s-%" PRId64 "\r\n\r\n%s",
                                   g_host, g_key, bl, g_run, c->seq, body);
    } else {
        c->kind = 'R';
        c->get_id = g_ids[rnd() % g_nids];
        c->wlen = (size_t)snprintf(c->wbuf, sizeof(c->wbuf),
                                   "GET /v1/items/%" PRId64 " HTTP/1.1\r\nHost: %s\r\n"
                                   "Authorization: Bearer %s\r\nX-Request-Id: lg-%s-%" PRId64 "\r\n\r\n",
                                   c->get_id, g_host, g_key, g_run, c->seq);
    }
    S.sent++;
    if (c->st == C_IDLE) {
        c->reused = 1;
        c->st = C_WRITING;
        try_write(c);
        return;
    }
    c->reused = 0;
    if (conn_open(c) != 0) {
        finish(c, 0, "connect-error", 0);
        conn_close(c);
        return;
    }
    if (c->st == C_WRITING)
        try_write(c);
}

static const char *find_header(const char *h, size_t hl, const char *name, size_t *vl)
{
    size_t nl = strlen(name);
    const char *p = memchr(h, '\n', hl);
    const char *end = h + hl;
    while (p && p + 1 < end) {
        p++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vl = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* Length of a complete chunked body at b (n bytes), or -1 if incomplete. */
static long chunked_len(const char *b, size_t n)
{
    size_t off = 0;
    for (;;) {
        const char *eol = memmem(b + off, n - off, "\r\n", 2);
        if (!eol)
            return -1;
        unsigned long sz = strtoul(b + off, NULL, 16);
        off = (size_t)(eol - b) + 2;
        if (sz == 0) {
            /* trailers until an empty line */
            for (;;) {
                const char *e2 = memmem(b + off, n - off, "\r\n", 2);
                if (!e2)
                    return -1;
                size_t l = (size_t)(e2 - (b + off));
                off += l + 2;
                if (l == 0)
                    return (long)off;
            }
        }
        if (off + sz + 2 > n)
            return -1;
        off += sz + 2;
    }
}

/* 1 = a complete response was handled, 0 = need more bytes. */
static int try_parse(struct conn *c, int eof)
{
    char *hend = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!hend)
        return 0;
    size_t hl = (size_t)(hend - c->rbuf) + 4;
    int status = 0;
    if (c->rlen < 12 || sscanf(c->rbuf, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    size_t vl;
    const char *v;
    int close_after = 0;
    long body = -1;
    if ((v = find_header(c->rbuf, hl, "connection", &vl)) && vl == 5 && strncasecmp(v, "close", 5) == 0)
        close_after = 1;
    c->retry_after = find_header(c->rbuf, hl, "retry-after", &vl) != NULL;
    if ((v = find_header(c->rbuf, hl, "transfer-encoding", &vl)) && vl >= 7 &&
        strncasecmp(v + vl - 7, "chunked", 7) == 0) {
        body = chunked_len(c->rbuf + hl, c->rlen - hl);
        if (body < 0)
            return 0;
    } else if ((v = find_header(c->rbuf, hl, "content-length", &vl))) {
        body = strtol(v, NULL, 10);
        if (c->rlen < hl + (size_t)body)
            return 0;
    } else if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
        body = 0;
    } else {
        if (!eof)
            return 0;
        body = (long)(c->rlen - hl);
        close_after = 1;
    }
    int64_t id = 0;
    if (c->kind == 'W' && status == 201) {
        char *b = c->rbuf + hl;
        char save = b[body];
        b[body] = '\0';
        char *p = strstr(b, "\"id\":");
        if (p)
            id = strtoll(p + 5, NULL, 10);
        b[body] = save;
        if (id > 0) {
            fprintf(g_ack, "%" PRId64 ",lg-%s-%" PRId64 "\n", id, g_run, c->seq);
            push_id(id);
            S.writes_acked++;
        }
        finish(c, status, id > 0 ? NULL : "201-without-id", id);
    } else {
        finish(c, status, NULL, c->kind == 'R' ? c->get_id : 0);
    }
    size_t used = hl + (size_t)body;
    memmove(c->rbuf, c->rbuf + used, c->rlen - used);
    c->rlen -= used;
    if (close_after || eof) {
        conn_close(c);
    } else {
        c->st = C_IDLE;
        watch(c, EPOLLIN | EPOLLRDHUP);
    }
    return 1;
}

static void on_readable(struct conn *c)
{
    for (;;) {
        if (c->rcap - c->rlen < 4096) {
            c->rcap = c->rcap ? c->rcap * 2 : 16384;
            c->rbuf = realloc(c->rbuf, c->rcap + 1);
            if (!c->rbuf)
                die("realloc");
        }
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (c->busy && c->st == C_READING)
                try_parse(c, 0);
            return;
        }
        /* EOF or error */
        int reset = n < 0;
        if (c->busy && c->st == C_READING && c->rlen > 0 && try_parse(c, 1))
            return;
        if (c->busy) {
            const char *why = reset ? (errno == ECONNRESET ? "reset" : "recv-error")
                                    : (c->rlen ? "eof-mid-response" : "eof-before-response");
            finish(c, 0, why, 0);
        }
        conn_close(c);
        return;
    }
}

static void on_event(struct conn *c, uint32_t ev)
{
    if (c->st == C_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
            finish(c, 0, err == ECONNREFUSED ? "connect-refused" : "connect-error", 0);
            conn_close(c);
            return;
        }
        if (ev & EPOLLOUT) {
            c->st = C_WRITING;
            try_write(c);
        }
        return;
    }
    if (c->st == C_WRITING && (ev & EPOLLOUT)) {
        try_write(c);
        if (c->st != C_READING)
            return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (c->st == C_IDLE) {
            /* the server closed a kept-alive connection: just forget it */
            char tmp[512];
            ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
            if (n <= 0 && !(n < 0 && errno == EAGAIN))
                conn_close(c);
            return;
        }
        on_readable(c);
    }
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen -a ADDR -p PORT -k KEYFILE -o OUTDIR [-r RATE | -s RATE:SECONDS,...] "
                    "[-c CONNS] [-d SECONDS] "
                    "[-w WRITE_PCT] [-t TIMEOUT_S] [-v]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *keyfile = NULL, *outdir = NULL;
    int port = 0, nconns = 64, write_pct = 30, verbose = 0;
    double rate = 1000, duration = 0, timeout_s = 30;
    int opt;
    const char *schedule = NULL;
    while ((opt = getopt(argc, argv, "a:p:k:r:s:c:d:w:t:o:v")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'k': keyfile = optarg; break;
        case 'r': rate = atof(optarg); break;
        case 's': schedule = optarg; break;
        case 'c': nconns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': write_pct = atoi(optarg); break;
        case 't': timeout_s = atof(optarg); break;
        case 'o': outdir = optarg; break;
        case 'v': verbose = 1; break;
        default: usage();
        }
    }
    if (!addr || !keyfile || !outdir || port <= 0 || rate <= 0 || nconns <= 0 || nconns > 10000)
        usage();
    if (schedule) {
        if (parse_schedule(schedule) != 0)
            usage();
        /* The whole schedule, and the average rate it asks for. */
        duration = g_step_end[g_nsteps - 1] / 1e6;
        double n = 0;
        for (int i = 0; i < g_nsteps; i++)
            n += g_step_rate[i] * (g_step_end[i] - (i ? g_step_end[i - 1] : 0)) / 1e6;
        rate = n / duration;
    }
    memset(&g_addr, 0, sizeof(g_addr));
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &g_addr.sin_addr) != 1)
        usage();
    snprintf(g_host, sizeof(g_host), "%s:%d", addr, port);
    FILE *kf = fopen(keyfile, "r");
    if (!kf || !fgets(g_key, sizeof(g_key), kf))
        die(keyfile);
    fclose(kf);
    g_key[strcspn(g_key, "\r\n")] = '\0';
    g_rng ^= (uint64_t)wall_us() * 2654435761u;
    snprintf(g_run, sizeof(g_run), "%" PRIx64, (uint64_t)(wall_us() / 1000) & 0xffffffffu);

    char path[4096];
    snprintf(path, sizeof(path), "%s/requests.csv", outdir);
    g_req = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/acked.csv", outdir);
    g_ack = fopen(path, "w");
    if (!g_req || !g_ack)
        die(path);
    static char rb[1 << 20], ab[1 << 16];
    setvbuf(g_req, rb, _IOFBF, sizeof(rb));
    setvbuf(g_ack, ab, _IOFBF, sizeof(ab));
    fprintf(g_req, "start_us,end_us,kind,status,error,id,request_id,retry_after\n");

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction su = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &su, NULL);
    signal(SIGPIPE, SIG_IGN);

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        die("epoll_create1");
    struct conn *conns = calloc((size_t)nconns, sizeof(*conns));
    int *freelist = calloc((size_t)nconns, sizeof(int));
    if (!conns || !freelist)
        die("calloc");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].st = C_CLOSED;
    }

    const int64_t timeout_us = (int64_t)(timeout_s * 1e6);
    const int64_t t0 = mono_us(), wall0 = wall_us();
    const int64_t t_end = duration > 0 ? t0 + (int64_t)(duration * 1e6) : INT64_MAX;
    int64_t next_due = t0, next_progress = t0 + 5000000, stop_at = 0;
    struct epoll_event evs[256];
    uint64_t last_sent = 0;

    /* Schedule time runs ahead of the clock by skew once SIGUSR1 has cut
       steps short. */
    int64_t skew = 0;
    for (;;) {
        int64_t now = mono_us();
        if (g_next_step && g_nsteps) {
            g_next_step = 0;
            int i = step_at(now - t0 + skew);
            if (i < g_nsteps) {
                skew = g_step_end[i] - (now - t0);
                next_due = now;
            }
        }
        if (!stop_at && (g_stop || now + skew >= t_end))
            stop_at = now;
        int inflight = 0, nfree = 0;
        for (int i = 0; i < nconns; i++) {
            if (conns[i].busy) {
                inflight++;
                if (now > conns[i].deadline) {
                    finish(&conns[i], 0, "timeout", 0);
                    conn_close(&conns[i]);
                    freelist[nfree++] = i;
                }
            } else {
                freelist[nfree++] = i;
            }
        }
        if (stop_at && (inflight == 0 || now - stop_at > timeout_us))
            break;
        if (!stop_at) {
            /* Never burst more than 100 ms of backlog after a stall. */
            if (now - next_due > 100000) {
                int64_t iv = interval_at(next_due - t0 + skew, rate);
                S.skipped_slots += (uint64_t)((now - next_due - 100000) / iv);
                next_due = now - 100000;
            }
            int waited = 0;
            while (next_due <= now) {
                if (nfree == 0) {
                    waited = 1;
                    break;
                }
                /* prefer a kept-alive connection (the last free ones are the
                   most recently used) */
                int pick = -1;
                for (int k = nfree - 1; k >= 0; k--) {
                    if (conns[freelist[k]].st == C_IDLE) {
                        pick = k;
                        break;
                    }
                }
                if (pick < 0)
                    pick = nfree - 1;
                int ci = freelist[pick];
                freelist[pick] = freelist[--nfree];
                dispatch(&conns[ci], write_pct, timeout_us);
                next_due += interval_at(next_due - t0 + skew, rate);
            }
            if (waited)
                S.waited_for_conn++;
        }
        if (verbose && now >= next_progress) {
            fprintf(stderr, "loadgen: t=%.0fs sent=%" PRIu64 " (%.0f/s) 2xx=%" PRIu64 " non2xx=%" PRIu64
                            " errors=%" PRIu64 " inflight=%d\n",
                    (now - t0) / 1e6, S.sent, (S.sent - last_sent) / 5.0, S.ok2xx, S.non2xx, S.errors, inflight);
            last_sent = S.sent;
            next_progress += 5000000;
        }
        int wait_ms = 10;
        if (!stop_at && next_due > now && (next_due - now) / 1000 < wait_ms)
            wait_ms = (int)((next_due - now) / 1000);
        int n = epoll_wait(g_ep, evs, 256, wait_ms);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
    }
    int64_t elapsed = (stop_at ? stop_at : mono_us()) - t0;
    /* With a schedule cut short by SIGUSR1 the rate asked for is what was
       due in the time it ran: the requests sent plus those skipped. */
    if (schedule && elapsed > 0)
        rate = (double)(S.sent + S.skipped_slots) / (elapsed / 1e6);
    fflush(g_req);
    fflush(g_ack);
    fclose(g_req);
    fclose(g_ack);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    qsort(g_lat, g_nlat, sizeof(*g_lat), cmp64);
#define PCT(p) (g_nlat ? g_lat[(size_t)((double)(g_nlat - 1) * (p))] / 1000.0 : 0.0)
    snprintf(path, sizeof(path), "%s/summary.txt", outdir);
    FILE *sf = fopen(path, "w");
    if (!sf)
        die(path);
    FILE *outs[2] = {sf, stdout};
    for (int k = 0; k < 2; k++) {
        FILE *o = outs[k];
        fprintf(o, "start_us=%" PRId64 "\nseconds=%.1f\ntarget_rate=%.0f\nconnections=%d\nwrite_pct=%d\n", wall0,
                elapsed / 1e6, rate, nconns, write_pct);
        if (schedule)
            fprintf(o, "schedule=%s\n", schedule);
        fprintf(o, "sent=%" PRIu64 "\ncompleted=%" PRIu64 "\nachieved_rate=%.1f\n", S.sent, S.done,
                elapsed > 0 ? S.sent / (elapsed / 1e6) : 0.0);
        fprintf(o, "ok_2xx=%" PRIu64 "\nnon_2xx=%" PRIu64 "\nconnection_errors=%" PRIu64 "\n", S.ok2xx, S.non2xx,
                S.errors);
        fprintf(o, "writes_acked=%" PRIu64 "\nskipped_slots=%" PRIu64 "\n", S.writes_acked, S.skipped_slots);
        fprintf(o, "cpu_seconds=%.2f\ncpu_pct_of_one_core=%.1f\n", cpu, elapsed > 0 ? 100.0 * cpu / (elapsed / 1e6) : 0.0);
        fprintf(o, "latency_ms_p50=%.2f\nlatency_ms_p99=%.2f\nlatency_ms_max=%.2f\n", PCT(0.5), PCT(0.99),
                PCT(1.0));
        for (int s = 0; s < 600; s++)
            if (S.by_status[s])
                fprintf(o, "status_%d=%" PRIu64 "\n", s, S.by_status[s]);
    }
    fclose(sf);
    return 0;
}
