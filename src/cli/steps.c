#include "cli/steps.h"

#include <stdio.h>

int pst_cli_on_step(void *ctx, const pst_mle_step *s) {
    pst_cli_steps *c = ctx;
    c->last = *s;
    if (c->print_every > 0 && s->step % c->print_every == 0)
        fprintf(stderr, "step %ld  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tok/s\n", s->step, s->loss, s->lr,
                s->grad_norm, s->tokens_per_s);
    return c->stop_at > 0 && s->step >= c->stop_at;
}

int pst_cli_flush_stdout(pst_error *err) {
    return fflush(stdout) != 0 ? pst_fail(err, "cannot write to stdout") : 0;
}
