/*
 * Connections (http_conn.c): accept, read, frame and admit requests,
 * dispatch them through the route table, write responses, keep-alive,
 * timeouts and lingering close. server.c drives these from each worker's
 * loop.
 */
#ifndef IA_HTTP_CONN_H
#define IA_HTTP_CONN_H

#include "worker.h"

/* Empty timer lists, with the timeouts of w->srv->cfg. */
void conn_timers_init(worker_t *w);
/* Takes ownership of fd (closes it if it cannot be watched). */
void conn_accept(worker_t *w, int fd);
/* Answers 408 to stalled requests and closes timed-out connections. */
void conn_expire(worker_t *w, int64_t now_ms);
/* Milliseconds to the next deadline, -1 when none. */
int conn_next_deadline(worker_t *w, int64_t now_ms);
/* After each poll: frees closed connections, trims idle ones. */
void conn_reap(worker_t *w);
/* At shutdown: closes idle keep-alive connections now. */
void conn_close_idle(worker_t *w);
/* Frees every connection of a stopped worker, and its caches. */
void conn_teardown(worker_t *w);

#endif
