/* test.h - the tiny test harness every tests/test_*.c uses. A check that fails prints
 * file:line and the expression; each binary ends with "N passed, M failed" and exits
 * non-zero on any failure. tests/run.sh adds the counts of all binaries up.
 *
 * Test data: G4_TEST_DATA (default "tests/data") holds the committed fixtures;
 * G4_TEST_CACHE (default ".cache") holds assets fetched at test time (vocabularies,
 * llama.cpp). A test that needs an absent asset says SKIP with the reason. */
#ifndef G4_TEST_H
#define G4_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed, test_skipped;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) test_passed++;                                                      \
        else { test_failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        if (cond) test_passed++;                                                      \
        else {                                                                        \
            test_failed++;                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

#define SKIP(...)                                                                     \
    do {                                                                              \
        test_skipped++;                                                               \
        fprintf(stderr, "SKIP %s: ", __func__);                                       \
        fprintf(stderr, __VA_ARGS__);                                                 \
        fputc('\n', stderr);                                                          \
    } while (0)

static inline const char *test_data_dir(void) {
    const char *d = getenv("G4_TEST_DATA");
    return d && *d ? d : "tests/data";
}
static inline const char *test_cache_dir(void) {
    const char *d = getenv("G4_TEST_CACHE");
    return d && *d ? d : ".cache";
}

static inline int test_report(const char *name) {
    printf("%s: %d passed, %d failed", name, test_passed, test_failed);
    if (test_skipped) printf(", %d skipped", test_skipped);
    printf("\n");
    return test_failed ? 1 : 0;
}

/* Reads a whole file (allocates; caller frees) with a NUL byte after the end, so text
 * can be used as a string. NULL if unreadable. */
static inline void *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = 0;
    fclose(f);
    if (buf && len) *len = (size_t)n;
    return buf;
}

static inline int test_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* Lower-case hex of n bytes into out (2n+1 chars). */
static inline void test_hex(const void *p, size_t n, char *out) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

/* SHA-256 of a buffer via coreutils' sha256sum (tests only; the library needs none).
 * out is "" when sha256sum is unavailable. */
static inline void test_sha256(const void *data, size_t n, char out[65]) {
    char path[] = "/tmp/g4-test-sha-XXXXXX";
    int fd = mkstemp(path);
    out[0] = 0;
    if (fd < 0) return;
    FILE *f = fdopen(fd, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "sha256sum %s", path);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (fscanf(p, "%64s", out) != 1) out[0] = 0;
        pclose(p);
    }
    remove(path);
}

#endif
