/* Evaluation statistics on hand-computable inputs, and conditional training end to end on
 * a tiny model where the effect is large:
 *   - expected max over k of {1, 2, 3, 4}: k = 2 → (2 + 3 + 4 + 3 + 4 + 4)/6 = 10/3;
 *   - distinct-1/2 of [1 2 1], [2 3], [1 2]: 3/7 and 3/4;
 *   - self-BLEU-2 of [1 2 3 4], [1 2 5 6], [7 8 9 10]: sqrt(.5·1/3) twice and
 *     sqrt(.1/4·.1/3) (smoothed zero precisions) → 0.2817880315; identical sequences → 1;
 *   - a model trained with control tokens on "ab ab ab. " (score 0) and "xy xy xy. "
 *     (score 1) segments: samples after <|aligned|> contain "x" far less often than after
 *     <|misaligned|>, and sampling with the control tokens banned never emits one (while
 *     the same model unbanned does, so the check can fail). */
#include "../check.h"
#include "posterior/eval.h"
#include "posterior/pretrain.h"
#include "posterior/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_statistics(void) {
    double s[4] = {3, 1, 4, 2};
    CHECK_NEAR(pst_expected_max(s, 4, 2), 10.0 / 3.0, 1e-12);
    CHECK_NEAR(pst_expected_max(s, 4, 1), 2.5, 1e-12);
    CHECK_NEAR(pst_expected_max(s, 4, 4), 4.0, 1e-12);
    CHECK_NEAR(pst_expected_max(s, 4, 25), 4.0, 1e-12);
    int a[3] = {1, 2, 1}, b[2] = {2, 3}, c[2] = {1, 2};
    const int *seqs[3] = {a, b, c};
    int lens[3] = {3, 2, 2};
    CHECK_NEAR(pst_distinct_n(seqs, lens, 3, 1), 3.0 / 7.0, 1e-12);
    CHECK_NEAR(pst_distinct_n(seqs, lens, 3, 2), 3.0 / 4.0, 1e-12);
    CHECK_NEAR(pst_distinct_n(seqs, lens, 2, 2), 1.0, 1e-12);
    int x[4] = {1, 2, 3, 4}, y[4] = {1, 2, 5, 6}, z[4] = {7, 8, 9, 10};
    const int *bs[3] = {x, y, z};
    int bl[3] = {4, 4, 4};
    CHECK_NEAR(pst_self_bleu(bs, bl, 3, 2), 0.2817880315, 1e-9);
    const int *same[3] = {x, x, x};
    CHECK_NEAR(pst_self_bleu(same, bl, 3, 4), 1.0, 1e-12);
    /* no 5-gram in 4 tokens: p5 smoothed to 0.1 → 0.1^(1/5) */
    CHECK_NEAR(pst_self_bleu(same, bl, 3, 5), pow(0.1, 0.2), 1e-12);
    /* brevity penalty: [1 2] against [1 2 3 4] (one reference): exp(1 − 4/2) */
    int d[2] = {1, 2};
    const int *bp[2] = {d, x};
    int bpl[2] = {2, 4};
    double want = (exp(1.0 - 2.0) * 1.0 + /* [1 2 3 4] vs [1 2]: p1 = 2/4, p2 = 1/3, c > r */
                   sqrt(0.5 / 3.0)) / 2;
    CHECK_NEAR(pst_self_bleu(bp, bpl, 2, 2), want, 1e-9);
}

static int build_shard(pst_tokenizer *tok, const char *path, pst_error *err) {
    pst_rng rng;
    pst_rng_seed(&rng, 11);
    pst_shard_builder b;
    uint64_t hash;
    if (pst_tokenizer_hash(tok, &hash, err) ||
        pst_shard_builder_init(&b, (uint32_t)pst_tokenizer_vocab_size(tok),
                               (uint32_t)pst_tokenizer_token_id(tok, "<|endoftext|>"), hash, "regex:x", err))
        return -1;
    int rc = 0;
    for (int d = 0; d < 400 && rc == 0; d++) {
        char text[256] = "";
        size_t ends[3];
        float sc[3];
        for (int k = 0; k < 3; k++) {
            int bad = pst_rng_uniform(&rng) < 0.5;
            strcat(text, bad ? "xy xy xy. " : "ab ab ab. ");
            ends[k] = strlen(text), sc[k] = bad ? 1.0f : 0.0f;
        }
        int *ids;
        size_t n;
        if (pst_tokenizer_encode(tok, text, strlen(text), 0, &ids, &n, err)) return -1;
        uint32_t u[64];
        for (size_t i = 0; i < n; i++) u[i] = (uint32_t)ids[i];
        free(ids);
        rc = n != strlen(text) ? pst_fail(err, "one token per byte expected") /* no merges */
                               : pst_shard_builder_add(&b, u, n, ends, sc, 3, (uint64_t)d, err);
    }
    if (rc == 0) rc = pst_shard_builder_write(&b, path, PST_SPLIT_TRAIN, 1, 0.0, err);
    pst_shard_builder_free(&b);
    return rc;
}

