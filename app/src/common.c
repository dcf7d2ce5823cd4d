#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void err_set(err_t *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

bool slice_eq(slice_t a, const char *lit)
{
    size_t n = strlen(lit);

    return a.len == n && memcmp(a.ptr, lit, n) == 0;
}

bool slice_case_eq(slice_t a, const char *lit)
{
    size_t n = strlen(lit);

    return a.len == n && strncasecmp(a.ptr, lit, n) == 0;
}

_Noreturn void ia_fatal(const char *what)
{
    /* No allocation and no stdio: this may run when memory is gone. */
    static const char pre[] = "{\"level\":\"error\",\"message\":\"fatal\",\"error\":\"";
    static const char post[] = "\"}\n";

    if (write(STDOUT_FILENO, pre, sizeof(pre) - 1) < 0 ||
        write(STDOUT_FILENO, what, strlen(what)) < 0 ||
        write(STDOUT_FILENO, post, sizeof(post) - 1) < 0) {
        /* nothing left to report to */
    }
    abort();
}

void *ia_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        ia_fatal("out of memory");
    return p;
}

void *ia_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        ia_fatal("out of memory");
    return p;
}

void *ia_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        ia_fatal("out of memory");
    return q;
}
