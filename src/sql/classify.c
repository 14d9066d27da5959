/* Statement classifier (see include/ringmux/sql.h).
 *
 * A small keyword-driven reader over lexer tokens with one token of
 * lookahead.  cls_classify() cuts the text at ';' and hands each statement
 * to cls_dispatch(), which looks its first keyword up in cls_stmts[]: the
 * row gives the facts every such statement has, and an optional reader
 * looks further into the head (SET, CREATE, LOAD, ...).  Whatever the
 * reader leaves is scanned by cls_check() for what matters anywhere in a
 * statement: GET_LOCK(), @x :=, INTO @x, LAST_INSERT_ID(), FOR UPDATE.
 * Every token is lexed once; nothing is allocated or copied.
 *
 * Unknown statements are writes without a pin.  When in doubt the reader
 * errs towards pinning and writing: a needless pin costs multiplexing, a
 * missed one sends a session's state to the wrong backend connection. */
#include "ringmux/sql.h"

#include "ringmux/vars.h"

#include <string.h>

#define CLS_MAX_NEST 8 /* statements inside statements: SET STATEMENT ... FOR, ANALYZE, blocks */

struct cls_parser {
    struct lexer lx;      /* token source, just past nxt */
    struct lex_token tok; /* current token */
    struct lex_token nxt; /* the token after it */
    unsigned paren;       /* '(' still open before tok, counted from the statement start */
    unsigned nest;        /* readers running, bounded by CLS_MAX_NEST */
    uint32_t flags;       /* CLS_* facts found so far */
    enum cls_pin pin;     /* first pin reason found, PIN_NONE so far */
};

/* Which connections a SET target or scope keyword reaches. */
enum cls_scope {
    SCOPE_NONE,    /* no scope given */
    SCOPE_SESSION, /* SESSION, LOCAL */
    SCOPE_GLOBAL,  /* GLOBAL, PERSIST, PERSIST_ONLY: not this session's state */
};

/* ---- token helpers ---------------------------------------------------- */

/* Move to the next token, crossing statement ends (only the statement
 * splitter and the block walker do that). */
static void cls_step(struct cls_parser *ps)
{
    if (ps->tok.type == LEX_LPAREN)
        ps->paren++;
    else if (ps->tok.type == LEX_RPAREN && ps->paren > 0)
        ps->paren--;
    else if (ps->tok.type == LEX_SEMI)
        ps->paren = 0;
    ps->tok = ps->nxt;
    lex_next(&ps->lx, &ps->nxt);
}

/* tok ends the statement: ';' or the end of the text. */
static bool cls_at_end(const struct cls_parser *ps)
{
    return ps->tok.type == LEX_SEMI || ps->tok.type == LEX_EOF;
}

/* Move to the next token, but never past the end of the statement: a
 * reader cannot swallow the next statement whatever the input. */
static void cls_advance(struct cls_parser *ps)
{
    if (!cls_at_end(ps))
        cls_step(ps);
}

/* If tok is keyword kw, move past it and return true. */
static bool cls_accept(struct cls_parser *ps, const char *kw)
{
    if (!lex_is(&ps->tok, kw))
        return false;
    cls_advance(ps);
    return true;
}

/* If tok is ',', move past it and return true. */
static bool cls_accept_comma(struct cls_parser *ps)
{
    if (ps->tok.type != LEX_COMMA)
        return false;
    cls_advance(ps);
    return true;
}

/* t is the operator op (":=", "=", ...). */
static bool cls_is_op(const struct lex_token *t, const char *op)
{
    const size_t n = strlen(op);
    return t->type == LEX_OP && t->len == n && memcmp(t->p, op, n) == 0;
}

/* "label:" opening a block. */
static bool cls_at_label(const struct cls_parser *ps)
{
    return (ps->tok.type == LEX_WORD || ps->tok.type == LEX_QIDENT) && cls_is_op(&ps->nxt, ":");
}

/* Record a pin reason unless an earlier one is already recorded. */
static void cls_pin(struct cls_parser *ps, enum cls_pin reason)
{
    if (ps->pin == PIN_NONE)
        ps->pin = reason;
}

