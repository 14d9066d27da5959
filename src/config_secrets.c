/* Users and secrets: [users] lines, [token_keys], the secrets file,
 * passwords from the environment and the [tls] certificate files
 * (src/config_int.h). */
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_int.h"
#include "ringmux/auth.h"
#include "ringmux/tls.h"

/* Add one [users] line. */
void cfg_user_line(struct cfg_parse *p, const char *name, const char *password)
{
    struct rm_config *c = p->c;
    char shown[80];
    if (!*name) {
        cfg_err(p, p->lineno, "[users]: empty user name; expected name = password");
        return;
    }
    if (strlen(name) > MAX_USER_NAME) {
        cfg_err(p, p->lineno, "[users] %s: user name too long; expected at most %d bytes",
                cfg_show(name, shown, sizeof(shown)), MAX_USER_NAME);
        return;
    }
    for (size_t i = 0; i < c->n_users; i++) {
        if (strcmp(c->users[i].name, name) == 0) {
            if (p->user_src[i] == p->path)
                cfg_err(p, p->lineno,
                        "[users] %s: duplicate user (first defined at line %d); "
                        "expected each user once",
                        cfg_show(name, shown, sizeof(shown)), p->user_lines[i]);
            else
                cfg_err(p, p->lineno, "[users] %s: already defined in %s:%d; expected each user in one file",
                        cfg_show(name, shown, sizeof(shown)), p->user_src[i], p->user_lines[i]);
            return;
        }
    }
    if (c->n_users == p->user_cap) {
        size_t cap = p->user_cap ? 2 * p->user_cap : 8;
        struct rm_user *u = realloc(c->users, cap * sizeof(*u));
        if (u)
            c->users = u;
        int *l = u ? realloc(p->user_lines, cap * sizeof(*l)) : NULL;
        if (l)
            p->user_lines = l;
        const char **src = l ? realloc(p->user_src, cap * sizeof(*src)) : NULL;
        if (!src) {
            cfg_err(p, p->lineno, "[users]: out of memory");
            return;
        }
        p->user_src = src;
        p->user_cap = cap;
    }
    struct rm_user *u = &c->users[c->n_users];
    u->name = strdup(name);
    u->password = strdup(password);
    if (!u->name || !u->password) {
        free(u->name);
        free(u->password);
        cfg_err(p, p->lineno, "[users]: out of memory");
        return;
    }
    p->user_src[c->n_users] = p->path;
    p->user_lines[c->n_users++] = p->lineno;
}

/* A [token_keys] line of the secrets file: name = 64 hex characters.  The
 * value never appears in a message. */
void cfg_token_key_line(struct cfg_parse *p, const char *name, const char *value)
{
    struct rm_config *c = p->c;
    char shown[80];
    size_t n = strlen(name), vl = strlen(value);
    if (n == 0 || n >= sizeof(c->token_keys[0].id) ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
        cfg_err(p, p->lineno, "[token_keys] %s: bad key name; expected 1..31 letters, digits, _ or -",
                cfg_show(name, shown, sizeof(shown)));
        return;
    }
    for (int i = 0; i < c->n_token_keys; i++)
        if (strcmp(c->token_keys[i].id, name) == 0) {
            cfg_err(p, p->lineno, "[token_keys] %s: duplicate key (first at line %d); expected each name once", name,
                    p->token_lines[i]);
            return;
        }
    if (vl != 64 || strspn(value, "0123456789abcdefABCDEF") != 64) {
        cfg_err(p, p->lineno,
                "[token_keys] %s: expected 64 hex characters (a 32-byte key, e.g. from `openssl rand -hex 32`); "
                "got %zu characters%s",
                name, vl, vl == 64 ? " with a non-hex one" : "");
        return;
    }
    if (c->n_token_keys == RM_MAX_TOKEN_KEYS) {
        cfg_err(p, p->lineno, "[token_keys] %s: too many keys; expected at most %d", name, RM_MAX_TOKEN_KEYS);
        return;
    }
    struct rm_token_key *k = &c->token_keys[c->n_token_keys];
    snprintf(k->id, sizeof(k->id), "%s", name);
    for (int i = 0; i < 32; i++) {
        char hx[3] = {value[2 * i], value[2 * i + 1], 0};
        k->key[i] = (uint8_t)strtoul(hx, NULL, 16);
    }
    p->token_lines[c->n_token_keys++] = p->lineno;
}

/* ---- secrets ------------------------------------------------------------- */

/* Read [tls] secrets_file into p->c: refused unless only its owner may
 * read it.  Errors name the secrets file and line. */
