/* DPO, IPO and hinge on a GPT-2 policy from preference pairs (include/posterior/preference.h):
 * the reference is the prior a, whose log-probs of every response are computed once; each step
 * is one forward and backward of the policy over a batch's chosen and rejected rows
 * (pst_dpo_pairs_batch, checked against PyTorch), an AdamW step with a clipped global norm.
 * Measured on held-out pairs: the implicit reward r̂ = β (log π − log a) — its accuracy and
 * margin; KL(π‖a) from π's samples; KL(p‖π) on exact samples of a target p where given. */
#include "posterior/estimate.h"
#include "posterior/preference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pst_dpo_options_default(pst_dpo_options *o) {
    memset(o, 0, sizeof *o);
    o->loss = PST_DPO_SIGMOID, o->beta = 0.1, o->label_smoothing = 0;
    o->steps = 100, o->batch = 32, o->lr = 1e-5, o->lr_min = 1e-6, o->warmup = 10;
    o->grad_clip = 1.0, o->held_out = 0.1, o->n_kl = 256, o->seed = 1;
    pst_sample_options_default(&o->sampling);
    o->sampling.stop_at_eot = 1;
}

int pst_dpo_options_check(const pst_dpo_options *o, pst_error *err) {
    if (!(o->beta > 0)) return pst_fail_field(err, "beta", "the KL weight β must be > 0, got %g", o->beta);
    if (!(o->label_smoothing >= 0 && o->label_smoothing < 0.5))
        return pst_fail_field(err, "label_smoothing", "label smoothing must be in [0, 0.5), got %g", o->label_smoothing);
    if (o->label_smoothing > 0 && o->loss != PST_DPO_SIGMOID)
        return pst_fail_field(err, "label_smoothing", "label smoothing (cDPO) applies to the sigmoid loss only, not %s",
                              pst_dpo_loss_name(o->loss));
    if (o->batch < 1 || o->steps < 1) return pst_fail_field(err, "batch", "batch and steps must be >= 1");
    if (!(o->held_out >= 0 && o->held_out < 1))
        return pst_fail_field(err, "held_out", "the held-out fraction must be in [0, 1), got %g", o->held_out);
    return 0;
}

typedef struct {
    pst_token_pair *pairs;  /* shallow copies, shuffled: [0, n_val) held out */
    double *ref_w, *ref_l;  /* log a of each response, in the same order */
    int n, n_val;
    pst_adamw opt;
    unsigned char *decay;
    pst_distribution prior_dist;
    pst_metrics metrics;
    pst_rng rng;
} dpo_run;

static void dpo_run_free(dpo_run *r) {
    free(r->pairs), free(r->ref_w), free(r->ref_l), free(r->decay);
    pst_adamw_free(&r->opt);
    pst_distribution_free(&r->prior_dist);
    if (r->metrics.file) pst_metrics_close(&r->metrics);
}

static void shuffle_with(pst_token_pair *p, double *a, double *b, int n, pst_rng *rng) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)pst_rng_below(rng, (uint64_t)i + 1);
        pst_token_pair t = p[i];
        double x = a[i], y = b[i];
        p[i] = p[j], a[i] = a[j], b[i] = b[j];
        p[j] = t, a[j] = x, b[j] = y;
    }
}

static int dpo_run_open(dpo_run *r, pst_gpt2 *policy, pst_gpt2 *prior, const pst_token_pair *pairs, int n,
                        const pst_dpo_options *o, pst_error *err) {
    pst_rng_seed(&r->rng, o->seed);
    r->n = n;
    r->pairs = pst_malloc((size_t)n * sizeof *r->pairs, err);
    r->ref_w = pst_malloc((size_t)n * sizeof(double), err);
    r->ref_l = pst_malloc((size_t)n * sizeof(double), err);
    if (!r->pairs || !r->ref_w || !r->ref_l) return -1;
    memcpy(r->pairs, pairs, (size_t)n * sizeof *r->pairs);
    int B = o->micro_batch > 0 ? o->micro_batch : o->batch;
    for (int i0 = 0; i0 < n; i0 += B) /* the reference's log-probs, once */
        if (pst_pairs_logprobs(prior, pairs + i0, n - i0 < B ? n - i0 : B, r->ref_w + i0, r->ref_l + i0, err) < 0)
            return pst_fail_context(err, "reference log-probs");
    shuffle_with(r->pairs, r->ref_w, r->ref_l, n, &r->rng);
    int v = (int)lround(o->held_out * n);
    r->n_val = o->held_out > 0 && v < 1 ? 1 : v > n - 1 ? n - 1 : v;
    pst_gpt2_policy_options po;
    pst_gpt2_policy_options_default(&po);
    po.sampling = o->sampling;
    if (pst_gpt2_distribution_from(prior, &po, &r->prior_dist, err) < 0 ||
        pst_adamw_create(&r->opt, policy->num_params, 0.9f, 0.95f, 1e-8f, (float)o->weight_decay, err) < 0)
        return -1;
    r->decay = pst_gpt2_decay_mask(policy, err);
    if (!r->decay) return -1;
    return o->metrics_path ? pst_metrics_open(&r->metrics, o->metrics_path, -1, err) : 0;
}

