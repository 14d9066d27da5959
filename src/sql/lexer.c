/* SQL lexer (see include/ringmux/sql.h).
 *
 * It runs on every COM_QUERY, so it works in place on the caller's bytes:
 * one pass, no allocation, no copying, one table lookup per byte in the
 * loops, and never a byte outside [sql, sql+len).  Every token but LEX_EOF
 * is at least one byte long, so a caller looping on lex_next() always ends.
 *
 * It follows the server's lexer (sql_lex.cc) where that decides statement
 * boundaries or what is a keyword: comments, executable comments, quoting.
 * Known differences, harmless for classification: backslash escapes are
 * always honoured (NO_BACKSLASH_ESCAPES is not known here), a '.' is always
 * an operator (".5" is '.' then 5), and the version of an executable
 * comment is ignored (its contents are always lexed as code). */
#include "ringmux/sql.h"

#include <string.h>

/* Character classes. */
enum {
    LC_SPACE = 1 << 0, /* whitespace between tokens */
    LC_IDENT = 1 << 1, /* part of an unquoted identifier: A-Z a-z 0-9 _ $ and non-ASCII */
    LC_DIGIT = 1 << 2, /* 0-9 */
    LC_HEX = 1 << 3,   /* 0-9 A-F a-f */
    LC_SKIP = 1 << 4,  /* may start a comment or close an executable one: # - / * */
};

static const uint8_t lex_class[256] = {
    ['\t'] = LC_SPACE,
    ['\n'] = LC_SPACE,
    ['\v'] = LC_SPACE,
    ['\f'] = LC_SPACE,
    ['\r'] = LC_SPACE,
    [' '] = LC_SPACE,
    ['#'] = LC_SKIP,
    ['$'] = LC_IDENT,
    ['*'] = LC_SKIP,
    ['-'] = LC_SKIP,
    ['/'] = LC_SKIP,
    ['0' ... '9'] = LC_IDENT | LC_DIGIT | LC_HEX,
    ['A' ... 'F'] = LC_IDENT | LC_HEX,
    ['G' ... 'Z'] = LC_IDENT,
    ['_'] = LC_IDENT,
    ['a' ... 'f'] = LC_IDENT | LC_HEX,
    ['g' ... 'z'] = LC_IDENT,
    [0x80 ... 0xff] = LC_IDENT,
};

/* Operators longer than one byte, longest first where one prefixes another. */
static const char *const lex_long_ops[] = {
    "<=>", "->>", ":=", "<=", ">=", "<>", "!=", "<<", ">>", "||", "&&", "->",
};

static inline bool lex_isa(const char *p, unsigned cls)
{
    return lex_class[(unsigned char)*p] & cls;
}

/* First byte at or after p that is not of class cls (or end). */
static const char *lex_span(const char *p, const char *end, unsigned cls)
{
    while (p < end && lex_isa(p, cls))
        p++;
    return p;
}

/* Past the end of a quoted run whose opening quote is at p: the closing
 * quote, doubled, stands for itself; with bs a backslash escapes the next
 * byte.  Unterminated: end. */
static const char *lex_quoted(const char *p, const char *end, bool bs)
{
    const char q = *p++;

    while (p < end) {
        const char c = *p++;
        if (c == '\\' && bs) {
            if (p < end)
                p++;
        } else if (c == q) {
            if (p == end || *p != q)
                return p;
            p++;
        }
    }
    return end;
}

/* p at slash-star: a plain comment is skipped whole (to end when
 * unterminated); an executable one (slash-star-bang or MariaDB's
 * slash-star-M-bang) only loses its opening mark and version digits, and
 * its contents are lexed as code until lex_skip() drops its closing mark. */
static const char *lex_comment(struct lexer *lx, const char *p)
{
    const char *end = lx->end, *q = p + 2;

    if (q < end && *q == '!')
        q += 1;
    else if (end - q >= 2 && q[0] == 'M' && q[1] == '!')
        q += 2;
    else {
        while ((q = memchr(q, '*', (size_t)(end - q))) != NULL) {
            if (++q < end && *q == '/')
                return q + 1;
        }
        return end;
    }
    for (int i = 0; i < 6 && q < end && lex_isa(q, LC_DIGIT); i++)
        q++;
    lx->in_exec_comment = 1;
    return q;
}

/* Skip whitespace and comments; returns where the next token starts. */
static const char *lex_skip(struct lexer *lx)
{
    const char *p = lx->p, *end = lx->end;

    while (p < end) {
        const size_t left = (size_t)(end - p);
        const char c = *p;
        if (lex_isa(p, LC_SPACE)) {
            p++;
        } else if (!lex_isa(p, LC_SKIP)) {
            break; /* the common case: a token starts here */
        } else if (c == '#' || (c == '-' && left >= 2 && p[1] == '-' && (left == 2 || (unsigned char)p[2] <= ' '))) {
            /* "--" is a comment only before a blank or control character:
             * "1--1" is 1 minus minus 1 */
            const char *nl = memchr(p, '\n', left);
            p = nl ? nl + 1 : end;
        } else if (c == '/' && left >= 2 && p[1] == '*') {
            p = lex_comment(lx, p);
        } else if (c == '*' && left >= 2 && p[1] == '/' && lx->in_exec_comment) {
            lx->in_exec_comment = 0;
            p += 2;
        } else {
            break;
        }
    }
    return p;
}

