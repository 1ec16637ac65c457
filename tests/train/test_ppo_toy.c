/* PPO (pst_ppo_train) on the enumerable toy, whose hidden state is the one-hot of the
 * prefix (a linear value head on it is a table), with exact divergences by enumeration:
 *   - the toy's token pass gives the same gradient as accumulate for J = Σ c_i log π(x_i);
 *   - PPO with a fixed β drives the exact KL(π‖p) toward 0 for p ∝ a·exp(r/β);
 *   - the adaptive controller raises β when KL(π‖a) is above its target;
 *   - an interrupted, resumed run ends bit for bit where the uninterrupted one ends;
 *   - bad input: minibatch > batch, a value head of another width on resume, a NaN reward
 *     (clear errors; the last good checkpoint kept). */
#include "check.h"
#include "posterior/pretrain.h"
#include "posterior/rl.h"
#include "target/toy_exact.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pst_error err;

typedef struct {
    pst_toy prior, policy;
    pst_distribution dprior, dpolicy;
    pst_target target; /* KL-RL: P = a·exp(r/β) */
} setup;

static void setup_klrl(setup *s, uint64_t seed, double beta) {
    pst_rng rng;
    pst_rng_seed(&rng, seed);
    pst_toy_init(&s->prior, 4, 4, 1.0, &rng, &err);
    s->policy = s->prior;
    pst_toy_distribution(&s->prior, &s->dprior);
    pst_toy_distribution(&s->policy, &s->dpolicy);
    pst_target t = {.kind = PST_TARGET_KLRL, .n_features = 1, .evidence = toy_reward_fn, .prior = &s->dprior,
                    .beta = beta};
    s->target = t;
}

/* exact KL(π‖p) and H(π) by enumeration */
static double exact_kl_pi_p(setup *s, double *entropy) {
    toy_space sp;
    toy_space_init(&sp, &s->prior, NULL);
    double *r = malloc(sizeof(double) * sp.n), *lpi = malloc(sizeof(double) * sp.n),
           *lP = malloc(sizeof(double) * sp.n), *p = malloc(sizeof(double) * sp.n);
    toy_reward_fn(NULL, NULL, sp.xs, sp.n, r, &err);
    toy_space_logprobs(&sp, &s->policy, NULL, lpi);
    for (int i = 0; i < sp.n; i++) lP[i] = sp.log_a[i] + r[i] / s->target.beta;
    exact_normalise(lP, sp.n, p);
    double kl = 0, h = 0;
    for (int i = 0; i < sp.n; i++) {
        double pi = exp(lpi[i]);
        if (pi > 0) kl += pi * (lpi[i] - log(p[i])), h -= pi * lpi[i];
    }
    if (entropy) *entropy = h;
    free(r), free(lpi), free(lP), free(p);
    toy_space_free(&sp);
    return kl;
}

static void options(pst_dpg_options *o, pst_ppo_options *p, long steps) {
    pst_dpg_options_default(o);
    o->reward = PST_REWARD_LOG_EVIDENCE; /* score r/β; β_PPO = 1: the optimum is p */
    o->kl_coef = 1.0;
    o->batch = 64;
    o->steps = steps;
    o->lr = 0.05;
    o->quiet = 1;
    pst_ppo_options_default(p);
    p->kl_target = 0; /* fixed β */
    p->minibatch = 16;
    p->epochs = 2;
}

/* token_pass with d_logprob = c_i at every token = accumulate with coef c_i */
static int coef_fn(void *ctx, int i, int T, const float *lp, const float *h, int C, float *dl, float *dh,
                   pst_error *e) {
    const double *c = ctx;
    (void)lp, (void)h, (void)C, (void)dh, (void)e;
    for (int t = 0; t < T; t++) dl[t] = (float)c[i];
    return 0;
}

typedef struct {
    double lp[64];
    int C, ok;
} sum_ctx;
static int sum_fn(void *ctx, int i, int T, const float *lp, const float *h, int C, float *dl, float *dh,
                  pst_error *e) {
    sum_ctx *s = ctx;
    (void)dl, (void)dh, (void)e;
    s->lp[i] = 0;
    s->C = C;
    for (int t = 0; t < T; t++) {
        double one = 0;
        for (int j = 0; j < C; j++) one += h[(size_t)t * C + j];
        s->ok &= one == 1.0; /* a one-hot */
        s->lp[i] += lp[t];
    }
    return 0;
}

