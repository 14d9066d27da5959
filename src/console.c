/* The admin console (include/ringmux/console.h). */
#include "ringmux/console.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringmux/admin.h"
#include "ringmux/backend.h"
#include "ringmux/bconn.h"
#include "ringmux/kill.h"
#include "ringmux/log.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/resultset.h"
#include "ringmux/session.h"
#include "ringmux/sql.h"
#include "ringmux/stmt.h"
#include "ringmux/tls.h"
#include "ringmux/worker.h"
#include "session_int.h"

enum report { REPORT_POOLS = 1, REPORT_CLIENTS, REPORT_PINS };

#define MAX_COLS 12

static const char VALID[] = "SHOW POOLS, SHOW CLIENTS, SHOW BACKENDS, SHOW STATS, SHOW PINS, SHOW CONFIG, "
                            "SHOW VERSION, PAUSE, RESUME, RELOAD, KILL <client id>, SHUTDOWN [WAIT]";

/* ---- result sets ------------------------------------------------------- */

/* A result set being written: names of the columns, then rows of text. */
struct table {
    struct rs_writer w;
    int ncols;
};

static void table_begin(struct table *t, struct rm_session *s, const char *const *names, int ncols)
{
    struct rs_column cols[MAX_COLS];
    for (int i = 0; i < ncols; i++)
        cols[i] = (struct rs_column){
            .name = names[i], .name_len = strlen(names[i]), .charset = 33, .length = 256, .type = 253 /* VAR_STRING */};
    rs_begin(&t->w, &s->c.out, s->caps, s->ext_caps, s->status);
    rs_columns(&t->w, cols, (size_t)ncols);
    t->ncols = ncols;
}

static void table_row(struct table *t, const char *const *vals)
{
    size_t lens[MAX_COLS];
    for (int i = 0; i < t->ncols; i++)
        lens[i] = vals[i] ? strlen(vals[i]) : 0;
    rs_text_row(&t->w, vals, lens, (size_t)t->ncols);
}

static void table_end(struct rm_session *s, struct table *t)
{
    rs_end(&t->w, 0);
    conn_flush(&s->c);
    sess_become_idle(s);
}

static void answer_ok(struct rm_session *s)
{
    sess_send_ok(s, 1);
    sess_become_idle(s);
}

static void answer_err(struct rm_session *s, uint16_t code, const char *state, const char *msg)
{
    sess_send_err(s, 1, code, state, msg);
    sess_become_idle(s);
}

/* ---- what each worker reports ------------------------------------------ */

/* A field for a report row: tabs and newlines would break the format. */
static void field(struct rm_buf *b, const char *s, bool last)
{
    for (; s && *s; s++)
        buf_append(b, (*s == '\t' || *s == '\n') ? " " : s, 1);
    buf_append(b, last ? "\n" : "\t", 1);
}

