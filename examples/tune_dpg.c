/* Tune a policy π_θ toward p(x) ∝ a(x)·b(x) with on-policy DPG for a few steps, and
 * measure KL(p‖π) before and after on exact samples of p (rejection from a).
 * The prior a is a tiny random GPT-2 (16 tokens, token 15 = end of text, at most 6 new
 * tokens); b(x) = 1 when x contains token 3, else 0; π_θ starts as a copy of a.
 *
 *   cc $(pkg-config --cflags --libs posterior) examples/tune_dpg.c -o tune_dpg
 *   ./tune_dpg       prints E_π[b] per step and KL(p‖π) before / after; exits 1 unless
 *                    KL(p‖π) fell by more than two standard errors */
#include <stdio.h>

#include "posterior/dpg.h"

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

/* The same random GPT-2 (1 layer, 16 wide, seed 42) each call, as a distribution. */
static int tiny_gpt2(pst_distribution *d, pst_error *err) {
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
    int rc = pst_gpt2_distribution_from(&m, &o, d, err);
    pst_gpt2_free(&m);
    return rc;
}

/* After every step: its estimate of E_π[b] from the step's batch. */
static int print_step(void *ctx, const pst_dpg_step *s) {
    (void)ctx;
    printf("step %ld: E_pi[b] %.3f +- %.3f\n", s->step, s->moments_policy[0].value,
           s->moments_policy[0].se);
    return 0;
}

int main(void) {
    pst_error err = {0};
    pst_distribution a, pi;
    if (tiny_gpt2(&a, &err) || tiny_gpt2(&pi, &err)) return fprintf(stderr, "model: %s\n", err.msg), 1;
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = contains_wanted,
                    .prior = &a, .bounded = {1}, .feature_lo = {0}, .feature_hi = {1}};
    pst_rng rng;
    pst_rng_seed(&rng, 1);
    pst_exact_options eo;
    pst_exact_options_default(&eo);
    pst_reference ref; /* 1000 exact samples of p: the yardstick */
    pst_exact_report before, after;
    if (pst_draw_exact(&t, NULL, 1000, &eo, &rng, &ref, &err) ||
        pst_reference_evaluate(&t, &ref, &pi, &before, NULL, &err))
        return fprintf(stderr, "yardstick: %s\n", err.msg), 1;

    pst_dpg_options o;
    pst_dpg_options_default(&o);
    o.variant = PST_DPG_ON_POLICY;
    o.batch = 64;
    o.steps = 20;
    o.lr = 1e-2;
    o.quiet = 1;
    if (pst_dpg_train(&pi, &t, NULL, &o, print_step, NULL, &err) ||
        pst_reference_evaluate(&t, &ref, &pi, &after, NULL, &err))
        return fprintf(stderr, "DPG: %s\n", err.msg), 1;

    /* the drop must exceed two standard errors: drop > 0 and drop² > 4·(se₀² + se₁²) */
    double drop = before.kl_target_policy.value - after.kl_target_policy.value;
    double var = before.kl_target_policy.se * before.kl_target_policy.se +
                 after.kl_target_policy.se * after.kl_target_policy.se;
    printf("KL(p||pi) before: %.4f +- %.4f\n", before.kl_target_policy.value, before.kl_target_policy.se);
    printf("KL(p||pi) after:  %.4f +- %.4f\n", after.kl_target_policy.value, after.kl_target_policy.se);
    pst_reference_free(&ref);
    pst_distribution_free(&pi);
    pst_distribution_free(&a);
    return drop > 0 && drop * drop > 4 * var ? 0 : 1;
}