/* The scope a word names (SESSION, GLOBAL, ...), SCOPE_NONE if none. */
static enum cls_scope cls_scope_of(const struct lex_token *w)
{
    static const struct {
        const char *kw;       /* scope keyword, also the @@kw. prefix */
        enum cls_scope scope; /* what it means */
    } scopes[] = {
        {"SESSION", SCOPE_SESSION}, {"LOCAL", SCOPE_SESSION},       {"GLOBAL", SCOPE_GLOBAL},
        {"PERSIST", SCOPE_GLOBAL},  {"PERSIST_ONLY", SCOPE_GLOBAL},
    };
    for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++)
        if (lex_is(w, scopes[i].kw))
            return scopes[i].scope;
    return SCOPE_NONE;
}

/* Split a LEX_SYS_VAR token @@[scope.]name: *name becomes a LEX_WORD view
 * of the bare name; returns the scope written, SCOPE_NONE if none. */
static enum cls_scope cls_sysvar_split(const struct lex_token *t, struct lex_token *name)
{
    const char *p = t->p + 2, *end = t->p + t->len;
    const char *dot = memchr(p, '.', (size_t)(end - p));

    *name = (struct lex_token){LEX_WORD, p, (uint32_t)(end - p)};
    if (dot != NULL) {
        const struct lex_token prefix = {LEX_WORD, p, (uint32_t)(dot - p)};
        const enum cls_scope scope = cls_scope_of(&prefix);
        if (scope != SCOPE_NONE) {
            *name = (struct lex_token){LEX_WORD, dot + 1, (uint32_t)(end - dot - 1)};
            return scope;
        }
    }
    return SCOPE_NONE;
}

/* A LEX_WORD view of the text inside a `quoted identifier`, or an empty
 * view when it is unterminated or holds a doubled backtick or a NUL byte:
 * such a name never matches a keyword or a variable (and var_index() must
 * not see a NUL). */
static struct lex_token cls_unquote(const struct lex_token *t)
{
    struct lex_token name = {LEX_WORD, t->p + 1, 0};

    if (t->len >= 2 && t->p[t->len - 1] == '`') {
        name.len = t->len - 2;
        if (memchr(name.p, '`', name.len) != NULL || memchr(name.p, '\0', name.len) != NULL)
            name.len = 0;
    }
    return name;
}

/* ---- what matters anywhere -------------------------------------------- */

/* A function call, name '(' with tok on the name.  A backticked name
 * calls the same native function in the server, so it counts too. */
static void cls_check_call(struct cls_parser *ps, const struct lex_token *name)
{
    if (lex_is(name, "GET_LOCK")) {
        cls_pin(ps, PIN_GET_LOCK);
    } else if (lex_is(name, "ROW_COUNT")) {
        ps->flags |= CLS_ROW_COUNT;
    } else if (lex_is(name, "FOUND_ROWS")) {
        ps->flags |= CLS_FOUND_ROWS;
    } else if (lex_is(name, "CONNECTION_ID")) {
        ps->flags |= CLS_CONNECTION_ID;
    } else if (lex_is(name, "LAST_INSERT_ID")) {
        /* LAST_INSERT_ID() reads it; LAST_INSERT_ID(expr) also sets it */
        cls_advance(ps);
        if (ps->nxt.type == LEX_RPAREN)
            ps->flags |= CLS_LAST_INSERT_ID;
        else
            cls_pin(ps, PIN_LAST_INSERT_ID_EXPR);
    }
}

/* Look at tok (and nxt) for the constructs that matter wherever they
 * appear.  May move onto the next token, never past the statement. */
static void cls_check(struct cls_parser *ps)
{
    const struct lex_token *t = &ps->tok, *n = &ps->nxt;
    struct lex_token name;

    switch (t->type) {
    case LEX_USER_VAR:
        if (cls_is_op(n, ":="))
            cls_pin(ps, PIN_USER_VAR);
        break;
    case LEX_SYS_VAR:
        cls_sysvar_split(t, &name);
        if (lex_is(&name, "LAST_INSERT_ID") || lex_is(&name, "IDENTITY"))
            ps->flags |= CLS_LAST_INSERT_ID;
        else if (lex_is(&name, "WARNING_COUNT") || lex_is(&name, "ERROR_COUNT"))
            ps->flags |= CLS_DIAGNOSTICS;
        break;
    case LEX_QIDENT:
        if (n->type == LEX_LPAREN) {
            name = cls_unquote(t);
            cls_check_call(ps, &name);
        }
        break;
    case LEX_WORD:
        /* most words are none of these: the length rules them out cheaply */
        if (n->type == LEX_LPAREN) {
            if (t->len >= 8 && t->len <= 14)
                cls_check_call(ps, t);
        } else if (t->len == 19) {
            if (lex_is(t, "SQL_CALC_FOUND_ROWS"))
                cls_pin(ps, PIN_CALC_FOUND_ROWS);
        } else if (t->len == 4 && n->type == LEX_USER_VAR) {
            if (lex_is(t, "INTO"))
                cls_pin(ps, PIN_USER_VAR);
        } else if ((t->len == 3 || t->len == 4) && n->type == LEX_WORD) {
            if ((lex_is(t, "FOR") && (lex_is(n, "UPDATE") || lex_is(n, "SHARE"))) ||
                (lex_is(t, "LOCK") && lex_is(n, "IN")))
                ps->flags |= CLS_WRITE; /* locking read: FOR UPDATE, LOCK IN SHARE MODE */
        }
        break;
    default: break;
    }
}

