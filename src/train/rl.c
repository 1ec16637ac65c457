/* The estimators of KL-regularised RL: advantages, GAE, PPO's clipped losses, the adaptive
 * KL coefficient (include/posterior/rl.h gives the formulas). */
#include "posterior/rl.h"

#include <math.h>
#include <stdlib.h>

void pst_rl_kl_shaped_reward(const double *reward, const double *log_policy, const double *log_prior, double beta,
                             int n, double *out) {
    for (int i = 0; i < n; i++) out[i] = reward[i] - (beta != 0 ? beta * (log_policy[i] - log_prior[i]) : 0.0);
}

void pst_rl_reinforce_advantages(const double *R, int n, double baseline, double *A) {
    for (int i = 0; i < n; i++) A[i] = R[i] - baseline;
}

static int check_groups(int n, int k, int k_min, const char *what, pst_error *err) {
    if (k < k_min) return pst_fail(err, "%s: group size %d, need at least %d samples per context", what, k, k_min);
    if (n % k != 0) return pst_fail(err, "%s: batch %d is not a multiple of the group size %d", what, n, k);
    return 0;
}

int pst_rl_rloo_advantages(const double *R, int n, int k, double *A, pst_error *err) {
    if (check_groups(n, k, 2, "rloo", err) < 0) return -1;
    for (int g = 0; g < n; g += k) {
        double sum = 0;
        for (int j = g; j < g + k; j++) sum += R[j];
        for (int i = g; i < g + k; i++) A[i] = R[i] - (sum - R[i]) / (k - 1);
    }
    return 0;
}

int pst_rl_grpo_advantages(const double *R, int n, int k, int scale, double eps, double *A, pst_error *err) {
    if (check_groups(n, k, 2, "grpo", err) < 0) return -1;
    for (int g = 0; g < n; g += k) {
        double mean = 0, var = 0;
        for (int j = g; j < g + k; j++) mean += R[j] / k;
        for (int j = g; j < g + k; j++) var += (R[j] - mean) * (R[j] - mean) / k;
        double div = scale ? sqrt(var) + eps : 1.0;
        for (int i = g; i < g + k; i++) A[i] = (R[i] - mean) / div;
    }
    return 0;
}

void pst_rl_rollout_stats(const pst_sample *xs, const double *log_policy, int n, double *entropy,
                          double *mean_length, double *distinct_2) {
    double nll = 0, tokens = 0;
    for (int i = 0; i < n; i++) nll -= log_policy[i], tokens += xs[i].n_tokens;
    *entropy = tokens > 0 ? nll / tokens : 0;
    *mean_length = n > 0 ? tokens / n : 0;
    const int **seqs = malloc(sizeof *seqs * (size_t)(n > 0 ? n : 1));
    int *lens = malloc(sizeof *lens * (size_t)(n > 0 ? n : 1));
    *distinct_2 = NAN;
    if (seqs && lens) {
        for (int i = 0; i < n; i++) seqs[i] = xs[i].tokens, lens[i] = xs[i].n_tokens;
        *distinct_2 = pst_distinct_n(seqs, lens, n, 2);
    }
    free(seqs), free(lens);
}

double pst_rl_kl_k3(double log_policy, double log_prior, double *d_log_policy) {
    double d = log_prior - log_policy, e = exp(d);
    if (d_log_policy) *d_log_policy = 1.0 - e;
    return e - d - 1.0;
}

void pst_ppo_token_rewards(const float *log_policy, const float *log_prior, int T, double beta, double score,
                           float *rewards) {
    for (int t = 0; t < T; t++) rewards[t] = (float)(-beta * ((double)log_policy[t] - log_prior[t]));
    if (T > 0) rewards[T - 1] = (float)(rewards[T - 1] + score);
}

void pst_ppo_gae(const float *rewards, const float *values, int T, double gamma, double lambda, float *advantages,
                 float *returns) {
    double next_adv = 0, next_value = 0;
    for (int t = T - 1; t >= 0; t--) {
        double delta = rewards[t] + gamma * next_value - values[t];
        next_adv = delta + gamma * lambda * next_adv;
        next_value = values[t];
        advantages[t] = (float)next_adv;
        returns[t] = (float)(next_adv + values[t]);
    }
}

void pst_ppo_whiten(float *advantages, int n) {
    if (n <= 0) return;
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += advantages[i] / (double)n;
    for (int i = 0; i < n; i++) var += (advantages[i] - mean) * (advantages[i] - mean) / n;
    double sd = sqrt(var) + 1e-8;
    for (int i = 0; i < n; i++) advantages[i] = (float)((advantages[i] - mean) / sd);
}

double pst_ppo_policy_loss(double log_new, double log_old, double advantage, double clip, double *d_log_new,
                           int *clipped) {
    double ratio = exp(log_new - log_old);
    double r_clip = fmin(fmax(ratio, 1.0 - clip), 1.0 + clip);
    double unclipped = -advantage * ratio, with_clip = -advantage * r_clip;
    int c = with_clip > unclipped;
    if (d_log_new) *d_log_new = c ? 0.0 : -advantage * ratio;
    if (clipped) *clipped = c;
    return c ? with_clip : unclipped;
}

double pst_ppo_value_loss(double value, double value_old, double ret, double clip, double *d_value, int *clipped) {
    double v_clip = value_old + fmin(fmax(value - value_old, -clip), clip);
    double l1 = (value - ret) * (value - ret), l2 = (v_clip - ret) * (v_clip - ret);
    int c = l2 > l1;
    /* the clipped branch depends on V only inside the clip interval */
    int inside = fabs(value - value_old) < clip;
    if (d_value) *d_value = c ? (inside ? v_clip - ret : 0.0) : value - ret;
    if (clipped) *clipped = c;
    return 0.5 * (c ? l2 : l1);
}

void pst_kl_controller_update(pst_kl_controller *c, double kl, double n_steps) {
    if (c->target <= 0) return;
    double e = fmin(fmax(kl / c->target - 1.0, -0.2), 0.2);
    c->beta *= 1.0 + e * n_steps / c->horizon;
}
