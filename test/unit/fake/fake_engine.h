/* A fake engine for unit tests of sessions, pools and backend connections:
 * the real session / pool / bconn code (ringmux_logic) runs on a worker
 * that has no ring, no listener and no server.
 *
 *  - ring_recv / ring_send / ring_connect / ring_cancel_recv (ring.h) are
 *    replaced: each queues a fake completion; fe_pump() completes them the
 *    way worker.c routes real ones (conn_on_sent, conn_on_connected, ...),
 *    records every byte the proxy sends per connection, and delivers the
 *    bytes peers send once the conn has a recv armed (backpressure holds).
 *  - every backend connection is answered by a scripted MariaDB (fake
 *    server below): greeting, login check, session tracking, a small SQL
 *    repertoire (SELECT <text>, SELECT @@var, SELECT ROWS n, SET, USE,
 *    BEGIN/COMMIT, INSERT, KILL QUERY, CREATE TEMPORARY TABLE, anything
 *    naming "nosuchtable" fails with 1146, "STATEFUL" reports an unnamed
 *    state change, "SLEEP(" is held while defer_sleep is set), prepared
 *    statements with per-connection ids.  Each server answers "SELECT
 *    @@port" with the port the proxy connected to, so tests with several
 *    backends see where a statement ran.  Everything it
 *    receives is logged, one line per command, for assertions.
 *  - clients are driven by the test: connect (real handshake and password
 *    proof), send commands, read the packets the proxy wrote.
 *  - time is the test's: fe_advance() moves the worker clock and runs the
 *    tick work (pool maintenance, timeouts). */
#ifndef RINGMUX_TEST_FAKE_ENGINE_H
#define RINGMUX_TEST_FAKE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/buf.h"
#include "ringmux/worker.h"

struct fe_wire;

struct fe {
    struct rm_shared sh;
    struct rm_worker w;
    struct rm_config *cfg;
    /* Fake kernel. */
    struct fe_op *ops;
    size_t n_ops, cap_ops;
    struct fe_wire **wires;
    size_t n_wires;
    size_t send_chunk;  /* > 0: a send completes at most this many bytes (partial sends) */
    size_t recv_chunk;  /* > 0: deliver at most this many bytes per recv completion */
    int connect_res;    /* result of backend connects (0 or -errno) */
    bool hold_connects; /* connects stay in flight until cleared */
    /* Fake server. */
    struct rm_buf log;       /* "<conn>: <command> <text>\n" per command received */
    int server_conns;        /* backend connections the server accepted */
    bool defer_sleep;        /* queries containing SLEEP( are answered by fe_server_release() */
    const char *reject_user; /* server refuses this user's login (ERR 1045) */
    bool next_reader;        /* the next fe_connect comes in on the reader endpoint */
    bool next_console;       /* the next fe_connect comes in on the admin console */
};

/* config: the text of a ringmux.ini ([backend] and [users] required).
 * Returns 0, or -1 with the config error printed. */
int fe_init(struct fe *fe, const char *config);
/* fe_init, exiting with status 2 on a config error. */
void fe_start(struct fe *fe, const char *config);
/* Close every session and connection, free everything (leak-checked by
 * ASan in the sanitizer build). */
void fe_destroy(struct fe *fe);

/* Run the fake kernel until nothing moves: complete queued operations,
 * let the server answer, deliver bytes, serve waiters, free the dead. */
void fe_pump(struct fe *fe);
/* Move the clock by ms (in tick steps of 50 ms, as the worker would) and
 * run the tick work after each step, pumping in between. */
void fe_advance(struct fe *fe, uint64_t ms);

/* Publish a new topology as the monitor would: writer index (-1: none),
 * per backend up (NULL: all) and reader_ok (NULL: none); the worker reacts
 * (backends_topology_changed) and the loop runs. */
void fe_topology(struct fe *fe, int writer, const bool *up, const bool *reader_ok);
/* Answer every deferred (SLEEP) query now. */
void fe_server_release(struct fe *fe);
/* How many commands the server log holds that contain text. */
int fe_log_count(const struct fe *fe, const char *text);
/* Clear the server log. */
void fe_log_clear(struct fe *fe);
/* Backend conns that exist right now (open or opening). */
int fe_backend_conns(const struct fe *fe);

/* ---- clients -------------------------------------------------------------- */

struct fe_client {
    struct fe *fe;
    uint32_t slot, gen; /* its session's conn */
    uint32_t caps;
    uint32_t id; /* connection id from the greeting */
};

/* A packet the proxy sent a client: payload (malloc'd, free with
 * fe_pkt_free) and sequence id. */
struct fe_pkt {
    uint8_t *p;
    size_t n;
    uint8_t seq;
};
void fe_pkt_free(struct fe_pkt *pk);

/* What fe_query read back. */
struct fe_result {
    enum { FE_NONE, FE_OK, FE_ERR, FE_ROWS } kind;
    uint16_t err;                 /* FE_ERR */
    char msg[256];                /* FE_ERR message */
    uint64_t affected, insert_id; /* FE_OK */
    uint16_t status;              /* FE_OK / FE_ROWS terminator status */
    uint16_t warnings;
    int n_rows;      /* FE_ROWS */
    char first[128]; /* FE_ROWS: first row's first value ("NULL" for NULL) */
};

/* Accept a client and log it in (user, password, database or NULL, client
 * capabilities; 0 = a libmariadb-like default).  Returns the first packet's
 * kind: FE_OK on success, FE_ERR (r filled when given) otherwise. */
int fe_connect(struct fe *fe, struct fe_client *cl, const char *user, const char *pw, const char *db, uint32_t caps,
               struct fe_result *r);
/* Its session, or NULL once it is gone. */
struct rm_session *fe_session(const struct fe_client *cl);
/* Queue a command packet from the client (seq 0) and pump. */
void fe_send(struct fe_client *cl, uint8_t cmd, const void *arg, size_t len);
/* Queue raw bytes from the client (no framing) and pump. */
void fe_send_raw(struct fe_client *cl, const void *p, size_t n);
/* The next whole packet the proxy sent the client; false if none yet. */
bool fe_read(struct fe_client *cl, struct fe_pkt *pk);
/* Bytes the proxy sent the client that the test has not read yet. */
size_t fe_unread(const struct fe_client *cl);
/* Read one whole response (OK, ERR or a text result set); FE_NONE when it
 * is not complete yet (the packets read so far are consumed). */
int fe_response(struct fe_client *cl, struct fe_result *r);
/* COM_QUERY sql, pump, read the response. */
int fe_query(struct fe_client *cl, const char *sql, struct fe_result *r);
/* The client stops reading (on) or reads again: sends to it stay in
 * flight meanwhile, so the proxy's backpressure engages. */
void fe_stall(struct fe_client *cl, bool on);
/* The client closes its socket. */
void fe_hangup(struct fe_client *cl);

/* Prepared statements, binary protocol: COM_STMT_PREPARE → the id the
 * proxy gave (0 on ERR, r filled); COM_STMT_EXECUTE of id with n int
 * parameters → response kind. */
uint32_t fe_prepare(struct fe_client *cl, const char *sql, struct fe_result *r);
int fe_execute(struct fe_client *cl, uint32_t id, const int32_t *params, int n, struct fe_result *r);

#endif