static void fieldf(struct rm_buf *b, bool last, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fieldf(struct rm_buf *b, bool last, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    field(b, tmp, last);
}

/* Rows of this worker for report kind, into b. */
static void build_report(struct rm_worker *w, int kind, struct rm_buf *b)
{
    struct rm_link *pos;
    if (kind == REPORT_POOLS) {
        for (int i = 0; i < w->n_backends; i++) {
            struct rm_backend *be = &w->backends[i];
            for (pos = (be->pools).next; pos != &(be->pools); pos = pos->next) {
                struct rm_pool *p = link_entry(pos, struct rm_pool, link);
                int pinned = 0;
                struct rm_link *sp;
                for (sp = (w->sessions).next; sp != &(w->sessions); sp = sp->next) {
                    struct rm_session *s = link_entry(sp, struct rm_session, link);
                    pinned += s->pool == p && s->pin != PIN_NONE;
                }
                field(b, backend_name(be), false);
                field(b, p->user, false);
                fieldf(b, false, "%d", p->n_conns - p->n_idle - p->n_opening);
                fieldf(b, false, "%d", p->n_idle);
                fieldf(b, false, "%d", p->n_opening);
                fieldf(b, false, "%d", p->n_waiting);
                fieldf(b, true, "%d", pinned);
            }
        }
    } else if (kind == REPORT_CLIENTS) {
        for (pos = (w->sessions).next; pos != &(w->sessions); pos = pos->next) {
            struct rm_session *s = link_entry(pos, struct rm_session, link);
            char addr[64], digest[200] = "", tls[96] = "";
            sess_peer(s, addr, sizeof(addr), true);
            bool running = s->state != SESS_IDLE && s->state != SESS_HANDSHAKE && s->state != SESS_AUTH_SWITCH &&
                           s->state != SESS_CLOSING && !s->console;
            const struct stmt_entry *e = running && sess_stmt_command(s) ? stmt_reg_find(&s->stmts, s->cur_stmt) : NULL;
            if (e) /* a prepared statement: its text, looked up only when shown */
                sql_digest(e->t->text, e->t->len < 256 ? e->t->len : 256, digest, sizeof(digest));
            else if (running && s->cur_sql_len)
                sql_digest(s->cur_sql, s->cur_sql_len, digest, sizeof(digest));
            if (s->c.tls)
                tls_conn_describe(&s->c, tls, sizeof(tls));
            fieldf(b, false, "%u", s->id);
            field(b, s->user ? s->user : "", false);
            field(b, addr, false);
            field(b, s->console ? "console" : sess_state_str(s->state), false);
            field(b, s->pin != PIN_NONE ? cls_pin_str(s->pin) : "", false);
            fieldf(b, false, "%llu", (unsigned long long)((w->now_ms - s->born_ms) / 1000));
            field(b, digest, false);
            if (running)
                fieldf(b, false, "%llu", (unsigned long long)((w->now_us - s->cmd_start_us) / 1000));
            else
                field(b, "", false);
            field(b, s->bc ? backend_name(s->bc->pool->be) : "", false);
            field(b, s->c.tls ? tls : "", false);
            fieldf(b, true, "%d", w->idx);
        }
    } else if (kind == REPORT_PINS) {
        int now[PIN__COUNT] = {0};
        for (pos = (w->sessions).next; pos != &(w->sessions); pos = pos->next) {
            struct rm_session *s = link_entry(pos, struct rm_session, link);
            if (s->pin != PIN_NONE)
                now[s->pin]++;
        }
        for (int r = 1; r < PIN__COUNT; r++) {
            field(b, cls_pin_str((enum cls_pin)r), false);
            fieldf(b, false, "%d", now[r]);
            field(b, w->pin_sample[r], true);
        }
    }
}

/* ---- gathering from the workers ----------------------------------------- */

/* Split the next line of rows into fields; false at the end. */
static bool next_row(char **cursor, char **f, int nf)
{
    char *line = *cursor;
    if (!line || !*line)
        return false;
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    *cursor = nl ? nl + 1 : line + strlen(line);
    for (int i = 0; i < nf; i++) {
        f[i] = line;
        char *tab = line ? strchr(line, '\t') : NULL;
        if (tab) {
            *tab = '\0';
            line = tab + 1;
        } else {
            line = NULL;
        }
        if (!f[i])
            f[i] = "";
    }
    return true;
}

static void render_pools(struct rm_session *s, char *rows)
{
    struct agg {
        char be[64], user[96];
        long v[5];
    } *a = NULL;
    int n = 0, cap = 0;
    char *f[7];
    char *cur = rows;
    while (next_row(&cur, f, 7)) {
        int i = 0;
        while (i < n && (strcmp(a[i].be, f[0]) != 0 || strcmp(a[i].user, f[1]) != 0))
            i++;
        if (i == n) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct agg *na = realloc(a, (size_t)cap * sizeof(*a));
                if (!na)
                    break;
                a = na;
            }
            memset(&a[n], 0, sizeof(a[n]));
            snprintf(a[n].be, sizeof(a[n].be), "%s", f[0]);
            snprintf(a[n].user, sizeof(a[n].user), "%s", f[1]);
            n++;
        }
        for (int k = 0; k < 5; k++)
            a[i].v[k] += atol(f[2 + k]);
    }
    const struct rm_config *cfg = W(s)->cfg;
    static const char *const names[] = {"backend", "user", "active", "idle", "opening", "waiting", "pinned", "max"};
    struct table t;
    table_begin(&t, s, names, 8);
    for (int i = 0; i < n; i++) {
        char v[5][24], max[24];
        for (int k = 0; k < 5; k++)
            snprintf(v[k], sizeof(v[k]), "%ld", a[i].v[k]);
        int bi = cfg_backend_index(cfg, a[i].be);
        int m = bi >= 0 && cfg->backends[bi].max_connections ? cfg->backends[bi].max_connections
                                                             : cfg->max_backend_connections;
        snprintf(max, sizeof(max), "%d", m);
        const char *row[] = {a[i].be, a[i].user, v[0], v[1], v[2], v[3], v[4], max};
        table_row(&t, row);
    }
    free(a);
    table_end(s, &t);
}

