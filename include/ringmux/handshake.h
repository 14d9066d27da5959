/* Connection-phase packets: the server greeting (HandshakeV10), the client's
 * HandshakeResponse41 and the auth-switch request, in both directions: the
 * proxy is the server for clients and the client for backends. */
#ifndef RINGMUX_HANDSHAKE_H
#define RINGMUX_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/auth.h"
#include "ringmux/buf.h"

/* What the proxy tells clients about "the server" (learned from the backend). */
struct hs_server_info {
    char version[96];  /* server version string sent to clients */
    uint32_t caps;     /* capabilities offered to clients */
    uint32_t ext_caps; /* MariaDB extended capabilities offered (only without CLIENT_LONG_PASSWORD) */
    uint8_t collation; /* default collation id */
};

/* Write the greeting for a client: protocol 10, conn_id, scramble,
 * mysql_native_password as the default plugin. */
int hs_write_greeting(struct rm_buf *out, const struct hs_server_info *si, uint32_t conn_id,
                      const uint8_t scramble[AUTH_SCRAMBLE_LEN]);

/* A client's SSL request: the 32-byte start of a handshake response with
 * CLIENT_SSL set, after which TLS begins. */
bool hs_is_ssl_request(const uint8_t *p, size_t len);

/* A parsed HandshakeResponse41.  Pointers point into the packet. */
struct hs_response {
    uint32_t caps;     /* client capabilities */
    uint32_t ext_caps; /* MariaDB extended capabilities (0 when the client sent none) */
    uint32_t max_packet;
    uint8_t collation;
    const char *user; /* not NUL-terminated; user_len bytes */
    size_t user_len;
    const uint8_t *auth; /* auth response */
    size_t auth_len;
    const char *db; /* NULL when absent */
    size_t db_len;
    const char *plugin; /* NULL when absent */
    size_t plugin_len;
};
/* Parse a HandshakeResponse41 payload.  Returns 0, or -1 with a static
 * description of what is wrong in *why. */
int hs_parse_response(const uint8_t *p, size_t len, struct hs_response *r, const char **why);

/* A parsed server greeting (for backend connections). */
struct hs_greeting {
    uint8_t protocol;
    char version[96];
    uint32_t conn_id;
    uint8_t scramble[AUTH_SCRAMBLE_LEN];
    uint32_t caps;
    uint32_t ext_caps; /* MariaDB extended capabilities (servers without CLIENT_LONG_PASSWORD) */
    uint8_t collation;
    uint16_t status;
    char plugin[64];
};
int hs_parse_greeting(const uint8_t *p, size_t len, struct hs_greeting *g, const char **why);

/* Write a HandshakeResponse41 to a backend (sequence id seq: 1, or 2
 * after an SSL request) logging in as user with a mysql_native_password
 * proof for the greeting's scramble (or a caching_sha2_password proof if
 * the greeting asks for that plugin). */
int hs_write_login(struct rm_buf *out, uint8_t seq, uint32_t caps, uint32_t ext_caps, uint8_t collation,
                   const char *user, const char *pw, const char *db, const struct hs_greeting *g);
/* The SSL request (seq 1): the response's first 32 bytes with CLIENT_SSL. */
int hs_write_ssl_request(struct rm_buf *out, uint32_t caps, uint32_t ext_caps, uint8_t collation);

/* Capabilities offered to clients, given the backend's. */
uint32_t hs_proxy_caps(uint32_t server_caps);
/* MariaDB extended capabilities offered to clients, given the backend's:
 * bulk execution and extended metadata, which the proxy relays.  Not
 * progress reports (their 0xFF packets would read as the end of a
 * response), the metadata cache (the server's cache belongs to a statement
 * the proxy shares between sessions), COM_MULTI (withdrawn) or bulk unit
 * results. */
uint32_t hs_proxy_ext_caps(uint32_t server_caps, uint32_t server_ext_caps);

/* Auth switch request from the proxy to a client (0xFE, plugin, scramble). */
int hs_write_auth_switch(struct rm_buf *out, uint8_t seq, const char *plugin,
                         const uint8_t scramble[AUTH_SCRAMBLE_LEN]);

#endif
