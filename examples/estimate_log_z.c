/* Estimate log Z of a pointwise target p(x) ∝ a(x)·b(x) on a GPT-2 prior, two ways:
 *   importance sampling from a:  log Ẑ = log mean_i P(x_i)/a(x_i),  x_i ~ a
 *   rejection from a (exact samples of p, the yardstick): log Ẑ = log(accepted / proposed)
 * The prior is a tiny random GPT-2 (16 tokens, token 15 = end of text, at most 6 new
 * tokens); b(x) = 1 when x contains token 3, else 0.
 *
 *   cc $(pkg-config --cflags --libs posterior) examples/estimate_log_z.c -o estimate_log_z
 *   ./estimate_log_z          prints both estimates; exits 1 when they disagree */
#include <stdio.h>

#include "posterior/target.h"

enum { VOCAB = 16, EOT = 15, NEW_TOKENS = 6, WANTED = 3 };

/* The evidence b(x) = [x contains WANTED], one feature per sample. */
static int contains_wanted(void *ctx, const pst_seq *contexts, const pst_sample *xs, int n,
                           double *out, pst_error *err) {
    (void)ctx, (void)contexts, (void)err; /* needs no context; cannot fail */
    for (int i = 0; i < n; i++) {
        out[i] = 0;
        for (int t = 0; t < xs[i].n_tokens; t++)
            if (xs[i].tokens[t] == WANTED) out[i] = 1;
    }
    return 0;
}

/* A random GPT-2 (1 layer, 16 wide) as a distribution a(x). */
static int tiny_prior(pst_distribution *a, pst_error *err) {
    pst_gpt2_config cfg = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_positions = 16,
                           .vocab_size = VOCAB, .layer_norm_epsilon = 1e-5f};
    pst_gpt2 m;
    pst_rng rng;
    pst_rng_seed(&rng, 42);
    if (pst_gpt2_create(&m, &cfg, err)) return -1;
    pst_gpt2_init_random(&m, &rng);
    pst_gpt2_policy_options o;
    pst_gpt2_policy_options_default(&o);
    o.sampling.max_new_tokens = NEW_TOKENS;
    o.sampling.eot_token = EOT;
    int rc = pst_gpt2_distribution_from(&m, &o, a, err);
    pst_gpt2_free(&m);
    return rc;
}

int main(void) {
    pst_error err = {0};
    pst_distribution a;
    if (tiny_prior(&a, &err)) return fprintf(stderr, "prior: %s\n", err.msg), 1;
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = contains_wanted,
                    .prior = &a, .bounded = {1}, .feature_lo = {0}, .feature_hi = {1}};
    pst_rng rng;
    pst_rng_seed(&rng, 1);

    pst_scored_batch b; /* x_i ~ a, scored: log_q = log a, log_target = log P */
    if (pst_draw_scored(&t, &a, NULL, 4000, 500, &rng, &b, &err))
        return fprintf(stderr, "sampling: %s\n", err.msg), 1;
    pst_estimate is = pst_estimate_log_partition(b.log_target, b.log_q, b.n);

    pst_exact_options eo;
    pst_exact_options_default(&eo);
    pst_reference ref; /* 1000 exact samples of p and the acceptance rate */
    if (pst_draw_exact(&t, NULL, 1000, &eo, &rng, &ref, &err))
        return fprintf(stderr, "rejection: %s\n", err.msg), 1;

    /* z² = (difference / its standard error)²: agreement is z² < 16 (4 standard errors) */
    double d = is.value - ref.log_z.value, z2 = d * d / (is.se * is.se + ref.log_z.se * ref.log_z.se);
    printf("log Z, importance sampling (4000 samples of a): %.4f +- %.4f\n", is.value, is.se);
    printf("log Z, rejection (%d of %ld accepted):          %.4f +- %.4f\n", ref.n, ref.proposed,
           ref.log_z.value, ref.log_z.se);
    printf("difference: %.4f (squared over its variance: %.2f)\n", d, z2);
    pst_reference_free(&ref);
    pst_scored_batch_free(&b);
    pst_distribution_free(&a);
    return z2 < 16 ? 0 : 1; /* false for NaN too */
}
