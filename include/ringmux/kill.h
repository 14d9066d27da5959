/* KILL through the proxy.
 *
 * The connection ids the proxy hands out (handshake, CONNECTION_ID()) are
 * valid KILL targets on every worker: an id names its worker (id modulo the
 * number of workers), so a KILL for a session of another worker travels
 * there as a message (worker_post) and its answer comes back the same way.
 * KILL QUERY stops the statement the session runs right now (KILL QUERY of
 * the backend connection serving it, from another connection); KILL
 * [CONNECTION] also closes the client session.  Only the same user, or a
 * user listed in admin_users, may kill a session (else ERR 1095, as the
 * server says); an unknown id gets ERR 1094. */
#ifndef RINGMUX_KILL_H
#define RINGMUX_KILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rm_session;
struct rm_worker;
struct rm_msg;

/* What a KILL statement asks for. */
struct kill_req {
    bool query_only;         /* KILL QUERY */
    bool self;               /* the target is CONNECTION_ID() */
    uint32_t target;         /* the connection id (when !self) */
    const char *unsupported; /* non-NULL: a form the proxy does not translate (KILL USER, KILL QUERY ID) */
};

/* Parse "KILL [HARD|SOFT] [CONNECTION|QUERY] id" (id a number or
 * CONNECTION_ID()).  false when the text is not such a statement (the
 * caller lets the server judge it). */
bool kill_parse(const char *sql, size_t len, struct kill_req *r);

/* Session s asked to kill `target`: answer it now (same worker) or post the
 * request to the target's worker (s waits in SESS_KILLING). */
void kill_start(struct rm_session *s, uint32_t target, bool query_only);

/* A message from another worker (worker.h: KILL and its answer, the admin
 * console's reports): handled here or handed to console.c.  Takes m. */
void worker_on_message(struct rm_worker *w, struct rm_msg *m);

#endif
