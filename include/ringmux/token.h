/* Short-lived login tokens, the open counterpart of RDS IAM auth tokens.
 *
 *   rmt1.<key id>.<expiry, unix seconds>.<signature>
 *
 * signature = base64url (no padding) of HMAC-SHA256(key, "rmt1\n" user
 * "\n" expiry "\n" key id), with the [token_keys] entry named by key id.
 * The user is not in the token: it is the name the client logs in with,
 * and the signature covers it, so a token works for one user only.  Every
 * listed key is accepted (rotation: add the new key, sign with it, drop
 * the old one once its tokens have expired).  Pure functions, no I/O. */
#ifndef RINGMUX_TOKEN_H
#define RINGMUX_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "ringmux/config.h"

#define TOKEN_PREFIX  "rmt1."
#define TOKEN_MAX_LEN 200

enum token_result {
    TOKEN_OK = 0,
    TOKEN_NOT_A_TOKEN, /* does not start with rmt1. (an ordinary password) */
    TOKEN_MALFORMED,   /* starts like one, but the parts are wrong */
    TOKEN_UNKNOWN_KEY, /* key id not in [token_keys] */
    TOKEN_EXPIRED,     /* expiry in the past */
    TOKEN_TOO_LONG,    /* expiry further away than TOKEN_MAX_TTL_S */
    TOKEN_BAD_SIGNATURE,
};

/* Longest lifetime a token may claim (a leaked key cannot mint eternal tokens). */
#define TOKEN_MAX_TTL_S (24 * 3600)

/* Write the token for user, valid until expiry (unix seconds), signed with
 * key, into out (room bytes).  Returns its length, or -1 if it does not fit. */
int token_make(const struct rm_token_key *key, const char *user, size_t user_len, int64_t expiry, char *out,
               size_t room);

/* Check tok (len bytes) for user at time now (unix seconds) against keys. */
enum token_result token_check(const struct rm_token_key *keys, int n_keys, const char *user, size_t user_len,
                              const char *tok, size_t len, int64_t now);

/* `ringmux token ...` (src/token_cli.c): argv[0] is "token". */
int token_command(int argc, char **argv);

/* A word for logs: "expired", "bad signature", ... */
const char *token_result_str(enum token_result r);

#endif