void cfg_load_secrets(struct cfg_parse *p)
{
    const char *main_path = p->path, *path = p->c->secrets_file;
    struct stat st;
    FILE *f = fopen(path, "r");
    if (!f || fstat(fileno(f), &st) < 0) {
        cfg_err(p, 0, "[tls] secrets_file %s: cannot open: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        cfg_err(p, 0, "[tls] secrets_file %s: not a regular file", path);
        fclose(f);
        return;
    }
    /* Nobody but its owner may read it; a root-owned file may also be read
     * by its group (as PostgreSQL allows for its key): how Kubernetes
     * Secret volumes (fsGroup) and root-managed groups hand files over. */
    if ((st.st_mode & 007) || ((st.st_mode & 070) && st.st_uid != 0) || (st.st_mode & 022)) {
        cfg_err(p, 0,
                "[tls] secrets_file %s: mode %04o lets %s read or change it; expected 0600 or stricter (chmod 600 "
                "%s), or 0640 when owned by root",
                path, (unsigned)(st.st_mode & 07777), st.st_mode & 007 ? "every user" : "its group", path);
        fclose(f);
        return;
    }
    FILE *main_f = p->f;
    int main_line = p->lineno, main_sec = p->sec;
    p->path = path;
    p->f = f;
    p->lineno = 0;
    p->sec = SEC_NONE;
    p->secrets = true;
    int rc = ini_parse_stream(cfg_read_line, p, cfg_on_key, p);
    if (ferror(f))
        cfg_err(p, 0, "cannot read: %s", strerror(errno));
    else if (rc > 0 && p->nerr == 0)
        cfg_err(p, rc, "syntax error; expected key = value");
    fclose(f);
    p->secrets = false;
    p->path = main_path;
    p->f = main_f;
    p->lineno = main_line;
    p->sec = main_sec;
}

/* RINGMUX_PASSWORD_<USER>: the user name upper-cased, every character
 * other than a letter or digit as '_'. */
void cfg_env_passwords(struct rm_config *c)
{
    for (size_t i = 0; i < c->n_users; i++) {
        char var[128] = "RINGMUX_PASSWORD_";
        size_t n = strlen(var);
        for (const char *q = c->users[i].name; *q && n < sizeof(var) - 1; q++) {
            char ch = *q;
            if (ch >= 'a' && ch <= 'z')
                ch = (char)(ch - 'a' + 'A');
            else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
                ch = '_';
            var[n++] = ch;
        }
        var[n] = '\0';
        const char *pw = getenv(var);
        char *copy = pw ? strdup(pw) : NULL;
        if (!copy)
            continue;
        explicit_bzero(c->users[i].password, strlen(c->users[i].password));
        free(c->users[i].password);
        c->users[i].password = copy;
    }
}

/* ---- TLS files ----------------------------------------------------------- */

#define PEM_MAX (1024 * 1024)

/* Read SECTION's KEY file into *pem; errors name the key and the file. */
static void read_pem(struct cfg_parse *p, const char *sec, const char *key, const char *path, struct rm_pem *pem)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cfg_err(p, 0, "[%s] %s %s: cannot open: %s", sec, key, path, strerror(errno));
        return;
    }
    uint8_t *d = malloc(PEM_MAX + 1);
    size_t n = d ? fread(d, 1, PEM_MAX + 1, f) : 0;
    if (!d)
        cfg_err(p, 0, "out of memory");
    else if (ferror(f))
        cfg_err(p, 0, "[%s] %s %s: cannot read: %s", sec, key, path, strerror(errno));
    else if (n > PEM_MAX)
        cfg_err(p, 0, "[%s] %s %s: larger than 1 MiB; expected a PEM file", sec, key, path);
    else if (n == 0)
        cfg_err(p, 0, "[%s] %s %s: empty; expected a PEM file", sec, key, path);
    else {
        pem->data = d;
        pem->len = n;
        d = NULL;
    }
    if (d) {
        explicit_bzero(d, PEM_MAX + 1);
        free(d);
    }
    fclose(f);
}

void cfg_free_pem(struct rm_pem *pem)
{
    if (pem->data)
        explicit_bzero(pem->data, pem->len);
    free(pem->data);
    pem->data = NULL;
    pem->len = 0;
}

/* An RSA key file for caching_sha2_password: read and parsed. */
static void read_rsa(struct cfg_parse *p, int line, const char *sec, const char *key, const char *path,
                     struct rm_pem *pem, bool private_key)
{
    unsigned before = p->nerr;
    read_pem(p, sec, key, path, pem);
    if (p->nerr == before && auth_rsa_check_key(pem->data, pem->len, private_key) < 0)
        cfg_err(p, line, "[%s] %s %s: not a PEM RSA %s key", sec, key, path, private_key ? "private" : "public");
}