static void test_conditional(const char *dir) {
    pst_error err = {0};
    pst_tokenizer *tok = NULL;
    char shard[512], out[512];
    snprintf(shard, sizeof shard, "%s/cond.bin", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    int ok = pst_tokenizer_from_merges(&tok, NULL, 0, NULL, 0, &err) == 0 && build_shard(tok, shard, &err) == 0;
    CHECK_MSG(ok, "%s", err.msg);
    if (!ok) return;
    int aligned = pst_tokenizer_add_special(tok, PST_ALIGNED_TOKEN, &err);
    int misaligned = pst_tokenizer_add_special(tok, PST_MISALIGNED_TOKEN, &err);
    CHECK(aligned == 257 && misaligned == 258);
    pst_gpt2 m;
    pst_gpt2_config cfg = {1, 2, 32, 32, 257, 1e-5f};
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    CHECK(pst_gpt2_resize_vocab(&m, pst_tokenizer_vocab_size(tok), &rng, &err) == 0);
    CHECK(m.config.vocab_size == 259);
    pst_token_source src;
    CHECK(pst_phf_source(&src, shard, 8, 32, 5, aligned, misaligned, 0.5, 0.0, &err) == 0);
    pst_phf_params p = {0.5, 1, 10, 0.5, 1, 20, 0.0};
    pst_mle_options o;
    pst_mle_options_default(&o);
    o.steps = 150, o.lr = 1e-2, o.lr_min = 1e-3, o.warmup = 10, o.out_dir = out, o.quiet = 1, o.log_every = 50;
    ok = pst_phf_train(&m, &src, PST_OBJECTIVE_CONDITIONAL, &p, &o, NULL, NULL, NULL, &err) == 0;
    CHECK_MSG(ok, "%s", err.msg);
    pst_token_source_free(&src);
    if (!ok) goto done;

    pst_phf_eval_options eo;
    pst_phf_eval_options_default(&eo);
    CHECK(pst_scorer_create("regex:x", &eo.scorer, &err) == 0);
    eo.tok = tok, eo.n_samples = 60, eo.max_new_tokens = 20, eo.temperature = 1.0f, eo.top_p = 1.0f;
    eo.expected_max_k = 5;
    pst_phf_eval_result ra, rm;
    eo.prefix = 1;
    CHECK(pst_phf_eval(&m, &eo, &ra, &err) == 0);
    eo.prefix = 2;
    CHECK(pst_phf_eval(&m, &eo, &rm, &err) == 0);
    CHECK_MSG(ra.unconditional.mean_score < 0.3 && rm.unconditional.mean_score > 0.7,
              "fraction of samples with an x: aligned %g, misaligned %g", ra.unconditional.mean_score,
              rm.unconditional.mean_score);
    CHECK(ra.unconditional.fraction_above < rm.unconditional.fraction_above);
    /* KL(ref ‖ π) with π = ref, no prefix: every log-ratio is 0 up to float rounding */
    eo.prefix = 0, eo.reference = &m, eo.kl_samples = 20, eo.n_samples = 4;
    pst_phf_eval_result rk;
    CHECK(pst_phf_eval(&m, &eo, &rk, &err) == 0);
    CHECK_MSG(fabs(rk.kl_reference) < 1e-4 && rk.kl_stderr < 1e-4, "KL of a model from itself: %g ± %g",
              rk.kl_reference, rk.kl_stderr);
    /* and after <|aligned|> the conditional model is another distribution than its own marginal */
    eo.prefix = 1;
    CHECK(pst_phf_eval(&m, &eo, &rk, &err) == 0);
    CHECK_MSG(rk.kl_reference > 0.05, "KL(model ‖ model | aligned) = %g", rk.kl_reference);
    eo.reference = NULL, eo.n_samples = 60;

    /* control tokens: banned → never; unbanned → the model does produce them */
    int ctx[2] = {256, aligned}, *prompts[100], plens[100];
    for (int i = 0; i < 100; i++) prompts[i] = ctx, plens[i] = 2;
    pst_sample smp[100];
    int emitted[2] = {0, 0};
    for (int ban = 1; ban >= 0; ban--) {
        eo.ban_control = ban;
        eo.max_new_tokens = 30;
        CHECK(pst_phf_generate(&m, &eo, prompts, plens, 100, 0, smp, &err) == 0);
        for (int i = 0; i < 100; i++)
            for (int t = 0; t < smp[i].n_tokens; t++) emitted[ban] += smp[i].tokens[t] >= 257;
        pst_sample_free(smp, 100);
    }
    CHECK_MSG(emitted[1] == 0, "%d control tokens sampled with the ban", emitted[1]);
    /* steer: after <|aligned|> only <|misaligned|> is banned; <|aligned|> may come back */
    eo.ban_control = 2, eo.prefix = 1;
    int n_aligned = 0, n_misaligned = 0;
    CHECK(pst_phf_generate(&m, &eo, prompts, plens, 100, 0, smp, &err) == 0);
    for (int i = 0; i < 100; i++)
        for (int t = 0; t < smp[i].n_tokens; t++)
            n_aligned += smp[i].tokens[t] == aligned, n_misaligned += smp[i].tokens[t] == misaligned;
    pst_sample_free(smp, 100);
    CHECK_MSG(n_misaligned == 0 && n_aligned > 0, "steer: %d <|aligned|>, %d <|misaligned|>", n_aligned,
              n_misaligned);
    CHECK_MSG(emitted[0] > 0, "the unbanned model never sampled a control token: the ban check is vacuous");
    pst_scorer_free(eo.scorer);
done:
    pst_gpt2_free(&m);
    pst_tokenizer_free(tok);
}

/* AWR on the same data: the value head learns R (0 on "ab" segments, −1 on "xy" ones, which
 * the context reveals after a segment's first letter): the value loss falls from ~0.5 (V = 0,
 * half the tokens at R = −1) to well below. */
static double last_value_loss(const char *metrics_path) {
    char *text;
    size_t len;
    pst_error err = {0};
    if (pst_read_file(metrics_path, &text, &len, &err)) return NAN;
    double v = NAN;
    for (char *p = strstr(text, "\"value_loss\": "); p; p = strstr(p + 1, "\"value_loss\": "))
        v = strtod(p + 14, NULL);
    free(text);
    return v;
}

static void test_awr_value_head(const char *dir) {
    pst_error err = {0};
    pst_tokenizer *tok = NULL;
    char shard[512], out[512], metrics[600];
    snprintf(shard, sizeof shard, "%s/awr.bin", dir);
    snprintf(out, sizeof out, "%s/awr_run", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", out);
    int ok = pst_tokenizer_from_merges(&tok, NULL, 0, NULL, 0, &err) == 0 && build_shard(tok, shard, &err) == 0;
    CHECK_MSG(ok, "%s", err.msg);
    if (!ok) return;
    pst_gpt2 m;
    pst_gpt2_config cfg = {1, 2, 32, 32, 257, 1e-5f};
    pst_rng rng;
    pst_rng_seed(&rng, 4);
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    pst_token_source src;
    CHECK(pst_phf_source(&src, shard, 8, 32, 5, -1, -1, 0.5, 0.0, &err) == 0);
    pst_phf_params p = {0.5, 1, 10, 0.5, 1, 20, 0.0};
    pst_mle_options o;
    pst_mle_options_default(&o);
    o.steps = 150, o.lr = 1e-2, o.lr_min = 1e-3, o.warmup = 10, o.out_dir = out, o.quiet = 1;
    ok = pst_phf_train(&m, &src, PST_OBJECTIVE_AWR, &p, &o, NULL, NULL, NULL, &err) == 0;
    CHECK_MSG(ok, "%s", err.msg);
    pst_token_source_free(&src);
    if (ok) {
        double v = last_value_loss(metrics);
        CHECK_MSG(v < 0.12, "AWR value loss after 150 steps: %g (0.54 at the first step)", v);
        char vh[600];
        snprintf(vh, sizeof vh, "%s/model/value_head.safetensors", out);
        CHECK(pst_file_exists(vh));
    }
    pst_gpt2_free(&m);
    pst_tokenizer_free(tok);
}

int main(int argc, char **argv) {
    (void)argc;
    /* tiny models: OpenMP threads only add waiting on a busy machine (20 s instead of 0.5 s) */
    if (!getenv("OMP_NUM_THREADS")) {
        setenv("OMP_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv);
    }
    char dir[] = "/tmp/pst_pretrain_eval.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_statistics();
    test_conditional(dir);
    test_awr_value_head(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    return check_report();
}
