/* posterior — one binary, many subcommands. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    pst_command_fn fn;
    const char *help;
} command;

static void usage(const command *cmds, int n) {
    printf("usage: posterior COMMAND [options]   (posterior COMMAND --help for details)\n\n"
           "Alignment as Bayesian inference: prior a(x), evidence b(x), posterior p(x) ~ a(x) b(x).\n\n"
           "commands:\n");
    for (int i = 0; i < n; i++)
        printf("  %-12s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv) {
    const command cmds[] = {
#define X(name, help) {#name, cmd_##name, help},
        POSTERIOR_COMMANDS(X)
#undef X
    };
    int n = (int)(sizeof cmds / sizeof cmds[0]);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(cmds, n);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) return cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "posterior: unknown command '%s' (posterior --help lists them)\n", argv[1]);
    return 2;
}