/* Move on to keyword kw outside parentheses, or to the end of the
 * statement when kw is NULL or absent; with check, cls_check() every token
 * passed.  Returns true when tok is kw. */
static bool cls_skip_to(struct cls_parser *ps, const char *kw, bool check)
{
    while (!cls_at_end(ps)) {
        if (kw != NULL && ps->paren == 0 && lex_is(&ps->tok, kw))
            return true;
        if (check)
            cls_check(ps);
        cls_advance(ps);
    }
    return false;
}

/* Check every token up to the end of the statement. */
static void cls_scan_rest(struct cls_parser *ps)
{
    cls_skip_to(ps, NULL, true);
}

/* ---- statements ------------------------------------------------------- */

static void cls_dispatch(struct cls_parser *ps);

/* One whole statement, tok on its first token, up to its ';' or the end. */
static void cls_statement(struct cls_parser *ps)
{
    cls_dispatch(ps);
    cls_scan_rest(ps);
}

/* Blocks: the opening keyword, the keyword ending its head, and whether
 * that keyword belongs to the head (CASE's head stops before WHEN). */
static const struct cls_block {
    const char *kw;       /* opening keyword, also the word after END */
    const char *head_end; /* THEN, DO, WHEN; NULL: no head */
    bool eat;             /* head_end is part of the head */
} cls_blocks[] = {
    {"BEGIN", NULL, false}, /* first: cls_block() looks for NOT ATOMIC after it */
    {"IF", "THEN", true},   {"WHILE", "DO", true},   {"FOR", "DO", true},
    {"LOOP", NULL, false},  {"REPEAT", NULL, false}, {"CASE", "WHEN", false},
};

/* The block opened by keyword t, NULL if t opens none. */
static const struct cls_block *cls_block_kw(const struct lex_token *t)
{
    for (size_t i = 0; i < sizeof(cls_blocks) / sizeof(cls_blocks[0]); i++)
        if (lex_is(t, cls_blocks[i].kw))
            return &cls_blocks[i];
    return NULL;
}

/* The head of a condition-bearing clause (IF c THEN, WHEN c THEN, WHILE c
 * DO): skip to head_end, and past it when eat. */
static void cls_skip_head(struct cls_parser *ps, const char *head_end, bool eat, bool exec)
{
    if (cls_skip_to(ps, head_end, exec) && eat)
        cls_advance(ps);
}

/* DECLARE in a block.  Variables, conditions and cursors are one statement;
 * a HANDLER's condition list is followed by the statement it runs, left
 * for the block walker (it is often BEGIN ... END). */
static void cls_declare(struct cls_parser *ps, bool exec)
{
    if (!cls_skip_to(ps, "HANDLER", exec))
        return;
    cls_advance(ps);
    cls_accept(ps, "FOR");
    do {
        if (cls_accept(ps, "SQLSTATE"))
            cls_accept(ps, "VALUE");
        else
            cls_accept(ps, "NOT"); /* NOT FOUND */
        cls_advance(ps);
    } while (cls_accept_comma(ps));
}

/* Walk a compound statement from its first token to its matching END.
 * Inner statements end at ';'.  With exec (a MariaDB anonymous block runs
 * at once) each is classified like a top-level statement; a stored
 * routine's body only runs when called, so without exec they are skipped.
 * Only statement starts are looked at, which is where block keywords live:
 * CASE ... END expressions and IF() calls sit inside statements and never
 * reach this loop.  Returns false when the text ended inside a block. */
