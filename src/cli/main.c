/* posterior — one binary, many subcommands. */
#include "cli/omp_defaults.h"
#include "commands.h"
#include "posterior/comm.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#ifdef POSTERIOR_HAVE_MPI
#include <mpi.h>
#endif

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
static int data_parallel(const char *name, int argc, char **argv) {
    if (strcmp(name, "target") == 0) return argc > 2 && strcmp(argv[2], "estimate") == 0;
    return strcmp(name, "train") == 0 || strcmp(name, "tune") == 0 || strcmp(name, "eval") == 0;
}

/* The commands whose work runs on OpenMP threads (models, samplers, trainers): they
 * start with the CLI's OpenMP defaults (cli/omp_defaults.h). */
static int computes(const char *name) {
    static const char *const names[] = {"train", "sample", "logprob", "score", "target", "tune",
                                        "pretrain", "eval", "rm", "pairs"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

/* MPI for the whole program (the library never initialises it): MPI_Init_thread, with
 * MPI called from the main thread only, when a launcher started this process; nothing
 * otherwise. A build without MPI started as one of several processes refuses: each
 * would run the whole command and write the same files. */
static int mpi_start(int *argc, char ***argv, pst_error *err) {
    int n = pst_env_mpi_size();
#ifdef POSTERIOR_HAVE_MPI
    int provided = 0;
    if (n > 0 && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return pst_fail(err, "MPI_Init_thread failed");
#else
    if (n > 1)
        return pst_fail(err, "started by an MPI launcher as one of %d processes, but this build has no MPI "
                        "(POSTERIOR_MPI=OFF or no libopenmpi-dev): each would run the whole command alone; "
                        "start it without mpirun or build with MPI", n);
#endif
    return 0;
}

/* After the command: a failure (rc != 0) on any rank of a job of several ends the whole
 * job (MPI_Abort), so no rank waits forever in a collective call for one that has
 * stopped; else MPI_Finalize. Nothing when MPI was not started. Rank 0, which reports an
 * error that every rank found, ends the job 0.2 s after its message, the other ranks
 * 2 s after theirs: Open MPI may drop the last output of a process that it kills, and
 * two ranks aborting at once garble its own notice. */
static void mpi_end(int rc) {
#ifdef POSTERIOR_HAVE_MPI
    pst_comm w = pst_comm_world();
    if (!w.mpi) return;
    if (rc != 0 && w.size > 1) {
        fflush(stdout), fflush(stderr);
        struct timespec wait = {w.rank == 0 ? 0 : 2, w.rank == 0 ? 200000000L : 0};
        nanosleep(&wait, NULL);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    pst_comm_release();
    MPI_Finalize();
#else
    (void)rc;
#endif
}

/* One command, inside MPI when started by mpirun (mpi_start, mpi_end). */
static int run_command(const command *cmd, int argc, char **argv) {
    pst_error err = {0};
    if (computes(cmd->name)) pst_cli_omp_defaults(argv);
    if (mpi_start(&argc, &argv, &err)) {
        fprintf(stderr, "posterior %s: %s\n", cmd->name, err.msg);
        return 1;
    }
    pst_comm w = pst_comm_world();
    int rc;
    if (w.size > 1 && !data_parallel(cmd->name, argc, argv)) {
        if (w.rank == 0)
            fprintf(stderr, "posterior %s: does not run data parallel yet; start it without mpirun "
                    "(under mpirun: posterior train, tune, eval, target estimate)\n", cmd->name);
        rc = 2;
    } else {
        rc = cmd->fn(argc - 2, argv + 2);
    }
    mpi_end(rc);
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
