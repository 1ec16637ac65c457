/* posterior — one binary, many subcommands. */
#include "commands.h"
#include "posterior/comm.h"

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

/* The commands that run data parallel under mpirun (docs/scaling.md); under mpirun with
 * more than one rank, any other command is refused before it writes anything. */
static int data_parallel(const char *name) { return strcmp(name, "train") == 0; }

/* One command, inside MPI when started by mpirun (pst_comm_init: nothing otherwise):
 * a failure on any rank of a job of several ends the whole job (pst_comm_abort), so no
 * rank waits forever in a collective call for one that has stopped. */
static int run_command(const command *cmd, int argc, char **argv) {
    pst_error err = {0};
    if (pst_comm_init(&argc, &argv, &err)) {
        fprintf(stderr, "posterior %s: %s\n", cmd->name, err.msg);
        return 1;
    }
    pst_comm w = pst_comm_world();
    int rc;
    if (w.size > 1 && !data_parallel(cmd->name)) {
        if (w.rank == 0)
            fprintf(stderr, "posterior %s: does not run data parallel yet; start it without mpirun "
                    "(under mpirun: posterior train)\n", cmd->name);
        rc = 2;
    } else {
        rc = cmd->fn(argc - 2, argv + 2);
    }
    if (rc != 0) pst_comm_abort(rc);
    pst_comm_finalize();
    return rc;
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
        if (strcmp(argv[1], cmds[i].name) == 0) return run_command(&cmds[i], argc, argv);
    fprintf(stderr, "posterior: unknown command '%s' (posterior --help lists them)\n", argv[1]);
    return 2;
}
