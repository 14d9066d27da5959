/* The engine's I/O primitives: the only code that prepares SQEs for a conn
 * (with worker.c's loop, which arms its own listeners, tick and wake-up).
 * Each call queues one operation tagged with the conn's slot and
 * generation; conn.c does the in-flight accounting and worker.c routes the
 * completion back to conn.c (conn_on_recv / conn_on_sent / ...).
 *
 * Unit tests link a fake of these four functions (test/unit/fake_engine.c)
 * and drive the completions by hand: everything above this line — sessions,
 * pools, backend connections — runs without a ring. */
#ifndef RINGMUX_RING_H
#define RINGMUX_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct rm_conn;

/* Multishot recv into the worker's provided buffers. */
void ring_recv(struct rm_conn *c);
/* Cancel c's armed recv. */
void ring_cancel_recv(struct rm_conn *c);
/* Send len bytes at p (which stay valid until the completion). */
void ring_send(struct rm_conn *c, const void *p, size_t len);
/* Connect to sa (valid until the completion), linked to a timeout of
 * timeout_ms; two SQEs: the connect and its timeout. */
void ring_connect(struct rm_conn *c, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms);

#endif
