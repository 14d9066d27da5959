/* Statement digests for logs (include/ringmux/sql.h): the statement's
 * tokens with every literal replaced by ?, so a slow-query line shows the
 * shape of the statement and never a value. */
#include <stdio.h>
#include <string.h>

#include "ringmux/sql.h"

/* Append len bytes of s to out (room bytes, *n used); false once full. */
static bool put(char *out, size_t room, size_t *n, const char *s, size_t len)
{
    if (*n + len + 4 >= room) { /* keep room for "..." and the NUL */
        size_t k = room > *n + 4 ? room - *n - 4 : 0;
        memcpy(out + *n, s, k);
        *n += k;
        memcpy(out + *n, "...", 3);
        *n += 3;
        return false;
    }
    memcpy(out + *n, s, len);
    *n += len;
    return true;
}

size_t sql_digest(const char *sql, size_t len, char *out, size_t room)
{
    size_t n = 0;
    if (room < 8) {
        if (room)
            out[0] = '\0';
        return 0;
    }
    struct lexer lx;
    struct lex_token t;
    lex_init(&lx, sql, len);
    enum lex_type prev = LEX_EOF;
    const char *prev_end = sql;
    bool prev_q = false; /* the last token written was a ? of a literal */
    while (lex_next(&lx, &t) != LEX_EOF) {
        bool literal = t.type == LEX_STRING || t.type == LEX_NUMBER;
        const char *s = literal ? "?" : t.p;
        size_t l = literal ? 1 : t.len;
        /* a run "?, ?, ?" of literals collapses to "?, ..." */
        if (literal && prev_q && prev == LEX_COMMA && n >= 1 && out[n - 1] == ',') {
            n--; /* the comma just written */
            if (!(n >= 5 && memcmp(out + n - 5, ", ...", 5) == 0) && !put(out, room, &n, ", ...", 5))
                break;
            prev = LEX_OP;
            prev_end = t.p + t.len;
            continue;
        }
        /* one space where the statement had any (whitespace, a comment) */
        bool space = n > 0 && t.p > prev_end;
        if (space && !put(out, room, &n, " ", 1))
            break;
        if (!put(out, room, &n, s, l))
            break;
        if (t.type != LEX_COMMA || !prev_q)
            prev_q = literal;
        prev = t.type;
        prev_end = t.p + t.len;
    }
    out[n] = '\0';
    return n;
}
