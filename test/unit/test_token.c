/* Unit tests for login tokens (src/token.c) and the RSA step of
 * caching_sha2_password full authentication (src/proto/auth.c):
 *   - a token's signature is checked against an independent HMAC-SHA256
 *     (openssl dgst, the algorithm written down in token.h);
 *   - every refusal: not a token, malformed parts, unknown key, expired,
 *     too long-lived, tampered signature, another user's token;
 *   - RSA: our encryption decrypts with `openssl pkeyutl` (OAEP, SHA-1),
 *     openssl's encryption decrypts with ours, and a wrong key fails. */
#include "ringmux/auth.h"
#include "ringmux/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

static int run(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    return pclose(p);
}

static struct rm_token_key keys[2] = {{.id = "k1"}, {.id = "key-2"}};

static void test_tokens(void)
{
    for (int i = 0; i < 32; i++) {
        keys[0].key[i] = (uint8_t)i;
        keys[1].key[i] = (uint8_t)(0xa0 + i);
    }
    char tok[TOKEN_MAX_LEN + 1];
    int64_t now = 1800000000, exp = now + 900;
    int n = token_make(&keys[0], "app", 3, exp, tok, sizeof(tok));
    CHECK(n > 0 && strncmp(tok, "rmt1.k1.1800000900.", 19) == 0, "token shape: %s", tok);
    CHECK(token_check(keys, 2, "app", 3, tok, (size_t)n, now) == TOKEN_OK, "valid");
    /* The signature, independently: openssl's HMAC-SHA256 of the message. */
    char cmd[512], out[512];
    snprintf(cmd, sizeof(cmd),
             "printf 'rmt1\\napp\\n1800000900\\nk1' | openssl dgst -sha256 -mac HMAC -macopt "
             "hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f -binary | base64 | "
             "tr '+/' '-_' | tr -d '=\\n'");
    CHECK(run(cmd, out, sizeof(out)) == 0 && strcmp(out, tok + 19) == 0, "signature: openssl %s, ours %s", out,
          tok + 19);
    /* Refusals. */
    CHECK(token_check(keys, 2, "app", 3, "app-password", 12, now) == TOKEN_NOT_A_TOKEN, "a password");
    CHECK(token_check(keys, 2, "app", 3, tok, (size_t)n, exp) == TOKEN_EXPIRED, "expired at its second");
    CHECK(token_check(keys, 2, "app", 3, tok, (size_t)n, exp - TOKEN_MAX_TTL_S - 1) == TOKEN_TOO_LONG,
          "valid for more than a day");
    CHECK(token_check(keys, 2, "ap", 2, tok, (size_t)n, now) == TOKEN_BAD_SIGNATURE, "another user");
    CHECK(token_check(keys, 2, "appx", 4, tok, (size_t)n, now) == TOKEN_BAD_SIGNATURE, "a longer user");
    CHECK(token_check(&keys[1], 1, "app", 3, tok, (size_t)n, now) == TOKEN_UNKNOWN_KEY, "key not listed");
    for (int i = 19; i < n; i++) { /* every signature character flipped */
        char t[TOKEN_MAX_LEN + 1];
        memcpy(t, tok, (size_t)n + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        CHECK(token_check(keys, 2, "app", 3, t, (size_t)n, now) != TOKEN_OK, "flipped %d accepted", i);
    }
    char t2[TOKEN_MAX_LEN + 1];
    snprintf(t2, sizeof(t2), "%s", tok);
    t2[12] = '1'; /* the expiry changed: 1800000900 -> 1800001900 */
    CHECK(token_check(keys, 2, "app", 3, t2, strlen(t2), now) == TOKEN_BAD_SIGNATURE, "expiry extended");
    /* One spelling per token: a zero before the expiry is not the same token. */
    char t3[TOKEN_MAX_LEN + 2];
    snprintf(t3, sizeof(t3), "rmt1.k1.0%s", tok + 8);
    CHECK(token_check(keys, 2, "app", 3, t3, strlen(t3), now) == TOKEN_MALFORMED, "leading zero: %s", t3);
    static const char *const malformed[] = {"rmt1.",
                                            "rmt1.k1",
                                            "rmt1.k1.",
                                            "rmt1.k1.123",
                                            "rmt1..123.AAAA",
                                            "rmt1.k1.12a4.AAAA",
                                            "rmt1.k1.1800000900.short",
                                            "rmt1.k1.1800000900.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                                            "rmt1.k1.18000009001234567.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                            "rmt1.k1.01800000900.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        CHECK(token_check(keys, 2, "app", 3, malformed[i], strlen(malformed[i]), now) == TOKEN_MALFORMED,
              "malformed %zu: %s -> %s", i, malformed[i],
              token_result_str(token_check(keys, 2, "app", 3, malformed[i], strlen(malformed[i]), now)));
    /* The second key signs too. */
    n = token_make(&keys[1], "app", 3, exp, tok, sizeof(tok));
    CHECK(n > 0 && token_check(keys, 2, "app", 3, tok, (size_t)n, now) == TOKEN_OK, "second key");
    CHECK(token_make(&keys[0], "app", 3, exp, tok, 20) < 0, "too small a buffer");
}

static void test_rsa(void)
{
    char dir[] = "/tmp/ringmux-rsa-XXXXXX", cmd[1024], out[4096];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out priv.pem 2>&1 && "
             "openssl rsa -in priv.pem -pubout -out pub.pem 2>&1 && openssl genpkey -algorithm RSA -out other.pem "
             "2>&1",
             dir);
    if (run(cmd, out, sizeof(out)) != 0) {
        CHECK(0, "openssl genpkey: %s", out);
        return;
    }
    uint8_t pub[4096], priv[4096], other[4096];
    size_t publ = 0, privl = 0, otherl = 0;
    const char *names[] = {"pub.pem", "priv.pem", "other.pem"};
    uint8_t *bufs[] = {pub, priv, other};
    size_t *lens[] = {&publ, &privl, &otherl};
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        *lens[i] = f ? fread(bufs[i], 1, 4096, f) : 0;
        if (f)
            fclose(f);
    }
    CHECK(auth_rsa_check_key(pub, publ, false) == 0 && auth_rsa_check_key(priv, privl, true) == 0, "keys parse");
    CHECK(auth_rsa_check_key((const uint8_t *)"junk", 4, true) < 0, "junk is no key");
    uint8_t scramble[AUTH_SCRAMBLE_LEN];
    for (int i = 0; i < AUTH_SCRAMBLE_LEN; i++)
        scramble[i] = (uint8_t)(33 + i);
    const char *pw = "a longer password, 40 characters long...";
    uint8_t enc[512];
    size_t elen = sizeof(enc);
    CHECK(auth_sha2_rsa_encrypt(pw, strlen(pw), scramble, pub, publ, enc, &elen) == 0 && elen == 256, "encrypt");
    /* openssl decrypts it: the password and its NUL, XOR the scramble. */
    char path[128];
    snprintf(path, sizeof(path), "%s/enc.bin", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fwrite(enc, 1, elen, f);
        fclose(f);
    }
    snprintf(cmd, sizeof(cmd), "openssl pkeyutl -decrypt -inkey %s/priv.pem -pkeyopt rsa_padding_mode:oaep -in %s", dir,
             path);
    FILE *p = popen(cmd, "r");
    uint8_t dec[512];
    size_t dl = p ? fread(dec, 1, sizeof(dec), p) : 0;
    if (p)
        pclose(p);
    bool same = dl == strlen(pw) + 1;
    for (size_t i = 0; same && i < dl; i++)
        same = (uint8_t)(dec[i] ^ scramble[i % AUTH_SCRAMBLE_LEN]) == (i < strlen(pw) ? (uint8_t)pw[i] : 0);
    CHECK(same, "openssl does not decrypt ours to the password (%zu bytes)", dl);
    /* Ours decrypts ours, and openssl's. */
    char back[256];
    size_t bl = 0;
    CHECK(auth_sha2_rsa_decrypt(enc, elen, scramble, priv, privl, back, sizeof(back), &bl) == 0 && bl == strlen(pw) &&
              strcmp(back, pw) == 0,
          "round trip");
    snprintf(path, sizeof(path), "%s/plain.bin", dir);
    f = fopen(path, "w");
    if (f) {
        for (size_t i = 0; i <= 6; i++)
            fputc((i < 6 ? "secret"[i] : 0) ^ scramble[i], f);
        fclose(f);
    }
    snprintf(cmd, sizeof(cmd),
             "openssl pkeyutl -encrypt -pubin -inkey %s/pub.pem -pkeyopt rsa_padding_mode:oaep -in %s -out %s/o.bin "
             "&& cat %s/o.bin",
             dir, path, dir, dir);
    p = popen(cmd, "r");
    uint8_t oenc[512];
    size_t ol = p ? fread(oenc, 1, sizeof(oenc), p) : 0;
    if (p)
        pclose(p);
    CHECK(ol == 256 && auth_sha2_rsa_decrypt(oenc, ol, scramble, priv, privl, back, sizeof(back), &bl) == 0 &&
              strcmp(back, "secret") == 0,
          "openssl's encryption");
    CHECK(auth_sha2_rsa_decrypt(enc, elen, scramble, other, otherl, back, sizeof(back), &bl) < 0, "wrong key");
    enc[10] ^= 1;
    CHECK(auth_sha2_rsa_decrypt(enc, elen, scramble, priv, privl, back, sizeof(back), &bl) < 0, "damaged");
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    elen = sizeof(enc);
    CHECK(auth_sha2_rsa_encrypt(big, strlen(big), scramble, pub, publ, enc, &elen) < 0, "too long for the key");
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void)
{
    test_tokens();
    test_rsa();
    return unit_summary();
}
