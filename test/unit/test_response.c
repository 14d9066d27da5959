/* Unit tests for src/proto/response.c, the response tracker.
 *
 * Packets are built by hand as a server sends them and fed the way
 * src/pool.c does: a packet the tracker does not need whole is fed as its
 * first byte only (n = 1, plen = real length); whole packets with n = plen.
 * Each whole packet is an exact-size heap copy, so ASan sees any read past
 * its end. */
#include "ringmux/response.h"

#include "ringmux/packet.h"
#include "unit.h"

/* Feed one packet (payload p, len bytes) as the backend side does. */
static enum resp_event feed(struct rm_resp *r, const void *p, size_t len)
{
    const uint8_t *b = p;
    if (len > 0 && !resp_needs_whole(r, b[0], (uint32_t)len)) {
        uint8_t first = b[0];
        return resp_feed(r, &first, 1, (uint32_t)len);
    }
    uint8_t *c = unit_dup(p, len);
    enum resp_event ev = resp_feed(r, c, len, (uint32_t)len);
    free(c);
    return ev;
}

/* Feed the header of a packet too large to build (plen up to 16 MiB - 1)
 * whose payload starts with `first`: the tracker must stream it. */
static enum resp_event feed_big(struct rm_resp *r, uint8_t first, uint32_t plen)
{
    CHECK(!resp_needs_whole(r, first, plen), "a %u-byte packet starting 0x%02x must be streamed",
          plen, first);
    return resp_feed(r, &first, 1, plen);
}

static const char *ev_str(enum resp_event e)
{
    static const char *const s[] = {"NONE", "RESULT_END", "DONE", "INFILE", "BAD"};
    return (unsigned)e < 5 ? s[e] : "?";
}

#define EXPECT(ev, want, what)                                                                     \
    do {                                                                                           \
        enum resp_event e_ = (ev);                                                                 \
        CHECK(e_ == (want), "%s: event %s, want %s", what, ev_str(e_), ev_str(want));              \
    } while (0)

/* ---- packets ------------------------------------------------------------- */

static const uint8_t OK_PLAIN[] = {0x00, 0x05, 0xfc, 0x00, 0x01, 0x02, 0x00, 0x01, 0x00};
/* OK with session track: info "", a schema change, SERVER_SESSION_STATE_CHANGED */
static const uint8_t OK_TRACK[] = {0x00, 0x01, 0x00, 0x02, 0x40, 0x00, 0x00, 0x00,
                                   0x06, 0x01, 0x04, 0x03, 'd', 'b', '1'};
static const uint8_t ERR_NOTABLE[] = {0xff, 0x7a, 0x04, '#', '4', '2', 'S', '0', '2',
                                      'n', 'o', ' ', 't', 'a', 'b', 'l', 'e'};
