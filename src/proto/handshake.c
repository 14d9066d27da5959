/* Connection-phase packets (include/ringmux/handshake.h). */
#include "ringmux/handshake.h"

#include <stdio.h>
#include <string.h>

#include "ringmux/packet.h"

int hs_write_greeting(struct rm_buf *out, const struct hs_server_info *si, uint32_t conn_id,
                      const uint8_t scramble[AUTH_SCRAMBLE_LEN])
{
    struct pkt_writer w;
    pkt_begin(&w, out, 0);
    pkt_add_u8(&w, 10);
    pkt_add(&w, si->version, strlen(si->version) + 1);
    pkt_add_u32(&w, conn_id);
    pkt_add(&w, scramble, 8);
    pkt_add_u8(&w, 0);
    pkt_add_u16(&w, (uint16_t)(si->caps & 0xffff));
    pkt_add_u8(&w, si->collation);
    pkt_add_u16(&w, SERVER_STATUS_AUTOCOMMIT);
    pkt_add_u16(&w, (uint16_t)(si->caps >> 16));
    pkt_add_u8(&w, AUTH_SCRAMBLE_LEN + 1); /* auth-plugin-data length incl. trailing NUL */
    pkt_add_zeros(&w, 6);
    pkt_add_u32(&w, si->caps & CLIENT_LONG_PASSWORD ? 0 : si->ext_caps); /* MariaDB: extended capabilities */
    pkt_add(&w, scramble + 8, AUTH_SCRAMBLE_LEN - 8);
    pkt_add_u8(&w, 0);
    pkt_add(&w, AUTH_PLUGIN_NATIVE, sizeof(AUTH_PLUGIN_NATIVE));
    return pkt_end(&w) < 0 ? -1 : 0;
}

bool hs_is_ssl_request(const uint8_t *p, size_t len)
{
    if (len != 32)
        return false;
    uint32_t caps = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (caps & CLIENT_SSL) && (caps & CLIENT_PROTOCOL_41);
}

int hs_parse_response(const uint8_t *p, size_t len, struct hs_response *r, const char **why)
{
    struct pkt_reader rd;
    pkt_reader_init(&rd, p, len);
    memset(r, 0, sizeof(*r));
    r->caps = (uint32_t)pkt_read_int(&rd, 4);
    if (rd.err) {
        *why = "handshake response shorter than 4 bytes";
        return -1;
    }
    if (!(r->caps & CLIENT_PROTOCOL_41)) {
        *why = "client does not support protocol 4.1 (CLIENT_PROTOCOL_41)";
        return -1;
    }
    r->max_packet = (uint32_t)pkt_read_int(&rd, 4);
    r->collation = (uint8_t)pkt_read_int(&rd, 1);
    pkt_read_bytes(&rd, 19);
    uint32_t ext = (uint32_t)pkt_read_int(&rd, 4);
    /* A MariaDB client answering a MariaDB server (neither sets
     * CLIENT_LONG_PASSWORD) puts its extended capabilities there. */
    r->ext_caps = r->caps & CLIENT_LONG_PASSWORD ? 0 : ext;
    if (rd.err) {
        *why = "handshake response truncated before the user name";
        return -1;
    }
    if (len == 32 && (r->caps & CLIENT_SSL)) {
        *why = "an SSL request where the handshake response was expected";
        return -1;
    }
    size_t n;
    r->user = (const char *)pkt_read_cstr(&rd, &n);
    r->user_len = n;
    if (rd.err) {
        *why = "user name is not NUL-terminated";
        return -1;
    }
    if (r->caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
        r->auth = pkt_read_lenenc_str(&rd, &r->auth_len);
    } else if (r->caps & CLIENT_SECURE_CONNECTION) {
        r->auth_len = (size_t)pkt_read_int(&rd, 1);
        r->auth = pkt_read_bytes(&rd, r->auth_len);
    } else {
        r->auth = pkt_read_cstr(&rd, &r->auth_len);
    }
    if (rd.err) {
        *why = "auth response is truncated";
        return -1;
    }
    if ((r->caps & CLIENT_CONNECT_WITH_DB) && pkt_left(&rd) > 0) {
        r->db = (const char *)pkt_read_cstr(&rd, &n);
        r->db_len = n;
        if (rd.err) {
            *why = "database name is not NUL-terminated";
            return -1;
        }
        if (n == 0)
            r->db = NULL;
    }
    if ((r->caps & CLIENT_PLUGIN_AUTH) && pkt_left(&rd) > 0) {
        r->plugin = (const char *)pkt_read_cstr(&rd, &n);
        r->plugin_len = n;
        if (rd.err) { /* some clients omit the NUL at the very end */
            rd.err = false;
            r->plugin_len = pkt_left(&rd);
            r->plugin = (const char *)rd.p;
            rd.p = rd.end;
        }
    }
    if ((r->caps & CLIENT_CONNECT_ATTRS) && pkt_left(&rd) > 0) {
        uint64_t alen = pkt_read_lenenc(&rd, NULL);
        if (rd.err || alen > pkt_left(&rd)) {
            *why = "connection attributes length exceeds the packet";
            return -1;
        }
    }
    return 0;
}

