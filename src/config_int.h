/* Internals of the configuration reader, shared by src/config*.c only:
 * the key table, the sections, the parse state and the helpers the files
 * call across.  Not part of the public API (include/ringmux/config.h). */
#ifndef RINGMUX_CONFIG_INT_H
#define RINGMUX_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ringmux/config.h"

/* Upper bound of the key table's length (parse-state arrays are sized by it). */
#define CFG_MAX_KEYS  64
#define MAX_USER_NAME 80 /* MariaDB's limit on user names, in bytes here */

enum cfg_section { SEC_RINGMUX, SEC_BACKEND, SEC_POOL, SEC_MONITOR, SEC_ADMIN, SEC_TLS, SEC_USERS, SEC_COUNT };
/* Only in the secrets file; not part of the key table or the example. */
enum { SEC_TOKEN_KEYS = SEC_COUNT };

/* Parser positions that are not a known section. */
enum { SEC_NONE = -1 /* before any header */, SEC_BAD = -2 /* after a bad header */ };

struct cfg_section_def {
    const char *name; /* name inside the brackets */
    const char *help; /* comment printed above the section */
};
extern const struct cfg_section_def cfg_sections[SEC_COUNT];

enum cfg_type { CFG_STR, CFG_INT, CFG_ENUM, CFG_DURATION, CFG_SIZE, CFG_ADDR, CFG_HOSTPORT };

#define CFG_RELOAD   1u /* takes effect on reload; otherwise needs a restart */
#define CFG_REQUIRED 2u /* no default: the file must set it */
#define CFG_BACKEND  4u /* a [backend.NAME] key: off is into struct rm_backend_cfg */

/* One configuration key. */
struct cfg_key {
    enum cfg_section sec;     /* section it lives in */
    const char *name;         /* key name (matched case-insensitively) */
    enum cfg_type type;       /* value syntax and field type */
    size_t off;               /* offsetof(struct rm_config, field) */
    const char *def;          /* default as text; NULL when unset or required */
    int64_t min, max;         /* bounds (ms, bytes, port); unused for enum/text */
    unsigned flags;           /* CFG_RELOAD, CFG_REQUIRED */
    const char *help;         /* one-line description */
    const char *const *words; /* words meaning 0, 1, ...: enum names, "auto" */
    const char *example;      /* value shown in the example file when def is NULL */
};

#define MS_1H   (3600 * 1000LL)
#define DUR_MAX (8760 * MS_1H) /* a year: keeps ms -> ns conversions far from overflow */

/* State of one cfg_load() call; the reader and the handler share it. */
struct cfg_parse {
    struct rm_config *c;                          /* config being filled */
    const char *path;                             /* file name used in messages */
    FILE *f;                                      /* the open file */
    char *line;                                   /* getline() buffer */
    size_t cap;                                   /* its size */
    int lineno;                                   /* line the reader last returned */
    int sec;                                      /* current section: enum cfg_section, SEC_NONE or SEC_BAD */
    int be;                                       /* SEC_BACKEND: index of the current backend in c->backends */
    int set_at[CFG_MAX_KEYS];                     /* line each key was set on, 0 = not set */
    int be_set_at[RM_MAX_BACKENDS][CFG_MAX_KEYS]; /* the same per backend, for CFG_BACKEND keys */
    int be_line[RM_MAX_BACKENDS];                 /* line of each backend's section header */
    bool be_plain;                                /* a [backend] section (no NAME) was seen */
    int *user_lines;                              /* line each user was defined on */
    const char **user_src;                        /* and in which file */
    bool secrets;                                 /* reading the secrets file: only [users] and [token_keys] */
    int token_lines[RM_MAX_TOKEN_KEYS];           /* line of each token key */
    size_t user_cap;                              /* capacity of c->users and user_lines */
    char *err;                                    /* caller's error buffer, may be NULL */
    size_t errlen;                                /* its size */
    size_t errused;                               /* bytes written, without the NUL */
    unsigned nerr;                                /* errors found */
    unsigned ndropped;                            /* errors that did not fit in err */
};

/* The key table (config.c) and its length. */
extern const struct cfg_key cfg_keys[];
extern const size_t cfg_nkeys;

/* config.c */
__attribute__((format(printf, 3, 4))) void cfg_err(struct cfg_parse *p, int line, const char *fmt, ...);
const char *cfg_show(const char *s, char *buf, size_t len);
char *cfg_read_line(char *buf, int num, void *stream);
int cfg_on_key(void *user, const char *section, const char *name, const char *value);
const char *cfg_expect(const struct cfg_key *k, char *buf, size_t len);

/* config_values.c: value syntax */
int cfg_parse_int(const char *s, int64_t *out);
int cfg_word(const char *const *words, const char *s);
/* v in the largest unit of a CFG_DURATION / CFG_SIZE that divides it. */
void cfg_fmt_num(int type, int64_t v, char *buf, size_t len);

/* config_secrets.c: [users], [token_keys], the secrets file, the environment */
void cfg_user_line(struct cfg_parse *p, const char *name, const char *password);
void cfg_token_key_line(struct cfg_parse *p, const char *name, const char *value);
void cfg_load_secrets(struct cfg_parse *p);
/* Read the [tls] certificate files into p->c and check they make a usable
 * TLS setup (key matches certificate, PEM parses). */
void cfg_load_tls(struct cfg_parse *p);
/* Wipe and free a loaded file. */
void cfg_free_pem(struct rm_pem *pem);
void cfg_env_passwords(struct rm_config *c);

#endif
