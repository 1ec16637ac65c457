/* What the training commands (train, pretrain) share around the library's MLE loop. */
#ifndef POSTERIOR_CLI_STEPS_H
#define POSTERIOR_CLI_STEPS_H

#include "posterior/train.h"

/* The step callback's state: --print-every, --stop-at, and the last step seen. */
typedef struct {
    long print_every, stop_at;
    pst_mle_step last;
} pst_cli_steps;

/* pst_mle_callback: an optional stderr line per step; stops (with a checkpoint) once step
 * stop_at is done. ctx: a pst_cli_steps. */
int pst_cli_on_step(void *ctx, const pst_mle_step *s);

/* Flushes stdout: -1 with "cannot write to stdout" in err when that fails (a full disk,
 * a closed pipe), so a command's last output is never silently lost. */
int pst_cli_flush_stdout(pst_error *err);

/* "posterior COMMAND: warning: WHAT: PATH lines L1, L2, ... and K more" on stderr, the
 * first 5 lines named (of a prompts file, say); nothing when n is 0. */
void pst_cli_warn_lines(const char *command, const char *what, const char *path, const long *lines, int n);

#endif
