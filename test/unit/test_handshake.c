/* Unit tests for src/proto/handshake.c: the greeting the proxy writes and
 * the ones real servers send (MariaDB 10.11, MySQL 8.0, built byte by byte
 * as they appear on the wire), HandshakeResponse41 as libmariadb and older
 * clients send it, SSL requests, every truncation of a valid response
 * (exact-size heap copies, so ASan catches overruns), and the login the
 * proxy writes to a backend. */
#include "ringmux/handshake.h"

#include "ringmux/packet.h"
#include "unit.h"

/* A little byte builder for hand-made packets, independent of pkt_writer. */
struct bb {
    uint8_t d[2048];
    size_t n;
};
static void bb_raw(struct bb *b, const void *p, size_t n)
{
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void bb_u8(struct bb *b, uint8_t v)
{
    b->d[b->n++] = v;
}
static void bb_le(struct bb *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        bb_u8(b, (uint8_t)(v >> (8 * i)));
}
static void bb_cstr(struct bb *b, const char *s)
{
    bb_raw(b, s, strlen(s) + 1);
}
static void bb_zeros(struct bb *b, size_t n)
{
    memset(b->d + b->n, 0, n);
    b->n += n;
}
/* A short lenenc string (< 251 bytes), as libmariadb writes attributes. */
static void bb_lstr(struct bb *b, const char *s)
{
    bb_u8(b, (uint8_t)strlen(s));
    bb_raw(b, s, strlen(s));
}

static bool str_is(const char *p, size_t n, const char *want)
{
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static const uint8_t SCRAMBLE[AUTH_SCRAMBLE_LEN] = {'Q', '7', '*', 'v', '|', 'e',  '?', 'K', 'x', '9',
                                                    'L', ',', '2', 'h', 'B', '\'', 'T', '^', 'p', 'Y'};

/* ---- greetings ----------------------------------------------------------- */

static void test_greeting_roundtrip(void)
{
    struct hs_server_info si = {.caps = hs_proxy_caps(0xffffffff), .collation = 45};
    strcpy(si.version, "5.5.5-10.11.6-MariaDB-ringmux");
    struct rm_buf b = {0};
    CHECK(hs_write_greeting(&b, &si, 0x12345678, SCRAMBLE) == 0, "write greeting");
    CHECK(b.len > PKT_HDR && pkt_u24(b.data) == b.len - PKT_HDR && b.data[3] == 0, "greeting header: seq 0, length");

    /* the wire layout, field by field */
    const uint8_t *p = b.data + PKT_HDR;
    size_t vl = strlen(si.version);
    CHECK(p[0] == 10 && memcmp(p + 1, si.version, vl + 1) == 0, "protocol and version");
    p += 2 + vl;
    CHECK(pkt_u32(p) == 0x12345678, "conn id");
    CHECK(memcmp(p + 4, SCRAMBLE, 8) == 0 && p[12] == 0, "scramble part 1 and filler");
    CHECK(pkt_u16(p + 13) == (si.caps & 0xffff), "caps low");
    CHECK(p[15] == 45 && pkt_u16(p + 16) == SERVER_STATUS_AUTOCOMMIT, "collation, status");
    CHECK(pkt_u16(p + 18) == si.caps >> 16, "caps high");
    CHECK(p[20] == 21, "auth data length 21");
    static const uint8_t ten[10] = {0};
    CHECK(memcmp(p + 21, ten, 10) == 0, "10 reserved bytes");
    CHECK(memcmp(p + 31, SCRAMBLE + 8, 12) == 0 && p[43] == 0, "scramble part 2 and its NUL");
    CHECK(memcmp(p + 44, "mysql_native_password", 22) == 0, "plugin name");
    CHECK(b.data + b.len == p + 44 + 22, "nothing after the plugin name");

    /* and back through the parser */
    struct hs_greeting g;
    const char *why = NULL;
    uint8_t *c = unit_dup(b.data + PKT_HDR, b.len - PKT_HDR);
    int rc = hs_parse_greeting(c, b.len - PKT_HDR, &g, &why);
    CHECK(rc == 0, "parse own greeting: %s", why ? why : "");
    CHECK(g.protocol == 10 && strcmp(g.version, si.version) == 0, "version %s", g.version);
    CHECK_U(g.conn_id, 0x12345678, "conn id");
    CHECK(memcmp(g.scramble, SCRAMBLE, 20) == 0, "scramble 8+12");
    CHECK_U(g.caps, si.caps, "caps low+high");
    CHECK(g.collation == 45 && g.status == SERVER_STATUS_AUTOCOMMIT, "collation, status");
    /* BUG: hs_parse_greeting reads max(12, alen - 9) bytes of scramble part
     * 2 where the protocol says max(13, alen - 8): with the usual
     * auth-plugin-data length 21 the part's trailing NUL is left unread and
     * taken as an empty plugin name.  Input: any greeting with alen 21 and
     * CLIENT_PLUGIN_AUTH, e.g. this one.  Expected plugin
     * "mysql_native_password", actual "". */
    CHECK(strcmp(g.plugin, AUTH_PLUGIN_NATIVE) == 0, "plugin \"%s\"", g.plugin);
    free(c);
    buf_free(&b);
}

/* A MariaDB 10.11 greeting: CLIENT_MYSQL (bit 0) clear, MariaDB's extended
 * capabilities in the last 4 of the 10 reserved bytes. */
static size_t mariadb_greeting(uint8_t *out)
{
    struct bb b = {.n = 0};
    bb_u8(&b, 10);
    bb_cstr(&b, "5.5.5-10.11.6-MariaDB-0+deb12u1");
    bb_le(&b, 42, 4);
    bb_raw(&b, SCRAMBLE, 8);
    bb_u8(&b, 0);
    bb_le(&b, 0xf7fe, 2); /* caps low */
    bb_u8(&b, 45);        /* utf8mb4_general_ci */
    bb_le(&b, SERVER_STATUS_AUTOCOMMIT, 2);
    bb_le(&b, 0x81ff, 2); /* caps high */
    bb_u8(&b, 21);
    bb_zeros(&b, 6);
    bb_le(&b, 0x1d, 4); /* MARIADB_CLIENT_PROGRESS | STMT_BULK_OPERATIONS | ... */
    bb_raw(&b, SCRAMBLE + 8, 12);
    bb_u8(&b, 0);
    bb_cstr(&b, "mysql_native_password");
    memcpy(out, b.d, b.n);
    return b.n;
}

/* A MySQL 8.0 greeting offering caching_sha2_password. */
static size_t mysql8_greeting(uint8_t *out)
{
    struct bb b = {.n = 0};
    bb_u8(&b, 10);
    bb_cstr(&b, "8.0.36");
    bb_le(&b, 8, 4);
    bb_raw(&b, SCRAMBLE, 8);
    bb_u8(&b, 0);
    bb_le(&b, 0xffff, 2);
    bb_u8(&b, 255); /* utf8mb4_0900_ai_ci */
    bb_le(&b, SERVER_STATUS_AUTOCOMMIT, 2);
    bb_le(&b, 0xdfff, 2);
    bb_u8(&b, 21);
    bb_zeros(&b, 10);
    bb_raw(&b, SCRAMBLE + 8, 12);
    bb_u8(&b, 0);
    bb_cstr(&b, "caching_sha2_password");
    memcpy(out, b.d, b.n);
    return b.n;
}

static void test_greeting_captured(void)
{
    uint8_t raw[256];
    size_t n = mariadb_greeting(raw);
    struct hs_greeting g;
    const char *why = NULL;
    uint8_t *c = unit_dup(raw, n);
    CHECK(hs_parse_greeting(c, n, &g, &why) == 0, "MariaDB greeting: %s", why ? why : "");
    CHECK(strcmp(g.version, "5.5.5-10.11.6-MariaDB-0+deb12u1") == 0, "MariaDB version %s", g.version);
    CHECK_U(g.conn_id, 42, "MariaDB conn id");
    CHECK_U(g.caps, 0x81fff7feu, "MariaDB caps");
    CHECK(!(g.caps & CLIENT_LONG_PASSWORD), "CLIENT_MYSQL clear");
    CHECK(g.collation == 45 && g.status == SERVER_STATUS_AUTOCOMMIT, "MariaDB collation, status");
    CHECK(memcmp(g.scramble, SCRAMBLE, 20) == 0, "MariaDB scramble (the extended caps are not part of it)");
    /* BUG: see test_greeting_roundtrip (scramble part 2 read as 12 bytes,
     * its NUL taken as the plugin name).  Expected "mysql_native_password",
     * actual "". */
    CHECK(strcmp(g.plugin, AUTH_PLUGIN_NATIVE) == 0, "MariaDB plugin \"%s\"", g.plugin);
    free(c);

    n = mysql8_greeting(raw);
    c = unit_dup(raw, n);
    CHECK(hs_parse_greeting(c, n, &g, &why) == 0, "MySQL 8 greeting: %s", why ? why : "");
    CHECK(strcmp(g.version, "8.0.36") == 0 && g.conn_id == 8 && g.caps == 0xdfffffffu && g.collation == 255,
          "MySQL 8 fields");
    CHECK(memcmp(g.scramble, SCRAMBLE, 20) == 0, "MySQL 8 scramble");
    /* BUG: same as above.  Expected "caching_sha2_password", actual "";
     * hs_write_login then answers a caching_sha2 server with a native proof. */
    CHECK(strcmp(g.plugin, AUTH_PLUGIN_SHA2) == 0, "MySQL 8 plugin \"%s\"", g.plugin);
    free(c);

    /* an auth data length above 21 is capped to 13 bytes of part 2 */
    n = mariadb_greeting(raw);
    size_t alen_at = 1 + 32 + 4 + 8 + 1 + 2 + 1 + 2 + 2;
    CHECK(raw[alen_at] == 21, "alen offset");
    raw[alen_at] = 22;
    c = unit_dup(raw, n);
    CHECK(hs_parse_greeting(c, n, &g, &why) == 0 && strcmp(g.plugin, AUTH_PLUGIN_NATIVE) == 0 &&
              memcmp(g.scramble, SCRAMBLE, 20) == 0,
          "alen 22: plugin \"%s\"", g.plugin);
    free(c);

    /* a plugin name without its NUL is tolerated */
    n = mysql8_greeting(raw);
    c = unit_dup(raw, n - 1);
    CHECK(hs_parse_greeting(c, n - 1, &g, &why) == 0, "greeting plugin without NUL");
    free(c);

    /* a pre-4.1 style greeting that ends after the low capability word */
    struct bb b = {.n = 0};
    bb_u8(&b, 10);
    bb_cstr(&b, "4.0.0");
    bb_le(&b, 1, 4);
    bb_raw(&b, SCRAMBLE, 8);
    bb_u8(&b, 0);
    bb_le(&b, CLIENT_LONG_PASSWORD, 2);
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_greeting(c, b.n, &g, &why) == 0 && g.caps == CLIENT_LONG_PASSWORD &&
              memcmp(g.scramble, SCRAMBLE, 8) == 0 && g.plugin[0] == 0,
          "short greeting");
    free(c);

    /* refusals and other protocols */
    c = unit_dup("\xff\x69\x04Host '1.2.3.4' is blocked", 28);
    why = NULL;
    CHECK(hs_parse_greeting(c, 28, &g, &why) == -1 && why && strstr(why, "refused"), "ERR instead of greeting: %s",
          why ? why : "");
    free(c);
    c = unit_dup("\x09"
                 "3.23\0",
                 6);
    CHECK(hs_parse_greeting(c, 6, &g, &why) == -1, "protocol 9");
    free(c);
    /* a version string longer than the field is cut, NUL-terminated */
    b.n = 0;
    bb_u8(&b, 10);
    char longv[200];
    memset(longv, 'v', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = 0;
    bb_cstr(&b, longv);
    bb_le(&b, 1, 4);
    bb_raw(&b, SCRAMBLE, 8);
    bb_u8(&b, 0);
    bb_le(&b, 0, 2);
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_greeting(c, b.n, &g, &why) == 0 && strlen(g.version) == sizeof(g.version) - 1,
          "long version cut to %zu", strlen(g.version));
    free(c);
}

/* Every prefix of a greeting parses or fails cleanly. */
static void test_greeting_truncations(void)
{
    uint8_t raw[256];
    size_t (*const make[])(uint8_t *) = {mariadb_greeting, mysql8_greeting};
    for (size_t m = 0; m < 2; m++) {
        size_t n = make[m](raw);
        int ok = 0, bad = 0;
        for (size_t t = 0; t < n; t++) {
            struct hs_greeting g;
            const char *why = NULL;
            uint8_t *c = unit_dup(raw, t);
            int rc = hs_parse_greeting(c, t, &g, &why);
            CHECK(rc == 0 || (rc == -1 && why != NULL), "greeting %zu cut at %zu: rc %d", m, t, rc);
            CHECK(memchr(g.version, 0, sizeof(g.version)) && memchr(g.plugin, 0, sizeof(g.plugin)),
                  "greeting strings terminated");
            if (rc == 0)
                ok++;
            else
                bad++;
            free(c);
        }
        CHECK(bad > 0 && ok > 0, "greeting %zu: %d ok, %d failed", m, ok, bad);
    }
}

/* ---- HandshakeResponse41 ------------------------------------------------- */

#define MARIADB_CLIENT_CAPS                                                                                            \
    (CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_LOCAL_FILES | CLIENT_PROTOCOL_41 |      \
     CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS |                 \
     CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |     \
     CLIENT_SESSION_TRACK)

static const uint8_t PROOF[20] = {0x00, 0xfb, 0xfc, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                  0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};

/* A response as libmariadb 3.3 writes it: lenenc auth data, a database,
 * the plugin name and connection attributes.  The offset of the
 * attributes' length goes to *attrs_at. */
static size_t libmariadb_response(uint8_t *out, size_t *attrs_at)
{
    struct bb b = {.n = 0};
    bb_le(&b, MARIADB_CLIENT_CAPS, 4);
    bb_le(&b, 0x01000000, 4); /* max packet 16 MiB */
    bb_u8(&b, 45);
    bb_zeros(&b, 19);
    bb_le(&b, 0x1d, 4); /* MariaDB extended caps sit here; the proxy ignores them */
    bb_cstr(&b, "app");
    bb_u8(&b, 20);
    bb_raw(&b, PROOF, 20);
    bb_cstr(&b, "appdb");
    bb_cstr(&b, "mysql_native_password");
    struct bb a = {.n = 0};
    static const char *const kv[] = {"_client_name", "libmariadb", "_client_version", "3.3.8",     "_os",
                                     "Linux",        "_pid",       "12345",           "_platform", "x86_64",
                                     "_server_host", "127.0.0.1"};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        bb_lstr(&a, kv[i]);
    *attrs_at = b.n;
    bb_u8(&b, (uint8_t)a.n);
    bb_raw(&b, a.d, a.n);
    memcpy(out, b.d, b.n);
    return b.n;
}

static void test_response_libmariadb(void)
{
    uint8_t raw[512];
    size_t attrs_at;
    size_t n = libmariadb_response(raw, &attrs_at);
    struct hs_response r;
    const char *why = NULL;
    uint8_t *c = unit_dup(raw, n);
    CHECK(hs_parse_response(c, n, &r, &why) == 0, "libmariadb response: %s", why ? why : "");
    CHECK_U(r.caps, MARIADB_CLIENT_CAPS, "caps");
    CHECK_U(r.max_packet, 0x01000000, "max packet");
    CHECK_U(r.collation, 45, "collation");
    CHECK(str_is(r.user, r.user_len, "app"), "user");
    CHECK(r.auth_len == 20 && r.auth && memcmp(r.auth, PROOF, 20) == 0, "auth data (lenenc)");
    CHECK(str_is(r.db, r.db_len, "appdb"), "db");
    CHECK(str_is(r.plugin, r.plugin_len, "mysql_native_password"), "plugin");
    free(c);

    /* every truncation: a clean -1 (or 0 where the tail is optional), and
     * whatever is returned lies inside the input */
    for (size_t t = 0; t < n; t++) {
        c = unit_dup(raw, t);
        why = NULL;
        int rc = hs_parse_response(c, t, &r, &why);
        CHECK(rc == 0 || (rc == -1 && why != NULL), "cut at %zu: rc %d", t, rc);
        if (rc == 0) {
            const uint8_t *end = c + t;
            CHECK((const uint8_t *)r.user + r.user_len <= end && (!r.auth || r.auth + r.auth_len <= end) &&
                      (!r.db || (const uint8_t *)r.db + r.db_len <= end) &&
                      (!r.plugin || (const uint8_t *)r.plugin + r.plugin_len <= end),
                  "cut at %zu: fields inside the input", t);
        }
        /* up to the end of the auth data, a cut is always an error */
        if (t < 32 + 4 + 21)
            CHECK(rc == -1, "cut at %zu before the auth data ends must fail", t);
        free(c);
    }

    /* attributes longer than the packet */
    raw[attrs_at] = 0xfc;
    c = unit_dup(raw, attrs_at + 3);
    c[attrs_at + 1] = 0x00;
    c[attrs_at + 2] = 0x01; /* 256 bytes declared, none present */
    why = NULL;
    CHECK(hs_parse_response(c, attrs_at + 3, &r, &why) == -1 && why && strstr(why, "attributes"),
          "attrs length beyond the packet: %s", why ? why : "");
    free(c);
    n = libmariadb_response(raw, &attrs_at);
    raw[attrs_at]++; /* one more than present */
    c = unit_dup(raw, n);
    CHECK(hs_parse_response(c, n, &r, &why) == -1, "attrs length one beyond the packet");
    free(c);
    raw[attrs_at] = 0xff; /* not a lenenc */
    c = unit_dup(raw, n);
    CHECK(hs_parse_response(c, n, &r, &why) == -1, "attrs length 0xFF");
    free(c);
}

static void test_response_variants(void)
{
    struct hs_response r;
    const char *why;
    struct bb b;
    uint8_t *c;

    /* SECURE_CONNECTION only: 1-byte auth length, no db / plugin / attrs */
    b.n = 0;
    bb_le(&b, CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_LONG_PASSWORD, 4);
    bb_le(&b, 0xffffff, 4);
    bb_u8(&b, 8);
    bb_zeros(&b, 23);
    bb_cstr(&b, "root");
    bb_u8(&b, 20);
    bb_raw(&b, PROOF, 20);
    c = unit_dup(b.d, b.n);
    why = NULL;
    CHECK(hs_parse_response(c, b.n, &r, &why) == 0, "secure-connection response: %s", why ? why : "");
    CHECK(str_is(r.user, r.user_len, "root") && r.auth_len == 20 && memcmp(r.auth, PROOF, 20) == 0,
          "secure-connection user and auth");
    CHECK(r.db == NULL && r.plugin == NULL && r.collation == 8 && r.max_packet == 0xffffff,
          "secure-connection: no db, no plugin");
    free(c);
    /* its 1-byte length overruns */
    c = unit_dup(b.d, b.n - 1);
    CHECK(hs_parse_response(c, b.n - 1, &r, &why) == -1 && strstr(why, "auth"), "secure-connection auth truncated: %s",
          why);
    free(c);

    /* empty auth data with a database */
    b.n = 0;
    bb_le(&b, CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB, 4);
    bb_zeros(&b, 4 + 1 + 23);
    bb_cstr(&b, "nopw");
    bb_u8(&b, 0);
    bb_cstr(&b, "shop");
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == 0 && r.auth_len == 0 && str_is(r.db, r.db_len, "shop"),
          "empty auth data, db");
    free(c);
    /* CONNECT_WITH_DB with an empty name: no database */
    b.n -= 5;
    bb_u8(&b, 0);
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == 0 && r.db == NULL, "empty db name is no db");
    free(c);
    /* CONNECT_WITH_DB set but nothing follows */
    b.n -= 1;
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == 0 && r.db == NULL, "db flag, no db bytes");
    free(c);
    /* a database name without its NUL */
    bb_raw(&b, "shop", 4);
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == -1 && strstr(why, "database"), "db without NUL: %s", why);
    free(c);

    /* pre-secure-connection auth: NUL-terminated */
    b.n = 0;
    bb_le(&b, CLIENT_PROTOCOL_41, 4);
    bb_zeros(&b, 4 + 1 + 23);
    bb_cstr(&b, "old");
    bb_cstr(&b, "12345678");
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == 0 && r.auth_len == 8 && memcmp(r.auth, "12345678", 8) == 0,
          "NUL-terminated auth data");
    free(c);

    /* a plugin name without its NUL (some clients) is accepted */
    b.n = 0;
    bb_le(&b, CLIENT_PROTOCOL_41 | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_PLUGIN_AUTH, 4);
    bb_zeros(&b, 4 + 1 + 23);
    bb_cstr(&b, "u");
    bb_u8(&b, 0);
    bb_raw(&b, "mysql_native_password", 21);
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == 0 && str_is(r.plugin, r.plugin_len, "mysql_native_password"),
          "plugin without NUL");
    free(c);

    /* the SSL request: 32 bytes with CLIENT_SSL */
    b.n = 0;
    bb_le(&b, MARIADB_CLIENT_CAPS | CLIENT_SSL, 4);
    bb_le(&b, 0x01000000, 4);
    bb_u8(&b, 45);
    bb_zeros(&b, 23);
    CHECK(b.n == 32, "SSL request size");
    c = unit_dup(b.d, b.n);
    why = NULL;
    CHECK(hs_parse_response(c, b.n, &r, &why) == -1 && why && strstr(why, "SSL request"), "SSL request: %s",
          why ? why : "(none)");
    CHECK(hs_is_ssl_request(c, b.n), "SSL request recognised");
    CHECK(!hs_is_ssl_request(c, b.n - 1), "31 bytes are no SSL request");
    c[1] &= (uint8_t) ~(CLIENT_SSL >> 8);
    CHECK(!hs_is_ssl_request(c, b.n), "32 bytes without CLIENT_SSL are no SSL request");
    free(c);

    /* 32 bytes without CLIENT_SSL: an empty user name is still missing */
    b.n = 0;
    bb_le(&b, CLIENT_PROTOCOL_41, 4);
    bb_zeros(&b, 28);
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == -1, "32 bytes, no SSL, no user");
    free(c);

    /* missing NUL after the user */
    b.n = 0;
    bb_le(&b, MARIADB_CLIENT_CAPS, 4);
    bb_zeros(&b, 28);
    bb_raw(&b, "app", 3);
    c = unit_dup(b.d, b.n);
    why = NULL;
    CHECK(hs_parse_response(c, b.n, &r, &why) == -1 && why && strstr(why, "NUL"), "user without NUL: %s",
          why ? why : "(none)");
    free(c);

    /* no CLIENT_PROTOCOL_41 */
    b.n = 0;
    bb_le(&b, CLIENT_LONG_PASSWORD, 4);
    bb_zeros(&b, 28);
    bb_cstr(&b, "x");
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == -1 && strstr(why, "4.1"), "pre-4.1 client: %s", why);
    free(c);

    /* lenenc auth data claiming more than the packet holds */
    b.n = 0;
    bb_le(&b, CLIENT_PROTOCOL_41 | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, 4);
    bb_zeros(&b, 28);
    bb_cstr(&b, "x");
    bb_u8(&b, 0xfd);
    bb_le(&b, 0xffffff, 3);
    bb_raw(&b, "abc", 3);
    c = unit_dup(b.d, b.n);
    CHECK(hs_parse_response(c, b.n, &r, &why) == -1 && strstr(why, "auth"), "auth lenenc too long");
    free(c);
}

