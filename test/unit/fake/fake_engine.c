/* Fake engine, fake kernel and scripted MariaDB for unit tests
 * (fake_engine.h). */
#include "fake_engine.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "ringmux/auth.h"
#include "ringmux/backend.h"
#include "ringmux/bconn.h"
#include "ringmux/config.h"
#include "ringmux/console.h"
#include "ringmux/handshake.h"
#include "ringmux/kill.h"
#include "ringmux/log.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/resultset.h"
#include "ringmux/ring.h"
#include "ringmux/session.h"
#include "ringmux/tls.h"

#define TICK_MS 50

static void die(const char *what)
{
    fprintf(stderr, "fake engine: %s\n", what);
    abort();
}

static void put(struct rm_buf *b, const void *p, size_t n)
{
    if (buf_append(b, p, n) < 0)
        die("out of memory");
}

/* ---- the fake kernel ------------------------------------------------------ */

struct fe_op {
    enum conn_op op;
    uint32_t slot, gen;
    const uint8_t *p; /* send: the bytes (valid until completion) */
    size_t len;
};

#define SRV_VARS 12

/* The scripted server's view of one backend connection. */
struct fsrv {
    bool greeted, authed, closed;
    uint32_t thread_id;
    uint16_t port; /* which server: the port the proxy connected to */
    uint8_t scramble[AUTH_SCRAMBLE_LEN];
    uint32_t caps;
    bool in_trans, autocommit;
    char schema[64];
    char var_name[SRV_VARS][40], var_val[SRV_VARS][64];
    int n_vars;
    uint32_t stmt_ids[32]; /* prepared on this connection */
    int n_stmts;
    uint32_t next_stmt;
    uint64_t next_insert_id;
    struct rm_buf deferred; /* a SLEEP query's answer, sent on release */
};

struct fe_wire {
    uint32_t slot, gen;
    bool backend;
    bool gone;        /* the conn was freed */
    bool peer_closed; /* the peer hung up: EOF once a recv is armed */
    bool stalled;     /* the peer reads nothing: sends to it stay in flight */
    struct rm_buf rx; /* what the proxy sent, not yet read by the peer */
    struct rm_buf tx; /* what the peer sent, not yet delivered */
    struct fsrv srv;
};

static struct fe *cur; /* ring_* have no fe argument: one fake per process at a time */

static struct rm_conn *conn_of(struct fe *fe, uint32_t slot, uint32_t gen)
{
    struct rm_conn *c = slot < fe->w.nslots ? fe->w.conns[slot] : NULL;
    return c && c->gen == gen ? c : NULL;
}

static struct fe_wire *wire_find(struct fe *fe, uint32_t slot, uint32_t gen)
{
    for (size_t i = 0; i < fe->n_wires; i++)
        if (!fe->wires[i]->gone && fe->wires[i]->slot == slot && fe->wires[i]->gen == gen)
            return fe->wires[i];
    return NULL;
}

static void srv_init(struct fe *fe, struct fsrv *s, uint16_t port);

static struct fe_wire *wire_of(struct rm_conn *c)
{
    struct fe *fe = cur;
    struct fe_wire *x = wire_find(fe, c->slot, c->gen);
    if (x)
        return x;
    struct fe_wire **nw = realloc(fe->wires, (fe->n_wires + 1) * sizeof(*nw));
    x = calloc(1, sizeof(*x));
    if (!nw || !x)
        die("out of memory");
    fe->wires = nw;
    fe->wires[fe->n_wires++] = x;
    x->slot = c->slot;
    x->gen = c->gen;
    x->backend = c->ops == &bconn_ops;
    if (x->backend) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&((struct rm_bconn *)c)->addr;
        srv_init(fe, &x->srv, ntohs(a->sin_port));
    }
    return x;
}

static void queue_op(struct rm_conn *c, enum conn_op op, const void *p, size_t len)
{
    struct fe *fe = cur;
    wire_of(c);
    if (fe->n_ops == fe->cap_ops) {
        fe->cap_ops = fe->cap_ops ? fe->cap_ops * 2 : 64;
        fe->ops = realloc(fe->ops, fe->cap_ops * sizeof(*fe->ops));
        if (!fe->ops)
            die("out of memory");
    }
    fe->ops[fe->n_ops++] = (struct fe_op){.op = op, .slot = c->slot, .gen = c->gen, .p = p, .len = len};
}

void ring_recv(struct rm_conn *c)
{
    wire_of(c); /* armed: c->recv_armed; bytes are delivered by fe_pump */
}

void ring_cancel_recv(struct rm_conn *c)
{
    queue_op(c, OP_CANCEL, NULL, 0);
}

void ring_send(struct rm_conn *c, const void *p, size_t len)
{
    queue_op(c, OP_SEND, p, len);
}

void ring_connect(struct rm_conn *c, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms)
{
    queue_op(c, OP_CONNECT, NULL, 0);
    queue_op(c, OP_TIMEOUT, NULL, 0);
}

/* The monitor thread does not run here. */
void monitor_poke(struct rm_shared *sh) {}

/* Workers post messages to each other; the fake has one worker.  A test
 * may claim more (fe.sh.n_workers): those never answer, messages to them
 * are dropped (a wedged worker). */
void worker_post(struct rm_shared *sh, int to, struct rm_msg *m)
{
    if (to != 0) {
        free(m->blob);
        free(m);
        return;
    }
    worker_on_message(&sh->workers[to], m);
}

void worker_wake(struct rm_worker *w) {}

/* ---- the scripted server -------------------------------------------------- */

static const struct {
    const char *name, *val;
} srv_defaults[] = {
    {"autocommit", "ON"},
    {"sql_mode", "STRICT_TRANS_TABLES"},
    {"time_zone", "SYSTEM"},
    {"character_set_client", "utf8mb4"},
    {"character_set_connection", "utf8mb4"},
    {"character_set_results", "utf8mb4"},
    {"collation_connection", "utf8mb4_general_ci"},
    {"wait_timeout", "28800"},
};

