/* PPO with a KL penalty (include/posterior/rl.h, "the PPO trainer"): Ziegler et al. (2019)
 * on the token-level distribution interface (pst_token_fn), with a value head
 * (pretrain.h's pst_value_head) on the policy's hidden states.
 *
 * One step:
 *   1. rollouts x_i ~ π_θ (sample i continues context (s·n + i) % n_contexts);
 *   2. per-token log a_t (the prior) and log π_old,t, V_old,t (the policy, one pass each);
 *      log P and the score r(x) from the target (a NaN/inf score is an error);
 *   3. r_t = −β·(log π_old,t − log a_t) (+ r(x) at the last token), GAE → A_t, R_t,
 *      A whitened over the batch's tokens;
 *   4. `epochs` passes over shuffled minibatches: the clipped policy loss and vf_coef × the
 *      clipped value loss, token means, one AdamW step of policy and value head each;
 *   5. β ← adaptive controller on the batch's KL(π_old‖a); metrics; checkpoint. */
#include "posterior/pretrain.h"
#include "posterior/rl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pst_ppo_options_default(pst_ppo_options *p) {
    memset(p, 0, sizeof *p);
    p->epochs = 4;
    p->minibatch = 16;
    p->gamma = 1.0;
    p->lambda = 0.95;
    p->clip = 0.2;
    p->value_clip = 0.2;
    p->vf_coef = 0.1;
    p->kl_target = 6.0;
    p->kl_horizon = 10000.0;
    p->whiten = 1;
}

int pst_ppo_options_check(const pst_ppo_options *p, const pst_dpg_options *o, pst_error *err) {
    if (o->batch < 2) return pst_fail_field(err, "batch", "batch = %d: PPO needs at least 2 samples per step", o->batch);
    if (p->minibatch < 1 || p->minibatch > o->batch)
        return pst_fail_field(err, "minibatch", "minibatch = %d with batch = %d: a minibatch takes 1 to batch sequences "
                                                "of the rollout batch", p->minibatch, o->batch);
    if (p->epochs < 1) return pst_fail_field(err, "epochs", "epochs = %d: must be >= 1", p->epochs);
    if (!(o->lr > 0)) return pst_fail_field(err, "lr", "lr = %g: must be positive", o->lr);
    if (!(p->gamma >= 0 && p->gamma <= 1) || !(p->lambda >= 0 && p->lambda <= 1))
        return pst_fail_field(err, "gamma", "gamma = %g, lambda = %g: both must be in [0, 1]", p->gamma, p->lambda);
    if (!(p->clip > 0) || !(p->value_clip > 0) || !(p->vf_coef >= 0) || !isfinite(p->vf_coef))
        return pst_fail_field(err, "clip", "clip = %g, value_clip = %g, vf_coef = %g: clips must be > 0, vf_coef >= 0",
                              p->clip, p->value_clip, p->vf_coef);
    if (!(o->kl_coef >= 0 && isfinite(o->kl_coef)))
        return pst_fail_field(err, "kl_coef", "kl_coef = %g: PPO's initial beta must be finite and >= 0", o->kl_coef);
    if (p->kl_target > 0 && !(p->kl_horizon > 0))
        return pst_fail_field(err, "kl_horizon", "kl_horizon = %g: must be > 0 with an adaptive beta", p->kl_horizon);
    if (!isfinite(o->reward_floor))
        return pst_fail_field(err, "reward_floor", "reward_floor = %g: must be finite", o->reward_floor);
    return 0;
}

/* ---- one run -------------------------------------------------------------------------- */

/* The state a checkpoint keeps beside the policy and the value head (ppo_state.bin). */
typedef struct {
    long step;
    double beta;
} ppo_saved;