/* ---- login written by the proxy ------------------------------------------ */

static void check_login(uint32_t caps, const char *plugin, const char *user, const char *pw, const char *db,
                        const char *want_plugin)
{
    struct hs_greeting g;
    memset(&g, 0, sizeof(g));
    g.protocol = 10;
    memcpy(g.scramble, SCRAMBLE, 20);
    snprintf(g.plugin, sizeof(g.plugin), "%s", plugin);
    struct rm_buf b = {0};
    CHECK(hs_write_login(&b, 1, caps, 0, 33, user, pw, db, &g) == 0, "write login");
    CHECK(b.len > PKT_HDR && pkt_u24(b.data) == b.len - PKT_HDR && b.data[3] == 1, "login header: seq 1");
    uint8_t *c = unit_dup(b.data + PKT_HDR, b.len - PKT_HDR);
    struct hs_response r;
    const char *why = NULL;
    CHECK(hs_parse_response(c, b.len - PKT_HDR, &r, &why) == 0, "parse login (%s): %s", plugin, why ? why : "");
    bool with_db = db && *db;
    CHECK(r.caps == (with_db ? caps | CLIENT_CONNECT_WITH_DB : caps & ~CLIENT_CONNECT_WITH_DB), "login caps %#x",
          r.caps);
    CHECK(r.collation == 33 && r.max_packet == PKT_MAX_PAYLOAD, "collation, max packet");
    CHECK(str_is(r.user, r.user_len, user), "login user");
    if (with_db)
        CHECK(str_is(r.db, r.db_len, db), "login db");
    else
        CHECK(r.db == NULL, "login without db");
    if (caps & CLIENT_PLUGIN_AUTH)
        CHECK(str_is(r.plugin, r.plugin_len, want_plugin), "login plugin");
    uint8_t want[AUTH_SHA2_LEN];
    size_t wl;
    if (strcmp(want_plugin, AUTH_PLUGIN_SHA2) == 0)
        auth_sha2_proof(pw, strlen(pw), SCRAMBLE, want, &wl);
    else
        auth_native_proof(pw, strlen(pw), SCRAMBLE, want, &wl);
    CHECK(r.auth_len == wl && (wl == 0 || memcmp(r.auth, want, wl) == 0), "login proof (%s, %zu bytes)", want_plugin,
          r.auth_len);
    if (strcmp(want_plugin, AUTH_PLUGIN_NATIVE) == 0 && *pw)
        CHECK(auth_native_verify(pw, strlen(pw), SCRAMBLE, r.auth, r.auth_len), "proof verifies");
    free(c);
    buf_free(&b);
}

