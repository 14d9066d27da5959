/* Tracked session state and its replay (include/ringmux/state.h). */
#include "ringmux/state.h"

#include <stdlib.h>
#include <string.h>

#include "ringmux/vars.h"

static struct state_var *find_var(const struct rm_state *st, int idx)
{
    for (int i = 0; i < st->n_vars; i++)
        if (st->vars[i].idx == idx)
            return &st->vars[i];
    return NULL;
}

const char *state_get(const struct rm_state *st, const struct state_baseline *b, int idx)
{
    const struct state_var *v = find_var(st, idx);
    if (v)
        return v->val;
    return b && b->vals ? b->vals[idx] : NULL;
}

static bool same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

int state_set(struct rm_state *st, const struct state_baseline *b, int idx, const char *val, size_t len)
{
    char *copy = strndup(val, len);
    if (!copy)
        return -1;
    struct state_var *v = find_var(st, idx);
    const char *base = b && b->vals ? b->vals[idx] : NULL;
    if (base && strcmp(base, copy) == 0) { /* back to baseline: drop the override */
        free(copy);
        if (v) {
            free(v->val);
            *v = st->vars[--st->n_vars];
        }
        return 0;
    }
    if (v) {
        free(v->val);
        v->val = copy;
        return 0;
    }
    if (st->n_vars == st->cap_vars) {
        uint8_t cap = st->cap_vars ? (uint8_t)(st->cap_vars * 2) : 4;
        if (cap > var_count)
            cap = (uint8_t)var_count;
        struct state_var *nv = realloc(st->vars, cap * sizeof(*nv));
        if (!nv) {
            free(copy);
            return -1;
        }
        st->vars = nv;
        st->cap_vars = cap;
    }
    st->vars[st->n_vars].idx = (uint8_t)idx;
    st->vars[st->n_vars].val = copy;
    st->n_vars++;
    return 0;
}

int state_set_schema(struct rm_state *st, const char *db, size_t len)
{
    char *copy = NULL;
    if (db && len) {
        copy = strndup(db, len);
        if (!copy)
            return -1;
    }
    free(st->schema);
    st->schema = copy;
    return 0;
}

int state_copy(struct rm_state *dst, const struct rm_state *src)
{
    if (dst == src)
        return 0;
    state_clear(dst);
    dst->multi_stmt = src->multi_stmt;
    if (src->schema && state_set_schema(dst, src->schema, strlen(src->schema)) < 0)
        return -1;
    for (int i = 0; i < src->n_vars; i++)
        if (state_set(dst, NULL, src->vars[i].idx, src->vars[i].val, strlen(src->vars[i].val)) < 0)
            return -1;
    return 0;
}

void state_clear(struct rm_state *st)
{
    for (int i = 0; i < st->n_vars; i++)
        free(st->vars[i].val);
    st->n_vars = 0;
    free(st->schema);
    st->schema = NULL;
}

void state_free(struct rm_state *st)
{
    state_clear(st);
    free(st->vars);
    st->vars = NULL;
    st->cap_vars = 0;
}

bool state_schema_equal(const struct rm_state *sess, const struct rm_state *conn)
{
    return same_str(sess->schema, conn->schema);
}

bool state_vars_equal(const struct rm_state *sess, const struct rm_state *conn, const struct state_baseline *b)
{
    for (int i = 0; i < sess->n_vars; i++)
        if (!same_str(sess->vars[i].val, state_get(conn, b, sess->vars[i].idx)))
            return false;
    for (int i = 0; i < conn->n_vars; i++)
        if (!same_str(conn->vars[i].val, state_get(sess, b, conn->vars[i].idx)))
            return false;
    return true;
}

int state_quote(struct rm_buf *out, const char *s, size_t len)
{
    if (buf_append(out, "'", 1) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if ((c == '\'' || c == '\\') && buf_append(out, "\\", 1) < 0)
            return -1;
        if (buf_append(out, &c, 1) < 0)
            return -1;
    }
    return buf_append(out, "'", 1);
}

/* Is s a plain decimal number (optionally with a fraction)? */
static bool is_number(const char *s, bool allow_fraction)
{
    if (!*s)
        return false;
    bool dot = false;
    for (; *s; s++) {
        if (*s == '.' && allow_fraction && !dot)
            dot = true;
        else if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

/* Append "name=value" for variable idx. */
static int append_assignment(struct rm_buf *out, int idx, const char *val)
{
    const struct var_def *d = &var_defs[idx];
    if (buf_append(out, d->name, strlen(d->name)) < 0 || buf_append(out, "=", 1) < 0)
        return -1;
    if (!val || (d->kind == VAR_NULLABLE && !*val))
        return buf_append(out, "NULL", 4);
    if ((d->kind == VAR_INT && is_number(val, false)) || (d->kind == VAR_NUMERIC && is_number(val, true)))
        return buf_append(out, val, strlen(val));
    return state_quote(out, val, strlen(val));
}

int state_delta_sql(const struct rm_state *sess, const struct rm_state *conn, const struct state_baseline *b,
                    struct rm_buf *out)
{
    /* In table order: the server derives collation_connection from
     * character_set_connection, so the collation must come after it, and
     * must be restated whenever the character set is. */
    static int cs_conn = -2, coll_conn = -2;
    if (cs_conn == -2) {
        cs_conn = var_index("character_set_connection", 24);
        coll_conn = var_index("collation_connection", 20);
    }
    int n = 0;
    bool cs_set = false;
    for (int idx = 0; idx < var_count; idx++) {
        const char *want = state_get(sess, b, idx);
        if (same_str(want, state_get(conn, b, idx)) && !(idx == coll_conn && cs_set))
            continue;
        if (!want)
            continue; /* baseline unknown: nothing sensible to restore */
        if (buf_append(out, n == 0 ? "SET " : ", ", n == 0 ? 4 : 2) < 0)
            return -1;
        if (append_assignment(out, idx, want) < 0)
            return -1;
        if (idx == cs_conn)
            cs_set = true;
        n++;
    }
    return n;
}

void state_baseline_free(struct state_baseline *b)
{
    if (b->vals) {
        for (int i = 0; i < var_count; i++)
            free(b->vals[i]);
        free(b->vals);
    }
    b->vals = NULL;
    b->known = false;
}
