/* Unit tests for src/stmt.c: the per-session registry of proxy statement
 * ids, the per-connection LRU cache of server statements (with the
 * COM_STMT_CLOSE of an evicted entry), and the COM_STMT_EXECUTE rewrite
 * that swaps the statement id and re-sends parameter types when the
 * server's copy last saw another session's. */
#include "ringmux/stmt.h"

#include "ringmux/packet.h"
#include "unit.h"

static struct stmt_text *text(const char *sql, const char *schema)
{
    struct stmt_text *t = stmt_text_new(sql, strlen(sql), schema);
    if (!t) {
        perror("stmt_text_new");
        exit(2);
    }
    return t;
}

static void test_text(void)
{
    struct stmt_text *a = text("SELECT ?", "app");
    struct stmt_text *b = text("SELECT ?", "app");
    struct stmt_text *c = text("SELECT ?", "other");
    struct stmt_text *d = text("SELECT ?", NULL);
    struct stmt_text *e = text("SELECT ?", "");
    struct stmt_text *f = text("SELECT !", "app");
    struct stmt_text *g = text("SELECT ? ", "app");
    CHECK(a->refs == 1 && a->len == 8 && memcmp(a->text, "SELECT ?", 8) == 0, "new text");
    CHECK(a->schema != NULL && strcmp(a->schema, "app") == 0, "schema copied");
    CHECK(stmt_text_same(a, a) && stmt_text_same(a, b) && stmt_text_same(b, a), "same text+schema");
    CHECK(a->hash == b->hash, "same hash");
    CHECK(!stmt_text_same(a, c), "different schema");
    CHECK(!stmt_text_same(a, d) && !stmt_text_same(d, a), "schema vs none");
    CHECK(!stmt_text_same(d, e), "no schema vs empty schema");
    CHECK(!stmt_text_same(a, f), "different text, same length");
    CHECK(!stmt_text_same(a, g), "different length");
    struct stmt_text *d2 = text("SELECT ?", NULL);
    CHECK(stmt_text_same(d, d2), "both without schema");
    /* not NUL-terminated; the length is what counts */
    struct stmt_text *h = text("SELECT 1; junk", NULL), *h2 = text("SELECT 1", NULL);
    stmt_text_unref(h);
    h = stmt_text_new("SELECT 1; junk", 8, NULL);
    CHECK(h && h->len == 8 && stmt_text_same(h, h2), "length-bounded");
    struct stmt_text *all[] = {a, b, c, d, e, f, g, d2, h, h2};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        stmt_text_unref(all[i]);
    stmt_text_unref(NULL);
}

static void test_registry(void)
{
    struct stmt_registry r = {0};
    struct stmt_text *t1 = text("SELECT 1", "app");
    struct stmt_text *t2 = text("SELECT ?", "app");
    struct stmt_entry *e = stmt_reg_add(&r, t1, 0, 1);
    CHECK(e && e->id == 1 && e->t == t1 && e->n_params == 0 && e->n_cols == 1 && !e->types,
          "first entry");
    CHECK(t1->refs == 2, "registry holds a reference (%d)", t1->refs);
    e = stmt_reg_add(&r, t2, 2, 0);
    CHECK(e && e->id == 2 && e->n_params == 2, "second entry");
    e = stmt_reg_add(&r, t1, 0, 1);
    CHECK(e && e->id == 3 && t1->refs == 3, "same text again: new id, shared text");
    /* grow past the initial capacity */
    for (int i = 0; i < 10; i++)
        stmt_reg_add(&r, t2, 2, 0);
    CHECK(r.n == 13 && t2->refs == 12, "13 entries (%u), t2 refs %d", r.n, t2->refs);

    CHECK(stmt_reg_find(&r, 2) && stmt_reg_find(&r, 2)->id == 2, "find 2");
    CHECK(stmt_reg_find(&r, 0) == NULL && stmt_reg_find(&r, 14) == NULL, "unknown ids");
    stmt_reg_remove(&r, 2);
    CHECK(stmt_reg_find(&r, 2) == NULL && r.n == 12 && t2->refs == 11, "removed 2");
    CHECK(stmt_reg_find(&r, 1) && stmt_reg_find(&r, 3) && stmt_reg_find(&r, 13), "others kept");
    stmt_reg_remove(&r, 2); /* twice: no-op */
    stmt_reg_remove(&r, 99);
    CHECK(r.n == 12, "removing unknown ids changes nothing");
    e = stmt_reg_add(&r, t1, 0, 1);
    CHECK(e && e->id == 14, "ids are never reused (%u)", e ? e->id : 0);

    /* types recorded on an entry are freed with it */
    e = stmt_reg_find(&r, 4);
    e->types = malloc(4);
    memcpy(e->types, "\x08\x00\xfe\x00", 4);
    stmt_reg_remove(&r, 4);

    stmt_reg_clear(&r);
    CHECK(r.n == 0 && r.v == NULL && t1->refs == 1 && t2->refs == 1, "clear drops references");
    e = stmt_reg_add(&r, t1, 0, 0);
    CHECK(e && e->id == 15, "ids continue after clear");
    stmt_reg_clear(&r);
    stmt_text_unref(t1);
    stmt_text_unref(t2);
}

