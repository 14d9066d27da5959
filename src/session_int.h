/* What the parts of the client session share (session.c, sess_auth.c,
 * sess_cmd.c, and console.c for admin console sessions).  Private to them:
 * other modules use include/ringmux/session.h. */
#ifndef RINGMUX_SESSION_INT_H
#define RINGMUX_SESSION_INT_H

#include "ringmux/session.h"

/* Client input beyond this while a command is in flight pauses reading. */
#define SESS_PIPELINE_MAX (1024 * 1024)

static inline struct rm_worker *W(struct rm_session *s)
{
    return s->c.w;
}

/* session.c: state, output, teardown, reset, the way to a backend */
void sess_set_state(struct rm_session *s, enum sess_state to);
bool sess_state_on_conn(const struct rm_session *s);
bool sess_keeps_conn(const struct rm_session *s);
void sess_send_err(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg);
void sess_send_ok(struct rm_session *s, uint8_t seq);
/* Send a final ERR and close once it is flushed. */
void sess_err_and_close(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg);
/* The client broke the protocol: counted, then sess_err_and_close(). */
void sess_fail_and_close(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg);
void sess_unpin(struct rm_session *s);
/* in_trans changes here (the transactions_open gauge follows). */
void sess_set_in_trans(struct rm_session *s, bool on);
void sess_detach_backend(struct rm_session *s, bool dirty);
/* Everything session-scoped goes, as on a server after a reset or a
 * change of user (keep_schema: the reset keeps the default database). */
void sess_reset(struct rm_session *s, bool keep_schema);
void sess_apply_reset_state(struct rm_session *s);
void sess_cmd_reset_connection(struct rm_session *s);
void sess_cmd_unsupported(struct rm_session *s, uint8_t cmd);
/* Queue the session for a backend conn (or use the one it holds). */
void sess_start_command(struct rm_session *s);
/* Back to waiting for a command: release the conn unless kept, serve
 * pipelined input. */
void sess_become_idle(struct rm_session *s);
/* A command naming a prepared statement (s->cur_stmt). */
bool sess_stmt_command(const struct rm_session *s);
/* sess_auth.c: the client's address ("127.0.0.1", or with its port). */
void sess_peer(const struct rm_session *s, char *out, size_t len, bool with_port);

/* sess_auth.c: the connection phase */
void sess_on_handshake(struct rm_session *s, const uint8_t *p, size_t n);
void sess_on_auth_switch_response(struct rm_session *s, const uint8_t *p, size_t n);
void sess_cmd_change_user(struct rm_session *s, const uint8_t *p, size_t n);

/* sess_cmd.c: reading commands */
/* Payload of a split packet made contiguous (caller frees). */
uint8_t *sess_join_payload(const uint8_t *data, size_t raw, size_t payload);
/* Serve the input already buffered in s->c.in. */
void sess_process_input(struct rm_session *s);

#endif
