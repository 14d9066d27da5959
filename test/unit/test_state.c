/* Unit tests for src/state.c: overrides of a pool baseline, equality, the
 * SET delta replayed onto a borrowed backend connection (exact text), and
 * copy / clear / free (the sanitizer build's leak checker sees any leak). */
#include "ringmux/state.h"

#include "ringmux/vars.h"
#include "unit.h"

static int V(const char *name)
{
    int i = var_index(name, strlen(name));
    if (i < 0) {
        printf("FAIL: variable %s is not tracked\n", name);
        exit(2);
    }
    return i;
}

/* A MariaDB-like baseline; variables it lacks stay NULL. */
static void baseline_init(struct state_baseline *b)
{
    static const char *const init[][2] = {
        {"autocommit", "1"},
        {"sql_mode", "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO"},
        {"time_zone", "SYSTEM"},
        {"character_set_client", "utf8mb4"},
        {"character_set_connection", "utf8mb4"},
        {"character_set_results", "utf8mb4"},
        {"collation_connection", "utf8mb4_general_ci"},
        {"tx_isolation", "REPEATABLE-READ"},
        {"sql_select_limit", "18446744073709551615"},
        {"max_statement_time", "0.000000"},
        {"wait_timeout", "28800"},
    };
    b->vals = calloc((size_t)var_count, sizeof(char *));
    for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++)
        b->vals[V(init[i][0])] = strdup(init[i][1]);
    b->known = true;
}

static int set(struct rm_state *st, const struct state_baseline *b, const char *name, const char *val)
{
    return state_set(st, b, V(name), val, strlen(val));
}

static bool is(const char *got, const char *want)
{
    return got && want ? strcmp(got, want) == 0 : got == want;
}

/* state_delta_sql into a fresh buffer; the text (NUL-terminated) goes to out. */
static int delta(const struct rm_state *sess, const struct rm_state *conn,
                 const struct state_baseline *b, char *out, size_t cap)
{
    struct rm_buf buf = {0};
    int n = state_delta_sql(sess, conn, b, &buf);
    size_t len = buf_avail(&buf) < cap - 1 ? buf_avail(&buf) : cap - 1;
    if (len)
        memcpy(out, buf_head(&buf), len);
    out[len] = 0;
    buf_free(&buf);
    return n;
}

#define CHECK_DELTA(sess, conn, b, want_n, want_sql)                                               \
    do {                                                                                           \
        char sql_[1024];                                                                           \
        int n_ = delta(sess, conn, b, sql_, sizeof(sql_));                                         \
        CHECK(n_ == (want_n) && strcmp(sql_, want_sql) == 0, "delta: %d \"%s\", want %d \"%s\"",   \
              n_, sql_, want_n, want_sql);                                                         \
    } while (0)