static void srv_set_var(struct fsrv *s, const char *name, const char *val);

static void srv_reset_vars(struct fsrv *s)
{
    s->n_vars = 0;
    for (size_t i = 0; i < sizeof(srv_defaults) / sizeof(srv_defaults[0]); i++) {
        snprintf(s->var_name[i], sizeof(s->var_name[i]), "%s", srv_defaults[i].name);
        snprintf(s->var_val[i], sizeof(s->var_val[i]), "%s", srv_defaults[i].val);
        s->n_vars++;
    }
    s->autocommit = true;
    s->in_trans = false;
    char p[8];
    snprintf(p, sizeof(p), "%u", s->port);
    srv_set_var(s, "port", p);
}

static void srv_init(struct fe *fe, struct fsrv *s, uint16_t port)
{
    srv_reset_vars(s);
    s->port = port;
    s->thread_id = 1000 + (uint32_t)++fe->server_conns;
    s->next_stmt = s->thread_id * 100; /* ids differ between connections */
    for (int i = 0; i < AUTH_SCRAMBLE_LEN; i++)
        s->scramble[i] = (uint8_t)('a' + (s->thread_id + (uint32_t)i) % 26);
}

static const struct hs_server_info srv_info = {
    .version = "10.11.6-MariaDB-fake",
    /* A MariaDB server: no CLIENT_LONG_PASSWORD ("CLIENT_MYSQL"). */
    .caps = CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_NO_SCHEMA | CLIENT_ODBC |
            CLIENT_LOCAL_FILES | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE |
            CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS |
            CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS |
            CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF,
    .ext_caps = MARIADB_CLIENT_STMT_BULK_OPERATIONS | MARIADB_CLIENT_EXTENDED_METADATA,
    .collation = 45,
};

static uint16_t srv_status(const struct fsrv *s)
{
    return (uint16_t)((s->autocommit ? SERVER_STATUS_AUTOCOMMIT : 0) | (s->in_trans ? SERVER_STATUS_IN_TRANS : 0));
}

static void srv_ok(struct fsrv *s, struct rm_buf *out, uint8_t seq, uint64_t affected, uint64_t insert_id,
                   const struct rm_buf *track)
{
    struct pkt_ok ok = {.affected_rows = affected,
                        .insert_id = insert_id,
                        .status = srv_status(s),
                        .state = track ? buf_head(track) : NULL,
                        .state_len = track ? buf_avail(track) : 0};
    if (pkt_write_ok(out, seq, s->caps, &ok, 0) < 0)
        die("out of memory");
}

static void srv_err(struct rm_buf *out, uint8_t seq, uint16_t code, const char *state, const char *msg)
{
    if (pkt_write_err(out, seq, code, state, "%s", msg) < 0)
        die("out of memory");
}

/* A text result set: one column per name, rows of values. */
static void srv_rows(struct fsrv *s, struct rm_buf *out, const char *const *names, int ncols, const char *const *vals,
                     int nrows)
{
    struct rs_writer w;
    struct rs_column cols[4];
    memset(cols, 0, sizeof(cols));
    for (int i = 0; i < ncols; i++)
        cols[i] = (struct rs_column){
            .name = names[i], .name_len = strlen(names[i]), .charset = 45, .length = 256, .type = 253 /* VAR_STRING */};
    rs_begin(&w, out, s->caps, 0, srv_status(s));
    rs_columns(&w, cols, (size_t)ncols);
    for (int r = 0; r < nrows; r++) {
        size_t lens[4];
        for (int i = 0; i < ncols; i++)
            lens[i] = vals[r * ncols + i] ? strlen(vals[r * ncols + i]) : 0;
        rs_text_row(&w, vals + r * ncols, lens, (size_t)ncols);
    }
    rs_end(&w, 0);
}

static void track_add(struct rm_buf *t, uint8_t type, const char *a, const char *b)
{
    uint8_t tmp[300], *q = tmp;
    size_t al = strlen(a);
    q = pkt_put_lenenc(q, al);
    memcpy(q, a, al);
    q += al;
    if (b) {
        size_t bl = strlen(b);
        q = pkt_put_lenenc(q, bl);
        memcpy(q, b, bl);
        q += bl;
    }
    uint8_t hdr[10], *h = hdr;
    *h++ = type;
    h = pkt_put_lenenc(h, (uint64_t)(q - tmp));
    put(t, hdr, (size_t)(h - hdr));
    put(t, tmp, (size_t)(q - tmp));
}

static bool starts(const char *sql, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    return n >= pl && strncasecmp(sql, prefix, pl) == 0;
}

static bool contains(const char *sql, size_t n, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= n; i++)
        if (strncasecmp(sql + i, needle, nl) == 0)
            return true;
    return false;
}

static void srv_set_var(struct fsrv *s, const char *name, const char *val)
{
    for (int i = 0; i < s->n_vars; i++)
        if (strcasecmp(s->var_name[i], name) == 0) {
            snprintf(s->var_val[i], sizeof(s->var_val[i]), "%s", val);
            return;
        }
    if (s->n_vars < SRV_VARS) {
        snprintf(s->var_name[s->n_vars], sizeof(s->var_name[0]), "%s", name);
        snprintf(s->var_val[s->n_vars], sizeof(s->var_val[0]), "%s", val);
        s->n_vars++;
    }
}