static const uint8_t ERR_KILLED[] = {0xff, 0x16, 0x05, '#', '7', '0', '1', '0', '0', 'k', 'i', 'l', 'l'};
static const uint8_t EOF_22[] = {0xfe, 0x00, 0x00, 0x22, 0x00};
static const uint8_t EOF_MORE[] = {0xfe, 0x01, 0x00, 0x0a, 0x00}; /* warnings 1, MORE_RESULTS | AUTOCOMMIT */
/* OK-as-EOF (CLIENT_DEPRECATE_EOF terminators) */
static const uint8_t OKEOF_22[] = {0xfe, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00};
static const uint8_t OKEOF_MORE[] = {0xfe, 0x00, 0x00, 0x0a, 0x00, 0x02, 0x00};
static const uint8_t COUNT_2[] = {0x02};
static const uint8_t COUNT_1[] = {0x01};
/* A column definition (Protocol::ColumnDefinition41) for `a` INT. */
static const uint8_t COLDEF_A[] = {3,    'd', 'e', 'f', 4, 't', 'e', 's', 't', 1, 't', 1, 't',
                                   1,    'a', 1,   'a', 0x0c, 0x3f, 0x00, 0x0b, 0x00, 0x00, 0x00,
                                   0x03, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t COLDEF_B[] = {3,    'd', 'e', 'f', 4, 't', 'e', 's', 't', 1, 't', 1, 't',
                                   1,    'b', 1,   'b', 0x0c, 0x2d, 0x00, 0x40, 0x00, 0x00, 0x00,
                                   0xfd, 0x00, 0x00, 0x00, 0x00, 0x00};
/* Text rows; the second starts with NULL (0xFB), the third with an empty
 * string (0x00): neither is a terminator. */
static const uint8_t ROW_1[] = {0x01, '1', 0x01, 'a'};
static const uint8_t ROW_NULL[] = {0xfb, 0x01, 'b'};
static const uint8_t ROW_EMPTY[] = {0x00, 0x01, 'c'};
/* Binary rows: header 0x00, NULL bitmap, values; look like OK packets. */
static const uint8_t BROW_1[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 'a'};
static const uint8_t BROW_2[] = {0x00, 0x08, 0x02, 0x00, 0x00, 0x00};
/* Prepare-OK: status, stmt id, columns, params, filler, warnings. */
static void prep_ok(uint8_t out[12], uint16_t cols, uint16_t params, uint16_t warnings)
{
    out[0] = 0x00;
    pkt_put_u32(out + 1, 77);
    pkt_put_u16(out + 5, cols);
    pkt_put_u16(out + 7, params);
    out[9] = 0;
    pkt_put_u16(out + 10, warnings);
}

static void start(struct rm_resp *r, enum resp_kind kind, bool deprecate_eof, bool track)
{
    memset(r, 0, sizeof(*r));
    r->deprecate_eof = deprecate_eof;
    r->session_track = track;
    resp_start(r, kind);
}

/* ---- simple responses ---------------------------------------------------- */

static void test_ok_err(void)
{
    struct rm_resp r;
    for (int dep = 0; dep < 2; dep++) {
        start(&r, RK_QUERY, dep, false);
        CHECK(r.phase == RP_FIRST, "query starts in RP_FIRST");
        CHECK(resp_needs_whole(&r, 0x00, sizeof(OK_PLAIN)), "OK is needed whole");
        EXPECT(feed(&r, OK_PLAIN, sizeof(OK_PLAIN)), RE_DONE, "query -> OK");
        CHECK(r.phase == RP_IDLE && !r.is_err && !r.had_resultset, "OK: idle, no error");
        CHECK(r.affected_rows == 5 && r.insert_id == 256 && r.status == 2 && r.warnings == 1,
              "OK fields: affected %" PRIu64 " insert %" PRIu64 " status %u warnings %u",
              r.affected_rows, r.insert_id, r.status, r.warnings);

        start(&r, RK_QUERY, dep, false);
        CHECK(resp_needs_whole(&r, 0xff, sizeof(ERR_NOTABLE)), "ERR is needed whole");
        EXPECT(feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE)), RE_DONE, "query -> ERR");
        CHECK(r.is_err && r.phase == RP_IDLE, "ERR: is_err, idle");
    }
    /* with session tracking */
    start(&r, RK_QUERY, true, true);
    EXPECT(feed(&r, OK_TRACK, sizeof(OK_TRACK)), RE_DONE, "query -> OK with state");
    CHECK(r.status == (SERVER_SESSION_STATE_CHANGED | SERVER_STATUS_AUTOCOMMIT) &&
              r.affected_rows == 1,
          "tracked OK fields");
    /* a truncated OK is a protocol violation */
    start(&r, RK_QUERY, false, false);
    EXPECT(feed(&r, OK_PLAIN, 4), RE_BAD, "truncated OK");
    start(&r, RK_OK, false, true);
    EXPECT(feed(&r, OK_TRACK, sizeof(OK_TRACK) - 1), RE_BAD, "OK with truncated state");

    /* RK_OK commands (COM_PING, COM_INIT_DB, ...) */
    start(&r, RK_OK, false, false);
    EXPECT(feed(&r, OK_PLAIN, sizeof(OK_PLAIN)), RE_DONE, "ping -> OK");
    start(&r, RK_OK, false, false);
    EXPECT(feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE)), RE_DONE, "init_db -> ERR");
    CHECK(r.is_err, "init_db ERR");
    start(&r, RK_OK, false, false);
    EXPECT(feed(&r, COUNT_1, 1), RE_BAD, "ping -> result set is a violation");
}

