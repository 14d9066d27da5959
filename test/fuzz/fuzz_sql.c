/* libFuzzer target for the SQL lexer and classifier: arbitrary bytes are a
 * COM_QUERY text from an untrusted client.  Besides the sanitizers' checks
 * it asserts the lexer's contract (tokens in order, inside the input, never
 * empty before EOF, EOF sticky) and the classifier's invariants.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude src/sql/lexer.c \
 *       src/sql/classify.c src/vars.c test/fuzz/fuzz_sql.c -o /tmp/fuzz_sql
 *   /tmp/fuzz_sql -max_total_time=60 */
#include "ringmux/sql.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* Lex the whole input, checking every token; returns the number of ';'. */
static size_t fuzz_lex(const char *s, size_t size)
{
    const char *end = s + size, *prev = s;
    struct lexer lx;
    struct lex_token t;
    size_t semis = 0;

    lex_init(&lx, s, size);
    while (lex_next(&lx, &t) != LEX_EOF) {
        FUZZ_ASSERT(t.len > 0 && t.p >= prev && t.p + t.len <= end);
        if (t.type == LEX_SEMI)
            semis++;
        lex_is(&t, "SELECT");
        prev = t.p + t.len;
    }
    FUZZ_ASSERT(t.len == 0 && t.p == end);
    FUZZ_ASSERT(lex_next(&lx, &t) == LEX_EOF && t.len == 0);
    return semis;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: libFuzzer's buffer may have slack after it */
    char *s = malloc(size ? size : 1);
    struct cls_result r;

    memcpy(s, data, size);
    const size_t semis = fuzz_lex(s, size);
    cls_classify(s, size, &r);
    free(s);

    FUZZ_ASSERT((r.n_stmts == 0) == ((r.flags & CLS_EMPTY) != 0));
    FUZZ_ASSERT((r.n_stmts > 1) == ((r.flags & CLS_MULTI) != 0));
    FUZZ_ASSERT(r.n_stmts <= semis + 1);
    FUZZ_ASSERT((unsigned)r.pin < PIN__COUNT);
    FUZZ_ASSERT(strcmp(cls_pin_str(r.pin), "unknown") != 0);
    if (r.flags & CLS_EMPTY)
        FUZZ_ASSERT(r.flags == CLS_EMPTY && r.pin == PIN_NONE);
    return 0;
}
