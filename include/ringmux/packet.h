/* MySQL packet framing and the small codecs every layer needs: the 4-byte
 * header, length-encoded integers and strings, and builders for the packets
 * the proxy writes itself (OK, ERR, EOF, commands). */
#ifndef RINGMUX_PACKET_H
#define RINGMUX_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/buf.h"

#define PKT_HDR         4
#define PKT_MAX_PAYLOAD 0xFFFFFFu /* a payload of exactly this size continues in the next packet */

/* Capability flags (protocol::CapabilityFlags). */
#define CLIENT_LONG_PASSWORD                  (1u << 0) /* MariaDB servers clear it: "CLIENT_MYSQL" */
#define CLIENT_FOUND_ROWS                     (1u << 1)
#define CLIENT_LONG_FLAG                      (1u << 2)
#define CLIENT_CONNECT_WITH_DB                (1u << 3)
#define CLIENT_NO_SCHEMA                      (1u << 4)
#define CLIENT_COMPRESS                       (1u << 5)
#define CLIENT_ODBC                           (1u << 6)
#define CLIENT_LOCAL_FILES                    (1u << 7)
#define CLIENT_IGNORE_SPACE                   (1u << 8)
#define CLIENT_PROTOCOL_41                    (1u << 9)
#define CLIENT_INTERACTIVE                    (1u << 10)
#define CLIENT_SSL                            (1u << 11)
#define CLIENT_IGNORE_SIGPIPE                 (1u << 12)
#define CLIENT_TRANSACTIONS                   (1u << 13)
#define CLIENT_RESERVED                       (1u << 14)
#define CLIENT_SECURE_CONNECTION              (1u << 15)
#define CLIENT_MULTI_STATEMENTS               (1u << 16)
#define CLIENT_MULTI_RESULTS                  (1u << 17)
#define CLIENT_PS_MULTI_RESULTS               (1u << 18)
#define CLIENT_PLUGIN_AUTH                    (1u << 19)
#define CLIENT_CONNECT_ATTRS                  (1u << 20)
#define CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA (1u << 21)
#define CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS   (1u << 22)
#define CLIENT_SESSION_TRACK                  (1u << 23)
#define CLIENT_DEPRECATE_EOF                  (1u << 24)

/* MariaDB extended capabilities: a second 32-bit word, exchanged in the
 * greeting's and the handshake response's filler when the server does not
 * set CLIENT_LONG_PASSWORD ("CLIENT_MYSQL"). */
#define MARIADB_CLIENT_PROGRESS             (1u << 0)
#define MARIADB_CLIENT_COM_MULTI            (1u << 1)
#define MARIADB_CLIENT_STMT_BULK_OPERATIONS (1u << 2)
#define MARIADB_CLIENT_EXTENDED_METADATA    (1u << 3)
#define MARIADB_CLIENT_CACHE_METADATA       (1u << 4)
#define MARIADB_CLIENT_BULK_UNIT_RESULTS    (1u << 5)

/* Server status flags. */
#define SERVER_STATUS_IN_TRANS           0x0001
#define SERVER_STATUS_AUTOCOMMIT         0x0002
#define SERVER_MORE_RESULTS_EXISTS       0x0008
#define SERVER_STATUS_NO_GOOD_INDEX_USED 0x0010
#define SERVER_STATUS_NO_INDEX_USED      0x0020
#define SERVER_STATUS_CURSOR_EXISTS      0x0040
#define SERVER_STATUS_LAST_ROW_SENT      0x0080
#define SERVER_STATUS_IN_TRANS_READONLY  0x2000
#define SERVER_SESSION_STATE_CHANGED     0x4000

/* Commands. */
enum mysql_cmd {
    COM_SLEEP = 0x00,
    COM_QUIT = 0x01,
    COM_INIT_DB = 0x02,
    COM_QUERY = 0x03,
    COM_FIELD_LIST = 0x04,
    COM_CREATE_DB = 0x05,
    COM_DROP_DB = 0x06,
    COM_REFRESH = 0x07,
    COM_SHUTDOWN = 0x08,
    COM_STATISTICS = 0x09,
    COM_PROCESS_INFO = 0x0a,
    COM_CONNECT = 0x0b,
    COM_PROCESS_KILL = 0x0c,
    COM_DEBUG = 0x0d,
    COM_PING = 0x0e,
    COM_TIME = 0x0f,
    COM_DELAYED_INSERT = 0x10,
    COM_CHANGE_USER = 0x11,
    COM_BINLOG_DUMP = 0x12,
    COM_TABLE_DUMP = 0x13,
    COM_CONNECT_OUT = 0x14,
    COM_REGISTER_SLAVE = 0x15,
    COM_STMT_PREPARE = 0x16,
    COM_STMT_EXECUTE = 0x17,
    COM_STMT_SEND_LONG_DATA = 0x18,
    COM_STMT_CLOSE = 0x19,
    COM_STMT_RESET = 0x1a,
    COM_SET_OPTION = 0x1b,
    COM_STMT_FETCH = 0x1c,
    COM_DAEMON = 0x1d,
    COM_BINLOG_DUMP_GTID = 0x1e,
    COM_RESET_CONNECTION = 0x1f,
    COM_STMT_BULK_EXECUTE = 0xfa, /* MariaDB: one statement, many rows of parameters */
};
const char *pkt_cmd_str(uint8_t cmd);

/* Session state tracker entry types (OK packet session-state info). */
enum {
    SESSION_TRACK_SYSTEM_VARIABLES = 0,
    SESSION_TRACK_SCHEMA = 1,
    SESSION_TRACK_STATE_CHANGE = 2,
    SESSION_TRACK_GTIDS = 3,
    SESSION_TRACK_TRANSACTION_CHARACTERISTICS = 4,
    SESSION_TRACK_TRANSACTION_STATE = 5,
};

