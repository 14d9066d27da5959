/* libFuzzer target for the connection-phase parsers: arbitrary bytes are a
 * HandshakeResponse41 from an untrusted client and a greeting from a
 * backend.  Besides the sanitizers' checks it asserts that whatever the
 * parsers return lies inside the input, that the greeting's strings are
 * terminated, and that a login written for a parsed greeting parses back
 * with the same user, database and proof.
 *
 *   scripts/fuzz.sh fuzz_handshake     (or by hand:)
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude src/proto/handshake.c \
 *       src/proto/packet.c src/proto/auth.c src/buf.c test/fuzz/fuzz_handshake.c \
 *       $(pkg-config --libs wolfssl) -o /tmp/fuzz_handshake */
#include "ringmux/handshake.h"

#include <stdlib.h>
#include <string.h>

#include "ringmux/packet.h"

#define FUZZ_ASSERT(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            abort();                                                                                                   \
    } while (0)

/* Is [p, p+n) inside [lo, hi)?  A NULL pointer with no bytes is. */
static int inside(const void *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
    const uint8_t *b = p;
    if (!b)
        return n == 0;
    return b >= lo && b <= hi && n <= (size_t)(hi - b);
}

static void fuzz_response(const uint8_t *p, size_t n)
{
    struct hs_response r;
    const char *why = NULL;
    int rc = hs_parse_response(p, n, &r, &why);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc < 0) {
        FUZZ_ASSERT(why != NULL && why[0] != 0);
        return;
    }
    const uint8_t *end = p + n;
    FUZZ_ASSERT(r.caps & CLIENT_PROTOCOL_41);
    FUZZ_ASSERT(inside(r.user, r.user_len, p, end) && r.user != NULL);
    FUZZ_ASSERT(inside(r.auth, r.auth_len, p, end));
    FUZZ_ASSERT(inside(r.db, r.db_len, p, end));
    FUZZ_ASSERT(!r.db || r.db_len > 0);
    FUZZ_ASSERT(inside(r.plugin, r.plugin_len, p, end));
    /* the user name excludes its NUL, which the parser required */
    FUZZ_ASSERT(memchr(r.user, 0, r.user_len) == NULL && r.user + r.user_len < (const char *)end);
}

static void fuzz_greeting(const uint8_t *p, size_t n)
{
    struct hs_greeting g;
    const char *why = NULL;
    int rc = hs_parse_greeting(p, n, &g, &why);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    FUZZ_ASSERT(memchr(g.version, 0, sizeof(g.version)) && memchr(g.plugin, 0, sizeof(g.plugin)));
    if (rc < 0) {
        FUZZ_ASSERT(why != NULL && why[0] != 0);
        return;
    }
    FUZZ_ASSERT(g.protocol == 10);

    /* log in to that server and read our own login back */
    static const char user[] = "fuzz", pw[] = "secret", db[] = "fuzzdb";
    uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
                    (g.caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA);
    struct rm_buf out = {0};
    FUZZ_ASSERT(hs_write_login(&out, 1, caps, g.ext_caps, g.collation, user, pw, db, &g) == 0);
    FUZZ_ASSERT(out.len > PKT_HDR && pkt_u24(out.data) == out.len - PKT_HDR && out.data[3] == 1);
    struct hs_response r;
    FUZZ_ASSERT(hs_parse_response(out.data + PKT_HDR, out.len - PKT_HDR, &r, &why) == 0);
    FUZZ_ASSERT(r.user_len == 4 && memcmp(r.user, user, 4) == 0);
    FUZZ_ASSERT(r.db_len == 6 && memcmp(r.db, db, 6) == 0);
    FUZZ_ASSERT(r.plugin != NULL);
    uint8_t want[AUTH_SHA2_LEN];
    size_t wl;
    if (r.plugin_len == strlen(AUTH_PLUGIN_SHA2) && memcmp(r.plugin, AUTH_PLUGIN_SHA2, r.plugin_len) == 0)
        auth_sha2_proof(pw, strlen(pw), g.scramble, want, &wl);
    else
        auth_native_proof(pw, strlen(pw), g.scramble, want, &wl);
    FUZZ_ASSERT(r.auth_len == wl && memcmp(r.auth, want, wl) == 0);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: libFuzzer's buffer may have slack after it */
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    fuzz_response(p, size);
    fuzz_greeting(p, size);
    /* the same bytes as a greeting once its protocol byte is right */
    if (size > 0 && p[0] != 10) {
        p[0] = 10;
        fuzz_greeting(p, size);
    }
    free(p);
    return 0;
}