/* SET [SESSION] a=x, @u=1, b='y' ...: apply and describe in track. */
static void srv_set(struct fsrv *s, const char *sql, size_t n, struct rm_buf *track)
{
    size_t i = 4;
    bool changed = false;
    while (i < n) {
        while (i < n && (isspace((unsigned char)sql[i]) || sql[i] == ','))
            i++;
        if (starts(sql + i, n - i, "SESSION "))
            i += 8;
        if (starts(sql + i, n - i, "@@session."))
            i += 10;
        char name[64], val[64];
        size_t k = 0;
        while (i < n && sql[i] != '=' && !isspace((unsigned char)sql[i]) && k < sizeof(name) - 1)
            name[k++] = sql[i++];
        name[k] = 0;
        while (i < n && (isspace((unsigned char)sql[i]) || sql[i] == '=' || sql[i] == ':'))
            i++;
        k = 0;
        if (i < n && sql[i] == '\'') {
            for (i++; i < n && sql[i] != '\''; i++) {
                if (sql[i] == '\\' && i + 1 < n)
                    i++;
                if (k < sizeof(val) - 1)
                    val[k++] = sql[i];
            }
            i++;
        } else {
            while (i < n && sql[i] != ',' && !isspace((unsigned char)sql[i]) && k < sizeof(val) - 1)
                val[k++] = sql[i++];
        }
        val[k] = 0;
        if (!name[0])
            break;
        changed = true;
        if (name[0] == '@')
            continue; /* a user variable: only "state changed" */
        if (strcasecmp(name, "autocommit") == 0) {
            s->autocommit = strcmp(val, "1") == 0 || strcasecmp(val, "ON") == 0;
            snprintf(val, sizeof(val), "%s", s->autocommit ? "ON" : "OFF");
        }
        srv_set_var(s, name, val);
        track_add(track, SESSION_TRACK_SYSTEM_VARIABLES, name, val);
    }
    if (changed)
        track_add(track, SESSION_TRACK_STATE_CHANGE, "1", NULL);
}

static void log_cmd(struct fe *fe, const struct fsrv *s, const char *what, const uint8_t *arg, size_t n)
{
    char line[160];
    int k = snprintf(line, sizeof(line), "%u: %s ", s->thread_id, what);
    put(&fe->log, line, (size_t)k);
    for (size_t i = 0; i < n && i < 100; i++)
        put(&fe->log, isprint(arg[i]) ? (const char *)&arg[i] : "?", 1);
    put(&fe->log, "\n", 1);
}

static void srv_query(struct fe *fe, struct fsrv *s, const char *sql, size_t n, struct rm_buf *out)
{
    struct rm_buf track = {0};
    if (starts(sql, n, "SET session_track")) {
        srv_ok(s, out, 1, 0, 0, NULL);
    } else if (starts(sql, n, "SHOW SESSION VARIABLES")) {
        const char *names[] = {"Variable_name", "Value"};
        const char *vals[2 * SRV_VARS];
        for (int i = 0; i < s->n_vars; i++) {
            vals[2 * i] = s->var_name[i];
            vals[2 * i + 1] = s->var_val[i];
        }
        srv_rows(s, out, names, 2, vals, s->n_vars);
    } else if (starts(sql, n, "BEGIN") || starts(sql, n, "START TRANSACTION")) {
        s->in_trans = true;
        srv_ok(s, out, 1, 0, 0, NULL);
    } else if (starts(sql, n, "COMMIT") || starts(sql, n, "ROLLBACK")) {
        s->in_trans = false;
        srv_ok(s, out, 1, 0, 0, NULL);
    } else if (starts(sql, n, "SET ")) {
        srv_set(s, sql, n, &track);
        srv_ok(s, out, 1, 0, 0, &track);
    } else if (starts(sql, n, "USE ")) {
        snprintf(s->schema, sizeof(s->schema), "%.*s", (int)(n - 4), sql + 4);
        track_add(&track, SESSION_TRACK_SCHEMA, s->schema, NULL);
        srv_ok(s, out, 1, 0, 0, &track);
    } else if (starts(sql, n, "KILL QUERY ")) {
        /* Interrupt the connection's deferred statement: ERR 1317. */
        unsigned long id = strtoul(sql + 11, NULL, 10);
        for (size_t i = 0; i < fe->n_wires; i++) {
            struct fe_wire *t = fe->wires[i];
            if (t->backend && !t->gone && t->srv.thread_id == id && buf_avail(&t->srv.deferred)) {
                buf_reset(&t->srv.deferred);
                srv_err(&t->tx, 1, 1317, "70100", "Query execution was interrupted");
            }
        }
        srv_ok(s, out, 1, 0, 0, NULL);
    } else if (contains(sql, n, "nosuchtable")) {
        srv_err(out, 1, 1146, "42S02", "Table 'test.nosuchtable' doesn't exist");
    } else if (starts(sql, n, "CREATE TEMPORARY TABLE")) {
        track_add(&track, SESSION_TRACK_STATE_CHANGE, "1", NULL);
        srv_ok(s, out, 1, 0, 0, &track);
    } else if (starts(sql, n, "INSERT")) {
        if (!s->autocommit)
            s->in_trans = true;
        srv_ok(s, out, 1, 1, ++s->next_insert_id, NULL);
    } else if (starts(sql, n, "SELECT ROWS ")) {
        /* SELECT ROWS n: n rows of 100 bytes ("row <i>" padded with x). */
        long rows = strtol(sql + 12, NULL, 10);
        struct rs_writer w;
        struct rs_column col = {.name = "r", .name_len = 1, .charset = 45, .length = 100, .type = 253};
        rs_begin(&w, out, s->caps, 0, srv_status(s));
        rs_columns(&w, &col, 1);
        for (long i = 0; i < rows; i++) {
            char v[101];
            int k = snprintf(v, sizeof(v), "row %ld ", i);
            memset(v + k, 'x', 100 - (size_t)k);
            v[100] = 0;
            const char *vals[] = {v};
            size_t lens[] = {100};
            rs_text_row(&w, vals, lens, 1);
        }
        rs_end(&w, 0);
    } else if (contains(sql, n, "STATEFUL")) {
        /* State the server reports changed without naming it. */
        track_add(&track, SESSION_TRACK_STATE_CHANGE, "1", NULL);
        srv_ok(s, out, 1, 0, 0, &track);
    } else if (starts(sql, n, "SELECT @@")) {
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(n - 9), sql + 9);
        const char *val = NULL;
        for (int i = 0; i < s->n_vars; i++)
            if (strcasecmp(s->var_name[i], name) == 0)
                val = s->var_val[i];
        const char *names[] = {sql + 7};
        char nm[64];
        snprintf(nm, sizeof(nm), "%.*s", (int)(n - 7), sql + 7);
        names[0] = nm;
        srv_rows(s, out, names, 1, &val, 1);
    } else if (starts(sql, n, "SELECT ")) {
        /* SELECT <anything>: one row, its text as the value; a SELECT
         * thread id reports the connection. */
        char v[128];
        if (contains(sql, n, "CONNECTION_ID()"))
            snprintf(v, sizeof(v), "%u", s->thread_id);
        else
            snprintf(v, sizeof(v), "%.*s", (int)(n - 7 > 100 ? 100 : n - 7), sql + 7);
        const char *names[] = {"v"};
        const char *vals[] = {v};
        srv_rows(s, out, names, 1, vals, 1);
    } else {
        srv_ok(s, out, 1, 0, 0, NULL);
    }
    buf_free(&track);
    if (fe->defer_sleep && contains(sql, n, "SLEEP(")) {
        put(&s->deferred, buf_head(out), buf_avail(out));
        buf_reset(out);
    }
}

