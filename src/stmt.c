/* Prepared-statement registry and per-connection cache (include/ringmux/stmt.h). */
#include "ringmux/stmt.h"

#include <stdlib.h>
#include <string.h>

#include "ringmux/packet.h"

/* FNV-1a over schema and text. */
static uint32_t hash_bytes(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

struct stmt_text *stmt_text_new(const char *sql, size_t len, const char *schema)
{
    struct stmt_text *t = malloc(sizeof(*t) + len);
    if (!t)
        return NULL;
    t->refs = 1;
    t->len = (uint32_t)len;
    t->schema = schema ? strdup(schema) : NULL;
    if (schema && !t->schema) {
        free(t);
        return NULL;
    }
    memcpy(t->text, sql, len);
    uint32_t h = hash_bytes(2166136261u, sql, len);
    if (schema)
        h = hash_bytes(h ^ 0xff, schema, strlen(schema));
    t->hash = h;
    return t;
}

void stmt_text_unref(struct stmt_text *t)
{
    if (t && --t->refs == 0) {
        free(t->schema);
        free(t);
    }
}

bool stmt_text_same(const struct stmt_text *a, const struct stmt_text *b)
{
    if (a == b)
        return true;
    if (a->hash != b->hash || a->len != b->len || memcmp(a->text, b->text, a->len) != 0)
        return false;
    if (!a->schema || !b->schema)
        return a->schema == b->schema;
    return strcmp(a->schema, b->schema) == 0;
}

struct stmt_entry *stmt_reg_add(struct stmt_registry *r, struct stmt_text *t, uint16_t n_params, uint16_t n_cols)
{
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 4;
        struct stmt_entry *v = realloc(r->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        r->v = v;
        r->cap = cap;
    }
    struct stmt_entry *e = &r->v[r->n++];
    memset(e, 0, sizeof(*e));
    e->id = ++r->next_id;
    e->t = t;
    t->refs++;
    e->n_params = n_params;
    e->n_cols = n_cols;
    return e;
}

struct stmt_entry *stmt_reg_find(struct stmt_registry *r, uint32_t id)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->v[i].id == id)
            return &r->v[i];
    return NULL;
}

static void entry_free(struct stmt_entry *e)
{
    stmt_text_unref(e->t);
    free(e->types);
}

void stmt_reg_remove(struct stmt_registry *r, uint32_t id)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->v[i].id == id) {
            entry_free(&r->v[i]);
            r->v[i] = r->v[--r->n];
            return;
        }
}