typedef struct {
    pst_distribution *policy;
    const pst_target *target;
    const pst_dpg_options *o;
    const pst_ppo_options *p;
    int n, k, G, C;
    long step;
    pst_rng rng;
    pst_kl_controller kl;
    pst_value_head vh;
    pst_sample *xs;
    pst_seq *ctx;
    int *off, *order;   /* [n + 1] token offsets of the rollouts; [n] minibatch order */
    double *lt, *la, *lpi, *score, *f, *scratch; /* [n] (f [n·k], scratch [4n]) */
    float *tok;         /* [5·total]: log π_old, log a, V_old, A, R per token */
    size_t tok_cap;
    float *lp_old, *lp_prior, *v_old, *adv, *ret;
    double *ref_lpi;
    pst_metrics mf;
    pst_progress prog;
    double last_exact;
} ppo_run;

/* V = v·h + b */
static double value_of(const pst_value_head *vh, const float *h) {
    double v = vh->param[vh->C];
    for (int j = 0; j < vh->C; j++) v += (double)vh->param[j] * h[j];
    return v;
}

static int store_prior(void *ctx, int i, int T, const float *lp, const float *h, int C, float *dl, float *dh,
                       pst_error *err) {
    ppo_run *r = ctx;
    (void)h, (void)C, (void)dl, (void)dh, (void)err;
    memcpy(r->lp_prior + r->off[i], lp, sizeof(float) * (size_t)T);
    return 0;
}

static int store_policy(void *ctx, int i, int T, const float *lp, const float *h, int C, float *dl, float *dh,
                        pst_error *err) {
    ppo_run *r = ctx;
    (void)dl, (void)dh, (void)err;
    memcpy(r->lp_old + r->off[i], lp, sizeof(float) * (size_t)T);
    for (int t = 0; t < T; t++) r->v_old[r->off[i] + t] = (float)value_of(&r->vh, h + (size_t)t * C);
    return 0;
}

/* One minibatch pass: its inputs and the token-mean sums so far. */
typedef struct {
    const pst_ppo_options *p;
    pst_value_head *vh;
    const pst_ppo_batch *b;
    double inv_tokens;
    pst_ppo_step *s;
} minibatch_pass;

/* Backward of one rollout i of the minibatch: the token-mean loss L (rl.h), J = −L for the
 * policy pass; the value head's own gradient ∂L/∂(v, b) is accumulated here. */
static int ppo_token_loss(void *ctx, int i, int T, const float *lp, const float *h, int C, float *dl, float *dh,
                          pst_error *err) {
    minibatch_pass *mp = ctx;
    const pst_ppo_options *p = mp->p;
    const pst_ppo_batch *b = mp->b;
    pst_value_head *vh = mp->vh;
    pst_ppo_step *s = mp->s;
    double w = mp->inv_tokens;
    if (C != vh->C) return pst_fail(err, "ppo: the value head has width %d, the policy's hidden states %d", vh->C, C);
    for (int t = 0; t < T; t++) {
        int at = b->off[i] + t, clipped, vclipped;
        const float *ht = h + (size_t)t * C;
        double d_lp, d_v, value = value_of(vh, ht);
        double pl = pst_ppo_policy_loss(lp[t], b->lp_old[at], b->adv[at], p->clip, &d_lp, &clipped);
        double vl = pst_ppo_value_loss(value, b->v_old[at], b->ret[at], p->value_clip, &d_v, &vclipped);
        if (!isfinite(pl) || !isfinite(vl) || !isfinite(d_lp) || !isfinite(d_v))
            return pst_fail(err, "ppo: the loss of token %d of rollout %d is NaN/inf", t, i);
        s->policy_loss += w * pl, s->value_loss += w * vl, s->clip_fraction += w * clipped;
        s->value_clip_fraction += w * vclipped;
        s->approx_kl += w * 0.5 * (lp[t] - b->lp_old[at]) * (lp[t] - b->lp_old[at]);
        double g = w * p->vf_coef * d_v; /* ∂L/∂V of this token */
        if (dl) dl[t] = (float)(-w * d_lp);
        for (int j = 0; j < C; j++) {
            if (dh) dh[(size_t)t * C + j] = (float)(-g * vh->param[j]);
            vh->grad[j] += (float)(g * ht[j]);
        }
        vh->grad[C] += (float)g;
    }
    return 0;
}