static void test_set_get(void)
{
    struct state_baseline b = {0};
    baseline_init(&b);
    struct rm_state st = {0};

    CHECK(is(state_get(&st, &b, V("autocommit")), "1"), "baseline value");
    CHECK(state_get(&st, &b, V("transaction_isolation")) == NULL, "variable the server lacks");
    CHECK(state_get(&st, NULL, V("autocommit")) == NULL, "no baseline");

    CHECK(set(&st, &b, "autocommit", "0") == 0 && st.n_vars == 1, "override");
    CHECK(is(state_get(&st, &b, V("autocommit")), "0"), "override read back");
    CHECK(set(&st, &b, "autocommit", "0") == 0 && st.n_vars == 1, "same value again");
    CHECK(set(&st, &b, "autocommit", "1") == 0 && st.n_vars == 0, "back to baseline drops it");
    CHECK(is(state_get(&st, &b, V("autocommit")), "1"), "baseline again");
    CHECK(set(&st, &b, "autocommit", "1") == 0 && st.n_vars == 0, "baseline value: no override");

    /* len bounds the value */
    CHECK(state_set(&st, &b, V("time_zone"), "+00:00garbage", 6) == 0 &&
              is(state_get(&st, &b, V("time_zone")), "+00:00"),
          "len-bounded value");
    /* a variable without a baseline value is always an override */
    CHECK(set(&st, &b, "transaction_isolation", "READ-COMMITTED") == 0 &&
              is(state_get(&st, &b, V("transaction_isolation")), "READ-COMMITTED"),
          "override of a variable the baseline lacks");
    CHECK(set(&st, &b, "sql_mode", "ANSI") == 0 && st.n_vars == 3, "three overrides");
    /* dropping the first override keeps the others (swap-remove) */
    CHECK(set(&st, &b, "time_zone", "SYSTEM") == 0 && st.n_vars == 2, "drop the first");
    CHECK(is(state_get(&st, &b, V("transaction_isolation")), "READ-COMMITTED") &&
              is(state_get(&st, &b, V("sql_mode")), "ANSI") &&
              is(state_get(&st, &b, V("time_zone")), "SYSTEM"),
          "others intact after the drop");
    /* an empty value */
    CHECK(set(&st, &b, "character_set_results", "") == 0 &&
              is(state_get(&st, &b, V("character_set_results")), ""),
          "empty value");

    /* every variable at once: storage grows to the table size */
    for (int i = 0; i < var_count; i++)
        CHECK(state_set(&st, &b, i, "zz", 2) == 0, "set %s", var_defs[i].name);
    CHECK(st.n_vars == var_count && st.cap_vars >= var_count, "all %d variables held (%u)",
          var_count, st.n_vars);
    bool all = true;
    for (int i = 0; i < var_count; i++)
        all = all && is(state_get(&st, &b, i), "zz");
    CHECK(all, "all overrides read back");

    state_clear(&st);
    CHECK(st.n_vars == 0 && st.schema == NULL, "clear");
    CHECK(is(state_get(&st, &b, V("sql_mode")), b.vals[V("sql_mode")]), "baseline after clear");
    CHECK(set(&st, &b, "autocommit", "0") == 0 && st.n_vars == 1, "usable after clear");
    state_free(&st);
    CHECK(st.vars == NULL && st.n_vars == 0 && st.cap_vars == 0, "free");
    state_free(&st); /* twice is harmless */
    state_baseline_free(&b);
    CHECK(b.vals == NULL && !b.known, "baseline freed");
}

static void test_schema_and_equal(void)
{
    struct state_baseline b = {0};
    baseline_init(&b);
    struct rm_state s = {0}, c = {0};

    CHECK(state_schema_equal(&s, &c), "no schema on either side");
    CHECK(state_set_schema(&s, "shopXX", 4) == 0 && is(s.schema, "shop"), "schema, len-bounded");
    CHECK(!state_schema_equal(&s, &c) && !state_schema_equal(&c, &s), "schema vs none");
    state_set_schema(&c, "shop", 4);
    CHECK(state_schema_equal(&s, &c), "same schema");
    state_set_schema(&c, "Shop", 4);
    CHECK(!state_schema_equal(&s, &c), "schema names are case-sensitive");
    CHECK(state_set_schema(&c, NULL, 0) == 0 && c.schema == NULL, "unset schema");
    CHECK(state_set_schema(&c, "x", 0) == 0 && c.schema == NULL, "empty schema is none");

    CHECK(state_vars_equal(&s, &c, &b), "both at baseline");
    set(&s, &b, "autocommit", "0");
    CHECK(!state_vars_equal(&s, &c, &b) && !state_vars_equal(&c, &s, &b), "one override");
    set(&c, &b, "autocommit", "0");
    CHECK(state_vars_equal(&s, &c, &b), "same override");
    set(&c, &b, "sql_mode", "ANSI");
    CHECK(!state_vars_equal(&s, &c, &b), "conn has an extra override");
    set(&c, &b, "sql_mode", b.vals[V("sql_mode")]);
    CHECK(state_vars_equal(&s, &c, &b), "extra override dropped");
    /* an override equal to the baseline (a copy keeps it) equals no override */
    struct rm_state k = {0};
    state_set(&k, NULL, V("time_zone"), "SYSTEM", 6);
    CHECK(k.n_vars == 1, "override kept without a baseline");
    struct rm_state none = {0};
    CHECK(state_vars_equal(&k, &none, &b) && state_vars_equal(&none, &k, &b),
          "override equal to the baseline");
    /* a variable the baseline lacks: set on one side only */
    set(&k, &b, "transaction_isolation", "SERIALIZABLE");
    CHECK(!state_vars_equal(&k, &none, &b), "variable without baseline");

    state_free(&s);
    state_free(&c);
    state_free(&k);
    state_baseline_free(&b);
}

