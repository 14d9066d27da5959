/* Tracked session state: the default schema and the values of the tracked
 * session variables (vars.h), kept per client session and per backend
 * connection as overrides of the pool's baseline, and the minimal replay
 * that makes a backend connection match a session. */
#ifndef RINGMUX_STATE_H
#define RINGMUX_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/buf.h"

/* One variable whose value differs from the baseline. */
struct state_var {
    uint8_t idx; /* index into var_defs */
    char *val;   /* value as the server reports it (heap) */
};

struct rm_state {
    char *schema;           /* default database, NULL for none */
    struct state_var *vars; /* overrides of the baseline, unordered */
    uint8_t n_vars, cap_vars;
    bool multi_stmt; /* COM_SET_OPTION state: multi-statements on */
};

/* Baseline values of a pool: what a freshly initialised backend connection
 * of that pool has.  vals[i] NULL means the server lacks the variable. */
struct state_baseline {
    char **vals; /* var_count entries */
    bool known;  /* captured from a real connection yet */
};

/* Value of variable idx under st (override or baseline); may be NULL. */
const char *state_get(const struct rm_state *st, const struct state_baseline *b, int idx);
/* Record that variable idx now has value val (len bytes).  0, or -1 on OOM. */
int state_set(struct rm_state *st, const struct state_baseline *b, int idx, const char *val, size_t len);
/* Set the default schema (NULL/0 for none).  0, or -1 on OOM. */
int state_set_schema(struct rm_state *st, const char *db, size_t len);
/* Make dst a copy of src. 0, or -1 on OOM. */
int state_copy(struct rm_state *dst, const struct rm_state *src);
/* Forget everything (back to baseline, no schema). */
void state_clear(struct rm_state *st);
void state_free(struct rm_state *st);

/* True when the connection state `conn` already satisfies the session state
 * `sess` for variables and schema. */
bool state_vars_equal(const struct rm_state *sess, const struct rm_state *conn, const struct state_baseline *b);
bool state_schema_equal(const struct rm_state *sess, const struct rm_state *conn);

/* Append to out the SQL text "SET a=..., b=..." that moves conn's variables
 * to sess's values.  Returns the number of assignments (0: nothing to do),
 * or -1 on OOM. */
int state_delta_sql(const struct rm_state *sess, const struct rm_state *conn, const struct state_baseline *b,
                    struct rm_buf *out);

/* Append s as a quoted SQL string literal ('...' with ' and \ escaped). */
int state_quote(struct rm_buf *out, const char *s, size_t len);

void state_baseline_free(struct state_baseline *b);

#endif
