/* Evaluation per context of a conditional target: each context c of a prompts file gets
 * its own pst_target_eval (samples of π_c, exact samples of p_c by rejection from a_c),
 * and the measures are averaged over contexts:
 *   E_π[b | c], KL(π_c‖a_c), KL(p_c‖π_c) (importance-sampled and exact), log Z_c's spread,
 *   distinct-2, mean length; the LM loss on a held-out shard once (forgetting). */
#include "posterior/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pst_context_eval_options_default(pst_context_eval_options *o) {
    memset(o, 0, sizeof *o);
    pst_target_eval_options_default(&o->eval);
    o->eval.n = 64;
    o->eval.max_proposals = 20000;
}

void pst_context_eval_free(pst_context_eval_result *r) {
    free(r->rows);
    memset(r, 0, sizeof *r);
}

static void fill_row(const pst_target_eval_result *e, pst_context_eval_row *row) {
    row->alignment = e->alignment[0].value;
    row->kl_pi_a = e->kl_pi_a.value;
    row->kl_p_pi = e->kl_p_pi.value;
    row->have_exact = e->have_exact;
    row->kl_p_pi_exact = e->have_exact ? e->exact.kl_target_policy.value : NAN;
    row->kl_p_pi_exact_se = e->have_exact ? e->exact.kl_target_policy.se : NAN;
    row->log_z = e->have_exact ? e->exact.log_z.value : e->log_z.value;
    row->log_z_se = e->have_exact ? e->exact.log_z.se : e->log_z.se;
    row->distinct_2 = e->distinct[1];
    row->mean_length = e->mean_length;
}

/* One context; exact samples out of budget → measured again without them, the reason kept. */
static int eval_context(const pst_context_eval_options *o, const char *prompt, int i, pst_context_eval_row *row,
                        pst_error *err) {
    pst_target_eval_options eo = o->eval;
    eo.prompt = prompt;
    eo.reference = NULL;
    eo.data = NULL;
    eo.seed = o->eval.seed + 1000003ull * (uint64_t)i; /* each context its own stream */
    pst_target_eval_result e;
    int rc = pst_target_eval(&eo, &e, err);
    if (rc < 0 && !strcmp(err->field, "max_proposals")) {
        snprintf(row->skipped, sizeof row->skipped, "%s", err->msg);
        pst_target_eval_free(&e);
        eo.n_exact = 0;
        rc = pst_target_eval(&eo, &e, err);
    }
    if (rc == 0) fill_row(&e, row);
    pst_target_eval_free(&e);
    return rc;
}

/* The mean over contexts of the finite values v[i] (se over contexts); *used = how many. */
static pst_estimate mean_finite(double *v, int m, int *used) {
    int k = 0;
    for (int i = 0; i < m; i++)
        if (isfinite(v[i])) v[k++] = v[i];
    if (used) *used = k;
    return k ? pst_estimate_mean(v, k) : (pst_estimate){NAN, NAN};
}

/* Means over contexts (se over contexts) and the spread of log Z_c over the contexts
 * where it is finite (log Ẑ_c = −inf: no sample of π_c satisfied the target). */
static int summarise(pst_context_eval_result *r, pst_error *err) {
    int m = r->n_contexts;
    double *v = pst_malloc(sizeof(double) * (size_t)m * 5, err);
    if (!v) return -1;
    double *al = v, *kla = v + m, *klp = v + 2 * m, *kle = v + 3 * m, *lz = v + 4 * m;
    r->distinct_2 = r->mean_length = 0;
    for (int i = 0; i < m; i++) {
        const pst_context_eval_row *w = &r->rows[i];
        al[i] = w->alignment, kla[i] = w->kl_pi_a, klp[i] = w->kl_p_pi, lz[i] = w->log_z;
        kle[i] = w->have_exact ? w->kl_p_pi_exact : NAN;
        r->distinct_2 += w->distinct_2 / m, r->mean_length += w->mean_length / m;
    }
    r->alignment = mean_finite(al, m, NULL);
    r->kl_pi_a = mean_finite(kla, m, NULL);
    r->kl_p_pi = mean_finite(klp, m, &r->n_kl_p_pi_contexts);
    r->kl_p_pi_exact = mean_finite(kle, m, &r->n_exact_contexts);
    int nz;
    mean_finite(lz, m, &nz); /* lz[0, nz): the finite log Z_c (pst_context_eval_zero_z: the others) */
    r->n_zero_z_contexts = m - nz;
    r->log_z_min = r->log_z_median = r->log_z_max = NAN;
    if (nz) {
        pst_sort_doubles(lz, (size_t)nz);
        r->log_z_min = lz[0], r->log_z_max = lz[nz - 1];
        r->log_z_median = nz % 2 ? lz[nz / 2] : 0.5 * (lz[nz / 2 - 1] + lz[nz / 2]);
    }
    free(v);
    return 0;
}

static int lm_loss_once(const pst_context_eval_options *o, pst_context_eval_result *r, pst_error *err) {
    r->lm_loss = NAN;
    if (!o->eval.data) return 0;
    return pst_lm_loss_of_dir(o->eval.model, o->eval.data, o->eval.lm_batches, o->eval.lm_batch, o->eval.lm_seq,
                              &r->lm_loss, NULL, err);
}

