/* SQL lexer and statement classifier.
 *
 * The lexer tokenizes MySQL/MariaDB SQL the way the server does for the
 * purpose of finding statement boundaries and keywords: it skips comments
 * (slash-star, "-- ", "#"), lexes the contents of executable comments
 * (slash-star-bang with optional version digits, and MariaDB's slash-star-M-bang) as code,
 * understands '...' and "..." strings (backslash escapes and doubled quotes),
 * `backtick` identifiers, @user and @@system variables, numbers and operators.
 *
 * The classifier turns a whole COM_QUERY text (possibly several statements
 * separated by ';') into the facts the session needs: does it write, does it
 * start or end a transaction, which tracked state it changes, and whether it
 * creates state the proxy cannot reproduce on another backend connection
 * (a pin reason). */
#ifndef RINGMUX_SQL_H
#define RINGMUX_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/buf.h"

enum lex_type {
    LEX_EOF = 0,
    LEX_WORD,     /* keyword or unquoted identifier (may contain '.'? no: '.' is LEX_OP) */
    LEX_QIDENT,   /* `quoted identifier`; text includes the backticks */
    LEX_STRING,   /* 'string' or "string"; text includes the quotes; also X'4D', B'01', N'x' with the prefix */
    LEX_NUMBER,   /* 123, 1.5, 0x1F, 0b101, 1e10 (digits running into letters, 1abc, are a LEX_WORD) */
    LEX_USER_VAR, /* @name, @'name', @`name`, @"name" */
    LEX_SYS_VAR,  /* @@name, @@session.name, @@global.name, @@local.name */
    LEX_PARAM,    /* ? placeholder */
    LEX_SEMI,     /* ; statement separator */
    LEX_LPAREN,   /* ( */
    LEX_RPAREN,   /* ) */
    LEX_COMMA,    /* , */
    LEX_OP,       /* any other operator or punctuation: = := . + etc. */
};

struct lex_token {
    enum lex_type type;
    const char *p; /* start of the token text inside the input */
    uint32_t len;  /* length of the token text */
};

struct lexer {
    const char *p;       /* next unread byte */
    const char *end;     /* one past the last byte */
    int in_exec_comment; /* inside an executable comment: its closing star-slash is skipped */
};

void lex_init(struct lexer *lx, const char *sql, size_t len);
/* Next token; returns its type (LEX_EOF at the end, repeatedly).  Never
 * reads outside [sql, sql+len); unterminated strings/comments end at EOF. */
enum lex_type lex_next(struct lexer *lx, struct lex_token *t);
/* Case-insensitive comparison of a LEX_WORD token with an upper-case keyword. */
bool lex_is(const struct lex_token *t, const char *kw);

/* Why a statement pins its session to one backend connection. */
enum cls_pin {
    PIN_NONE = 0,
    PIN_USER_VAR,            /* assigns a user variable: SET @x, @x:=, INTO @x */
    PIN_TEMP_TABLE,          /* CREATE TEMPORARY TABLE */
    PIN_LOCK_TABLES,         /* LOCK TABLE(S) */
    PIN_GLOBAL_LOCK,         /* FLUSH TABLES ... WITH READ LOCK / FOR EXPORT, BACKUP STAGE/LOCK */
    PIN_GET_LOCK,            /* GET_LOCK() anywhere in the statement */
    PIN_PREPARE_SQL,         /* text-protocol PREPARE */
    PIN_CALC_FOUND_ROWS,     /* SQL_CALC_FOUND_ROWS */
    PIN_HANDLER,             /* HANDLER tbl OPEN/READ/CLOSE */
    PIN_XA,                  /* XA START/BEGIN/END/PREPARE/COMMIT/ROLLBACK/RECOVER */
    PIN_UNTRACKED_VAR,       /* SET of a session variable outside the tracked list (vars.h), SET ROLE */
    PIN_LAST_INSERT_ID_EXPR, /* LAST_INSERT_ID(expr) with an argument sets it */
    PIN_SERVER_STATE,        /* server-reported state change the proxy can't replay (set by session code) */
    PIN_COM_COMMAND,         /* a protocol command with connection state (set by session code) */
    PIN_ROW_COUNT,           /* reads ROW_COUNT()/FOUND_ROWS() of earlier statements (set by session code) */
    PIN__COUNT
};
const char *cls_pin_str(enum cls_pin p); /* "user_variable", "temporary_table", ... */