int pst_ppo_minibatch(pst_distribution *policy, pst_value_head *vh, const pst_ppo_options *p, const pst_seq *contexts,
                      const pst_sample *xs, int n, const pst_ppo_batch *b, pst_ppo_step *s, pst_error *err) {
    long tokens = 0;
    for (int i = 0; i < n; i++) tokens += xs[i].n_tokens;
    minibatch_pass mp = {p, vh, b, tokens > 0 ? 1.0 / (double)tokens : 0, s};
    return pst_dist_token_pass(policy, contexts, xs, n, 1, ppo_token_loss, &mp, err);
}

/* r(x) from log P and log a, as the DPG loop's RL variants (dpg.h): the evidence P/a,
 * log P, or log P − log a, the log rewards floored where P = 0. */
static double score_of(pst_rl_reward kind, double lt, double la, double floor) {
    if (kind == PST_REWARD_EVIDENCE) return lt > -INFINITY ? exp(lt - la) : 0;
    if (kind == PST_REWARD_LOG_TARGET) return lt > -INFINITY ? lt : la + floor;
    return lt > -INFINITY ? lt - la : floor;
}

static int ensure_tokens(ppo_run *r, size_t total, pst_error *err) {
    if (total > r->tok_cap) {
        float *t = realloc(r->tok, sizeof(float) * 5 * total);
        if (!t) return pst_fail_oom(err, "ppo token buffers");
        r->tok = t, r->tok_cap = total;
    }
    size_t c = r->tok_cap;
    r->lp_old = r->tok, r->lp_prior = r->tok + c, r->v_old = r->tok + 2 * c, r->adv = r->tok + 3 * c;
    r->ret = r->tok + 4 * c;
    return 0;
}

/* Steps 1–2: rollouts, per-token log a, log π_old and V_old, log P and the scores. */
static int rollout(ppo_run *r, pst_error *err) {
    const pst_dpg_options *o = r->o;
    int n = r->n;
    long step = r->step + 1;
    for (int i = 0; i < n && r->ctx; i++) r->ctx[i] = o->contexts[(r->step * n + i) % r->G];
    if (pst_dist_sample(r->policy, r->ctx, n, &r->rng, r->xs, err) < 0)
        return pst_fail_context(err, "ppo step %ld: sampling", step);
    r->off[0] = 0;
    for (int i = 0; i < n; i++) r->off[i + 1] = r->off[i] + r->xs[i].n_tokens, r->lpi[i] = r->xs[i].logprob_model;
    if (ensure_tokens(r, (size_t)(r->off[n] > 0 ? r->off[n] : 1), err) < 0) return -1;
    pst_distribution *prior = r->target->prior;
    if (pst_dist_token_pass(prior, r->ctx, r->xs, n, 0, store_prior, r, err) < 0 ||
        pst_dist_token_pass(r->policy, r->ctx, r->xs, n, 0, store_policy, r, err) < 0)
        return pst_fail_context(err, "ppo step %ld: per-token log-probs", step);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int t = r->off[i]; t < r->off[i + 1]; t++) s += r->lp_prior[t];
        r->scratch[i] = s;
    }
    if (pst_target_score(r->target, r->ctx, r->xs, n, r->scratch, r->la, r->f, r->lt, err) < 0)
        return pst_fail_context(err, "ppo step %ld", step);
    for (int i = 0; i < n; i++) {
        r->score[i] = score_of(o->reward, r->lt[i], r->la[i], o->reward_floor);
        if (!isfinite(r->score[i]))
            return pst_fail(err, "ppo step %ld: the reward of sample %d is %g (log P %g, log a %g): the scorer gave "
                                 "NaN/inf; stopping, the last good checkpoint is kept",
                            step, i, r->score[i], r->lt[i], r->la[i]);
    }
    return 0;
}