static void render_clients(struct rm_session *s, char *rows)
{
    static const char *const names[] = {"id",        "user",         "address", "state", "pinned", "age_s",
                                        "statement", "statement_ms", "backend", "tls",   "worker"};
    struct table t;
    table_begin(&t, s, names, 11);
    char *f[11];
    char *cur = rows;
    while (next_row(&cur, f, 11)) {
        const char *row[11];
        for (int i = 0; i < 11; i++)
            row[i] = *f[i] || i < 4 ? f[i] : NULL;
        table_row(&t, row);
    }
    table_end(s, &t);
}

static void render_pins(struct rm_session *s, char *rows)
{
    long now[PIN__COUNT] = {0};
    char sample[PIN__COUNT][160] = {{0}};
    char *f[3];
    char *cur = rows;
    while (next_row(&cur, f, 3)) {
        for (int r = 1; r < PIN__COUNT; r++) {
            if (strcmp(f[0], cls_pin_str((enum cls_pin)r)) != 0)
                continue;
            now[r] += atol(f[1]);
            if (!sample[r][0] && *f[2])
                snprintf(sample[r], sizeof(sample[r]), "%s", f[2]);
        }
    }
    struct rm_shared *sh = W(s)->sh;
    static const char *const names[] = {"reason", "pinned_now", "pins_total", "sample"};
    struct table t;
    table_begin(&t, s, names, 4);
    for (int r = 1; r < PIN__COUNT; r++) {
        unsigned long long total = 0;
        for (int i = 0; i < sh->n_workers; i++)
            total += atomic_load(&sh->metrics[i]->pins[r]);
        if (!total && !now[r])
            continue;
        char a[24], b[24];
        snprintf(a, sizeof(a), "%ld", now[r]);
        snprintf(b, sizeof(b), "%llu", total);
        const char *row[] = {cls_pin_str((enum cls_pin)r), a, b, sample[r][0] ? sample[r] : NULL};
        table_row(&t, row);
    }
    table_end(s, &t);
}

static void report_done(struct rm_session *s)
{
    uint16_t missing = (uint16_t)s->report_pending;
    s->report_pending = 0; /* late answers are dropped (console_on_message) */
    if (missing)
        slog(LOG_WARN, s, "admin console: %u worker(s) did not answer within %d ms; showing the others' rows", missing,
             CONSOLE_REPORT_TIMEOUT_MS);
    buf_append(&s->report, "", 1); /* NUL */
    char *rows = (char *)buf_head(&s->report);
    switch (s->report_kind) {
    case REPORT_POOLS: render_pools(s, rows); break;
    case REPORT_CLIENTS: render_clients(s, rows); break;
    default: render_pins(s, rows); break;
    }
    buf_free(&s->report);
}

void console_report_timeout(struct rm_session *s)
{
    report_done(s);
}

/* Ask every worker (this one directly) for its rows of kind. */
static void gather(struct rm_session *s, int kind)
{
    struct rm_worker *w = W(s);
    buf_reset(&s->report);
    s->report_kind = (uint8_t)kind;
    build_report(w, kind, &s->report);
    s->report_pending = 0;
    for (int i = 0; i < w->sh->n_workers; i++) {
        if (i == w->idx)
            continue;
        struct rm_msg *m = calloc(1, sizeof(*m));
        if (!m)
            continue; /* that worker's rows are missing; better than no answer */
        m->type = MSG_REPORT;
        m->target = (uint32_t)kind;
        m->from_worker = w->idx;
        m->from_sess = s->id;
        s->report_pending++;
        worker_post(w->sh, i, m);
    }
    if (s->report_pending == 0)
        report_done(s);
    else
        sess_wait_kill(s); /* waiting for other workers (the state KILL uses) */
}

void console_on_message(struct rm_worker *w, struct rm_msg *m)
{
    if (m->type == MSG_REPORT) {
        struct rm_buf b = {0};
        build_report(w, (int)m->target, &b);
        m->blob = malloc(buf_avail(&b) + 1);
        if (m->blob) {
            memcpy(m->blob, buf_head(&b), buf_avail(&b));
            m->blob_len = buf_avail(&b);
        }
        buf_free(&b);
        m->type = MSG_REPORT_DONE;
        worker_post(w->sh, m->from_worker, m); /* the answer travels back in the same message */
        return;
    }
    struct rm_session *s = sess_find(w, m->from_sess);
    if (s && s->console && s->state == SESS_KILLING && s->report_kind == (uint8_t)m->target && s->report_pending > 0) {
        if (m->blob)
            buf_append(&s->report, m->blob, m->blob_len);
        if (--s->report_pending == 0)
            report_done(s);
    }
    free(m->blob);
    free(m);
}

