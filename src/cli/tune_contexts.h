/* What tune (and eval) say about the contexts of a prompts file: the step callback that
 * keeps the trainer's per-context counts, the warning naming the contexts that never had
 * a sample with P(x) > 0 by their lines, and tune's one-line summary on stdout. */
#ifndef POSTERIOR_CLI_TUNE_CONTEXTS_H
#define POSTERIOR_CLI_TUNE_CONTEXTS_H

#include "posterior/dpg.h"

/* The last step's per-context counts (pst_dpg_step), copied by pst_tune_on_step. */
typedef struct {
    int n;               /* contexts (0: unconditional) */
    double *seen, *hits; /* [n] samples drawn, and with P > 0, so far */
    long step;
} pst_tune_contexts;

/* pst_dpg_callback: copies the step's counts into ctx (a pst_tune_contexts); never stops. */
int pst_tune_on_step(void *ctx, const pst_dpg_step *m);
void pst_tune_contexts_free(pst_tune_contexts *c);

/* After training: the warnings (contexts with no sample of P > 0, contexts never drawn,
 * named by their lines of prompts_path) and the one-line JSON summary on stdout:
 * {"model": DIR, "steps": N, "n_contexts": G, "zero_z_contexts": K, "zero_z_lines": [...],
 *  "undrawn_contexts": U} (the context keys only for a conditional run). */
int pst_tune_report(const pst_tune_contexts *c, const char *prompts_path, const long *lines, const char *model,
                    long steps, pst_error *err);

#endif