/* ---- result sets --------------------------------------------------------- */

static void result_2x3(struct rm_resp *r, bool dep, const uint8_t *term, size_t tlen,
                       enum resp_event want_end)
{
    EXPECT(feed(r, COUNT_2, 1), RE_NONE, "column count");
    CHECK(r->phase == RP_COLDEFS && r->left == 2, "coldefs phase, 2 left");
    EXPECT(feed(r, COLDEF_A, sizeof(COLDEF_A)), RE_NONE, "coldef a");
    EXPECT(feed(r, COLDEF_B, sizeof(COLDEF_B)), RE_NONE, "coldef b");
    if (!dep) {
        CHECK(r->phase == RP_COLDEFS_EOF, "waiting for the EOF after coldefs");
        EXPECT(feed(r, EOF_22, sizeof(EOF_22)), RE_NONE, "EOF after coldefs");
    }
    CHECK(r->phase == RP_ROWS, "rows phase (phase %d)", r->phase);
    CHECK(!resp_needs_whole(r, ROW_1[0], sizeof(ROW_1)), "rows are streamed");
    EXPECT(feed(r, ROW_1, sizeof(ROW_1)), RE_NONE, "row 1");
    EXPECT(feed(r, ROW_NULL, sizeof(ROW_NULL)), RE_NONE, "row starting with NULL");
    EXPECT(feed(r, ROW_EMPTY, sizeof(ROW_EMPTY)), RE_NONE, "row starting with ''");
    CHECK(r->rows == 3, "3 rows counted");
    CHECK(resp_needs_whole(r, term[0], (uint32_t)tlen), "terminator needed whole");
    EXPECT(feed(r, term, tlen), want_end, "terminator");
    CHECK(r->had_resultset && r->last_rows == 3, "last_rows %" PRIu64, r->last_rows);
}

static void test_resultset(void)
{
    struct rm_resp r;
    start(&r, RK_QUERY, false, false);
    result_2x3(&r, false, EOF_22, sizeof(EOF_22), RE_DONE);
    CHECK(r.status == 0x22 && r.warnings == 0 && r.phase == RP_IDLE && !r.is_err, "EOF status");

    start(&r, RK_QUERY, true, true);
    result_2x3(&r, true, OKEOF_22, sizeof(OKEOF_22), RE_DONE);
    CHECK(r.status == 0x22 && r.phase == RP_IDLE, "OK-EOF status");

    /* under DEPRECATE_EOF a classic 5-byte EOF is too short for an OK */
    start(&r, RK_QUERY, true, false);
    feed(&r, COUNT_1, 1);
    feed(&r, COLDEF_A, sizeof(COLDEF_A));
    EXPECT(feed(&r, EOF_22, sizeof(EOF_22)), RE_BAD, "EOF where OK-EOF is due");

    /* the EOF after the coldefs must be an EOF */
    start(&r, RK_QUERY, false, false);
    feed(&r, COUNT_1, 1);
    feed(&r, COLDEF_A, sizeof(COLDEF_A));
    EXPECT(feed(&r, ROW_1, sizeof(ROW_1)), RE_BAD, "row where the coldefs' EOF is due");

    /* column count 0 or malformed */
    start(&r, RK_QUERY, false, false);
    EXPECT(feed(&r, "\xfc\x01", 2), RE_BAD, "truncated lenenc column count");
    /* a large column count in lenenc */
    start(&r, RK_QUERY, true, false);
    EXPECT(feed(&r, "\xfc\x2c\x01", 3), RE_NONE, "300 columns");
    CHECK(r.left == 300, "300 coldefs to go");
    for (int i = 0; i < 299; i++)
        feed(&r, COLDEF_A, sizeof(COLDEF_A));
    CHECK(r.phase == RP_COLDEFS, "still in coldefs after 299");
    feed(&r, COLDEF_A, sizeof(COLDEF_A));
    CHECK(r.phase == RP_ROWS, "rows after 300 coldefs");

    /* empty result set */
    start(&r, RK_QUERY, false, false);
    feed(&r, COUNT_1, 1);
    feed(&r, COLDEF_A, sizeof(COLDEF_A));
    feed(&r, EOF_22, sizeof(EOF_22));
    EXPECT(feed(&r, EOF_22, sizeof(EOF_22)), RE_DONE, "no rows");
    CHECK(r.had_resultset && r.last_rows == 0, "0 rows");

    /* ERR in the middle of the rows (e.g. the query was killed) */
    for (int dep = 0; dep < 2; dep++) {
        start(&r, RK_QUERY, dep, false);
        feed(&r, COUNT_2, 1);
        feed(&r, COLDEF_A, sizeof(COLDEF_A));
        feed(&r, COLDEF_B, sizeof(COLDEF_B));
        if (!dep)
            feed(&r, EOF_22, sizeof(EOF_22));
        EXPECT(feed(&r, ROW_1, sizeof(ROW_1)), RE_NONE, "row before ERR");
        CHECK(resp_needs_whole(&r, 0xff, sizeof(ERR_KILLED)), "ERR in rows needed whole");
        EXPECT(feed(&r, ERR_KILLED, sizeof(ERR_KILLED)), RE_DONE, "ERR mid-rows");
        CHECK(r.is_err && r.phase == RP_IDLE, "ERR mid-rows: is_err");
        EXPECT(feed(&r, ROW_1, sizeof(ROW_1)), RE_BAD, "a row after the response ended");
    }
}

