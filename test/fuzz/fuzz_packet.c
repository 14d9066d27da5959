/* libFuzzer target for the packet codecs: arbitrary bytes are an OK or ERR
 * payload from a backend and a stream of length-encoded values.  Besides
 * the sanitizers' checks it asserts that the reader never leaves its
 * bounds, that returned pointers lie inside the input, and that an OK that
 * parses survives write -> parse with the same fields.
 *
 *   scripts/fuzz.sh fuzz_packet        (or by hand:)
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude src/proto/packet.c src/buf.c \
 *       test/fuzz/fuzz_packet.c -o /tmp/fuzz_packet */
#include "ringmux/packet.h"
#include "ringmux/track.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            abort();                                                                                                   \
    } while (0)

static int inside(const void *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
    const uint8_t *b = p;
    if (!b)
        return n == 0;
    return b >= lo && b <= hi && n <= (size_t)(hi - b);
}

/* Parse as OK under caps; if it parses, write it back and parse again. */
static void fuzz_ok(const uint8_t *p, size_t n, uint32_t caps)
{
    struct pkt_ok_view v;
    if (pkt_parse_ok(p, n, caps, &v) < 0)
        return;
    FUZZ_ASSERT(n >= 7 && (p[0] == 0x00 || p[0] == 0xfe));
    FUZZ_ASSERT(inside(v.info, v.info_len, p, p + n) && inside(v.state, v.state_len, p, p + n));
    FUZZ_ASSERT(!v.state || (caps & CLIENT_SESSION_TRACK));

    struct pkt_ok ok = pkt_ok_from_view(&v);
    struct rm_buf out = {0};
    FUZZ_ASSERT(pkt_write_ok(&out, 1, caps, &ok, p[0]) == 0);
    FUZZ_ASSERT(out.len >= PKT_HDR && out.data[3] == 1);
    size_t plen = out.len - PKT_HDR;
    if (plen < PKT_MAX_PAYLOAD) {
        FUZZ_ASSERT(pkt_u24(out.data) == plen);
        struct pkt_ok_view w;
        FUZZ_ASSERT(pkt_parse_ok(out.data + PKT_HDR, plen, caps, &w) == 0);
        FUZZ_ASSERT(w.affected_rows == v.affected_rows && w.insert_id == v.insert_id && w.warnings == v.warnings);
        FUZZ_ASSERT(w.info_len == v.info_len && (!v.info_len || !memcmp(w.info, v.info, v.info_len)));
        bool has_state = v.state && v.state_len > 0;
        FUZZ_ASSERT((w.status & ~SERVER_SESSION_STATE_CHANGED) == (v.status & ~SERVER_SESSION_STATE_CHANGED));
        FUZZ_ASSERT(!!(w.status & SERVER_SESSION_STATE_CHANGED) == has_state);
        FUZZ_ASSERT(w.state_len == (has_state ? v.state_len : 0));
        FUZZ_ASSERT(!has_state || !memcmp(w.state, v.state, v.state_len));
    }
    buf_free(&out);
}

static void fuzz_err(const uint8_t *p, size_t n)
{
    struct pkt_err_view e;
    if (pkt_parse_err(p, n, &e) < 0)
        return;
    FUZZ_ASSERT(n >= 3 && p[0] == 0xff);
    FUZZ_ASSERT(strlen(e.sqlstate) <= 5);
    FUZZ_ASSERT(inside(e.msg, e.msg_len, p, p + n));
    FUZZ_ASSERT(e.msg + e.msg_len == p + n);
}

/* Walk the input with the reader, the op for each step chosen by a byte. */
static void fuzz_reader(const uint8_t *p, size_t n)
{
    struct pkt_reader r;
    pkt_reader_init(&r, p, n);
    const uint8_t *end = p + n;
    for (int steps = 0; steps < 64 && !r.err && pkt_left(&r) > 0; steps++) {
        const uint8_t *before = r.p;
        uint8_t op = *r.p++;
        size_t len = 0;
        const uint8_t *s = NULL;
        bool is_null = false;
        switch (op % 6) {
        case 0: {
            size_t at = pkt_left(&r);
            uint64_t v = pkt_read_lenenc(&r, &is_null);
            if (!r.err && !is_null) /* re-encoding takes as many bytes (or fewer) */
                FUZZ_ASSERT(pkt_lenenc_size(v) <= at - pkt_left(&r));
            break;
        }
        case 1:
            s = pkt_read_lenenc_str(&r, &len);
            FUZZ_ASSERT(r.err ? s == NULL && len == 0 : inside(s, len, p, end));
            break;
        case 2:
            s = pkt_read_cstr(&r, &len);
            FUZZ_ASSERT(r.err ? s == NULL : inside(s, len + 1, p, end) && s[len] == 0);
            break;
        case 3: pkt_read_int(&r, 1 + op / 6 % 8); break;
        case 4:
            s = pkt_read_bytes(&r, op / 6);
            FUZZ_ASSERT(r.err ? s == NULL : inside(s, op / 6, p, end));
            break;
        default: {
            /* lenenc encode/decode round trip of the next 8 bytes' value */
            uint64_t v = 0;
            size_t k = pkt_left(&r) < 8 ? pkt_left(&r) : 8;
            for (size_t i = 0; i < k; i++)
                v |= (uint64_t)r.p[i] << (8 * i);
            v >>= op % 64;
            uint8_t enc[9];
            size_t el = (size_t)(pkt_put_lenenc(enc, v) - enc);
            FUZZ_ASSERT(el == pkt_lenenc_size(v));
            struct pkt_reader rr;
            pkt_reader_init(&rr, enc, el);
            FUZZ_ASSERT(pkt_read_lenenc(&rr, NULL) == v && !rr.err && pkt_left(&rr) == 0);
            break;
        }
        }
        FUZZ_ASSERT(r.p >= before && r.p <= end && r.end == end);
    }
}

/* The session-state block: entries stay inside the bytes, and the walk ends. */
static void fuzz_track(const uint8_t *p, size_t n)
{
    struct track_reader tr;
    struct track_entry e;
    size_t count = 0;
    track_begin(&tr, p, n);
    while (track_next(&tr, &e) == 1) {
        FUZZ_ASSERT(e.raw >= p && e.raw + e.raw_len <= p + n && e.raw_len >= 2);
        if (e.ok && e.name)
            FUZZ_ASSERT(e.name >= p && e.name + e.name_len <= p + n);
        if (e.ok && e.value)
            FUZZ_ASSERT(e.value >= p && e.value + e.value_len <= p + n);
        FUZZ_ASSERT(++count <= n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    fuzz_ok(p, size, 0);
    fuzz_ok(p, size, CLIENT_SESSION_TRACK);
    fuzz_err(p, size);
    fuzz_reader(p, size);
    fuzz_track(p, size);
    /* a command packet around the bytes: header and payload intact */
    struct rm_buf out = {0};
    FUZZ_ASSERT(pkt_write_cmd(&out, COM_QUERY, p, size) == 0);
    FUZZ_ASSERT(out.len == PKT_HDR + 1 + size && pkt_u24(out.data) == 1 + size && out.data[3] == 0);
    FUZZ_ASSERT(out.data[4] == COM_QUERY && (size == 0 || !memcmp(out.data + 5, p, size)));
    buf_free(&out);
    free(p);
    return 0;
}
