/*
 * Process lifecycle: listening socket, worker threads, signals, the drain
 * and shutdown sequence:
 *
 *   SIGTERM -> DRAINING: /readyz answers 503 at once, everything else is
 *              served as usual for DRAIN_SECONDS (the load balancer's
 *              deregistration delay);
 *           -> STOPPING: the listener closes, idle connections close, busy
 *              ones close after their current response;
 *           -> exit 0 when no connection is left, or after
 *              SHUTDOWN_TIMEOUT_SECONDS.
 */
#include "server.h"

#include "auth.h"
#include "http_conn.h"
#include "log.h"
#include "sandbox.h"
#include "timeutil.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PURGE_EVERY_MS (10 * 60 * 1000)
/* Out of descriptors, a worker stops watching the listener for this long
 * plus a per-worker jitter, so that the workers do not retry in step. */
#define ACCEPT_PAUSE_MS  100
#define ACCEPT_JITTER_MS 151
/* Descriptors that are not client connections: the database pool, the
 * listener, each worker's epoll and eventfd, the log, the resolver. */
#define FD_RESERVE 64

/* Every connection is a descriptor: take all the hard limit allows, and say
 * so when MAX_CONNECTIONS cannot be reached (accept then pauses on EMFILE
 * instead of answering 503). */
static void nofile_raise(const config_t *cfg)
{
    struct rlimit rl, want;
    log_line_t l;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    want = rl;
    want.rlim_cur = rl.rlim_max;
    if (want.rlim_cur != rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &want) == 0)
        rl = want;
    if (rl.rlim_cur == RLIM_INFINITY || (rlim_t)cfg->max_connections + FD_RESERVE <= rl.rlim_cur)
        return;
    if (log_begin(&l, LOG_WARN, "MAX_CONNECTIONS is above the open-file limit")) {
        log_int(&l, "max_connections", cfg->max_connections);
        log_int(&l, "nofile_limit", (int64_t)rl.rlim_cur);
        log_int(&l, "reserved_fds", FD_RESERVE);
        log_end(&l);
    }
}

static int listen_open(const config_t *cfg, err_t *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = -1, one = 1, ret = -1, parsed;

    memset(&ss, 0, sizeof(ss));
    if (strchr(cfg->bind_address, ':') != NULL) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)cfg->port);
        parsed = inet_pton(AF_INET6, cfg->bind_address, &a->sin6_addr);
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)cfg->port);
        parsed = inet_pton(AF_INET, cfg->bind_address, &a->sin_addr);
        len = sizeof(*a);
    }
    if (parsed != 1) {
        err_set(err, "BIND_ADDRESS: \"%s\" is not a numeric IP address", cfg->bind_address);
        goto cleanup;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err_set(err, "socket: %s", strerror(errno));
        goto cleanup;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        err_set(err, "PORT/BIND_ADDRESS: cannot bind %s:%lld: %s", cfg->bind_address,
                (long long)cfg->port, strerror(errno));
        goto cleanup;
    }
    if (listen(fd, 4096) != 0) {
        err_set(err, "listen: %s", strerror(errno));
        goto cleanup;
    }
    ret = fd;
    fd = -1; /* the caller owns it now */
cleanup:
    if (fd >= 0)
        close(fd);
    return ret;
}

/* The listener is level-triggered: with no descriptor to accept into, it
 * stays readable and the loop would spin on EMFILE. Stop watching it for a
 * moment (as nginx does) and warn at most once a second. With
 * EPOLLEXCLUSIVE the only way back is DEL then ADD, not MOD. */
static void accept_pause(worker_t *w)
{
    server_t *srv = w->srv;
    int64_t now = time_mono_ms();
    long long last = atomic_load_explicit(&srv->fd_warned_ms, memory_order_relaxed);
    log_line_t l;

    loop_del(w->loop, srv->listen_fd);
    w->accepting = false;
    w->accept_resume_ms = now + ACCEPT_PAUSE_MS + (int64_t)(w->rng % ACCEPT_JITTER_MS);
    atomic_fetch_add_explicit(&srv->fd_refused, 1, memory_order_relaxed);
    if (now - last < 1000 || !atomic_compare_exchange_strong(&srv->fd_warned_ms, &last, now))
        return;
    if (log_begin(&l, LOG_WARN, "out of file descriptors; not accepting for now")) {
        log_int(&l, "refused", atomic_exchange(&srv->fd_refused, 0));
        log_int(&l, "open_connections",
                atomic_load_explicit(&srv->conns_open, memory_order_relaxed));
        log_end(&l);
    }
}

