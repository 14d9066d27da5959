/* The connection phase of a client session: accept, greeting,
 * HandshakeResponse41, auth switch, credentials against [users], and
 * COM_CHANGE_USER (include/ringmux/session.h). */
#include "ringmux/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringmux/backend.h"
#include "ringmux/handshake.h"
#include "ringmux/kill.h"
#include "ringmux/limits.h"
#include "ringmux/log.h"
#include "ringmux/net.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/resultset.h"
#include "ringmux/tls.h"
#include "ringmux/token.h"
#include "ringmux/vars.h"
#include "ringmux/worker.h"
#include "session_int.h"

static void ops_data(struct rm_conn *c, const uint8_t *data, size_t len, size_t *used)
{
    sess_on_data((struct rm_session *)c, data, len, used);
}

static void ops_eof(struct rm_conn *c, int err)
{
    sess_on_eof((struct rm_session *)c, err);
}

static void ops_flushed(struct rm_conn *c, bool drained)
{
    (void)drained;
    sess_on_flushed((struct rm_session *)c);
}

static void ops_tls(struct rm_conn *c, bool ok)
{
    struct rm_session *s = (struct rm_session *)c;
    struct rm_worker *w = W(s);
    if (!ok) {
        MET_INC(&w->met, tls_failures);
        return;
    }
    MET_INC(&w->met, tls_handshakes);
    if (tls_conn_resumed(c))
        MET_INC(&w->met, tls_resumed);
    if (log_enabled(LOG_DEBUG)) {
        char d[96];
        slog(LOG_DEBUG, s, "TLS: %s", tls_conn_describe(c, d, sizeof(d)));
    }
}

static void ops_free(struct rm_conn *c)
{
    sess_free((struct rm_session *)c);
}

/* Client sessions on the ring: idle ones keep no send buffer. */
static const struct conn_ops sess_ops = {
    .name = "client",
    .on_data = ops_data,
    .on_eof = ops_eof,
    .on_flushed = ops_flushed,
    .on_tls = ops_tls,
    .free = ops_free,
    .keep_buffers = false,
};

/* The worker's TLS context for clients, built from the current config at
 * the first accept after a (re)load; NULL when TLS is off. */
static struct rm_tls_ctx *client_tls(struct rm_worker *w)
{
    if (!w->tls_built) {
        w->tls_built = true;
        if (w->cfg->tls_cert) {
            char err[300];
            w->tls_server = tls_server_ctx_new(w->cfg, err, sizeof(err));
            if (!w->tls_server)
                log_error("worker %d: TLS for clients is off: %s", w->idx, err);
        }
    }
    return w->tls_server;
}

static struct rm_session *accept_session(struct rm_worker *w, int fd, bool reader, bool console);

void sess_accept(struct rm_worker *w, int fd, bool reader)
{
    accept_session(w, fd, reader, false);
}

void sess_accept_console(struct rm_worker *w, int fd)
{
    accept_session(w, fd, false, true);
}