void stmt_reg_clear(struct stmt_registry *r)
{
    for (uint32_t i = 0; i < r->n; i++)
        entry_free(&r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

struct stmt_cached *stmt_cache_find(struct stmt_cache *c, const struct stmt_text *t)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (stmt_text_same(c->v[i].t, t)) {
            c->v[i].last_used = ++c->clock;
            return &c->v[i];
        }
    return NULL;
}

int stmt_cache_add(struct stmt_cache *c, struct stmt_text *t, uint32_t backend_id, struct rm_buf *out)
{
    int evicted = 0;
    struct stmt_cached *slot = NULL;
    if (c->n == STMT_CACHE_MAX) { /* evict the least recently used */
        slot = &c->v[0];
        for (uint32_t i = 1; i < c->n; i++)
            if (c->v[i].last_used < slot->last_used)
                slot = &c->v[i];
        uint8_t id[4];
        pkt_put_u32(id, slot->backend_id);
        if (pkt_write_cmd(out, COM_STMT_CLOSE, id, 4) < 0)
            return -1;
        stmt_text_unref(slot->t);
        evicted = 1;
    } else {
        if (c->n == c->cap) {
            uint32_t cap = c->cap ? c->cap * 2 : 8;
            struct stmt_cached *v = realloc(c->v, cap * sizeof(*v));
            if (!v)
                return -1;
            c->v = v;
            c->cap = cap;
        }
        slot = &c->v[c->n++];
    }
    memset(slot, 0, sizeof(*slot));
    slot->t = t;
    t->refs++;
    slot->backend_id = backend_id;
    slot->last_used = ++c->clock;
    return evicted;
}

void stmt_cache_clear(struct stmt_cache *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        stmt_text_unref(c->v[i].t);
    free(c->v);
    c->v = NULL;
    c->n = c->cap = 0;
}

int stmt_write_with_id(struct rm_buf *out, const uint8_t *p, size_t n, uint32_t backend_id)
{
    if (n < 5)
        return -1;
    struct pkt_writer w;
    pkt_begin(&w, out, 0);
    pkt_add_u8(&w, p[0]);
    pkt_add_u32(&w, backend_id);
    pkt_add(&w, p + 5, n - 5);
    return pkt_end(&w) < 0 ? -1 : 0;
}

/* The client sent its parameter types: keep them for executions that do
 * not (the server's copy may hold another session's).  -1 out of memory. */
static int keep_types(struct stmt_entry *e, const uint8_t *types, uint16_t np)
{
    uint8_t *t = realloc(e->types, 2u * np);
    if (!t)
        return -1;
    memcpy(t, types, 2u * np);
    e->types = t;
    return 0;
}

/* Must the proxy insert e's types into this execution on conn sc?  Yes
 * unless the client sent them, none are known, or the server's copy last
 * got this session's types for this statement. */
static bool types_needed(const struct stmt_entry *e, const struct stmt_cached *sc, uint32_t sess_id, bool sent)
{
    return !sent && e->n_params > 0 && e->types && !(sc->types_sess == sess_id && sc->types_stmt == e->id);
}

/* The server's copy of the statement on sc now holds this session's types. */
static void types_sent(struct stmt_cached *sc, uint32_t sess_id, const struct stmt_entry *e)
{
    sc->types_sess = sess_id;
    sc->types_stmt = e->id;
}

int stmt_write_execute(struct rm_buf *out, const uint8_t *p, size_t n, struct stmt_entry *e, struct stmt_cached *sc,
                       uint32_t sess_id)
{
    /* COM_STMT_EXECUTE: cmd(1) id(4) flags(1) iterations(4)
     * [null bitmap((n+7)/8) new_params_bound(1) [types(2n)] values] */
    const size_t head = 10;
    if (n < head)
        return -1;
    uint16_t np = e->n_params;
    size_t nullmap = (np + 7u) / 8u;
    bool has_types = false, bound = false;
    if (np > 0) {
        /* Too short for the statement's parameters: the server answers
         * that (ERR 1210) better than the proxy could; send it as it is. */
        if (n < head + nullmap + 1)
            return stmt_write_with_id(out, p, n, sc->backend_id);
        bound = p[head + nullmap] == 1;
        if (bound) {
            if (n < head + nullmap + 1 + 2u * np)
                return stmt_write_with_id(out, p, n, sc->backend_id);
            if (keep_types(e, p + head + nullmap + 1, np) < 0)
                return -1;
            has_types = true;
        }
    }
    bool insert = types_needed(e, sc, sess_id, bound);
    struct pkt_writer w;
    pkt_begin(&w, out, 0);
    pkt_add_u8(&w, p[0]);
    pkt_add_u32(&w, sc->backend_id);
    if (!insert) {
        pkt_add(&w, p + 5, n - 5);
    } else {
        pkt_add(&w, p + 5, head - 5 + nullmap);
        pkt_add_u8(&w, 1);
        pkt_add(&w, e->types, 2u * np);
        pkt_add(&w, p + head + nullmap + 1, n - (head + nullmap + 1));
    }
    if (has_types || insert)
        types_sent(sc, sess_id, e);
    return pkt_end(&w) < 0 ? -1 : 0;
}

int stmt_write_bulk(struct rm_buf *out, const uint8_t *p, size_t n, struct stmt_entry *e, struct stmt_cached *sc,
                    uint32_t sess_id)
{
    /* COM_STMT_BULK_EXECUTE: cmd(1) id(4) flags(2) [types(2n) if flags &
     * SEND_TYPES] rows of (indicator, value) per parameter. */
    const size_t head = 7;
    if (n < head)
        return -1;
    uint16_t np = e->n_params;
    uint16_t flags = (uint16_t)pkt_u16(p + 5);
    bool sent_types = (flags & STMT_BULK_SEND_TYPES) != 0;
    if (sent_types) {
        if (n < head + 2u * np)
            return stmt_write_with_id(out, p, n, sc->backend_id); /* the server says what is wrong */
        if (np > 0 && keep_types(e, p + head, np) < 0)
            return -1;
    }
    bool insert = types_needed(e, sc, sess_id, sent_types);
    struct pkt_writer w;
    pkt_begin(&w, out, 0);
    pkt_add_u8(&w, p[0]);
    pkt_add_u32(&w, sc->backend_id);
    if (!insert) {
        pkt_add(&w, p + 5, n - 5);
    } else {
        pkt_add_u16(&w, (uint16_t)(flags | STMT_BULK_SEND_TYPES));
        pkt_add(&w, e->types, 2u * np);
        pkt_add(&w, p + head, n - head);
    }
    if (sent_types || insert)
        types_sent(sc, sess_id, e);
    return pkt_end(&w) < 0 ? -1 : 0;
}