/* Step 3: per-token rewards with this step's β, GAE, whitening; s->kl, s->reward. */
static void advantages(ppo_run *r, pst_ppo_step *s) {
    const pst_ppo_options *p = r->p;
    int n = r->n;
    double *kl = r->scratch;
    s->beta = r->kl.beta;
    for (int i = 0; i < n; i++) {
        int a = r->off[i], T = r->off[i + 1] - a;
        kl[i] = 0;
        for (int t = a; t < a + T; t++) kl[i] += (double)r->lp_old[t] - r->lp_prior[t];
        float *rw = r->adv + a; /* the rewards, then the advantages in place */
        pst_ppo_token_rewards(r->lp_old + a, r->lp_prior + a, T, s->beta, r->score[i], rw);
        pst_ppo_gae(rw, r->v_old + a, T, p->gamma, p->lambda, r->adv + a, r->ret + a);
    }
    if (p->whiten) pst_ppo_whiten(r->adv, r->off[n]);
    pst_rl_rollout_stats(r->xs, r->lpi, n, &s->entropy, &s->mean_length, &s->distinct_2);
    pst_estimate e = pst_estimate_mean(kl, n), sc = pst_estimate_mean(r->score, n);
    s->kl = e.value, s->kl_se = e.se, s->reward = sc.value, s->reward_se = sc.se;
}

/* Step 4: the optimisation epochs over shuffled minibatches (s: means over the updates). */
static int optimise(ppo_run *r, double lr, pst_ppo_step *s, pst_error *err) {
    const pst_ppo_options *p = r->p;
    int n = r->n, mb = p->minibatch, updates = 0;
    pst_seq *cs = r->ctx ? pst_malloc(sizeof *cs * (size_t)mb, err) : NULL;
    pst_sample *ys = pst_malloc(sizeof *ys * (size_t)mb, err);
    int *off = pst_malloc(sizeof(int) * (size_t)mb, err), rc = -1;
    pst_ppo_step acc = {0};
    pst_ppo_batch batch = {off, r->lp_old, r->v_old, r->adv, r->ret};
    if ((r->ctx && !cs) || !ys || !off) goto done;
    for (int e = 0; e < p->epochs; e++) {
        for (int i = 0; i < n; i++) r->order[i] = i;
        for (int i = n - 1; i > 0; i--) { /* Fisher–Yates */
            int j = (int)pst_rng_below(&r->rng, (uint64_t)i + 1), t = r->order[i];
            r->order[i] = r->order[j], r->order[j] = t;
        }
        for (int b0 = 0; b0 < n; b0 += mb) {
            int B = n - b0 < mb ? n - b0 : mb;
            for (int b = 0; b < B; b++) { /* row b of the pass is rollout order[b0 + b] */
                int i = r->order[b0 + b];
                ys[b] = r->xs[i], off[b] = r->off[i];
                if (cs) cs[b] = r->ctx[i];
            }
            pst_dist_zero_grad(r->policy);
            memset(r->vh.grad, 0, sizeof(float) * (size_t)(r->C + 1));
            if (pst_ppo_minibatch(r->policy, &r->vh, p, cs, ys, B, &batch, &acc, err) < 0 ||
                pst_dist_step(r->policy, lr, err) < 0)
                goto done;
            pst_adamw_update(&r->vh.opt, r->vh.param, r->vh.grad, 1.0f, NULL, (size_t)r->C + 1, (float)lr);
            updates++;
        }
    }
    s->policy_loss = acc.policy_loss / updates, s->value_loss = acc.value_loss / updates;
    s->clip_fraction = acc.clip_fraction / updates, s->value_clip_fraction = acc.value_clip_fraction / updates;
    s->approx_kl = acc.approx_kl / updates;
    rc = 0;
done:
    free(cs), free(ys), free(off);
    return rc < 0 ? pst_fail_context(err, "ppo step %ld", r->step + 1) : 0;
}