/* loss and gradient of pairs [i0, i0 + nb), in micro-batches, scaled to the batch mean */
static int dpo_batch(dpo_run *r, pst_gpt2 *policy, int i0, int nb, const pst_dpo_options *o, int grads,
                     double *margins, pst_pair_stats *st, pst_error *err) {
    int mb = o->micro_batch > 0 ? o->micro_batch : nb;
    double loss = 0, acc = 0, k = 0;
    for (int j = 0; j < nb; j += mb) {
        int m = nb - j < mb ? nb - j : mb;
        pst_pair_stats s;
        if (pst_dpo_pairs_batch(policy, r->pairs + i0 + j, m, r->ref_w + i0 + j, r->ref_l + i0 + j, o->loss, o->beta,
                                o->label_smoothing, grads, (float)m / nb, margins ? margins + j : NULL, &s, err) < 0)
            return -1;
        loss += s.loss * m;
        if (s.n > s.n_ties) acc += s.accuracy * (s.n - s.n_ties), k += s.n - s.n_ties;
    }
    memset(st, 0, sizeof *st);
    st->n = nb, st->loss = loss / nb, st->accuracy = k ? acc / k : NAN;
    return 0;
}

/* KL(π‖a) from n_kl samples of π continuing the held-out prompts in turn */
static int kl_policy_prior(dpo_run *r, pst_distribution *pi, const pst_dpo_options *o, pst_estimate *kl,
                           pst_error *err) {
    int n = o->n_kl, rc = -1, nc = r->n_val ? r->n_val : r->n;
    pst_seq *ctx = pst_calloc((size_t)n, sizeof *ctx, err);
    pst_sample *xs = pst_calloc((size_t)n, sizeof *xs, err);
    double *lpi = pst_malloc((size_t)n * sizeof(double), err), *la = pst_malloc((size_t)n * sizeof(double), err);
    if (!ctx || !xs || !lpi || !la) goto done;
    for (int i = 0; i < n; i++) { /* a prompt of <|endoftext|> alone is an unconditional sample */
        const pst_token_pair *p = &r->pairs[i % nc];
        ctx[i] = (pst_seq){p->chosen, p->prompt_len > 1 ? p->prompt_len : 0};
    }
    if (pst_dist_sample(pi, ctx, n, &r->rng, xs, err) < 0 || pst_dist_score(&r->prior_dist, ctx, xs, n, la, err) < 0)
        goto done;
    for (int i = 0; i < n; i++) lpi[i] = xs[i].logprob_model;
    *kl = pst_estimate_kl_policy_prior(lpi, la, lpi, n);
    rc = 0;
done:
    if (xs) pst_sample_free(xs, n);
    free(ctx), free(xs), free(lpi), free(la);
    return rc;
}

static int measure(dpo_run *r, pst_gpt2 *policy, const pst_target *target, const pst_reference *ref,
                   const pst_dpo_options *o, long step, pst_dpo_report *rep, pst_error *err) {
    memset(rep, 0, sizeof *rep);
    rep->step = step;
    int B = o->micro_batch > 0 ? o->micro_batch : o->batch, rc = -1;
    double *margin = pst_malloc((size_t)B * sizeof *margin, err);
    if (!margin) return -1;
    for (int i0 = 0; i0 < r->n_val; i0 += B) {
        int nb = r->n_val - i0 < B ? r->n_val - i0 : B;
        pst_pair_stats st;
        if (dpo_batch(r, policy, i0, nb, o, 0, margin, &st, err) < 0) goto done;
        pst_pair_eval_add(&rep->held_out, r->pairs + i0, margin, nb, st.loss);
    }
    pst_pair_eval_finish(&rep->held_out);
    pst_gpt2_policy_options po;
    pst_gpt2_policy_options_default(&po);
    po.sampling = o->sampling;
    pst_distribution pi = {0};
    if (pst_gpt2_distribution_from(policy, &po, &pi, err) < 0) goto done;
    rc = kl_policy_prior(r, &pi, o, &rep->kl_policy_prior, err);
    rep->has_exact = rc == 0 && target && ref && ref->n > 0;
    if (rep->has_exact) rc = pst_reference_evaluate(target, ref, &pi, &rep->exact, NULL, err);
    pst_distribution_free(&pi);
done:
    free(margin);
    return rc;
}