int hs_parse_greeting(const uint8_t *p, size_t len, struct hs_greeting *g, const char **why)
{
    struct pkt_reader rd;
    pkt_reader_init(&rd, p, len);
    memset(g, 0, sizeof(*g));
    g->protocol = (uint8_t)pkt_read_int(&rd, 1);
    if (g->protocol == 0xff) {
        *why = "server refused the connection";
        return -1;
    }
    if (g->protocol != 10) {
        *why = "server greeting is not protocol version 10";
        return -1;
    }
    size_t n;
    const uint8_t *v = pkt_read_cstr(&rd, &n);
    if (v)
        snprintf(g->version, sizeof(g->version), "%.*s", (int)n, (const char *)v);
    g->conn_id = (uint32_t)pkt_read_int(&rd, 4);
    const uint8_t *s1 = pkt_read_bytes(&rd, 8);
    pkt_read_int(&rd, 1);
    g->caps = (uint32_t)pkt_read_int(&rd, 2);
    if (rd.err || !s1) {
        *why = "server greeting truncated";
        return -1;
    }
    memcpy(g->scramble, s1, 8);
    if (pkt_left(&rd) == 0)
        return 0;
    g->collation = (uint8_t)pkt_read_int(&rd, 1);
    g->status = (uint16_t)pkt_read_int(&rd, 2);
    g->caps |= (uint32_t)pkt_read_int(&rd, 2) << 16;
    uint8_t alen = (uint8_t)pkt_read_int(&rd, 1);
    pkt_read_bytes(&rd, 6);
    uint32_t ext = (uint32_t)pkt_read_int(&rd, 4);
    g->ext_caps = g->caps & CLIENT_LONG_PASSWORD ? 0 : ext;
    if (rd.err) {
        *why = "server greeting truncated";
        return -1;
    }
    if (g->caps & CLIENT_SECURE_CONNECTION) {
        /* 12 more scramble bytes and a NUL.  The length byte (alen) is
         * ignored, as libmysqlclient and Connector/C do: servers send 21. */
        (void)alen;
        size_t n2 = 13;
        const uint8_t *s2 = pkt_read_bytes(&rd, n2);
        if (rd.err || !s2) {
            *why = "server greeting scramble truncated";
            return -1;
        }
        memcpy(g->scramble + 8, s2, 12);
    }
    if ((g->caps & CLIENT_PLUGIN_AUTH) && pkt_left(&rd) > 0) {
        const uint8_t *pl = pkt_read_cstr(&rd, &n);
        if (!pl) { /* tolerate a missing NUL */
            rd.err = false;
            pl = rd.p;
            n = pkt_left(&rd);
        }
        snprintf(g->plugin, sizeof(g->plugin), "%.*s", (int)n, (const char *)pl);
    }
    return 0;
}

/* Proof bytes for a plugin, or -1 for a plugin the proxy can't speak. */
static int login_proof(const char *plugin, const char *pw, const uint8_t *scramble, uint8_t out[AUTH_SHA2_LEN],
                       size_t *out_len)
{
    size_t pl = strlen(pw);
    if (plugin[0] == 0 || strcmp(plugin, AUTH_PLUGIN_NATIVE) == 0)
        auth_native_proof(pw, pl, scramble, out, out_len);
    else if (strcmp(plugin, AUTH_PLUGIN_SHA2) == 0)
        auth_sha2_proof(pw, pl, scramble, out, out_len);
    else
        return -1;
    return 0;
}

