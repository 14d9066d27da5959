/* libFuzzer target for login tokens (src/token.c): the first input byte is
 * the user name's length, the user name follows, the rest is the token text
 * a client would send as its password.  Two keys ("k1", "k2") and a fixed
 * clock.  Besides the sanitizers' checks it asserts that
 *   - token_check answers one of enum token_result, and the cheap verdicts
 *     (not a token, too long) are the ones the format implies;
 *   - a token is only ever accepted when it is, byte for byte, what
 *     token_make writes for that user, key id and expiry -- for the fuzzed
 *     text as it is, and for a token made by token_make and then edited by
 *     the fuzzed text read as an edit script (3-byte steps: replace, insert,
 *     delete a byte);
 *   - a token made for the user with k1, valid for 60 s, is accepted, and
 *     no single changed signature byte, other user, key not configured or
 *     expiry out of range is.
 *
 * An accepted token is byte for byte what token_make writes: leading zeros
 * in the expiry ("rmt1.k1.01700000060.<sig>", once accepted with the
 * signature of the zero-less token) are refused.
 *
 *   scripts/fuzz.sh fuzz_token        (or by hand:)
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude src/token.c test/fuzz/fuzz_token.c \
 *       $(pkg-config --libs wolfssl) -o /tmp/fuzz_token */
#include "ringmux/token.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            abort();                                                                                                   \
    } while (0)

#define NOW      ((int64_t)1700000000)
#define SIG_LEN  43 /* base64url of an HMAC-SHA256, unpadded (token.c) */
#define TOK_ROOM 256

static struct rm_token_key keys[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    strcpy(keys[0].id, "k1");
    strcpy(keys[1].id, "k2");
    for (int i = 0; i < 32; i++) {
        keys[0].key[i] = (uint8_t)(i * 7 + 1);
        keys[1].key[i] = (uint8_t)(0xa5 ^ (i * 13));
    }
    return 0;
}

static bool valid_result(enum token_result r)
{
    switch (r) {
    case TOKEN_OK:
    case TOKEN_NOT_A_TOKEN:
    case TOKEN_MALFORMED:
    case TOKEN_UNKNOWN_KEY:
    case TOKEN_EXPIRED:
    case TOKEN_TOO_LONG:
    case TOKEN_BAD_SIGNATURE: return true;
    }
    return false;
}

/* tok was accepted for user: it must be what token_make writes for the key
 * id and expiry it names. */
static void check_canonical(const char *user, size_t ulen, const char *tok, size_t len)
{
    size_t pl = strlen(TOKEN_PREFIX);
    FUZZ_ASSERT(len > pl && len <= TOKEN_MAX_LEN && !memcmp(tok, TOKEN_PREFIX, pl));
    const char *p = tok + pl, *end = tok + len;
    const char *dot1 = memchr(p, '.', (size_t)(end - p));
    FUZZ_ASSERT(dot1 && dot1 > p);
    const char *e = dot1 + 1;
    const char *dot2 = memchr(e, '.', (size_t)(end - e));
    FUZZ_ASSERT(dot2 && dot2 > e && end - (dot2 + 1) == SIG_LEN);
    int64_t expiry = 0;
    for (const char *q = e; q < dot2; q++) {
        FUZZ_ASSERT(*q >= '0' && *q <= '9');
        expiry = expiry * 10 + (*q - '0');
    }
    FUZZ_ASSERT(expiry > NOW && expiry - NOW <= TOKEN_MAX_TTL_S);
    size_t id_len = (size_t)(dot1 - p);
    const struct rm_token_key *key = NULL;
    for (int i = 0; i < 2; i++)
        if (strlen(keys[i].id) == id_len && !memcmp(keys[i].id, p, id_len))
            key = &keys[i];
    FUZZ_ASSERT(key);
    char want[TOK_ROOM];
    int n = token_make(key, user, ulen, expiry, want, sizeof(want));
    FUZZ_ASSERT(n > 0);
    /* One spelling per token: exactly what token_make writes. */
    FUZZ_ASSERT((size_t)n == len && !memcmp(want, tok, len));
}

static enum token_result check(const char *user, size_t ulen, const char *tok, size_t len)
{
    enum token_result r = token_check(keys, 2, user, ulen, tok, len, NOW);
    FUZZ_ASSERT(valid_result(r));
    FUZZ_ASSERT(strcmp(token_result_str(r), "?") != 0);
    size_t pl = strlen(TOKEN_PREFIX);
    bool prefixed = len >= pl && !memcmp(tok, TOKEN_PREFIX, pl);
    FUZZ_ASSERT((r == TOKEN_NOT_A_TOKEN) == !prefixed);
    if (prefixed && len > TOKEN_MAX_LEN)
        FUZZ_ASSERT(r == TOKEN_MALFORMED);
    if (r == TOKEN_OK)
        check_canonical(user, ulen, tok, len);
    return r;
}