static void test_cache(void)
{
    struct stmt_cache c = {0};
    struct rm_buf out = {0};
    struct stmt_text *t = text("SELECT * FROM t WHERE id = ?", "app");
    CHECK(stmt_cache_add(&c, t, 100, &out) == 0 && c.n == 1 && t->refs == 2, "add");
    struct stmt_text *same = text("SELECT * FROM t WHERE id = ?", "app");
    struct stmt_text *other_db = text("SELECT * FROM t WHERE id = ?", "app2");
    struct stmt_cached *sc = stmt_cache_find(&c, same);
    CHECK(sc && sc->backend_id == 100 && sc->t == t, "hit by identical text and schema");
    CHECK(sc && sc->types_sess == 0 && sc->types_stmt == 0, "no types owner yet");
    CHECK(stmt_cache_find(&c, other_db) == NULL, "miss by schema");
    CHECK(out.len == 0, "nothing written without eviction");
    stmt_cache_clear(&c);
    CHECK(t->refs == 1 && c.n == 0 && c.v == NULL, "clear drops references");

    /* fill to the limit; statement k has backend id 1000 + k */
    struct stmt_text *ts[STMT_CACHE_MAX + 2];
    for (int k = 0; k < STMT_CACHE_MAX + 2; k++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT %d", k);
        ts[k] = text(sql, "app");
    }
    bool ok = true;
    for (int k = 0; k < STMT_CACHE_MAX; k++)
        ok = ok && stmt_cache_add(&c, ts[k], 1000 + (uint32_t)k, &out) == 0;
    CHECK(ok && c.n == STMT_CACHE_MAX && out.len == 0, "filled to %d without eviction", STMT_CACHE_MAX);
    /* use statement 0 so statement 1 is the least recently used */
    CHECK(stmt_cache_find(&c, ts[0]) != NULL, "touch 0");
    int rc = stmt_cache_add(&c, ts[STMT_CACHE_MAX], 5000, &out);
    CHECK(rc == 1 && c.n == STMT_CACHE_MAX, "eviction reported (rc %d, n %u)", rc, c.n);
    static const uint8_t close1[] = {5, 0, 0, 0, COM_STMT_CLOSE, 0xe9, 0x03, 0, 0}; /* id 1001 */
    CHECK_MEM(out.data, out.len, close1, sizeof(close1), "exactly one COM_STMT_CLOSE for id 1001");
    CHECK(ts[1]->refs == 1, "evicted text released");
    CHECK(stmt_cache_find(&c, ts[1]) == NULL, "evicted entry gone");
    sc = stmt_cache_find(&c, ts[STMT_CACHE_MAX]);
    CHECK(sc && sc->backend_id == 5000 && sc->types_sess == 0, "new entry present, fresh");
    CHECK(stmt_cache_find(&c, ts[0]) && stmt_cache_find(&c, ts[2]), "others kept");
    /* the next eviction takes the next least recently used: 3 (0, 2 and
     * the new one were just used) */
    buf_free(&out);
    rc = stmt_cache_add(&c, ts[STMT_CACHE_MAX + 1], 5001, &out);
    static const uint8_t close3[] = {5, 0, 0, 0, COM_STMT_CLOSE, 0xeb, 0x03, 0, 0}; /* id 1003 */
    CHECK(rc == 1, "second eviction");
    CHECK_MEM(out.data, out.len, close3, sizeof(close3), "COM_STMT_CLOSE for id 1003");
    buf_free(&out);
    stmt_cache_clear(&c);
    bool released = true;
    for (int k = 0; k < STMT_CACHE_MAX + 2; k++) {
        released = released && ts[k]->refs == 1;
        stmt_text_unref(ts[k]);
    }
    CHECK(released, "every cached text released by clear");
    stmt_text_unref(t);
    stmt_text_unref(same);
    stmt_text_unref(other_db);
}

