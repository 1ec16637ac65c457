/* RL throughput (samples/s) of the trainers in src/train/ppo.c (PPO) and src/train/dpg.c
 * (REINFORCE) on a random GPT-2, the peer of bench/rl_torch_bench.py (the same algorithms in
 * PyTorch):
 *
 *   bench_rl [--method ppo|reinforce] [--config tiny|small] [--batch B] [--new-tokens N]
 *            [--steps S] [--epochs E] [--minibatch M]
 *
 * One step toward the reward r(x) = [x contains a token id < 500] with a KL penalty β = 0.2:
 *   1. B samples of N tokens from π_θ (KV cache, temperature 1, no stop at eot);
 *   2. log a(x) from the frozen prior (reinforce: one scoring forward; ppo: per token);
 *   3. reinforce: A_i = R_i − moving-average baseline, R = r − β (log π − log a); one
 *      forward + backward of −Σ A_i log π(x_i)/n, AdamW step;
 *      ppo: per-token log π_old and values (one forward), per-token rewards, GAE (1, 0.95),
 *      whitening; E epochs over minibatches of M: forward + backward of the clipped
 *      losses, AdamW steps of the policy and the value head;
 * lr 1e-5, betas 0.9/0.999, gradient clipped at norm 1. One untimed warm-up step;
 * samples/s = B·S / time of S steps. Prints one JSON line, with step_s: the mean seconds
 * per step of each phase (bench/phases.h). */
#include "cli/omp_defaults.h"
#include "phases.h"
#include "posterior/rl.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int main(int argc, char **argv) {
    pst_cli_omp_defaults(argv); /* as the CLI runs */
    const char *config = "tiny", *method = "ppo";
    int batch = 16, new_tokens = 32, steps = 3, epochs = 2, minibatch = 8;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_rl [--method ppo|reinforce] [--config tiny|small] [--batch B] [--new-tokens N] "
                   "[--steps S] [--epochs E] [--minibatch M]\n");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_rl: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *a = argv[i], *v = argv[++i];
        int x = atoi(v);
        if (strcmp(a, "--config") == 0) config = v;
        else if (strcmp(a, "--method") == 0) method = v;
        else if (x < 1) {
            fprintf(stderr, "bench_rl: %s expects a positive integer, got '%s'\n", a, v);
            return 2;
        } else if (strcmp(a, "--batch") == 0) batch = x;
        else if (strcmp(a, "--new-tokens") == 0) new_tokens = x;
        else if (strcmp(a, "--steps") == 0) steps = x;
        else if (strcmp(a, "--epochs") == 0) epochs = x;
        else if (strcmp(a, "--minibatch") == 0) minibatch = x;
        else {
            fprintf(stderr, "bench_rl: unknown option %s\n", a);
            return 2;
        }
    }
    int ppo = strcmp(method, "ppo") == 0;
    if (!ppo && strcmp(method, "reinforce") != 0) {
        fprintf(stderr, "bench_rl: --method ppo or reinforce, got '%s'\n", method);
        return 2;
    }
    pst_gpt2_config cfg = {4, 4, 128, 256, 50257, 1e-5f};
    if (strcmp(config, "small") == 0) cfg = (pst_gpt2_config){12, 12, 768, 1024, 50257, 1e-5f};
    else if (strcmp(config, "tiny") != 0) {
        fprintf(stderr, "bench_rl: --config tiny or small, got '%s'\n", config);
        return 2;
    }
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 1234);
    pst_gpt2 m;
    if (pst_gpt2_create(&m, &cfg, &err) < 0) {
        fprintf(stderr, "bench_rl: %s\n", err.msg);
        return 1;
    }
    pst_gpt2_init_random(&m, &rng);
    pst_gpt2_policy_options o;
    pst_gpt2_policy_options_default(&o);
    o.sampling.max_new_tokens = new_tokens;
    o.sampling.stop_at_eot = 0;
    o.sampling.eot_token = 50256;
    o.micro_batch = ppo ? minibatch : batch;
    pst_distribution prior, policy;
    if (pst_gpt2_distribution_from(&m, &o, &prior, &err) < 0 || pst_gpt2_distribution_from(&m, &o, &policy, &err) < 0) {
        fprintf(stderr, "bench_rl: %s\n", err.msg);
        return 1;
    }
    phases_wrap(&policy, &prior);
    /* a KL-RL target a·exp(r/β): the reward r is the score, log P − log a = r/β */
    pst_target t = {.kind = PST_TARGET_KLRL, .n_features = 1, .evidence = small_ids, .prior = &prior, .beta = 0.2};
    pst_dpg_options d;
    pst_dpg_options_default(&d);
    d.variant = PST_RL_REINFORCE;
    d.reward = PST_REWARD_LOG_EVIDENCE;
    d.kl_coef = 0.2;
    d.batch = batch;
    d.steps = steps + 1;
    d.lr = 1e-5;
    d.quiet = 1;
    pst_ppo_options p;
    pst_ppo_options_default(&p);
    p.epochs = epochs, p.minibatch = minibatch, p.kl_target = 0;
    timing tm = {0, 0};
    int rc = ppo ? pst_ppo_train(&policy, &t, &d, &p, on_step, &tm, &err)
                 : pst_dpg_train(&policy, &t, &prior, &d, on_step, &tm, &err);
    if (rc < 0) {
        fprintf(stderr, "bench_rl: %s\n", err.msg);
        return 1;
    }
    double seconds = tm.t_last - tm.t_first;
    char phases[512];
    phases_json(phases, sizeof phases, steps, seconds);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"ours\", \"bench\": \"%s\", \"config\": \"%s\", \"batch\": %d, \"new_tokens\": %d, "
           "\"steps\": %d, \"epochs\": %d, \"minibatch\": %d, \"threads\": %d, \"params\": %zu, "
           "\"samples_per_s\": %.3f, \"seconds\": %.3f, \"peak_rss_mb\": %.1f, %s}\n",
           method, config, batch, new_tokens, steps, ppo ? epochs : 1, ppo ? minibatch : batch, omp_get_max_threads(),
           m.num_params, batch * steps / seconds, seconds, ru.ru_maxrss / 1024.0, phases);
    pst_distribution_free(&prior);
    pst_distribution_free(&policy);
    pst_gpt2_free(&m);
    return 0;
}
