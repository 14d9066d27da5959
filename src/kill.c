/* KILL through the proxy (include/ringmux/kill.h). */
#include "ringmux/kill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmux/console.h"
#include "ringmux/log.h"
#include "ringmux/session.h"
#include "ringmux/sql.h"
#include "ringmux/worker.h"

bool kill_parse(const char *sql, size_t len, struct kill_req *r)
{
    struct lexer lx;
    struct lex_token t;
    memset(r, 0, sizeof(*r));
    lex_init(&lx, sql, len);
    if (lex_next(&lx, &t) != LEX_WORD || !lex_is(&t, "KILL"))
        return false;
    enum lex_type ty = lex_next(&lx, &t);
    if (ty == LEX_WORD && (lex_is(&t, "HARD") || lex_is(&t, "SOFT")))
        ty = lex_next(&lx, &t);
    if (ty == LEX_WORD && lex_is(&t, "CONNECTION")) {
        ty = lex_next(&lx, &t);
    } else if (ty == LEX_WORD && lex_is(&t, "QUERY")) {
        r->query_only = true;
        ty = lex_next(&lx, &t);
        if (ty == LEX_WORD && lex_is(&t, "ID")) {
            r->unsupported = "KILL QUERY ID (query ids are the backend's)";
            return true;
        }
    }
    if (ty == LEX_WORD && lex_is(&t, "USER")) {
        r->unsupported = "KILL USER";
        return true;
    }
    if (ty == LEX_NUMBER) {
        char num[16];
        if (t.len == 0 || t.len >= sizeof(num))
            return false;
        memcpy(num, t.p, t.len);
        num[t.len] = '\0';
        char *end;
        unsigned long long v = strtoull(num, &end, 10);
        if (*end || v > UINT32_MAX)
            return false;
        r->target = (uint32_t)v;
    } else if (ty == LEX_WORD && lex_is(&t, "CONNECTION_ID")) {
        if (lex_next(&lx, &t) != LEX_LPAREN || lex_next(&lx, &t) != LEX_RPAREN)
            return false;
        r->self = true;
    } else {
        return false;
    }
    while ((ty = lex_next(&lx, &t)) == LEX_SEMI) {
    }
    return ty == LEX_EOF;
}

/* Is `user` listed in admin_users (comma- or space-separated)? */
static bool is_admin(const struct rm_config *cfg, const char *user)
{
    const char *p = cfg->admin_users;
    size_t ul = strlen(user);
    while (p && *p) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n == ul && n && memcmp(p, user, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* Kill session `target` of w for `user`: 0, or the server's error code. */
static uint16_t kill_local(struct rm_worker *w, uint32_t target, bool query_only, const char *user, bool admin)
{
    struct rm_session *t = sess_find(w, target);
    if (!t)
        return 1094;
    if (!admin && (!t->user || strcmp(t->user, user) != 0))
        return 1095;
    slog(LOG_INFO, t, "KILL%s by user '%s'", query_only ? " QUERY" : "", user);
    sess_interrupt(t, query_only);
    return 0;
}

void kill_start(struct rm_session *s, uint32_t target, bool query_only)
{
    struct rm_worker *w = s->c.w;
    int n = w->sh->n_workers;
    int to = (int)(target % (uint32_t)n);
    bool admin = s->console || is_admin(w->cfg, s->user); /* the admin console may kill anyone */
    if (to == w->idx) {
        sess_answer_kill(s, target, kill_local(w, target, query_only, s->user, admin));
        return;
    }
    struct rm_msg *m = calloc(1, sizeof(*m));
    if (!m) {
        sess_close(s, "out of memory");
        return;
    }
    m->type = MSG_KILL;
    m->target = target;
    m->query_only = query_only;
    m->admin = admin;
    m->from_worker = w->idx;
    m->from_sess = s->id;
    snprintf(m->user, sizeof(m->user), "%s", s->user);
    sess_wait_kill(s);
    worker_post(w->sh, to, m);
}

void worker_on_message(struct rm_worker *w, struct rm_msg *m)
{
    switch (m->type) {
    case MSG_KILL:
        m->err = kill_local(w, m->target, m->query_only, m->user, m->admin);
        m->type = MSG_KILL_DONE;
        worker_post(w->sh, m->from_worker, m); /* the answer travels back in the same message */
        return;
    case MSG_KILL_DONE: {
        struct rm_session *s = sess_find(w, m->from_sess);
        if (s && s->state == SESS_KILLING)
            sess_answer_kill(s, m->target, m->err);
        break;
    }
    case MSG_REPORT:
    case MSG_REPORT_DONE: console_on_message(w, m); return; /* takes m */
    }
    free(m);
}