/* ---- COM_STMT_EXECUTE ---------------------------------------------------- */

/* Build an execute payload for proxy id `id` with np parameters. */
static size_t exec_payload(uint8_t *p, uint32_t id, uint16_t np, int bound, const uint8_t *types,
                           const uint8_t *values, size_t vlen)
{
    size_t n = 0;
    p[n++] = COM_STMT_EXECUTE;
    pkt_put_u32(p + n, id);
    n += 4;
    p[n++] = 0x00; /* CURSOR_TYPE_NO_CURSOR */
    pkt_put_u32(p + n, 1);
    n += 4;
    if (np == 0)
        return n;
    size_t nm = (np + 7u) / 8u;
    for (size_t i = 0; i < nm; i++)
        p[n++] = (uint8_t)(0x40 >> i); /* some NULL bits, to see them kept */
    p[n++] = (uint8_t)bound;
    if (bound) {
        memcpy(p + n, types, 2u * np);
        n += 2u * np;
    }
    memcpy(p + n, values, vlen);
    return n + vlen;
}

/* Run stmt_write_execute on an exact-size copy; the output payload (after
 * checking the header: seq 0, length) goes to *payload / *plen. */
static int run_exec(const uint8_t *p, size_t n, struct stmt_entry *e, struct stmt_cached *sc,
                    uint32_t sess, struct rm_buf *out, const uint8_t **payload, size_t *plen)
{
    buf_free(out);
    uint8_t *c = unit_dup(p, n);
    int rc = stmt_write_execute(out, c, n, e, sc, sess);
    free(c);
    *payload = NULL;
    *plen = 0;
    if (rc == 0) {
        CHECK(out->len >= PKT_HDR && pkt_u24(out->data) == out->len - PKT_HDR && out->data[3] == 0,
              "execute packet header");
        *payload = out->data + PKT_HDR;
        *plen = out->len - PKT_HDR;
    }
    return rc;
}

