/* Preference training throughput (steps/s) on a random GPT-2, the peer of
 * bench/preference_torch_bench.py (the same steps in PyTorch):
 *
 *   bench_preference [--config tiny|small] [--mode rm|dpo] [--pairs P] [--prompt N] [--response N] [--steps S]
 *
 * One step on P pairs whose sequences are <prompt tokens> + <response tokens> (random ids):
 *   rm   the Bradley–Terry loss of a reward model r = w·h_last (pst_rm_pairs_batch: one forward
 *        and backward of the 2P rows), gradient clipped at norm 1, AdamW on trunk and head;
 *   dpo  the DPO sigmoid loss (β 0.1) of the policy against precomputed reference log-probs
 *        (pst_dpo_pairs_batch: one forward and backward of the 2P rows), clip, AdamW.
 * One untimed warm-up step; prints one JSON line with steps/s, pairs/s and step_s: the mean
 * seconds per step of the forward + backward (the pairs_batch call) and of clip + AdamW. */
#include "cli/omp_defaults.h"
#include "posterior/preference.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const pst_error *e) {
    fprintf(stderr, "bench_preference: %s\n", e->msg);
    exit(1);
}

int main(int argc, char **argv) {
    pst_cli_omp_defaults(argv); /* as the CLI runs */
    const char *config = "tiny", *mode = "rm";
    int P = 8, prompt = 16, response = 48, steps = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--config") == 0) config = argv[i + 1];
        else if (strcmp(argv[i], "--mode") == 0) mode = argv[i + 1];
        else if (strcmp(argv[i], "--pairs") == 0) P = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--prompt") == 0) prompt = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--response") == 0) response = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--steps") == 0) steps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_preference [--config tiny|small] [--mode rm|dpo] [--pairs P] [--prompt N] "
                            "[--response N] [--steps S]\n");
            return 2;
        }
    }
    pst_gpt2_config cfg = {4, 4, 128, 256, 50257, 1e-5f};
    if (strcmp(config, "small") == 0) cfg = (pst_gpt2_config){12, 12, 768, 1024, 50257, 1e-5f};
    int dpo = strcmp(mode, "dpo") == 0, L = prompt + response, C = cfg.n_embd;
    pst_error err = {0};
    pst_rng rng;
    pst_rng_seed(&rng, 1);
    pst_reward_model rm = {0};
    if (pst_gpt2_create(&rm.trunk, &cfg, &err) < 0) die(&err);
    pst_gpt2_init_random(&rm.trunk, &rng);
    rm.head = calloc((size_t)C, sizeof(float));
    float *head_grad = calloc((size_t)C, sizeof(float));
    for (int i = 0; i < C; i++) rm.head[i] = (float)(0.02 * pst_rng_normal(&rng));
    pst_token_pair *pairs = calloc((size_t)P, sizeof *pairs);
    for (int i = 0; i < P; i++) {
        pairs[i] = (pst_token_pair){malloc(L * sizeof(int)), malloc(L * sizeof(int)), L, L, prompt, 0};
        for (int t = 0; t < L; t++) {
            pairs[i].chosen[t] = (int)pst_rng_below(&rng, (uint64_t)cfg.vocab_size);
            pairs[i].rejected[t] = t < prompt ? pairs[i].chosen[t] : (int)pst_rng_below(&rng, (uint64_t)cfg.vocab_size);
        }
    }
    double *ref_w = malloc(P * sizeof(double)), *ref_l = malloc(P * sizeof(double));
    if (dpo && pst_pairs_logprobs(&rm.trunk, pairs, P, ref_w, ref_l, &err) < 0) die(&err);
    pst_adamw opt, hopt;
    unsigned char *decay = pst_gpt2_decay_mask(&rm.trunk, &err);
    if (!decay || pst_adamw_create(&opt, rm.trunk.num_params, 0.9f, 0.95f, 1e-8f, 0.0f, &err) < 0 ||
        pst_adamw_create(&hopt, (size_t)C, 0.9f, 0.95f, 1e-8f, 0.0f, &err) < 0)
        die(&err);
    double t0 = 0, t_fb = 0, t_update = 0; /* the phases of the timed steps */
    for (int s = 0; s <= steps; s++) {
        if (s == 1) t0 = pst_now(); /* step 0 warms up */
        double t1 = pst_now();
        pst_pair_stats st;
        pst_gpt2_zero_grad(&rm.trunk);
        memset(head_grad, 0, C * sizeof(float));
        int rc = dpo ? pst_dpo_pairs_batch(&rm.trunk, pairs, P, ref_w, ref_l, PST_DPO_SIGMOID, 0.1, 0, 1, 1.0f, NULL, &st, &err)
                     : pst_rm_pairs_batch(&rm, pairs, P, head_grad, 1.0f, NULL, &st, &err);
        if (rc < 0) die(&err);
        double t2 = pst_now();
        float scale = pst_clip_scale(pst_grad_norm(rm.trunk.grad_memory, rm.trunk.num_params), 1.0f);
        pst_adamw_update(&opt, rm.trunk.param_memory, rm.trunk.grad_memory, scale, decay, rm.trunk.num_params, 1e-5f);
        if (!dpo) pst_adamw_update(&hopt, rm.head, head_grad, 1.0f, NULL, (size_t)C, 1e-5f);
        if (s >= 1) t_fb += t2 - t1, t_update += pst_now() - t2;
    }
    double dt = pst_now() - t0;
    printf("{\"impl\": \"posterior\", \"mode\": \"%s\", \"config\": \"%s\", \"pairs\": %d, \"seq\": %d, \"threads\": %d, "
           "\"steps_per_s\": %.4f, \"pairs_per_s\": %.2f, \"step_s\": {\"forward_backward\": %.4f, "
           "\"adamw\": %.4f, \"other\": %.4f}}\n",
           mode, config, P, L, omp_get_max_threads(), steps / dt, steps * P / dt, t_fb / steps, t_update / steps,
           (dt - t_fb - t_update) / steps);
    pst_reward_model_free(&rm);
    pst_token_pairs_free(pairs, P);
    pst_adamw_free(&opt), pst_adamw_free(&hopt);
    free(decay), free(head_grad), free(ref_w), free(ref_l);
    return 0;
}