/* The first 32 bytes of a HandshakeResponse41. */
static void response_head(struct pkt_writer *w, uint32_t caps, uint32_t ext_caps, uint8_t collation)
{
    pkt_add_u32(w, caps);
    pkt_add_u32(w, PKT_MAX_PAYLOAD);
    pkt_add_u8(w, collation);
    pkt_add_zeros(w, 19);
    pkt_add_u32(w, caps & CLIENT_LONG_PASSWORD ? 0 : ext_caps);
}

int hs_write_ssl_request(struct rm_buf *out, uint32_t caps, uint32_t ext_caps, uint8_t collation)
{
    struct pkt_writer w;
    pkt_begin(&w, out, 1);
    response_head(&w, caps | CLIENT_SSL, ext_caps, collation);
    return pkt_end(&w) < 0 ? -1 : 0;
}

int hs_write_login(struct rm_buf *out, uint8_t seq, uint32_t caps, uint32_t ext_caps, uint8_t collation,
                   const char *user, const char *pw, const char *db, const struct hs_greeting *g)
{
    uint8_t proof[AUTH_SHA2_LEN];
    size_t plen;
    const char *plugin = g->plugin[0] ? g->plugin : AUTH_PLUGIN_NATIVE;
    if (login_proof(plugin, pw, g->scramble, proof, &plen) < 0) {
        plugin = AUTH_PLUGIN_NATIVE; /* the server will switch us if it must */
        auth_native_proof(pw, strlen(pw), g->scramble, proof, &plen);
    }
    if (db && *db)
        caps |= CLIENT_CONNECT_WITH_DB;
    else
        caps &= ~CLIENT_CONNECT_WITH_DB;
    struct pkt_writer w;
    pkt_begin(&w, out, seq);
    response_head(&w, caps, ext_caps, collation);
    pkt_add(&w, user, strlen(user) + 1);
    if (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
        pkt_add_lenenc_str(&w, proof, plen);
    else {
        pkt_add_u8(&w, (uint8_t)plen);
        pkt_add(&w, proof, plen);
    }
    if (caps & CLIENT_CONNECT_WITH_DB)
        pkt_add(&w, db, strlen(db) + 1);
    if (caps & CLIENT_PLUGIN_AUTH)
        pkt_add(&w, plugin, strlen(plugin) + 1);
    return pkt_end(&w) < 0 ? -1 : 0;
}

int hs_write_auth_switch(struct rm_buf *out, uint8_t seq, const char *plugin, const uint8_t scramble[AUTH_SCRAMBLE_LEN])
{
    struct pkt_writer w;
    pkt_begin(&w, out, seq);
    pkt_add_u8(&w, 0xfe);
    pkt_add(&w, plugin, strlen(plugin) + 1);
    pkt_add(&w, scramble, AUTH_SCRAMBLE_LEN);
    pkt_add_u8(&w, 0);
    return pkt_end(&w) < 0 ? -1 : 0;
}

/* Capabilities the proxy can serve to clients: no TLS and no compression
 * yet.  CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") is offered only when the
 * backend offers it: a MariaDB backend clears it, and so does the proxy,
 * so that MariaDB clients send their extended capabilities. */
#define PROXY_CAPS                                                                                                     \
    (CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_NO_SCHEMA |         \
     CLIENT_ODBC | CLIENT_LOCAL_FILES | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE |                \
     CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_RESERVED | CLIENT_SECURE_CONNECTION |                        \
     CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH |                   \
     CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF)

uint32_t hs_proxy_caps(uint32_t server_caps)
{
    return PROXY_CAPS & server_caps;
}

uint32_t hs_proxy_ext_caps(uint32_t server_caps, uint32_t server_ext_caps)
{
    if (server_caps & CLIENT_LONG_PASSWORD)
        return 0;
    return server_ext_caps & (MARIADB_CLIENT_STMT_BULK_OPERATIONS | MARIADB_CLIENT_EXTENDED_METADATA);
}