static bool cls_block(struct cls_parser *ps, bool exec)
{
    int depth = 0;

    for (;;) {
        const struct cls_block *b;

        if (ps->tok.type == LEX_EOF)
            return depth <= 0;
        if (ps->tok.type == LEX_SEMI) {
            if (depth <= 0)
                return true;
            cls_step(ps);
        } else if (cls_at_label(ps)) {
            cls_advance(ps);
            cls_advance(ps);
        } else if ((b = cls_block_kw(&ps->tok)) != NULL) {
            depth++;
            cls_advance(ps);
            if (b->head_end != NULL)
                cls_skip_head(ps, b->head_end, b->eat, exec);
            else if (b == &cls_blocks[0] && cls_accept(ps, "NOT")) /* BEGIN NOT ATOMIC */
                cls_accept(ps, "ATOMIC");
        } else if (cls_accept(ps, "END")) {
            if (cls_block_kw(&ps->tok) != NULL) /* END IF, END LOOP, ... */
                cls_advance(ps);
            if (ps->tok.type == LEX_WORD || ps->tok.type == LEX_QIDENT) /* END label */
                cls_advance(ps);
            if (--depth <= 0)
                return true;
        } else if (cls_accept(ps, "ELSEIF") || cls_accept(ps, "WHEN")) {
            cls_skip_head(ps, "THEN", true, exec);
        } else if (cls_accept(ps, "ELSE")) {
            /* the statement after it comes next */
        } else if (lex_is(&ps->tok, "UNTIL")) {
            cls_skip_to(ps, "END", exec); /* UNTIL c END REPEAT */
        } else if (lex_is(&ps->tok, "DECLARE")) {
            cls_declare(ps, exec);
        } else {
            if (exec)
                cls_statement(ps);
            else
                cls_skip_to(ps, NULL, false);
            if (depth <= 0)
                return true;
        }
    }
}

/* A block run at once: MariaDB's BEGIN NOT ATOMIC, or IF, CASE, LOOP,
 * WHILE, REPEAT, FOR outside a stored program, maybe labelled. */
static void cls_stmt_block(struct cls_parser *ps)
{
    ps->flags |= CLS_WRITE;
    cls_block(ps, true);
}

/* BEGIN [WORK] starts a transaction; BEGIN NOT ATOMIC is a block. */
static void cls_stmt_begin(struct cls_parser *ps)
{
    if (lex_is(&ps->nxt, "NOT"))
        cls_stmt_block(ps);
    else
        ps->flags |= CLS_TXN_BEGIN;
}

/* START TRANSACTION ...; anything else started (SLAVE, REPLICA) writes. */
static void cls_stmt_start(struct cls_parser *ps)
{
    cls_advance(ps);
    ps->flags |= lex_is(&ps->tok, "TRANSACTION") ? CLS_TXN_BEGIN : CLS_WRITE;
}

/* ROLLBACK [WORK] ends the transaction; ROLLBACK [WORK] TO [SAVEPOINT] x does not. */
static void cls_stmt_rollback(struct cls_parser *ps)
{
    cls_advance(ps);
    cls_accept(ps, "WORK");
    if (!lex_is(&ps->tok, "TO"))
        ps->flags |= CLS_TXN_END;
}

/* XA START / XA BEGIN open a (pinned) transaction. */
static void cls_stmt_xa(struct cls_parser *ps)
{
    cls_advance(ps);
    if (lex_is(&ps->tok, "START") || lex_is(&ps->tok, "BEGIN"))
        ps->flags |= CLS_TXN_BEGIN;
}

/* SHOW WARNINGS / ERRORS and SHOW COUNT(*) WARNINGS / ERRORS read the
 * diagnostics area of the previous statement. */
static void cls_stmt_show(struct cls_parser *ps)
{
    cls_advance(ps);
    if (lex_is(&ps->tok, "COUNT") && ps->nxt.type == LEX_LPAREN) {
        while (!cls_at_end(ps) && ps->tok.type != LEX_RPAREN)
            cls_advance(ps);
        cls_advance(ps);
    }
    if (lex_is(&ps->tok, "WARNINGS") || lex_is(&ps->tok, "ERRORS"))
        ps->flags |= CLS_DIAGNOSTICS;
}

/* GET [CURRENT | STACKED] DIAGNOSTICS; its targets may be user variables
 * (GET DIAGNOSTICS @n = NUMBER), which it assigns. */
static void cls_stmt_get(struct cls_parser *ps)
{
    cls_advance(ps);
    if (!cls_accept(ps, "CURRENT"))
        cls_accept(ps, "STACKED");
    if (!lex_is(&ps->tok, "DIAGNOSTICS")) {
        ps->flags |= CLS_WRITE;
        return;
    }
    ps->flags |= CLS_DIAGNOSTICS;
    for (; !cls_at_end(ps); cls_advance(ps)) {
        if (ps->tok.type == LEX_USER_VAR && cls_is_op(&ps->nxt, "="))
            cls_pin(ps, PIN_USER_VAR);
        cls_check(ps);
    }
}