/* A new client connection: the session, its greeting; NULL if refused. */
static struct rm_session *accept_session(struct rm_worker *w, int fd, bool reader, bool console)
{
    struct rm_session *s = calloc(1, sizeof(*s));
    if (!s || conn_register(w, &s->c, &sess_ops, fd) < 0) {
        free(s);
        close(fd);
        MET_INC(&w->met, clients_rejected);
        return NULL;
    }
    link_init(&s->wait_link); /* TCP_NODELAY/keepalive come from the listener */
    s->reader = reader;
    s->console = console;
    s->server = w->topo->server; /* what this client is told, kept for its handshake */
    if (client_tls(w))
        s->server.caps |= CLIENT_SSL;
    link_push_back(&w->sessions, &s->link);
    /* The id names its worker, so KILL <id> from any worker finds it. */
    s->id = ++w->next_sess_seq * (uint32_t)w->sh->n_workers + (uint32_t)w->idx;
    s->last_active_ms = w->now_ms;
    s->born_ms = w->now_ms;
    s->user_slot = -1;
    s->status = SERVER_STATUS_AUTOCOMMIT;
    s->state = SESS_HANDSHAKE; /* born in it: no transition */
    MET_INC(&w->met, clients_accepted);
    MET_INC(&w->met, clients_current);
    int total = atomic_fetch_add(&w->sh->clients_total, 1) + 1;
    if (total > w->cfg->max_client_connections) {
        MET_INC(&w->met, clients_rejected);
        char msg[160];
        snprintf(msg, sizeof(msg), "Too many connections (ringmux max_client_connections = %d)",
                 w->cfg->max_client_connections);
        sess_err_and_close(s, 0, 1040, "08004", msg);
        return NULL;
    }
    s->unauth = true;
    int unauth = atomic_fetch_add(&w->sh->limits.unauthenticated, 1) + 1;
    if (w->cfg->max_unauthenticated > 0 && unauth > w->cfg->max_unauthenticated) {
        MET_INC(&w->met, unauth_refused);
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "Too many connections logging in at once (ringmux max_unauthenticated_connections = %d)",
                 w->cfg->max_unauthenticated);
        sess_err_and_close(s, 0, 1040, "08004", msg);
        return NULL;
    }
    if (auth_random_scramble(s->scramble, AUTH_SCRAMBLE_LEN) < 0 ||
        hs_write_greeting(&s->c.out, &s->server, s->id, s->scramble) < 0) {
        sess_close(s, "cannot build greeting");
        return NULL;
    }
    s->seq = 1;
    conn_flush(&s->c);
    conn_arm_recv(&s->c);
    return s;
}

void sess_peer(const struct rm_session *s, char *out, size_t len, bool with_port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "unknown";
    uint16_t port = 0;
    if (s->c.fd >= 0 && getpeername(s->c.fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    if (with_port)
        snprintf(out, len, "%s:%u", host, port);
    else
        snprintf(out, len, "%s", host);
}

/* The hash of the client's address, looked up once. */
static uint64_t addr_key(struct rm_session *s)
{
    if (!s->addr_key) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(s->c.fd, (struct sockaddr *)&ss, &sl) == 0)
            s->addr_key = lim_addr_key(&ss);
    }
    return s->addr_key;
}

/* Too many failed logins from this address lately: refuse without looking
 * at the credentials.  True when refused (the session is closing). */
static bool throttled(struct rm_session *s, uint8_t seq)
{
    struct rm_worker *w = W(s);
    const struct rm_config *c = w->cfg;
    if (c->max_failed_logins <= 0)
        return false;
    uint64_t wait =
        lim_login_blocked(&w->sh->limits, addr_key(s), w->now_ms, c->max_failed_logins, c->failed_login_window_ms);
    if (!wait)
        return false;
    char host[64], msg[300];
    sess_peer(s, host, sizeof(host), false);
    snprintf(msg, sizeof(msg),
             "Host '%s' is blocked after %d failed logins; try again in %llu s (ringmux max_failed_logins, "
             "failed_login_window)",
             host, c->max_failed_logins, (unsigned long long)(wait + 999) / 1000);
    MET_INC(&w->met, logins_throttled);
    sess_err_and_close(s, seq, 1129, "HY000", msg);
    return true;
}

/* The server's ERR 1045.  At login the connection then closes; after a
 * failed COM_CHANGE_USER the session stays as it was (keep). */
static void access_denied(struct rm_session *s, const char *user, size_t ulen, bool with_pw, bool keep)
{
    char host[64], msg[256];
    sess_peer(s, host, sizeof(host), false);
    snprintf(msg, sizeof(msg), "Access denied for user '%.*s'@'%s' (using password: %s)", (int)(ulen > 64 ? 64 : ulen),
             user, host, with_pw ? "YES" : "NO");
    MET_INC(&W(s)->met, auth_failures);
    lim_login_failed(&W(s)->sh->limits, addr_key(s), W(s)->now_ms, W(s)->cfg->failed_login_window_ms);
    if (keep)
        sess_send_err(s, 1, 1045, "28000", msg);
    else
        sess_err_and_close(s, s->seq, 1045, "28000", msg);
}

