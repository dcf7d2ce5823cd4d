/*
 * JSON-lines logging: every line the process writes is one JSON object with
 * "time", "level" and "message". Build a line with the log_* builder:
 *
 *     log_line_t l;
 *     if (log_begin(&l, LOG_INFO, "listening")) {
 *         log_str(&l, "address", addr);
 *         log_int(&l, "port", port);
 *         log_end(&l);
 *     }
 *
 * log_begin returns false when the level is filtered out, so nothing is
 * formatted. Values are escaped; never pass a secret as a value.
 * Event-loop threads call log_set_buffered(true): their lines are collected
 * and written by log_flush() once per loop iteration (one write for many).
 */
#ifndef IA_LOG_H
#define IA_LOG_H

#include "buf.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

extern log_level_t log_min_level;

typedef struct {
    buf_t *b;
    size_t start;
} log_line_t;

bool log_parse_level(const char *s, log_level_t *out);
bool log_begin(log_line_t *l, log_level_t level, const char *msg);
void log_str(log_line_t *l, const char *key, const char *val);
void log_strn(log_line_t *l, const char *key, const char *val, size_t n);
void log_int(log_line_t *l, const char *key, int64_t val);
void log_double(log_line_t *l, const char *key, double val);
void log_bool(log_line_t *l, const char *key, bool val);
/* Appends a pre-rendered JSON value (object, array...) under key. */
void log_raw(log_line_t *l, const char *key, const char *json, size_t n);
void log_end(log_line_t *l);

void log_set_buffered(bool on);
void log_flush(void);
/* Flushes and frees this thread's buffer (call before a thread ends). */
void log_thread_done(void);

/* One-liners for the common shapes. */
void log_msg(log_level_t level, const char *msg);
void log_msg_str(log_level_t level, const char *msg, const char *key, const char *val);
/* A refusal to start (bad configuration, unreachable database, port taken):
 * logged at error level, and repeated as plain text on stderr so that a run
 * whose stdout is discarded still says why. error must hold no secret. */
void log_refusal(const char *msg, const char *error);

static inline bool log_enabled(log_level_t level)
{
    return level >= log_min_level;
}

#endif
