/* The CLI's side of a data-parallel run (ranks.h). */
#include "cli/ranks.h"

int pst_cli_fail_ranks(const char *command, const pst_comm *w, const pst_arg *spec, pst_error *err) {
    if (!err->msg[0]) return 1;
    if (w->size > 1 && w->rank != 0) pst_fail_context(err, "rank %d", w->rank);
    return pst_cli_fail(command, spec, err);
}
