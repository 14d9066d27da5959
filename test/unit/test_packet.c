/* Unit tests for src/proto/packet.c and src/buf.c: length-encoded integers
 * and strings at every size boundary, the bounds-checked reader on truncated
 * input (exact-size heap copies, so ASan sees any overrun), the writer's
 * 16 MiB splitting, and OK / ERR / EOF build and parse round trips. */
#include "ringmux/packet.h"

#include "unit.h"

/* The boundaries where a lenenc integer changes size, and their neighbours. */
static const uint64_t lenenc_values[] = {
    0, 1, 250, 251, 252, 0xfffe, 0xffff, 0x10000, 0x10001, 0xfffffe, 0xffffff, 0x1000000,
    0x1000001, 0xffffffffull, 0x100000000ull, UINT64_MAX - 1, UINT64_MAX,
};
#define N_LENENC (sizeof(lenenc_values) / sizeof(lenenc_values[0]))

/* Expected encoded size, from the protocol documentation rather than the code. */
static size_t want_lenenc_size(uint64_t v)
{
    return v < 251 ? 1 : v <= 0xffff ? 3 : v <= 0xffffff ? 4 : 9;
}

static uint8_t want_lenenc_prefix(uint64_t v)
{
    return v < 251 ? (uint8_t)v : v <= 0xffff ? 0xfc : v <= 0xffffff ? 0xfd : 0xfe;
}

/* ---- lenenc integers ----------------------------------------------------- */

static void test_lenenc_int(void)
{
    for (size_t i = 0; i < N_LENENC; i++) {
        uint64_t v = lenenc_values[i];
        uint8_t enc[16];
        memset(enc, 0xaa, sizeof(enc));
        size_t n = (size_t)(pkt_put_lenenc(enc, v) - enc);
        CHECK_U(n, want_lenenc_size(v), "pkt_put_lenenc size");
        CHECK_U(pkt_lenenc_size(v), want_lenenc_size(v), "pkt_lenenc_size");
        CHECK_U(enc[0], want_lenenc_prefix(v), "lenenc prefix");
        CHECK(enc[n] == 0xaa, "pkt_put_lenenc(%" PRIu64 ") wrote past its size", v);
        /* the value bytes are little-endian */
        uint64_t back = 0;
        if (n == 1)
            back = enc[0];
        else
            for (size_t k = 1; k < n; k++)
                back |= (uint64_t)enc[k] << (8 * (k - 1));
        CHECK_U(back, v, "lenenc bytes decode by hand");

        /* read back from an exact-size copy */
        uint8_t *c = unit_dup(enc, n);
        struct pkt_reader r;
        bool is_null = true;
        pkt_reader_init(&r, c, n);
        CHECK_U(pkt_read_lenenc(&r, &is_null), v, "pkt_read_lenenc");
        CHECK(!r.err && !is_null && pkt_left(&r) == 0, "read %" PRIu64 ": err=%d null=%d left=%zu",
              v, r.err, is_null, pkt_left(&r));
        free(c);

        /* every truncation sets err, returns 0, and reads nothing beyond */
        for (size_t t = 0; t < n; t++) {
            c = unit_dup(enc, t);
            pkt_reader_init(&r, c, t);
            uint64_t got = pkt_read_lenenc(&r, NULL);
            CHECK(r.err && got == 0, "truncated lenenc %" PRIu64 " at %zu: err=%d got=%" PRIu64, v,
                  t, r.err, got);
            free(c);
        }

        /* through the packet writer */
        struct rm_buf b = {0};
        struct pkt_writer w;
        pkt_begin(&w, &b, 7);
        pkt_add_lenenc(&w, v);
        CHECK_U(pkt_end(&w), 8, "pkt_end next seq");
        CHECK_U(b.len, PKT_HDR + n, "writer lenenc length");
        CHECK_U(pkt_u24(b.data), n, "writer header length");
        CHECK(b.len == PKT_HDR + n && memcmp(b.data + PKT_HDR, enc, n) == 0, "writer lenenc bytes");
        buf_free(&b);
    }

    /* 0xFB is NULL, 0xFF is not a lenenc prefix */
    struct pkt_reader r;
    uint8_t *c = unit_dup("\xfb", 1);
    bool is_null = false;
    pkt_reader_init(&r, c, 1);
    CHECK(pkt_read_lenenc(&r, &is_null) == 0 && is_null && !r.err && pkt_left(&r) == 0,
          "0xFB is NULL");
    free(c);
    c = unit_dup("\xff\x01\x02", 3);
    pkt_reader_init(&r, c, 3);
    CHECK(pkt_read_lenenc(&r, NULL) == 0 && r.err, "0xFF sets err");
    free(c);
}

