/*
 * Project-wide conventions.
 *
 * Errors: functions that can fail return IA_OK (0) or IA_ERR (-1) and, where
 * the caller must tell the user why, fill an err_t. Functions that own
 * resources have a single exit at a "cleanup:" label.
 */
#ifndef IA_COMMON_H
#define IA_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IA_OK  0
#define IA_ERR (-1)

#define IA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define IA_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define IA_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define IA_LIKELY(x)    __builtin_expect(!!(x), 1)
#define IA_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define IA_UNUSED(x)    (void)(x)

/* A message for the user, filled by whatever failed first. */
typedef struct {
    char msg[256];
} err_t;

void err_set(err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A borrowed byte range; never owns its memory. */
typedef struct {
    const char *ptr;
    size_t len;
} slice_t;

#define SLICE_LIT(s) ((slice_t){(s), sizeof(s) - 1})

bool slice_eq(slice_t a, const char *lit);
bool slice_case_eq(slice_t a, const char *lit);

/* Crash with a message: for broken invariants and allocation failure only. */
_Noreturn void ia_fatal(const char *what);

void *ia_malloc(size_t n);
void *ia_calloc(size_t n, size_t size);
void *ia_realloc(void *p, size_t n);

#endif