static void accept_resume(worker_t *w, int64_t now)
{
    if (w->accept_resume_ms == 0 || now < w->accept_resume_ms)
        return;
    w->accept_resume_ms = 0;
    if (w->stopping)
        return; /* the listener is closing: stay away from it */
    if (loop_add(w->loop, w->srv->listen_fd, EPOLLIN | EPOLLEXCLUSIVE, &w->listen_h) != IA_OK) {
        /* epoll needs memory too (ENOMEM): try again later */
        w->accept_resume_ms = now + ACCEPT_PAUSE_MS;
        return;
    }
    w->accepting = true;
}

static void on_listen(loop_handler_t *h, uint32_t events)
{
    worker_t *w = (worker_t *)((char *)h - offsetof(worker_t, listen_h));
    server_t *srv = w->srv;

    IA_UNUSED(events);
    for (int i = 0; i < 64 && w->accepting; i++) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                accept_pause(w);
            return;
        }
        long open = atomic_fetch_add_explicit(&srv->conns_open, 1, memory_order_relaxed);
        if (open >= srv->cfg->max_connections) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "
                                       "0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";
            (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            atomic_fetch_sub_explicit(&srv->conns_open, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&w->metrics->conns_rejected, 1, memory_order_relaxed);
            continue;
        }
        atomic_store_explicit(
            &w->metrics->conns_accepted,
            atomic_load_explicit(&w->metrics->conns_accepted, memory_order_relaxed) + 1,
            memory_order_relaxed);
        conn_accept(w, fd);
    }
}

/* Nothing is served before the sandbox is on: see server_run. */
static void gate_wait(server_t *srv)
{
    pthread_mutex_lock(&srv->gate_mu);
    while (!srv->gate_open)
        pthread_cond_wait(&srv->gate_cv, &srv->gate_mu);
    pthread_mutex_unlock(&srv->gate_mu);
}

static void gate_open(server_t *srv)
{
    pthread_mutex_lock(&srv->gate_mu);
    srv->gate_open = true;
    pthread_cond_broadcast(&srv->gate_cv);
    pthread_mutex_unlock(&srv->gate_mu);
}

/* The earlier of two poll timeouts (ms, -1 = none). */
static int timeout_min(int timeout, int64_t ms)
{
    if (ms < 0)
        return timeout;
    if (ms > INT32_MAX)
        ms = INT32_MAX;
    return timeout < 0 || ms < timeout ? (int)ms : timeout;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;

    gate_wait(w->srv);
    log_set_buffered(true);
    while (!w->exit) {
        int64_t now = time_mono_ms();
        int timeout = conn_next_deadline(w, now);

        timeout = timeout_min(timeout, store_worker_tick(w->store, now));
        if (w->accept_resume_ms != 0)
            timeout =
                timeout_min(timeout, w->accept_resume_ms > now ? w->accept_resume_ms - now : 0);
        if (timeout < 0 || timeout > 1000)
            timeout = 1000;
        if (loop_poll(w->loop, timeout) < 0 && errno != EINTR)
            ia_fatal("epoll_wait failed");
        now = time_mono_ms();
        accept_resume(w, now);
        conn_expire(w, now);
        store_worker_tick(w->store, now);
        store_worker_flush(w->store);
        conn_reap(w);
        log_flush();
    }
    auth_thread_done();
    log_thread_done();
    return NULL;
}

static void task_stop_accepting(void *arg)
{
    worker_t *w = arg;

    if (w->accepting) {
        loop_del(w->loop, w->srv->listen_fd);
        w->accepting = false;
    }
    w->stopping = true;
    conn_close_idle(w);
}

static void task_exit(void *arg)
{
    ((worker_t *)arg)->exit = true;
}

static void on_purged(store_op_t *op, const store_result_t *res)
{
    worker_t *w = op->arg;

    w->purge_busy = false;
    if (res->status != STORE_OK)
        log_msg(LOG_WARN, "idempotency key cleanup failed; will retry");
}