static void test_multi_result(void)
{
    struct rm_resp r;
    /* SELECT ...; SELECT ...; UPDATE ... */
    start(&r, RK_QUERY, false, false);
    result_2x3(&r, false, EOF_MORE, sizeof(EOF_MORE), RE_RESULT_END);
    CHECK(r.phase == RP_FIRST && r.rows == 0 && r.status == 0x0a && r.warnings == 1,
          "after RESULT_END: first phase, status");
    result_2x3(&r, false, EOF_MORE, sizeof(EOF_MORE), RE_RESULT_END);
    EXPECT(feed(&r, OK_PLAIN, sizeof(OK_PLAIN)), RE_DONE, "final OK");
    CHECK(r.affected_rows == 5 && r.status == 2 && !r.had_resultset && r.phase == RP_IDLE,
          "final OK fields");

    /* with DEPRECATE_EOF */
    start(&r, RK_QUERY, true, false);
    result_2x3(&r, true, OKEOF_MORE, sizeof(OKEOF_MORE), RE_RESULT_END);
    CHECK(r.warnings == 2, "OK-EOF warnings");
    EXPECT(feed(&r, OK_PLAIN, sizeof(OK_PLAIN)), RE_DONE, "final OK (deprecate)");

    /* OK with MORE_RESULTS, then a result set (CALL proc) */
    static const uint8_t OK_MORE[] = {0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00};
    start(&r, RK_QUERY, false, false);
    EXPECT(feed(&r, OK_MORE, sizeof(OK_MORE)), RE_RESULT_END, "OK with MORE_RESULTS");
    result_2x3(&r, false, EOF_22, sizeof(EOF_22), RE_DONE);

    /* the second statement fails */
    start(&r, RK_QUERY, false, false);
    EXPECT(feed(&r, OK_MORE, sizeof(OK_MORE)), RE_RESULT_END, "first OK");
    EXPECT(feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE)), RE_DONE, "second ERR");
    CHECK(r.is_err, "multi: is_err");

    /* MORE_RESULTS on a command that has no further results ends it anyway */
    start(&r, RK_OK, false, false);
    EXPECT(feed(&r, OK_MORE, sizeof(OK_MORE)), RE_DONE, "RK_OK ignores MORE_RESULTS");
}

