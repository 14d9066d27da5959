/* The table of tracked session variables (see include/ringmux/vars.h). */
#include "ringmux/vars.h"

#include <string.h>
#include <strings.h>

/* Keep in sync with docs/architecture.md ("Tracked session state").  The
 * list covers what common drivers (Connector/J, mysqlclient, PHP PDO, Go
 * mysql, node mysql2, SQLAlchemy, Hibernate) set at connect time. */
const struct var_def var_defs[] = {
    {"autocommit", VAR_STRING},
    {"sql_mode", VAR_STRING},
    {"time_zone", VAR_STRING},
    {"character_set_client", VAR_STRING},
    {"character_set_connection", VAR_STRING},
    {"character_set_results", VAR_NULLABLE},
    {"collation_connection", VAR_STRING},
    {"tx_isolation", VAR_STRING},
    {"transaction_isolation", VAR_STRING},
    {"tx_read_only", VAR_STRING},
    {"transaction_read_only", VAR_STRING},
    {"sql_auto_is_null", VAR_STRING},
    {"sql_select_limit", VAR_INT},
    {"sql_safe_updates", VAR_STRING},
    {"sql_big_selects", VAR_STRING},
    {"sql_notes", VAR_STRING},
    {"sql_warnings", VAR_STRING},
    {"sql_quote_show_create", VAR_STRING},
    {"foreign_key_checks", VAR_STRING},
    {"unique_checks", VAR_STRING},
    {"max_statement_time", VAR_NUMERIC},
    {"max_execution_time", VAR_INT},
    {"group_concat_max_len", VAR_INT},
    {"net_read_timeout", VAR_INT},
    {"net_write_timeout", VAR_INT},
    {"wait_timeout", VAR_INT},
    {"interactive_timeout", VAR_INT},
    {"lock_wait_timeout", VAR_INT},
    {"innodb_lock_wait_timeout", VAR_INT},
    {"div_precision_increment", VAR_INT},
    {"lc_time_names", VAR_STRING},
    {"default_storage_engine", VAR_STRING},
    {"big_tables", VAR_STRING},
    {"completion_type", VAR_STRING},
};
const int var_count = (int)(sizeof(var_defs) / sizeof(var_defs[0]));

int var_index(const char *name, size_t len)
{
    for (int i = 0; i < var_count; i++) {
        const char *d = var_defs[i].name;
        if (strlen(d) == len && strncasecmp(d, name, len) == 0)
            return i;
    }
    return -1;
}

bool var_is_derived(const char *name, size_t len)
{
    /* Derived from other state, or a report rather than a setting: MariaDB
     * with a binary log reports last_gtid after every write (tracking '*'),
     * which must not pin the session. */
    static const char *const derived[] = {"character_set_database", "collation_database", "last_gtid"};
    for (size_t i = 0; i < sizeof(derived) / sizeof(derived[0]); i++)
        if (strlen(derived[i]) == len && strncasecmp(derived[i], name, len) == 0)
            return true;
    return false;
}