/* WITH ... SELECT reads; WITH ... UPDATE / DELETE (MySQL 8) writes. */
static void cls_stmt_with(struct cls_parser *ps)
{
    for (cls_advance(ps); !cls_at_end(ps); cls_advance(ps)) {
        if (ps->paren == 0 && (lex_is(&ps->tok, "UPDATE") || lex_is(&ps->tok, "DELETE") || lex_is(&ps->tok, "INSERT") ||
                               lex_is(&ps->tok, "REPLACE")))
            ps->flags |= CLS_WRITE;
        cls_check(ps);
    }
}

/* MariaDB ANALYZE [FORMAT=...] stmt and MySQL EXPLAIN ANALYZE stmt run the
 * statement, so it is classified; ANALYZE TABLE is a write. */
static void cls_stmt_analyze(struct cls_parser *ps)
{
    cls_advance(ps);
    if (lex_is(&ps->tok, "TABLE") || lex_is(&ps->tok, "NO_WRITE_TO_BINLOG") || lex_is(&ps->tok, "LOCAL")) {
        ps->flags |= CLS_WRITE;
        return;
    }
    if (cls_accept(ps, "FORMAT")) { /* FORMAT = JSON */
        cls_advance(ps);
        cls_advance(ps);
    }
    cls_dispatch(ps);
}

/* EXPLAIN / DESCRIBE only plan a statement, unless it is EXPLAIN ANALYZE. */
static void cls_stmt_explain(struct cls_parser *ps)
{
    cls_advance(ps);
    if (lex_is(&ps->tok, "ANALYZE"))
        cls_stmt_analyze(ps);
}

/* Skip one option of a CREATE / ALTER head (OR REPLACE, DEFINER = u@h,
 * ALGORITHM = x, SQL SECURITY x, AGGREGATE, TEMPORARY); false when tok is
 * none.  TEMPORARY (table or MariaDB sequence) pins. */
static bool cls_skip_ddl_option(struct cls_parser *ps)
{
    if (cls_accept(ps, "TEMPORARY")) {
        cls_pin(ps, PIN_TEMP_TABLE);
        return true;
    }
    if (cls_accept(ps, "OR") || cls_accept(ps, "REPLACE") || cls_accept(ps, "AGGREGATE"))
        return true;
    if (lex_is(&ps->tok, "SQL") && lex_is(&ps->nxt, "SECURITY")) {
        cls_advance(ps);
        cls_advance(ps);
        cls_advance(ps);
        return true;
    }
    if ((lex_is(&ps->tok, "DEFINER") || lex_is(&ps->tok, "ALGORITHM")) && cls_is_op(&ps->nxt, "=")) {
        cls_advance(ps);
        cls_advance(ps);
        cls_advance(ps);                  /* value, or user of user@host */
        if (ps->tok.type == LEX_USER_VAR) /* @host */
            cls_advance(ps);
        else if (ps->tok.type == LEX_LPAREN && ps->nxt.type == LEX_RPAREN) { /* CURRENT_USER() */
            cls_advance(ps);
            cls_advance(ps);
        }
        return true;
    }
    return false;
}

/* The body of a stored routine, trigger or event, tok just after the
 * object keyword.  It runs later, not now, so nothing in it counts; it is
 * only walked to find where the statement really ends (it holds ';').  If
 * the walk finds no balanced END, fall back to ending at the first ';' and
 * checking everything, which at worst pins needlessly. */
static void cls_routine_body(struct cls_parser *ps)
{
    const struct cls_parser start = *ps;

    if (cls_skip_to(ps, "BEGIN", false) && !cls_block(ps, false)) {
        *ps = start;
        cls_scan_rest(ps);
    }
}

/* CREATE / ALTER: TEMPORARY pins; routine bodies are skipped whole. */
static void cls_stmt_ddl(struct cls_parser *ps)
{
    static const char *const routines[] = {"PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE"};

    cls_advance(ps);
    while (cls_skip_ddl_option(ps))
        ;
    for (size_t i = 0; i < sizeof(routines) / sizeof(routines[0]); i++)
        if (lex_is(&ps->tok, routines[i])) {
            cls_routine_body(ps);
            return;
        }
}