static void test_login(void)
{
    const uint32_t lenenc = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
                            CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_MULTI_RESULTS | CLIENT_SESSION_TRACK |
                            CLIENT_DEPRECATE_EOF;
    const uint32_t classic = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
    check_login(lenenc, AUTH_PLUGIN_NATIVE, "app", "secret", "appdb", AUTH_PLUGIN_NATIVE);
    check_login(lenenc, "", "app", "secret", "appdb", AUTH_PLUGIN_NATIVE);
    check_login(lenenc | CLIENT_CONNECT_WITH_DB, AUTH_PLUGIN_NATIVE, "app", "secret", NULL, AUTH_PLUGIN_NATIVE);
    check_login(lenenc, AUTH_PLUGIN_NATIVE, "app", "secret", "", AUTH_PLUGIN_NATIVE);
    check_login(classic, AUTH_PLUGIN_NATIVE, "root", "p\xc3\xa4ss", "mysql", AUTH_PLUGIN_NATIVE);
    check_login(lenenc, AUTH_PLUGIN_SHA2, "app", "secret", "appdb", AUTH_PLUGIN_SHA2);
    check_login(classic, AUTH_PLUGIN_SHA2, "app", "secret", NULL, AUTH_PLUGIN_SHA2);
    check_login(lenenc, "client_ed25519", "app", "secret", "appdb", AUTH_PLUGIN_NATIVE);
    check_login(lenenc, AUTH_PLUGIN_NATIVE, "nopw", "", "appdb", AUTH_PLUGIN_NATIVE);
    check_login(CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION, AUTH_PLUGIN_NATIVE, "bare", "pw", NULL,
                AUTH_PLUGIN_NATIVE);

    /* the whole chain: the backend's greeting parsed, then the login */
    uint8_t raw[256];
    size_t n = mariadb_greeting(raw);
    struct hs_greeting g;
    const char *why;
    CHECK(hs_parse_greeting(raw, n, &g, &why) == 0, "parse MariaDB greeting");
    struct rm_buf b = {0};
    CHECK(hs_write_login(&b, 1, lenenc, 0, 45, "app", "secret", "appdb", &g) == 0, "login to MariaDB");
    struct hs_response r;
    CHECK(hs_parse_response(b.data + PKT_HDR, b.len - PKT_HDR, &r, &why) == 0, "reparse");
    CHECK(auth_native_verify("secret", 6, SCRAMBLE, r.auth, r.auth_len),
          "login proof verifies against the greeting's scramble");
    buf_free(&b);
}