static int count_params(const char *sql, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += sql[i] == '?';
    return k;
}

/* COM_STMT_PREPARE: an id of this connection, one definition per '?',
 * no result columns (the repertoire is DML). */
static void srv_prepare(struct fsrv *s, const char *sql, size_t n, struct rm_buf *out)
{
    if (contains(sql, n, "nosuchtable")) {
        srv_err(out, 1, 1146, "42S02", "Table 'test.nosuchtable' doesn't exist");
        return;
    }
    uint32_t id = ++s->next_stmt;
    if (s->n_stmts < 32)
        s->stmt_ids[s->n_stmts++] = id;
    int np = count_params(sql, n);
    uint8_t seq = 1;
    struct pkt_writer w;
    pkt_begin(&w, out, seq++);
    pkt_add_u8(&w, 0);
    pkt_add_u32(&w, id);
    pkt_add_u16(&w, 0); /* columns */
    pkt_add_u16(&w, (uint16_t)np);
    pkt_add_u8(&w, 0);
    pkt_add_u16(&w, 0); /* warnings */
    pkt_end(&w);
    for (int i = 0; i < np; i++) {
        pkt_begin(&w, out, seq++);
        pkt_add_lenenc_str(&w, "def", 3);
        for (int k = 0; k < 3; k++)
            pkt_add_lenenc_str(&w, "", 0);
        pkt_add_lenenc_str(&w, "?", 1);
        pkt_add_lenenc_str(&w, "", 0);
        pkt_add_u8(&w, 0x0c);
        pkt_add_u16(&w, 63);
        pkt_add_u32(&w, 0);
        pkt_add_u8(&w, 253);
        pkt_add_u16(&w, 0);
        pkt_add_u8(&w, 0);
        pkt_add_u16(&w, 0);
        pkt_end(&w);
    }
    if (np && !(s->caps & CLIENT_DEPRECATE_EOF))
        pkt_write_eof(out, seq++, 0, srv_status(s));
}

static void srv_execute(struct fsrv *s, const uint8_t *p, size_t n, struct rm_buf *out)
{
    uint32_t id = n >= 5 ? pkt_u32(p + 1) : 0;
    for (int i = 0; i < s->n_stmts; i++)
        if (s->stmt_ids[i] == id) {
            srv_ok(s, out, 1, 1, ++s->next_insert_id, NULL);
            return;
        }
    char msg[120];
    snprintf(msg, sizeof(msg), "Unknown prepared statement handler (%u) given to mysqld_stmt_execute", id);
    srv_err(out, 1, 1243, "HY000", msg);
}

static void srv_close_stmt(struct fsrv *s, const uint8_t *p, size_t n)
{
    uint32_t id = n >= 5 ? pkt_u32(p + 1) : 0;
    for (int i = 0; i < s->n_stmts; i++)
        if (s->stmt_ids[i] == id) {
            s->stmt_ids[i] = s->stmt_ids[--s->n_stmts];
            return;
        }
}

/* One packet from the proxy to the server (payload p, n bytes). */
static void srv_packet(struct fe *fe, struct fe_wire *x, const uint8_t *p, size_t n)
{
    struct fsrv *s = &x->srv;
    struct rm_buf *out = &x->tx;
    if (!s->authed) {
        struct hs_response r;
        const char *why = NULL;
        if (hs_parse_response(p, n, &r, &why) < 0)
            die(why);
        s->caps = r.caps;
        char user[64];
        snprintf(user, sizeof(user), "%.*s", (int)r.user_len, r.user);
        log_cmd(fe, s, "LOGIN", (const uint8_t *)user, strlen(user));
        /* The test configs give every user the password "<user>-pw". */
        char pw[80];
        snprintf(pw, sizeof(pw), "%s-pw", user);
        if ((fe->reject_user && strcmp(fe->reject_user, user) == 0) ||
            !auth_native_verify(pw, strlen(pw), s->scramble, r.auth, r.auth_len)) {
            char msg[160];
            snprintf(msg, sizeof(msg), "Access denied for user '%s'@'localhost' (using password: YES)", user);
            srv_err(out, 2, 1045, "28000", msg);
            s->closed = true;
            return;
        }
        s->authed = true;
        struct pkt_ok ok = {.status = srv_status(s)};
        pkt_write_ok(out, 2, s->caps, &ok, 0);
        return;
    }
    if (n == 0)
        die("empty command packet");
    log_cmd(fe, s, pkt_cmd_str(p[0]), p + 1, p[0] == COM_STMT_EXECUTE || p[0] == COM_STMT_CLOSE ? 0 : n - 1);
    switch (p[0]) {
    case COM_QUERY: srv_query(fe, s, (const char *)p + 1, n - 1, out); break;
    case COM_INIT_DB: {
        struct rm_buf track = {0};
        snprintf(s->schema, sizeof(s->schema), "%.*s", (int)(n - 1), (const char *)p + 1);
        track_add(&track, SESSION_TRACK_SCHEMA, s->schema, NULL);
        srv_ok(s, out, 1, 0, 0, &track);
        buf_free(&track);
        break;
    }
    case COM_PING: srv_ok(s, out, 1, 0, 0, NULL); break;
    case COM_RESET_CONNECTION:
        srv_reset_vars(s);
        s->n_stmts = 0;
        srv_ok(s, out, 1, 0, 0, NULL);
        break;
    case COM_SET_OPTION: pkt_write_eof(out, 1, 0, srv_status(s)); break;
    case COM_STMT_PREPARE: srv_prepare(s, (const char *)p + 1, n - 1, out); break;
    case COM_STMT_EXECUTE: srv_execute(s, p, n, out); break;
    case COM_STMT_CLOSE: srv_close_stmt(s, p, n); break;
    case COM_STMT_RESET: srv_ok(s, out, 1, 0, 0, NULL); break;
    case COM_QUIT: s->closed = true; break;
    default: srv_err(out, 1, 1047, "08S01", "Unknown command"); break;
    }
}