static void test_infile(void)
{
    struct rm_resp r;
    static const uint8_t req[] = {0xfb, '/', 't', 'm', 'p', '/', 'd', '.', 'c', 's', 'v'};
    static const uint8_t ok3[] = {0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00};
    start(&r, RK_QUERY, false, false);
    CHECK(resp_needs_whole(&r, 0xfb, sizeof(req)), "LOCAL INFILE request needed whole");
    EXPECT(feed(&r, req, sizeof(req)), RE_INFILE, "LOCAL INFILE request");
    CHECK(r.phase == RP_INFILE, "infile phase");
    resp_infile_sent(&r);
    CHECK(r.phase == RP_FIRST, "back to first after the file");
    EXPECT(feed(&r, ok3, sizeof(ok3)), RE_DONE, "OK after the file");
    CHECK(r.affected_rows == 3, "3 rows loaded");

    /* the backend must not talk while the client sends the file */
    start(&r, RK_QUERY, false, false);
    feed(&r, req, sizeof(req));
    EXPECT(feed(&r, ok3, sizeof(ok3)), RE_BAD, "packet during infile");
    /* the file was refused: ERR after it */
    start(&r, RK_QUERY, false, false);
    feed(&r, req, sizeof(req));
    resp_infile_sent(&r);
    EXPECT(feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE)), RE_DONE, "ERR after the file");
    CHECK(r.is_err, "infile ERR");
    /* COM_STMT_EXECUTE has no LOCAL INFILE: 0xFB is a NULL column count */
    start(&r, RK_EXECUTE, false, false);
    EXPECT(feed(&r, req, sizeof(req)), RE_BAD, "0xFB to an EXECUTE");
}

/* A row of 16 MiB or more arrives as a full packet and continuations; a
 * continuation's first byte is data, whatever its value. */
static void test_huge_rows(void)
{
    struct rm_resp r;
    for (int dep = 0; dep < 2; dep++) {
        const uint8_t *term = dep ? OKEOF_22 : EOF_22;
        size_t tlen = dep ? sizeof(OKEOF_22) : sizeof(EOF_22);
        static const uint8_t firsts[] = {0xfe, 0xff, 0x00, 0xfb};
        for (size_t f = 0; f < sizeof(firsts); f++) {
            start(&r, RK_QUERY, dep, false);
            feed(&r, COUNT_1, 1);
            feed(&r, COLDEF_B, sizeof(COLDEF_B));
            if (!dep)
                feed(&r, EOF_22, sizeof(EOF_22));
            EXPECT(feed(&r, ROW_1, sizeof(ROW_1)), RE_NONE, "small row");
            /* a 0x1000005-byte value: lenenc 0xFE + 8 bytes, so the row
             * packet starts with 0xFE and is 16 MiB - 1 long */
            EXPECT(feed_big(&r, 0xfe, PKT_MAX_PAYLOAD), RE_NONE, "huge row, first packet");
            CHECK(r.continuation, "continuation expected");
            /* the continuation: short, starting with a terminator-like byte */
            EXPECT(feed_big(&r, firsts[f], 5 + 9 + 1), RE_NONE, "continuation");
            CHECK(!r.continuation && r.rows == 2, "huge row counted once: rows %" PRIu64, r.rows);
            EXPECT(feed(&r, ROW_NULL, sizeof(ROW_NULL)), RE_NONE, "small row after the huge one");
            /* a row of exactly 2 x (16 MiB - 1): two full packets, then empty */
            EXPECT(feed_big(&r, 0xfe, PKT_MAX_PAYLOAD), RE_NONE, "2x row, packet 1");
            EXPECT(feed_big(&r, firsts[f], PKT_MAX_PAYLOAD), RE_NONE, "2x row, packet 2");
            EXPECT(feed(&r, "", 0), RE_NONE, "2x row, empty last packet");
            CHECK(!r.continuation, "continuation over");
            EXPECT(feed(&r, term, tlen), RE_DONE, "terminator after huge rows");
            CHECK(r.last_rows == 4, "huge rows: last_rows %" PRIu64, r.last_rows);
        }
    }
    /* with DEPRECATE_EOF, a first packet of 16 MiB - 1 starting with 0xFE
     * is a row, never the OK terminator */
    start(&r, RK_QUERY, true, false);
    feed(&r, COUNT_1, 1);
    feed(&r, COLDEF_B, sizeof(COLDEF_B));
    CHECK(!resp_needs_whole(&r, 0xfe, PKT_MAX_PAYLOAD), "0xFE row of max size streamed");
    CHECK(resp_needs_whole(&r, 0xfe, PKT_MAX_PAYLOAD - 1), "0xFE below max size is an OK");
    /* without it, 0xFE with 9 bytes or more is a row */
    start(&r, RK_QUERY, false, false);
    feed(&r, COUNT_1, 1);
    feed(&r, COLDEF_B, sizeof(COLDEF_B));
    feed(&r, EOF_22, sizeof(EOF_22));
    CHECK(!resp_needs_whole(&r, 0xfe, 9), "0xFE with 9 bytes is a row");
    CHECK(resp_needs_whole(&r, 0xfe, 8), "0xFE with 8 bytes is an EOF");
    /* a big first packet of a text protocol answer */
    start(&r, RK_STATISTICS, false, false);
    EXPECT(feed_big(&r, 'U', 100000), RE_DONE, "big statistics string");
}

