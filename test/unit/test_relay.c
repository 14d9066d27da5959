/* Unit tests for src/relay.c: packets passed on in pieces, or into the void. */
#include "ringmux/relay.h"

#include "unit.h"

#include <string.h>

int main(void)
{
    uint8_t pkt[100];
    for (size_t i = 0; i < sizeof pkt; i++)
        pkt[i] = (uint8_t)i;
    struct rm_relay r = {0};
    struct rm_buf to = {0};
    bool whole;
    int then;
    /* All here at once. */
    CHECK(relay_begin(&r, &to, pkt, 100, 40, 7, &whole) == 40 && whole && !relay_busy(&r) && r.then == 0,
          "whole packet passes at once");
    CHECK(to.len == 40 && memcmp(to.data, pkt, 40) == 0, "bytes whole");
    /* In three pieces; `then` comes back with the last. */
    buf_reset(&to);
    CHECK(relay_begin(&r, &to, pkt, 10, 60, 7, &whole) == 10 && !whole && relay_busy(&r) && r.left == 50,
          "first piece");
    CHECK(relay_more(&r, &to, pkt + 10, 20, &then) == 20 && then == 0 && r.left == 30, "middle piece");
    CHECK(relay_more(&r, &to, pkt + 30, 70, &then) == 30 && then == 7 && !relay_busy(&r), "last piece, then");
    CHECK(to.len == 60 && memcmp(to.data, pkt, 60) == 0, "pieces joined in order");
    /* Into the void: taken, nothing written. */
    buf_reset(&to);
    CHECK(relay_begin(&r, NULL, pkt, 5, 20, 3, &whole) == 5 && !whole, "void: first piece");
    CHECK(relay_more(&r, NULL, pkt, 100, &then) == 15 && then == 3 && to.len == 0, "void: rest, nothing written");
    /* A packet of only a header (an empty payload). */
    CHECK(relay_begin(&r, &to, pkt, 4, 4, 1, &whole) == 4 && whole, "empty payload");
    buf_free(&to);
    return unit_summary();
}
