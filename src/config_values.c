/* Configuration values: durations, sizes, addresses, host names, integers
 * and words (src/config_int.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

/* ---- value syntax ------------------------------------------------------- */

/* A unit suffix and what it multiplies by. */
struct cfg_unit {
    const char *suffix;
    int64_t mult;
};

static const struct cfg_unit cfg_dur_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", MS_1H}, {NULL, 0}};
static const struct cfg_unit cfg_size_units[] = {
    {"", 1},        {"k", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, /* first: used for printing */
    {"K", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {NULL, 0}};

/* Parse "DIGITS SUFFIX" where SUFFIX is one of units; -1 on anything else
 * or on overflow. */
static int cfg_parse_scaled(const char *s, const struct cfg_unit *units, int64_t *out)
{
    int64_t v = 0;
    const char *d = s;
    for (; *d >= '0' && *d <= '9'; d++) {
        if (v > (INT64_MAX - (*d - '0')) / 10)
            return -1;
        v = v * 10 + (*d - '0');
    }
    if (d == s)
        return -1;
    for (const struct cfg_unit *u = units; u->suffix; u++) {
        if (strcmp(d, u->suffix) == 0) {
            if (v > INT64_MAX / u->mult)
                return -1;
            *out = v * u->mult;
            return 0;
        }
    }
    return -1;
}

int cfg_parse_duration_ms(const char *s, int64_t *out)
{
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    return cfg_parse_scaled(s, cfg_dur_units, out);
}

int cfg_parse_size(const char *s, int64_t *out)
{
    return cfg_parse_scaled(s, cfg_size_units, out);
}

/* "host:port": where the host ends (the last ':'), NULL unless the port is
 * 0..65535 in decimal digits. */
static const char *cfg_split_port(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return NULL;
    const char *port = colon + 1;
    size_t plen = strlen(port);
    if (plen < 1 || plen > 5 || strspn(port, "0123456789") != plen || atol(port) > 65535)
        return NULL;
    return colon;
}

int cfg_parse_addr(const char *s, struct rm_addr *out)
{
    const char *colon = cfg_split_port(s);
    if (!colon)
        return -1;
    size_t hlen = (size_t)(colon - s);
    const char *port = colon + 1;

    char host[sizeof(out->host)];
    unsigned char bin[16];
    int family = AF_INET;
    if (s[0] == '[') {
        /* IPv6 literal: "[addr]:port", stored without the brackets */
        if (hlen < 3 || s[hlen - 1] != ']')
            return -1;
        s++;
        hlen -= 2;
        family = AF_INET6;
    }
    if (hlen >= sizeof(host))
        return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (family == AF_INET && strcasecmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    else if (inet_pton(family, host, bin) != 1)
        return -1;
    strcpy(out->host, host);
    out->port = (uint16_t)atol(port);
    return 0;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and '-' (not
 * at either end), each 1..63 bytes, 253 in all. */
static bool cfg_host_name_ok(const char *h)
{
    size_t n = strlen(h), label = 0;
    if (n == 0 || n > 253)
        return false;
    const char *last = strrchr(h, '.');
    last = last ? last + 1 : h;
    if (strspn(last, "0123456789") == strlen(last))
        return false; /* a numeric top label: a mistyped IPv4 address, not a name */
    for (size_t i = 0; i <= n; i++) {
        char c = h[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && label > 0))
            return false;
        label++;
    }
    return true;
}

int cfg_parse_hostport(const char *s, struct rm_addr *out)
{
    if (s[0] == '[')
        return cfg_parse_addr(s, out); /* IPv6 literal */
    const char *colon = cfg_split_port(s);
    if (!colon || (size_t)(colon - s) >= sizeof(out->host))
        return -1;
    const char *port = colon + 1;
    char host[sizeof(out->host)];
    unsigned char bin[4];
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    /* An IPv4 literal, or a name ("localhost" included: all its addresses
     * are tried, as for any name). */
    if (inet_pton(AF_INET, host, bin) != 1 && !cfg_host_name_ok(host))
        return -1;
    strcpy(out->host, host);
    out->port = (uint16_t)atol(port);
    return 0;
}

/* Parse an optionally negative decimal integer; out-of-int64 values
 * saturate so that the bounds check reports them. */
int cfg_parse_int(const char *s, int64_t *out)
{
    const char *d = s + (s[0] == '-');
    if (!*d || strspn(d, "0123456789") != strlen(d))
        return -1;
    *out = strtoll(s, NULL, 10);
    return 0;
}

/* Index of s in a NULL-terminated word list (case-insensitive), or -1. */
int cfg_word(const char *const *words, const char *s)
{
    for (int i = 0; words && words[i]; i++)
        if (strcasecmp(words[i], s) == 0)
            return i;
    return -1;
}

/* Write v in k's unit, in the form the file accepts: 1024 bytes -> "1k". */
void cfg_fmt_num(int type, int64_t v, char *buf, size_t len)
{
    const struct cfg_unit *units = type == CFG_DURATION ? cfg_dur_units : type == CFG_SIZE ? cfg_size_units : NULL;
    const struct cfg_unit *best = NULL;
    for (const struct cfg_unit *u = units; v != 0 && u && u->suffix; u++)
        if (v % u->mult == 0 && (!best || u->mult > best->mult))
            best = u;
    snprintf(buf, len, "%lld%s", (long long)(best ? v / best->mult : v), best ? best->suffix : "");
}
