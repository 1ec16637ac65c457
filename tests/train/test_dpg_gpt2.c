/* DPG on a tiny random GPT-2: a pointwise constraint b(x) = [x contains token 3]
 * rises from its base rate to >= 0.9 under KL-adaptive DPG (the mean over 12 training
 * seeds), while KL(π‖a) stays within a nat of the ideal KL(p‖a) = −log Z for every seed;
 * the trainer's checkpoint is a model directory that loads back.
 * One trajectory's E[b] after 200 steps depends on the last bits of every product, and
 * trajectories spread widely: over 12 seeds 0.82-0.99 (mean 0.946, sd 0.047; session 12),
 * and seed 1 alone read 0.895-0.989 across gcc / clang builds and kernel choices, so one
 * seed against 0.9 failed one build in four. The mean of 12 has se ~0.014: 0.9 is 3 se below the mean. */
#include "check.h"
#include "posterior/dpg.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pst_error err;

static int contains3(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    for (int i = 0; i < n; i++) {
        out[i] = 0;
        for (int t = 0; t < xs[i].n_tokens; t++)
            if (xs[i].tokens[t] == 3) out[i] = 1;
    }
    return 0;
}

/* E_π[b], KL(π‖a) from m fresh samples of the policy */
static void measure(pst_distribution *pol, const pst_target *t, int m, pst_rng *rng, double *eb, double *kl_pa,
                    double *log_z) {
    pst_scored_batch sb;
    if (pst_draw_scored(t, pol, NULL, m, 256, rng, &sb, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    pst_estimate e;
    pst_estimate_moments_policy(sb.log_model, sb.log_q, sb.features, m, 1, &e);
    *eb = e.value;
    *kl_pa = pst_estimate_kl_policy_prior(sb.log_model, sb.log_prior, sb.log_q, m).value;
    if (log_z) *log_z = pst_estimate_log_partition(sb.log_target, sb.log_q, m).value;
    pst_scored_batch_free(&sb);
}

int main(void) {
    omp_set_num_threads(1); /* tiny matrices: threads only add overhead on a shared machine */
    pst_rng rng;
    pst_rng_seed(&rng, 21);
    pst_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_positions = 16, .vocab_size = 16,
                           .layer_norm_epsilon = 1e-5f};
    pst_gpt2 m;
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    pst_gpt2_policy_options o;
    pst_gpt2_policy_options_default(&o);
    o.sampling.max_new_tokens = 6;
    o.sampling.eot_token = 15;
    pst_distribution prior;
    CHECK(pst_gpt2_distribution_from(&m, &o, &prior, &err) == 0);
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = contains3, .prior = &prior};

    double eb0, kl0, log_z;
    measure(&prior, &t, 4000, &rng, &eb0, &kl0, &log_z);
    CHECK(eb0 > 0.1 && eb0 < 0.6);
    CHECK_NEAR(kl0, 0.0, 1e-9);

    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/pst_dpg_gpt2_%d", (int)getpid());
    char metrics[200];
    snprintf(metrics, sizeof metrics, "%s.jsonl", dir);
    enum { SEEDS = 12 };
    double eb[SEEDS], mean = 0, var = 0;
    for (int s = 0; s < SEEDS; s++) {
        pst_distribution policy;
        CHECK(pst_gpt2_distribution_from(&m, &o, &policy, &err) == 0);
        pst_dpg_options d;
        pst_dpg_options_default(&d);
        d.variant = PST_DPG_KL_ADAPTIVE;
        d.batch = 64;
        d.steps = 200;
        d.lr = 1e-2;
        d.quiet = 1;
        d.seed = d.seed + (uint64_t)s;
        if (s == 0) { /* the first run also writes checkpoints and metrics */
            d.out_dir = dir;
            d.checkpoint_every = 50;
            d.metrics_path = metrics;
        }
        CHECK_MSG(pst_dpg_train(&policy, &t, &prior, &d, NULL, NULL, &err) == 0, "%s", err.msg);
        double kl1;
        measure(&policy, &t, 4000, &rng, &eb[s], &kl1, NULL);
        printf("seed %d: E[b] %.3f -> %.3f; KL(pi|a) %.3f (ideal KL(p|a) = -log Z = %.3f)\n", s, eb0, eb[s], kl1,
               -log_z);
        CHECK_MSG(kl1 < -log_z + 1.0 && kl1 > 0, "seed %d: KL(pi|a) %g vs ideal %g", s, kl1, -log_z);
        mean += eb[s] / SEEDS;
        pst_distribution_free(&policy);
    }
    for (int s = 0; s < SEEDS; s++) var += (eb[s] - mean) * (eb[s] - mean) / (SEEDS - 1);
    printf("E[b] after DPG: mean %.3f over %d seeds (seeds' sd %.3f)\n", mean, SEEDS, sqrt(var));
    CHECK_MSG(mean >= 0.9, "constraint satisfaction %g after DPG (mean of %d seeds)", mean, SEEDS);

    /* the checkpoint is a model directory */
    char path[300];
    snprintf(path, sizeof path, "%s/ckpt-200/policy", dir);
    pst_distribution back;
    CHECK(pst_gpt2_distribution_load(path, &o, &back, &err) == 0);
    pst_distribution_free(&back);
    char *text;
    size_t len;
    CHECK(pst_read_file(metrics, &text, &len, &err) == 0);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    CHECK(lines == 200 && strstr(text, "\"proposal_updates\"") && strstr(text, "\"samples_per_s\""));
    int bad_json = 0; /* every line is a JSON object (non-finite values are null) */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        bad_json += !cJSON_IsObject(o) || !cJSON_IsNumber(cJSON_GetObjectItem(o, "kl_pi_a"));
        cJSON_Delete(o);
    }
    CHECK(bad_json == 0);
    free(text);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, metrics);
    CHECK(system(cmd) == 0);
    pst_distribution_free(&prior);
    pst_gpt2_free(&m);
    return check_report();
}