static void test_auth_switch_and_caps(void)
{
    struct rm_buf b = {0};
    CHECK(hs_write_auth_switch(&b, 2, AUTH_PLUGIN_NATIVE, SCRAMBLE) == 0, "write auth switch");
    size_t plen = 1 + 22 + 20 + 1;
    CHECK(b.len == PKT_HDR + plen && pkt_u24(b.data) == plen && b.data[3] == 2, "switch header");
    CHECK(b.data[4] == 0xfe && memcmp(b.data + 5, "mysql_native_password", 22) == 0 &&
              memcmp(b.data + 27, SCRAMBLE, 20) == 0 && b.data[47] == 0,
          "switch bytes");
    buf_free(&b);

    uint32_t all = hs_proxy_caps(0xffffffff);
    CHECK(!(all & (CLIENT_SSL | CLIENT_COMPRESS)), "no TLS, no compression offered");
    CHECK(all & CLIENT_LONG_PASSWORD, "CLIENT_MYSQL set");
    CHECK((all & CLIENT_PROTOCOL_41) && (all & CLIENT_PLUGIN_AUTH) && (all & CLIENT_DEPRECATE_EOF) &&
              (all & CLIENT_SESSION_TRACK),
          "the usual capabilities");
    CHECK(!(all & 0xfe000000u), "nothing above DEPRECATE_EOF");
    uint32_t mdb = hs_proxy_caps(0x81fff7feu & ~CLIENT_DEPRECATE_EOF);
    CHECK(!(mdb & CLIENT_LONG_PASSWORD) && !(mdb & CLIENT_DEPRECATE_EOF),
          "follows the server: a MariaDB backend clears CLIENT_MYSQL, no DEPRECATE_EOF when it lacks it");
    CHECK(hs_proxy_caps(0) == 0, "nothing in common");
    /* MariaDB extended capabilities: bulk and extended metadata only, and
     * only for a server that speaks them (no CLIENT_MYSQL). */
    CHECK(hs_proxy_ext_caps(0x81fff7feu, 0x1f) ==
              (MARIADB_CLIENT_STMT_BULK_OPERATIONS | MARIADB_CLIENT_EXTENDED_METADATA),
          "MariaDB 10.11: bulk + extended metadata, not progress / COM_MULTI / metadata cache");
    CHECK(hs_proxy_ext_caps(0x81fff7feu, MARIADB_CLIENT_PROGRESS) == 0, "nothing the proxy relays");
    CHECK(hs_proxy_ext_caps(0xffffffffu, 0x1f) == 0, "a MySQL server: none");

    /* The greeting carries them in its filler, the response is read back. */
    struct hs_server_info si = {.caps = mdb, .ext_caps = MARIADB_CLIENT_STMT_BULK_OPERATIONS, .collation = 45};
    uint8_t scr[AUTH_SCRAMBLE_LEN] = {0};
    struct rm_buf g = {0};
    CHECK(hs_write_greeting(&g, &si, 7, scr) == 0, "greeting");
    struct hs_greeting pg;
    const char *why = NULL;
    CHECK(hs_parse_greeting(g.data + PKT_HDR, g.len - PKT_HDR, &pg, &why) == 0 &&
              pg.ext_caps == MARIADB_CLIENT_STMT_BULK_OPERATIONS,
          "greeting's extended capabilities: 0x%x", pg.ext_caps);
    buf_free(&g);
    struct rm_buf lb = {0};
    CHECK(hs_write_login(&lb, 1, (mdb & ~CLIENT_LONG_PASSWORD) | CLIENT_PROTOCOL_41, MARIADB_CLIENT_EXTENDED_METADATA,
                         45, "u", "pw", NULL, &pg) == 0,
          "login with extended capabilities");
    struct hs_response r;
    CHECK(hs_parse_response(lb.data + PKT_HDR, lb.len - PKT_HDR, &r, &why) == 0 &&
              r.ext_caps == MARIADB_CLIENT_EXTENDED_METADATA,
          "response's extended capabilities: 0x%x", r.ext_caps);
    buf_free(&lb);
}

int main(void)
{
    test_greeting_roundtrip();
    test_greeting_captured();
    test_greeting_truncations();
    test_response_libmariadb();
    test_response_variants();
    test_login();
    test_auth_switch_and_caps();
    return unit_summary();
}
