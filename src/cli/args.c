#include "args.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *meta_of(pst_arg_kind k) {
    return k == ARG_FLAG ? "" : k == ARG_STRING ? " S" : k == ARG_DOUBLE || k == ARG_FLOAT ? " X" : " N";
}

/* " (default V)" from *dest, unless the help text words its own default */
static void print_default(const pst_arg *a) {
    if (strstr(a->help, "(default") || a->required) return;
    switch (a->kind) {
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
}

static void print_help(const char *command, const char *summary, const pst_arg *spec) {
    printf("usage: posterior %s [options]\n\n%s\n\noptions:\n", command, summary);
    for (const pst_arg *a = spec; a->name; a++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s", a->name, meta_of(a->kind));
        printf("  %-24s %s", left, a->help);
        if (a->choices) printf(" (%s)", a->choices);
        if (a->required && !strstr(a->help, "required")) printf(" (required)");
        print_default(a);
        if (a->alias) printf(" (old spelling: --%s)", a->alias);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

/* Parses v into *a->dest; 2 (message printed) when it is not a number of the kind. */
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

static double value_of(const pst_arg *a) {
    switch (a->kind) {
    case ARG_INT: return *(int *)a->dest;
    case ARG_LONG: return (double)*(long *)a->dest;
    case ARG_U64: return (double)*(uint64_t *)a->dest;
    case ARG_DOUBLE: return *(double *)a->dest;
    case ARG_FLOAT: return *(float *)a->dest;
    default: return 0;
    }
}

/* The table's range "MIN..MAX" (either side may be empty): 2 with a message when the
 * value lies outside. */
static int check_range(const char *command, const pst_arg *a) {
    const char *dots = strstr(a->range, "..");
    double lo = dots == a->range ? -INFINITY : strtod(a->range, NULL);
    double hi = dots[2] ? strtod(dots + 2, NULL) : INFINITY;
    double x = value_of(a);
    if (x >= lo && x <= hi) return 0;
    if (a->why) {
        fprintf(stderr, "posterior %s: --%s ", command, a->name);
        fprintf(stderr, a->why, x);
        fprintf(stderr, "\n");
    }
    else if (hi == INFINITY) fprintf(stderr, "posterior %s: --%s: must be at least %g, got %g\n", command, a->name, lo, x);
    else if (lo == -INFINITY) fprintf(stderr, "posterior %s: --%s: must be at most %g, got %g\n", command, a->name, hi, x);
    else fprintf(stderr, "posterior %s: --%s: must be in [%g, %g], got %g\n", command, a->name, lo, hi, x);
    return 2;
}

/* The word must be one of "a|b|c": 2 with a message naming them otherwise. */
static int check_choice(const char *command, const pst_arg *a) {
    const char *v = *(const char **)a->dest, *c = a->choices;
    size_t n = strlen(v);
    for (const char *p = c; p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL)
        if (strncmp(p, v, n) == 0 && (p[n] == '|' || p[n] == 0)) return 0;
    fprintf(stderr, "posterior %s: --%s: unknown value '%s' (one of: %s)\n", command, a->name, v, c);
    return 2;
}

/* After parsing: required options, ranges and words of the options given. */
static int check_spec(const char *command, const pst_arg *spec, const unsigned char *given) {
    for (int i = 0; spec[i].name; i++) {
        const pst_arg *a = &spec[i];
        if (a->required && !given[i]) {
            fprintf(stderr, "posterior %s: --%s is required\n", command, a->name);
            return 2;
        }
        if (!given[i]) continue;
        if (a->range && check_range(command, a)) return 2;
        if (a->choices && check_choice(command, a)) return 2;
    }
    return 0;
}

/* The entry named --name (or its old spelling), by the first nlen characters. */
static int find_arg(const pst_arg *spec, const char *name, size_t nlen) {
    for (int i = 0; spec[i].name; i++) {
        const char *al = spec[i].alias;
        if ((strlen(spec[i].name) == nlen && strncmp(spec[i].name, name, nlen) == 0) ||
            (al && strlen(al) == nlen && strncmp(al, name, nlen) == 0))
            return i;
    }
    return -1;
}

int pst_args_parse(const char *command, const char *summary, const pst_arg *spec, int argc, char **argv,
                   int *npos) {
    unsigned char given[PST_ARGS_MAX] = {0};
    return pst_args_parse_given(command, summary, spec, argc, argv, npos, given);
}

int pst_args_parse_given(const char *command, const char *summary, const pst_arg *spec, int argc, char **argv,
                         int *npos, unsigned char *given) {
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
            return 0;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int k = find_arg(spec, name, nlen);
        if (k < 0) {
            fprintf(stderr, "posterior %s: unknown option '--%.*s' (see --help)\n", command, (int)nlen, name);
            return 2;
        }
        const pst_arg *a = &spec[k];
        given[k < PST_ARGS_MAX ? k : PST_ARGS_MAX - 1] = 1;
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
        if (set_value(command, a, v)) return 2;
    }
    if (np && !npos) {
        fprintf(stderr, "posterior %s: unexpected argument '%s' (see --help)\n", command, pos[0]);
        return 2;
    }
    if (npos) *npos = np;
    return check_spec(command, spec, given) ? 2 : PST_ARGS_RUN;
}

/* The option field an entry sets: .field, or the name with '-' as '_'. */
static void field_of(const pst_arg *a, char f[64]) {
    snprintf(f, 64, "%s", a->field ? a->field : a->name);
    for (char *c = f; *c; c++)
        if (*c == '-') *c = '_';
}

/* The flag of an option field: the entry whose field it is. */
static const pst_arg *flag_of_field(const pst_arg *spec, const char *field) {
    for (const pst_arg *a = spec; a->name; a++) {
        char f[64];
        field_of(a, f);
        if (strcmp(f, field) == 0) return a;
    }
    return NULL;
}

/* 1 when the saved JSON value j equals *a->dest (numbers as the kind stores them). */
static int same_value(const pst_arg *a, const cJSON *j) {
    if (a->kind == ARG_STRING) return cJSON_IsString(j) && *(const char **)a->dest && !strcmp(j->valuestring, *(const char **)a->dest);
    if (a->kind == ARG_FLAG) return cJSON_IsBool(j) && cJSON_IsTrue(j) == (*(int *)a->dest != 0);
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble >= 1e300 ? INFINITY : j->valuedouble; /* run.json writes inf as 1e300 */
    if (a->kind == ARG_FLOAT) return (float)v == *(float *)a->dest;
    return v == value_of(a);
}

/* *a->dest = the saved JSON value (strings point into j: keep it alive). */
static void set_saved(const pst_arg *a, const cJSON *j) {
    double v = cJSON_IsNumber(j) ? (j->valuedouble >= 1e300 ? INFINITY : j->valuedouble) : 0;
    switch (a->kind) {
    case ARG_FLAG: *(int *)a->dest = cJSON_IsTrue(j); break;
    case ARG_INT: *(int *)a->dest = (int)v; break;
    case ARG_LONG: *(long *)a->dest = (long)v; break;
    case ARG_U64: *(uint64_t *)a->dest = (uint64_t)v; break;
    case ARG_DOUBLE: *(double *)a->dest = v; break;
    case ARG_FLOAT: *(float *)a->dest = (float)v; break;
    case ARG_STRING:
        if (cJSON_IsString(j)) *(const char **)a->dest = j->valuestring;
        break;
    }
}

static void print_saved(const cJSON *j, char *buf, size_t cap) {
    char *t = cJSON_PrintUnformatted(j);
    snprintf(buf, cap, "%s", t ? t : "?");
    free(t);
}

int pst_args_resume(const char *command, const pst_arg *spec, const unsigned char *given, const char *run_json,
                    void **saved) {
    *saved = NULL;
    char *text = NULL;
    size_t len;
    pst_error err = {0};
    if (!pst_file_exists(run_json)) return PST_ARGS_RUN; /* killed before it was written: nothing saved */
    if (pst_read_file(run_json, &text, &len, &err) < 0) return pst_cli_fail(command, NULL, &err);
    cJSON *run = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(run)) {
        cJSON_Delete(run);
        fprintf(stderr, "posterior %s: --resume: %s is not a JSON object\n", command, run_json);
        return 1;
    }
    for (int i = 0; spec[i].name; i++) {
        char f[64];
        field_of(&spec[i], f);
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(run, f);
        if (!j) continue;
        if (!given[i]) {
            set_saved(&spec[i], j);
        } else if (!spec[i].resume_may_change && !same_value(&spec[i], j)) {
            char was[256];
            print_saved(j, was, sizeof was);
            fprintf(stderr, "posterior %s: --resume: --%s differs from the run being resumed (%s has %s %s); "
                    "drop --%s to continue with the saved value, or start a new run\n",
                    command, spec[i].name, run_json, f, was, spec[i].name);
            cJSON_Delete(run);
            return 2;
        }
    }
    *saved = run;
    return PST_ARGS_RUN;
}

int pst_cli_fail(const char *command, const pst_arg *spec, const pst_error *err) {
    const pst_arg *a = err->field[0] && spec ? flag_of_field(spec, err->field) : NULL;
    char flag[80] = "";
    if (a) snprintf(flag, sizeof flag, "--%s", a->name);
    if (a && !strstr(err->msg, flag)) fprintf(stderr, "posterior %s: %s (%s)\n", command, err->msg, flag);
    else fprintf(stderr, "posterior %s: %s\n", command, err->msg);
    return 1;
}

int pst_subcommand_run(const char *command, const char *usage, const pst_subcommand *subs, int argc, char **argv) {
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        printf("%s", usage);
        return 0;
    }
    char names[256] = "";
    for (const pst_subcommand *s = subs; s->name; s++) {
        if (argc >= 1 && strcmp(argv[0], s->name) == 0) return s->run(argc - 1, argv + 1);
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", s == subs ? "" : ", ", s->name);
    }
    if (argc < 1) fprintf(stderr, "posterior %s: expected a subcommand: %s\n\n%s", command, names, usage);
    else fprintf(stderr, "posterior %s: unknown subcommand '%s' (expected %s)\n", command, argv[0], names);
    return 2;
}

int pst_args_given(const pst_arg *spec, const unsigned char *given, const char *name) {
    for (int i = 0; spec[i].name && i < PST_ARGS_MAX; i++)
        if (strcmp(spec[i].name, name) == 0) return given[i];
    return 0;
}
