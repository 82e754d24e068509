/* base.h - small helpers every g4 source file uses: error reporting into g4_error,
 * checked arithmetic for sizes read from untrusted files, and programmer-error asserts.
 *
 * Untrusted input (files, requests, token ids) must produce a g4_status through g4_fail,
 * never an assert. G4_ASSERT is for invariants the library itself guarantees. */
#ifndef G4_BASE_H
#define G4_BASE_H

#include "g4.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define G4_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define G4_MIN(a, b) ((a) < (b) ? (a) : (b))
#define G4_MAX(a, b) ((a) > (b) ? (a) : (b))

#define G4_ASSERT(cond)                                                                 \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "g4: internal error at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#if defined(__GNUC__)
#define G4_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define G4_PRINTF(f, a)
#endif

/* Records st and a formatted message in err (if non-NULL) and returns st. The first
 * failure wins: a later g4_fail on an already-failed err keeps the earlier message. */
g4_status g4_fail(g4_error *err, g4_status st, const char *fmt, ...) G4_PRINTF(3, 4);

/* Prefixes the message already in err with "what: " (e.g. the file name). */
void g4_error_prefix(g4_error *err, const char *fmt, ...) G4_PRINTF(2, 3);

static inline void g4_error_clear(g4_error *err) {
    if (err) { err->status = G4_OK; err->msg[0] = 0; }
}

/* Overflow-checked size arithmetic: return false when the result does not fit. */
static inline bool g4_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool g4_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* Largest single allocation the library will attempt for data whose size comes from a
 * file (metadata arrays, directories). Real Gemma 4 vocabularies need ~20 MB; anything
 * near this bound is a corrupt or hostile file, not a model. */
#define G4_MAX_METADATA_BYTES ((uint64_t)1 << 30)

/* malloc/calloc that treat a zero size as one byte, so "no elements" is not NULL. */
void *g4_malloc(size_t n);
void *g4_calloc(size_t n, size_t size);
char *g4_strdup(const char *s);

#endif /* G4_BASE_H */
