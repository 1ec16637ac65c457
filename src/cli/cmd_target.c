/* posterior target init | fit | estimate | sample — the posterior p(x) = P(x)/Z as an artefact.
 *
 *   target init     write a target spec (JSON) from a prior, scorers and λ/μ̄/β
 *   target fit      λ of a distributional target by SNIS moment matching (Newton)
 *   target estimate log Z, KL(p‖π), KL(π‖a), TVD(p,π), moments, from samples of a proposal
 *   target sample   samples from p: rejection (rs), quasi-rejection (qrs), independent MH (imh)
 * Results are one JSON object per line on stdout; warnings and progress go to stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/ranks.h"
#include "posterior/scorer.h"
#include "posterior/target.h"

/* Comma-separated numbers into out (at most cap). */
static int parse_numbers(const char *flag, const char *s, double *out, int cap, int *n, pst_error *err) {
    *n = 0;
    while (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v)) return pst_fail(err, "--%s: '%s' is not a list of numbers", flag, s);
        if (*n == cap) return pst_fail(err, "--%s: more than %d values", flag, cap);
        out[(*n)++] = v;
        s = end;
        while (*s == ',' || *s == ' ') s++;
    }
    return 0;
}

/* "name": x (JSON has no NaN/inf: null, then "name_reason": why, when x is not finite), ", " */
static void print_number(const char *name, double x, int digits, const char *why) {
    char nb[32];
    printf("\"%s\": %s, ", name, pst_json_number(nb, x, digits));
    if (!isfinite(x)) printf("\"%s_reason\": \"%s\", ", name, why);
}

static void print_estimate(const char *name, pst_estimate e, const char *why) {
    char se[64];
    snprintf(se, sizeof se, "%s_se", name);
    print_number(name, e.value, 9, why);
    print_number(se, e.se, 4, why);
}

/* A JSON array of n numbers (null where not finite). */
static void print_numbers(const double *x, int n, int digits) {
    char nb[32];
    putchar('[');
    for (int j = 0; j < n; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb, x[j], digits));
    putchar(']');
}

/* Prompt text (encoded with the target's tokenizer) as a context; NULL when none. */
static int encode_prompt(const pst_target_bundle *b, const char *prompt, int **ids, pst_seq *ctx, pst_error *err) {
    *ids = NULL;
    if (!prompt) return 0;
    size_t n = 0;
    if (pst_tokenizer_encode(pst_text_evidence_tokenizer(b->evidence), prompt, strlen(prompt), 1, ids, &n, err) < 0)
        return pst_fail_context(err, "--prompt");
    if (n == 0) return pst_fail(err, "--prompt: encodes to no tokens");
    ctx->tokens = *ids;
    ctx->n = (int)n;
    return 0;
}

/* ---- init ------------------------------------------------------------------- */

static const char target_init_summary[] =
    "Writes a target spec. Scorer specs are the positional arguments\n"
    "(posterior score --help lists them), e.g.\n"
    "  posterior target init --prior runs/prior --out t.json 'below:0.5:toxicity'";

