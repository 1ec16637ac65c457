#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(const char *command, const char *summary, const pst_arg *spec) {
    printf("usage: posterior %s [options]\n\n%s\n\noptions:\n", command, summary);
    for (const pst_arg *a = spec; a->name; a++) {
        char left[64];
        const char *meta = a->kind == ARG_FLAG ? "" : a->kind == ARG_STRING ? " S"
                         : a->kind == ARG_DOUBLE || a->kind == ARG_FLOAT ? " X" : " N";
        snprintf(left, sizeof left, "--%s%s", a->name, meta);
        printf("  %-24s %s", left, a->help);
        /* a help text that words its own default ("(default: constant)") gets no number */
        switch (strstr(a->help, "(default") ? ARG_FLAG : a->kind) {
        case ARG_INT: printf(" (default %d)", *(int *)a->dest); break;
        case ARG_LONG: printf(" (default %ld)", *(long *)a->dest); break;
        case ARG_U64: printf(" (default %" PRIu64 ")", *(uint64_t *)a->dest); break;
        case ARG_DOUBLE: printf(" (default %g)", *(double *)a->dest); break;
        case ARG_FLOAT: printf(" (default %g)", *(float *)a->dest); break;
        case ARG_STRING:
            if (*(const char **)a->dest) printf(" (default %s)", *(const char **)a->dest);
            break;
        case ARG_FLAG: break;
        }
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

static int set_value(const char *command, const pst_arg *a, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (a->kind) {
    case ARG_INT:
    case ARG_LONG: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || (a->kind == ARG_INT && (x < -2147483647L || x > 2147483647L)))
            goto bad;
        if (a->kind == ARG_INT) *(int *)a->dest = (int)x;
        else *(long *)a->dest = x;
        return 0;
    }
    case ARG_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-') goto bad;
        *(uint64_t *)a->dest = x;
        return 0;
    }
    case ARG_DOUBLE:
    case ARG_FLOAT: {
        double x = strtod(v, &end);
        if (errno || end == v || *end) goto bad;
        if (a->kind == ARG_DOUBLE) *(double *)a->dest = x;
        else *(float *)a->dest = (float)x;
        return 0;
    }
    case ARG_STRING: *(const char **)a->dest = v; return 0;
    case ARG_FLAG: return 0;
    }
bad:
    fprintf(stderr, "posterior %s: --%s: '%s' is not a valid %s\n", command, a->name, v,
            a->kind == ARG_DOUBLE || a->kind == ARG_FLOAT ? "number" : "integer");
    return 2;
}

int pst_args_parse(const char *command, const char *summary, const pst_arg *spec,
                   int argc, char **argv, int *npos) {
    int np = 0;
    char **pos = argv; /* positionals are compacted in place */
    for (int i = 0; i < argc; i++) {
        char *s = argv[i];
        if (strcmp(s, "--") == 0) {
            for (i++; i < argc; i++) pos[np++] = argv[i];
            break;
        }
        if (strncmp(s, "--", 2) != 0 || s[2] == 0) {
            pos[np++] = s;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            print_help(command, summary, spec);
            return 1;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const pst_arg *a = NULL;
        for (const pst_arg *c = spec; c->name; c++)
            if (strlen(c->name) == nlen && strncmp(c->name, name, nlen) == 0) a = c;
        if (!a) {
            fprintf(stderr, "posterior %s: unknown option '--%.*s' (see --help)\n", command, (int)nlen, name);
            return 2;
        }
        if (a->kind == ARG_FLAG) {
            if (eq) {
                fprintf(stderr, "posterior %s: --%s takes no value\n", command, a->name);
                return 2;
            }
            *(int *)a->dest = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "posterior %s: --%s needs a value\n", command, a->name);
            return 2;
        }
        int rc = set_value(command, a, v);
        if (rc) return rc;
    }
    *npos = np;
    return 0;
}
