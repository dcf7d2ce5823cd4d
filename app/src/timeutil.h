#ifndef IA_TIMEUTIL_H
#define IA_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock: for timestamps only). */
int64_t time_now_ms(void);
/* Monotonic milliseconds and nanoseconds: for deadlines and durations. */
int64_t time_mono_ms(void);
int64_t time_mono_ns(void);
/* Sleeps ms milliseconds, resuming after signals. */
void time_sleep_ms(int64_t ms);

/* "2026-11-25T12:00:00.123Z" (24 chars + NUL); out must hold 25 bytes. */
#define TIME_RFC3339_LEN 24
void time_format_rfc3339(int64_t epoch_ms, char out[TIME_RFC3339_LEN + 1]);

/* IMF-fixdate for the Date header, cached per thread per second.
 * Returns a pointer to a thread-local 29-char string. */
#define TIME_HTTP_DATE_LEN 29
const char *time_http_date(void);

#endif
