/* `ringmux token -c CONFIG --user U [--ttl 15m] [--key NAME]`: print a
 * login token (include/ringmux/token.h) as the last line of stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmux/config.h"
#include "ringmux/token.h"

static void token_usage(FILE *f)
{
    fprintf(f, "Usage: ringmux token -c FILE --user USER [--ttl DURATION] [--key NAME]\n"
               "\n"
               "Print a login token for USER, valid for DURATION (default 15m, at most 24h),\n"
               "signed with [token_keys] NAME of the secrets file (default: the last one\n"
               "listed, so a newly added key signs from then on).  Clients send the token as\n"
               "their password over TLS (mariadb --ssl --enable-cleartext-plugin).\n");
}

int token_command(int argc, char **argv)
{
    const char *path = NULL, *user = NULL, *ttl_s = "15m", *key_name = NULL;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"user", required_argument, NULL, 'u'},
        {"ttl", required_argument, NULL, 't'},    {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:u:t:k:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'u': user = optarg; break;
        case 't': ttl_s = optarg; break;
        case 'k': key_name = optarg; break;
        case 'h': token_usage(stdout); return 0;
        default: token_usage(stderr); return 2;
        }
    }
    if (optind != argc || !path || !user) {
        fprintf(stderr, "ringmux token: %s\n",
                !path   ? "-c FILE is needed"
                : !user ? "--user USER is needed"
                        : "unexpected argument");
        token_usage(stderr);
        return 2;
    }
    int64_t ttl_ms;
    if (cfg_parse_duration_ms(ttl_s, &ttl_ms) < 0 || ttl_ms < 1000 || ttl_ms > TOKEN_MAX_TTL_S * 1000LL) {
        fprintf(stderr, "ringmux token: --ttl %s: expected a duration from 1s to 24h, like 15m\n", ttl_s);
        return 2;
    }
    char err[8192];
    struct rm_config *c;
    if (cfg_load(path, &c, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = 1;
    const struct rm_token_key *key = NULL;
    for (int i = 0; i < c->n_token_keys; i++)
        if (!key_name || strcmp(c->token_keys[i].id, key_name) == 0)
            key = &c->token_keys[i];
    if (!key) {
        if (key_name)
            fprintf(stderr, "ringmux token: --key %s: no such key in [token_keys] of the secrets file\n", key_name);
        else
            fprintf(stderr, "ringmux token: no [token_keys] in the secrets file ([tls] secrets_file of %s)\n", path);
    } else if (!cfg_find_user(c, user, strlen(user))) {
        fprintf(stderr, "ringmux token: --user %s: not in [users]; tokens log in as a listed user\n", user);
    } else {
        char tok[TOKEN_MAX_LEN + 1];
        int64_t expiry = (int64_t)time(NULL) + ttl_ms / 1000;
        if (token_make(key, user, strlen(user), expiry, tok, sizeof(tok)) < 0) {
            fprintf(stderr, "ringmux token: cannot make the token\n");
        } else {
            char when[32];
            time_t t = (time_t)expiry;
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
            printf("# user %s, key %s, valid until %s\n%s\n", user, key->id, when, tok);
            rc = 0;
        }
    }
    cfg_free(c);
    return rc;
}