/* ---- the other commands ------------------------------------------------- */

static void show_version(struct rm_session *s)
{
    static const char *const names[] = {"version"};
    struct table t;
    table_begin(&t, s, names, 1);
    const char *row[] = {"ringmux " RINGMUX_VERSION};
    table_row(&t, row);
    table_end(s, &t);
}

static void config_row(void *arg, const char *section, const char *key, const char *value, bool reloadable)
{
    const char *row[] = {section, key, value, reloadable ? "yes" : "no"};
    table_row(arg, row);
}

static void show_config(struct rm_session *s)
{
    static const char *const names[] = {"section", "key", "value", "reloadable"};
    struct table t;
    table_begin(&t, s, names, 4);
    cfg_each_setting(W(s)->cfg, config_row, &t);
    table_end(s, &t);
}

static void show_backends(struct rm_session *s)
{
    struct rm_worker *w = W(s);
    const struct rm_topology *topo = w->topo;
    const struct rm_config *cfg = w->cfg;
    static const char *const names[] = {"backend",   "address", "role",        "up",
                                        "read_only", "lag_s",   "connections", "error"};
    struct table t;
    table_begin(&t, s, names, 8);
    for (int i = 0; i < cfg->n_backends; i++) {
        const struct rm_topo_backend *b = topo && i < topo->n ? &topo->be[i] : NULL;
        char addr[300], lag[24], conns[24];
        const struct rm_addr *a = &cfg->backends[i].addr;
        snprintf(addr, sizeof(addr), strchr(a->host, ':') ? "[%s]:%u" : "%s:%u", a->host, a->port);
        snprintf(lag, sizeof(lag), b && b->lag_ms >= 0 ? "%.3f" : "", b ? (double)b->lag_ms / 1000.0 : 0.0);
        snprintf(conns, sizeof(conns), "%d", atomic_load(&w->sh->backend_conns[i]));
        const char *role = !topo ? "?" : topo->writer == i ? "writer" : topo->reader_ok[i] ? "reader" : "none";
        const char *row[] = {cfg->backends[i].name,
                             addr,
                             role,
                             !b || !b->checked ? "unknown"
                             : b->up           ? "yes"
                                               : "no",
                             b && b->checked ? (b->read_only ? "yes" : "no") : NULL,
                             lag[0] ? lag : NULL,
                             conns,
                             b && b->error[0] ? b->error : NULL};
        table_row(&t, row);
    }
    table_end(s, &t);
}

/* SHOW STATS: every counter summed over the workers, and its rate since
 * the previous SHOW STATS (or since the start). */
struct stat_row {
    char name[96];
    double value;
};
static struct {
    struct stat_row *rows;
    int n;
    uint64_t at_ms;
} last_stats; /* worker 0 only: the console lives there */