/* Idempotency keys are kept at least 24 h; older ones go in the background. */
static void task_purge(void *arg)
{
    worker_t *w = arg;

    if (w->purge_busy || w->stopping)
        return;
    w->purge_busy = true;
    memset(&w->purge_op, 0, sizeof(w->purge_op));
    w->purge_op.kind = STORE_OP_PURGE_IDEMPOTENCY;
    w->purge_op.done = on_purged;
    w->purge_op.arg = w;
    store_submit(w->store, &w->purge_op);
}

static void worker_free(worker_t *w)
{
    conn_teardown(w);
    store_worker_free(w->store);
    loop_free(w->loop);
    buf_release(&w->scratch);
    free(w->metrics);
    free(w);
}

static worker_t *worker_new(server_t *srv, int index)
{
    worker_t *w = ia_calloc(1, sizeof(*w));

    w->index = index;
    w->srv = srv;
    w->loop = loop_new();
    w->metrics = ia_calloc(1, sizeof(*w->metrics));
    w->store = store_worker_new(srv->store, w->loop, index);
    w->listen_h.fn = on_listen;
    if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || w->rng == 0)
        w->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)time_mono_ns() ^ (uint64_t)index;
    conn_timers_init(w);
    if (loop_add(w->loop, srv->listen_fd, EPOLLIN | EPOLLEXCLUSIVE, &w->listen_h) != IA_OK)
        ia_fatal("cannot watch the listening socket");
    w->accepting = true;
    return w;
}

static void emf_maybe(server_t *srv, metrics_emf_state_t *st, int64_t *next_ms)
{
    int64_t now = time_mono_ms();
    store_stats_t db;
    buf_t line = {0};

    if (srv->cfg->emf_interval_s == 0 || now < *next_ms)
        return;
    *next_ms = now + srv->cfg->emf_interval_s * 1000;
    store_get_stats(srv->store, &db);
    metrics_emf_line(&line, srv->shards, srv->n_workers, &db, st, time_now_ms());
    if (write(STDOUT_FILENO, line.data, line.len) < 0) {
        /* stdout gone */
    }
    buf_release(&line);
}

/* Waits for SIGTERM/SIGINT while printing EMF lines on schedule. */
static int wait_signal(server_t *srv, const sigset_t *set, metrics_emf_state_t *st,
                       int64_t *next_emf, int64_t until_ms)
{
    for (;;) {
        int64_t now = time_mono_ms();
        if (until_ms >= 0 && now >= until_ms)
            return 0;
        int64_t wait_ms = 1000;
        if (until_ms >= 0 && until_ms - now < wait_ms)
            wait_ms = until_ms - now;
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0)
            return sig;
        emf_maybe(srv, st, next_emf);
        if (time_mono_ms() >= srv->next_purge_ms) {
            srv->next_purge_ms = time_mono_ms() + PURGE_EVERY_MS;
            loop_post(srv->workers[0]->loop, task_purge, srv->workers[0]);
        }
    }
}

static long total_conns(server_t *srv)
{
    return atomic_load_explicit(&srv->conns_open, memory_order_relaxed);
}

