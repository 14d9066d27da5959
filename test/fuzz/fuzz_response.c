/* libFuzzer target for the response tracker: arbitrary bytes are the
 * packet stream a (broken or hostile) backend sends.
 *
 * Input: byte 0 picks the resp_kind, byte 1 the negotiated flags (bit 0
 * CLIENT_DEPRECATE_EOF, bit 1 CLIENT_SESSION_TRACK).  The rest is a
 * sequence of packets, each a length byte L followed by L payload bytes;
 * L >= 0xF0 instead declares a large packet (16 MiB - 1, 16 MiB - 2, 64 KiB,
 * 100000, 9 or 8 bytes) whose first payload byte follows, fed streamed the
 * way src/pool.c does when the tracker does not need it whole (skipped when
 * it does).  After RE_INFILE the file is taken as sent; after RE_DONE or
 * RE_BAD the next byte starts a new response.  The tracker's contract is
 * checked after every packet.
 *
 *   scripts/fuzz.sh fuzz_response      (or by hand:)
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude src/proto/response.c \
 *       src/proto/packet.c src/buf.c test/fuzz/fuzz_response.c -o /tmp/fuzz_response */
#include "ringmux/response.h"

#include <stdlib.h>
#include <string.h>

#include "ringmux/packet.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define N_KINDS (RK_EOF + 1)

static void check_event(const struct rm_resp *r, enum resp_event ev)
{
    FUZZ_ASSERT((unsigned)ev <= RE_BAD);
    FUZZ_ASSERT((unsigned)r->phase <= RP_PREP_COLS_EOF);
    switch (ev) {
    case RE_DONE:
    case RE_BAD: FUZZ_ASSERT(r->phase == RP_IDLE); break;
    case RE_RESULT_END:
        FUZZ_ASSERT(r->phase == RP_FIRST && (r->status & SERVER_MORE_RESULTS_EXISTS));
        FUZZ_ASSERT(r->kind == RK_QUERY || r->kind == RK_EXECUTE);
        break;
    case RE_INFILE: FUZZ_ASSERT(r->phase == RP_INFILE && r->kind == RK_QUERY); break;
    case RE_NONE: FUZZ_ASSERT(r->phase != RP_IDLE || r->continuation); break;
    }
}

static void start(struct rm_resp *r, uint8_t kind_byte, uint8_t flags)
{
    memset(r, 0, sizeof(*r));
    r->deprecate_eof = flags & 1;
    r->session_track = (flags & 2) != 0;
    resp_start(r, (enum resp_kind)(kind_byte % N_KINDS));
    FUZZ_ASSERT(r->phase == (r->kind == RK_NONE ? RP_IDLE : r->kind == RK_FETCH ? RP_ROWS : RP_FIRST));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t big[] = {PKT_MAX_PAYLOAD, PKT_MAX_PAYLOAD - 1, 65536, 100000, 9, 8};
    if (size < 2)
        return 0;
    /* resp_kind_for maps every command byte to a kind */
    FUZZ_ASSERT((unsigned)resp_kind_for(data[0]) < N_KINDS);

    struct rm_resp r;
    uint8_t flags = data[1];
    start(&r, data[0], flags);
    size_t off = 2;
    while (off < size) {
        uint8_t l = data[off++];
        enum resp_event ev;
        if (l >= 0xf0) {
            if (off >= size)
                break;
            uint8_t first = data[off++];
            uint32_t plen = big[(l - 0xf0) % 6];
            if (resp_needs_whole(&r, first, plen))
                continue;
            ev = resp_feed(&r, &first, 1, plen);
        } else {
            size_t n = size - off < l ? size - off : l;
            uint8_t *p = malloc(n ? n : 1); /* exact size: ASan sees overreads */
            memcpy(p, data + off, n);
            off += n;
            if (n > 0 && !resp_needs_whole(&r, p[0], (uint32_t)n))
                ev = resp_feed(&r, p, 1, (uint32_t)n);
            else
                ev = resp_feed(&r, p, n, (uint32_t)n);
            free(p);
        }
        check_event(&r, ev);
        if (ev == RE_INFILE) {
            resp_infile_sent(&r);
            FUZZ_ASSERT(r.phase == RP_FIRST);
        } else if ((ev == RE_DONE || ev == RE_BAD) && off < size) {
            start(&r, data[off++], flags);
        }
    }
    return 0;
}
