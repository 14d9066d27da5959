/* The backend server: what the proxy learned about it at start-up (version,
 * capabilities, default collation) and its recent health as seen by the
 * workers' connection attempts. */
#ifndef RINGMUX_BACKEND_H
#define RINGMUX_BACKEND_H

#include "ringmux/config.h"
#include "ringmux/handshake.h"

struct rm_worker;

/* Start-up probe (main thread, blocking, libmariadb): fill *si with the
 * server's version (suffixed "-ringmux"), capabilities and collation.  On
 * failure logs a warning and fills safe defaults; returns -1. */
int be_probe(const struct rm_config *cfg, struct hs_server_info *si);

/* A worker's connect or login failed: remember the reason (for the error
 * text waiting clients get) and back off before the next attempt. */
void backend_note_failure(struct rm_worker *w, const char *why);
/* A connect succeeded: clear the backoff. */
void backend_note_success(struct rm_worker *w);
/* May a new backend connect be started now (backoff elapsed)? */
bool backend_may_connect(struct rm_worker *w);
/* Last failure text, "" if none. */
const char *backend_last_error(struct rm_worker *w);

#endif