/* Is the plugin name (len bytes, may be NULL) exactly name? */
static bool is_plugin(const void *plugin, size_t len, const char *name)
{
    return plugin && len == strlen(name) && memcmp(plugin, name, len) == 0;
}

/* Credentials are good: become this user; validate the database if one was
 * asked for (the client must get 1049 at connect, as with a direct
 * connection), else say OK. */
static void auth_ok(struct rm_session *s, const struct rm_user *u, const char *db, size_t db_len)
{
    struct rm_worker *w = W(s);
    lim_login_ok(&w->sh->limits, addr_key(s));
    lim_user_leave(&w->sh->limits, s->user_slot); /* COM_CHANGE_USER: the old user's session ends */
    if (s->console) {                             /* no pool, no backend: admin commands only */
        free(s->user);
        s->user = strdup(u->name);
        sess_set_state(s, SESS_IDLE);
        sess_send_ok(s, s->seq++);
        slog(LOG_INFO, s, "admin console: %s logged in", u->name);
        return;
    }
    s->user_slot = lim_user_enter(&w->sh->limits, u->name, strlen(u->name), w->cfg->max_connections_per_user);
    if (s->user_slot == -1) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "User %.80s already has more than 'max_user_connections' active connections (ringmux "
                 "max_connections_per_user = %d)",
                 u->name, w->cfg->max_connections_per_user);
        MET_INC(&w->met, user_limit_refused);
        sess_err_and_close(s, s->seq, 1203, "42000", msg);
        return;
    }
    char *nu = strdup(u->name), *np = strdup(u->password);
    /* The writer's (or a reader's) pool; with none right now, the first
     * backend's: the first statement's borrow moves it where it must go. */
    struct rm_backend *be = backend_for(w, s->reader, NULL);
    if (!be)
        be = &w->backends[0];
    struct rm_pool *p = (nu && np) ? pool_get(be, u->name, u->password, s->caps, s->ext_caps, s->collation) : NULL;
    if (!p) {
        free(nu);
        free(np);
        sess_close(s, "out of memory");
        return;
    }
    if (s->pool)
        s->pool->refs--;
    free(s->user);
    free(s->password);
    s->user = nu;
    s->password = np;
    s->pool = p;
    p->refs++;
    s->st.multi_stmt = (s->caps & CLIENT_MULTI_STATEMENTS) != 0;
    if (db && db_len && pool_db_known(p, db, db_len, w->now_ms)) {
        state_set_schema(&s->st, db, db_len); /* validated moments ago */
        db = NULL;
    }
    if (db && db_len) {
        free(s->pending_db);
        s->pending_db = strndup(db, db_len);
        sess_set_state(s, SESS_CHECK_DB);
        sess_start_command(s);
        return;
    }
    sess_set_state(s, SESS_IDLE);
    sess_send_ok(s, s->seq++);
    slog(LOG_DEBUG, s, "authenticated as %s", s->user);
}

/* The account a login names: from [users], or on the admin console the
 * [admin] user (tmp holds it). */
static const struct rm_user *login_user(struct rm_session *s, const char *name, size_t len, struct rm_user *tmp)
{
    const struct rm_config *c = W(s)->cfg;
    if (!s->console)
        return cfg_find_user(c, name, len);
    if (!c->admin_user || !c->admin_password || strlen(c->admin_user) != len || memcmp(c->admin_user, name, len) != 0)
        return NULL;
    tmp->name = c->admin_user;
    tmp->password = c->admin_password;
    return tmp;
}

/* Verify an auth response for plugin `plugin` against user u. */
static bool verify(struct rm_session *s, const struct rm_user *u, bool sha2, const uint8_t *auth, size_t n)
{
    size_t pl = strlen(u->password);
    if (sha2)
        return auth_sha2_verify(u->password, pl, s->scramble, auth, n);
    return auth_native_verify(u->password, pl, s->scramble, auth, n);
}

/* What the client's next packet in SESS_AUTH_SWITCH is. */
enum {
    STAGE_NATIVE,    /* mysql_native_password proof after our auth switch */
    STAGE_SHA2,      /* caching_sha2_password proof after our auth switch */
    STAGE_CLEAR,     /* the password or a token in the clear (inside TLS) */
    STAGE_SHA2_FULL, /* caching_sha2_password full authentication */
};

