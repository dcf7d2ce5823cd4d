/*
 * http_conn.c: connection bookkeeping. on_listen counts a connection open
 * before conn_accept; when the socket cannot be watched, conn_accept must
 * give the count back (conn_close never runs for it), or MAX_CONNECTIONS
 * is reached with no connection open.
 */
#include "unit.h"

#include "http_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* epoll refuses regular files (EPERM): loop_add fails as it would on
 * ENOMEM or ENOSPC (max_user_watches). */
static int unwatchable_fd(void)
{
    char path[] = "/tmp/ia-unit-conn-XXXXXX";
    int fd = mkstemp(path);

    if (fd >= 0)
        unlink(path);
    return fd;
}

static void test_accept_unwatchable_gives_back_count(void **state)
{
    server_t srv;
    worker_t w;
    int fd = unwatchable_fd();

    (void)state;
    assert_true(fd >= 0);
    memset(&srv, 0, sizeof(srv));
    memset(&w, 0, sizeof(w));
    atomic_init(&srv.conns_open, 1); /* as on_listen left it */
    w.srv = &srv;
    w.loop = loop_new();
    conn_accept(&w, fd);
    assert_int_equal(atomic_load(&srv.conns_open), 0);
    assert_int_equal(w.n_conns, 0);
    assert_null(w.all);
    /* ...and the descriptor is closed. */
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    loop_free(w.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_unwatchable_gives_back_count),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