/* The DPG keys (q = π_θ): IS estimates from the rollouts; the yardstick when due. */
static int measure(ppo_run *r, pst_dpg_step *m, pst_error *err) {
    int n = r->n;
    m->n_features = r->k;
    pst_estimate lz = pst_estimate_log_partition(r->lt, r->lpi, n);
    m->log_z = lz.value, m->log_z_se = lz.se;
    m->kl_target_policy = pst_estimate_kl_target_policy(r->lt, r->lpi, r->lpi, n);
    m->kl_target_proposal = m->kl_target_policy;
    m->kl_policy_prior = pst_estimate_kl_policy_prior(r->lpi, r->la, r->lpi, n);
    m->tvd = pst_estimate_tvd(r->lt, r->lpi, r->lpi, n);
    pst_estimate_moments_policy(r->lpi, r->lpi, r->f, n, r->k, m->moments_policy);
    for (int i = 0; i < n; i++) r->scratch[i] = r->lt[i] - r->lpi[i];
    m->ess = pst_effective_sample_size(r->scratch, n);
    const pst_reference *ref = r->o->reference;
    long s = r->step + 1;
    if (!ref || !((r->o->exact_every > 0 && s % r->o->exact_every == 0) || s == r->o->steps)) return 0;
    if (pst_reference_logprobs(ref, r->policy, r->ref_lpi, err) < 0 ||
        pst_estimate_exact(ref->log_target, ref->log_prior, r->ref_lpi, ref->n, ref->log_z, &m->exact, err) < 0)
        return pst_fail_context(err, "ppo step %ld: the exact samples", s);
    m->has_exact = 1;
    m->proposal_gain.value = m->proposal_gain.se = NAN;
    return 0;
}

/* One JSON line: DPG's keys (no proposal: kl_p_q = kl_p_pi, no updates) and PPO's own. */
static void write_metrics(pst_metrics *mf, const pst_dpg_step *m, const pst_ppo_step *s) {
    char common[4096], b[12][32];
    pst_dpg_step_json(m, common, sizeof common);
    pst_metrics_write(mf,
                      "%s, \"reward\": %s, \"reward_se\": %s, \"kl_coef\": %s, \"kl_rollout\": %s, "
                      "\"policy_loss\": %s, \"value_loss\": %s, \"clip_fraction\": %s, \"value_clip_fraction\": %s, "
                      "\"approx_kl\": %s, \"entropy\": %s, \"mean_length\": %s, \"distinct_2\": %s",
                      common, pst_json_number(b[0], s->reward, 6), pst_json_number(b[1], s->reward_se, 4),
                      pst_json_number(b[2], s->beta, 6), pst_json_number(b[3], s->kl, 6),
                      pst_json_number(b[4], s->policy_loss, 6), pst_json_number(b[5], s->value_loss, 6),
                      pst_json_number(b[6], s->clip_fraction, 4), pst_json_number(b[7], s->value_clip_fraction, 4),
                      pst_json_number(b[8], s->approx_kl, 6), pst_json_number(b[9], s->entropy, 6),
                      pst_json_number(b[10], s->mean_length, 4), pst_json_number(b[11], s->distinct_2, 4));
}

/* ---- checkpoints ------------------------------------------------------------------------ */

