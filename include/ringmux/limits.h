/* Abuse limits shared by every worker, lock-free: failed logins per client
 * address, connections that have not logged in yet, sessions per user.
 *
 * The tables are fixed-size arrays of atomics in struct rm_shared.  An
 * address or user maps to a slot by a 64-bit hash; two addresses that
 * share a slot share a failure count (4096 slots: only under a spread
 * attack from thousands of addresses, and then erring towards refusing).
 * Users probe a few slots, so distinct users never share a count. */
#ifndef RINGMUX_LIMITS_H
#define RINGMUX_LIMITS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LIM_ADDR_SLOTS 4096
#define LIM_USER_SLOTS 1024

struct rm_limits {
    struct {
        _Atomic uint64_t key;      /* address hash, 0 = free */
        _Atomic uint32_t fails;    /* failed logins since `since` */
        _Atomic uint64_t since_ms; /* start of the window */
    } addr[LIM_ADDR_SLOTS];
    struct {
        _Atomic uint64_t key; /* user name hash, 0 = free */
        atomic_int n;         /* sessions logged in as that user */
    } user[LIM_USER_SLOTS];
    atomic_int unauthenticated; /* client connections not logged in yet */
};

/* The hash of a peer's IP address (the port is not part of it); 0 if unknown. */
uint64_t lim_addr_key(const struct sockaddr_storage *ss);

/* Milliseconds until the address may try again (0: it may now): it has
 * failed max times within window_ms.  max 0 = no limit. */
uint64_t lim_login_blocked(struct rm_limits *L, uint64_t key, uint64_t now_ms, int max, int64_t window_ms);
/* A failed login from key. */
void lim_login_failed(struct rm_limits *L, uint64_t key, uint64_t now_ms, int64_t window_ms);
/* A successful one: the address's count starts again. */
void lim_login_ok(struct rm_limits *L, uint64_t key);

/* A session logs in as user (len bytes): its slot (>= 0) to pass to
 * lim_user_leave, -1 when max (> 0) sessions of that user already exist,
 * -2 when the table is full (not counted, not refused). */
int lim_user_enter(struct rm_limits *L, const char *user, size_t len, int max);
void lim_user_leave(struct rm_limits *L, int slot);

#endif