/* @name, @'name' (any quote), or @@[scope.]name[.name]; a lone '@' is an
 * operator (user@host in GRANT is a word then a user variable). */
static const char *lex_variable(const char *p, const char *end, enum lex_type *type)
{
    const char *q = p + 1;

    if (q < end && *q == '@') {
        *type = LEX_SYS_VAR;
        q = lex_span(q + 1, end, LC_IDENT);
        while (end - q >= 2 && *q == '.' && lex_isa(q + 1, LC_IDENT))
            q = lex_span(q + 1, end, LC_IDENT);
        return q;
    }
    if (q < end && (*q == '\'' || *q == '"' || *q == '`')) {
        *type = LEX_USER_VAR;
        return lex_quoted(q, end, *q != '`');
    }
    while (q < end && (lex_isa(q, LC_IDENT) || *q == '.'))
        q++;
    *type = q == p + 1 ? LEX_OP : LEX_USER_VAR;
    return q;
}

/* A number: 0x1F, 0b101, 12, 1.5, 1.5e-3.  An integer running straight
 * into identifier bytes is an identifier, as in the server (1abc, 0x1g). */
static const char *lex_number(const char *p, const char *end, enum lex_type *type)
{
    const char *q = p + 1;

    *type = LEX_NUMBER;
    if (p[0] == '0' && end - p >= 3 && (p[1] | 0x20) == 'x' && lex_isa(p + 2, LC_HEX)) {
        q = lex_span(p + 2, end, LC_HEX);
    } else if (p[0] == '0' && end - p >= 3 && (p[1] | 0x20) == 'b' && (p[2] == '0' || p[2] == '1')) {
        for (q = p + 2; q < end && (*q == '0' || *q == '1');)
            q++;
    } else {
        bool real = false;
        q = lex_span(q, end, LC_DIGIT);
        if (q < end && *q == '.') {
            real = true;
            q = lex_span(q + 1, end, LC_DIGIT);
        }
        if (q < end && (*q | 0x20) == 'e') {
            const char *e = q + 1;
            if (e < end && (*e == '+' || *e == '-'))
                e++;
            if (e < end && lex_isa(e, LC_DIGIT)) {
                real = true;
                q = lex_span(e, end, LC_DIGIT);
            }
        }
        if (real)
            return q;
    }
    if (q < end && lex_isa(q, LC_IDENT)) {
        *type = LEX_WORD;
        q = lex_span(q, end, LC_IDENT);
    }
    return q;
}

/* One operator or punctuation byte, or one of lex_long_ops. */
static const char *lex_operator(const char *p, const char *end)
{
    switch (end - p < 2 ? 0 : *p) {
    case '<':
    case '>':
    case ':':
    case '!':
    case '|':
    case '&':
    case '-': break;
    default: return p + 1;
    }
    for (size_t i = 0; i < sizeof(lex_long_ops) / sizeof(lex_long_ops[0]); i++) {
        const size_t n = strlen(lex_long_ops[i]);
        if ((size_t)(end - p) >= n && memcmp(p, lex_long_ops[i], n) == 0)
            return p + n;
    }
    return p + 1;
}

void lex_init(struct lexer *lx, const char *sql, size_t len)
{
    if (sql == NULL) { /* NULL + 0 is undefined; an empty text is the same */
        sql = "";
        len = 0;
    }
    lx->p = sql;
    lx->end = sql + len;
    lx->in_exec_comment = 0;
}

enum lex_type lex_next(struct lexer *lx, struct lex_token *t)
{
    const char *p = lex_skip(lx), *end = lx->end, *q = p;
    enum lex_type type = LEX_EOF;

    if (p < end) {
        q = p + 1;
        switch (*p) {
        case '\'':
        case '"':
            type = LEX_STRING;
            q = lex_quoted(p, end, true);
            break;
        case '`':
            type = LEX_QIDENT;
            q = lex_quoted(p, end, false);
            break;
        case '@': q = lex_variable(p, end, &type); break;
        case ';': type = LEX_SEMI; break;
        case '(': type = LEX_LPAREN; break;
        case ')': type = LEX_RPAREN; break;
        case ',': type = LEX_COMMA; break;
        case '?': type = LEX_PARAM; break;
        default:
            if (lex_isa(p, LC_DIGIT)) {
                q = lex_number(p, end, &type);
            } else if (q < end && *q == '\'' && memchr("xXbBnN", *p, 6)) {
                type = LEX_STRING; /* X'4D', B'101', N'national' */
                q = lex_quoted(q, end, true);
            } else if (lex_isa(p, LC_IDENT)) {
                type = LEX_WORD;
                q = lex_span(q, end, LC_IDENT);
            } else {
                type = LEX_OP;
                q = lex_operator(p, end);
            }
        }
    }
    /* a single token over 4 GiB cannot arrive: max_allowed_packet is 1 GiB */
    t->type = type;
    t->p = p;
    t->len = (uint32_t)(q - p);
    lx->p = q;
    return type;
}

bool lex_is(const struct lex_token *t, const char *kw)
{
    if (t->type != LEX_WORD)
        return false;
    /* word bytes are never NUL, so a shorter kw stops the loop at its end */
    for (uint32_t i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)t->p[i];
        if (c >= 'a' && c <= 'z')
            c -= 'a' - 'A';
        if (c != (unsigned char)kw[i])
            return false;
    }
    return kw[t->len] == '\0';
}
