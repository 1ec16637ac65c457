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
#include "cli/ranks.h"
#include "cli/steps.h"
#include "posterior/eval.h"

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

/* The evaluation as one JSON object on stdout (--show sample texts); notes on stderr. */
static int print_result(const pst_target_eval_options *o, const pst_target_eval_result *r, int show, pst_error *err) {
    const pst_target_bundle *b = &r->bundle;
    int n = r->n, k = r->k;
    printf("{\"model\": \"%s\", \"n\": %d, \"kind\": \"%s\", \"features\": [", o->model, n,
           pst_target_kind_name(b->spec.kind));
    for (int j = 0; j < k; j++) {
        const char *nm = pst_text_evidence_feature_name(b->evidence, j);
        char *qn = pst_json_quote(nm, strlen(nm), NULL);
        printf("%s%s", j ? ", " : "", qn ? qn : "\"?\"");
        free(qn);
    }
    printf("], \"alignment\": [");
    char nb[8][32]; /* formatted numbers: JSON null where a value is undefined (not finite) */
    for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb[0], r->alignment[j].value, 6));
    printf("], \"alignment_se\": [");
    for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb[0], r->alignment[j].se, 4));
    printf("]");
    if (b->spec.kind == PST_TARGET_DISTRIBUTIONAL) {
        printf(", \"moments_target\": [");
        for (int j = 0; j < k; j++) printf("%s%.6g", j ? ", " : "", b->spec.moments[j]);
        /* the target's own moment: μ̄ only as far as λ was fitted well (target fit's moment_se) */
        printf("], \"moments_p\": [");
        for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb[0], r->moments_p[j].value, 6));
        printf("], \"moments_p_se\": [");
        for (int j = 0; j < k; j++) printf("%s%s", j ? ", " : "", pst_json_number(nb[0], r->moments_p[j].se, 4));
        printf("]");
    }
    printf(", \"kl_pi_a\": %s, \"kl_pi_a_se\": %s, \"kl_p_pi\": %s, \"kl_p_pi_se\": %s, \"tvd_p_pi\": %s, "
           "\"log_z\": %s, \"log_z_se\": %s, \"distinct_1\": %.6g, \"distinct_2\": %.6g, \"distinct_3\": %.6g, "
           "\"mean_length\": %.4g, \"samples\": [",
           pst_json_number(nb[0], r->kl_pi_a.value, 6), pst_json_number(nb[1], r->kl_pi_a.se, 4),
           pst_json_number(nb[2], r->kl_p_pi.value, 6), pst_json_number(nb[3], r->kl_p_pi.se, 4),
           pst_json_number(nb[4], r->tvd.value, 6), pst_json_number(nb[5], r->log_z.value, 6),
           pst_json_number(nb[6], r->log_z.se, 4), r->distinct[0], r->distinct[1], r->distinct[2], r->mean_length);
    for (int i = 0; i < show && i < n; i++) {
        size_t tl;
        const pst_sample *x = &r->samples.xs[i];
        char *text = pst_text_evidence_decode(b->evidence, x->tokens, x->n_tokens, &tl, err);
        if (!text) return -1;
        char *q = pst_json_quote(text, tl, NULL);
        free(text);
        printf("%s%s", i ? ", " : "", q ? q : "\"\"");
        free(q);
    }
    printf("]");
    if (o->data) printf(", \"lm_loss\": %s, \"lm_tokens\": %ld", pst_json_number(nb[0], r->lm_loss, 6), r->lm_tokens);
    printf(", \"ess\": %s, \"ess_low\": %s", pst_json_number(nb[0], r->ess, 5),
           r->flags & PST_FLAG_LOW_ESS ? "true" : "false");
    if (r->have_exact)
        print_exact(&r->reference, &r->exact, b->spec.kind == PST_TARGET_DISTRIBUTIONAL ? k : 0, r->moments_p_exact);
    else printf(", \"n_exact\": 0, \"exact\": null");
    print_warnings(r->flags, r->ess, n, r->kl_p_pi, &r->exact);
    printf("}\n");
    if (r->log_z.value == -INFINITY)
        fprintf(stderr, "posterior eval: note: no sample satisfies the target (P = 0), so KL(p||pi) and TVD are "
                        "undefined (reported as null) and log_z is -inf (null)\n");
    return 0;
}

/* --prompts: one evaluation per context, averaged (pst_context_eval); contexts whose exact
 * samples were out of budget are named on stderr. */
static int eval_contexts(const pst_target_eval_options *eo, const char *prompts, int max_contexts,
                         const pst_arg *spec) {
    pst_context_eval_options o;
    pst_context_eval_options_default(&o);
    o.eval = *eo;
    o.prompts = prompts;
    o.max_contexts = max_contexts;
    pst_context_eval_result r;
    pst_error err = {0};
    char *json = NULL;
    if (pst_context_eval(&o, &r, &err) < 0 || !(json = pst_context_eval_json(&r, &err))) {
        pst_context_eval_free(&r);
        return pst_cli_fail("eval", spec, &err);
    }
    long *zl = pst_calloc((size_t)r.n_contexts + 1, sizeof(long), &err);
    int nz = 0;
    for (int i = 0; zl && i < r.n_contexts; i++)
        if (pst_context_eval_zero_z(&r.rows[i])) zl[nz++] = r.rows[i].line;
    char what[160];
    snprintf(what, sizeof what, "%d of %d contexts had no sample with P(x) > 0 (Z_c estimate 0: left out of log Z_c's "
                                "spread and KL(p||pi))", nz, r.n_contexts);
    pst_cli_warn_lines("eval", what, prompts, zl, nz);
    free(zl);
    for (int i = 0; i < r.n_contexts; i++)
        if (r.rows[i].skipped[0])
            fprintf(stderr, "posterior eval: warning: %s:%ld: no exact samples of p for this context (%s)\n", prompts,
                    r.rows[i].line, r.rows[i].skipped);
    printf("%s\n", json);
    free(json);
    pst_context_eval_free(&r);
    return pst_cli_flush_stdout(&err) < 0 ? pst_cli_fail("eval", spec, &err) : 0;
}

