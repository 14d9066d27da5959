/* Tracked session variables: the system variables whose session value the
 * proxy remembers per client session and replays (as a minimal SET delta)
 * onto whichever backend connection the session borrows.  A SET of any
 * session variable outside this table pins the session. */
#ifndef RINGMUX_VARS_H
#define RINGMUX_VARS_H

#include <stdbool.h>
#include <stddef.h>

/* How a value is written back in a replayed SET. */
enum var_kind {
    VAR_STRING,   /* quoted: SET x='value' (enums and booleans accept this too) */
    VAR_INT,      /* unquoted decimal integer */
    VAR_NUMERIC,  /* unquoted decimal number, fraction allowed */
    VAR_NULLABLE, /* quoted string, empty value replayed as NULL */
};

struct var_def {
    const char *name;   /* lower-case server name */
    enum var_kind kind; /* how to write the value in SET */
};

/* Index of the tracked variable (case-insensitive name, without any
 * @@session. prefix), or -1 when the variable is not tracked. */
int var_index(const char *name, size_t len);

/* True for session variables that follow other state and so are neither
 * tracked nor pinning (character_set_database / collation_database change
 * with the default schema). */
bool var_is_derived(const char *name, size_t len);

/* The table, and its length. */
extern const struct var_def var_defs[];
extern const int var_count;

#endif
