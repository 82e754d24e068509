/* error.c - filling g4_error, and the names of statuses and types for messages. */
#include "base.h"

#include <stdarg.h>
#include <string.h>

g4_status g4_fail(g4_error *err, g4_status st, const char *fmt, ...) {
    if (!err || err->status != G4_OK) return st;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return st;
}

void g4_error_prefix(g4_error *err, const char *fmt, ...) {
    if (!err) return;
    char head[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* truncation of an over-long message is acceptable: it is for humans */
    size_t hl = strlen(head);
    if (hl > sizeof err->msg - 3) hl = sizeof err->msg - 3;
    memcpy(err->msg, head, hl);
    memcpy(err->msg + hl, ": ", 2);
    size_t room = sizeof err->msg - hl - 3, ol = strlen(old);
    if (ol > room) ol = room;
    memcpy(err->msg + hl + 2, old, ol);
    err->msg[hl + 2 + ol] = 0;
}

const char *g4_status_str(g4_status st) {
    switch (st) {
    case G4_OK: return "ok";
    case G4_ERR_IO: return "I/O error";
    case G4_ERR_FORMAT: return "bad format";
    case G4_ERR_UNSUPPORTED: return "unsupported";
    case G4_ERR_NOMEM: return "out of memory";
    case G4_ERR_ARG: return "invalid argument";
    case G4_ERR_CONTEXT_FULL: return "context full";
    case G4_ERR_MISMATCH: return "mismatch";
    }
    return "unknown status";
}

void *g4_malloc(size_t n) { return malloc(n ? n : 1); }
void *g4_calloc(size_t n, size_t size) { return calloc(n ? n : 1, size ? size : 1); }
char *g4_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
