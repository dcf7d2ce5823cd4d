/*
 * A thin epoll wrapper. Every registered fd carries a loop_handler_t*, the
 * first member of the object that owns the fd, so dispatch is one indirect
 * call. Other threads hand work to a loop with loop_post (an eventfd-backed
 * mailbox); everything else on a loop is single-threaded.
 */
#ifndef IA_LOOP_H
#define IA_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

typedef struct loop_handler loop_handler_t;
typedef void (*loop_event_fn)(loop_handler_t *h, uint32_t events);

struct loop_handler {
    loop_event_fn fn;
};

typedef struct loop loop_t;
typedef void (*loop_task_fn)(void *arg);

loop_t *loop_new(void);
void loop_free(loop_t *l);
int loop_add(loop_t *l, int fd, uint32_t events, loop_handler_t *h);
int loop_mod(loop_t *l, int fd, uint32_t events, loop_handler_t *h);
void loop_del(loop_t *l, int fd);
/* Waits up to timeout_ms and dispatches ready handlers and posted tasks.
 * Returns the number of events handled. */
int loop_poll(loop_t *l, int timeout_ms);
/* Thread-safe: runs fn(arg) on the loop's thread at its next poll. */
void loop_post(loop_t *l, loop_task_fn fn, void *arg);

#endif
