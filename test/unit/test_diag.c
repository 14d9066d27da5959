/* Unit tests for src/diag.c (the diagnostics hold, yield and stash) and
 * src/proto/resultset.c (proxy-authored result sets): no ring, no server. */
#include "ringmux/diag.h"
#include "ringmux/packet.h"
#include "ringmux/resultset.h"

#include "unit.h"

#include <stdlib.h>
#include <string.h>

/* Walk the packets of out: count them and check sequence ids 1, 2, ... */
static int walk(const struct rm_buf *out, const uint8_t **last, size_t *last_len)
{
    size_t off = 0;
    int n = 0;
    while (off + PKT_HDR <= out->len) {
        size_t plen = pkt_u24(out->data + off);
        CHECK(out->data[off + 3] == (uint8_t)(n + 1), "packet %d has sequence id %u", n, out->data[off + 3]);
        *last = out->data + off + PKT_HDR;
        *last_len = plen;
        off += PKT_HDR + plen;
        n++;
    }
    CHECK(off == out->len, "packets end at the buffer's end (%zu of %zu)", off, out->len);
    return n;
}

static void test_resultset(void)
{
    struct rs_column col = {.name = "x", .name_len = 1, .charset = 63, .length = 10, .type = 3, .flags = 0xa1};
    const char *v = "42";
    size_t vl = 2;
    const uint8_t *last;
    size_t ll;
    for (int deprecate = 0; deprecate < 2; deprecate++)
        for (int ext = 0; ext < 2; ext++) {
            struct rm_buf out = {0};
            struct rs_writer w;
            rs_begin(&w, &out, CLIENT_PROTOCOL_41 | (deprecate ? CLIENT_DEPRECATE_EOF : 0),
                     ext ? MARIADB_CLIENT_EXTENDED_METADATA : 0, SERVER_STATUS_AUTOCOMMIT);
            rs_columns(&w, &col, 1);
            rs_text_row(&w, &v, &vl, 1);
            rs_end(&w, 3);
            /* count, column, [EOF], row, terminator */
            int n = walk(&out, &last, &ll);
            CHECK(n == (deprecate ? 4 : 5), "deprecate %d ext %d: %d packets", deprecate, ext, n);
            CHECK(last[0] == 0xfe, "terminator header 0xfe");
            if (!deprecate)
                CHECK(ll == 5 && pkt_u16(last + 1) == 3 && pkt_u16(last + 3) == SERVER_STATUS_AUTOCOMMIT,
                      "EOF with warnings and status");
            /* the column definition: "def", 4 empty/x strings, [ext], 0x0c block */
            const uint8_t *c = out.data + PKT_HDR + 1 + PKT_HDR;
            size_t clen = pkt_u24(out.data + PKT_HDR + 1);
            CHECK(clen == (size_t)(4 + 1 + 1 + 1 + 2 + 1 + (ext ? 1 : 0) + 13), "column length %zu (ext %d)", clen, ext);
            CHECK(c[clen - 13] == 0x0c && c[clen - 6] == 3, "fixed block and type");
            buf_free(&out);
        }
}

/* A captured SHOW WARNINGS (no DEPRECATE_EOF): count, 3 columns, EOF, a
 * row, then the terminator given separately. */
static void stash_show_warnings(struct sess_diag *d)
{
    struct rm_buf cap = {0};
    struct rs_writer w;
    struct rs_column cols[3] = {{.name = "Level", .name_len = 5, .charset = 33, .length = 21, .type = 253},
                                {.name = "Code", .name_len = 4, .charset = 63, .length = 4, .type = 3},
                                {.name = "Message", .name_len = 7, .charset = 33, .length = 1536, .type = 253}};
    const char *vals[3] = {"Warning", "1292", "Truncated"};
    size_t lens[3] = {7, 4, 9};
    rs_begin(&w, &cap, CLIENT_PROTOCOL_41, 0, SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT);
    rs_columns(&w, cols, 3);
    rs_text_row(&w, vals, lens, 3);
    rs_end(&w, 1);
    diag_stash_begin(d);
    size_t off = 0;
    while (off < cap.len) {
        size_t plen = pkt_u24(cap.data + off);
        bool done = off + PKT_HDR + plen == cap.len;
        diag_stash_packet(d, cap.data + off, plen, done, CLIENT_PROTOCOL_41, CLIENT_PROTOCOL_41);
        off += PKT_HDR + plen;
    }
    buf_free(&cap);
}

