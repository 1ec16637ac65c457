/* posterior eval: how aligned is a model? From samples x ~ π of --model:
 *   alignment   E_π[b] (pointwise) or E_π[φ] (distributional) or E_π[r] (klrl)
 *   KL(π‖a)     to the prior, E_π[log π − log a]
 *   KL(p‖π), TVD(p, π), log Z, E_p[φ]   importance-sampled with q = π
 *   diversity   distinct-n: distinct n-grams / all n-grams over the samples (n = 1, 2, 3)
 *   LM loss     mean next-token cross-entropy (nats) on --data SHARD, when given
 * One JSON object on stdout (plus --show sample texts). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/scorer.h"
#include "posterior/shard.h"
#include "posterior/target.h"

/* Mean cross-entropy of the model on the first `batches` batches [B, T] of a shard
 * (sequential, no shuffling); *tokens receives the number of scored positions. */

static int lm_loss(const char *model_dir, const char *shard_path, int batches, int B, int T, double *loss,
                   long *tokens, pst_error *err) {
    pst_gpt2 m = {0};
    pst_shard sh;
    pst_loader ld;
    float *w = NULL;
    int rc = -1, have_shard = 0, have_loader = 0;
    double sum = 0;
    long count = 0;
    if (pst_gpt2_load(&m, model_dir, err) < 0) goto done;
    if (T > m.config.n_positions) T = m.config.n_positions;
    if (pst_shard_open(&sh, shard_path, err) < 0) goto done;
    have_shard = 1;
    if ((int)sh.vocab_size > m.config.vocab_size) {
        pst_fail(err, "--data %s: vocabulary of %u ids, the model has %d", shard_path, sh.vocab_size,
                 m.config.vocab_size);
        goto done;
    }
    if (pst_loader_init(&ld, &sh, B, T, 0, 0, 1, err) < 0) goto done;
    have_loader = 1;
    w = malloc(sizeof(float) * (size_t)B * T);
    if (!w) {
        pst_fail(err, "out of memory");
        goto done;
    }
    for (int bi = 0; bi < batches; bi++) {
        int r = pst_loader_next(&ld, err);
        if (r < 0) goto done;
        if (r == 0) break;
        float valid = 0;
        for (int i = 0; i < B * T; i++) valid += w[i] = (size_t)(i + 1) < ld.n_valid ? 1.0f : 0.0f;
        if (valid == 0) break;
        double l;
        if (pst_gpt2_cross_entropy(&m, ld.tokens, ld.tokens + 1, w, B, T, NULL, &l, err) < 0) goto done;
        sum += l * valid;
        count += (long)valid;
    }
    if (!count) {
        pst_fail(err, "--data %s: no tokens", shard_path);
        goto done;
    }
    *loss = sum / count;
    *tokens = count;
    rc = 0;
done:
    free(w);
    if (have_loader) pst_loader_free(&ld);
    if (have_shard) pst_shard_close(&sh);
    pst_gpt2_free(&m);
    return rc;
}

typedef struct {
    int n, g[3];
} ngram;

static int ngram_cmp(const void *a, const void *b) {
    const ngram *x = a, *y = b;
    for (int i = 0; i < x->n; i++)
        if (x->g[i] != y->g[i]) return x->g[i] < y->g[i] ? -1 : 1;
    return 0;
}

/* distinct-n = |distinct n-grams| / |n-grams| over all samples (0 when there are none). */
static double distinct_n(const pst_sample *xs, int n_samples, int n, pst_error *err, int *ok) {
    long total = 0;
    for (int i = 0; i < n_samples; i++) total += xs[i].n_tokens >= n ? xs[i].n_tokens - n + 1 : 0;
    if (!total) return 0;
    ngram *g = malloc(sizeof *g * (size_t)total);
    if (!g) {
        *ok = 0;
        pst_fail(err, "out of memory");
        return 0;
    }
    long m = 0;
    for (int i = 0; i < n_samples; i++)
        for (int t = 0; t + n <= xs[i].n_tokens; t++) {
            g[m].n = n;
            for (int j = 0; j < 3; j++) g[m].g[j] = j < n ? xs[i].tokens[t + j] : 0;
            m++;
        }
    qsort(g, (size_t)m, sizeof *g, ngram_cmp);
    long distinct = m > 0;
    for (long i = 1; i < m; i++) distinct += ngram_cmp(&g[i], &g[i - 1]) != 0;
    free(g);
    return (double)distinct / total;
}

