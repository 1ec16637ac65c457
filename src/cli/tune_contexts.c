/* tune's report on its contexts (tune_contexts.h). */
#include "cli/tune_contexts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/steps.h"

int pst_tune_on_step(void *ctx, const pst_dpg_step *m) {
    pst_tune_contexts *c = ctx;
    c->step = m->step;
    if (m->n_contexts <= 0 || !m->context_seen || !m->context_hits) return 0;
    if (c->n != m->n_contexts) {
        pst_error err = {0};
        free(c->seen);
        c->seen = pst_calloc(2 * (size_t)m->n_contexts, sizeof(double), &err);
        c->n = c->seen ? m->n_contexts : 0;
        c->hits = c->seen ? c->seen + c->n : NULL;
        if (!c->seen) return 0; /* no report then; training goes on */
    }
    memcpy(c->seen, m->context_seen, sizeof(double) * (size_t)c->n);
    memcpy(c->hits, m->context_hits, sizeof(double) * (size_t)c->n);
    return 0;
}

void pst_tune_contexts_free(pst_tune_contexts *c) {
    free(c->seen);
    memset(c, 0, sizeof *c);
}

/* The lines of the contexts i with want(i) into out; returns how many. */
static int lines_where(const pst_tune_contexts *c, const long *lines, int zero_z, long *out) {
    int k = 0;
    for (int i = 0; i < c->n; i++)
        if (zero_z ? c->seen[i] > 0 && c->hits[i] == 0 : c->seen[i] == 0) out[k++] = lines ? lines[i] : i + 1;
    return k;
}

int pst_tune_report(const pst_tune_contexts *c, const char *prompts_path, const long *lines, const char *model,
                    long steps, pst_error *err) {
    long *zl = c->n ? pst_calloc(2 * (size_t)c->n, sizeof(long), err) : NULL, *ul = zl ? zl + c->n : NULL;
    if (c->n && !zl) return -1;
    int nz = zl ? lines_where(c, lines, 1, zl) : 0, nu = zl ? lines_where(c, lines, 0, ul) : 0;
    char what[160];
    snprintf(what, sizeof what, "%d of %d contexts never had a sample with P(x) > 0 (Z_c estimate 0: skipped, no "
                                "gradient from them)", nz, c->n);
    pst_cli_warn_lines("tune", what, prompts_path, zl, nz);
    snprintf(what, sizeof what, "%d of %d contexts were never drawn (steps x batch < contexts)", nu, c->n);
    pst_cli_warn_lines("tune", what, prompts_path, ul, nu);
    char *q = pst_json_quote(model, strlen(model), NULL);
    printf("{\"model\": %s, \"steps\": %ld", q ? q : "null", steps);
    free(q);
    if (c->n > 0) {
        printf(", \"n_contexts\": %d, \"zero_z_contexts\": %d, \"zero_z_lines\": [", c->n, nz);
        for (int i = 0; i < nz; i++) printf("%s%ld", i ? ", " : "", zl[i]);
        printf("], \"undrawn_contexts\": %d", nu);
    }
    printf("}\n");
    free(zl);
    return pst_cli_flush_stdout(err);
}