/* ---- lenenc strings ------------------------------------------------------ */

static void test_lenenc_str(void)
{
    static const size_t lens[] = {0, 1, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i];
        size_t hs = want_lenenc_size(len);
        uint8_t *enc = malloc(hs + len);
        uint8_t *p = pkt_put_lenenc(enc, len);
        CHECK_U(p - enc, hs, "lenenc str header size");
        for (size_t k = 0; k < len; k++)
            p[k] = (uint8_t)(k * 7 + 3);
        struct pkt_reader r;
        size_t got_len = 12345;
        pkt_reader_init(&r, enc, hs + len);
        const uint8_t *s = pkt_read_lenenc_str(&r, &got_len);
        CHECK(!r.err && got_len == len && s == enc + hs && pkt_left(&r) == 0,
              "lenenc str %zu: err=%d len=%zu", len, r.err, got_len);
        /* one byte short: err, NULL, len 0 */
        uint8_t *c = unit_dup(enc, hs + len - 1);
        pkt_reader_init(&r, c, hs + len - 1);
        s = pkt_read_lenenc_str(&r, &got_len);
        CHECK(r.err && s == NULL && got_len == 0, "lenenc str %zu minus one byte: err=%d len=%zu",
              len, r.err, got_len);
        free(c);
        free(enc);
    }

    /* via the writer, and several strings in one payload */
    struct rm_buf b = {0};
    struct pkt_writer w;
    pkt_begin(&w, &b, 0);
    pkt_add_lenenc_str(&w, "def", 3);
    pkt_add_lenenc_str(&w, "", 0);
    pkt_add_lenenc_str(&w, NULL, 0);
    pkt_add_lenenc_str(&w, "x", 1);
    CHECK(pkt_end(&w) == 1, "pkt_end");
    static const uint8_t want[] = {8, 0, 0, 0, 3, 'd', 'e', 'f', 0, 0, 1, 'x'};
    CHECK_MEM(b.data, b.len, want, sizeof(want), "lenenc strings packet");
    uint8_t *c = unit_dup(b.data + PKT_HDR, b.len - PKT_HDR);
    struct pkt_reader r;
    size_t l1, l2, l3, l4;
    pkt_reader_init(&r, c, b.len - PKT_HDR);
    const uint8_t *s1 = pkt_read_lenenc_str(&r, &l1);
    const uint8_t *s2 = pkt_read_lenenc_str(&r, &l2);
    const uint8_t *s3 = pkt_read_lenenc_str(&r, &l3);
    const uint8_t *s4 = pkt_read_lenenc_str(&r, &l4);
    CHECK(!r.err && pkt_left(&r) == 0, "read four strings");
    CHECK_MEM(s1, l1, "def", 3, "s1");
    CHECK(s2 && l2 == 0 && s3 && l3 == 0, "empty strings point into the packet");
    CHECK_MEM(s4, l4, "x", 1, "s4");
    /* a fifth read overruns */
    size_t l5 = 99;
    CHECK(pkt_read_lenenc_str(&r, &l5) == NULL && r.err && l5 == 0, "read past the end");
    free(c);
    buf_free(&b);

    /* a declared length beyond the packet */
    c = unit_dup("\xfc\x00\x01xyz", 6);
    pkt_reader_init(&r, c, 6);
    CHECK(pkt_read_lenenc_str(&r, &l1) == NULL && r.err, "length 256 in a 6-byte packet");
    free(c);
    /* an 8-byte length whose value would wrap a pointer */
    c = unit_dup("\xfe\xff\xff\xff\xff\xff\xff\xff\xffxyz", 12);
    pkt_reader_init(&r, c, 12);
    CHECK(pkt_read_lenenc_str(&r, &l1) == NULL && r.err && l1 == 0, "length 2^64-1");
    free(c);
}

/* ---- fixed-width, cstr, bytes -------------------------------------------- */