/* Answer every whole packet the proxy sent this backend conn. */
static bool srv_run(struct fe *fe, struct fe_wire *x)
{
    bool moved = false;
    while (!x->srv.closed && buf_avail(&x->rx) >= 4) {
        const uint8_t *h = buf_head(&x->rx);
        size_t len = pkt_u24(h);
        if (buf_avail(&x->rx) < 4 + len)
            break;
        uint8_t *copy = malloc(len + 1); /* NUL-terminated: the SQL is parsed with strtol */
        if (!copy)
            die("out of memory");
        memcpy(copy, h + 4, len);
        copy[len] = 0;
        buf_consume(&x->rx, 4 + len);
        srv_packet(fe, x, copy, len);
        free(copy);
        moved = true;
    }
    if (x->srv.closed)
        x->peer_closed = true;
    return moved;
}

void fe_server_release(struct fe *fe)
{
    for (size_t i = 0; i < fe->n_wires; i++) {
        struct fe_wire *x = fe->wires[i];
        if (x->backend && buf_avail(&x->srv.deferred)) {
            put(&x->tx, buf_head(&x->srv.deferred), buf_avail(&x->srv.deferred));
            buf_free(&x->srv.deferred);
        }
    }
    fe_pump(fe);
}

int fe_log_count(const struct fe *fe, const char *text)
{
    int k = 0;
    size_t tl = strlen(text), n = buf_avail(&fe->log);
    const char *p = (const char *)buf_head(&fe->log);
    for (size_t i = 0; i + tl <= n; i++)
        if (memcmp(p + i, text, tl) == 0)
            k++;
    return k;
}

void fe_log_clear(struct fe *fe)
{
    buf_reset(&fe->log);
}

int fe_backend_conns(const struct fe *fe)
{
    return fe->w.n_bconns;
}

/* ---- the loop ------------------------------------------------------------- */

/* Complete one queued operation as the kernel and worker.c would. */
static bool complete(struct fe *fe, const struct fe_op *o)
{
    struct rm_conn *c = conn_of(fe, o->slot, o->gen);
    if (!c)
        die("completion for a freed conn (an SQE outlived its object)");
    struct fe_wire *x = wire_find(fe, o->slot, o->gen);
    switch (o->op) {
    case OP_SEND: {
        size_t n = fe->send_chunk && o->len > fe->send_chunk ? fe->send_chunk : o->len;
        if (c->shut || x->peer_closed) {
            conn_on_sent(c, -EPIPE);
            return true;
        }
        put(&x->rx, o->p, n);
        conn_on_sent(c, (int)n);
        return true;
    }
    case OP_CONNECT:
        conn_on_connected(c, fe->connect_res);
        if (fe->connect_res == 0 && x->backend && !c->dead) {
            uint8_t scr[AUTH_SCRAMBLE_LEN];
            memcpy(scr, x->srv.scramble, sizeof(scr));
            hs_write_greeting(&x->tx, &srv_info, x->srv.thread_id, scr);
            x->srv.greeted = true;
        }
        return true;
    case OP_TIMEOUT:
    case OP_CANCEL:
        if (o->op == OP_CANCEL && c->recv_armed) { /* the multishot recv ends */
            c->recv_armed = false;
            c->inflight--;
            conn_arm_recv(c);
        }
        c->inflight--;
        return true;
    default: die("unexpected operation");
    }
    return false;
}

static bool deliver(struct fe *fe, struct fe_wire *x)
{
    struct rm_conn *c = conn_of(fe, x->slot, x->gen);
    if (!c || !c->recv_armed || c->dead)
        return false;
    bool moved = false;
    /* One recv completion per round, at most one provided buffer (16 KiB)
     * unless recv_chunk says less: a pause (cancel) takes effect between
     * completions, as on the ring. */
    if (buf_avail(&x->tx) && !c->eof) {
        size_t n = buf_avail(&x->tx), max = fe->recv_chunk ? fe->recv_chunk : 16384;
        if (n > max)
            n = max;
        uint8_t *copy = malloc(n);
        if (!copy)
            die("out of memory");
        memcpy(copy, buf_head(&x->tx), n);
        buf_consume(&x->tx, n);
        conn_on_recv(c, copy, n);
        free(copy);
        moved = true;
        c = conn_of(fe, x->slot, x->gen);
        if (!c || !c->recv_armed || c->dead)
            return true;
    }
    if (!buf_avail(&x->tx) && x->peer_closed && c->recv_armed && !c->dead && !c->eof) {
        conn_on_eof(c, 0);
        moved = true;
    }
    return moved;
}