static void test_token_pass(void) {
    setup s;
    setup_klrl(&s, 5, 1.0);
    pst_rng rng;
    pst_rng_seed(&rng, 9);
    pst_sample xs[32];
    double c[32], lp[32];
    CHECK(pst_dist_sample(&s.dpolicy, NULL, 32, &rng, xs, &err) == 0);
    for (int i = 0; i < 32; i++) c[i] = pst_rng_uniform(&rng) - 0.5;
    CHECK(pst_dist_has_tokens(&s.dpolicy) && pst_dist_hidden_size(&s.dpolicy) == 1 + 3 + 9 + 27);
    sum_ctx sc = {.ok = 1};
    CHECK(pst_dist_token_pass(&s.dpolicy, NULL, xs, 32, 0, sum_fn, &sc, &err) == 0 && sc.ok && sc.C == 40);
    CHECK(pst_dist_score(&s.dpolicy, NULL, xs, 32, lp, &err) == 0);
    for (int i = 0; i < 32; i++) CHECK_NEAR(sc.lp[i], lp[i], 1e-5);
    pst_toy ref = s.policy;
    pst_distribution dref;
    pst_toy_distribution(&ref, &dref);
    pst_dist_zero_grad(&dref);
    pst_dist_zero_grad(&s.dpolicy);
    CHECK(pst_dist_accumulate(&dref, NULL, xs, c, 32, NULL, &err) == 0);
    CHECK(pst_dist_token_pass(&s.dpolicy, NULL, xs, 32, 1, coef_fn, c, &err) == 0);
    double worst = 0;
    for (int r = 0; r < PST_TOY_MAX_PREFIXES; r++)
        for (int v = 0; v < PST_TOY_MAX_VOCAB; v++) worst = fmax(worst, fabs(ref.grad[r][v] - s.policy.grad[r][v]));
    CHECK_MSG(worst < 1e-6, "token pass vs accumulate: max |diff| %g", worst);
    pst_sample_free(xs, 32);
}

static void test_fixed_beta_reaches_p(void) {
    setup s;
    setup_klrl(&s, 12, 0.5);
    double h0, h1, before = exact_kl_pi_p(&s, &h0);
    pst_dpg_options o;
    pst_ppo_options p;
    options(&o, &p, 400);
    o.lr = 0.01; /* Ziegler's γ 1, λ 0.95, clip 0.2, vf_coef 0.1 */
    CHECK_MSG(pst_ppo_train(&s.dpolicy, &s.target, &o, &p, NULL, NULL, &err) == 0, "%s", err.msg);
    double after = exact_kl_pi_p(&s, &h1);
    printf("ppo, fixed beta: exact KL(pi|p) %.4f -> %.4f, entropy %.3f -> %.3f\n", before, after, h0, h1);
    CHECK_MSG(after < 0.005, "exact KL(pi|p) %g", after);
    CHECK(after < 0.1 * before);
}

/* the last metrics line's "kl_coef" */
static double last_beta(const char *path) {
    FILE *f = fopen(path, "r");
    char line[8192], last[8192] = "";
    while (f && fgets(line, sizeof line, f)) strcpy(last, line);
    if (f) fclose(f);
    const char *k = strstr(last, "\"kl_coef\": ");
    return k ? atof(k + 11) : NAN;
}

static int remove_tree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void test_adaptive_beta(void) {
    char metrics[256];
    snprintf(metrics, sizeof metrics, "/tmp/pst_ppo_metrics_%d.jsonl", (int)getpid());
    setup s;
    setup_klrl(&s, 4, 0.5);
    pst_dpg_options o;
    pst_ppo_options p;
    options(&o, &p, 40);
    o.kl_coef = 0.2;
    o.reward = PST_REWARD_EVIDENCE; /* exp(r/β): pulls π away from a */
    p.kl_target = 0.01, p.kl_horizon = 100;
    o.metrics_path = metrics;
    CHECK(pst_ppo_train(&s.dpolicy, &s.target, &o, &p, NULL, NULL, &err) == 0);
    double b = last_beta(metrics);
    printf("adaptive beta: 0.2 -> %.4f (target KL 0.01)\n", b);
    /* KL(π‖a) > 0.01 almost at once: e = +0.2 per step, β·(1 + 0.2·64/100) per step at most */
    CHECK(b > 0.25 && b <= 0.2 * pow(1 + 0.2 * 64 / 100.0, 39) * (1 + 1e-9));
    remove(metrics);
}

/* the logged entropy (per token) × mean_length = −mean log π(x) of the step's rollouts, an
 * unbiased estimate of the exact sequence entropy H(π): averaged over steps of a policy that
 * does not move (lr 1e-12), it must match H(π) by enumeration */
static void test_entropy_metric(void) {
    char metrics[256], line[8192];
    snprintf(metrics, sizeof metrics, "/tmp/pst_ppo_entropy_%d.jsonl", (int)getpid());
    setup s;
    setup_klrl(&s, 8, 0.5);
    double h;
    exact_kl_pi_p(&s, &h);
    pst_dpg_options o;
    pst_ppo_options p;
    options(&o, &p, 40);
    o.lr = 1e-12;
    o.metrics_path = metrics;
    CHECK(pst_ppo_train(&s.dpolicy, &s.target, &o, &p, NULL, NULL, &err) == 0);
    FILE *f = fopen(metrics, "r");
    double sum = 0;
    int steps = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *e = strstr(line, "\"entropy\": "), *l = strstr(line, "\"mean_length\": ");
        if (e && l) sum += atof(e + 11) * atof(l + 15), steps++;
    }
    if (f) fclose(f);
    printf("entropy metric: mean over %d steps %.4f, exact H(pi) %.4f\n", steps, sum / steps, h);
    CHECK(steps == 40);
    CHECK_NEAR(sum / steps, h, 0.1);
    remove(metrics);
}