static void test_reader(void)
{
    static const uint8_t src[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
    uint8_t *c = unit_dup(src, sizeof(src));
    struct pkt_reader r;
    pkt_reader_init(&r, c, sizeof(src));
    CHECK_U(pkt_read_int(&r, 1), 0x01, "int1");
    CHECK_U(pkt_read_int(&r, 2), 0x0302, "int2");
    CHECK_U(pkt_read_int(&r, 3), 0x060504, "int3");
    CHECK_U(pkt_left(&r), 3, "left after 6 bytes");
    CHECK_U(pkt_read_int(&r, 4), 0, "int4 with 3 left returns 0");
    CHECK(r.err, "int4 with 3 left sets err");
    /* err is sticky: even a read that would fit now fails */
    CHECK(pkt_read_int(&r, 1) == 0 && r.err, "sticky err: int");
    CHECK(pkt_read_bytes(&r, 0) == NULL && r.err, "sticky err: bytes");
    size_t n = 7;
    CHECK(pkt_read_cstr(&r, &n) == NULL && n == 0, "sticky err: cstr");
    CHECK(pkt_read_lenenc(&r, NULL) == 0, "sticky err: lenenc");
    free(c);

    c = unit_dup(src, sizeof(src));
    pkt_reader_init(&r, c, sizeof(src));
    CHECK_U(pkt_read_int(&r, 8), 0x0807060504030201ull, "int8");
    CHECK(pkt_read_bytes(&r, 1) == c + 8 && !r.err && pkt_left(&r) == 0, "bytes to the end");
    CHECK(pkt_read_bytes(&r, 0) == c + 9 && !r.err, "zero bytes at the end");
    CHECK(pkt_read_bytes(&r, 1) == NULL && r.err, "one byte past the end");
    free(c);

    /* fixed-width put/get helpers */
    uint8_t b[4];
    pkt_put_u16(b, 0xbeef);
    CHECK(b[0] == 0xef && b[1] == 0xbe && pkt_u16(b) == 0xbeef, "u16");
    pkt_put_u24(b, 0xabcdef);
    CHECK(b[0] == 0xef && b[1] == 0xcd && b[2] == 0xab && pkt_u24(b) == 0xabcdef, "u24");
    pkt_put_u32(b, 0xdeadbeef);
    CHECK(b[0] == 0xef && b[3] == 0xde && pkt_u32(b) == 0xdeadbeefu, "u32");

    /* NUL-terminated strings */
    c = unit_dup("user\0\0rest", 10);
    pkt_reader_init(&r, c, 10);
    const uint8_t *s = pkt_read_cstr(&r, &n);
    CHECK(s == c && n == 4 && !r.err, "cstr user");
    s = pkt_read_cstr(&r, &n);
    CHECK(s == c + 5 && n == 0 && !r.err, "empty cstr");
    s = pkt_read_cstr(&r, &n);
    CHECK(s == NULL && n == 0 && r.err, "cstr without NUL");
    free(c);
    c = unit_dup("", 0);
    pkt_reader_init(&r, c, 0);
    CHECK(pkt_read_cstr(&r, &n) == NULL && r.err, "cstr on empty input");
    free(c);
}

/* ---- writer splitting ---------------------------------------------------- */

static uint8_t pattern(size_t i) { return (uint8_t)(i * 31 + 7 + (i >> 16)); }

/* Write a payload of `size` pattern bytes with seq `seq` after `prefix`
 * existing bytes, and check every header and the reassembled payload. */
static void check_split(size_t size, uint8_t seq, size_t prefix)
{
    struct rm_buf b = {0};
    for (size_t i = 0; i < prefix; i++) {
        uint8_t x = (uint8_t)(0xa0 + i);
        buf_append(&b, &x, 1);
    }
    /* the payload arrives in uneven pieces, as a builder would add it */
    uint8_t *src = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        src[i] = pattern(i);
    struct pkt_writer w;
    pkt_begin(&w, &b, seq);
    size_t off = 0, step = 1;
    while (off < size) {
        size_t k = size - off < step ? size - off : step;
        pkt_add(&w, src + off, k);
        off += k;
        step = step * 3 + 1;
    }
    size_t want_packets = size / PKT_MAX_PAYLOAD + 1;
    int next = pkt_end(&w);
    CHECK_U(next, (uint8_t)(seq + want_packets), "pkt_end next seq");
    CHECK_U(b.len - b.off, prefix + size + PKT_HDR * want_packets, "total bytes");
    for (size_t i = 0; i < prefix && i < b.len; i++)
        if (b.data[b.off + i] != (uint8_t)(0xa0 + i)) {
            CHECK(0, "split %zu: prefix byte %zu clobbered", size, i);
            break;
        }
    /* walk the packets */
    size_t pos = b.off + prefix, got = 0, packets = 0;
    bool payload_ok = true;
    while (pos + PKT_HDR <= b.len && packets < want_packets) {
        uint32_t len = pkt_u24(b.data + pos);
        uint8_t s = b.data[pos + 3];
        bool last = packets == want_packets - 1;
        size_t want_len = last ? size - got : PKT_MAX_PAYLOAD;
        CHECK(len == want_len && s == (uint8_t)(seq + packets),
              "split %zu packet %zu: len %u seq %u, want len %zu seq %u", size, packets, len, s,
              want_len, (uint8_t)(seq + packets));
        if (pos + PKT_HDR + len > b.len)
            break;
        for (size_t k = 0; k < len && payload_ok; k++)
            if (b.data[pos + PKT_HDR + k] != pattern(got + k))
                payload_ok = false;
        got += len;
        pos += PKT_HDR + len;
        packets++;
    }
    CHECK(packets == want_packets && got == size && pos == b.len && payload_ok,
          "split %zu: %zu packets, %zu payload bytes, payload %s", size, packets, got,
          payload_ok ? "equal" : "DIFFERENT");
    if (size > 0 && size % PKT_MAX_PAYLOAD == 0)
        CHECK(pkt_u24(b.data + b.len - PKT_HDR) == 0, "split %zu ends with an empty packet", size);
    free(src);
    buf_free(&b);
}

static void test_writer_split(void)
{
    static const size_t sizes[] = {0, 1, 0xfffffe, 0xffffff, 0x1000000, 2 * 0xffffff,
                                   2 * 0xffffff + 5};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_split(sizes[i], 3, 0);
    /* sequence ids wrap at 256; a packet may follow earlier output */
    check_split(0xffffff, 255, 0);
    check_split(2 * 0xffffff + 5, 254, 13);
    check_split(10, 0, 5);

    /* exact bytes of the smallest cases */
    struct rm_buf b = {0};
    struct pkt_writer w;
    pkt_begin(&w, &b, 9);
    CHECK(pkt_end(&w) == 10 && b.len == 4 && memcmp(b.data, "\0\0\0\x09", 4) == 0,
          "empty payload: one empty packet");
    buf_free(&b);
    CHECK(pkt_write_cmd(&b, COM_QUERY, "SELECT 1", 8) == 0, "pkt_write_cmd");
    CHECK_MEM(b.data, b.len, "\x09\0\0\0\x03SELECT 1", 13, "COM_QUERY packet");
    buf_free(&b);

    /* integer adders */
    pkt_begin(&w, &b, 1);
    pkt_add_u8(&w, 0x11);
    pkt_add_u16(&w, 0x2233);
    pkt_add_u32(&w, 0x44556677);
    pkt_add_zeros(&w, 70);
    pkt_add_u8(&w, 0x99);
    CHECK(pkt_end(&w) == 2, "pkt_end");
    CHECK(b.len == PKT_HDR + 78 && pkt_u24(b.data) == 78 && b.data[3] == 1, "header");
    CHECK(b.data[4] == 0x11 && b.data[5] == 0x33 && b.data[6] == 0x22 && b.data[7] == 0x77 &&
              b.data[10] == 0x44 && b.data[81] == 0x99,
          "integers are little-endian");
    bool zeros = true;
    for (int i = 11; i < 81; i++)
        zeros = zeros && b.data[i] == 0;
    CHECK(zeros, "pkt_add_zeros");
    buf_free(&b);
}

/* The writer remembers its header by offset from b->data, but buf_reserve
 * slides unconsumed bytes to the front when the buffer has a consumed head
 * (off > 0), so a packet written to such a buffer goes wrong. */
static void test_writer_after_consume(void)
{
    struct rm_buf b = {0};
    uint8_t old[200];
    for (size_t i = 0; i < sizeof(old); i++)
        old[i] = (uint8_t)i;
    buf_append(&b, old, sizeof(old)); /* cap 512 */
    buf_consume(&b, 100);             /* off 100: bytes 100..199 still queued */
    uint8_t big[1000];
    memset(big, 'q', sizeof(big));
    int rc = pkt_write_cmd(&b, COM_QUERY, big, sizeof(big));
    CHECK(rc == 0, "pkt_write_cmd rc");
    const uint8_t *h = buf_head(&b);
    size_t avail = buf_avail(&b);
    CHECK(avail >= 100 && memcmp(h, old + 100, 100) == 0, "queued bytes preserved");
    /* BUG: pkt_begin stores w->start = out->len (an absolute index) and
     * buf_reserve may memmove the live bytes to offset 0 when off > 0, so
     * pkt_end fills the header in at a stale offset.  Input: rm_buf with
     * 200 bytes appended and 100 consumed, then pkt_write_cmd(COM_QUERY,
     * 1000 bytes).  Expected: header 0xe9 0x03 0x00 0x00 (1001, seq 0)
     * right after the 100 queued bytes; actual: those 4 bytes stay zero
     * (length 0) and the header lands inside the payload, with length 901. */
    CHECK(avail == 100 + PKT_HDR + 1001 && pkt_u24(h + 100) == 1001 && h[103] == 0 &&
              h[104] == COM_QUERY && memcmp(h + 105, big, sizeof(big)) == 0,
          "packet after a consumed head: avail %zu, header length %u (want 1105, 1001)", avail,
          avail >= 104 ? pkt_u24(h + 100) : 0);
    buf_free(&b);
}

/* ---- OK / ERR / EOF ------------------------------------------------------ */

/* Write ok under caps, check the payload's header byte, parse it back. */
static int ok_roundtrip(uint32_t caps, const struct pkt_ok *ok, uint8_t header, struct rm_buf *b,
                        struct pkt_ok_view *v, uint8_t **copy)
{
    buf_free(b);
    if (pkt_write_ok(b, 2, caps, ok, header) < 0)
        return -2;
    if (b->len < PKT_HDR || pkt_u24(b->data) != b->len - PKT_HDR || b->data[3] != 2)
        return -3;
    *copy = unit_dup(b->data + PKT_HDR, b->len - PKT_HDR);
    return pkt_parse_ok(*copy, b->len - PKT_HDR, caps, v);
}

static void test_ok(void)
{
    struct rm_buf b = {0};
    struct pkt_ok_view v;
    uint8_t *c = NULL;
    /* the state block of a SESSION_TRACK_SCHEMA change to "db1" */
    static const uint8_t state[] = {SESSION_TRACK_SCHEMA, 4, 3, 'd', 'b', '1'};
    static const char info[] = "Rows matched: 1  Changed: 1  Warnings: 0";

    /* exact bytes of the plainest OK */
    struct pkt_ok plain = {.status = SERVER_STATUS_AUTOCOMMIT};
    CHECK(pkt_write_ok(&b, 1, 0, &plain, 0x00) == 0, "write plain OK");
    CHECK_MEM(b.data, b.len, "\x07\0\0\x01\0\0\0\x02\0\0\0", 11, "plain OK bytes");
    buf_free(&b);

    /* without CLIENT_SESSION_TRACK: info is the rest of the packet, the
     * state is never written and the CHANGED flag is cleared */
    struct pkt_ok ok = {.affected_rows = 1, .insert_id = 0x10000, .warnings = 3,
                        .status = SERVER_STATUS_AUTOCOMMIT | SERVER_SESSION_STATE_CHANGED,
                        .info = info, .info_len = strlen(info), .state = state,
                        .state_len = sizeof(state)};
    CHECK(ok_roundtrip(0, &ok, 0x00, &b, &v, &c) == 0, "no track: parse");
    CHECK(v.affected_rows == 1 && v.insert_id == 0x10000 && v.warnings == 3, "no track: numbers");
    CHECK_U(v.status, SERVER_STATUS_AUTOCOMMIT, "no track: status");
    CHECK_MEM(v.info, v.info_len, info, strlen(info), "no track: info");
    CHECK(v.state == NULL && v.state_len == 0, "no track: no state");
    CHECK_U(b.len, PKT_HDR + 1 + 1 + 4 + 2 + 2 + strlen(info), "no track: size");
    free(c);

    /* with SESSION_TRACK, nothing to say: the info is omitted entirely */
    struct pkt_ok bare = {.affected_rows = 0, .status = SERVER_STATUS_IN_TRANS, .warnings = 0};
    CHECK(ok_roundtrip(CLIENT_SESSION_TRACK, &bare, 0x00, &b, &v, &c) == 0, "track bare: parse");
    CHECK_U(b.len, PKT_HDR + 7, "track bare: 7-byte payload");
    CHECK(v.info_len == 0 && v.state == NULL && v.status == SERVER_STATUS_IN_TRANS,
          "track bare: fields");
    free(c);

    /* info only */
    struct pkt_ok oi = {.affected_rows = 251, .insert_id = 7, .status = 2, .info = "abc",
                        .info_len = 3};
    CHECK(ok_roundtrip(CLIENT_SESSION_TRACK, &oi, 0x00, &b, &v, &c) == 0, "track info: parse");
    CHECK(v.affected_rows == 251 && v.insert_id == 7, "track info: numbers");
    CHECK_MEM(v.info, v.info_len, "abc", 3, "track info: info");
    CHECK(v.state == NULL && !(v.status & SERVER_SESSION_STATE_CHANGED), "track info: no state");
    CHECK_U(b.data[b.len - 4], 3, "track info: lenenc info length");
    free(c);

    /* state only: an empty lenenc info precedes it, CHANGED is set */
    struct pkt_ok os = {.status = SERVER_STATUS_AUTOCOMMIT, .state = state,
                        .state_len = sizeof(state)};
    CHECK(ok_roundtrip(CLIENT_SESSION_TRACK, &os, 0x00, &b, &v, &c) == 0, "track state: parse");
    CHECK_U(v.status, SERVER_STATUS_AUTOCOMMIT | SERVER_SESSION_STATE_CHANGED, "track state: status");
    CHECK(v.info_len == 0, "track state: empty info");
    CHECK_MEM(v.state, v.state_len, state, sizeof(state), "track state: state block");
    free(c);

    /* info and state, with large numbers and the 0xFE header */
    struct pkt_ok both = {.affected_rows = UINT64_MAX, .insert_id = 0xffffff, .status = 0x0022,
                          .warnings = 0xffff, .info = info, .info_len = strlen(info),
                          .state = state, .state_len = sizeof(state)};
    CHECK(ok_roundtrip(CLIENT_SESSION_TRACK, &both, 0xfe, &b, &v, &c) == 0, "track both: parse");
    CHECK(b.data[PKT_HDR] == 0xfe, "track both: 0xFE header");
    CHECK(v.affected_rows == UINT64_MAX && v.insert_id == 0xffffff && v.warnings == 0xffff,
          "track both: numbers");
    CHECK_U(v.status, 0x0022 | SERVER_SESSION_STATE_CHANGED, "track both: status");
    CHECK_MEM(v.info, v.info_len, info, strlen(info), "track both: info");
    CHECK_MEM(v.state, v.state_len, state, sizeof(state), "track both: state");
    free(c);

    /* a state pointer with zero length is no state; CHANGED asked for by
     * the caller is cleared */
    struct pkt_ok empty_state = {.status = SERVER_SESSION_STATE_CHANGED, .state = state,
                                 .state_len = 0};
    CHECK(ok_roundtrip(CLIENT_SESSION_TRACK, &empty_state, 0x00, &b, &v, &c) == 0,
          "track zero-length state: parse");
    CHECK(v.status == 0 && v.state == NULL && b.len == PKT_HDR + 7, "track zero-length state");
    free(c);
    buf_free(&b);

    /* parser on hand-made and malformed payloads */
    static const uint8_t hand[] = {0x00, 0xfc, 0x00, 0x01, 0xfd, 0x01, 0x02, 0x03, 0x02, 0x40,
                                   0x05, 0x00, 0x00, 0x03, 0x01, 0x01, 'x'};
    c = unit_dup(hand, sizeof(hand));
    CHECK(pkt_parse_ok(c, sizeof(hand), CLIENT_SESSION_TRACK, &v) == 0, "hand OK");
    CHECK(v.affected_rows == 256 && v.insert_id == 0x030201 && v.status == 0x4002 &&
              v.warnings == 5 && v.info_len == 0 && v.state == c + 14 && v.state_len == 3,
          "hand OK fields");
    for (size_t t = 0; t < sizeof(hand); t++) {
        uint8_t *tc = unit_dup(hand, t);
        int rc = pkt_parse_ok(tc, t, CLIENT_SESSION_TRACK, &v);
        /* the fixed part ends at byte 12; after it, truncations inside a
         * lenenc string are malformed, at a field boundary they are fine */
        bool want_ok = t == 12 || t == 13;
        CHECK(rc == (want_ok ? 0 : -1), "OK truncated at %zu: rc %d", t, rc);
        free(tc);
    }
    free(c);
    c = unit_dup("\xff\x00\x00\x00\x00\x00\x00", 7);
    CHECK(pkt_parse_ok(c, 7, 0, &v) == -1, "0xFF is not OK");
    free(c);
    c = unit_dup("\x00\x00\x00\x02\x00\x00\x00\x05\x00", 9);
    CHECK(pkt_parse_ok(c, 9, CLIENT_SESSION_TRACK, &v) == -1, "info length 5 in 1 byte");
    free(c);
    c = unit_dup("\x00\x00\x00\x02\x40\x00\x00\x00\x09\x01", 10);
    CHECK(pkt_parse_ok(c, 10, CLIENT_SESSION_TRACK, &v) == -1, "state length 9 in 1 byte");
    free(c);
    /* a classic EOF body is not an OK without session track */
    c = unit_dup("\xfe\x00\x00\x02\x00", 5);
    CHECK(pkt_parse_ok(c, 5, 0, &v) == -1, "5-byte EOF is too short for OK");
    free(c);
}

static void test_err(void)
{
    struct rm_buf b = {0};
    struct pkt_err_view e;
    CHECK(pkt_write_err(&b, 2, 1045, "28000", "Access denied for user '%s'@'%s'", "bob",
                        "10.0.0.1") == 0,
          "write ERR");
    static const char msg[] = "Access denied for user 'bob'@'10.0.0.1'";
    size_t plen = 1 + 2 + 6 + strlen(msg);
    CHECK(b.len == PKT_HDR + plen && pkt_u24(b.data) == plen && b.data[3] == 2, "ERR header");
    CHECK(memcmp(b.data + 4, "\xff\x15\x04#28000", 9) == 0, "ERR fixed part bytes");
    uint8_t *c = unit_dup(b.data + PKT_HDR, plen);
    CHECK(pkt_parse_err(c, plen, &e) == 0, "parse ERR");
    CHECK_U(e.code, 1045, "ERR code");
    CHECK(strcmp(e.sqlstate, "28000") == 0, "ERR sqlstate %s", e.sqlstate);
    CHECK_MEM(e.msg, e.msg_len, msg, strlen(msg), "ERR message");
    free(c);
    buf_free(&b);

    /* a message longer than the builder's buffer is cut at 511 bytes */
    char longmsg[700];
    memset(longmsg, 'm', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = 0;
    CHECK(pkt_write_err(&b, 1, 1064, "42000", "%s", longmsg) == 0, "write long ERR");
    CHECK_U(pkt_u24(b.data), 9 + 511, "long ERR length");
    buf_free(&b);

    /* an empty message */
    CHECK(pkt_write_err(&b, 1, 2013, "HY000", "%s", "") == 0, "write empty ERR");
    c = unit_dup(b.data + PKT_HDR, b.len - PKT_HDR);
    CHECK(pkt_parse_err(c, b.len - PKT_HDR, &e) == 0 && e.code == 2013 && e.msg_len == 0 &&
              strcmp(e.sqlstate, "HY000") == 0,
          "empty ERR");
    free(c);
    buf_free(&b);

    /* pre-4.1 ERR without '#': default sqlstate, whole rest is the message */
    c = unit_dup("\xff\x48\x04No tables used", 17);
    CHECK(pkt_parse_err(c, 17, &e) == 0 && e.code == 1096 && strcmp(e.sqlstate, "HY000") == 0,
          "ERR without sqlstate");
    CHECK_MEM(e.msg, e.msg_len, "No tables used", 14, "ERR without sqlstate: message");
    free(c);
    /* '#' with fewer than 5 characters after it: kept as message */
    c = unit_dup("\xff\x48\x04#12", 6);
    CHECK(pkt_parse_err(c, 6, &e) == 0 && strcmp(e.sqlstate, "HY000") == 0 && e.msg_len == 3,
          "short '#' ERR");
    free(c);
    /* malformed */
    for (size_t t = 0; t < 3; t++) {
        c = unit_dup("\xff\x48\x04", t);
        CHECK(pkt_parse_err(c, t, &e) == -1, "ERR truncated at %zu", t);
        free(c);
    }
    c = unit_dup("\x00\x48\x04", 3);
    CHECK(pkt_parse_err(c, 3, &e) == -1, "0x00 is not ERR");
    free(c);
}

static void test_eof(void)
{
    struct rm_buf b = {0};
    CHECK(pkt_write_eof(&b, 3, 1, SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_NO_INDEX_USED) == 0,
          "write EOF");
    CHECK_MEM(b.data, b.len, "\x05\0\0\x03\xfe\x01\x00\x22\x00", 9, "EOF bytes");
    buf_free(&b);
    /* seq 255 wraps */
    CHECK(pkt_write_eof(&b, 255, 0, 0) == 0 && b.data[3] == 255, "EOF seq 255");
    buf_free(&b);
}

/* ---- rm_buf -------------------------------------------------------------- */

static void test_buf(void)
{
    struct rm_buf b = {0};
    CHECK(buf_avail(&b) == 0 && b.data == NULL, "empty buffer holds no storage");
    CHECK(buf_append(&b, NULL, 0) == 0 && b.data == NULL, "append nothing allocates nothing");
    uint8_t *t = buf_reserve(&b, 10);
    CHECK(t != NULL && t == b.data && b.cap >= 10 && b.len == 0, "reserve on empty");
    CHECK(buf_append(&b, "hello", 5) == 0 && buf_avail(&b) == 5, "append 5");
    CHECK(buf_append(&b, " world", 6) == 0 && buf_avail(&b) == 11, "append 6");
    CHECK_MEM(buf_head(&b), buf_avail(&b), "hello world", 11, "contents");
    buf_consume(&b, 6);
    CHECK(b.off == 6 && buf_avail(&b) == 5, "consume 6: off %zu avail %zu", b.off, buf_avail(&b));
    CHECK_MEM(buf_head(&b), buf_avail(&b), "world", 5, "after consume");
    size_t cap = b.cap;
    buf_consume(&b, 5);
    CHECK(b.off == 0 && b.len == 0 && b.data != NULL && b.cap == cap,
          "consuming everything resets and keeps small storage");
    /* consuming more than is there also resets */
    buf_append(&b, "ab", 2);
    buf_consume(&b, 10);
    CHECK(b.off == 0 && b.len == 0, "over-consume resets");

    /* compaction: reserve slides the live bytes to the front */
    uint8_t blk[400];
    for (size_t i = 0; i < sizeof(blk); i++)
        blk[i] = (uint8_t)i;
    buf_free(&b);
    buf_append(&b, blk, sizeof(blk)); /* cap 512 */
    cap = b.cap;
    buf_consume(&b, 300);
    t = buf_reserve(&b, 300);
    CHECK(t != NULL && b.off == 0 && b.len == 100 && b.cap == cap, "reserve compacts in place");
    CHECK(b.len == 100 && memcmp(b.data, blk + 300, 100) == 0, "compacted bytes");
    CHECK(t == b.data + b.len && b.cap - b.len >= 300, "reserve returns the tail");
    /* growth keeps contents */
    t = buf_reserve(&b, 5000);
    CHECK(t != NULL && b.cap >= b.len + 5000 && memcmp(b.data, blk + 300, 100) == 0, "grow");

    /* large buffers are freed when emptied */
    uint8_t *big = calloc(1, 100000);
    buf_append(&b, big, 100000);
    CHECK(b.cap > 64 * 1024, "grew past 64 KiB");
    buf_consume(&b, buf_avail(&b));
    CHECK(b.data == NULL && b.cap == 0 && b.len == 0, "big storage released on empty");
    free(big);
    buf_append(&b, "x", 1);
    buf_reset(&b);
    CHECK(b.data != NULL && buf_avail(&b) == 0, "reset keeps small storage");
    buf_free(&b);
    CHECK(b.data == NULL && b.cap == 0 && b.off == 0 && b.len == 0, "free");
    buf_free(&b); /* twice is harmless */
}

static void test_cmd_str(void)
{
    CHECK(strcmp(pkt_cmd_str(COM_QUERY), "COM_QUERY") == 0, "COM_QUERY name");
    CHECK(strcmp(pkt_cmd_str(COM_STMT_EXECUTE), "COM_STMT_EXECUTE") == 0, "COM_STMT_EXECUTE name");
    CHECK(strcmp(pkt_cmd_str(COM_RESET_CONNECTION), "COM_RESET_CONNECTION") == 0, "last name");
    CHECK(strcmp(pkt_cmd_str(0x20), "COM_UNKNOWN") == 0, "unknown");
    CHECK(strcmp(pkt_cmd_str(0xff), "COM_UNKNOWN") == 0, "unknown 0xff");
}

int main(void)
{
    test_lenenc_int();
    test_lenenc_str();
    test_reader();
    test_writer_split();
    test_writer_after_consume();
    test_ok();
    test_err();
    test_eof();
    test_buf();
    test_cmd_str();
    return unit_summary();
}
