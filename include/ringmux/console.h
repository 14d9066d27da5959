/* The admin console: client sessions that came in on [admin]
 * console_listen (worker 0), logged in through the normal handshake code
 * with the [admin] credentials, whose COM_QUERY texts are admin commands
 * answered as result sets:
 *
 *   SHOW POOLS     per backend and user: active, idle, opening, waiting,
 *                  pinned, max
 *   SHOW CLIENTS   id, user, address, state, pinned + reason, age, the
 *                  current statement's digest and its time, backend, TLS
 *   SHOW BACKENDS  address, role, health, lag, connections, last error
 *   SHOW STATS     every counter, with its rate since the last SHOW STATS
 *   SHOW PINS      reasons: sessions pinned now, pins since start, a sample
 *                  statement digest
 *   SHOW CONFIG    every setting with its value (passwords hidden)
 *   SHOW VERSION
 *   PAUSE / RESUME (the same as the HTTP endpoint), RELOAD (SIGHUP),
 *   KILL <client id>, SHUTDOWN [WAIT] (SIGTERM: a graceful stop)
 *
 * Pools and clients live on every worker; the console asks each one
 * (MSG_REPORT through the workers' inboxes, never reading another worker's
 * data) and answers once all have replied. */
#ifndef RINGMUX_CONSOLE_H
#define RINGMUX_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct rm_session;
struct rm_worker;
struct rm_msg;

/* A command from a console session (p: the command payload, n bytes). */
void console_command(struct rm_session *s, const uint8_t *p, size_t n);
/* How long the console waits for the other workers' rows. */
#define CONSOLE_REPORT_TIMEOUT_MS 2000
/* That time has passed (the session's tick): answer with the rows that
 * came, and a warning naming how many workers did not answer. */
void console_report_timeout(struct rm_session *s);
/* MSG_REPORT (describe this worker) and MSG_REPORT_DONE (an answer for a
 * console session of this worker).  Takes m. */
void console_on_message(struct rm_worker *w, struct rm_msg *m);

#endif
