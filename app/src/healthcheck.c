/*
 * `items-api healthcheck [URL]`: exit 0 iff GET URL answers 200 within two
 * seconds. For container health checks in an image that has no curl.
 */
#include "healthcheck.h"

#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TIMEOUT_MS 2000

static int wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;

    do {
        n = poll(&p, 1, TIMEOUT_MS);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? IA_OK : IA_ERR;
}

int healthcheck_run(const char *url)
{
    char host[256], port[8] = "80", path[512] = "/";
    char req[1024], resp[64];
    const char *p;
    struct addrinfo hints, *ai = NULL;
    int fd = -1, rc = 1;
    size_t got = 0;

    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "healthcheck: only http:// URLs are supported\n");
        return 2;
    }
    p = url + 7;
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof(host)) {
        fprintf(stderr, "healthcheck: bad host in URL\n");
        return 2;
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    p += hl;
    if (*p == ':') {
        size_t pl = strcspn(++p, "/");
        if (pl == 0 || pl >= sizeof(port)) {
            fprintf(stderr, "healthcheck: bad port in URL\n");
            return 2;
        }
        memcpy(port, p, pl);
        port[pl] = '\0';
        p += pl;
    }
    if (*p == '/')
        snprintf(path, sizeof(path), "%s", p);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "healthcheck: cannot resolve %s\n", host);
        return 1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto cleanup;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
        goto cleanup;
    if (wait_fd(fd, POLLOUT) != IA_OK)
        goto cleanup;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        goto cleanup;
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: items-api-healthcheck\r\n"
                     "Connection: close\r\n\r\n",
                     path, host);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto cleanup;
    while (got < 12) {
        if (wait_fd(fd, POLLIN) != IA_OK)
            goto cleanup;
        ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
        if (r <= 0)
            goto cleanup;
        got += (size_t)r;
    }
    resp[got] = '\0';
    rc = (strncmp(resp, "HTTP/1.1 200", 12) == 0 || strncmp(resp, "HTTP/1.0 200", 12) == 0) ? 0 : 1;
cleanup:
    if (rc != 0 && got == 0)
        fprintf(stderr, "healthcheck: no answer from %s\n", url);
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}
