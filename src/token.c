/* Login tokens (include/ringmux/token.h), HMAC-SHA256 on wolfCrypt. */
#include "ringmux/token.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#define SIG_LEN 43 /* base64url of 32 bytes, unpadded */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url_encode(const uint8_t in[32], char out[SIG_LEN + 1])
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < 32; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = b64url[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

/* HMAC-SHA256(key, "rmt1\n" user "\n" expiry "\n" id) as base64url. */
static int sign(const struct rm_token_key *key, const char *user, size_t user_len, int64_t expiry,
                char out[SIG_LEN + 1])
{
    char head[64];
    int hl = snprintf(head, sizeof(head), "\n%lld\n", (long long)expiry);
    Hmac h;
    uint8_t mac[WC_SHA256_DIGEST_SIZE];
    int rc = -1;
    if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
        return -1;
    if (wc_HmacSetKey(&h, WC_SHA256, key->key, sizeof(key->key)) == 0 &&
        wc_HmacUpdate(&h, (const byte *)"rmt1\n", 5) == 0 &&
        wc_HmacUpdate(&h, (const byte *)user, (word32)user_len) == 0 &&
        wc_HmacUpdate(&h, (const byte *)head, (word32)hl) == 0 &&
        wc_HmacUpdate(&h, (const byte *)key->id, (word32)strlen(key->id)) == 0 && wc_HmacFinal(&h, mac) == 0) {
        b64url_encode(mac, out);
        rc = 0;
    }
    wc_HmacFree(&h);
    return rc;
}

int token_make(const struct rm_token_key *key, const char *user, size_t user_len, int64_t expiry, char *out,
               size_t room)
{
    char sig[SIG_LEN + 1];
    if (sign(key, user, user_len, expiry, sig) < 0)
        return -1;
    int n = snprintf(out, room, TOKEN_PREFIX "%s.%lld.%s", key->id, (long long)expiry, sig);
    return n > 0 && (size_t)n < room ? n : -1;
}

/* Constant-time comparison of two equal-length strings. */
static bool same(const char *a, const char *b, size_t n)
{
    unsigned d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned)(a[i] ^ b[i]);
    return d == 0;
}

enum token_result token_check(const struct rm_token_key *keys, int n_keys, const char *user, size_t user_len,
                              const char *tok, size_t len, int64_t now)
{
    size_t pl = strlen(TOKEN_PREFIX);
    if (len < pl || memcmp(tok, TOKEN_PREFIX, pl) != 0)
        return TOKEN_NOT_A_TOKEN;
    if (len > TOKEN_MAX_LEN)
        return TOKEN_MALFORMED;
    /* id . expiry . signature */
    const char *p = tok + pl, *end = tok + len;
    const char *dot1 = memchr(p, '.', (size_t)(end - p));
    if (!dot1 || dot1 == p)
        return TOKEN_MALFORMED;
    const char *e = dot1 + 1;
    const char *dot2 = memchr(e, '.', (size_t)(end - e));
    if (!dot2 || dot2 == e || dot2 - e > 12 || (*e == '0' && dot2 - e > 1))
        return TOKEN_MALFORMED; /* one spelling per token: no leading zeros */
    int64_t expiry = 0;
    for (const char *q = e; q < dot2; q++) {
        if (*q < '0' || *q > '9')
            return TOKEN_MALFORMED;
        expiry = expiry * 10 + (*q - '0');
    }
    const char *sig = dot2 + 1;
    if (end - sig != SIG_LEN)
        return TOKEN_MALFORMED;
    for (const char *q = sig; q < end; q++)
        if (!strchr(b64url, *q) || *q == '\0')
            return TOKEN_MALFORMED;
    size_t id_len = (size_t)(dot1 - p);
    const struct rm_token_key *key = NULL;
    for (int i = 0; i < n_keys; i++)
        if (strlen(keys[i].id) == id_len && memcmp(keys[i].id, p, id_len) == 0)
            key = &keys[i];
    if (!key)
        return TOKEN_UNKNOWN_KEY;
    char want[SIG_LEN + 1];
    if (sign(key, user, user_len, expiry, want) < 0 || !same(want, sig, SIG_LEN))
        return TOKEN_BAD_SIGNATURE; /* also: a token made for another user */
    if (expiry <= now)
        return TOKEN_EXPIRED;
    if (expiry - now > TOKEN_MAX_TTL_S)
        return TOKEN_TOO_LONG;
    return TOKEN_OK;
}

const char *token_result_str(enum token_result r)
{
    switch (r) {
    case TOKEN_OK: return "valid";
    case TOKEN_NOT_A_TOKEN: return "not a token";
    case TOKEN_MALFORMED: return "malformed token";
    case TOKEN_UNKNOWN_KEY: return "token signed with a key not in [token_keys]";
    case TOKEN_EXPIRED: return "expired token";
    case TOKEN_TOO_LONG: return "token valid for longer than 24 h";
    case TOKEN_BAD_SIGNATURE: return "token signature does not match (tampered, or made for another user)";
    }
    return "?";
}