/* A password or token received in the clear (TLS, or RSA-decrypted):
 * the user's password, or a valid token for the user. */
static bool clear_ok(struct rm_session *s, const struct rm_user *u, const uint8_t *pw, size_t n)
{
    struct rm_worker *w = W(s);
    if (n && pw[n - 1] == 0)
        n--;
    size_t pl = strlen(u->password);
    unsigned d = n == pl ? 0 : 1;
    for (size_t i = 0; i < n && i < pl; i++)
        d |= (unsigned)(pw[i] ^ (uint8_t)u->password[i]);
    if (d == 0)
        return true;
    if (s->console)
        return false; /* the console takes its own password only */
    enum token_result r = token_check(w->cfg->token_keys, w->cfg->n_token_keys, u->name, strlen(u->name),
                                      (const char *)pw, n, (int64_t)time(NULL));
    if (r == TOKEN_OK) {
        MET_INC(&w->met, token_logins);
        slog(LOG_DEBUG, s, "token login as %s", u->name);
        return true;
    }
    if (r != TOKEN_NOT_A_TOKEN) {
        MET_INC(&w->met, token_refused);
        slog(LOG_INFO, s, "token refused for user %s: %s", u->name, token_result_str(r));
    }
    return false;
}

/* Park the login until the client's next auth packet. */
static void await_auth(struct rm_session *s, const struct hs_response *r, int stage)
{
    free(s->pending_db);
    s->pending_db = r->db && r->db_len ? strndup(r->db, r->db_len) : NULL;
    free(s->user);
    s->user = strndup(r->user, r->user_len);
    s->auth_stage = (uint8_t)stage;
    conn_flush(&s->c);
    sess_set_state(s, SESS_AUTH_SWITCH);
}

/* AuthMoreData: 0x01 then data. */
static void more_data(struct rm_session *s, const void *data, size_t n)
{
    struct pkt_writer pw;
    pkt_begin(&pw, &s->c.out, s->seq++);
    pkt_add_u8(&pw, 0x01);
    pkt_add(&pw, data, n);
    pkt_end(&pw);
}

static void refuse_cleartext(struct rm_session *s, const char *user, size_t ulen)
{
    char host[64], msg[300];
    sess_peer(s, host, sizeof(host), false);
    snprintf(msg, sizeof(msg),
             "Access denied for user '%.*s'@'%s': a password in the clear is only accepted over TLS "
             "(mysql_clear_password, or caching_sha2_password full authentication without [tls] "
             "server_public_key); connect with --ssl",
             (int)(ulen > 64 ? 64 : ulen), user, host);
    MET_INC(&W(s)->met, auth_failures);
    sess_err_and_close(s, s->seq, 1045, "28000", msg);
}