/* LOAD DATA / LOAD XML insert rows; with LOCAL the client sends a file. */
static void cls_stmt_load(struct cls_parser *ps)
{
    cls_advance(ps);
    if (!cls_accept(ps, "DATA") && !cls_accept(ps, "XML"))
        return; /* LOAD INDEX INTO CACHE */
    ps->flags |= CLS_INSERT;
    if (!cls_accept(ps, "LOW_PRIORITY"))
        cls_accept(ps, "CONCURRENT");
    if (lex_is(&ps->tok, "LOCAL"))
        ps->flags |= CLS_LOAD_LOCAL;
}

/* LOCK TABLE(S) and LOCK INSTANCE FOR BACKUP hold locks across statements. */
static void cls_stmt_lock(struct cls_parser *ps)
{
    cls_advance(ps);
    if (lex_is(&ps->tok, "TABLE") || lex_is(&ps->tok, "TABLES"))
        cls_pin(ps, PIN_LOCK_TABLES);
    else if (lex_is(&ps->tok, "INSTANCE"))
        cls_pin(ps, PIN_GLOBAL_LOCK);
}

/* BACKUP STAGE x / BACKUP LOCK t (MariaDB) hold a lock; BACKUP UNLOCK does not. */
static void cls_stmt_backup(struct cls_parser *ps)
{
    cls_advance(ps);
    if (lex_is(&ps->tok, "STAGE") || lex_is(&ps->tok, "LOCK"))
        cls_pin(ps, PIN_GLOBAL_LOCK);
}

/* FLUSH TABLES [t, ...] WITH READ LOCK and FLUSH TABLES t FOR EXPORT hold
 * a lock until UNLOCK TABLES. */
static void cls_stmt_flush(struct cls_parser *ps)
{
    for (cls_advance(ps); !cls_at_end(ps); cls_advance(ps)) {
        if ((lex_is(&ps->tok, "WITH") && lex_is(&ps->nxt, "READ")) ||
            (lex_is(&ps->tok, "FOR") && lex_is(&ps->nxt, "EXPORT")))
            cls_pin(ps, PIN_GLOBAL_LOCK);
        cls_check(ps);
    }
}

/* EXECUTE stmt runs what PREPARE (which pinned) made; MariaDB's EXECUTE
 * IMMEDIATE 'text' runs SQL this reader cannot see, so it pins as well. */
static void cls_stmt_execute(struct cls_parser *ps)
{
    if (lex_is(&ps->nxt, "IMMEDIATE"))
        cls_pin(ps, PIN_PREPARE_SQL);
}

/* The target of one SET assignment, tok on it: record what setting it
 * means and move past it.  False when tok cannot be a target. */
static bool cls_set_target(struct cls_parser *ps, enum cls_scope scope)
{
    struct lex_token name = ps->tok;

    switch (ps->tok.type) {
    case LEX_USER_VAR:
        cls_pin(ps, PIN_USER_VAR);
        cls_advance(ps);
        return true;
    case LEX_SYS_VAR: /* @@x is session whatever scope keyword came before */
        scope = cls_sysvar_split(&ps->tok, &name);
        if (scope == SCOPE_NONE)
            scope = SCOPE_SESSION;
        break;
    case LEX_QIDENT: name = cls_unquote(&ps->tok); break;
    case LEX_WORD: break;
    default: return false;
    }
    cls_advance(ps);
    if (cls_is_op(&ps->tok, ".")) { /* key_cache.key_buffer_size: a structured name, never tracked */
        cls_advance(ps);
        cls_advance(ps);
        name.len = 0;
    }
    if (scope == SCOPE_GLOBAL)
        ps->flags |= CLS_SET_GLOBAL;
    else if (var_index(name.p, name.len) >= 0)
        ps->flags |= CLS_SET_TRACKED;
    else if (!var_is_derived(name.p, name.len))
        cls_pin(ps, PIN_UNTRACKED_VAR);
    return true;
}

/* One item of a SET list, after any scope keyword.  Returns false when the
 * item took the rest of the statement (TRANSACTION) or is not understood. */