/* Little-endian fixed-width readers/writers. */
static inline uint32_t pkt_u16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static inline uint32_t pkt_u24(const uint8_t *p)
{
    return pkt_u16(p) | (uint32_t)p[2] << 16;
}
static inline uint32_t pkt_u32(const uint8_t *p)
{
    return pkt_u24(p) | (uint32_t)p[3] << 24;
}
static inline void pkt_put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void pkt_put_u24(uint8_t *p, uint32_t v)
{
    pkt_put_u16(p, v);
    p[2] = (uint8_t)(v >> 16);
}
static inline void pkt_put_u32(uint8_t *p, uint32_t v)
{
    pkt_put_u24(p, v);
    p[3] = (uint8_t)(v >> 24);
}

/* A bounds-checked cursor over one packet payload.  Every reader sets
 * r->err on overrun and then returns zero values, so parsers can read a
 * whole structure and check err once. */
struct pkt_reader {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the payload */
    bool err;           /* an overrun or malformed value was seen */
};
static inline void pkt_reader_init(struct pkt_reader *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->end = p + len;
    r->err = false;
}
static inline size_t pkt_left(const struct pkt_reader *r)
{
    return (size_t)(r->end - r->p);
}
uint64_t pkt_read_int(struct pkt_reader *r, int n);            /* fixed n-byte LE integer */
uint64_t pkt_read_lenenc(struct pkt_reader *r, bool *is_null); /* is_null may be NULL */
/* Length-encoded string: returns a pointer into the packet, length in *len. */
const uint8_t *pkt_read_lenenc_str(struct pkt_reader *r, size_t *len);
/* NUL-terminated string (NUL required); pointer into the packet. */
const uint8_t *pkt_read_cstr(struct pkt_reader *r, size_t *len);
const uint8_t *pkt_read_bytes(struct pkt_reader *r, size_t n);

/* Size of a lenenc integer, and writers that return the advanced pointer. */
size_t pkt_lenenc_size(uint64_t v);
uint8_t *pkt_put_lenenc(uint8_t *p, uint64_t v);

/* Packet writer: appends one logical packet to an output buffer, splitting
 * payloads of 16 MiB and more into continuation packets. */
struct pkt_writer {
    struct rm_buf *out; /* destination */
    size_t start;       /* offset of the header being filled */
    uint8_t seq;        /* sequence id of the first (or only) packet */
    bool err;           /* allocation failed */
};
void pkt_begin(struct pkt_writer *w, struct rm_buf *out, uint8_t seq);
void pkt_add(struct pkt_writer *w, const void *p, size_t n);
void pkt_add_u8(struct pkt_writer *w, uint8_t v);
void pkt_add_u16(struct pkt_writer *w, uint16_t v);
void pkt_add_u32(struct pkt_writer *w, uint32_t v);
void pkt_add_lenenc(struct pkt_writer *w, uint64_t v);
void pkt_add_lenenc_str(struct pkt_writer *w, const void *p, size_t n);
void pkt_add_zeros(struct pkt_writer *w, size_t n);
/* Fill in the header(s); returns the sequence id following this packet, or
 * -1 if an allocation failed. */
int pkt_end(struct pkt_writer *w);

/* Builders for the packets the proxy answers with. */
struct pkt_ok {
    uint64_t affected_rows;
    uint64_t insert_id;
    uint16_t status;
    uint16_t warnings;
    const char *info; /* may be NULL */
    size_t info_len;
    const uint8_t *state; /* session state info (only when caps has SESSION_TRACK), may be NULL */
    size_t state_len;
};
int pkt_write_ok(struct rm_buf *out, uint8_t seq, uint32_t caps, const struct pkt_ok *ok, uint8_t header);
int pkt_write_err(struct rm_buf *out, uint8_t seq, uint16_t code, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int pkt_write_eof(struct rm_buf *out, uint8_t seq, uint16_t warnings, uint16_t status);
/* A command packet (seq 0): cmd byte followed by arg bytes. */
int pkt_write_cmd(struct rm_buf *out, uint8_t cmd, const void *arg, size_t len);

/* Parsed OK packet (header 0x00 or 0xFE). Pointers point into the packet. */
struct pkt_ok_view {
    uint64_t affected_rows;
    uint64_t insert_id;
    uint16_t status;
    uint16_t warnings;
    const uint8_t *info;
    size_t info_len;
    const uint8_t *state; /* session-state info block, NULL when absent */
    size_t state_len;
};
/* Parse an OK (or OK-as-EOF) payload sent under capabilities caps; -1 if malformed. */
int pkt_parse_ok(const uint8_t *p, size_t len, uint32_t caps, struct pkt_ok_view *ok);

/* An OK to write with what a parsed one says (pointers into its packet). */
static inline struct pkt_ok pkt_ok_from_view(const struct pkt_ok_view *v)
{
    struct pkt_ok ok = {
        .affected_rows = v->affected_rows,
        .insert_id = v->insert_id,
        .status = v->status,
        .warnings = v->warnings,
        .info = (const char *)v->info,
        .info_len = v->info_len,
        .state = v->state,
        .state_len = v->state_len,
    };
    return ok;
}

/* Parsed ERR packet. */
struct pkt_err_view {
    uint16_t code;
    char sqlstate[6];
    const uint8_t *msg;
    size_t msg_len;
};
int pkt_parse_err(const uint8_t *p, size_t len, struct pkt_err_view *e);

#endif
