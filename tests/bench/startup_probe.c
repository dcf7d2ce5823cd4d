/*
 * startup-probe: time from exec to the first 200 from GET /readyz.
 *
 *   startup-probe [-n REPS] [-i POLL_US] [-f] -p PORT -d DIR -l LOG -- CMD ARGS...
 *
 * For each repetition: take CLOCK_MONOTONIC, posix_spawn CMD (stdout and
 * stderr appended to LOG) with DATABASE_URL=sqlite:DIR/startup-N.db (-f: a
 * fresh, not yet existing file each time, so migrations run; otherwise one
 * file reused), then poll 127.0.0.1:PORT every POLL_US microseconds (default
 * 250) with a blocking connect + GET /readyz until the status line says 200.
 * Prints one line per repetition, the milliseconds, then stops the child
 * with SIGTERM and reaps it. Exit status 1 if any repetition fails (child
 * exits, or no 200 within 10 s).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define GIVE_UP_NS (10LL * 1000 * 1000 * 1000)

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* 1: got 200; 0: not yet (refused, reset, other status). */
static int readyz_ok(int port)
{
    static const char req[] =
        "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    struct sockaddr_in sa;
    struct timeval tv = {2, 0};
    char buf[64];
    size_t got = 0;
    int ok = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto done;
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
        goto done;
    while (got < 12) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            goto done;
        got += (size_t)n;
    }
    buf[got] = '\0';
    ok = strncmp(buf, "HTTP/1.1 200", 12) == 0;
done:
    close(fd);
    return ok;
}

static void usage(void)
{
    fprintf(stderr, "usage: startup-probe [-n REPS] [-i POLL_US] [-f] -p PORT -d DIR -l LOG -- "
                    "CMD ARGS...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int reps = 10, port = 0, fresh = 0, opt, failed = 0;
    long poll_us = 250;
    const char *dir = NULL, *log = NULL;

    while ((opt = getopt(argc, argv, "n:i:fp:d:l:")) != -1) {
        switch (opt) {
        case 'n':
            reps = atoi(optarg);
            break;
        case 'i':
            poll_us = atol(optarg);
            break;
        case 'f':
            fresh = 1;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'l':
            log = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc || reps < 1 || port <= 0 || port > 65535 || dir == NULL || log == NULL ||
        poll_us < 1)
        usage();

    for (int i = 0; i < reps; i++) {
        char url[4096];
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status, ready = 0, rc;

        snprintf(url, sizeof(url), "sqlite:%s/startup-%d.db", dir, fresh ? i : 0);
        setenv("DATABASE_URL", url, 1);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_APPEND,
                                         0644);
        posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);

        long long t0 = now_ns();
        rc = posix_spawn(&pid, argv[optind], &fa, NULL, &argv[optind], environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            fprintf(stderr, "startup-probe: cannot spawn %s: %s\n", argv[optind], strerror(rc));
            return 1;
        }
        for (;;) {
            if (readyz_ok(port)) {
                ready = 1;
                break;
            }
            if (waitpid(pid, &status, WNOHANG) == pid) {
                fprintf(stderr, "startup-probe: the service exited before /readyz answered 200\n");
                pid = -1;
                break;
            }
            if (now_ns() - t0 > GIVE_UP_NS) {
                fprintf(stderr, "startup-probe: no 200 from /readyz within 10 s\n");
                break;
            }
            sleep_us(poll_us);
        }
        long long t1 = now_ns();
        if (ready)
            printf("%.3f\n", (double)(t1 - t0) / 1e6);
        else
            failed = 1;
        fflush(stdout);
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
        }
        if (failed)
            break;
    }
    return failed;
}
