/* Shared helpers for the unit tests of the protocol layer: pass/fail
 * counters, CHECK macros that print the failing expression and values, and
 * exact-size heap copies so a sanitizer build catches any read past the end
 * of an input.  Each test's main() ends with unit_summary(). */
#ifndef RINGMUX_TEST_UNIT_H
#define RINGMUX_TEST_UNIT_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                                     \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)

/* Unsigned equality with both values in the message. */
#define CHECK_U(got, want, what)                                                                                       \
    do {                                                                                                               \
        uint64_t got_ = (uint64_t)(got), want_ = (uint64_t)(want);                                                     \
        CHECK(got_ == want_, "%s: got %" PRIu64 " (0x%" PRIx64 "), want %" PRIu64 " (0x%" PRIx64 ")", what, got_,      \
              got_, want_, want_);                                                                                     \
    } while (0)

/* Byte-string equality (p may be NULL only when n is 0). */
#define CHECK_MEM(p, plen, want, wlen, what)                                                                           \
    do {                                                                                                               \
        size_t plen_ = (size_t)(plen), wlen_ = (size_t)(wlen);                                                         \
        CHECK(plen_ == wlen_ && (wlen_ == 0 || memcmp((p), (want), wlen_) == 0),                                       \
              "%s: got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"", what, plen_, (int)(plen_ > 80 ? 80 : plen_),      \
              (p) ? (const char *)(p) : "", wlen_, (int)(wlen_ > 80 ? 80 : wlen_), (const char *)(want));              \
    } while (0)

/* A heap copy of exactly n bytes (at least one byte is allocated so the
 * pointer is valid; the copy's end is the end of the allocation). */
static inline uint8_t *unit_dup(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (!c) {
        perror("malloc");
        exit(2);
    }
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Decode a hex string (no separators) into out; returns the byte count. */
static inline size_t unit_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < cap; hex += 2) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* Print the summary line and return main()'s exit status. */
/* Named cases: run all, or those whose name contains argv[1]. */
struct unit_case {
    const char *name;
    void (*fn)(void);
};
static inline void unit_run_cases(int argc, char **argv, const struct unit_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && !strstr(cases[i].name, argv[1]))
            continue;
        int before = failed;
        cases[i].fn();
        printf("%s %s\n", failed == before ? "ok  " : "FAIL", cases[i].name);
    }
}

static inline int unit_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    if (passed == 0 && failed == 0)
        printf("FAIL: no check ran (a name filter that matches nothing?)\n");
    return failed != 0 || passed == 0;
}

#endif