/* ---- prepared statements ------------------------------------------------- */

static void prepare_case(bool dep, uint16_t params, uint16_t cols)
{
    struct rm_resp r;
    uint8_t ok[12];
    char what[64];
    snprintf(what, sizeof(what), "prepare %s params %u cols %u", dep ? "deprecate" : "classic",
             params, cols);
    prep_ok(ok, cols, params, 3);
    start(&r, RK_PREPARE, dep, false);
    enum resp_event want_ok = params || cols ? RE_NONE : RE_DONE;
    EXPECT(feed(&r, ok, sizeof(ok)), want_ok, what);
    CHECK(r.warnings == 3, "%s: warnings", what);
    for (uint16_t i = 0; i < params; i++) {
        bool last = i + 1 == params && cols == 0 && dep;
        EXPECT(feed(&r, COLDEF_A, sizeof(COLDEF_A)), last ? RE_DONE : RE_NONE, what);
    }
    if (params && !dep) {
        CHECK(r.phase == RP_PREP_PARAMS_EOF, "%s: params EOF due", what);
        EXPECT(feed(&r, EOF_22, sizeof(EOF_22)), cols ? RE_NONE : RE_DONE, what);
    }
    for (uint16_t i = 0; i < cols; i++) {
        bool last = i + 1 == cols && dep;
        EXPECT(feed(&r, COLDEF_B, sizeof(COLDEF_B)), last ? RE_DONE : RE_NONE, what);
    }
    if (cols && !dep) {
        CHECK(r.phase == RP_PREP_COLS_EOF, "%s: cols EOF due", what);
        EXPECT(feed(&r, EOF_22, sizeof(EOF_22)), RE_DONE, what);
    }
    CHECK(r.phase == RP_IDLE && !r.is_err, "%s: idle", what);
    EXPECT(feed(&r, EOF_22, sizeof(EOF_22)), RE_BAD, "packet after the prepare response");
}

static void test_prepare(void)
{
    for (int dep = 0; dep < 2; dep++) {
        prepare_case(dep, 2, 3);
        prepare_case(dep, 2, 0);
        prepare_case(dep, 0, 3);
        prepare_case(dep, 0, 0);
        prepare_case(dep, 1, 1);
    }
    struct rm_resp r;
    start(&r, RK_PREPARE, false, false);
    EXPECT(feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE)), RE_DONE, "prepare -> ERR");
    CHECK(r.is_err, "prepare ERR");
    uint8_t ok[12];
    prep_ok(ok, 1, 1, 0);
    start(&r, RK_PREPARE, false, false);
    EXPECT(feed(&r, ok, 11), RE_BAD, "short prepare-OK");
    start(&r, RK_PREPARE, false, false);
    EXPECT(feed(&r, COUNT_1, 1), RE_BAD, "result set to a prepare");
    /* the params' EOF must be an EOF */
    start(&r, RK_PREPARE, false, false);
    feed(&r, ok, sizeof(ok));
    feed(&r, COLDEF_A, sizeof(COLDEF_A));
    EXPECT(feed(&r, COLDEF_A, sizeof(COLDEF_A)), RE_BAD, "coldef where the params' EOF is due");
}