int server_run(const config_t *cfg, store_t *store, const char *version, const char *revision)
{
    server_t srv;
    sigset_t set;
    err_t err = {{0}};
    metrics_emf_state_t emf;
    int64_t next_emf;
    int sig;

    memset(&srv, 0, sizeof(srv));
    memset(&emf, 0, sizeof(emf));
    srv.cfg = cfg;
    srv.store = store;
    srv.version = version;
    srv.revision = revision;
    srv.start_time = (double)time_now_ms() / 1000.0;
    srv.ratelimit = ratelimit_new(cfg->n_keys, cfg->rate_limit_rps, cfg->rate_limit_burst);
    atomic_init(&srv.phase, PHASE_RUNNING);
    atomic_init(&srv.conns_open, 0);
    atomic_init(&srv.fd_warned_ms, 0);
    atomic_init(&srv.fd_refused, 0);
    pthread_mutex_init(&srv.gate_mu, NULL);
    pthread_cond_init(&srv.gate_cv, NULL);

    /* Signals are taken synchronously by this thread only. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    nofile_raise(cfg);
    srv.listen_fd = listen_open(cfg, &err);
    if (srv.listen_fd < 0) {
        log_refusal("cannot listen; refusing to start", err.msg);
        return 1;
    }
    srv.n_workers = (size_t)cfg->worker_threads;
    srv.workers = ia_calloc(srv.n_workers, sizeof(*srv.workers));
    srv.shards = ia_calloc(srv.n_workers, sizeof(*srv.shards));
    for (size_t i = 0; i < srv.n_workers; i++) {
        srv.workers[i] = worker_new(&srv, (int)i);
        srv.shards[i] = srv.workers[i]->metrics;
    }
    store_start(store);
    for (size_t i = 0; i < srv.n_workers; i++) {
        if (pthread_create(&srv.workers[i]->thread, NULL, worker_main, srv.workers[i]) != 0)
            ia_fatal("pthread_create failed");
    }
    /* Everything is open and every thread exists: lock the process down,
     * then let the workers serve (they wait at the gate until then). */
    if (cfg->sandbox) {
        if (sandbox_enter(&err) != IA_OK) {
            log_refusal("cannot enter the sandbox; refusing to start", err.msg);
            return 1;
        }
    } else {
        log_msg(LOG_WARN, "sandbox disabled (SANDBOX=off): no seccomp filter");
    }
    gate_open(&srv);
    log_line_t l;
    for (size_t i = 0; i < cfg->n_keys; i++) {
        if (log_begin(&l, LOG_INFO, "api key loaded")) {
            log_str(&l, "key", cfg->keys[i].label);
            log_end(&l);
        }
    }
    if (log_begin(&l, LOG_INFO, "listening")) {
        log_str(&l, "address", cfg->bind_address);
        log_int(&l, "port", cfg->port);
        log_int(&l, "workers", (int64_t)srv.n_workers);
        log_str(&l, "database", cfg->db_redacted);
        log_str(&l, "version", version);
        log_bool(&l, "sandbox", cfg->sandbox);
        log_end(&l);
    }

    next_emf = time_mono_ms() + cfg->emf_interval_s * 1000;
    srv.next_purge_ms = time_mono_ms() + 60 * 1000;
    sig = wait_signal(&srv, &set, &emf, &next_emf, -1);

    atomic_store(&srv.phase, PHASE_DRAINING);
    if (log_begin(&l, LOG_INFO, "draining")) {
        log_str(&l, "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
        log_int(&l, "drain_seconds", cfg->drain_seconds);
        log_end(&l);
    }
    if (cfg->drain_seconds > 0) {
        /* A second signal during the drain is ignored on purpose: the
         * orchestrator's stop timeout is the hard limit. */
        int64_t until = time_mono_ms() + cfg->drain_seconds * 1000;
        while (wait_signal(&srv, &set, &emf, &next_emf, until) != 0)
            ;
    }

    atomic_store(&srv.phase, PHASE_STOPPING);
    for (size_t i = 0; i < srv.n_workers; i++)
        loop_post(srv.workers[i]->loop, task_stop_accepting, srv.workers[i]);
    int64_t deadline = time_mono_ms() + cfg->shutdown_timeout_s * 1000;
    while (total_conns(&srv) > 0 && time_mono_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    long left = total_conns(&srv);
    for (size_t i = 0; i < srv.n_workers; i++)
        loop_post(srv.workers[i]->loop, task_exit, srv.workers[i]);
    for (size_t i = 0; i < srv.n_workers; i++)
        pthread_join(srv.workers[i]->thread, NULL);
    close(srv.listen_fd);
    emf_maybe(&srv, &emf, &(int64_t){0});
    store_stop(store);
    for (size_t i = 0; i < srv.n_workers; i++)
        worker_free(srv.workers[i]);
    free(srv.workers);
    free(srv.shards);
    ratelimit_free(srv.ratelimit);
    pthread_cond_destroy(&srv.gate_cv);
    pthread_mutex_destroy(&srv.gate_mu);
    if (log_begin(&l, left > 0 ? LOG_WARN : LOG_INFO, "stopped")) {
        log_int(&l, "connections_cut", left);
        log_end(&l);
    }
    return 0;
}