static void test_hold_and_stash(void)
{
    struct sess_diag d = {0};
    /* A warning: hold, softly; a plain statement with a hard reason too. */
    CHECK(diag_after_response(&d, false, 1, false, false) && d.held && d.soft && d.left == DIAG_HOLD_STATEMENTS,
          "warning: soft hold");
    CHECK(diag_after_response(&d, true, 0, false, true) && d.held && !d.soft, "error with a hard reason: hard hold");
    /* Through DIAG_HOLD_STATEMENTS table-less statements, SHOW WARNINGS free. */
    diag_after_response(&d, false, 1, false, false);
    diag_before_command(&d, true, true);
    CHECK(diag_after_response(&d, false, 0, true, false) && d.left == DIAG_HOLD_STATEMENTS, "SHOW WARNINGS is free");
    for (int i = 0; i < DIAG_HOLD_STATEMENTS; i++) {
        diag_before_command(&d, true, true);
        CHECK(diag_after_response(&d, false, 0, false, false), "table-less statement %d keeps the hold", i);
    }
    diag_before_command(&d, true, true);
    CHECK(!diag_after_response(&d, false, 0, false, false) && !d.held, "hold used up");
    /* A statement using a table ends it at once. */
    diag_after_response(&d, false, 1, false, false);
    diag_before_command(&d, true, false);
    CHECK(!diag_after_response(&d, false, 0, false, false), "a table statement ends the hold");

    /* The stash: answered renumbered, with the session's transaction bits. */
    diag_after_response(&d, false, 1, false, false);
    stash_show_warnings(&d);
    diag_stash_end(&d, true);
    CHECK(diag_has_stash(&d) && !d.held && d.stash_warnings == 1, "stashed, hold over");
    struct rm_buf out = {0};
    CHECK(!diag_answer(&d, "SHOW ERRORS", 11, &out, CLIENT_PROTOCOL_41, 0, 0) && out.len == 0,
          "only SHOW WARNINGS is answered");
    CHECK(diag_answer(&d, "show warnings ;", 15, &out, CLIENT_PROTOCOL_41, 0, SERVER_STATUS_AUTOCOMMIT),
          "SHOW WARNINGS answered");
    const uint8_t *last;
    size_t ll;
    CHECK(walk(&out, &last, &ll) == 7, "count, 3 columns, EOF, row, EOF");
    CHECK(ll == 5 && last[0] == 0xfe && pkt_u16(last + 1) == 1 &&
              (pkt_u16(last + 3) & (SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT)) == SERVER_STATUS_AUTOCOMMIT,
          "terminator: the stash's warnings, the session's transaction bits");
    buf_free(&out);
    /* A table-less statement keeps the stash, one with a table drops it. */
    diag_before_command(&d, false, true);
    CHECK(diag_has_stash(&d), "table-less statement keeps the stash");
    diag_before_command(&d, false, false);
    CHECK(!diag_has_stash(&d), "a table statement drops the stash");
    /* Too large: nothing stashed. */
    diag_stash_begin(&d);
    uint8_t *big = calloc(1, PKT_HDR + DIAG_STASH_MAX);
    pkt_put_u24(big, DIAG_STASH_MAX);
    diag_stash_packet(&d, big, DIAG_STASH_MAX, false, CLIENT_PROTOCOL_41, CLIENT_PROTOCOL_41);
    diag_stash_end(&d, true);
    CHECK(!diag_has_stash(&d), "an oversized SHOW WARNINGS is not stashed");
    free(big);
    diag_free(&d);
}

int main(void)
{
    test_resultset();
    test_hold_and_stash();
    return unit_summary();
}