static void test_execute(void)
{
    struct rm_buf out = {0};
    const uint8_t *q;
    size_t ql;
    uint8_t p[256], want[256];
    struct stmt_text *t = text("INSERT INTO t VALUES (?, ?)", "app");
    struct stmt_cached sc = {.t = t, .backend_id = 0x0a0b0c0d};

    /* no parameters: only the id changes */
    struct stmt_entry e0 = {.id = 5, .t = t, .n_params = 0};
    size_t n = exec_payload(p, 5, 0, 0, NULL, NULL, 0);
    CHECK(run_exec(p, n, &e0, &sc, 1, &out, &q, &ql) == 0, "execute without params");
    memcpy(want, p, n);
    pkt_put_u32(want + 1, 0x0a0b0c0d);
    CHECK_MEM(q, ql, want, n, "no params: id replaced");
    CHECK(sc.types_sess == 0 && sc.types_stmt == 0, "no params: no types owner");
    /* trailing bytes after a param-less execute are kept */
    p[n] = 0x77;
    CHECK(run_exec(p, n + 1, &e0, &sc, 1, &out, &q, &ql) == 0 && ql == n + 1 && q[n] == 0x77,
          "no params: trailing byte kept");

    /* session 1, statement 3: two params bound with types */
    static const uint8_t types_a[] = {0x08, 0x00, 0xfe, 0x00}; /* LONGLONG, STRING */
    static const uint8_t vals[] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'};
    struct stmt_entry e1 = {.id = 3, .t = t, .n_params = 2};
    n = exec_payload(p, 3, 2, 1, types_a, vals, sizeof(vals));
    CHECK(run_exec(p, n, &e1, &sc, 1, &out, &q, &ql) == 0, "bound execute");
    memcpy(want, p, n);
    pkt_put_u32(want + 1, 0x0a0b0c0d);
    CHECK_MEM(q, ql, want, n, "bound: passed through with the server id");
    CHECK(e1.types && memcmp(e1.types, types_a, 4) == 0, "bound: types recorded on the entry");
    CHECK(sc.types_sess == 1 && sc.types_stmt == 3, "bound: server holds session 1's types");

    /* session 1 again, bound=0: the server has its types, pass through */
    n = exec_payload(p, 3, 2, 0, NULL, vals, sizeof(vals));
    CHECK(run_exec(p, n, &e1, &sc, 1, &out, &q, &ql) == 0, "unbound, owner");
    memcpy(want, p, n);
    pkt_put_u32(want + 1, 0x0a0b0c0d);
    CHECK_MEM(q, ql, want, n, "unbound, owner: unchanged but the id");

    /* session 2 shares the cached statement; its entry (id 1) has types
     * from an earlier execute on another connection, and it sends bound=0:
     * the server holds session 1's types, so session 2's are inserted */
    static const uint8_t types_b[] = {0x03, 0x00, 0x0f, 0x00}; /* LONG, VARCHAR */
    struct stmt_entry e2 = {.id = 1, .t = t, .n_params = 2};
    e2.types = malloc(4);
    memcpy(e2.types, types_b, 4);
    n = exec_payload(p, 1, 2, 0, NULL, vals, sizeof(vals));
    CHECK(run_exec(p, n, &e2, &sc, 2, &out, &q, &ql) == 0, "unbound, other owner");
    size_t wn = exec_payload(want, 0x0a0b0c0d, 2, 1, types_b, vals, sizeof(vals));
    CHECK_MEM(q, ql, want, wn, "types inserted, flag 1, values byte-exact");
    CHECK(ql == wn && q[10] == 0x40 && q[11] == 1 && memcmp(q + 12, types_b, 4) == 0 &&
              memcmp(q + 16, vals, sizeof(vals)) == 0,
          "inserted layout: null bitmap, flag, types, values");
    CHECK(sc.types_sess == 2 && sc.types_stmt == 1, "server now holds session 2's types");
    /* and session 1 must now send its types back in turn */
    n = exec_payload(p, 3, 2, 0, NULL, vals, sizeof(vals));
    CHECK(run_exec(p, n, &e1, &sc, 1, &out, &q, &ql) == 0, "session 1 after session 2");
    wn = exec_payload(want, 0x0a0b0c0d, 2, 1, types_a, vals, sizeof(vals));
    CHECK_MEM(q, ql, want, wn, "session 1's types re-inserted");
    CHECK(sc.types_sess == 1 && sc.types_stmt == 3, "owner back to session 1");

    /* the same session, another proxy statement of the same text */
    struct stmt_entry e3 = {.id = 4, .t = t, .n_params = 2};
    e3.types = malloc(4);
    memcpy(e3.types, types_b, 4);
    n = exec_payload(p, 4, 2, 0, NULL, vals, sizeof(vals));
    CHECK(run_exec(p, n, &e3, &sc, 1, &out, &q, &ql) == 0 && ql == n + 4 && q[11] == 1,
          "same session, other statement: types inserted");

    /* bound=0 and no types known yet: nothing to insert */
    struct stmt_entry e4 = {.id = 9, .t = t, .n_params = 2};
    n = exec_payload(p, 9, 2, 0, NULL, vals, sizeof(vals));
    CHECK(run_exec(p, n, &e4, &sc, 7, &out, &q, &ql) == 0 && ql == n && q[11] == 0,
          "no types known: passed through");

    /* nine parameters: a two-byte NULL bitmap */
    uint8_t types9[18], vals9[9];
    for (int i = 0; i < 9; i++) {
        types9[2 * i] = 0x01; /* TINY */
        types9[2 * i + 1] = 0x00;
        vals9[i] = (uint8_t)(0xf0 + i);
    }
    struct stmt_entry e9 = {.id = 2, .t = t, .n_params = 9};
    e9.types = malloc(18);
    memcpy(e9.types, types9, 18);
    n = exec_payload(p, 2, 9, 0, NULL, vals9, 9);
    CHECK(run_exec(p, n, &e9, &sc, 3, &out, &q, &ql) == 0, "9 params");
    wn = exec_payload(want, 0x0a0b0c0d, 9, 1, types9, vals9, 9);
    CHECK_MEM(q, ql, want, wn, "9 params: types inserted after a 2-byte bitmap");

    /* Shorter than the fixed head: -1 and nothing written (the session
     * answers ERR 1835 before it gets here). */
    struct stmt_entry em = {.id = 3, .t = t, .n_params = 2};
    n = exec_payload(p, 3, 2, 1, types_a, vals, sizeof(vals));
    static const size_t cuts[] = {0, 1, 5, 9};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        buf_free(&out);
        uint8_t *c = unit_dup(p, cuts[i]);
        int rc = stmt_write_execute(&out, c, cuts[i], &em, &sc, 1);
        CHECK(rc == -1 && out.len == 0, "execute cut to %zu bytes: rc %d, wrote %zu", cuts[i], rc,
              out.len);
        free(c);
    }
    /* A head but too few parameter bytes for the statement: sent as it is
     * with the server's id, so the server answers (ERR 1210) and the
     * session goes on. */
    static const size_t short_cuts[] = {10, 11, 12, 15};
    for (size_t i = 0; i < sizeof(short_cuts) / sizeof(short_cuts[0]); i++) {
        buf_free(&out);
        size_t k = short_cuts[i];
        uint8_t *c = unit_dup(p, k);
        int rc = stmt_write_execute(&out, c, k, &em, &sc, 1);
        CHECK(rc == 0 && out.len == PKT_HDR + k, "execute cut to %zu bytes: rc %d, wrote %zu", k, rc, out.len);
        if (rc == 0 && out.len == PKT_HDR + k) {
            CHECK(pkt_u32(out.data + PKT_HDR + 1) == sc.backend_id, "cut to %zu: server id", k);
            CHECK(memcmp(out.data + PKT_HDR + 5, c + 5, k - 5) == 0, "cut to %zu: rest unchanged", k);
        }
        free(c);
    }
    CHECK(em.types == NULL, "malformed execute records no types");
    CHECK(run_exec(p, 9, &e0, &sc, 1, &out, &q, &ql) == -1, "9 bytes without params");

    /* stmt_write_with_id: COM_STMT_CLOSE / RESET / SEND_LONG_DATA */
    buf_free(&out);
    CHECK(stmt_write_with_id(&out, (const uint8_t *)"\x19\x05\x00\x00\x00", 5, 0x11223344) == 0,
          "close with id");
    CHECK_MEM(out.data, out.len, "\x05\0\0\0\x19\x44\x33\x22\x11", 9, "close bytes");
    buf_free(&out);
    CHECK(stmt_write_with_id(&out, (const uint8_t *)"\x18\x05\x00\x00\x00\x01\x00" "data", 11, 7) == 0,
          "long data with id");
    CHECK_MEM(out.data, out.len, "\x0b\0\0\0\x18\x07\0\0\0\x01\x00" "data", 15, "long data bytes");
    buf_free(&out);
    CHECK(stmt_write_with_id(&out, (const uint8_t *)"\x19\x05\x00\x00", 4, 7) == -1 && out.len == 0,
          "4-byte close is malformed");

    free(e1.types);
    free(e2.types);
    free(e3.types);
    free(e4.types);
    free(e9.types);
    buf_free(&out);
    stmt_text_unref(t);
}