void sess_on_handshake(struct rm_session *s, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    struct hs_response r;
    const char *why = NULL;
    if (hs_is_ssl_request(p, n)) {
        if (s->c.tls)
            why = "a second SSL request, inside TLS";
        else if (!(s->server.caps & CLIENT_SSL) || !w->tls_server)
            why = "client asked for TLS (SSL request), which this listener does not offer ([tls] tls_cert is not set)";
        if (why) {
            char msg[200];
            snprintf(msg, sizeof(msg), "ringmux: bad handshake: %s", why);
            sess_fail_and_close(s, s->seq, 1043, "08S01", msg);
            return;
        }
        if (conn_start_tls(&s->c, w->tls_server, NULL) < 0) {
            sess_close(s, "out of memory");
            return;
        }
        s->seq++; /* the handshake response comes inside TLS, with the next sequence id */
        return;
    }
    if (hs_parse_response(p, n, &r, &why) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "ringmux: bad handshake: %s", why);
        sess_fail_and_close(s, s->seq, 1043, "08S01", msg);
        return;
    }
    if (w->cfg->require_tls && !s->c.tls) {
        char host[64], msg[300];
        sess_peer(s, host, sizeof(host), false);
        snprintf(msg, sizeof(msg),
                 "Access denied for user '%.*s'@'%s': TLS is required ([tls] require_tls = on); connect with "
                 "--ssl or ssl-mode=REQUIRED",
                 (int)(r.user_len > 64 ? 64 : r.user_len), r.user, host);
        MET_INC(&w->met, tls_required_refused);
        MET_INC(&w->met, auth_failures);
        sess_err_and_close(s, s->seq + 1, 1045, "28000", msg);
        return;
    }
    if (throttled(s, (uint8_t)(s->seq + 1)))
        return;
    /* CLIENT_SSL is this link's business: never passed on to a backend. */
    s->caps = r.caps & s->server.caps & ~CLIENT_SSL;
    s->ext_caps = s->caps & CLIENT_LONG_PASSWORD ? 0 : r.ext_caps & s->server.ext_caps;
    s->collation = r.collation ? r.collation : s->server.collation;
    s->seq++;
    struct rm_user admin;
    const struct rm_user *u = login_user(s, r.user, r.user_len, &admin);
    bool sha2 = is_plugin(r.plugin, r.plugin_len, AUTH_PLUGIN_SHA2);
    bool native = r.plugin_len == 0 || is_plugin(r.plugin, r.plugin_len, AUTH_PLUGIN_NATIVE);
    bool clear = is_plugin(r.plugin, r.plugin_len, AUTH_PLUGIN_CLEAR);
    if (!u) {
        slog(LOG_INFO, s, "user '%.*s' is not listed in %s: access denied", (int)(r.user_len > 64 ? 64 : r.user_len),
             r.user, s->console ? "[admin] user" : "[users]");
        access_denied(s, r.user, r.user_len, r.auth_len > 0, false);
        return;
    }
    if (clear) { /* the client sent its password (or token) as it is */
        if (!s->c.tls)
            refuse_cleartext(s, r.user, r.user_len);
        else if (!clear_ok(s, u, r.auth, r.auth_len))
            access_denied(s, r.user, r.user_len, r.auth_len > 0, false);
        else
            auth_ok(s, u, r.db, r.db_len);
        return;
    }
    if (!native && !sha2) { /* a plugin we don't speak: ask for ours */
        hs_write_auth_switch(&s->c.out, s->seq++, AUTH_PLUGIN_NATIVE, s->scramble);
        await_auth(s, &r, STAGE_NATIVE);
        return;
    }
    if (sha2 && r.auth_len == 0 && u->password[0]) {
        /* Our greeting named mysql_native_password, so a caching_sha2
         * client sent nothing and waits to be switched to its plugin. */
        hs_write_auth_switch(&s->c.out, s->seq++, AUTH_PLUGIN_SHA2, s->scramble);
        await_auth(s, &r, STAGE_SHA2);
        return;
    }
    if (verify(s, u, sha2, r.auth, r.auth_len)) {
        if (sha2) /* caching_sha2_password: "fast auth succeeded", then OK */
            more_data(s, "\x03", 1);
        auth_ok(s, u, r.db, r.db_len);
        return;
    }
    if (sha2) { /* as MySQL 8 on a cache miss: "perform full authentication" */
        MET_INC(&w->met, client_full_auth);
        more_data(s, "\x04", 1);
        await_auth(s, &r, STAGE_SHA2_FULL);
        return;
    }
    if (w->cfg->n_token_keys > 0 && s->c.tls) { /* maybe a token: ask for it in the clear */
        hs_write_auth_switch(&s->c.out, s->seq++, AUTH_PLUGIN_CLEAR, s->scramble);
        await_auth(s, &r, STAGE_CLEAR);
        return;
    }
    access_denied(s, r.user, r.user_len, r.auth_len > 0, false);
}

