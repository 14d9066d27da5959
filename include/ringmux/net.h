/* Socket helpers used at start-up and when opening backend connections. */
#ifndef RINGMUX_NET_H
#define RINGMUX_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "ringmux/config.h"

/* Bound, listening, non-blocking TCP socket for addr (SO_REUSEPORT when
 * reuseport, so every worker can have its own).  -1 with err filled. */
int net_listen(const struct rm_addr *addr, bool reuseport, char *err, size_t errlen);
/* Resolve a numeric rm_addr into a sockaddr (no DNS: hosts are numeric). */
int net_sockaddr(const struct rm_addr *addr, struct sockaddr_storage *ss, socklen_t *len);
/* Set TCP_NODELAY and keepalive on a socket (listeners pass them on to
 * the sockets they accept). */
void net_tune(int fd);
/* Fail (with a message in err) when anything listens on addr already: the
 * workers' SO_REUSEPORT listeners would otherwise share the port with
 * another process.  Called before the workers bind. */
int net_check_unused(const struct rm_addr *addr, char *err, size_t errlen);

#endif
