/* Statement rewrites the proxy needs (include/ringmux/sql.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ringmux/sql.h"

static bool word_in(const struct lex_token *t, const char *const *words)
{
    if (t->type != LEX_WORD)
        return false;
    for (; *words; words++)
        if (lex_is(t, *words))
            return true;
    return false;
}

/* Words that end a select list at the same parenthesis level. */
static const char *const list_end[] = {"FROM",   "INTO",      "WHERE",  "GROUP",     "HAVING", "ORDER",
                                       "LIMIT",  "UNION",     "EXCEPT", "INTERSECT", "WINDOW", "FOR",
                                       "LOCK",   "PROCEDURE", NULL};
/* Words that may stand between SELECT and the first select item. */
static const char *const select_opts[] = {"ALL",           "DISTINCT",         "DISTINCTROW",    "HIGH_PRIORITY",
                                          "STRAIGHT_JOIN", "SQL_SMALL_RESULT", "SQL_BIG_RESULT", "SQL_BUFFER_RESULT",
                                          "SQL_CACHE",     "SQL_NO_CACHE",     "SQL_CALC_FOUND_ROWS", NULL};
/* Words after which a following word is part of the expression, never an
 * alias; and words that are values, never aliases. */
static const char *const operators[] = {"NOT", "IS", "AND", "OR", "XOR", "LIKE", "BETWEEN", "IN", "REGEXP",
                                        "RLIKE", "DIV", "MOD", "AS", "BINARY", "COLLATE", "ESCAPE", "CASE",
                                        "WHEN", "THEN", "ELSE", "INTERVAL", "SOUNDS", NULL};
static const char *const values[] = {"NULL", "TRUE", "FALSE", "UNKNOWN", "END", NULL};

/* One select item being read: where it starts, whether a call in it was
 * replaced, and its last two tokens (to see an alias). */
struct item {
    const char *start;
    bool replaced;
    struct lex_token last, before_last;
};

/* Does the item end with an alias (AS x, or an implicit `expr x`)? */
static bool has_alias(const struct item *it)
{
    const struct lex_token *l = &it->last, *b = &it->before_last;
    if (l->type != LEX_WORD && l->type != LEX_QIDENT && l->type != LEX_STRING)
        return false;
    if (b->type == LEX_WORD && lex_is(b, "AS"))
        return true;
    if (word_in(l, values) || word_in(l, operators))
        return false;
    switch (b->type) {
    case LEX_RPAREN:
    case LEX_NUMBER:
    case LEX_STRING:
    case LEX_QIDENT:
    case LEX_SYS_VAR:
    case LEX_USER_VAR:
    case LEX_PARAM: return true;
    case LEX_WORD: return !word_in(b, operators);
    default: return false;
    }
}

#define MAX_DEPTH 64

struct rewriter {
    const char *sql;
    struct rm_buf *out;
    const char *copied; /* sql up to here is in out already (once n > 0) */
    int n;              /* calls replaced */
    bool oom;
};

/* Copy sql[copied, upto) to out. */
static void copy_to(struct rewriter *rw, const char *upto)
{
    if (!rw->oom && buf_append(rw->out, rw->copied, (size_t)(upto - rw->copied)) < 0)
        rw->oom = true;
    rw->copied = upto;
}

/* An item ends (at `end`, one past its last token): name it as the server
 * would if a call in it was replaced and it has no alias. */
static void end_item(struct rewriter *rw, struct item *it, const char *end)
{
    if (it->start && it->replaced && !has_alias(it) && end > it->start) {
        copy_to(rw, end);
        if (!rw->oom && buf_append(rw->out, " AS `", 5) < 0)
            rw->oom = true;
        for (const char *c = it->start; c < end && !rw->oom; c++)
            if (buf_append(rw->out, *c == '`' ? "``" : c, *c == '`' ? 2 : 1) < 0)
                rw->oom = true;
        if (!rw->oom && buf_append(rw->out, "`", 1) < 0)
            rw->oom = true;
    }
    memset(it, 0, sizeof(*it));
}

