/* The response tracker: follows the packet stream a backend sends in answer
 * to one command and says, packet by packet, where the response stands:
 * which packets must be seen whole (OK / ERR / EOF / LOCAL INFILE request /
 * column count / prepare-OK) and which may be streamed through in pieces
 * (rows, column definitions), when a result ends, whether more results
 * follow (SERVER_MORE_RESULTS_EXISTS) and when the whole response is done.
 *
 * It never touches sockets: the backend side feeds it packet headers and
 * whole packets and acts on the events it returns. */
#ifndef RINGMUX_RESPONSE_H
#define RINGMUX_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What shape of response the command expects. */
enum resp_kind {
    RK_NONE = 0,   /* no response (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA) */
    RK_OK,         /* OK or ERR (COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, COM_STMT_RESET, ...) */
    RK_QUERY,      /* COM_QUERY: OK / ERR / LOCAL INFILE / text result sets, possibly several */
    RK_EXECUTE,    /* COM_STMT_EXECUTE: like RK_QUERY with binary rows, no LOCAL INFILE */
    RK_FETCH,      /* COM_STMT_FETCH: rows then EOF, or ERR */
    RK_PREPARE,    /* COM_STMT_PREPARE: prepare-OK + param defs + column defs, or ERR */
    RK_FIELD_LIST, /* COM_FIELD_LIST: column defs then EOF, or ERR */
    RK_STATISTICS, /* COM_STATISTICS: one string packet */
    RK_EOF,        /* COM_SET_OPTION / COM_DEBUG: EOF (or OK) or ERR */
};

enum resp_phase {
    RP_IDLE = 0,    /* nothing outstanding */
    RP_FIRST,       /* first packet of a result */
    RP_COLDEFS,     /* column definitions */
    RP_COLDEFS_EOF, /* EOF after column definitions (no CLIENT_DEPRECATE_EOF) */
    RP_ROWS,        /* rows until EOF/OK or ERR */
    RP_INFILE,      /* backend asked for a LOCAL INFILE: waiting for the client's data */
    RP_PREP_PARAMS, /* prepare: parameter definitions */
    RP_PREP_PARAMS_EOF,
    RP_PREP_COLS, /* prepare: column definitions */
    RP_PREP_COLS_EOF,
};

/* What the packet just fed means. */
enum resp_event {
    RE_NONE = 0,   /* an ordinary packet inside a response */
    RE_RESULT_END, /* a result ended and another follows (MORE_RESULTS) */
    RE_DONE,       /* the response is complete */
    RE_INFILE,     /* LOCAL INFILE request: the client must now send the file */
    RE_BAD,        /* protocol violation: the backend connection can't be trusted */
};

struct rm_resp {
    enum resp_kind kind;
    enum resp_phase phase;
    bool deprecate_eof; /* backend negotiated CLIENT_DEPRECATE_EOF */
    bool session_track; /* backend negotiated CLIENT_SESSION_TRACK */
    bool continuation;  /* the next packet continues a 16 MiB payload */
    uint64_t left;      /* column/param definitions left in this phase */
    uint32_t prep_cols; /* prepare: column count, read before params end */
    uint64_t rows;      /* rows of the current result set */
    /* Facts about the last terminal packet (OK / EOF / ERR). */
    bool is_err;            /* the response ended in ERR */
    uint16_t status;        /* status flags of the last OK/EOF */
    uint16_t warnings;      /* warning count of the last OK/EOF */
    uint64_t affected_rows; /* from the last OK */
    uint64_t insert_id;     /* from the last OK */
    bool had_resultset;     /* the last result was a result set */
    uint64_t last_rows;     /* rows of the last complete result set */
};

/* Begin tracking the response to a command. */
void resp_start(struct rm_resp *r, enum resp_kind kind);
/* Must the packet starting with `first` (payload length plen) be seen whole
 * before it is acted on?  (Streamed packets are fed with whole=false.) */
bool resp_needs_whole(const struct rm_resp *r, uint8_t first, uint32_t plen);
/* Feed one packet: its payload length and, for whole packets, all of its
 * payload (for streamed ones only the first byte is given, n = 1). */
enum resp_event resp_feed(struct rm_resp *r, const uint8_t *payload, size_t n, uint32_t plen);
/* The response that expects the client's LOCAL INFILE data got it all:
 * back to expecting OK/ERR. */
void resp_infile_sent(struct rm_resp *r);
/* Expected response shape for a client command byte. */
enum resp_kind resp_kind_for(uint8_t cmd);

#endif