void sess_on_auth_switch_response(struct rm_session *s, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    s->seq++;
    const char *name = s->user ? s->user : "";
    struct rm_user admin;
    const struct rm_user *u = login_user(s, name, strlen(name), &admin);
    bool ok = false;
    char pw[600];
    size_t pl = 0;
    if (!u) {
        ok = false;
    } else if (s->auth_stage == STAGE_NATIVE) {
        ok = verify(s, u, false, p, n);
    } else if (s->auth_stage == STAGE_SHA2) {
        ok = verify(s, u, true, p, n);
        if (ok) {
            more_data(s, "\x03", 1); /* fast auth succeeded */
        } else {                     /* not the password (a token?): full authentication */
            MET_INC(&w->met, client_full_auth);
            more_data(s, "\x04", 1);
            s->auth_stage = STAGE_SHA2_FULL;
            conn_flush(&s->c);
            return;
        }
    } else if (s->auth_stage == STAGE_CLEAR || s->c.tls) { /* cleartext inside TLS */
        ok = clear_ok(s, u, p, n);
    } else if (n == 1 && p[0] == 0x02) { /* sha2 full auth without TLS: the client asks for our RSA key */
        if (!w->cfg->rsa_public_pem.data) {
            refuse_cleartext(s, name, strlen(name));
            return;
        }
        more_data(s, w->cfg->rsa_public_pem.data, w->cfg->rsa_public_pem.len);
        conn_flush(&s->c);
        return; /* the encrypted password comes next */
    } else if (!w->cfg->rsa_private_pem.data) {
        refuse_cleartext(s, name, strlen(name));
        return;
    } else {
        ok = auth_sha2_rsa_decrypt(p, n, s->scramble, w->cfg->rsa_private_pem.data, w->cfg->rsa_private_pem.len, pw,
                                   sizeof(pw), &pl) == 0 &&
             clear_ok(s, u, (const uint8_t *)pw, pl);
        explicit_bzero(pw, sizeof(pw));
    }
    if (!ok) {
        access_denied(s, name, strlen(name), n > 0, false);
        return;
    }
    char *db = s->pending_db;
    s->pending_db = NULL;
    auth_ok(s, u, db, db ? strlen(db) : 0);
    free(db);
}

void sess_cmd_change_user(struct rm_session *s, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    struct pkt_reader r;
    pkt_reader_init(&r, p + 1, n - 1);
    size_t ulen, alen, dlen = 0, plen = 0;
    const uint8_t *user = pkt_read_cstr(&r, &ulen), *auth, *db = NULL, *plugin = NULL;
    if (s->caps & CLIENT_SECURE_CONNECTION) {
        alen = (size_t)pkt_read_int(&r, 1);
        auth = pkt_read_bytes(&r, alen);
    } else {
        auth = pkt_read_cstr(&r, &alen);
    }
    if (!r.err && pkt_left(&r) > 0)
        db = pkt_read_cstr(&r, &dlen);
    uint16_t coll = 0;
    if (!r.err && pkt_left(&r) >= 2)
        coll = (uint16_t)pkt_read_int(&r, 2);
    if (!r.err && pkt_left(&r) > 0 && (s->caps & CLIENT_PLUGIN_AUTH))
        plugin = pkt_read_cstr(&r, &plen);
    if (r.err) {
        sess_fail_and_close(s, 1, 1043, "08S01", "ringmux: malformed COM_CHANGE_USER packet");
        return;
    }
    if (s->console) {
        sess_send_err(s, 1, 1227, "42000", "ringmux admin console: COM_CHANGE_USER is not supported here");
        return;
    }
    if (throttled(s, 1))
        return;
    s->seq = 2;
    const struct rm_user *u = cfg_find_user(w->cfg, (const char *)user, ulen);
    bool sha2 = is_plugin(plugin, plen, AUTH_PLUGIN_SHA2);
    if (!u || !verify(s, u, sha2, auth, alen)) {
        access_denied(s, (const char *)user, ulen, alen > 0, true);
        return;
    }
    /* Everything session-scoped goes, as on a server. */
    sess_reset(s, false);
    if (coll && coll < 256)
        s->collation = (uint8_t)coll;
    MET_INC(&w->met, commands_local);
    s->seq = 1;
    if (sha2) {
        struct pkt_writer pw;
        pkt_begin(&pw, &s->c.out, s->seq++);
        pkt_add_u8(&pw, 0x01);
        pkt_add_u8(&pw, 0x03);
        pkt_end(&pw);
    }
    auth_ok(s, u, (const char *)db, dlen);
}