void fe_pump(struct fe *fe)
{
    cur = fe;
    for (int round = 0; round < 100000; round++) {
        bool moved = false;
        size_t n = fe->n_ops, keep = 0;
        struct fe_op *batch = malloc((n ? n : 1) * sizeof(*batch));
        if (!batch)
            die("out of memory");
        if (n) /* (fe->ops is NULL before the first operation) */
            memcpy(batch, fe->ops, n * sizeof(*batch));
        fe->n_ops = 0; /* operations queued while completing these go after them */
        for (size_t i = 0; i < n; i++) {
            struct fe_wire *bx = wire_find(fe, batch[i].slot, batch[i].gen);
            bool stalled_send = batch[i].op == OP_SEND && bx && bx->stalled;
            if (stalled_send || (fe->hold_connects && (batch[i].op == OP_CONNECT || batch[i].op == OP_TIMEOUT))) {
                batch[keep++] = batch[i];
                continue;
            }
            moved |= complete(fe, &batch[i]);
        }
        for (size_t i = 0; i < keep; i++) /* held operations go back in the queue */
            queue_op(conn_of(fe, batch[i].slot, batch[i].gen), batch[i].op, batch[i].p, batch[i].len);
        free(batch);
        /* A dead conn's socket was shut down: its recv ends. */
        for (uint32_t s = 0; s < fe->w.nslots; s++) {
            struct rm_conn *c = fe->w.conns[s];
            if (c && c->shut && c->recv_armed) {
                c->recv_armed = false;
                c->inflight--;
                moved = true;
            }
        }
        for (size_t i = 0; i < fe->n_wires; i++) {
            struct fe_wire *x = fe->wires[i];
            if (x->gone)
                continue;
            if (x->backend)
                moved |= srv_run(fe, x);
            moved |= deliver(fe, x);
        }
        if (fe->w.kick_waiters) {
            fe->w.kick_waiters = false;
            pool_serve_waiters(&fe->w);
            moved = true;
        }
        conn_sweep(&fe->w);
        for (size_t i = 0; i < fe->n_wires; i++)
            if (!fe->wires[i]->gone && !conn_of(fe, fe->wires[i]->slot, fe->wires[i]->gen))
                fe->wires[i]->gone = true;
        if (!moved && fe->n_ops == keep)
            return;
    }
    die("fe_pump: no quiescence after 100000 rounds (a loop in the proxy?)");
}

void fe_advance(struct fe *fe, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += TICK_MS) {
        fe->w.now_ms += TICK_MS;
        fe->w.now_us = fe->w.now_ms * 1000;
        pool_maintain(&fe->w);
        if (fe->w.now_ms - fe->w.last_maint_ms >= 1000) {
            fe->w.last_maint_ms = fe->w.now_ms;
            sess_check_timeouts(&fe->w);
        }
        fe_pump(fe);
    }
}

/* ---- set-up --------------------------------------------------------------- */

int fe_init(struct fe *fe, const char *config)
{
    memset(fe, 0, sizeof(*fe));
    cur = fe;
    char path[] = "/tmp/ringmux-unit-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        die("mkstemp");
    size_t len = strlen(config);
    if (write(fd, config, len) != (ssize_t)len)
        die("write config");
    close(fd);
    char err[1024];
    int rc = cfg_load(path, &fe->cfg, err, sizeof(err));
    unlink(path);
    if (rc < 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    atomic_store(&fe->sh.cfg, fe->cfg);
    /* RINGMUX_UNIT_LOG=0..3 shows the proxy's log (default: errors only). */
    const char *lv = getenv("RINGMUX_UNIT_LOG");
    atomic_store(&log_current_level, lv ? atoi(lv) : LOG_ERROR);
    fe->sh.n_workers = 1;
    fe->sh.workers = &fe->w;
    struct rm_worker *w = &fe->w;
    w->idx = 0;
    w->sh = &fe->sh;
    w->listen_fd = w->admin_fd = w->wake_fd = -1;
    link_init(&w->sessions);
    link_init(&w->waiters);
    link_init(&w->graveyard);
    w->cfg = fe->cfg;
    /* The monitor is not running: the topology comes from the config
     * (numeric addresses; a lone backend is the writer). */
    struct rm_topology *t = topo_from_config(fe->cfg);
    if (!t)
        die("out of memory");
    /* What the monitor would have read from the scripted server. */
    t->server = srv_info;
    t->server.caps = hs_proxy_caps(srv_info.caps);
    t->server.ext_caps = hs_proxy_ext_caps(srv_info.caps, srv_info.ext_caps);
    snprintf(t->server.version, sizeof(t->server.version), "5.5.5-%s-ringmux", srv_info.version);
    t->server_known = true;
    atomic_store(&fe->sh.topo, t);
    w->topo = t;
    backends_init(w);
    w->now_ms = 1000000;
    w->now_us = w->now_ms * 1000;
    w->last_maint_ms = w->now_ms;
    return 0;
}

void fe_start(struct fe *fe, const char *config)
{
    if (fe_init(fe, config) < 0)
        exit(2);
}

void fe_destroy(struct fe *fe)
{
    cur = fe;
    struct rm_worker *w = &fe->w;
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->sessions)
        sess_close(link_entry(pos, struct rm_session, link), "test over");
    fe_pump(fe);
    pool_free_all(w);
    fe->hold_connects = false;
    fe_pump(fe);
    pool_destroy_all(w);
    for (uint32_t i = 0; i < w->nslots; i++)
        if (w->conns[i])
            fprintf(stderr, "fake engine: conn in slot %u still alive at the end\n", i);
    free(w->conns);
    free(w->free_slots);
    tls_ctx_free(w->tls_server);
    backends_tls_reset(w);
    for (size_t i = 0; i < fe->n_wires; i++) {
        buf_free(&fe->wires[i]->rx);
        buf_free(&fe->wires[i]->tx);
        buf_free(&fe->wires[i]->srv.deferred);
        free(fe->wires[i]);
    }
    free(fe->wires);
    free(fe->ops);
    buf_free(&fe->log);
    free(atomic_load(&fe->sh.topo));
    cfg_free(fe->cfg);
    cur = NULL;
}