static const char eval_summary[] =
    "Evaluates a model against a target from its own samples: alignment E_pi[b] or\n"
    "E_pi[phi] (with standard errors), KL(pi||a), KL(p||pi), TVD(p, pi), log Z,\n"
    "distinct-1/2/3 diversity, mean length, and a few samples. One JSON object.\n"
    "The divergences to p are importance-sampled from the model (the *_se keys and\n"
    "ess say how far to trust them; blind to mass of p the model dropped) and, when\n"
    "p can be sampled exactly (b <= 1, or bounded features), measured on exact\n"
    "samples of p (keys *_exact); warnings name what cannot be trusted.\n"
    "With --prompts, each context is evaluated so and the measures are averaged\n"
    "over contexts (standard errors over contexts); contexts whose exact samples\n"
    "are out of budget are named and measured from the model's samples only.\n"
    "(`posterior pretrain eval` evaluates pretrained models.)\n"
    "Under mpirun -np N: the model's samples split over the N ranks, the numbers of\n"
    "one rank (docs/scaling.md).";

int cmd_eval(int argc, char **argv) {
    /* the old spelling of `posterior pretrain eval`: `posterior eval` with --task or --scorer,
     * options only pretrain eval has (docs/cli.md) */
    for (int i = 0; i < argc; i++)
        if (!strncmp(argv[i], "--task", 6) || !strncmp(argv[i], "--scorer", 8)) {
            if (pst_comm_world().size > 1 && pst_comm_world().rank == 0)
                fprintf(stderr, "posterior eval: --task/--scorer (pretrain eval) does not run data parallel yet; "
                                "start it without mpirun\n");
            return pst_comm_world().size > 1 ? 2 : cmd_pretrain_eval(argc, argv);
        }
    pst_target_eval_options o;
    pst_target_eval_options_default(&o);
    int show = 3, max_contexts = 0;
    const char *prompts = NULL;
    const pst_arg spec[] = {
        ARG("model", ARG_STRING, &o.model, "the model π to evaluate", .required = 1),
        ARG("spec", ARG_STRING, &o.spec, "target spec (JSON)", .required = 1),
        ARG("n", ARG_INT, &o.n, "samples drawn from the model", .range = "2.."),
        ARG("batch", ARG_INT, &o.batch, "samples drawn together", .range = "1.."),
        PST_ARGS_SAMPLING(o.sampling),
        ARG("prompt", ARG_STRING, &o.prompt, "context text (conditional targets)"),
        ARG("prompts", ARG_STRING, &prompts, "conditional targets: evaluate each context of this file (one per line; "
            "--n, --n-exact, --max-proposals per context) and average over contexts"),
        ARG("max-contexts", ARG_INT, &max_contexts, "--prompts: the first N contexts (0: all)", .range = "0.."),
        ARG("show", ARG_INT, &show, "sample texts included in the output"),
        ARG("data", ARG_STRING, &o.data, "token shard for the LM loss (posterior prepare)"),
        ARG("lm-batches", ARG_INT, &o.lm_batches, "LM loss: batches of 8 x --lm-seq tokens", .range = "1.."),
        ARG("lm-seq", ARG_INT, &o.lm_seq, "LM loss: sequence length", .range = "1.."),
        PST_ARGS_SEED(o.seed),
        PST_ARGS_EXACT(o.reference, o.max_proposals),
        ARG("n-exact", ARG_INT, &o.n_exact, "exact samples of p drawn now when no --reference (-1: --n; 0: none)",
         .range = "-1.."),
        {0},
    };
    int rc = pst_args_parse("eval", eval_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    pst_error err = {0};
    pst_comm world = pst_comm_world(); /* under mpirun: the samples split over the ranks, rank 0 prints */
    o.comm = &world;
    if (pst_comm_agree_args(&world, argc, argv, &err) < 0) return pst_cli_fail_ranks("eval", &world, spec, &err);
    if (prompts && world.size > 1) {
        pst_comm_fail_all(&world, &err, NULL, "--prompts does not run data parallel yet; start it without mpirun");
        return pst_cli_fail_ranks("eval", &world, spec, &err);
    }
    if (prompts) return eval_contexts(&o, prompts, max_contexts, spec);
    pst_target_eval_result r;
    int ret = 0;
    if (pst_target_eval(&o, &r, &err) < 0 || (world.rank == 0 && print_result(&o, &r, show, &err) < 0))
        ret = pst_cli_fail_ranks("eval", &world, spec, &err);
    pst_target_eval_free(&r);
    return ret;
}
