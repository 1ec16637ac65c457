/* posterior eval: how aligned is a model? From samples x ~ π of --model:
 *   alignment   E_π[b] (pointwise) or E_π[φ] (distributional) or E_π[r] (klrl)
 *   KL(π‖a)     to the prior, E_π[log π − log a]
 *   KL(p‖π), TVD(p, π), log Z, E_p[φ]   importance-sampled with q = π (blind to what π
 *               dropped from p; with their ESS) and, where p can be sampled exactly
 *               (rejection from a; --reference or --n-exact), from exact samples of p
 *   warnings    low ESS, IS and exact estimates that disagree, mass of p dropped by π
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

/* The exact-sample keys: KL(p‖π), TVD, log Z with standard errors, and E_p[φ] (k > 0). */
static void print_exact(const pst_reference *r, const pst_exact_report *e, int k, const pst_estimate *mp) {
    char b[8][32];
    printf(", \"n_exact\": %d, \"exact\": \"%s\", \"exact_proposed\": %ld, \"kl_p_pi_exact\": %s, "
           "\"kl_p_pi_exact_se\": %s, \"tvd_p_pi_exact\": %s, \"tvd_p_pi_exact_se\": %s, \"log_z_exact\": %s, "
           "\"log_z_exact_se\": %s, \"dropped_fraction\": %s",
           e->n, r->exact ? "rejection" : "none", r->proposed, pst_json_number(b[0], e->kl_target_policy.value, 6),
           pst_json_number(b[1], e->kl_target_policy.se, 4), pst_json_number(b[2], e->tvd.value, 6),
           pst_json_number(b[3], e->tvd.se, 4), pst_json_number(b[4], e->log_z.value, 6),
           pst_json_number(b[5], e->log_z.se, 4), pst_json_number(b[6], e->dropped_fraction, 4));
    if (k == 0) return;
    printf(", \"moments_p_exact\": [");
    for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(b[0], mp[j].value, 6));
    printf("], \"moments_p_exact_se\": [");
    for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(b[0], mp[j].se, 4));
    printf("]");
}

/* "warnings": [...] in the JSON, and one line each on stderr. */
static void print_warnings(int flags, double ess, int n, pst_estimate kl_is, const pst_exact_report *e) {
    char msg[3][256];
    int m = 0;
    if (flags & PST_FLAG_LOW_ESS)
        snprintf(msg[m++], sizeof msg[0], "low ESS: the importance-sampled estimates rest on %.1f effective samples of %d",
                 ess, n);
    if (flags & PST_FLAG_DISAGREE)
        snprintf(msg[m++], sizeof msg[0],
                 "KL(p||pi) importance-sampled from the model (%.3f +- %.3f) and from exact samples of p (%.3f +- %.3f) "
                 "disagree beyond their standard errors: trust the exact one",
                 kl_is.value, kl_is.se, e->kl_target_policy.value, e->kl_target_policy.se);
    if (flags & PST_FLAG_DROPPED)
        snprintf(msg[m++], sizeof msg[0], "mass dropped: the model gives less than e^-10 of the prior's probability to "
                 "%.1f%% of p's samples", 100 * e->dropped_fraction);
    printf(", \"warnings\": [");
    for (int i = 0; i < m; i++) {
        char *q = pst_json_quote(msg[i], strlen(msg[i]), NULL);
        printf("%s%s", i ? ", " : "", q ? q : "\"?\"");
        free(q);
        fprintf(stderr, "posterior eval: warning: %s\n", msg[i]);
    }
    printf("]");
}

int pst_cmd_pretrain_eval(int argc, char **argv) __attribute__((weak)); /* cmd_pretrain.c */

