/* Authentication math for the MySQL password plugins the proxy speaks:
 * mysql_native_password (SHA1) and caching_sha2_password (SHA256 fast
 * path, RSA for full authentication without TLS).  Pure functions over
 * byte arrays; no I/O. */
#ifndef RINGMUX_AUTH_H
#define RINGMUX_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_SCRAMBLE_LEN 20
#define AUTH_NATIVE_LEN   20 /* SHA1 digest */
#define AUTH_SHA2_LEN     32 /* SHA256 digest */

#define AUTH_PLUGIN_NATIVE "mysql_native_password"
#define AUTH_PLUGIN_SHA2   "caching_sha2_password"
#define AUTH_PLUGIN_CLEAR  "mysql_clear_password"

/* Client proof for mysql_native_password:
 * SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw))).  Empty password -> no
 * bytes (*out_len = 0). */
void auth_native_proof(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN],
                       uint8_t out[AUTH_NATIVE_LEN], size_t *out_len);
/* Check a client's mysql_native_password proof against the plaintext password. */
bool auth_native_verify(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN], const uint8_t *proof,
                        size_t proof_len);

/* Client proof for caching_sha2_password (fast auth):
 * SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || scramble). */
void auth_sha2_proof(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN],
                     uint8_t out[AUTH_SHA2_LEN], size_t *out_len);
bool auth_sha2_verify(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN], const uint8_t *proof,
                      size_t proof_len);

/* caching_sha2_password full authentication without TLS: the password
 * and its NUL, XOR the scramble (repeated), RSA-OAEP (SHA-1, MGF1-SHA-1)
 * encrypted with the server's public key (PEM, "BEGIN PUBLIC KEY").
 * out has room for *out_len bytes; on success *out_len is the length. 0,
 * or -1 (bad key, password too long for the key). */
int auth_sha2_rsa_encrypt(const char *pw, size_t pw_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN], const uint8_t *pem,
                          size_t pem_len, uint8_t *out, size_t *out_len);
/* The server side: decrypt in with the private key (PEM) and undo the XOR
 * into pw (room bytes, NUL-terminated; *pw_len without the NUL).  0, or -1
 * when the key, the padding or the terminating NUL is wrong. */
int auth_sha2_rsa_decrypt(const uint8_t *in, size_t in_len, const uint8_t scramble[AUTH_SCRAMBLE_LEN],
                          const uint8_t *pem, size_t pem_len, char *pw, size_t room, size_t *pw_len);
/* 0 when pem holds an RSA public key (private: an RSA private key). */
int auth_rsa_check_key(const uint8_t *pem, size_t pem_len, bool private_key);

/* Fill buf with n random scramble bytes in 1..127 (no NUL, no '$'), from a
 * cryptographic RNG.  Returns 0, or -1 if the RNG failed. */
int auth_random_scramble(uint8_t *buf, size_t n);

#endif