/* ---- clients -------------------------------------------------------------- */

void fe_pkt_free(struct fe_pkt *pk)
{
    free(pk->p);
    pk->p = NULL;
}

struct rm_session *fe_session(const struct fe_client *cl)
{
    return (struct rm_session *)conn_of(cl->fe, cl->slot, cl->gen);
}

static struct fe_wire *client_wire(const struct fe_client *cl)
{
    for (size_t i = 0; i < cl->fe->n_wires; i++) {
        struct fe_wire *x = cl->fe->wires[i];
        if (x->slot == cl->slot && x->gen == cl->gen && !x->backend)
            return x; /* gone or not: its bytes stay readable */
    }
    return NULL;
}

void fe_send_raw(struct fe_client *cl, const void *p, size_t n)
{
    struct fe_wire *x = client_wire(cl);
    if (!x || x->gone)
        return;
    put(&x->tx, p, n);
    fe_pump(cl->fe);
}

void fe_send(struct fe_client *cl, uint8_t cmd, const void *arg, size_t len)
{
    struct rm_buf b = {0};
    if (pkt_write_cmd(&b, cmd, arg, len) < 0)
        die("out of memory");
    fe_send_raw(cl, buf_head(&b), buf_avail(&b));
    buf_free(&b);
}

size_t fe_unread(const struct fe_client *cl)
{
    struct fe_wire *x = client_wire(cl);
    return x ? buf_avail(&x->rx) : 0;
}

bool fe_read(struct fe_client *cl, struct fe_pkt *pk)
{
    struct fe_wire *x = client_wire(cl);
    memset(pk, 0, sizeof(*pk));
    if (!x || buf_avail(&x->rx) < 4)
        return false;
    const uint8_t *h = buf_head(&x->rx);
    size_t len = pkt_u24(h);
    if (buf_avail(&x->rx) < 4 + len)
        return false;
    pk->p = malloc(len ? len : 1);
    if (!pk->p)
        die("out of memory");
    memcpy(pk->p, h + 4, len);
    pk->n = len;
    pk->seq = h[3];
    buf_consume(&x->rx, 4 + len);
    return true;
}

static void fill_err(struct fe_result *r, const struct fe_pkt *pk)
{
    struct pkt_err_view e;
    r->kind = FE_ERR;
    if (pkt_parse_err(pk->p, pk->n, &e) == 0) {
        r->err = e.code;
        snprintf(r->msg, sizeof(r->msg), "%.*s", (int)e.msg_len, (const char *)e.msg);
    }
}

static void fill_ok(struct fe_client *cl, struct fe_result *r, const struct fe_pkt *pk)
{
    struct pkt_ok_view ok;
    r->kind = FE_OK;
    if (pkt_parse_ok(pk->p, pk->n, cl->caps, &ok) == 0) {
        r->affected = ok.affected_rows;
        r->insert_id = ok.insert_id;
        r->status = ok.status;
        r->warnings = ok.warnings;
    }
}

static bool is_eof(const struct fe_client *cl, const struct fe_pkt *pk)
{
    return pk->n > 0 && pk->p[0] == 0xfe && pk->n < 0xffffff && ((cl->caps & CLIENT_DEPRECATE_EOF) ? true : pk->n < 9);
}

int fe_response(struct fe_client *cl, struct fe_result *r)
{
    memset(r, 0, sizeof(*r));
    struct fe_wire *x = client_wire(cl);
    if (!x)
        return FE_NONE;
    /* Peek: only consume when the whole response is there. */
    size_t off = 0, avail = buf_avail(&x->rx);
    const uint8_t *base = buf_head(&x->rx);
    int phase = 0; /* 0 first packet, 1 column defs, 2 rows */
    uint64_t ncols = 0, seen_cols = 0;
    for (;;) {
        if (avail - off < 4)
            return FE_NONE;
        size_t len = pkt_u24(base + off);
        if (avail - off < 4 + len)
            return FE_NONE;
        struct fe_pkt pk = {.p = (uint8_t *)base + off + 4, .n = len, .seq = base[off + 3]};
        off += 4 + len;
        if (phase == 0) {
            if (len && pk.p[0] == 0xff) {
                fill_err(r, &pk);
                break;
            }
            if (len && pk.p[0] == 0x00) {
                fill_ok(cl, r, &pk);
                break;
            }
            struct pkt_reader rd;
            pkt_reader_init(&rd, pk.p, pk.n);
            ncols = pkt_read_lenenc(&rd, NULL);
            phase = 1;
            r->kind = FE_ROWS;
            continue;
        }
        if (phase == 1) {
            if (seen_cols < ncols) {
                seen_cols++;
                if (seen_cols == ncols && (cl->caps & CLIENT_DEPRECATE_EOF))
                    phase = 2;
                continue;
            }
            phase = 2; /* the EOF after the definitions */
            continue;
        }
        if (len && pk.p[0] == 0xff) {
            fill_err(r, &pk);
            break;
        }
        if (is_eof(cl, &pk)) {
            if (cl->caps & CLIENT_DEPRECATE_EOF) {
                struct pkt_ok_view ok;
                if (pkt_parse_ok(pk.p, pk.n, cl->caps, &ok) == 0) {
                    r->status = ok.status;
                    r->warnings = ok.warnings;
                }
            } else if (len >= 5) {
                r->warnings = (uint16_t)pkt_u16(pk.p + 1);
                r->status = (uint16_t)pkt_u16(pk.p + 3);
            }
            if (r->status & SERVER_MORE_RESULTS_EXISTS)
                die("multi-result responses are not modelled");
            break;
        }
        if (r->n_rows++ == 0) {
            struct pkt_reader rd;
            pkt_reader_init(&rd, pk.p, pk.n);
            if (pk.n && pk.p[0] == 0xfb) {
                snprintf(r->first, sizeof(r->first), "NULL");
            } else {
                size_t vl = 0;
                const uint8_t *v = pkt_read_lenenc_str(&rd, &vl);
                snprintf(r->first, sizeof(r->first), "%.*s", v ? (int)vl : 0, v ? (const char *)v : "");
            }
        }
    }
    buf_consume(&x->rx, off);
    return r->kind;
}