static void test_execute(void)
{
    struct rm_resp r;
    for (int dep = 0; dep < 2; dep++) {
        start(&r, RK_EXECUTE, dep, false);
        feed(&r, COUNT_2, 1);
        feed(&r, COLDEF_A, sizeof(COLDEF_A));
        feed(&r, COLDEF_B, sizeof(COLDEF_B));
        if (!dep)
            EXPECT(feed(&r, EOF_22, sizeof(EOF_22)), RE_NONE, "EOF after coldefs");
        CHECK(!resp_needs_whole(&r, 0x00, sizeof(BROW_1)), "binary row streamed");
        EXPECT(feed(&r, BROW_1, sizeof(BROW_1)), RE_NONE, "binary row 1 (0x00 is not OK)");
        EXPECT(feed(&r, BROW_2, sizeof(BROW_2)), RE_NONE, "binary row 2");
        CHECK(r.phase == RP_ROWS && r.rows == 2, "still in rows");
        const uint8_t *term = dep ? OKEOF_22 : EOF_22;
        EXPECT(feed(&r, term, dep ? sizeof(OKEOF_22) : sizeof(EOF_22)), RE_DONE, "execute end");
        CHECK(r.last_rows == 2 && r.status == 0x22, "execute: 2 rows");
    }
    /* an execute that writes */
    start(&r, RK_EXECUTE, false, false);
    EXPECT(feed(&r, OK_PLAIN, sizeof(OK_PLAIN)), RE_DONE, "execute -> OK");
    CHECK(r.affected_rows == 5 && r.insert_id == 256, "execute OK fields");
    /* a procedure call: results then the final OK */
    start(&r, RK_EXECUTE, false, false);
    feed(&r, COUNT_1, 1);
    feed(&r, COLDEF_A, sizeof(COLDEF_A));
    feed(&r, EOF_22, sizeof(EOF_22));
    feed(&r, BROW_1, sizeof(BROW_1));
    EXPECT(feed(&r, EOF_MORE, sizeof(EOF_MORE)), RE_RESULT_END, "execute: more results");
    EXPECT(feed(&r, OK_PLAIN, sizeof(OK_PLAIN)), RE_DONE, "execute: final OK");
    /* a cursor: the EOF after the coldefs carries CURSOR_EXISTS, rows come
     * through COM_STMT_FETCH */
    static const uint8_t EOF_CURSOR[] = {0xfe, 0x00, 0x00, 0x42, 0x00};
    start(&r, RK_EXECUTE, false, false);
    feed(&r, COUNT_1, 1);
    feed(&r, COLDEF_A, sizeof(COLDEF_A));
    EXPECT(feed(&r, EOF_CURSOR, sizeof(EOF_CURSOR)), RE_DONE, "cursor opened");
    static const uint8_t EOF_LAST[] = {0xfe, 0x00, 0x00, 0xc2, 0x00};
    start(&r, RK_FETCH, false, false);
    CHECK(r.phase == RP_ROWS, "fetch starts in rows");
    EXPECT(feed(&r, BROW_1, sizeof(BROW_1)), RE_NONE, "fetched row");
    EXPECT(feed(&r, EOF_LAST, sizeof(EOF_LAST)), RE_DONE, "fetch end");
    CHECK(r.status == 0xc2 && r.last_rows == 1, "fetch status LAST_ROW_SENT");
    start(&r, RK_FETCH, false, false);
    EXPECT(feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE)), RE_DONE, "fetch -> ERR");
    CHECK(r.is_err, "fetch ERR");
}

/* ---- other commands ------------------------------------------------------ */