static bool cls_set_item(struct cls_parser *ps, enum cls_scope scope)
{
    if (lex_is(&ps->tok, "TRANSACTION")) {
        /* without a scope it applies to the next transaction only */
        ps->flags |= scope == SCOPE_GLOBAL    ? CLS_SET_GLOBAL
                     : scope == SCOPE_SESSION ? CLS_SET_TRACKED
                                              : CLS_TXN_ONESHOT;
        return false;
    }
    if (lex_is(&ps->tok, "NAMES") || lex_is(&ps->tok, "CHARSET") ||
        (lex_is(&ps->tok, "CHARACTER") && lex_is(&ps->nxt, "SET"))) {
        ps->flags |= CLS_SET_TRACKED | CLS_SET_CHARSET;
        if (cls_accept(ps, "CHARACTER"))
            cls_advance(ps);
        cls_advance(ps);
    } else if (!cls_set_target(ps, scope)) {
        ps->flags |= CLS_WRITE;
        return false;
    } else if (cls_is_op(&ps->tok, "=") || cls_is_op(&ps->tok, ":=")) {
        cls_advance(ps);
    }
    /* the value: up to a comma outside parentheses */
    while (!cls_at_end(ps) && !(ps->tok.type == LEX_COMMA && ps->paren == 0)) {
        cls_check(ps);
        cls_advance(ps);
    }
    return true;
}

/* SET.  A scope keyword (GLOBAL, SESSION, ...) carries over to the
 * following plain-name targets until the next scope keyword. */
static void cls_stmt_set(struct cls_parser *ps)
{
    enum cls_scope scope = SCOPE_NONE;

    cls_advance(ps);
    if (cls_accept(ps, "STATEMENT")) {
        /* MariaDB SET STATEMENT v=x, ... FOR stmt: the settings last for
         * stmt only, so only stmt counts */
        if (cls_skip_to(ps, "FOR", false)) {
            cls_advance(ps);
            cls_dispatch(ps);
        } else {
            ps->flags |= CLS_WRITE;
        }
        return;
    }
    if (lex_is(&ps->tok, "PASSWORD") || (lex_is(&ps->tok, "DEFAULT") && lex_is(&ps->nxt, "ROLE"))) {
        ps->flags |= CLS_WRITE;
        return;
    }
    if (lex_is(&ps->tok, "ROLE") || (lex_is(&ps->tok, "RESOURCE") && lex_is(&ps->nxt, "GROUP"))) {
        cls_pin(ps, PIN_UNTRACKED_VAR);
        return;
    }
    do {
        const enum cls_scope s = cls_scope_of(&ps->tok);
        if (s != SCOPE_NONE) {
            scope = s;
            cls_advance(ps);
        }
        if (!cls_set_item(ps, scope))
            return;
    } while (cls_accept_comma(ps));
}

/* ---- dispatch --------------------------------------------------------- */

typedef void cls_reader(struct cls_parser *ps);

/* A statement kind, by its first keyword. */
struct cls_stmt {
    const char *kw;   /* first keyword */
    uint32_t flags;   /* CLS_* facts every such statement has */
    enum cls_pin pin; /* pin every such statement has, or PIN_NONE */
    cls_reader *read; /* reads further into the head, tok on kw; NULL if none */
};

/* Statements not listed are writes.  SELECT-like reads carry no flag. */
static const struct cls_stmt cls_stmts[] = {
    {"SELECT", 0, PIN_NONE, NULL},
    {"SET", 0, PIN_NONE, cls_stmt_set},
    {"SHOW", 0, PIN_NONE, cls_stmt_show},
    {"INSERT", CLS_WRITE | CLS_INSERT, PIN_NONE, NULL},
    {"REPLACE", CLS_WRITE | CLS_INSERT, PIN_NONE, NULL},
    {"COMMIT", CLS_TXN_END, PIN_NONE, NULL},
    {"BEGIN", 0, PIN_NONE, cls_stmt_begin},
    {"START", 0, PIN_NONE, cls_stmt_start},
    {"ROLLBACK", 0, PIN_NONE, cls_stmt_rollback},
    {"USE", CLS_USE, PIN_NONE, NULL},
    {"WITH", 0, PIN_NONE, cls_stmt_with},
    {"VALUES", 0, PIN_NONE, NULL},
    {"TABLE", 0, PIN_NONE, NULL},
    {"DO", 0, PIN_NONE, NULL},
    {"HELP", 0, PIN_NONE, NULL},
    {"DESCRIBE", 0, PIN_NONE, cls_stmt_explain},
    {"DESC", 0, PIN_NONE, cls_stmt_explain},
    {"EXPLAIN", 0, PIN_NONE, cls_stmt_explain},
    {"ANALYZE", 0, PIN_NONE, cls_stmt_analyze},
    {"SAVEPOINT", 0, PIN_NONE, NULL},
    {"RELEASE", 0, PIN_NONE, NULL}, /* RELEASE SAVEPOINT */
    {"GET", 0, PIN_NONE, cls_stmt_get},
    {"CREATE", CLS_WRITE, PIN_NONE, cls_stmt_ddl},
    {"ALTER", CLS_WRITE, PIN_NONE, cls_stmt_ddl},
    {"LOAD", CLS_WRITE, PIN_NONE, cls_stmt_load},
    {"LOCK", CLS_WRITE, PIN_NONE, cls_stmt_lock},
    {"FLUSH", CLS_WRITE, PIN_NONE, cls_stmt_flush},
    {"BACKUP", CLS_WRITE, PIN_NONE, cls_stmt_backup},
    {"EXECUTE", CLS_WRITE, PIN_NONE, cls_stmt_execute},
    {"PREPARE", CLS_WRITE, PIN_PREPARE_SQL, NULL},
    {"HANDLER", CLS_WRITE, PIN_HANDLER, NULL},
    {"XA", CLS_WRITE, PIN_XA, cls_stmt_xa},
    {"KILL", CLS_WRITE | CLS_KILL, PIN_NONE, NULL},
    {"IF", 0, PIN_NONE, cls_stmt_block}, /* blocks write: cls_stmt_block() */
    {"CASE", 0, PIN_NONE, cls_stmt_block},
    {"LOOP", 0, PIN_NONE, cls_stmt_block},
    {"WHILE", 0, PIN_NONE, cls_stmt_block},
    {"REPEAT", 0, PIN_NONE, cls_stmt_block},
    {"FOR", 0, PIN_NONE, cls_stmt_block},
};