static int target_init(int argc, char **argv) {
    const char *kind = "pointwise", *prior = NULL, *out = NULL, *moments = NULL, *lambda = NULL;
    double beta = 1.0;
    int conditional = 0;
    const pst_arg spec[] = {
        ARG("kind", ARG_STRING, &kind, "pointwise (P = a·Πb), distributional (a·exp(λ·φ)) or klrl (a·exp(r/β))"),
        ARG("prior", ARG_STRING, &prior, "the prior model's directory", .required = 1),
        ARG("out", ARG_STRING, &out, "where to write the spec", .required = 1),
        ARG("moments", ARG_STRING, &moments, "distributional: desired E_p[φ], comma-separated"),
        ARG("lambda", ARG_STRING, &lambda, "distributional: λ if already known (else `target fit`)"),
        ARG("kl-beta", ARG_DOUBLE, &beta, "klrl: the KL weight β", .alias = "beta"),
        ARG("conditional", ARG_FLAG, &conditional, "one Z per context (prompts)"),
        {0},
    };
    int npos = 0, rc = pst_args_parse("target init", target_init_summary, spec, argc, argv, &npos);
    if (rc != PST_ARGS_RUN) return rc;
    if (npos < 1) {
        fprintf(stderr, "posterior target init: at least one scorer spec is required\n");
        return 2;
    }
    pst_error err = {0};
    pst_target_spec s;
    memset(&s, 0, sizeof s);
    if (pst_target_kind_parse(kind, &s.kind, &err) < 0) goto fail;
    s.prior = strdup(prior);
    s.scorers = calloc((size_t)npos, sizeof(char *));
    if (!s.prior || !s.scorers) {
        pst_fail(&err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < npos; i++) {
        if (!(s.scorers[i] = strdup(argv[i]))) {
            pst_fail(&err, "out of memory");
            goto fail;
        }
        s.n_scorers = i + 1;
    }
    int nm = 0, nl = 0;
    if (parse_numbers("moments", moments, s.moments, PST_TARGET_MAX_FEATURES, &nm, &err) < 0 ||
        parse_numbers("lambda", lambda, s.lambda, PST_TARGET_MAX_FEATURES, &nl, &err) < 0)
        goto fail;
    s.n_features = nm ? nm : nl;
    s.has_lambda = nl > 0;
    s.beta = beta;
    s.conditional = conditional;
    /* validate by parsing what we are about to write, then by opening it (model, scorers) */
    char *text = pst_target_spec_to_json(&s, &err);
    if (!text) goto fail;
    pst_target_spec check;
    int ok = pst_target_spec_parse(text, out, 1, &check, &err);
    free(text);
    if (ok < 0) goto fail;
    pst_target_bundle b;
    if (pst_target_bundle_open(&check, NULL, &b, &err) < 0) goto fail;
    pst_target_bundle_free(&b);
    if (pst_target_spec_save(out, &s, &err) < 0) goto fail;
    pst_target_spec_free(&s);
    return 0;
fail:
    pst_target_spec_free(&s);
    pst_cli_fail("target init", spec, &err);
    return 1;
}

/* ---- shared sampling options ---------------------------------------------------------- */

typedef struct {
    const char *spec_path, *model, *prompt;
    int n, batch;
    pst_sample_options sampling; /* the proposal's (log q is the warped log-prob) */
    uint64_t seed;
} draw_opts;

static void draw_opts_default(draw_opts *d) {
    memset(d, 0, sizeof *d);
    d->n = 1000;
    d->batch = 64;
    pst_sample_options_default(&d->sampling);
    d->sampling.max_new_tokens = 32;
    d->seed = 1;
}

#define DRAW_ARGS(d)                                                                                          \
    ARG("spec", ARG_STRING, &(d).spec_path, "target spec (JSON)", .required = 1),                               \
        ARG("n", ARG_INT, &(d).n, "samples drawn from the proposal"),                                           \
        ARG("batch", ARG_INT, &(d).batch, "samples drawn together", .range = "1.."),                            \
        PST_ARGS_SAMPLING((d).sampling),                                                                        \
        ARG("prompt", ARG_STRING, &(d).prompt, "context text (conditional targets)"),                          \
        PST_ARGS_SEED((d).seed)

/* Opens the target (prior with plain sampling) and the proposal: the prior with the
 * given warping, or --model. need_lambda: refuse a distributional spec not fitted yet
 * (everything but `target fit`). */
static int open_target(const draw_opts *d, int need_lambda, pst_target_bundle *b, pst_distribution *q, int *q_is_prior,
                       pst_error *err) {
    pst_gpt2_policy_options po;
    pst_gpt2_policy_options_default(&po);
    po.sampling.max_new_tokens = d->sampling.max_new_tokens;
    if (pst_target_bundle_load(d->spec_path, &po, b, err) < 0) return -1;
    if (need_lambda && pst_target_spec_check_fitted(&b->spec, d->spec_path, err) < 0) return -1;
    po.sampling.temperature = d->sampling.temperature;
    po.sampling.top_k = d->sampling.top_k;
    po.sampling.top_p = d->sampling.top_p;
    int warped = d->sampling.temperature != 1.0f || d->sampling.top_k != 0 || d->sampling.top_p != 1.0f;
    *q_is_prior = 0;
    if (d->model) {
        if (pst_gpt2_distribution_load(d->model, &po, q, err) < 0) return pst_fail_context(err, "--model");
    } else if (warped) {
        if (pst_gpt2_distribution_load(b->spec.prior, &po, q, err) < 0) return -1;
    } else {
        *q = pst_distribution_borrow(&b->prior); /* a view; not freed separately */
        *q_is_prior = 1;
    }
    return 0;
}

/* ---- fit ------------------------------------------------------------------------- */

static const char target_fit_summary[] =
    "Fits λ of a distributional target so that E_p[φ] = μ̄, by self-normalised\n"
    "importance sampling over samples of the proposal and Newton's method on the\n"
    "convex dual. Prints {lambda, lambda_se, fitted, moments, moment_se, ess,\n"
    "iterations}: moment_se is the standard error of the fit's E_p[phi] (the\n"
    "fitted target's true moment is mu +- moment_se), lambda_se that of lambda.";

static int target_fit(int argc, char **argv) {
    draw_opts d;
    draw_opts_default(&d);
    const char *out = NULL;
    int max_iter = 50;
    double tol = 1e-6, max_moment_se = 0.01;
    const pst_arg spec[] = {
        DRAW_ARGS(d),
        ARG("model", ARG_STRING, &d.model, "proposal model directory (default: the prior)"),
        ARG("out", ARG_STRING, &out, "write the fitted spec here (default: update --spec in place)"),
        ARG("max-iter", ARG_INT, &max_iter, "Newton iterations at most"),
        ARG("tol", ARG_DOUBLE, &tol, "stop when |E_p[φ] − μ̄| <= tol"),
        ARG("max-moment-se", ARG_DOUBLE, &max_moment_se,
         "warn when the fitted target's E_p[φ] is known only to more than this (one s.e.)"),
        {0},
    };
    int rc = pst_args_parse("target fit", target_fit_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    pst_error err = {0};
    pst_target_bundle b;
    pst_distribution q = {0};
    pst_scored_batch sb = {0};
    int q_is_prior = 1, ret = 1, *pids = NULL;
    pst_seq ctx;
    if (open_target(&d, 0, &b, &q, &q_is_prior, &err) < 0) goto fail;
    if (b.spec.kind != PST_TARGET_DISTRIBUTIONAL) {
        pst_fail(&err, "%s: kind '%s'; only a distributional target has a lambda to fit", d.spec_path,
                 pst_target_kind_name(b.spec.kind));
        goto fail;
    }
    if (encode_prompt(&b, d.prompt, &pids, &ctx, &err) < 0) goto fail;
    pst_rng rng;
    pst_rng_seed(&rng, d.seed);
    if (pst_draw_scored(&b.target, &q, pids ? &ctx : NULL, d.n, d.batch, &rng, &sb, &err) < 0) goto fail;
    double lambda[PST_TARGET_MAX_FEATURES];
    memcpy(lambda, b.spec.has_lambda ? b.spec.lambda : (double[PST_TARGET_MAX_FEATURES]){0}, sizeof lambda);
    pst_lambda_fit rep;
    if (pst_fit_lambda(sb.log_prior, sb.log_q, sb.features, sb.n, sb.k, b.spec.moments, lambda, max_iter, tol, &rep,
                       &err) < 0)
        goto fail;
    if (rep.low_ess)
        fprintf(stderr, "posterior target fit: warning: effective sample size %.1f of %d is too low to trust lambda; "
                        "draw more samples (--n) or use a proposal closer to p (--model)\n",
                rep.ess, sb.n);
    for (int j = 0; j < sb.k; j++)
        if (rep.moment_se[j] > max_moment_se)
            fprintf(stderr,
                    "posterior target fit: warning: feature %d: the fitted target's E_p[phi] is %g +- %.3g (one "
                    "s.e., above --max-moment-se %g); draw more samples (--n) or fit again with a proposal closer to p "
                    "(--model, e.g. a policy tuned toward this target)\n",
                    j, b.spec.moments[j], rep.moment_se[j], max_moment_se);
    memcpy(b.spec.lambda, lambda, sizeof lambda);
    b.spec.has_lambda = 1;
    if (pst_target_spec_save(out ? out : d.spec_path, &b.spec, &err) < 0) goto fail;
    printf("{\"lambda\": ");
    print_numbers(lambda, sb.k, 9);
    printf(", \"lambda_se\": ");
    print_numbers(rep.lambda_se, sb.k, 4);
    printf(", \"fitted\": ");
    print_numbers(rep.fitted, sb.k, 6);
    printf(", \"moment_se\": ");
    print_numbers(rep.moment_se, sb.k, 4);
    printf(", \"moments\": ");
    print_numbers(b.spec.moments, sb.k, 6);
    printf(", \"features\": [");
    for (int j = 0; j < sb.k; j++) {
        const char *nm = pst_text_evidence_feature_name(b.evidence, j);
        char *qn = pst_json_quote(nm, strlen(nm), NULL);
        printf("%s%s", j ? ", " : "", qn ? qn : "\"?\"");
        free(qn);
    }
    char nb[32];
    printf("], \"ess\": %s, \"n\": %d, \"iterations\": %d, \"low_ess\": %s, \"spec\": \"%s\"}\n",
           pst_json_number(nb, rep.ess, 6), sb.n, rep.iterations, rep.low_ess ? "true" : "false",
           out ? out : d.spec_path);
    ret = 0;
fail:
    if (ret) pst_cli_fail("target fit", spec, &err);
    pst_scored_batch_free(&sb);
    if (!q_is_prior) pst_distribution_free(&q);
    pst_target_bundle_free(&b);
    free(pids);
    return ret;
}

/* ---- estimate ------------------------------------------------------------------------ */

/* log π(x_i) of q's samples under the model in dir: with N ranks each scores rows
 * [⌊n·r/N⌋, ⌊n·(r+1)/N⌋) and the others' are summed in (one allreduce of zeros and each
 * rank's values: exact copies); lpi[n] zeroed. */
static int score_policy(const char *dir, const pst_seq *ctx, const pst_scored_batch *sb, const pst_comm *w,
                        pst_distribution *pol, double *lpi, pst_error *err) {
    int n = sb->n, lo = (int)((long)n * w->rank / w->size), hi = (int)((long)n * (w->rank + 1) / w->size);
    pst_seq *cs = NULL;
    int rc = pst_gpt2_distribution_load(dir, NULL, pol, err);
    if (rc == 0 && ctx && !(cs = pst_malloc(sizeof *cs * (size_t)n, err))) rc = -1;
    for (int i = 0; cs && i < n; i++) cs[i] = *ctx;
    if (rc == 0 && hi > lo) rc = pst_dist_score(pol, cs ? cs + lo : NULL, sb->xs + lo, hi - lo, lpi + lo, err);
    free(cs);
    if (pst_comm_check(w, rc, err) < 0) return -1; /* a failure on one rank (its file) fails all, said once */
    return pst_comm_allreduce_sum_f64(w, lpi, (size_t)n, err);
}

static const char target_estimate_summary[] =
    "Estimates, from samples x ~ q with standard errors: log Z, Z, KL(p||pi),\n"
    "KL(pi||a), TVD(p, pi), KL(p||q), E_p[phi] and E_pi[phi] (phi = the target's\n"
    "features or b), the acceptance rate of rejection sampling from q, and the ESS.\n"
    "Under mpirun -np N: the samples of q split over the N ranks, the numbers of\n"
    "one rank (docs/scaling.md).";

static int target_estimate(int argc, char **argv) {
    draw_opts d;
    draw_opts_default(&d);
    const char *policy_dir = NULL;
    const pst_arg spec[] = {
        DRAW_ARGS(d),
        ARG("model", ARG_STRING, &d.model, "proposal q's model directory (default: the prior)"),
        ARG("policy", ARG_STRING, &policy_dir, "the model π compared with p (default: the proposal's model)"),
        {0},
    };
    int rc = pst_args_parse("target estimate", target_estimate_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    pst_error err = {0};
    pst_target_bundle b = {0};
    pst_distribution q = {0}, pol = {0};
    pst_scored_batch sb = {0};
    int q_is_prior = 1, ret = 1, *pids = NULL, k = 0;
    double *lpi = NULL, *lw = NULL;
    pst_seq ctx;
    /* under mpirun: the samples split over the ranks (each its rows of every batch), rank 0
     * prints; every rank opens alike and a failure on one fails all, said once */
    pst_comm world = pst_comm_world();
    if (pst_comm_agree_args(&world, argc, argv, &err) < 0) goto fail;
    int opened = open_target(&d, 1, &b, &q, &q_is_prior, &err) < 0 || encode_prompt(&b, d.prompt, &pids, &ctx, &err) < 0;
    if (pst_comm_check(&world, opened ? -1 : 0, &err) < 0) goto fail;
    pst_rng rng;
    pst_rng_seed(&rng, d.seed);
    if (pst_draw_scored_split(&b.target, &q, pids ? &ctx : NULL, d.n, d.batch, &rng, &world, &sb, &err) < 0) goto fail;
    k = sb.k;
    int n = sb.n;
    lpi = pst_calloc((size_t)n, sizeof(double), &err);
    lw = pst_malloc(sizeof(double) * n, &err);
    if (!lpi || !lw) goto fail;
    if (policy_dir && score_policy(policy_dir, pids ? &ctx : NULL, &sb, &world, &pol, lpi, &err) < 0) goto fail;
    if (!policy_dir) memcpy(lpi, sb.log_model, sizeof(double) * n);
    ret = 0;
    if (world.rank != 0) goto fail; /* rank 0 prints */
    ret = 1;
    for (int i = 0; i < n; i++) lw[i] = sb.log_target[i] - sb.log_q[i];
    pst_estimate lz = pst_estimate_log_partition(sb.log_target, sb.log_q, n);
    pst_estimate mp[PST_TARGET_MAX_FEATURES], mpi[PST_TARGET_MAX_FEATURES];
    pst_estimate_moments_target(sb.log_target, sb.log_q, sb.features, n, k, mp);
    pst_estimate_moments_policy(lpi, sb.log_q, sb.features, n, k, mpi);
    double ess = pst_effective_sample_size(lw, n);
    /* why a number is not finite: no sample with P(x) > 0, or log P(x) beyond a double */
    const char *why = lz.value == -INFINITY ? "no sample has P(x) > 0, so Z is 0 and this is undefined"
                      : !isfinite(lz.value) ? "log P(x) is not finite (overflow: are the lambdas too large?)"
                                            : "not finite (overflow)";
    printf("{\"n\": %d, ", n);
    print_estimate("log_z", lz, why);
    print_number("z", exp(lz.value), 9,
                 isfinite(lz.value) ? "exp(log_z) overflows a double; log_z is the estimate" : why);
    print_estimate("kl_p_pi", pst_estimate_kl_target_policy(sb.log_target, sb.log_q, lpi, n), why);
    print_estimate("kl_p_q", pst_estimate_kl_target_policy(sb.log_target, sb.log_q, sb.log_q, n), why);
    print_estimate("kl_pi_a", pst_estimate_kl_policy_prior(lpi, sb.log_prior, sb.log_q, n), why);
    print_estimate("tvd_p_pi", pst_estimate_tvd(sb.log_target, sb.log_q, lpi, n), why);
    printf("\"features\": [");
    for (int j = 0; j < k; j++) {
        const char *nm = pst_text_evidence_feature_name(b.evidence, j);
        char *qn = pst_json_quote(nm, strlen(nm), NULL);
        printf("%s%s", j ? ", " : "", qn ? qn : "\"?\"");
        free(qn);
    }
    double v[4][PST_TARGET_MAX_FEATURES];
    for (int j = 0; j < k; j++) v[0][j] = mp[j].value, v[1][j] = mp[j].se, v[2][j] = mpi[j].value, v[3][j] = mpi[j].se;
    static const char *const moment_keys[4] = {"moments_p", "moments_p_se", "moments_pi", "moments_pi_se"};
    int moments_finite = 1;
    printf("], ");
    for (int r = 0; r < 4; r++) {
        printf("\"%s\": ", moment_keys[r]);
        print_numbers(v[r], k, r % 2 ? 4 : 6);
        printf(", ");
        for (int j = 0; j < k; j++) moments_finite &= isfinite(v[r][j]) != 0;
    }
    if (!moments_finite) printf("\"moments_reason\": \"%s\", ", why);
    print_number("ess", ess, 6, why);
    printf("\"kind\": \"%s\"}\n", pst_target_kind_name(b.spec.kind));
    if (lz.value == -INFINITY) {
        /* the JSON line above still reports what was measured (z = 0; the undefined ones null, with a reason) */
        pst_fail(&err, "no sample of %d has P(x) > 0: Z is estimated as 0 and KL(p||pi), TVD and E_p are undefined; "
                       "draw more samples (--n) or relax the constraint", n);
        goto fail;
    }
    if (ess < 30)
        fprintf(stderr, "posterior target estimate: warning: effective sample size %.1f; estimates are unreliable\n",
                ess);
    ret = 0;
fail:
    if (ret) pst_cli_fail_ranks("target estimate", &world, spec, &err);
    pst_scored_batch_free(&sb);
    if (!q_is_prior) pst_distribution_free(&q);
    pst_distribution_free(&pol);
    pst_target_bundle_free(&b);
    free(pids), free(lpi), free(lw);
    return ret;
}

/* ---- sample ---------------------------------------------------------------------- */

static int print_sample(const pst_target_bundle *b, const pst_sample *x, double log_target, double log_prior,
                        pst_error *err) {
    size_t tl;
    char *text = pst_text_evidence_decode(b->evidence, x->tokens, x->n_tokens, &tl, err);
    if (!text) return -1;
    char *q = pst_json_quote(text, tl, NULL);
    free(text);
    if (!q) return pst_fail(err, "out of memory");
    printf("{\"text\": %s, \"tokens\": [", q);
    free(q);
    for (int t = 0; t < x->n_tokens; t++) printf(t ? ", %d" : "%d", x->tokens[t]);
    char nb[2][32];
    printf("], \"log_target\": %s, \"log_prior\": %s}\n", pst_json_number(nb[0], log_target, 9),
           pst_json_number(nb[1], log_prior, 9));
    return 0;
}

static const char target_sample_summary[] =
    "Draws --n samples from p = P/Z (one JSON line each: text, tokens, log_target,\n"
    "log_prior) and prints the sampler's statistics as one JSON line on stderr:\n"
    "acceptance rate; for qrs, per β, the acceptance rate and the estimated\n"
    "TVD(p_beta, p) and KL(p||p_beta). rs is exact: with a pointwise target (b <= 1)\n"
    "or a distributional one with bounded features (envelope exp(max lambda.phi)),\n"
    "and --out FILE keeps the samples as a reference set for eval and tune.";

static int target_sample(int argc, char **argv) {
    draw_opts d;
    draw_opts_default(&d);
    d.n = 10;
    const char *sampler = "rs", *betas = NULL, *out = NULL;
    long max_proposals = 200000;
    int burn = 100;
    const pst_arg spec[] = {
        DRAW_ARGS(d),
        ARG("sampler", ARG_STRING, &sampler, "rs (rejection, q = a, b <= 1), qrs (quasi-rejection) or imh",
            .choices = "rs|qrs|imh"),
        ARG("model", ARG_STRING, &d.model, "proposal model directory (qrs, imh; default: the prior)"),
        ARG("qrs-betas", ARG_STRING, &betas, "qrs: β values (comma-separated; samples use the first; default: Z estimate)",
            .alias = "beta"),
        ARG("max-proposals", ARG_LONG, &max_proposals, "give up after this many proposals", .range = "1.."),
        ARG("burn", ARG_INT, &burn, "imh: chain steps discarded first"),
        ARG("out", ARG_STRING, &out, "rs: also save the samples as a reference set of p (eval/tune --reference)"),
        {0},
    };
    int rc = pst_args_parse("target sample", target_sample_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    int kind = strcmp(sampler, "rs") == 0 ? 0 : strcmp(sampler, "qrs") == 0 ? 1 : 2;
    if (d.n < 1) {
        fprintf(stderr, "posterior target sample: --n: must be at least 1, got %d\n", d.n);
        return 2;
    }
    pst_error err = {0};
    pst_target_bundle b;
    pst_distribution q = {0};
    pst_scored_batch sb = {0};
    int q_is_prior = 1, ret = 1, *pids = NULL;
    unsigned char *acc = NULL;
    int *chain = NULL;
    pst_seq ctx;
    if (out && kind != 0) {
        fprintf(stderr, "posterior target sample: --out keeps exact samples only: use --sampler rs\n");
        return 2;
    }
    if (kind == 0 && (d.model || d.sampling.temperature != 1.0f || d.sampling.top_k || d.sampling.top_p != 1.0f)) {
        fprintf(stderr, "posterior target sample: --sampler rs proposes from the prior itself (no --model, "
                        "temperature, top-k or top-p); use qrs or imh\n");
        return 2;
    }
    if (open_target(&d, 1, &b, &q, &q_is_prior, &err) < 0) goto fail;
    if (encode_prompt(&b, d.prompt, &pids, &ctx, &err) < 0) goto fail;
    pst_rng rng;
    pst_rng_seed(&rng, d.seed);
    if (kind == 0) { /* exact: rejection from the prior under the envelope */
        pst_exact_options xo;
        pst_exact_options_default(&xo);
        xo.batch = d.batch;
        xo.max_proposals = max_proposals;
        pst_reference ref;
        if (pst_target_bundle_reference(&b, NULL, d.n, d.sampling.max_new_tokens, pids ? &ctx : NULL, &xo, &rng, &ref, &err) < 0)
            goto fail;
        int ok = !out || pst_reference_save(out, &ref, &err) == 0;
        for (int i = 0; ok && i < ref.n; i++) ok = print_sample(&b, &ref.xs[i], ref.log_target[i], ref.log_prior[i], &err) == 0;
        if (ok)
            fprintf(stderr, "{\"sampler\": \"rs\", \"proposed\": %ld, \"accepted\": %d, \"acceptance_rate\": %.6g, "
                            "\"log_envelope\": %.6g, \"log_z\": %.6g, \"log_z_se\": %.4g}\n",
                    ref.proposed, ref.n, (double)ref.n / ref.proposed, ref.log_envelope, ref.log_z.value, ref.log_z.se);
        pst_reference_free(&ref);
        ret = ok ? 0 : 1;
        goto fail;
    }
    double beta_list[16];
    int n_beta = 0;
    if (parse_numbers("beta", betas, beta_list, 16, &n_beta, &err) < 0) goto fail;
    for (int i = 0; i < n_beta; i++)
        if (!(beta_list[i] > 0)) {
            pst_fail(&err, "--beta: %g must be positive", beta_list[i]);
            goto fail;
        }
    long proposed = 0;
    int emitted = 0;
    if (kind == 2) {
        /* IMH: one chain over burn + n proposals */
        int total = burn + d.n;
        if (pst_draw_scored(&b.target, &q, pids ? &ctx : NULL, total, d.batch, &rng, &sb, &err) < 0) goto fail;
        chain = malloc(sizeof(int) * total);
        if (!chain) {
            pst_fail(&err, "out of memory");
            goto fail;
        }
        pst_imh_stats st;
        pst_imh_chain(sb.log_target, sb.log_q, total, &rng, chain, &st);
        if (sb.log_target[chain[total - 1]] == -INFINITY) {
            pst_fail(&err, "imh: no proposal has P(x) > 0 in %d draws; the chain never reached the support of p", total);
            goto fail;
        }
        for (int i = burn; i < total; i++)
            if (print_sample(&b, &sb.xs[chain[i]], sb.log_target[chain[i]], sb.log_prior[chain[i]], &err) < 0) goto fail;
        fprintf(stderr, "{\"sampler\": \"imh\", \"proposed\": %d, \"accepted\": %d, \"acceptance_rate\": %.6g, "
                        "\"distinct_states\": %d, \"burn\": %d}\n",
                st.proposed, st.accepted, st.acceptance_rate, st.distinct_states, burn);
        ret = 0;
        goto fail;
    }
    /* qrs: propose in batches until n are accepted */
    double log_beta = 0;
    int beta_from_z = kind == 1 && n_beta == 0;
    pst_qrs_report reports[16];
    int have_reports = 0;
    while (emitted < d.n) {
        if (proposed >= max_proposals) {
            pst_fail(&err, "%s: only %d of %d samples accepted after %ld proposals (--max-proposals); the target is "
                           "too far from the proposal (Z small)",
                     sampler, emitted, d.n, proposed);
            goto fail;
        }
        int m = d.batch > 0 ? d.batch : 64;
        pst_scored_batch_free(&sb);
        if (pst_draw_scored(&b.target, &q, pids ? &ctx : NULL, m, m, &rng, &sb, &err) < 0) goto fail;
        proposed += m;
        free(acc);
        acc = malloc((size_t)m);
        if (!acc) {
            pst_fail(&err, "out of memory");
            goto fail;
        }
        int na = 0;
        {
            if (!have_reports) {
                if (beta_from_z) {
                    pst_estimate lz = pst_estimate_log_partition(sb.log_target, sb.log_q, m);
                    if (lz.value == -INFINITY) continue; /* no evidence of Z yet */
                    beta_list[0] = exp(lz.value);
                    n_beta = 1;
                }
                for (int j = 0; j < n_beta; j++) reports[j] = pst_qrs_diagnose(sb.log_target, sb.log_q, m, log(beta_list[j]));
                have_reports = 1;
                log_beta = log(beta_list[0]);
            }
            pst_qrs_select(sb.log_target, sb.log_q, m, log_beta, &rng, acc, &na);
        }
        for (int i = 0; i < m && emitted < d.n; i++)
            if (acc[i]) {
                if (print_sample(&b, &sb.xs[i], sb.log_target[i], sb.log_prior[i], &err) < 0) goto fail;
                emitted++;
            }
    }
    fprintf(stderr, "{\"sampler\": \"%s\", \"proposed\": %ld, \"accepted\": %d, \"acceptance_rate\": %.6g", sampler,
            proposed, emitted, (double)emitted / proposed);
    if (kind == 1) {
        fprintf(stderr, ", \"qrs\": [");
        for (int j = 0; j < n_beta; j++)
            fprintf(stderr, "%s{\"beta\": %.6g, \"acceptance\": %.6g, \"tvd_p_beta_p\": %.6g, \"kl_p_p_beta\": %.6g}",
                    j ? ", " : "", beta_list[j], reports[j].acceptance.value, reports[j].tvd.value, reports[j].kl.value);
        fprintf(stderr, "]");
    }
    fprintf(stderr, "}\n");
    ret = 0;
fail:
    if (ret) pst_cli_fail("target sample", spec, &err);
    pst_scored_batch_free(&sb);
    if (!q_is_prior) pst_distribution_free(&q);
    pst_target_bundle_free(&b);
    free(pids), free(acc), free(chain);
    return ret;
}

int cmd_target(int argc, char **argv) {
    const pst_subcommand subs[] = {
        {"init", target_init}, {"fit", target_fit}, {"estimate", target_estimate}, {"sample", target_sample}, {0}};
    return pst_subcommand_run("target",
                              "usage: posterior target init|fit|estimate|sample [options]   (--help on each)\n\n"
                              "The posterior p(x) = P(x)/Z of a prior a(x) and evidence:\n"
                              "  init      write a target spec (pointwise, distributional or klrl)\n"
                              "  fit       fit lambda of a distributional target (moment matching, Newton on the dual)\n"
                              "  estimate  log Z, KL(p||pi), KL(pi||a), TVD, moments, with standard errors\n"
                              "  sample    samples from p: --sampler rs | qrs | imh\n",
                              subs, argc, argv);
}
