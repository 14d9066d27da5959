/* TLS on a conn: wolfSSL over memory buffers, no socket of its own.
 *
 * The conn layer is the byte filter (conn.c): received ciphertext is fed
 * to tls_conn_feed, which runs the handshake and appends the plaintext to
 * conn->in for the owner's on_data; the owner's plaintext in conn->out is
 * sealed by tls_conn_seal into the TLS output queue, which conn.c sends.
 * wolfSSL never touches the socket and never blocks: its IO callbacks read
 * and write those two buffers.
 *
 * Contexts (certificates, verification, versions) are built from PEM bytes
 * the config reader loaded, so building one opens no file; each worker
 * builds its own (no sharing, no locks between workers).  Session tickets
 * are sealed with a process-wide key (ChaCha20-Poly1305) made at start, so
 * a client resumes on whichever worker its reconnect lands. */
#ifndef RINGMUX_TLS_H
#define RINGMUX_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rm_config;
struct rm_backend_cfg;
struct rm_conn;
struct rm_buf;
struct rm_tls_ctx;

/* The TLS server context for client connections per c's [tls]; NULL with
 * a message naming the setting that is wrong ("[tls] tls_key ...") in err.
 * c must have TLS configured (tls_cert set). */
struct rm_tls_ctx *tls_server_ctx_new(const struct rm_config *c, char *err, size_t errlen);
/* The TLS client context for backend b ([backend] tls != off); sec names
 * its section in messages ("backend.db1"). */
struct rm_tls_ctx *tls_client_ctx_new(const struct rm_backend_cfg *b, const char *sec, char *err, size_t errlen);
void tls_ctx_free(struct rm_tls_ctx *x);
/* A thread that ran TLS handshakes ends: free wolfSSL's per-thread ECC
 * cache (call on that thread). */
void tls_thread_done(void);
bool tls_ctx_is_server(const struct rm_tls_ctx *x);

/* Attach TLS state to c (conn_start_tls is the owners' entry point).
 * Bytes already queued in c->out go out in the clear first.  host: the
 * server's name for SNI and identity checks (client side), else NULL.  -1
 * on allocation failure. */
int tls_conn_start(struct rm_conn *c, struct rm_tls_ctx *x, const char *host);
/* Free c's TLS state (conn_sweep). */
void tls_conn_free(struct rm_conn *c);

/* Ciphertext arrived: run the handshake, append every decrypted byte to
 * c->in.  Returns 0 on progress, -1 on a fatal TLS error (tls_conn_error
 * says which), -2 when the peer sent close_notify; *handshake_done says
 * whether the handshake completed during this call (whatever the result). */
int tls_conn_feed(struct rm_conn *c, const uint8_t *data, size_t len, bool *handshake_done);
/* Encrypt c->out (once the handshake is done) into the TLS output queue;
 * -1 on failure. */
int tls_conn_seal(struct rm_conn *c);
/* Queue a close_notify alert (after sealing what is queued). */
void tls_conn_close_notify(struct rm_conn *c);
/* The TLS output queue: ciphertext waiting to be sent. */
struct rm_buf *tls_conn_wire(struct rm_conn *c);
/* Handshake finished. */
bool tls_conn_ready(const struct rm_conn *c);
/* Why the last tls_conn_feed failed. */
const char *tls_conn_error(const struct rm_conn *c, char *buf, size_t len);
/* "TLSv1.3 TLS_AES_128_GCM_SHA256 resumed" for logs. */
const char *tls_conn_describe(const struct rm_conn *c, char *buf, size_t len);
bool tls_conn_resumed(const struct rm_conn *c);

#endif