/* Classify the head of one statement, tok on its first token; the caller
 * scans whatever is left of it. */
static void cls_dispatch(struct cls_parser *ps)
{
    const struct cls_stmt *s = NULL;

    if (ps->tok.type == LEX_LPAREN) /* (SELECT ...) */
        return;
    if (ps->nest >= CLS_MAX_NEST) {
        ps->flags |= CLS_WRITE;
        return;
    }
    for (size_t i = 0; i < sizeof(cls_stmts) / sizeof(cls_stmts[0]) && s == NULL; i++)
        if (lex_is(&ps->tok, cls_stmts[i].kw))
            s = &cls_stmts[i];
    if (s == NULL) {
        if (cls_at_label(ps))
            cls_stmt_block(ps);
        else
            ps->flags |= CLS_WRITE;
        return;
    }
    ps->flags |= s->flags;
    if (s->pin != PIN_NONE)
        cls_pin(ps, s->pin);
    if (s->read != NULL) {
        ps->nest++;
        s->read(ps);
        ps->nest--;
    }
}

void cls_classify(const char *sql, size_t len, struct cls_result *out)
{
    struct cls_parser ps = {.pin = PIN_NONE};
    unsigned n = 0;

    lex_init(&ps.lx, sql, len);
    lex_next(&ps.lx, &ps.tok);
    lex_next(&ps.lx, &ps.nxt);
    while (ps.tok.type != LEX_EOF) {
        if (ps.tok.type == LEX_SEMI) {
            cls_step(&ps);
            continue;
        }
        n++;
        cls_statement(&ps);
    }
    out->flags = ps.flags | (n == 0 ? CLS_EMPTY : 0) | (n > 1 ? CLS_MULTI : 0);
    out->pin = ps.pin;
    out->n_stmts = n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
}

const char *cls_pin_str(enum cls_pin p)
{
    static const char *const names[PIN__COUNT] = {
        [PIN_NONE] = "none",
        [PIN_USER_VAR] = "user_variable",
        [PIN_TEMP_TABLE] = "temporary_table",
        [PIN_LOCK_TABLES] = "lock_tables",
        [PIN_GLOBAL_LOCK] = "global_lock",
        [PIN_GET_LOCK] = "get_lock",
        [PIN_PREPARE_SQL] = "prepare_sql",
        [PIN_CALC_FOUND_ROWS] = "sql_calc_found_rows",
        [PIN_HANDLER] = "handler",
        [PIN_XA] = "xa",
        [PIN_UNTRACKED_VAR] = "untracked_variable",
        [PIN_LAST_INSERT_ID_EXPR] = "last_insert_id_expr",
        [PIN_SERVER_STATE] = "server_state",
        [PIN_COM_COMMAND] = "protocol_command",
        [PIN_ROW_COUNT] = "row_count",
    };
    return (unsigned)p < PIN__COUNT && names[p] != NULL ? names[p] : "unknown";
}
