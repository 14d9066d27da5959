/* Unit tests for src/proto/track.c: the OK packet's session-state block. */
#include "ringmux/track.h"

#include "unit.h"

#include <string.h>

/* Append one entry: type, lenenc data. */
static size_t entry(uint8_t *out, uint8_t type, const uint8_t *data, size_t len)
{
    out[0] = type;
    out[1] = (uint8_t)len;
    memcpy(out + 2, data, len);
    return 2 + len;
}

int main(void)
{
    uint8_t block[256], d[64];
    size_t n = 0;
    /* system variable autocommit=OFF */
    d[0] = 10;
    memcpy(d + 1, "autocommit", 10);
    d[11] = 3;
    memcpy(d + 12, "OFF", 3);
    n += entry(block + n, SESSION_TRACK_SYSTEM_VARIABLES, d, 15);
    /* schema "app" */
    d[0] = 3;
    memcpy(d + 1, "app", 3);
    n += entry(block + n, SESSION_TRACK_SCHEMA, d, 4);
    /* state change "1" */
    d[0] = 1;
    d[1] = '1';
    n += entry(block + n, SESSION_TRACK_STATE_CHANGE, d, 2);
    /* transaction state "T______L" */
    d[0] = 8;
    memcpy(d + 1, "T______L", 8); /* position 8: LOCK TABLES */
    n += entry(block + n, SESSION_TRACK_TRANSACTION_STATE, d, 9);
    /* a variable entry whose data is cut short */
    d[0] = 20;
    memcpy(d + 1, "abc", 3);
    n += entry(block + n, SESSION_TRACK_SYSTEM_VARIABLES, d, 4);

    struct track_reader tr;
    struct track_entry e;
    track_begin(&tr, block, n);
    CHECK(track_next(&tr, &e) == 1 && e.type == SESSION_TRACK_SYSTEM_VARIABLES && e.ok && e.name_len == 10 &&
              memcmp(e.name, "autocommit", 10) == 0 && e.value_len == 3 && memcmp(e.value, "OFF", 3) == 0 &&
              e.raw == block && e.raw_len == 17,
          "system variable");
    CHECK(track_next(&tr, &e) == 1 && e.type == SESSION_TRACK_SCHEMA && e.ok && e.name_len == 3 &&
              memcmp(e.name, "app", 3) == 0,
          "schema");
    CHECK(track_next(&tr, &e) == 1 && e.type == SESSION_TRACK_STATE_CHANGE && e.ok, "state change");
    CHECK(track_next(&tr, &e) == 1 && e.type == SESSION_TRACK_TRANSACTION_STATE && e.ok && e.name_len == 8 &&
              e.name[7] == 'L',
          "transaction state");
    CHECK(track_next(&tr, &e) == 1 && e.type == SESSION_TRACK_SYSTEM_VARIABLES && !e.ok, "cut entry: not ok");
    CHECK(track_next(&tr, &e) == 0, "end");
    /* A block cut inside an entry's length stops there. */
    for (size_t cut = 0; cut < n; cut++) {
        int k = 0;
        track_begin(&tr, block, cut);
        while (track_next(&tr, &e) == 1 && k < 10) {
            CHECK(e.raw + e.raw_len <= block + cut, "cut at %zu: entry inside the block", cut);
            k++;
        }
        CHECK(k <= 5, "cut at %zu: %d entries", cut, k);
    }
    return unit_summary();
}
