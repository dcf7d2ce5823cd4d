#include "log.h"

#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

log_level_t log_min_level = LOG_INFO;

static _Thread_local buf_t tls_buf;
static _Thread_local bool tls_buffered;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_parse_level(const char *s, log_level_t *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return true;
        }
    }
    return false;
}

bool log_begin(log_line_t *l, log_level_t level, const char *msg)
{
    char ts[TIME_RFC3339_LEN + 1];

    if (!log_enabled(level))
        return false;
    l->b = &tls_buf;
    l->start = tls_buf.len;
    time_format_rfc3339(time_now_ms(), ts);
    buf_append(l->b, "{\"time\":\"", 9);
    buf_append(l->b, ts, TIME_RFC3339_LEN);
    buf_append(l->b, "\",\"level\":\"", 11);
    buf_puts(l->b, level_names[level]);
    buf_append(l->b, "\",\"message\":", 12);
    buf_put_json_str(l->b, msg, strlen(msg));
    return true;
}

static void put_key(log_line_t *l, const char *key)
{
    buf_putc(l->b, ',');
    buf_put_json_str(l->b, key, strlen(key));
    buf_putc(l->b, ':');
}

void log_strn(log_line_t *l, const char *key, const char *val, size_t n)
{
    put_key(l, key);
    buf_put_json_str(l->b, val, n);
}

void log_str(log_line_t *l, const char *key, const char *val)
{
    if (val == NULL) {
        put_key(l, key);
        buf_append(l->b, "null", 4);
        return;
    }
    log_strn(l, key, val, strlen(val));
}

void log_int(log_line_t *l, const char *key, int64_t val)
{
    put_key(l, key);
    buf_put_i64(l->b, val);
}

void log_double(log_line_t *l, const char *key, double val)
{
    put_key(l, key);
    buf_printf(l->b, "%.3f", val);
}

void log_bool(log_line_t *l, const char *key, bool val)
{
    put_key(l, key);
    buf_puts(l->b, val ? "true" : "false");
}

void log_raw(log_line_t *l, const char *key, const char *json, size_t n)
{
    put_key(l, key);
    buf_append(l->b, json, n);
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* stdout gone: nowhere left to say so */
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_end(log_line_t *l)
{
    buf_append(l->b, "}\n", 2);
    /* Flush early when buffered lines pile up, to bound memory and delay. */
    if (!tls_buffered || tls_buf.len >= 32 * 1024)
        log_flush();
}

void log_set_buffered(bool on)
{
    tls_buffered = on;
}

void log_flush(void)
{
    if (tls_buf.len == 0)
        return;
    write_all(tls_buf.data, tls_buf.len);
    tls_buf.len = 0;
    if (tls_buf.cap > 256 * 1024)
        buf_release(&tls_buf);
}

void log_msg(log_level_t level, const char *msg)
{
    log_line_t l;

    if (log_begin(&l, level, msg))
        log_end(&l);
}

void log_msg_str(log_level_t level, const char *msg, const char *key, const char *val)
{
    log_line_t l;

    if (log_begin(&l, level, msg)) {
        log_str(&l, key, val);
        log_end(&l);
    }
}

void log_refusal(const char *msg, const char *error)
{
    log_msg_str(LOG_ERROR, msg, "error", error);
    fprintf(stderr, "items-api: %s: %s\n", msg, error);
}

void log_thread_done(void)
{
    log_flush();
    buf_release(&tls_buf);
}