/* Statement facts (bit flags in cls_result.flags). */
#define CLS_WRITE     (1u << 0) /* not a pure read (anything but SELECT/SHOW/DESCRIBE/EXPLAIN/DO-less reads) */
#define CLS_TXN_BEGIN (1u << 1) /* BEGIN [WORK], START TRANSACTION ..., XA START */
#define CLS_TXN_END   (1u << 2) /* COMMIT / ROLLBACK (not ROLLBACK TO SAVEPOINT) */
#define CLS_SET_TRACKED                                                                                                \
    (1u << 3) /* SET of tracked variables / SET NAMES / SET CHARACTER SET / SET SESSION TRANSACTION */
#define CLS_TXN_ONESHOT    (1u << 4)  /* SET TRANSACTION ... without SESSION/GLOBAL: next transaction only */
#define CLS_USE            (1u << 5)  /* USE db */
#define CLS_LAST_INSERT_ID (1u << 6)  /* reads LAST_INSERT_ID() (no argument) or @@last_insert_id/@@identity */
#define CLS_ROW_COUNT      (1u << 7)  /* reads ROW_COUNT() */
#define CLS_FOUND_ROWS     (1u << 8)  /* reads FOUND_ROWS() */
#define CLS_INSERT         (1u << 9)  /* INSERT / REPLACE / LOAD DATA (may set LAST_INSERT_ID) */
#define CLS_LOAD_LOCAL     (1u << 10) /* LOAD DATA LOCAL INFILE / LOAD XML LOCAL INFILE */
#define CLS_DIAGNOSTICS                                                                                                \
    (1u << 11) /* SHOW WARNINGS/ERRORS, SHOW COUNT(*) WARNINGS/ERRORS, GET DIAGNOSTICS, @@warning_count/@@error_count  \
                */
#define CLS_MULTI         (1u << 12) /* more than one statement in the text */
#define CLS_SET_GLOBAL    (1u << 13) /* SET GLOBAL / SET @@global. (no session effect) */
#define CLS_KILL          (1u << 14) /* KILL [QUERY|CONNECTION] id */
#define CLS_EMPTY         (1u << 15) /* only whitespace / comments / semicolons */
#define CLS_SET_CHARSET   (1u << 16) /* SET NAMES / SET CHARACTER SET: changes collation_connection unreported */
#define CLS_CONNECTION_ID (1u << 17) /* calls CONNECTION_ID(): the proxy's id must replace the backend's */

struct cls_result {
    uint32_t flags;   /* CLS_* bits, OR-ed over all statements */
    enum cls_pin pin; /* first pin reason found, PIN_NONE if none */
    uint16_t n_stmts; /* number of non-empty statements */
};

/* Classify a COM_QUERY text of len bytes.  Never fails: unknown syntax is
 * classified as CLS_WRITE with no pin (the server will judge it). */
void cls_classify(const char *sql, size_t len, struct cls_result *out);

/* Replace every CONNECTION_ID() call in sql with the number id (the
 * proxy's connection id for the session), appending the new text to out.
 * A call that is a whole select-list item without an alias gets one (AS
 * `CONNECTION_ID()` as written), so the column keeps the server's name.
 * Returns the number of calls replaced (0: out untouched), -1 on OOM. */
int sql_rewrite_connection_id(const char *sql, size_t len, uint32_t id, struct rm_buf *out);

/* The statement's digest for logs: its tokens, single-spaced, comments
 * dropped, every string and number literal replaced by ? (a run of them in
 * a list shown as "?, ..."); cut with "..." to fit room.  Never contains a
 * value from the statement.  Returns the length written (NUL-terminated). */
size_t sql_digest(const char *sql, size_t len, char *out, size_t room);

#endif