/* out_dir/ckpt-STEP/{policy/, value_head.safetensors, ppo_state.bin} (one rename, base.h). */
static int checkpoint_save(ppo_run *r, pst_error *err) {
    pst_checkpoint c;
    char sub[4096];
    ppo_saved sv = {r->step, r->kl.beta};
    if (pst_checkpoint_begin(&c, r->o->out_dir, r->step, err) < 0) return -1;
    if (pst_path_join(sub, sizeof sub, c.tmp, "policy", err) < 0 || pst_dist_save(r->policy, sub, err) < 0 ||
        pst_value_head_save(&r->vh, c.tmp, err) < 0 || pst_path_join(sub, sizeof sub, c.tmp, "ppo_state.bin", err) < 0 ||
        pst_train_state_save(sub, &r->vh.opt, (size_t)r->C + 1, &r->rng, &sv, sizeof sv, err) < 0) {
        pst_checkpoint_abort(&c);
        return pst_fail_context(err, "checkpoint %s", c.dir);
    }
    return pst_checkpoint_commit(&c, err);
}

/* The latest checkpoint: the policy, then its value head, which must have the width C of
 * the policy this run was given (another model's head is an error naming both widths). */
static int checkpoint_load(ppo_run *r, pst_error *err) {
    char dir[4096], sub[4096];
    const char *out = r->o->out_dir;
    int found = pst_checkpoint_find(out, dir, sizeof dir, NULL, err);
    if (found <= 0)
        return found < 0 ? pst_fail_context(err, "resume")
                         : pst_fail_field(err, "resume", "resume: no checkpoint in %s (no ckpt-STEP)", out);
    ppo_saved sv;
    size_t len = 0;
    if (pst_path_join(sub, sizeof sub, dir, "policy", err) < 0 || pst_dist_load(r->policy, sub, err) < 0)
        return pst_fail_context(err, "resume");
    if (pst_dist_hidden_size(r->policy) != r->C)
        return pst_fail(err, "resume: the policy in %s has hidden width %d, the run's %d", sub,
                        pst_dist_hidden_size(r->policy), r->C);
    if (pst_value_head_load(&r->vh, dir, 1, err) < 0)
        return pst_fail_context(err, "resume: the value head must have the policy's width %d", r->C);
    if (pst_path_join(sub, sizeof sub, dir, "ppo_state.bin", err) < 0 ||
        pst_train_state_load(sub, &r->vh.opt, (size_t)r->C + 1, &r->rng, &sv, sizeof sv, &len, err) < 0)
        return pst_fail_context(err, "resume");
    if (len != sizeof sv) return pst_fail(err, "resume: %s is not a PPO training state", sub);
    r->step = sv.step, r->kl.beta = sv.beta;
    return 0;
}

/* ---- the trainer ----------------------------------------------------------------------- */

static int run_open(ppo_run *r, pst_error *err) {
    const pst_dpg_options *o = r->o;
    int n = r->n;
    pst_rng_seed(&r->rng, o->seed);
    r->kl = (pst_kl_controller){o->kl_coef, r->p->kl_target, r->p->kl_horizon};
    if (pst_value_head_create(&r->vh, r->C, err) < 0) return -1;
    r->xs = pst_calloc((size_t)n, sizeof *r->xs, err);
    r->ctx = o->contexts ? pst_malloc(sizeof *r->ctx * (size_t)n, err) : NULL;
    r->off = pst_malloc(sizeof(int) * (size_t)(2 * n + 1), err);
    r->lt = pst_malloc(sizeof(double) * (size_t)n * (8 + r->k), err);
    r->ref_lpi = o->reference ? pst_malloc(sizeof(double) * (size_t)o->reference->n, err) : NULL;
    if (!r->xs || (o->contexts && !r->ctx) || !r->off || !r->lt || (o->reference && !r->ref_lpi)) return -1;
    r->order = r->off + n + 1;
    r->la = r->lt + n, r->lpi = r->lt + 2 * n, r->score = r->lt + 3 * n, r->scratch = r->lt + 4 * n;
    r->f = r->lt + 8 * n;
    if (o->out_dir && pst_remove_stale_tmp(o->out_dir, err) < 0) return -1;
    if (o->resume && checkpoint_load(r, err) < 0) return -1;
    if (o->metrics_path && pst_metrics_open(&r->mf, o->metrics_path, o->resume ? r->step : -1, err) < 0) return -1;
    return 0;
}

