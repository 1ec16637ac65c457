/* DPG throughput (samples/s) of the trainer in src/train/dpg.c on a random GPT-2,
 * the peer of bench/dpg_torch_bench.py (the same algorithm in PyTorch):
 *
 *   bench_dpg [--config tiny|small] [--batch B] [--new-tokens N] [--steps S] [--weights fp32|bf16]
 *
 * One on-policy DPG step toward P(x) = a(x)·b(x), b(x) = [x contains a token id < 500]:
 *   1. B samples of N tokens from π_θ (KV cache, temperature 1, no stop at eot); with
 *      --weights bf16 from q_bf16 (its weight matrices rounded), plus the fp32 scoring pass
 *      that gives log π (pst_gpt2_policy_options: both count as "sample");
 *   2. log a(x): the frozen prior scores the samples (one forward);
 *   3. weights c_i = P/(π·n·Ẑ) with Ẑ the running mean of P/π;
 *   4. forward + backward of −Σ c_i log π_θ(x_i) on the policy, AdamW step
 *      (lr 1e-5, betas 0.9/0.999, no weight decay, gradient clipped at norm 1).
 * One untimed warm-up step; samples/s = B·S / time of S steps. Prints one JSON line, with
 * step_s: the mean seconds per step of each phase (sample, score_prior, forward_backward,
 * adamw; the rest of a step is the trainer's own bookkeeping). */
#include "cli/omp_defaults.h"
#include "phases.h"
#include "posterior/dpg.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int main(int argc, char **argv) {
    pst_cli_omp_defaults(argv); /* as the CLI runs */
    const char *config = "tiny";
    int batch = 16, new_tokens = 32, steps = 5, bf16 = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_dpg [--config tiny|small] [--batch B] [--new-tokens N] [--steps S] [--weights fp32|bf16]\n");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_dpg: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *a = argv[i], *v = argv[++i];
        int x = atoi(v);
        if (strcmp(a, "--config") == 0) config = v;
        else if (strcmp(a, "--weights") == 0 && (strcmp(v, "fp32") == 0 || strcmp(v, "bf16") == 0)) bf16 = v[0] == 'b';
        else if (x < 1) {
            fprintf(stderr, "bench_dpg: %s expects a positive integer, got '%s'\n", a, v);
            return 2;
        } else if (strcmp(a, "--batch") == 0) batch = x;
        else if (strcmp(a, "--new-tokens") == 0) new_tokens = x;
        else if (strcmp(a, "--steps") == 0) steps = x;
        else {
            fprintf(stderr, "bench_dpg: unknown option %s\n", a);
            return 2;
        }
    }
    pst_gpt2_config cfg = {4, 4, 128, 256, 50257, 1e-5f};
    if (strcmp(config, "small") == 0) cfg = (pst_gpt2_config){12, 12, 768, 1024, 50257, 1e-5f};
    else if (strcmp(config, "tiny") != 0) {
        fprintf(stderr, "bench_dpg: --config tiny or small, got '%s'\n", config);
        return 2;
    }
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 1234);
    pst_gpt2 m;
    if (pst_gpt2_create(&m, &cfg, &err) < 0) {
        fprintf(stderr, "bench_dpg: %s\n", err.msg);
        return 1;
    }
    pst_gpt2_init_random(&m, &rng);
    pst_gpt2_policy_options o;
    pst_gpt2_policy_options_default(&o);
    o.sampling.max_new_tokens = new_tokens;
    o.sampling.stop_at_eot = 0;
    o.sampling.eot_token = 50256;
    o.micro_batch = batch;
    pst_gpt2_policy_options po = o; /* the policy samples with bf16 weights when asked; a stays fp32 */
    po.sampling.bf16_weights = bf16;
    pst_distribution prior, policy;
    if (pst_gpt2_distribution_from(&m, &o, &prior, &err) < 0 || pst_gpt2_distribution_from(&m, &po, &policy, &err) < 0) {
        fprintf(stderr, "bench_dpg: %s\n", err.msg);
        return 1;
    }
    phases_wrap(&policy, &prior);
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = small_ids, .prior = &prior};
    pst_dpg_options d;
    pst_dpg_options_default(&d);
    d.variant = PST_DPG_ON_POLICY;
    d.batch = batch;
    d.steps = steps + 1;
    d.lr = 1e-5;
    d.quiet = 1;
    timing tm = {0, 0};
    if (pst_dpg_train(&policy, &t, &prior, &d, on_step, &tm, &err) < 0) {
        fprintf(stderr, "bench_dpg: %s\n", err.msg);
        return 1;
    }
    double seconds = tm.t_last - tm.t_first;
    char phases[512];
    phases_json(phases, sizeof phases, steps, seconds);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"%s\", \"bench\": \"dpg\", \"config\": \"%s\", \"batch\": %d, \"new_tokens\": %d, "
           "\"steps\": %d, \"threads\": %d, \"params\": %zu, \"samples_per_s\": %.3f, \"seconds\": %.3f, "
           "\"peak_rss_mb\": %.1f, %s}\n",
           bf16 ? "ours-bf16" : "ours", config, batch, new_tokens, steps, omp_get_max_threads(), m.num_params, batch * steps / seconds, seconds,
           ru.ru_maxrss / 1024.0, phases);
    pst_distribution_free(&prior);
    pst_distribution_free(&policy);
    pst_gpt2_free(&m);
    return 0;
}
