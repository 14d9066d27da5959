/* The backend server (include/ringmux/backend.h). */
#include "ringmux/backend.h"

#include <mysql.h>
#include <stdio.h>
#include <string.h>

#include "ringmux/log.h"
#include "ringmux/worker.h"

int be_probe(const struct rm_config *cfg, struct hs_server_info *si)
{
    snprintf(si->version, sizeof(si->version), "5.5.5-10.11.0-MariaDB-ringmux");
    si->caps = hs_proxy_caps(0xffffffffu);
    si->ext_caps = 0;
    si->collation = 45; /* utf8mb4_general_ci */
    MYSQL *m = mysql_init(NULL);
    if (!m)
        return -1;
    unsigned int timeout = (unsigned int)((cfg->backend_connect_timeout_ms + 999) / 1000);
    unsigned int proto = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
    const struct rm_user *u = &cfg->users[0];
    if (!mysql_real_connect(m, cfg->backend.host, u->name, u->password, NULL, cfg->backend.port, NULL, 0)) {
        log_warn("backend %s:%u not reachable at start-up (%s); clients are told server version '%s' until it is",
                 cfg->backend.host, cfg->backend.port, mysql_error(m), si->version);
        mysql_close(m);
        return -1;
    }
    unsigned long server_caps = 0, server_ext = 0;
    mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_CAPABILITIES, &server_caps);
    mariadb_get_infov(m, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &server_ext);
    const char *ver = NULL;
    mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_VERSION, &ver);
    unsigned int lang = m->server_language; /* the greeting's collation id */
    /* MariaDB 10.x+ advertises itself to old clients as "5.5.5-<version>";
     * keep that prefix so clients detect MariaDB as they would directly. */
    if (ver) {
        bool mariadb = strstr(ver, "MariaDB") != NULL;
        snprintf(si->version, sizeof(si->version), "%s%s-ringmux", mariadb && strncmp(ver, "5.5.5-", 6) ? "5.5.5-" : "",
                 ver);
    }
    si->caps = hs_proxy_caps((uint32_t)server_caps);
    si->ext_caps = hs_proxy_ext_caps((uint32_t)server_caps, (uint32_t)server_ext);
    if (lang > 0 && lang < 256)
        si->collation = (uint8_t)lang;
    log_info("backend %s:%u is %s (capabilities 0x%08lx, MariaDB extended 0x%lx, collation %u)", cfg->backend.host,
             cfg->backend.port, ver ? ver : "?", server_caps, server_ext, si->collation);
    mysql_close(m);
    return 0;
}

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

void backend_init(struct rm_backend *be, struct rm_worker *w, int idx)
{
    memset(be, 0, sizeof(*be));
    be->w = w;
    be->idx = idx;
    link_init(&be->pools);
}

const struct rm_addr *backend_addr(const struct rm_backend *be)
{
    return &be->w->cfg->backend;
}

void backend_note_failure(struct rm_backend *be, const char *why)
{
    struct rm_worker *w = be->w;
    snprintf(be->error, sizeof(be->error), "%s", why);
    be->connect_backoff_ms = be->connect_backoff_ms ? be->connect_backoff_ms * 2 : BACKOFF_MIN_MS;
    if (be->connect_backoff_ms > BACKOFF_MAX_MS)
        be->connect_backoff_ms = BACKOFF_MAX_MS;
    be->connect_after_ms = w->now_ms + be->connect_backoff_ms;
    log_warn("worker %d: %s (next attempt in %u ms)", w->idx, why, be->connect_backoff_ms);
}

void backend_note_success(struct rm_backend *be)
{
    if (be->connect_backoff_ms)
        log_info("worker %d: backend reachable again", be->w->idx);
    be->connect_backoff_ms = 0;
    be->connect_after_ms = 0;
    be->error[0] = 0;
}

bool backend_may_connect(const struct rm_backend *be)
{
    return be->w->now_ms >= be->connect_after_ms;
}

const char *backend_last_error(const struct rm_backend *be)
{
    return be->error;
}