/* The fuzzed text applied as edits to a valid token. */
static void fuzz_edits(const char *user, size_t ulen, const char *good, size_t glen, const uint8_t *script, size_t slen)
{
    char t[TOK_ROOM + 16];
    size_t len = glen;
    memcpy(t, good, glen);
    for (size_t i = 0; i + 3 <= slen && i < 3 * 8; i += 3) {
        uint8_t kind = script[i], pos = script[i + 1], val = script[i + 2];
        switch (kind % 3) {
        case 0:
            if (len)
                t[pos % len] = (char)val;
            break;
        case 1:
            if (len < sizeof(t)) {
                size_t at = pos % (len + 1);
                memmove(t + at + 1, t + at, len - at);
                t[at] = (char)val;
                len++;
            }
            break;
        default:
            if (len) {
                size_t at = pos % len;
                memmove(t + at, t + at + 1, len - at - 1);
                len--;
            }
            break;
        }
    }
    enum token_result r = check(user, ulen, t, len);
    if (len == glen && !memcmp(t, good, glen))
        FUZZ_ASSERT(r == TOKEN_OK);
}

/* A token made for user: accepted; any one signature byte changed, another
 * user, an unknown key or an expiry out of range: refused. */
static void fuzz_roundtrip(const char *user, size_t ulen, uint8_t flip, char *good, size_t *glen)
{
    char tok[TOK_ROOM];
    int n = token_make(&keys[0], user, ulen, NOW + 60, tok, sizeof(tok));
    FUZZ_ASSERT(n > 0 && (size_t)n < sizeof(tok) && n <= TOKEN_MAX_LEN);
    FUZZ_ASSERT(check(user, ulen, tok, (size_t)n) == TOKEN_OK);
    memcpy(good, tok, (size_t)n);
    *glen = (size_t)n;

    /* too small a buffer: -1, nothing claimed */
    FUZZ_ASSERT(token_make(&keys[0], user, ulen, NOW + 60, tok, (size_t)n) == -1);
    FUZZ_ASSERT(token_make(&keys[0], user, ulen, NOW + 60, tok, sizeof(tok)) == n && !memcmp(tok, good, (size_t)n));

    uint8_t x = flip ? flip : 1;
    for (size_t i = (size_t)n - SIG_LEN; i < (size_t)n; i++) {
        char saved = tok[i];
        tok[i] = (char)(tok[i] ^ x);
        enum token_result r = check(user, ulen, tok, (size_t)n);
        FUZZ_ASSERT(r == TOKEN_BAD_SIGNATURE || r == TOKEN_MALFORMED);
        tok[i] = saved;
    }

    /* the same token for another user (one byte more, or one changed) */
    char other[260];
    memcpy(other, user, ulen);
    other[ulen] = 'x';
    FUZZ_ASSERT(check(other, ulen + 1, tok, (size_t)n) == TOKEN_BAD_SIGNATURE);
    if (ulen) {
        other[0] = (char)(other[0] ^ x);
        FUZZ_ASSERT(check(other, ulen, tok, (size_t)n) == TOKEN_BAD_SIGNATURE);
    }

    /* k2 signs too; a key that is not configured does not */
    n = token_make(&keys[1], user, ulen, NOW + 60, tok, sizeof(tok));
    FUZZ_ASSERT(n > 0 && check(user, ulen, tok, (size_t)n) == TOKEN_OK);
    FUZZ_ASSERT(token_check(keys, 1, user, ulen, tok, (size_t)n, NOW) == TOKEN_UNKNOWN_KEY);

    /* expiry bounds: now is expired, now + max is fine, one more is too long */
    static const struct {
        int64_t delta;
        enum token_result want;
    } ttl[] = {
        {0, TOKEN_EXPIRED},
        {-1, TOKEN_EXPIRED},
        {1, TOKEN_OK},
        {TOKEN_MAX_TTL_S, TOKEN_OK},
        {TOKEN_MAX_TTL_S + 1, TOKEN_TOO_LONG},
    };
    for (size_t i = 0; i < sizeof(ttl) / sizeof(ttl[0]); i++) {
        n = token_make(&keys[0], user, ulen, NOW + ttl[i].delta + flip, tok, sizeof(tok));
        FUZZ_ASSERT(n > 0);
        FUZZ_ASSERT(token_check(keys, 2, user, ulen, tok, (size_t)n, NOW + flip) == ttl[i].want);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t ulen = data[0];
    if (ulen > size - 1)
        ulen = size - 1;
    /* copies of exactly the bytes each part has, so ASan sees any overread */
    char *user = malloc(ulen ? ulen : 1);
    memcpy(user, data + 1, ulen);
    size_t tlen = size - 1 - ulen;
    char *tok = malloc(tlen ? tlen : 1);
    memcpy(tok, data + 1 + ulen, tlen);

    check(user, ulen, tok, tlen);

    char good[TOK_ROOM];
    size_t glen = 0;
    fuzz_roundtrip(user, ulen, tlen ? (uint8_t)tok[0] : 0, good, &glen);
    fuzz_edits(user, ulen, good, glen, (const uint8_t *)tok, tlen);

    free(tok);
    free(user);
    return 0;
}
