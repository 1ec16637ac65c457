/* The CLI's side of a data-parallel run (docs/scaling.md): errors said once. */
#ifndef POSTERIOR_CLI_RANKS_H
#define POSTERIOR_CLI_RANKS_H

#include "cli/args.h"
#include "posterior/comm.h"

/* An error of `command`: said by this rank unless every rank found it (its message is then
 * empty on the ranks other than 0: comm.h), with "rank K: " when K is not 0. Returns 1. */
int pst_cli_fail_ranks(const char *command, const pst_comm *w, const pst_arg *spec, pst_error *err);

#endif
