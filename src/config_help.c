/* --help-config and --example-config, from the key table
 * (src/config_int.h). */
#include <string.h>

#include "config_int.h"

/* Default as shown in help: the text, "(required)" or "(unset)". */
static const char *cfg_default_text(const struct cfg_key *k)
{
    return k->def ? k->def : (k->flags & CFG_REQUIRED) ? "(required)" : "(unset)";
}

static const char *cfg_reload_text(const struct cfg_key *k)
{
    return k->flags & CFG_RELOAD ? "reloadable" : "restart to change";
}

/* Print each '\n'-separated line of text after prefix (trailing spaces of
 * the prefix are dropped on empty lines). */
static void cfg_lines(FILE *f, const char *prefix, const char *text)
{
    int plen = (int)strcspn(prefix, " ");
    for (const char *nl;; text = nl + 1) {
        nl = strchr(text, '\n');
        int len = nl ? (int)(nl - text) : (int)strlen(text);
        fprintf(f, "%.*s%.*s\n", len ? (int)strlen(prefix) : plen, prefix, len, text);
        if (!nl)
            break;
    }
}

void cfg_print_help(FILE *f)
{
    char form[160];
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        fprintf(f, "[%s] %s = %s  (%s; %s)\n    %s\n", cfg_sections[k->sec].name, k->name, cfg_default_text(k),
                cfg_expect(k, form, sizeof(form)), cfg_reload_text(k), k->help);
    }
    fprintf(f, "[users] NAME = PASSWORD  (one line per user, at least one; reloadable)\n");
    cfg_lines(f, "    ", cfg_sections[SEC_USERS].help);
}

void cfg_write_example(FILE *f)
{
    char form[160];
    cfg_lines(f, "# ",
              "ringmux example configuration, generated from the key table in\n"
              "src/config.c by cfg_write_example(); every key is shown with its default.\n"
              "\n"
              "Syntax: \"key = value\" lines under [section] headers.  Lines starting with\n"
              "# or ; are comments, and \" ;\" (a semicolon after a space) starts a comment\n"
              "after a value.  Keys are case-insensitive; lines are limited to 199\n"
              "characters.  Durations: 500ms, 5s, 2m, 1h.  Sizes: 512, 64k, 16M, 1G.\n"
              "Addresses: 192.0.2.1:6033, localhost:6033 or [::1]:6033.  Keys marked\n"
              "reloadable take effect on a reload; the others need a restart.");
    for (int s = 0; s < SEC_COUNT; s++) {
        fprintf(f, "\n[%s]\n", cfg_sections[s].name);
        cfg_lines(f, "# ", cfg_sections[s].help);
        for (size_t i = 0; i < cfg_nkeys; i++) {
            const struct cfg_key *k = &cfg_keys[i];
            if ((int)k->sec != s)
                continue;
            fprintf(f, "\n# %s\n# Expects %s; %s.\n", k->help, cfg_expect(k, form, sizeof(form)), cfg_reload_text(k));
            if (k->def)
                fprintf(f, "%s = %s\n", k->name, k->def);
            else
                fprintf(f, "%s%s = %s\n", (k->flags & CFG_REQUIRED) ? "" : "# ", k->name, k->example);
        }
    }
    fprintf(f, "\napp = app-password\n");
}