static void run_close(ppo_run *r) {
    if (r->xs) pst_sample_free(r->xs, r->n);
    pst_metrics_close(&r->mf);
    pst_value_head_free(&r->vh);
    free(r->xs), free(r->ctx), free(r->off), free(r->lt), free(r->tok), free(r->ref_lpi);
}

/* One PPO step (steps 1–5 of the file comment) into m and s. */
static int ppo_step(ppo_run *r, pst_dpg_step *m, pst_ppo_step *s, pst_error *err) {
    const pst_dpg_options *o = r->o;
    double t0 = pst_now();
    memset(m, 0, sizeof *m), memset(s, 0, sizeof *s);
    m->step = r->step + 1;
    if (rollout(r, err) < 0) return -1;
    advantages(r, s);
    if (measure(r, m, err) < 0) return -1;
    m->loss = -(s->reward - s->beta * s->kl); /* the negated objective E[r] − β KL */
    m->lr = pst_dpg_lr(o, r->step);
    if (optimise(r, m->lr, s, err) < 0) return -1;
    pst_kl_controller_update(&r->kl, s->kl, r->n);
    pst_sample_free(r->xs, r->n);
    r->step++;
    m->samples_per_s = r->n / fmax(pst_now() - t0, 1e-9);
    return 0;
}

static void report_step(ppo_run *r, const pst_dpg_step *m, const pst_ppo_step *s) {
    if (r->mf.file) write_metrics(&r->mf, m, s);
    if (r->o->quiet) return;
    char extra[160];
    if (m->has_exact) r->last_exact = m->exact.kl_target_policy.value;
    snprintf(extra, sizeof extra, "reward %.3f  KL(pi|a) %.3f  beta %.3g  KL(p|pi) exact %.3f", s->reward, s->kl,
             s->beta, r->last_exact);
    pst_progress_update(&r->prog, r->step, m->samples_per_s, extra);
}

int pst_ppo_train(pst_distribution *policy, const pst_target *target, const pst_dpg_options *o,
                  const pst_ppo_options *p, pst_dpg_callback cb, void *cb_ctx, pst_error *err) {
    if (!pst_dist_trainable(policy) || !pst_dist_has_tokens(policy))
        return pst_fail(err, "ppo: the policy '%s' is not trainable token by token", pst_dist_name(policy));
    if (!target->prior || !pst_dist_has_tokens(target->prior))
        return pst_fail(err, "ppo: the target's prior gives no per-token log-probs (needed for the KL penalty)");
    if (pst_ppo_options_check(p, o, err) < 0) return -1;
    if ((o->resume || o->checkpoint_every > 0) && !o->out_dir)
        return pst_fail_field(err, "out_dir", "ppo: checkpoints and resuming need an output directory (out_dir)");
    ppo_run r = {.policy = policy, .target = target, .o = o, .p = p, .n = o->batch, .k = target->n_features,
                 .last_exact = NAN};
    r.G = o->contexts && o->n_contexts > 0 ? o->n_contexts : 1;
    r.C = pst_dist_hidden_size(policy);
    int rc = -1;
    if (run_open(&r, err) < 0) goto done;
    if (!o->quiet) pst_progress_start(&r.prog, "ppo", o->steps);
    while (r.step < o->steps) {
        pst_dpg_step m;
        pst_ppo_step s;
        if (ppo_step(&r, &m, &s, err) < 0) goto done;
        report_step(&r, &m, &s);
        int stop = cb ? cb(cb_ctx, &m) : 0;
        if (pst_dpg_checkpoint_due(o, r.step, stop) && checkpoint_save(&r, err) < 0) goto done;
        if (stop) break;
    }
    if (!o->quiet) pst_progress_finish(&r.prog);
    rc = 0;
done:
    run_close(&r);
    return rc;
}