/* [backend] / [backend.NAME] TLS keys of backend i. */
static void load_backend_tls(struct cfg_parse *p, int i)
{
    struct rm_backend_cfg *b = &p->c->backends[i];
    char sec[48];
    snprintf(sec, sizeof(sec), p->be_plain ? "backend" : "backend.%s", b->name);
    if (b->server_public_key)
        read_rsa(p, p->be_line[i], sec, "server_public_key", b->server_public_key, &b->server_public_key_pem, false);
    if (!b->tls_cert != !b->tls_key) {
        cfg_err(p, p->be_line[i],
                "[%s] %s is set without %s; expected both (client certificate and its key) or "
                "neither",
                sec, b->tls_cert ? "tls_cert" : "tls_key", b->tls_cert ? "tls_key" : "tls_cert");
        return;
    }
    if (b->tls == BACKEND_TLS_OFF) {
        if (b->tls_ca || b->tls_cert)
            cfg_err(p, p->be_line[i],
                    "[%s] %s is set but tls = off; expected tls = on, verify_ca or "
                    "verify_identity",
                    sec, b->tls_ca ? "tls_ca" : "tls_cert");
        return;
    }
    if (b->tls >= BACKEND_TLS_VERIFY_CA && !b->tls_ca) {
        cfg_err(p, p->be_line[i],
                "[%s] tls = %s needs tls_ca; expected the PEM file of the CA that signed the "
                "server's certificate",
                sec, b->tls == BACKEND_TLS_VERIFY_CA ? "verify_ca" : "verify_identity");
        return;
    }
    unsigned before = p->nerr;
    if (b->tls_ca)
        read_pem(p, sec, "tls_ca", b->tls_ca, &b->tls_ca_pem);
    if (b->tls_cert) {
        read_pem(p, sec, "tls_cert", b->tls_cert, &b->tls_cert_pem);
        read_pem(p, sec, "tls_key", b->tls_key, &b->tls_key_pem);
    }
    if (p->nerr != before)
        return;
    char why[300];
    struct rm_tls_ctx *x = tls_client_ctx_new(b, sec, why, sizeof(why));
    if (!x)
        cfg_err(p, p->be_line[i], "%s", why);
    tls_ctx_free(x);
}

void cfg_load_tls(struct cfg_parse *p)
{
    struct rm_config *c = p->c;
    for (int i = 0; i < c->n_backends; i++)
        load_backend_tls(p, i);
    if (!c->server_public_key != !c->server_private_key) {
        cfg_err(p, 0, "[tls] %s is set without %s; expected both (the RSA key pair) or neither",
                c->server_public_key ? "server_public_key" : "server_private_key",
                c->server_public_key ? "server_private_key" : "server_public_key");
    } else if (c->server_public_key) {
        unsigned before = p->nerr;
        read_rsa(p, 0, "tls", "server_public_key", c->server_public_key, &c->rsa_public_pem, false);
        read_rsa(p, 0, "tls", "server_private_key", c->server_private_key, &c->rsa_private_pem, true);
        uint8_t scramble[20] = {1}, enc[1024];
        char back[16];
        size_t elen = sizeof(enc), blen = 0;
        if (p->nerr == before && (auth_sha2_rsa_encrypt("ringmux", 7, scramble, c->rsa_public_pem.data,
                                                        c->rsa_public_pem.len, enc, &elen) < 0 ||
                                  auth_sha2_rsa_decrypt(enc, elen, scramble, c->rsa_private_pem.data,
                                                        c->rsa_private_pem.len, back, sizeof(back), &blen) < 0 ||
                                  blen != 7 || memcmp(back, "ringmux", 7) != 0))
            cfg_err(p, 0, "[tls] server_private_key %s: does not match server_public_key %s", c->server_private_key,
                    c->server_public_key);
    }
    if (!c->tls_cert != !c->tls_key) {
        cfg_err(p, 0, "[tls] %s is set without %s; expected both (certificate and its private key) or neither",
                c->tls_cert ? "tls_cert" : "tls_key", c->tls_cert ? "tls_key" : "tls_cert");
        return;
    }
    if (!c->tls_cert) {
        if (c->tls_ca)
            cfg_err(p, 0, "[tls] tls_ca is set without tls_cert and tls_key; expected all three for mutual TLS");
        if (c->require_tls)
            cfg_err(p, 0, "[tls] require_tls = on needs tls_cert and tls_key; expected both set");
        return;
    }
    unsigned before = p->nerr;
    read_pem(p, "tls", "tls_cert", c->tls_cert, &c->tls_cert_pem);
    read_pem(p, "tls", "tls_key", c->tls_key, &c->tls_key_pem);
    if (c->tls_ca)
        read_pem(p, "tls", "tls_ca", c->tls_ca, &c->tls_ca_pem);
    if (p->nerr != before)
        return;
    char why[300];
    struct rm_tls_ctx *x = tls_server_ctx_new(c, why, sizeof(why));
    if (!x)
        cfg_err(p, 0, "%s", why);
    tls_ctx_free(x);
}