int sql_rewrite_connection_id(const char *sql, size_t len, uint32_t id, struct rm_buf *out)
{
    struct rewriter rw = {.sql = sql, .out = out, .copied = sql};
    struct lexer lx;
    struct lex_token t, prev = {.type = LEX_EOF};
    bool in_list[MAX_DEPTH] = {false}; /* per parenthesis level: inside a select list */
    struct item items[MAX_DEPTH];      /* the select item being read, per level */
    memset(items, 0, sizeof(items));
    int depth = 0;
    char num[16];
    int numlen = snprintf(num, sizeof(num), "%u", id);
    const char *prev_end = sql;
    size_t start_len = out->len;
    lex_init(&lx, sql, len);
    for (enum lex_type ty = lex_next(&lx, &t);; ty = lex_next(&lx, &t)) {
        int d = depth < MAX_DEPTH ? depth : MAX_DEPTH - 1;
        struct item *it = &items[d];
        bool ends = ty == LEX_EOF || ty == LEX_SEMI || ty == LEX_RPAREN || word_in(&t, list_end) ||
                    (ty == LEX_COMMA && in_list[d]);
        if (ends && in_list[d])
            end_item(&rw, it, prev_end);
        if (ty == LEX_EOF)
            break;
        if (ty == LEX_COMMA && in_list[d]) {
            it->start = NULL; /* the next token starts the next item */
        } else if (ty == LEX_LPAREN) {
            depth++;
            if (depth < MAX_DEPTH) {
                in_list[depth] = false;
                memset(&items[depth], 0, sizeof(items[depth]));
            }
        } else if (ty == LEX_RPAREN) {
            if (depth > 0)
                depth--;
        } else if (ty == LEX_SEMI) {
            depth = 0;
            in_list[0] = false;
        } else if (ty == LEX_WORD && lex_is(&t, "SELECT")) {
            in_list[d] = true;
            memset(it, 0, sizeof(*it));
        } else if (word_in(&t, list_end)) {
            in_list[d] = false;
        }
        /* Track the item of the level this token belongs to. */
        int td = ty == LEX_LPAREN ? d : (depth < MAX_DEPTH ? depth : MAX_DEPTH - 1);
        bool opt = ty == LEX_WORD && (lex_is(&t, "SELECT") || (word_in(&t, select_opts) && !items[td].start));
        if (in_list[td] && ty != LEX_COMMA && ty != LEX_RPAREN && !opt && !word_in(&t, list_end)) {
            if (!items[td].start)
                items[td].start = t.p;
            items[td].before_last = items[td].last;
            items[td].last = t;
        }
        if (ty == LEX_RPAREN && in_list[td] && items[td].start) { /* a call's ')' inside an item of this level */
            items[td].before_last = items[td].last;
            items[td].last = t;
        }
        /* `CONNECTION_ID`() calls the same native function. */
        bool call = (ty == LEX_WORD && lex_is(&t, "CONNECTION_ID")) ||
                    (ty == LEX_QIDENT && t.len == 15 && strncasecmp(t.p + 1, "CONNECTION_ID", 13) == 0);
        if (call) {
            struct lexer save = lx;
            struct lex_token lp, rp;
            if (lex_next(&lx, &lp) == LEX_LPAREN && lex_next(&lx, &rp) == LEX_RPAREN) {
                copy_to(&rw, t.p);
                if (!rw.oom && buf_append(out, num, (size_t)numlen) < 0)
                    rw.oom = true;
                rw.copied = rp.p + rp.len;
                rw.n++;
                /* every enclosing select item of this level and above is named by its text */
                for (int k = 0; k <= (depth < MAX_DEPTH ? depth : MAX_DEPTH - 1); k++)
                    if (in_list[k] && items[k].start)
                        items[k].replaced = true;
                items[td].before_last = lp;
                items[td].last = rp;
                t = rp;
            } else {
                lx = save;
            }
        }
        prev = t;
        prev_end = t.p + t.len;
    }
    (void)prev;
    if (rw.oom) {
        out->len = start_len;
        return -1;
    }
    if (rw.n == 0)
        return 0;
    copy_to(&rw, sql + len);
    return rw.oom ? -1 : rw.n;
}