/* COM_STMT_BULK_EXECUTE: id replaced; types a client sent are recorded;
 * another session's bulk without types gets them inserted (flag set). */
static void test_bulk(void)
{
    struct stmt_text *t = text("INSERT INTO t VALUES (?, ?)", "app");
    struct stmt_cached sc = {.t = t, .backend_id = 0x01020304};
    struct stmt_entry e1 = {.id = 3, .t = t, .n_params = 2}, e2 = {.id = 9, .t = t, .n_params = 2};
    static const uint8_t types[] = {0x08, 0x00, 0xfe, 0x00};
    static const uint8_t rows[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'y'};
    uint8_t p[64], want[64];
    size_t n = 0;
    p[n++] = 0xfa;
    pkt_put_u32(p + n, 3);
    n += 4;
    pkt_put_u16(p + n, STMT_BULK_SEND_TYPES);
    n += 2;
    memcpy(p + n, types, sizeof(types));
    n += sizeof(types);
    memcpy(p + n, rows, sizeof(rows));
    n += sizeof(rows);
    struct rm_buf out = {0};
    CHECK(stmt_write_bulk(&out, p, n, &e1, &sc, 1) == 0, "bulk with types");
    memcpy(want, p, n);
    pkt_put_u32(want + 1, 0x01020304);
    CHECK_MEM(out.data + PKT_HDR, out.len - PKT_HDR, want, n, "bulk with types: id replaced only");
    CHECK(e1.types && memcmp(e1.types, types, 4) == 0 && sc.types_sess == 1 && sc.types_stmt == 3,
          "bulk types recorded");
    /* Session 2 sends the same statement without types, having bound them
     * before (e2.types): the server holds session 1's, so they go in. */
    e2.types = malloc(4);
    static const uint8_t types2[] = {0x03, 0x00, 0x0f, 0x00};
    memcpy(e2.types, types2, 4);
    size_t m = 0;
    p[m++] = 0xfa;
    pkt_put_u32(p + m, 9);
    m += 4;
    pkt_put_u16(p + m, 0);
    m += 2;
    memcpy(p + m, rows, sizeof(rows));
    m += sizeof(rows);
    buf_free(&out);
    CHECK(stmt_write_bulk(&out, p, m, &e2, &sc, 2) == 0, "bulk without types");
    size_t k = 0;
    want[k++] = 0xfa;
    pkt_put_u32(want + k, 0x01020304);
    k += 4;
    pkt_put_u16(want + k, STMT_BULK_SEND_TYPES);
    k += 2;
    memcpy(want + k, e2.types, 4);
    k += 4;
    memcpy(want + k, rows, sizeof(rows));
    k += sizeof(rows);
    CHECK_MEM(out.data + PKT_HDR, out.len - PKT_HDR, want, k, "bulk without types: session's types inserted");
    /* Too short for the types it announces: sent as it is. */
    buf_free(&out);
    CHECK(stmt_write_bulk(&out, want, 9, &e2, &sc, 2) == 0 && out.len == PKT_HDR + 9, "short bulk forwarded");
    CHECK(stmt_write_bulk(&out, want, 6, &e2, &sc, 2) == -1, "bulk without flags is malformed");
    buf_free(&out);
    free(e1.types);
    free(e2.types);
    stmt_text_unref(t);
}

