/* Command-line option parsing shared by every subcommand.
 *
 * Each subcommand declares a table of options; pst_args_parse fills the
 * destinations, prints --help from the table, and names the flag in every error.
 * Options are "--name value" or "--name=value"; flags take no value. Arguments
 * that are not options are moved, in order, to argv[0..*npos). */
#ifndef POSTERIOR_CLI_ARGS_H
#define POSTERIOR_CLI_ARGS_H

#include <stdint.h>

typedef enum { ARG_FLAG, ARG_INT, ARG_LONG, ARG_U64, ARG_DOUBLE, ARG_FLOAT, ARG_STRING } pst_arg_kind;

typedef struct {
    const char *name;   /* without the leading "--" */
    pst_arg_kind kind;
    void *dest;         /* int*, long*, uint64_t*, double*, float*, const char** */
    const char *help;   /* one line; the default is printed from *dest */
} pst_arg;

/* Returns 0 when parsed, 1 when --help was printed (exit 0), 2 on a usage error
 * (message printed to stderr; exit 2). spec ends with {0}. */
int pst_args_parse(const char *command, const char *summary, const pst_arg *spec,
                   int argc, char **argv, int *npos);

#endif