static void test_other_commands(void)
{
    struct rm_resp r;
    /* COM_FIELD_LIST: column definitions then EOF (or OK-EOF) */
    for (int dep = 0; dep < 2; dep++) {
        start(&r, RK_FIELD_LIST, dep, false);
        EXPECT(feed(&r, COLDEF_A, sizeof(COLDEF_A)), RE_NONE, "field list coldef a");
        EXPECT(feed(&r, COLDEF_B, sizeof(COLDEF_B)), RE_NONE, "field list coldef b");
        const uint8_t *term = dep ? OKEOF_22 : EOF_22;
        EXPECT(feed(&r, term, dep ? sizeof(OKEOF_22) : sizeof(EOF_22)), RE_DONE, "field list end");
        CHECK(r.status == 0x22 && !r.is_err, "field list status");
    }
    start(&r, RK_FIELD_LIST, false, false);
    EXPECT(feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE)), RE_DONE, "field list -> ERR");
    CHECK(r.is_err, "field list ERR");

    /* COM_STATISTICS: one string packet */
    static const char stats[] = "Uptime: 4242  Threads: 3  Questions: 99  Slow queries: 0";
    start(&r, RK_STATISTICS, false, false);
    EXPECT(feed(&r, stats, strlen(stats)), RE_DONE, "statistics");
    CHECK(!r.is_err, "statistics not an error");

    /* COM_SET_OPTION: EOF, or OK-EOF under DEPRECATE_EOF, or ERR */
    start(&r, RK_EOF, false, false);
    EXPECT(feed(&r, EOF_22, sizeof(EOF_22)), RE_DONE, "set option -> EOF");
    CHECK(r.status == 0x22, "set option status");
    start(&r, RK_EOF, true, false);
    EXPECT(feed(&r, OKEOF_22, sizeof(OKEOF_22)), RE_DONE, "set option -> OK-EOF");
    start(&r, RK_EOF, false, false);
    EXPECT(feed(&r, "\xfe", 1), RE_DONE, "set option -> bare pre-4.1 EOF");
    start(&r, RK_EOF, false, false);
    EXPECT(feed(&r, "\xfe\x00\x00", 3), RE_BAD, "set option -> 3-byte EOF");
    start(&r, RK_EOF, false, false);
    EXPECT(feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE)), RE_DONE, "set option -> ERR");
    CHECK(r.is_err, "set option ERR");
    start(&r, RK_EOF, false, false);
    EXPECT(feed(&r, ROW_1, sizeof(ROW_1)), RE_BAD, "set option -> garbage");

    /* unsolicited packets */
    start(&r, RK_NONE, false, false);
    CHECK(r.phase == RP_IDLE, "RK_NONE starts idle");
    EXPECT(feed(&r, OK_PLAIN, sizeof(OK_PLAIN)), RE_BAD, "packet after COM_STMT_CLOSE");
    memset(&r, 0, sizeof(r));
    EXPECT(feed(&r, ERR_KILLED, sizeof(ERR_KILLED)), RE_BAD, "packet with nothing outstanding");
    start(&r, RK_QUERY, false, false);
    EXPECT(feed(&r, "", 0), RE_BAD, "empty first packet");
    start(&r, RK_QUERY, false, false);
    feed(&r, OK_PLAIN, sizeof(OK_PLAIN));
    EXPECT(feed(&r, OK_PLAIN, sizeof(OK_PLAIN)), RE_BAD, "second OK");

    /* resp_start resets what the previous response left */
    start(&r, RK_QUERY, false, false);
    feed(&r, ERR_NOTABLE, sizeof(ERR_NOTABLE));
    resp_start(&r, RK_QUERY);
    CHECK(!r.is_err && !r.continuation && r.rows == 0 && r.phase == RP_FIRST, "restart clears");
}

static void test_kind_for(void)
{
    static const struct {
        uint8_t cmd;
        enum resp_kind kind;
    } m[] = {
        {COM_QUERY, RK_QUERY},          {COM_STMT_EXECUTE, RK_EXECUTE},
        {COM_STMT_FETCH, RK_FETCH},     {COM_STMT_PREPARE, RK_PREPARE},
        {COM_FIELD_LIST, RK_FIELD_LIST}, {COM_STATISTICS, RK_STATISTICS},
        {COM_SET_OPTION, RK_EOF},       {COM_DEBUG, RK_EOF},
        {COM_STMT_CLOSE, RK_NONE},      {COM_STMT_SEND_LONG_DATA, RK_NONE},
        {COM_PING, RK_OK},              {COM_INIT_DB, RK_OK},
        {COM_RESET_CONNECTION, RK_OK},  {COM_STMT_RESET, RK_OK},
        {COM_PROCESS_INFO, RK_QUERY},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        CHECK(resp_kind_for(m[i].cmd) == m[i].kind, "resp_kind_for(%s) = %d", pkt_cmd_str(m[i].cmd),
              resp_kind_for(m[i].cmd));
}

int main(void)
{
    test_ok_err();
    test_resultset();
    test_multi_result();
    test_infile();
    test_huge_rows();
    test_prepare();
    test_execute();
    test_other_commands();
    test_kind_for();
    return unit_summary();
}