static void test_resume(void) {
    char a[256], b[256];
    snprintf(a, sizeof a, "/tmp/pst_ppo_a_%d", (int)getpid());
    snprintf(b, sizeof b, "/tmp/pst_ppo_b_%d", (int)getpid());
    setup s1, s2;
    setup_klrl(&s1, 7, 0.5);
    setup_klrl(&s2, 7, 0.5);
    pst_dpg_options o;
    pst_ppo_options p;
    options(&o, &p, 6);
    p.kl_target = 1.0, p.kl_horizon = 50; /* β moves: its state is resumed too */
    o.out_dir = a;
    CHECK(pst_ppo_train(&s1.dpolicy, &s1.target, &o, &p, NULL, NULL, &err) == 0);
    o.out_dir = b, o.steps = 3, o.checkpoint_every = 1;
    CHECK(pst_ppo_train(&s2.dpolicy, &s2.target, &o, &p, NULL, NULL, &err) == 0);
    for (int v = 0; v < 4; v++) s2.policy.logits[0][v] += 1; /* the checkpoint must replace it */
    o.steps = 6, o.resume = 1;
    CHECK_MSG(pst_ppo_train(&s2.dpolicy, &s2.target, &o, &p, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(memcmp(s1.policy.logits, s2.policy.logits, sizeof s1.policy.logits) == 0);

    /* a value head of another model's width in the checkpoint */
    char path[512];
    pst_value_head vh;
    CHECK(pst_value_head_create(&vh, 7, &err) == 0);
    snprintf(path, sizeof path, "%s/latest", b);
    char latest[64] = "", ck[600];
    CHECK(readlink(path, latest, sizeof latest - 1) > 0);
    snprintf(ck, sizeof ck, "%s/%s", b, latest);
    CHECK(pst_value_head_save(&vh, ck, &err) == 0);
    pst_value_head_free(&vh);
    o.steps = 8;
    CHECK(pst_ppo_train(&s2.dpolicy, &s2.target, &o, &p, NULL, NULL, &err) < 0);
    CHECK_MSG(strstr(err.msg, "value head") && strstr(err.msg, "width 40"), "%s", err.msg);
    remove_tree(a), remove_tree(b);
}

/* the reward turns NaN at its 5th call */
static int nan_calls;
static int nan_later_fn(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    toy_reward_fn(ctx, c, xs, n, out, e);
    if (++nan_calls >= 5) out[n / 2] = NAN;
    return 0;
}

static void test_bad_input(void) {
    setup s;
    setup_klrl(&s, 3, 1.0);
    pst_dpg_options o;
    pst_ppo_options p;
    options(&o, &p, 2);
    p.minibatch = 65;
    CHECK(pst_ppo_train(&s.dpolicy, &s.target, &o, &p, NULL, NULL, &err) < 0 && !strcmp(err.field, "minibatch"));
    CHECK(strstr(err.msg, "batch = 64") != NULL);
    options(&o, &p, 2);
    p.epochs = 0;
    CHECK(pst_ppo_train(&s.dpolicy, &s.target, &o, &p, NULL, NULL, &err) < 0 && !strcmp(err.field, "epochs"));
    options(&o, &p, 2);
    s.target.beta = 0; /* a KL-RL target without β */
    CHECK(pst_ppo_train(&s.dpolicy, &s.target, &o, &p, NULL, NULL, &err) < 0 && strstr(err.msg, "beta"));

    char dir[256], path[512], latest[64] = "";
    snprintf(dir, sizeof dir, "/tmp/pst_ppo_nan_%d", (int)getpid());
    setup_klrl(&s, 3, 1.0);
    s.target.evidence = nan_later_fn;
    options(&o, &p, 20);
    o.out_dir = dir, o.checkpoint_every = 2;
    CHECK(pst_ppo_train(&s.dpolicy, &s.target, &o, &p, NULL, NULL, &err) < 0);
    CHECK_MSG(strstr(err.msg, "NaN") && strstr(err.msg, "step 5"), "%s", err.msg);
    snprintf(path, sizeof path, "%s/latest", dir);
    CHECK(readlink(path, latest, sizeof latest - 1) > 0 && strcmp(latest, "ckpt-4") == 0);
    snprintf(path, sizeof path, "%s/ckpt-4/value_head.safetensors", dir);
    CHECK(pst_file_exists(path));
    remove_tree(dir);
}

int main(void) {
    test_token_pass();
    test_fixed_beta_reaches_p();
    test_adaptive_beta();
    test_entropy_metric();
    test_resume();
    test_bad_input();
    return check_report();
}