int cmd_eval(int argc, char **argv) {
    /* without --spec (and --help): the evaluation of pretrained models, `posterior pretrain eval` */
    int has_spec = 0;
    for (int i = 0; i < argc; i++) has_spec |= !strncmp(argv[i], "--spec", 6) || !strcmp(argv[i], "--help");
    if (!has_spec && pst_cmd_pretrain_eval) return pst_cmd_pretrain_eval(argc, argv);
    const char *model = NULL, *spec_path = NULL, *prompt = NULL, *data = NULL, *reference = NULL;
    int n = 256, batch = 64, max_new = 32, show = 3, top_k = 0, lm_batches = 8, lm_seq = 128, n_exact = -1;
    long max_proposals = 200000;
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
        {"reference", ARG_STRING, &reference, "exact samples of p to measure against (target sample --out)"},
        {"n-exact", ARG_INT, &n_exact, "exact samples of p drawn now when no --reference (-1: --n; 0: none)"},
        {"max-proposals", ARG_LONG, &max_proposals, "budget of prior draws for the exact samples"},
        {0},
    };
    int npos = 0, rc = pst_args_parse("eval",
                                      "Evaluates a model against a target from its own samples: alignment E_pi[b] or\n"
                                      "E_pi[phi] (with standard errors), KL(pi||a), KL(p||pi), TVD(p, pi), log Z,\n"
                                      "distinct-1/2/3 diversity, mean length, and a few samples. One JSON object.\n"
                                      "The divergences to p are importance-sampled from the model (the *_se keys and\n"
                                      "ess say how far to trust them; blind to mass of p the model dropped) and, when\n"
                                      "p can be sampled exactly (b <= 1, or bounded features), measured on exact\n"
                                      "samples of p (keys *_exact); warnings name what cannot be trusted.",
                                      spec, argc, argv, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos || !model || !spec_path || n < 2) {
        fprintf(stderr, "posterior eval: --model and --spec are required, --n >= 2\n");
        return 2;
    }
    if (n_exact < 0) n_exact = n;
    if (n_exact == 1 || max_proposals < 1) {
        fprintf(stderr, "posterior eval: --n-exact must be 0 or >= 2, --max-proposals >= 1\n");
        return 2;
    }
    pst_error err = {0};
    pst_target_bundle b;
    pst_distribution pol = {0};
    pst_scored_batch sb = {0};
    pst_reference ref = {0};
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
    if (pst_target_check_policy(b.spec.prior, model, &err) < 0) goto fail;
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
    /* exact samples of p: their own random stream, so the model's samples do not depend on them */
    pst_exact_report ex = {0};
    pst_estimate mpx[PST_TARGET_MAX_FEATURES];
    double log_m;
    int have_exact = reference || (n_exact > 0 && pst_target_log_envelope(&b.target, &log_m));
    if (have_exact) {
        pst_rng xrng = pst_rng_split(&rng, 0x65786163);
        pst_exact_options xo;
        pst_exact_options_default(&xo);
        xo.batch = batch;
        xo.max_proposals = max_proposals;
        if (pst_target_bundle_reference(&b, reference, n_exact, max_new, prompt ? &ctx : NULL, &xo, &xrng, &ref,
                                        &err) < 0 ||
            pst_reference_evaluate(&b.target, &ref, &pol, &ex, mpx, &err) < 0)
            goto fail;
    }
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
    double *lw = malloc(sizeof(double) * (size_t)n); /* log weights P/q of the model's samples */
    if (!lw) {
        pst_fail(&err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) lw[i] = sb.log_target[i] - sb.log_q[i];
    double ess = pst_effective_sample_size(lw, n);
    free(lw);
    int flags = pst_yardstick_flags(kl_p, ess, n, have_exact ? &ex : NULL);
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
    if (data) printf(", \"lm_loss\": %s, \"lm_tokens\": %ld", pst_json_number(nb[0], lm, 6), lm_tokens);
    printf(", \"ess\": %s, \"ess_low\": %s", pst_json_number(nb[0], ess, 5), flags & PST_FLAG_LOW_ESS ? "true" : "false");
    if (have_exact) print_exact(&ref, &ex, b.spec.kind == PST_TARGET_DISTRIBUTIONAL ? k : 0, mpx);
    else printf(", \"n_exact\": 0, \"exact\": null");
    print_warnings(flags, ess, n, kl_p, &ex);
    printf("}\n");
    if (lz.value == -INFINITY)
        fprintf(stderr, "posterior eval: note: no sample satisfies the target (P = 0), so KL(p||pi) and TVD are "
                        "undefined (reported as null) and log_z is -inf (null)\n");
    ret = 0;
fail:
    if (ret) fprintf(stderr, "posterior eval: %s\n", err.msg);
    pst_scored_batch_free(&sb);
    pst_reference_free(&ref);
    pst_distribution_free(&pol);
    pst_target_bundle_free(&b);
    free(pids);
    return ret;
}