static void test_delta(void)
{
    struct state_baseline b = {0};
    baseline_init(&b);
    struct rm_state s = {0}, c = {0};

    CHECK_DELTA(&s, &c, &b, 0, "");

    set(&s, &b, "autocommit", "0");
    CHECK_DELTA(&s, &c, &b, 1, "SET autocommit='0'");
    CHECK_DELTA(&c, &s, &b, 1, "SET autocommit='1'");
    state_clear(&s);

    /* table order, whatever the order of the SETs */
    set(&s, &b, "time_zone", "+02:00");
    set(&s, &b, "wait_timeout", "60");
    set(&s, &b, "sql_mode", "ANSI_QUOTES");
    set(&s, &b, "autocommit", "0");
    CHECK_DELTA(&s, &c, &b, 4,
                "SET autocommit='0', sql_mode='ANSI_QUOTES', time_zone='+02:00', wait_timeout=60");
    /* only what differs */
    set(&c, &b, "sql_mode", "ANSI_QUOTES");
    set(&c, &b, "time_zone", "+02:00");
    CHECK_DELTA(&s, &c, &b, 2, "SET autocommit='0', wait_timeout=60");
    /* conn overrides the session doesn't have go back to the baseline */
    set(&c, &b, "sql_select_limit", "10");
    CHECK_DELTA(&s, &c, &b, 3, "SET autocommit='0', sql_select_limit=18446744073709551615, wait_timeout=60");
    state_clear(&s);
    state_clear(&c);

    /* ints unquoted; a non-number in an int variable is quoted */
    set(&s, &b, "sql_select_limit", "100");
    set(&s, &b, "max_statement_time", "1.500000");
    set(&s, &b, "group_concat_max_len", "-1");
    CHECK_DELTA(&s, &c, &b, 3,
                "SET sql_select_limit=100, max_statement_time=1.500000, group_concat_max_len='-1'");
    state_clear(&s);
    set(&s, &b, "max_statement_time", "1.5.0");
    set(&s, &b, "wait_timeout", "1.5");
    CHECK_DELTA(&s, &c, &b, 2, "SET max_statement_time='1.5.0', wait_timeout='1.5'");
    state_clear(&s);

    /* strings quoted with ' and \ escaped */
    set(&s, &b, "sql_mode", "it's a \\ test");
    set(&s, &b, "lc_time_names", "");
    CHECK_DELTA(&s, &c, &b, 2, "SET sql_mode='it\\'s a \\\\ test', lc_time_names=''");
    state_clear(&s);

    /* character_set_results: empty means NULL */
    set(&s, &b, "character_set_results", "");
    CHECK_DELTA(&s, &c, &b, 1, "SET character_set_results=NULL");
    state_clear(&s);

    /* SET NAMES latin1: all four, charset before collation */
    set(&s, &b, "collation_connection", "latin1_swedish_ci");
    set(&s, &b, "character_set_results", "latin1");
    set(&s, &b, "character_set_connection", "latin1");
    set(&s, &b, "character_set_client", "latin1");
    CHECK_DELTA(&s, &c, &b, 4,
                "SET character_set_client='latin1', character_set_connection='latin1', "
                "character_set_results='latin1', collation_connection='latin1_swedish_ci'");
    /* the charset differs but the collation already matches: it is
     * restated, since setting the charset resets the collation */
    set(&c, &b, "collation_connection", "latin1_swedish_ci");
    set(&c, &b, "character_set_client", "latin1");
    set(&c, &b, "character_set_results", "latin1");
    CHECK_DELTA(&s, &c, &b, 2,
                "SET character_set_connection='latin1', collation_connection='latin1_swedish_ci'");
    /* back to the baseline: everything SET NAMES changed is restored */
    struct rm_state base = {0};
    CHECK_DELTA(&base, &s, &b, 4,
                "SET character_set_client='utf8mb4', character_set_connection='utf8mb4', "
                "character_set_results='utf8mb4', collation_connection='utf8mb4_general_ci'");
    state_clear(&s);
    state_clear(&c);
    /* only the collation differs: no charset */
    set(&s, &b, "collation_connection", "utf8mb4_unicode_ci");
    CHECK_DELTA(&s, &c, &b, 1, "SET collation_connection='utf8mb4_unicode_ci'");
    state_clear(&s);

    /* a conn override of a variable with no baseline cannot be undone */
    set(&c, &b, "transaction_isolation", "SERIALIZABLE");
    CHECK_DELTA(&s, &c, &b, 0, "");
    state_clear(&c);

    /* the delta is appended to what the buffer holds */
    set(&s, &b, "autocommit", "0");
    struct rm_buf out = {0};
    buf_append(&out, "/*x*/", 5);
    CHECK(state_delta_sql(&s, &c, &b, &out) == 1, "append");
    CHECK_MEM(buf_head(&out), buf_avail(&out), "/*x*/SET autocommit='0'", 23, "appended text");
    buf_free(&out);

    /* without a baseline, only overrides count */
    CHECK_DELTA(&s, &c, NULL, 1, "SET autocommit='0'");
    CHECK_DELTA(&c, &s, NULL, 0, "");

    state_free(&s);
    state_free(&c);
    state_baseline_free(&b);
}