static void show_stats(struct rm_session *s)
{
    struct rm_worker *w = W(s);
    struct rm_buf text = {0};
    met_render(w->sh->metrics, w->sh->n_workers, &text);
    buf_append(&text, "", 1);
    static const char *const names[] = {"stat", "value", "per_second"};
    struct table t;
    table_begin(&t, s, names, 3);
    struct stat_row *now = NULL;
    int n = 0, cap = 0;
    double dt = (double)(w->now_ms - last_stats.at_ms) / 1000.0;
    for (char *line = strtok((char *)buf_head(&text), "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || strstr(line, "_bucket{"))
            continue;
        char *sp = strrchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        double v = atof(sp + 1);
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct stat_row *nr = realloc(now, (size_t)cap * sizeof(*now));
            if (!nr)
                break;
            now = nr;
        }
        snprintf(now[n].name, sizeof(now[n].name), "%s", line);
        now[n].value = v;
        double prev = 0;
        for (int k = 0; k < last_stats.n; k++)
            if (strcmp(last_stats.rows[k].name, line) == 0)
                prev = last_stats.rows[k].value;
        char val[32], rate[32] = "";
        snprintf(val, sizeof(val), "%.15g", v);
        bool counter = strstr(line, "_total") || strstr(line, "_sum") || strstr(line, "_count");
        if (counter && last_stats.at_ms && dt > 0) /* the first SHOW STATS has no interval yet */
            snprintf(rate, sizeof(rate), "%.2f", (v - prev) / dt);
        const char *row[] = {line, val, rate[0] ? rate : NULL};
        table_row(&t, row);
        n++;
    }
    free(last_stats.rows);
    last_stats.rows = now;
    last_stats.n = n;
    last_stats.at_ms = w->now_ms;
    buf_free(&text);
    table_end(s, &t);
}

/* ---- dispatch ------------------------------------------------------------ */

/* Does text (len bytes, upper-cased words) start with the words of cmd, then end? */
static bool is_cmd(const char *text, const char *cmd)
{
    return strcmp(text, cmd) == 0;
}

void console_command(struct rm_session *s, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    MET_INC(&w->met, commands_local);
    switch (p[0]) {
    case COM_QUIT: sess_close(s, "COM_QUIT"); return;
    case COM_PING:
    case COM_INIT_DB:
    case COM_RESET_CONNECTION: answer_ok(s); return;
    case COM_QUERY: break;
    default: answer_err(s, 1047, "08S01", "ringmux admin console: only text commands (COM_QUERY)"); return;
    }
    /* Normalise: upper case, single spaces, no trailing ';'. */
    char cmd[256];
    size_t k = 0;
    bool space = false;
    for (size_t i = 1; i < n && k < sizeof(cmd) - 1; i++) {
        unsigned char c = p[i];
        if (isspace(c)) {
            space = k > 0;
            continue;
        }
        if (space && k < sizeof(cmd) - 2)
            cmd[k++] = ' ';
        space = false;
        cmd[k++] = (char)toupper(c);
    }
    while (k > 0 && (cmd[k - 1] == ';' || cmd[k - 1] == ' '))
        k--;
    cmd[k] = '\0';

    if (is_cmd(cmd, "SELECT @@VERSION_COMMENT LIMIT 1")) { /* the mariadb client asks it first */
        static const char *const names[] = {"@@version_comment"};
        struct table t;
        table_begin(&t, s, names, 1);
        const char *row[] = {"ringmux admin console"};
        table_row(&t, row);
        table_end(s, &t);
    } else if (is_cmd(cmd, "SHOW POOLS")) {
        gather(s, REPORT_POOLS);
    } else if (is_cmd(cmd, "SHOW CLIENTS")) {
        gather(s, REPORT_CLIENTS);
    } else if (is_cmd(cmd, "SHOW PINS")) {
        gather(s, REPORT_PINS);
    } else if (is_cmd(cmd, "SHOW BACKENDS")) {
        show_backends(s);
    } else if (is_cmd(cmd, "SHOW STATS")) {
        show_stats(s);
    } else if (is_cmd(cmd, "SHOW CONFIG")) {
        show_config(s);
    } else if (is_cmd(cmd, "SHOW VERSION")) {
        show_version(s);
    } else if (is_cmd(cmd, "PAUSE") || is_cmd(cmd, "RESUME")) {
        long long running = adm_pause(w->sh, cmd[0] == 'P', "admin console");
        static const char *const names[] = {"state", "running"};
        struct table t;
        table_begin(&t, s, names, 2);
        char r[24];
        snprintf(r, sizeof(r), "%lld", running);
        const char *row[] = {cmd[0] == 'P' ? "paused" : "resumed", r};
        table_row(&t, row);
        table_end(s, &t);
    } else if (is_cmd(cmd, "RELOAD")) {
        slog(LOG_INFO, s, "admin console: RELOAD");
        kill(getpid(), SIGHUP); /* the main thread reloads, as on SIGHUP */
        answer_ok(s);
    } else if (is_cmd(cmd, "SHUTDOWN") || is_cmd(cmd, "SHUTDOWN WAIT")) {
        slog(LOG_WARN, s, "admin console: %s", cmd);
        s->console_shutdown = true; /* SIGTERM once the OK is sent (session.c: sess_on_flushed) */
        answer_ok(s);
    } else if (strncmp(cmd, "KILL ", 5) == 0) {
        char *end;
        unsigned long id = strtoul(cmd + 5, &end, 10);
        if (*end || end == cmd + 5 || id == 0 || id > UINT32_MAX) {
            answer_err(s, 1064, "42000", "ringmux admin console: KILL takes a client id (see SHOW CLIENTS)");
            return;
        }
        kill_start(s, (uint32_t)id, false);
    } else {
        char msg[400];
        snprintf(msg, sizeof(msg), "ringmux admin console: unknown command '%.60s'; valid commands: %s", cmd, VALID);
        answer_err(s, 1064, "42000", msg);
    }
}
