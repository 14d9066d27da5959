/* Password-plugin math (include/ringmux/auth.h), on wolfCrypt. */
#include "ringmux/auth.h"

#include <string.h>
#include <sys/random.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

static void sha1_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[20])
{
    wc_Sha s;
    wc_InitSha(&s);
    wc_ShaUpdate(&s, a, (word32)alen);
    if (blen)
        wc_ShaUpdate(&s, b, (word32)blen);
    wc_ShaFinal(&s, out);
    wc_ShaFree(&s);
}

static void sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    wc_Sha256 s;
    wc_InitSha256(&s);
    wc_Sha256Update(&s, a, (word32)alen);
    if (blen)
        wc_Sha256Update(&s, b, (word32)blen);
    wc_Sha256Final(&s, out);
    wc_Sha256Free(&s);
}

/* Constant-time comparison so proof checks leak no timing. */
static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

void auth_native_proof(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN],
                       uint8_t out[AUTH_NATIVE_LEN], size_t *out_len)
{
    if (pw_len == 0) {
        *out_len = 0;
        return;
    }
    uint8_t h1[20], h2[20], h3[20];
    sha1_2(pw, pw_len, NULL, 0, h1);
    sha1_2(h1, 20, NULL, 0, h2);
    sha1_2(scramble, AUTH_SCRAMBLE_LEN, h2, 20, h3);
    for (int i = 0; i < 20; i++)
        out[i] = h1[i] ^ h3[i];
    *out_len = AUTH_NATIVE_LEN;
}

/* Recompute the proof a client should have sent and compare. */
typedef void proof_fn(const char *pw, size_t pw_len, const uint8_t *scramble, uint8_t *out, size_t *out_len);

static bool verify_with(proof_fn *fn, const char *pw, size_t pw_len, const uint8_t *scramble, const uint8_t *proof,
                        size_t proof_len)
{
    uint8_t want[AUTH_SHA2_LEN]; /* the longer of the two digests */
    size_t want_len;
    fn(pw, pw_len, scramble, want, &want_len);
    return proof_len == want_len && same_bytes(proof, want, want_len);
}

bool auth_native_verify(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN], const uint8_t *proof,
                        size_t proof_len)
{
    return verify_with(auth_native_proof, pw, pw_len, scramble, proof, proof_len);
}

void auth_sha2_proof(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN],
                     uint8_t out[AUTH_SHA2_LEN], size_t *out_len)
{
    if (pw_len == 0) {
        *out_len = 0;
        return;
    }
    uint8_t h1[32], h2[32], h3[32];
    sha256_2(pw, pw_len, NULL, 0, h1);
    sha256_2(h1, 32, NULL, 0, h2);
    sha256_2(h2, 32, scramble, AUTH_SCRAMBLE_LEN, h3);
    for (int i = 0; i < 32; i++)
        out[i] = h1[i] ^ h3[i];
    *out_len = AUTH_SHA2_LEN;
}

bool auth_sha2_verify(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN], const uint8_t *proof,
                      size_t proof_len)
{
    return verify_with(auth_sha2_proof, pw, pw_len, scramble, proof, proof_len);
}

int auth_random_scramble(uint8_t *buf, size_t n)
{
    /* getrandom on a small buffer never blocks once the pool is initialised
     * (long before any client can connect). */
    if (getrandom(buf, n, 0) != (ssize_t)n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(buf[i] & 0x7f);
        if (c == 0 || c == '$')
            c = (uint8_t)('0' + (c % 10));
        buf[i] = c;
    }
    return 0;
}

/* ---- RSA for caching_sha2_password full authentication ----------------- */

#define RSA_MAX_DER 8192

/* Decode a PEM RSA key into k (initialised here; free with wc_FreeRsaKey). */
static int rsa_key(RsaKey *k, const uint8_t *pem, size_t pem_len, bool private_key)
{
    uint8_t der[RSA_MAX_DER];
    if (pem_len > 64 * 1024 || wc_InitRsaKey(k, NULL) != 0)
        return -1;
    int n = private_key ? wc_KeyPemToDer(pem, (int)pem_len, der, sizeof(der), NULL)
                        : wc_PubKeyPemToDer(pem, (int)pem_len, der, sizeof(der));
    word32 idx = 0;
    int rc = n > 0 ? (private_key ? wc_RsaPrivateKeyDecode(der, &idx, k, (word32)n)
                                  : wc_RsaPublicKeyDecode(der, &idx, k, (word32)n))
                   : -1;
    explicit_bzero(der, sizeof(der));
    if (rc != 0) {
        wc_FreeRsaKey(k);
        return -1;
    }
    return 0;
}

int auth_rsa_check_key(const uint8_t *pem, size_t pem_len, bool private_key)
{
    RsaKey k;
    if (rsa_key(&k, pem, pem_len, private_key) < 0)
        return -1;
    wc_FreeRsaKey(&k);
    return 0;
}

int auth_sha2_rsa_encrypt(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN], const uint8_t *pem,
                          size_t pem_len, uint8_t *out, size_t *out_len)
{
    uint8_t buf[512];
    if (pw_len + 1 > sizeof(buf))
        return -1;
    for (size_t i = 0; i <= pw_len; i++)
        buf[i] = (uint8_t)((i < pw_len ? (uint8_t)pw[i] : 0) ^ scramble[i % AUTH_SCRAMBLE_LEN]);
    RsaKey k;
    WC_RNG rng;
    int rc = -1;
    if (rsa_key(&k, pem, pem_len, false) < 0)
        goto out;
    if (wc_InitRng(&rng) == 0) {
        int n = wc_RsaPublicEncrypt_ex(buf, (word32)pw_len + 1, out, (word32)*out_len, &k, &rng, WC_RSA_OAEP_PAD,
                                       WC_HASH_TYPE_SHA, WC_MGF1SHA1, NULL, 0);
        if (n > 0) {
            *out_len = (size_t)n;
            rc = 0;
        }
        wc_FreeRng(&rng);
    }
    wc_FreeRsaKey(&k);
out:
    explicit_bzero(buf, sizeof(buf));
    return rc;
}

int auth_sha2_rsa_decrypt(const uint8_t *in, size_t in_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN],
                          const uint8_t *pem, size_t pem_len, char *pw, size_t room, size_t *pw_len)
{
    uint8_t buf[1024];
    RsaKey k;
    if (in_len == 0 || in_len > sizeof(buf) || rsa_key(&k, pem, pem_len, true) < 0)
        return -1;
    WC_RNG rng;
    int n = -1;
    if (wc_InitRng(&rng) == 0) { /* blinding */
        wc_RsaSetRNG(&k, &rng);
        n = wc_RsaPrivateDecrypt_ex(in, (word32)in_len, buf, sizeof(buf), &k, WC_RSA_OAEP_PAD, WC_HASH_TYPE_SHA,
                                    WC_MGF1SHA1, NULL, 0);
        wc_FreeRng(&rng);
    }
    wc_FreeRsaKey(&k);
    int rc = -1;
    if (n > 0 && (size_t)n <= room) {
        for (int i = 0; i < n; i++)
            buf[i] ^= scramble[(size_t)i % AUTH_SCRAMBLE_LEN];
        if (buf[n - 1] == 0 && memchr(buf, 0, (size_t)n - 1) == NULL) {
            memcpy(pw, buf, (size_t)n);
            *pw_len = (size_t)n - 1;
            rc = 0;
        }
    }
    explicit_bzero(buf, sizeof(buf));
    return rc;
}