int pst_context_eval(const pst_context_eval_options *o, pst_context_eval_result *r, pst_error *err) {
    memset(r, 0, sizeof *r);
    if (o->max_contexts < 0)
        return pst_fail_field(err, "max_contexts", "max_contexts is %d; it must be 0 (all) or more", o->max_contexts);
    pst_prompts p;
    if (pst_prompts_read(o->prompts, &p, err) < 0) return -1;
    int m = o->max_contexts > 0 && o->max_contexts < p.n ? o->max_contexts : p.n, rc = 0;
    r->rows = pst_calloc((size_t)m, sizeof *r->rows, err);
    if (!r->rows) rc = -1;
    for (int i = 0; rc == 0 && i < m; i++) {
        r->rows[i].line = p.line[i];
        if (eval_context(o, p.text[i], i, &r->rows[i], err) < 0)
            rc = pst_fail_context(err, "%s:%ld", o->prompts, p.line[i]);
        r->n_contexts = i + 1;
    }
    if (rc == 0) rc = summarise(r, err);
    if (rc == 0) rc = lm_loss_once(o, r, err);
    pst_prompts_free(&p);
    if (rc) pst_context_eval_free(r);
    return rc;
}

int pst_context_eval_zero_z(const pst_context_eval_row *w) { return !isfinite(w->log_z); }

/* "key": value ± "key_se": se (null when not a number). */
static void put_estimate(FILE *f, const char *key, pst_estimate e) {
    char a[32], b[32];
    fprintf(f, ", \"%s\": %s, \"%s_se\": %s", key, isfinite(e.value) ? pst_json_number(a, e.value, 6) : "null", key,
            isfinite(e.se) ? pst_json_number(b, e.se, 4) : "null");
}

static void put_row(FILE *f, const pst_context_eval_row *w) {
    char b[8][32];
    fprintf(f, "{\"line\": %ld, \"alignment\": %s, \"kl_pi_a\": %s, \"kl_p_pi\": %s, \"kl_p_pi_exact\": %s, "
               "\"kl_p_pi_exact_se\": %s, \"log_z\": %s, \"log_z_se\": %s, \"distinct_2\": %s, \"exact\": %s",
            w->line, pst_json_number(b[0], w->alignment, 6), pst_json_number(b[1], w->kl_pi_a, 6),
            pst_json_number(b[2], w->kl_p_pi, 6), pst_json_number(b[3], w->kl_p_pi_exact, 6),
            pst_json_number(b[4], w->kl_p_pi_exact_se, 4), pst_json_number(b[5], w->log_z, 6),
            pst_json_number(b[6], w->log_z_se, 4), pst_json_number(b[7], w->distinct_2, 4),
            w->have_exact ? "true" : "false");
    if (w->skipped[0]) {
        char *q = pst_json_quote(w->skipped, strlen(w->skipped), NULL);
        fprintf(f, ", \"skipped\": %s", q ? q : "\"?\"");
        free(q);
    }
    fputc('}', f);
}

char *pst_context_eval_json(const pst_context_eval_result *r, pst_error *err) {
    char *text = NULL, b[6][32];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        pst_fail_oom(err, "the evaluation's JSON");
        return NULL;
    }
    fprintf(f, "{\"n_contexts\": %d, \"n_exact_contexts\": %d, \"n_kl_p_pi_contexts\": %d, \"n_zero_z_contexts\": %d",
            r->n_contexts, r->n_exact_contexts, r->n_kl_p_pi_contexts, r->n_zero_z_contexts);
    put_estimate(f, "alignment", r->alignment);
    put_estimate(f, "kl_pi_a", r->kl_pi_a);
    put_estimate(f, "kl_p_pi", r->kl_p_pi);
    put_estimate(f, "kl_p_pi_exact", r->kl_p_pi_exact);
    fprintf(f, ", \"log_z_min\": %s, \"log_z_median\": %s, \"log_z_max\": %s, \"distinct_2\": %s, "
               "\"mean_length\": %s, \"lm_loss\": %s, \"contexts\": [",
            pst_json_number(b[0], r->log_z_min, 6), pst_json_number(b[1], r->log_z_median, 6),
            pst_json_number(b[2], r->log_z_max, 6), pst_json_number(b[3], r->distinct_2, 4),
            pst_json_number(b[4], r->mean_length, 4), isfinite(r->lm_loss) ? pst_json_number(b[5], r->lm_loss, 6) : "null");
    for (int i = 0; i < r->n_contexts; i++) {
        if (i) fputs(", ", f);
        put_row(f, &r->rows[i]);
    }
    fputs("], \"zero_z_lines\": [", f);
    for (int i = 0, k = 0; i < r->n_contexts; i++)
        if (pst_context_eval_zero_z(&r->rows[i])) fprintf(f, "%s%ld", k++ ? ", " : "", r->rows[i].line);
    fputs("]}", f);
    if (fclose(f) != 0 || !text) {
        free(text);
        pst_fail_oom(err, "the evaluation's JSON");
        return NULL;
    }
    return text;
}