static void write_metrics(dpo_run *r, const pst_dpo_report *m, double train_loss, double train_acc, double lr,
                          double samples_per_s) {
    if (!r->metrics.file) return;
    char b[16][32];
    const pst_rm_eval *h = &m->held_out;
    pst_metrics_write(&r->metrics,
                      "\"step\": %ld, \"lr\": %s, \"train_loss\": %s, \"train_accuracy\": %s, \"held_out_pairs\": %d, "
                      "\"held_out_loss\": %s, \"held_out_accuracy\": %s, \"held_out_accuracy_se\": %s, "
                      "\"held_out_margin\": %s, \"ece\": %s, \"kl_pi_a\": %s, \"kl_pi_a_se\": %s, \"kl_p_pi_exact\": %s, "
                      "\"kl_p_pi_exact_se\": %s, \"tvd_exact\": %s, \"dropped_fraction\": %s, \"pairs_per_s\": %s",
                      m->step, pst_json_number(b[0], lr, 6), pst_json_number(b[1], train_loss, 6),
                      pst_json_number(b[2], train_acc, 6), h->stats.n, pst_json_number(b[3], h->stats.loss, 6),
                      pst_json_number(b[4], h->stats.accuracy, 6), pst_json_number(b[5], h->accuracy_se, 6),
                      pst_json_number(b[6], h->stats.margin, 6), pst_json_number(b[7], h->ece, 6),
                      pst_json_number(b[8], m->kl_policy_prior.value, 6), pst_json_number(b[9], m->kl_policy_prior.se, 6),
                      pst_json_number(b[10], m->has_exact ? m->exact.kl_target_policy.value : NAN, 6),
                      pst_json_number(b[11], m->has_exact ? m->exact.kl_target_policy.se : NAN, 6),
                      pst_json_number(b[12], m->has_exact ? m->exact.tvd.value : NAN, 6),
                      pst_json_number(b[13], m->has_exact ? m->exact.dropped_fraction : NAN, 6),
                      pst_json_number(b[14], samples_per_s, 6));
}

int pst_dpo_train(pst_gpt2 *policy, pst_gpt2 *prior, const pst_token_pair *pairs, int n, const pst_target *target,
                  const pst_reference *ref, const pst_dpo_options *o, pst_dpo_report *final, pst_error *err) {
    if (pst_dpo_options_check(o, err) < 0) return -1;
    if (n < 2) return pst_fail_field(err, "pairs", "%d pairs: DPO needs at least 2", n);
    dpo_run r = {0};
    int rc = -1;
    if (dpo_run_open(&r, policy, prior, pairs, n, o, err) < 0) goto done;
    pst_token_pair *train = r.pairs + r.n_val;
    int n_train = n - r.n_val, pos = n_train; /* the next training pair; an epoch ends at n_train */
    pst_progress prog;
    pst_progress_start(&prog, "dpo", o->steps);
    if (o->quiet) prog.enabled = 0;
    double loss_sum = 0, acc_sum = 0, t0 = pst_now();
    long since = 0;
    for (long step = 0; step < o->steps; step++) {
        if (pos + o->batch > n_train) { /* a new epoch: reshuffle the training pairs */
            shuffle_with(train, r.ref_w + r.n_val, r.ref_l + r.n_val, n_train, &r.rng);
            pos = 0;
        }
        int nb = o->batch < n_train ? o->batch : n_train;
        pst_pair_stats st;
        pst_gpt2_zero_grad(policy);
        if (dpo_batch(&r, policy, r.n_val + pos, nb, o, 1, NULL, &st, err) < 0) goto done;
        pos += nb;
        float norm = pst_grad_norm(policy->grad_memory, policy->num_params);
        if (!isfinite(norm) || !isfinite(st.loss)) {
            pst_fail(err, "dpo step %ld: loss %g, gradient norm %g (NaN/inf)", step + 1, st.loss, norm);
            goto done;
        }
        float lr = pst_lr_schedule(step, o->warmup, o->steps, (float)o->lr, (float)o->lr_min);
        pst_adamw_update(&r.opt, policy->param_memory, policy->grad_memory, pst_clip_scale(norm, (float)o->grad_clip),
                         r.decay, policy->num_params, lr);
        loss_sum += st.loss, acc_sum += st.accuracy, since++;
        if ((o->eval_every > 0 && (step + 1) % o->eval_every == 0) || step + 1 == o->steps) {
            double rate = since * nb / (pst_now() - t0);
            if (measure(&r, policy, target, ref, o, step + 1, final, err) < 0) goto done;
            write_metrics(&r, final, loss_sum / since, acc_sum / since, lr, rate);
            loss_sum = acc_sum = 0, since = 0, t0 = pst_now();
        }
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f acc %.2f", st.loss, st.accuracy);
        pst_progress_update(&prog, step + 1, 0, extra);
    }
    pst_progress_finish(&prog);
    rc = 0;
done:
    dpo_run_free(&r);
    return rc;
}
