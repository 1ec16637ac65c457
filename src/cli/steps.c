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

void pst_cli_warn_lines(const char *command, const char *what, const char *path, const long *lines, int n) {
    if (n <= 0) return;
    fprintf(stderr, "posterior %s: warning: %s: %s line%s ", command, what, path, n > 1 ? "s" : "");
    int show = n < 5 ? n : 5;
    for (int i = 0; i < show; i++) fprintf(stderr, "%s%ld", i ? ", " : "", lines[i]);
    if (n > show) fprintf(stderr, " and %d more", n - show);
    fputc('\n', stderr);
}