/* Rewritten commands of 16 MiB and more are split again at 16 MiB - 1,
 * with the headers the protocol wants and the data intact. */
static void test_large_rewrite(void)
{
    static const size_t sizes[] = {PKT_MAX_PAYLOAD - 1, PKT_MAX_PAYLOAD, PKT_MAX_PAYLOAD + 1,
                                   2 * (size_t)PKT_MAX_PAYLOAD + 3};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        uint8_t *p = malloc(n);
        for (size_t k = 0; k < n; k++)
            p[k] = (uint8_t)(k * 131 + 7);
        p[0] = 0x18; /* COM_STMT_SEND_LONG_DATA id 5 */
        pkt_put_u32(p + 1, 5);
        struct rm_buf out = {0};
        CHECK(stmt_write_with_id(&out, p, n, 0x01020304) == 0, "%zu bytes: written", n);
        /* Walk the packets: each full one is 16 MiB - 1, sequence ids count
         * up from 0, and the payloads joined equal p with the new id. */
        size_t off = 0, at = 0;
        uint8_t seq = 0;
        bool ok = true;
        for (;;) {
            if (out.len - off < PKT_HDR) {
                ok = false;
                break;
            }
            size_t plen = pkt_u24(out.data + off);
            if (out.data[off + 3] != seq++ || off + PKT_HDR + plen > out.len) {
                ok = false;
                break;
            }
            for (size_t k = 0; k < plen && ok; k++) {
                uint8_t want = at + k >= 1 && at + k < 5 ? (uint8_t)(0x01020304u >> (8 * (at + k - 1))) : p[at + k];
                ok = out.data[off + PKT_HDR + k] == want;
            }
            at += plen;
            off += PKT_HDR + plen;
            if (plen < PKT_MAX_PAYLOAD)
                break;
        }
        CHECK(ok && at == n && off == out.len, "%zu bytes: re-split payload differs (at %zu, off %zu of %zu)", n,
              at, off, out.len);
        CHECK(seq == n / PKT_MAX_PAYLOAD + 1, "%zu bytes: %u packets", n, seq);
        buf_free(&out);
        free(p);
    }
}

int main(void)
{
    test_large_rewrite();
    test_bulk();
    test_text();
    test_registry();
    test_cache();
    test_execute();
    return unit_summary();
}
