#include "loop.h"

#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct task {
    struct task *next;
    loop_task_fn fn;
    void *arg;
} task_t;

struct loop {
    int epfd;
    loop_handler_t wake_h; /* must stay first-class: its address is the epoll cookie */
    int wakefd;
    pthread_mutex_t mu;
    task_t *head, *tail;
};

static void run_tasks(loop_handler_t *h, uint32_t events)
{
    loop_t *l = (loop_t *)((char *)h - offsetof(loop_t, wake_h));
    uint64_t v;
    task_t *t;

    IA_UNUSED(events);
    if (read(l->wakefd, &v, sizeof(v)) < 0) {
        /* EAGAIN: a previous poll already drained the counter */
    }
    pthread_mutex_lock(&l->mu);
    t = l->head;
    l->head = l->tail = NULL;
    pthread_mutex_unlock(&l->mu);
    while (t != NULL) {
        task_t *next = t->next;
        t->fn(t->arg);
        free(t);
        t = next;
    }
}

loop_t *loop_new(void)
{
    loop_t *l = ia_calloc(1, sizeof(*l));

    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0)
        ia_fatal("epoll/eventfd creation failed");
    pthread_mutex_init(&l->mu, NULL);
    l->wake_h.fn = run_tasks;
    if (loop_add(l, l->wakefd, EPOLLIN, &l->wake_h) != IA_OK)
        ia_fatal("epoll_ctl on eventfd failed");
    return l;
}

void loop_free(loop_t *l)
{
    task_t *t = l->head;

    while (t != NULL) {
        task_t *next = t->next;
        free(t);
        t = next;
    }
    close(l->epfd);
    close(l->wakefd);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int loop_add(loop_t *l, int fd, uint32_t events, loop_handler_t *h)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};

    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? IA_OK : IA_ERR;
}

int loop_mod(loop_t *l, int fd, uint32_t events, loop_handler_t *h)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};

    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? IA_OK : IA_ERR;
}

void loop_del(loop_t *l, int fd)
{
    /* Failure means the fd was never added or is already closed: fine. */
    (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int loop_poll(loop_t *l, int timeout_ms)
{
    struct epoll_event evs[128];
    int n = epoll_wait(l->epfd, evs, IA_ARRAY_LEN(evs), timeout_ms);

    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        loop_handler_t *h = evs[i].data.ptr;
        h->fn(h, evs[i].events);
    }
    return n;
}

void loop_post(loop_t *l, loop_task_fn fn, void *arg)
{
    task_t *t = ia_malloc(sizeof(*t));
    uint64_t one = 1;

    t->next = NULL;
    t->fn = fn;
    t->arg = arg;
    pthread_mutex_lock(&l->mu);
    if (l->tail != NULL)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
    pthread_mutex_unlock(&l->mu);
    if (write(l->wakefd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is saturated, the loop is already awake */
    }
}