int pst_cmd_pretrain_eval(int argc, char **argv) __attribute__((weak)); /* cmd_pretrain.c */

int cmd_eval(int argc, char **argv) {
    /* without --spec (and --help): the evaluation of pretrained models, `posterior pretrain eval` */
    int has_spec = 0;
    for (int i = 0; i < argc; i++) has_spec |= !strncmp(argv[i], "--spec", 6) || !strcmp(argv[i], "--help");
    if (!has_spec && pst_cmd_pretrain_eval) return pst_cmd_pretrain_eval(argc, argv);
    const char *model = NULL, *spec_path = NULL, *prompt = NULL, *data = NULL;
    int n = 256, batch = 64, max_new = 32, show = 3, top_k = 0, lm_batches = 8, lm_seq = 128;
    double temperature = 1.0, top_p = 1.0;
    uint64_t seed = 1;
    const pst_arg spec[] = {
        {"model", ARG_STRING, &model, "the model π to evaluate (required)"},
        {"spec", ARG_STRING, &spec_path, "target spec: its prior, evidence and posterior (required)"},
        {"n", ARG_INT, &n, "samples drawn from the model"},
        {"batch", ARG_INT, &batch, "samples drawn together"},
        {"max-new-tokens", ARG_INT, &max_new, "tokens per sample at most"},
        {"temperature", ARG_DOUBLE, &temperature, "sampling temperature (q ≠ π then; estimates use log q)"},
        {"top-k", ARG_INT, &top_k, "sampling top-k (0: off)"},
        {"top-p", ARG_DOUBLE, &top_p, "sampling top-p (1: off)"},
        {"prompt", ARG_STRING, &prompt, "context text"},
        {"show", ARG_INT, &show, "sample texts included in the output"},
        {"data", ARG_STRING, &data, "token shard for the LM loss (posterior prepare)"},
        {"lm-batches", ARG_INT, &lm_batches, "LM loss: batches of 8 x --lm-seq tokens"},
        {"lm-seq", ARG_INT, &lm_seq, "LM loss: sequence length"},
        {"seed", ARG_U64, &seed, "random seed"},
        {0},
    };
    int npos = 0, rc = pst_args_parse("eval",
                                      "Evaluates a model against a target from its own samples: alignment E_pi[b] or\n"
                                      "E_pi[phi] (with standard errors), KL(pi||a), KL(p||pi), TVD(p, pi), log Z,\n"
                                      "distinct-1/2/3 diversity, mean length, and a few samples. One JSON object.",
                                      spec, argc, argv, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos || !model || !spec_path || n < 2) {
        fprintf(stderr, "posterior eval: --model and --spec are required, --n >= 2\n");
        return 2;
    }
    pst_error err = {{0}};
    pst_target_bundle b;
    pst_distribution pol = {0};
    pst_scored_batch sb = {0};
    int ret = 1, *pids = NULL;
    double *lpi = NULL;
    pst_seq ctx = {0};
    pst_gpt2_policy_options po;
    pst_gpt2_policy_options_default(&po);
    po.sampling.max_new_tokens = max_new;
    if (pst_target_bundle_load(spec_path, &po, &b, &err) < 0 ||
        pst_target_spec_check_fitted(&b.spec, spec_path, &err) < 0)
        goto fail;
    po.sampling.temperature = (float)temperature;
    po.sampling.top_k = top_k;
    po.sampling.top_p = (float)top_p;
    if (pst_gpt2_distribution_load(model, &po, &pol, &err) < 0) goto fail;
    if (prompt) {
        size_t nid = 0;
        if (pst_tokenizer_encode(pst_text_evidence_tokenizer(b.evidence), prompt, strlen(prompt), 1, &pids, &nid, &err) < 0)
            goto fail;
        ctx.tokens = pids;
        ctx.n = (int)nid;
    }
    pst_rng rng;
    pst_rng_seed(&rng, seed);
    if (pst_draw_scored(&b.target, &pol, prompt ? &ctx : NULL, n, batch, &rng, &sb, &err) < 0) goto fail;
    lpi = sb.log_model; /* log π: the model's raw log-prob; log q may be warped */
    int k = sb.k;
    pst_estimate mpi[PST_TARGET_MAX_FEATURES];
    pst_estimate_moments_policy(lpi, sb.log_q, sb.features, n, k, mpi);
    pst_estimate mp[PST_TARGET_MAX_FEATURES]; /* E_p[φ] by SNIS from the same samples */
    pst_estimate_moments_target(sb.log_target, sb.log_q, sb.features, n, k, mp);
    pst_estimate kl_a = pst_estimate_kl_policy_prior(lpi, sb.log_prior, sb.log_q, n);
    pst_estimate lz = pst_estimate_log_partition(sb.log_target, sb.log_q, n);
    pst_estimate kl_p = pst_estimate_kl_target_policy(sb.log_target, sb.log_q, lpi, n);
    pst_estimate tvd = pst_estimate_tvd(sb.log_target, sb.log_q, lpi, n);
    int ok = 1;
    double d1 = distinct_n(sb.xs, n, 1, &err, &ok), d2 = distinct_n(sb.xs, n, 2, &err, &ok),
           d3 = distinct_n(sb.xs, n, 3, &err, &ok);
    if (!ok) goto fail;
    double lm = NAN;
    long lm_tokens = 0;
    if (data && lm_loss(model, data, lm_batches, 8, lm_seq, &lm, &lm_tokens, &err) < 0) goto fail;
    double mean_len = 0;
    for (int i = 0; i < n; i++) mean_len += (double)sb.xs[i].n_tokens / n;
    printf("{\"model\": \"%s\", \"n\": %d, \"kind\": \"%s\", \"features\": [", model, n, pst_target_kind_name(b.spec.kind));
    for (int j = 0; j < k; j++) {
        const char *nm = pst_text_evidence_feature_name(b.evidence, j);
        char *qn = pst_json_quote(nm, strlen(nm), NULL);
        printf("%s%s", j ? ", " : "", qn ? qn : "\"?\"");
        free(qn);
    }
    printf("], \"alignment\": [");
    char nb[8][32]; /* formatted numbers: JSON null where a value is undefined (not finite) */
    for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb[0], mpi[j].value, 6));
    printf("], \"alignment_se\": [");
    for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb[0], mpi[j].se, 4));
    printf("]");
    if (b.spec.kind == PST_TARGET_DISTRIBUTIONAL) {
        printf(", \"moments_target\": [");
        for (int j = 0; j < k; j++) printf("%s%.6g", j ? ", " : "", b.spec.moments[j]);
        /* the target's own moment: μ̄ only as far as λ was fitted well (target fit's moment_se) */
        printf("], \"moments_p\": [");
        for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb[0], mp[j].value, 6));
        printf("], \"moments_p_se\": [");
        for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb[0], mp[j].se, 4));
        printf("]");
    }
    printf(", \"kl_pi_a\": %s, \"kl_pi_a_se\": %s, \"kl_p_pi\": %s, \"kl_p_pi_se\": %s, \"tvd_p_pi\": %s, "
           "\"log_z\": %s, \"log_z_se\": %s, \"distinct_1\": %.6g, \"distinct_2\": %.6g, \"distinct_3\": %.6g, "
           "\"mean_length\": %.4g, \"samples\": [",
           pst_json_number(nb[0], kl_a.value, 6), pst_json_number(nb[1], kl_a.se, 4),
           pst_json_number(nb[2], kl_p.value, 6), pst_json_number(nb[3], kl_p.se, 4),
           pst_json_number(nb[4], tvd.value, 6), pst_json_number(nb[5], lz.value, 6), pst_json_number(nb[6], lz.se, 4),
           d1, d2, d3, mean_len);
    for (int i = 0; i < show && i < n; i++) {
        size_t tl;
        char *text = pst_text_evidence_decode(b.evidence, sb.xs[i].tokens, sb.xs[i].n_tokens, &tl, &err);
        if (!text) goto fail;
        char *q = pst_json_quote(text, tl, NULL);
        free(text);
        printf("%s%s", i ? ", " : "", q ? q : "\"\"");
        free(q);
    }
    printf("]");
    if (data) printf(", \"lm_loss\": %.6g, \"lm_tokens\": %ld", lm, lm_tokens);
    printf("}\n");
    if (lz.value == -INFINITY)
        fprintf(stderr, "posterior eval: note: no sample satisfies the target (P = 0), so KL(p||pi) and TVD are "
                        "undefined (reported as null) and log_z is -inf (null)\n");
    ret = 0;
fail:
    if (ret) fprintf(stderr, "posterior eval: %s\n", err.msg);
    pst_scored_batch_free(&sb);
    pst_distribution_free(&pol);
    pst_target_bundle_free(&b);
    free(pids);
    return ret;
}
