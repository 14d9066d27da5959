/* Prepared statements without pinning.
 *
 * Clients see statement ids the proxy hands out (per session).  Each
 * session statement remembers its SQL text (shared, refcounted), the schema
 * it was prepared in, its parameter count and the parameter types last
 * bound.  Each backend connection keeps a bounded LRU cache mapping
 * (SQL text, schema) to the server's statement id, so a statement is
 * prepared at most once per backend connection, lazily, and shared by every
 * session that prepares the same text; evicted entries are closed on the
 * server, so the proxy never exhausts max_prepared_stmt_count. */
#ifndef RINGMUX_STMT_H
#define RINGMUX_STMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/buf.h"

/* The statement id that means "the statement this connection prepared
 * last" (MariaDB: LAST_STMT_ID). */
#define STMT_LAST_ID 0xFFFFFFFFu

/* Most statements a backend connection keeps prepared. */
#define STMT_CACHE_MAX 256

struct stmt_text {
    int refs;      /* owners: session entries and conn cache entries */
    uint32_t hash; /* of schema and text */
    uint32_t len;  /* text length */
    char *schema;  /* default database at prepare time, NULL for none */
    char text[];   /* the SQL, not NUL-terminated */
};

/* A statement as one session sees it. */
struct stmt_entry {
    uint32_t id; /* proxy statement id shown to the client */
    struct stmt_text *t;
    uint16_t n_params;
    uint16_t n_cols;
    uint8_t *types; /* 2 * n_params bytes last bound by the client, or NULL */
};

/* A statement prepared on one backend connection. */
struct stmt_cached {
    struct stmt_text *t;
    uint32_t backend_id; /* the server's statement id */
    uint64_t last_used;  /* LRU clock */
    uint32_t types_sess; /* session and proxy statement whose types the server holds */
    uint32_t types_stmt;
};

struct stmt_registry { /* per session */
    struct stmt_entry *v;
    uint32_t n, cap;
    uint32_t next_id;
};

struct stmt_cache { /* per backend connection */
    struct stmt_cached *v;
    uint32_t n, cap;
    uint64_t clock;
};

struct stmt_text *stmt_text_new(const char *sql, size_t len, const char *schema);
void stmt_text_unref(struct stmt_text *t);
bool stmt_text_same(const struct stmt_text *a, const struct stmt_text *b);

/* Session registry. */
struct stmt_entry *stmt_reg_add(struct stmt_registry *r, struct stmt_text *t, uint16_t n_params, uint16_t n_cols);
struct stmt_entry *stmt_reg_find(struct stmt_registry *r, uint32_t id);
void stmt_reg_remove(struct stmt_registry *r, uint32_t id);
void stmt_reg_clear(struct stmt_registry *r);

/* Backend cache.  stmt_cache_add may evict the least recently used entry:
 * its COM_STMT_CLOSE is appended to out (no response follows) and 1 is
 * returned; 0 otherwise, -1 on OOM. */
struct stmt_cached *stmt_cache_find(struct stmt_cache *c, const struct stmt_text *t);
int stmt_cache_add(struct stmt_cache *c, struct stmt_text *t, uint32_t backend_id, struct rm_buf *out);
void stmt_cache_clear(struct stmt_cache *c);

/* Rewrite a COM_STMT_EXECUTE payload for the server: statement id replaced
 * by backend_id, and parameter types inserted (new-params-bound set) when
 * the server's copy may hold other types.  Appends a whole packet (seq 0,
 * split at 16 MiB - 1) to out.  Records types the client bound into e.  A
 * payload too short for e's parameters is sent with only the id replaced
 * (the server answers it with its own error).  0, or -1 when shorter than
 * the fixed 10-byte head or out of memory. */
int stmt_write_execute(struct rm_buf *out, const uint8_t *p, size_t n, struct stmt_entry *e, struct stmt_cached *sc,
                       uint32_t sess_id);
/* COM_STMT_BULK_EXECUTE flag: parameter types follow the flags. */
#define STMT_BULK_SEND_TYPES 0x80

/* The same for a COM_STMT_BULK_EXECUTE payload: types inserted (and the
 * send-types flag set) when the server's copy may hold other types, the
 * types the client sent recorded into e. */
int stmt_write_bulk(struct rm_buf *out, const uint8_t *p, size_t n, struct stmt_entry *e, struct stmt_cached *sc,
                    uint32_t sess_id);
/* Copy a raw command packet (seq 0, payload p/n) replacing the statement id. */
int stmt_write_with_id(struct rm_buf *out, const uint8_t *p, size_t n, uint32_t backend_id);

#endif