int fe_query(struct fe_client *cl, const char *sql, struct fe_result *r)
{
    fe_send(cl, COM_QUERY, sql, strlen(sql));
    return fe_response(cl, r);
}

void fe_stall(struct fe_client *cl, bool on)
{
    struct fe_wire *x = client_wire(cl);
    if (x)
        x->stalled = on;
    fe_pump(cl->fe);
}

void fe_hangup(struct fe_client *cl)
{
    struct fe_wire *x = client_wire(cl);
    if (x && !x->gone)
        x->peer_closed = true;
    fe_pump(cl->fe);
}

void fe_topology(struct fe *fe, int writer, const bool *up, const bool *reader_ok)
{
    cur = fe;
    struct rm_topology *t = malloc(sizeof(*t));
    if (!t)
        die("out of memory");
    *t = *fe->w.topo;
    t->gen++;
    t->writer = writer;
    for (int i = 0; i < t->n; i++) {
        t->be[i].up = up ? up[i] : true;
        t->be[i].checked = true;
        t->reader_ok[i] = reader_ok ? reader_ok[i] : false;
    }
    struct rm_topology *old = (struct rm_topology *)fe->w.topo;
    atomic_store(&fe->sh.topo, t);
    fe->w.topo = t;
    backends_topology_changed(&fe->w, old);
    free(old);
    fe_pump(fe);
}

int fe_connect(struct fe *fe, struct fe_client *cl, const char *user, const char *pw, const char *db, uint32_t caps,
               struct fe_result *r)
{
    struct fe_result scratch;
    if (!r)
        r = &scratch;
    memset(r, 0, sizeof(*r));
    memset(cl, 0, sizeof(*cl));
    cur = fe;
    cl->fe = fe;
    cl->caps = caps ? caps
                    : (CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_LOCAL_FILES | CLIENT_PROTOCOL_41 |
                       CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |
                       CLIENT_PLUGIN_AUTH | CLIENT_SESSION_TRACK);
    if (db)
        cl->caps |= CLIENT_CONNECT_WITH_DB;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");
    close(sv[1]); /* nothing travels on it: the fake kernel carries the bytes */
    if (fe->next_console)
        sess_accept_console(&fe->w, sv[0]);
    else
        sess_accept(&fe->w, sv[0], fe->next_reader);
    fe->next_reader = fe->next_console = false;
    if (link_empty(&fe->w.sessions))
        die("sess_accept made no session");
    struct rm_session *s = link_entry(fe->w.sessions.prev, struct rm_session, link);
    cl->slot = s->c.slot;
    cl->gen = s->c.gen;
    fe_pump(fe);
    struct fe_pkt g;
    if (!fe_read(cl, &g))
        die("no greeting");
    if (g.n && g.p[0] == 0xff) {
        fill_err(r, &g);
        fe_pkt_free(&g);
        return r->kind;
    }
    struct hs_greeting hg;
    const char *why = NULL;
    if (hs_parse_greeting(g.p, g.n, &hg, &why) < 0)
        die(why);
    cl->id = hg.conn_id;
    fe_pkt_free(&g);
    struct rm_buf b = {0};
    if (hs_write_login(&b, 1, cl->caps & hg.caps, 0, 45, user, pw, db, &hg) < 0)
        die("out of memory");
    cl->caps &= hg.caps;
    fe_send_raw(cl, buf_head(&b), buf_avail(&b));
    buf_free(&b);
    return fe_response(cl, r);
}

uint32_t fe_prepare(struct fe_client *cl, const char *sql, struct fe_result *r)
{
    memset(r, 0, sizeof(*r));
    fe_send(cl, COM_STMT_PREPARE, sql, strlen(sql));
    struct fe_pkt pk;
    if (!fe_read(cl, &pk))
        return 0;
    if (pk.n && pk.p[0] == 0xff) {
        fill_err(r, &pk);
        fe_pkt_free(&pk);
        return 0;
    }
    uint32_t id = pk.n >= 12 ? pkt_u32(pk.p + 1) : 0;
    uint16_t ncols = pk.n >= 12 ? (uint16_t)pkt_u16(pk.p + 5) : 0,
             nparams = pk.n >= 12 ? (uint16_t)pkt_u16(pk.p + 7) : 0;
    fe_pkt_free(&pk);
    int more = nparams + ncols;
    if (!(cl->caps & CLIENT_DEPRECATE_EOF))
        more += (nparams > 0) + (ncols > 0);
    for (int i = 0; i < more; i++) {
        if (!fe_read(cl, &pk))
            die("prepare response cut short");
        fe_pkt_free(&pk);
    }
    r->kind = FE_OK;
    return id;
}

int fe_execute(struct fe_client *cl, uint32_t id, const int32_t *params, int n, struct fe_result *r)
{
    uint8_t b[256], *q = b;
    pkt_put_u32(q, id);
    q += 4;
    *q++ = 0;          /* flags: no cursor */
    pkt_put_u32(q, 1); /* iteration count */
    q += 4;
    if (n > 0) {
        size_t nb = ((size_t)n + 7) / 8;
        memset(q, 0, nb); /* null bitmap */
        q += nb;
        *q++ = 1; /* new params bound */
        for (int i = 0; i < n; i++) {
            *q++ = 3; /* MYSQL_TYPE_LONG */
            *q++ = 0;
        }
        for (int i = 0; i < n; i++) {
            pkt_put_u32(q, (uint32_t)params[i]);
            q += 4;
        }
    }
    fe_send(cl, COM_STMT_EXECUTE, b, (size_t)(q - b));
    return fe_response(cl, r);
}
