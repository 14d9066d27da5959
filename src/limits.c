/* Abuse limits shared by the workers (include/ringmux/limits.h). */
#include "ringmux/limits.h"

#include <netinet/in.h>
#include <string.h>

static uint64_t fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h ? h : 1; /* 0 marks a free slot */
}

uint64_t lim_addr_key(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return fnv1a(&((const struct sockaddr_in *)ss)->sin_addr, 4);
    if (ss->ss_family == AF_INET6)
        return fnv1a(&((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    return 0;
}

uint64_t lim_login_blocked(struct rm_limits *L, uint64_t key, uint64_t now_ms, int max, int64_t window_ms)
{
    if (max <= 0 || key == 0)
        return 0;
    size_t i = key % LIM_ADDR_SLOTS;
    if (atomic_load(&L->addr[i].key) != key)
        return 0;
    uint64_t since = atomic_load(&L->addr[i].since_ms);
    if (now_ms >= since + (uint64_t)window_ms || atomic_load(&L->addr[i].fails) < (uint32_t)max)
        return 0;
    return since + (uint64_t)window_ms - now_ms;
}

void lim_login_failed(struct rm_limits *L, uint64_t key, uint64_t now_ms, int64_t window_ms)
{
    if (key == 0)
        return;
    size_t i = key % LIM_ADDR_SLOTS;
    uint64_t since = atomic_load(&L->addr[i].since_ms);
    if (atomic_load(&L->addr[i].key) != key || now_ms >= since + (uint64_t)window_ms) {
        /* A new window (or another address takes the slot): racing
         * workers may lose a count here, never gain one. */
        atomic_store(&L->addr[i].fails, 0);
        atomic_store(&L->addr[i].since_ms, now_ms);
        atomic_store(&L->addr[i].key, key);
    }
    atomic_fetch_add(&L->addr[i].fails, 1);
}

void lim_login_ok(struct rm_limits *L, uint64_t key)
{
    size_t i = key % LIM_ADDR_SLOTS;
    if (key && atomic_load(&L->addr[i].key) == key)
        atomic_store(&L->addr[i].fails, 0);
}

#define USER_PROBES 8

int lim_user_enter(struct rm_limits *L, const char *user, size_t len, int max)
{
    uint64_t key = fnv1a(user, len);
    for (size_t k = 0; k < USER_PROBES; k++) {
        size_t i = (key + k) % LIM_USER_SLOTS;
        uint64_t cur = atomic_load(&L->user[i].key);
        if (cur == 0) {
            uint64_t zero = 0;
            if (!atomic_compare_exchange_strong(&L->user[i].key, &zero, key) && zero != key)
                continue; /* another user took it first */
        } else if (cur != key) {
            continue;
        }
        int n = atomic_fetch_add(&L->user[i].n, 1) + 1;
        if (max > 0 && n > max) {
            atomic_fetch_sub(&L->user[i].n, 1);
            return -1;
        }
        return (int)i;
    }
    return -2;
}

void lim_user_leave(struct rm_limits *L, int slot)
{
    if (slot >= 0 && slot < LIM_USER_SLOTS)
        atomic_fetch_sub(&L->user[slot].n, 1);
}