static void test_quote(void)
{
    struct rm_buf out = {0};
    CHECK(state_quote(&out, "a'b\\c\"d", 7) == 0, "quote");
    CHECK_MEM(buf_head(&out), buf_avail(&out), "'a\\'b\\\\c\"d'", 11, "quoted text");
    buf_free(&out);
    CHECK(state_quote(&out, "", 0) == 0, "quote empty");
    CHECK_MEM(buf_head(&out), buf_avail(&out), "''", 2, "quoted empty");
    buf_free(&out);
    CHECK(state_quote(&out, "x'y", 1) == 0, "quote bounded");
    CHECK_MEM(buf_head(&out), buf_avail(&out), "'x'", 3, "quote honours len");
    buf_free(&out);
}

static void test_copy(void)
{
    struct state_baseline b = {0};
    baseline_init(&b);
    struct rm_state src = {0}, dst = {0};
    state_set_schema(&src, "app", 3);
    set(&src, &b, "autocommit", "0");
    set(&src, &b, "time_zone", "UTC");
    set(&src, &b, "transaction_isolation", "READ-COMMITTED");
    src.multi_stmt = true;
    /* dst starts with other state, all of which is replaced */
    state_set_schema(&dst, "other", 5);
    set(&dst, &b, "sql_mode", "ANSI");
    set(&dst, &b, "wait_timeout", "5");

    CHECK(state_copy(&dst, &src) == 0, "copy");
    CHECK(is(dst.schema, "app") && dst.schema != src.schema, "schema copied (deep)");
    CHECK(dst.n_vars == 3 && dst.multi_stmt, "vars and multi_stmt copied");
    CHECK(state_vars_equal(&src, &dst, &b) && state_schema_equal(&src, &dst), "equal after copy");
    CHECK(is(state_get(&dst, &b, V("sql_mode")), b.vals[V("sql_mode")]), "old override gone");
    CHECK_DELTA(&src, &dst, &b, 0, "");
    /* deep: changing the source leaves the copy alone */
    set(&src, &b, "time_zone", "+01:00");
    CHECK(is(state_get(&dst, &b, V("time_zone")), "UTC"), "copy independent of source");
    CHECK(state_copy(&src, &src) == 0 && src.n_vars == 3 && is(src.schema, "app"), "self copy");
    /* copying an empty state empties */
    struct rm_state empty = {0};
    CHECK(state_copy(&dst, &empty) == 0 && dst.n_vars == 0 && dst.schema == NULL && !dst.multi_stmt,
          "copy of empty");
    state_free(&src);
    state_free(&dst);
    state_free(&empty);
    state_baseline_free(&b);
}

int main(void)
{
    test_set_get();
    test_schema_and_equal();
    test_delta();
    test_quote();
    test_copy();
    return unit_summary();
}
