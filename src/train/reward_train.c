/* Training a reward model from preference pairs by Bradley–Terry (include/posterior/preference.h):
 * a seeded held-out split, AdamW on trunk and head, held-out accuracy / loss / reliability. */
#include "posterior/preference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* seq[0, *n) + eos into a sequence one longer, within n_positions */
static int append_eos(int **seq, int *n, int eos, int n_positions, pst_error *err) {
    if (eos < 0) return 0;
    if (*n + 1 > n_positions)
        return pst_fail(err, "%d tokens with the final <|endoftext|>, longer than the context of %d (n_positions)",
                        *n + 1, n_positions);
    int *s = pst_realloc(*seq, (size_t)(*n + 1) * sizeof *s, err);
    if (!s) return -1;
    s[(*n)++] = eos;
    *seq = s;
    return 0;
}

int pst_pairs_tokenize(pst_tokenizer *tok, int bos, int eos, int n_positions, const pst_pair *pairs, size_t n,
                       const char *origin, pst_token_pair **out, pst_error *err) {
    pst_token_pair *tp = pst_calloc(n ? n : 1, sizeof *tp, err);
    if (!tp) return -1;
    for (size_t i = 0; i < n; i++) {
        const pst_pair *p = &pairs[i];
        pst_token_pair *t = &tp[i];
        int pl, bad = pst_encode_prompt_text(tok, bos, n_positions, p->prompt, p->chosen, strlen(p->chosen),
                                             &t->chosen, &t->n_chosen, &pl, err) < 0 ||
                      append_eos(&t->chosen, &t->n_chosen, eos, n_positions, err) < 0;
        if (!bad && (pst_encode_prompt_text(tok, bos, n_positions, p->prompt, p->rejected, strlen(p->rejected),
                                            &t->rejected, &t->n_rejected, NULL, err) < 0 ||
                     append_eos(&t->rejected, &t->n_rejected, eos, n_positions, err) < 0))
            bad = 2;
        if (bad) {
            pst_fail_context(err, "%s:%ld: %s", origin, p->line, bad == 2 ? "rejected" : "chosen");
            pst_token_pairs_free(tp, (int)i + 1);
            return -1;
        }
        t->prompt_len = pl;
        t->tie = p->tie;
    }
    *out = tp;
    return 0;
}

void pst_rm_train_options_default(pst_rm_train_options *o) {
    memset(o, 0, sizeof *o);
    o->epochs = 3, o->batch = 16, o->lr = 1e-4, o->lr_min = 1e-5, o->warmup = 10;
    o->weight_decay = 0.0, o->grad_clip = 1.0, o->held_out = 0.1, o->eval_every = 0, o->seed = 1;
}

void pst_pair_eval_add(pst_rm_eval *e, const pst_token_pair *pairs, const double *margin, int n, double loss) {
    e->stats.loss += loss * n, e->stats.n += n;
    for (int i = 0; i < n; i++) {
        if (pairs[i].tie) {
            e->stats.n_ties++;
            continue;
        }
        double d = margin[i], c = 1 / (1 + exp(-fabs(d)));
        int bin = (int)((c - 0.5) * 10);
        bin = bin < 0 ? 0 : bin >= PST_RELIABILITY_BINS ? PST_RELIABILITY_BINS - 1 : bin;
        e->bin_n[bin]++, e->bin_confidence[bin] += c, e->bin_accuracy[bin] += d > 0;
        e->stats.accuracy += d > 0, e->stats.margin += d;
    }
}

void pst_pair_eval_finish(pst_rm_eval *e) {
    int k = e->stats.n - e->stats.n_ties;
    e->stats.loss = e->stats.n ? e->stats.loss / e->stats.n : NAN;
    e->stats.accuracy = k ? e->stats.accuracy / k : NAN;
    e->stats.margin = k ? e->stats.margin / k : NAN;
    e->accuracy_se = k ? sqrt(e->stats.accuracy * (1 - e->stats.accuracy) / k) : NAN;
    e->ece = 0;
    for (int b = 0; b < PST_RELIABILITY_BINS; b++) {
        int nb = e->bin_n[b];
        e->bin_confidence[b] = nb ? e->bin_confidence[b] / nb : NAN;
        e->bin_accuracy[b] = nb ? e->bin_accuracy[b] / nb : NAN;
        if (nb) e->ece += (double)nb / k * fabs(e->bin_accuracy[b] - e->bin_confidence[b]);
    }
}

int pst_rm_evaluate(pst_reward_model *rm, const pst_token_pair *pairs, int n, int batch, pst_rm_eval *out,
                    pst_error *err) {
    memset(out, 0, sizeof *out);
    double *margin = pst_malloc((size_t)(batch > 0 ? batch : 1) * sizeof *margin, err);
    if (!margin) return -1;
    for (int i0 = 0; i0 < n; i0 += batch) {
        int nb = n - i0 < batch ? n - i0 : batch;
        pst_pair_stats st;
        if (pst_rm_pairs_batch(rm, pairs + i0, nb, NULL, 1.0f, margin, &st, err) < 0) {
            free(margin);
            return -1;
        }
        pst_pair_eval_add(out, pairs + i0, margin, nb, st.loss);
    }
    free(margin);
    pst_pair_eval_finish(out);
    return 0;
}

/* ---- the training loop ------------------------------------------------------------- */

typedef struct {
    pst_adamw trunk, head;
    unsigned char *decay;
    float *head_grad;
    pst_metrics metrics;
    pst_progress progress;
    double loss_sum, acc_sum; /* training pairs since the last metrics line */
    int acc_n, loss_n;
} rm_run;

static void rm_run_free(rm_run *r) {
    pst_adamw_free(&r->trunk), pst_adamw_free(&r->head);
    free(r->decay), free(r->head_grad);
    if (r->metrics.file) pst_metrics_close(&r->metrics);
}

static int rm_run_open(rm_run *r, pst_reward_model *rm, const pst_rm_train_options *o, pst_error *err) {
    char path[4096];
    int C = rm->trunk.config.n_embd;
    if (pst_mkdir_p(o->out_dir, err) < 0 || pst_path_join(path, sizeof path, o->out_dir, "metrics.jsonl", err) < 0 ||
        pst_metrics_open(&r->metrics, path, -1, err) < 0 ||
        pst_adamw_create(&r->trunk, rm->trunk.num_params, 0.9f, 0.95f, 1e-8f, (float)o->weight_decay, err) < 0 ||
        pst_adamw_create(&r->head, (size_t)C, 0.9f, 0.95f, 1e-8f, 0.0f, err) < 0)
        return -1;
    r->decay = pst_gpt2_decay_mask(&rm->trunk, err);
    r->head_grad = r->decay ? pst_calloc((size_t)C, sizeof(float), err) : NULL;
    return r->head_grad ? 0 : -1;
}

/* one AdamW step on trunk and head from the accumulated gradients, clipped by their joint norm */
static double rm_update(rm_run *r, pst_reward_model *rm, const pst_rm_train_options *o, float lr) {
    size_t N = rm->trunk.num_params, C = (size_t)rm->trunk.config.n_embd;
    double sq = 0;
    for (size_t i = 0; i < N; i++) sq += (double)rm->trunk.grad_memory[i] * rm->trunk.grad_memory[i];
    for (size_t i = 0; i < C; i++) sq += (double)r->head_grad[i] * r->head_grad[i];
    double norm = sqrt(sq);
    /* as torch.nn.utils.clip_grad_norm_, the factor applied inside the update */
    float f = o->grad_clip > 0 && norm > o->grad_clip ? (float)(o->grad_clip / (norm + 1e-6)) : 1.0f;
    pst_adamw_update(&r->trunk, rm->trunk.param_memory, rm->trunk.grad_memory, f, r->decay, N, lr);
    pst_adamw_update(&r->head, rm->head, r->head_grad, f, NULL, C, lr);
    return norm;
}

static void write_eval(rm_run *r, long step, long total, const pst_rm_eval *e, double lr) {
    char b[16][32], table[1024];
    size_t o = 0;
    for (int k = 0; k < PST_RELIABILITY_BINS; k++)
        o += (size_t)snprintf(table + o, sizeof table - o,
                              "%s{\"lo\": %.1f, \"hi\": %.1f, \"n\": %d, \"confidence\": %s, \"accuracy\": %s}",
                              k ? ", " : "", 0.5 + 0.1 * k, 0.6 + 0.1 * k, e->bin_n[k],
                              pst_json_number(b[10], e->bin_confidence[k], 6), pst_json_number(b[11], e->bin_accuracy[k], 6));
    pst_metrics_write(&r->metrics,
                      "\"step\": %ld, \"steps\": %ld, \"lr\": %s, \"train_loss\": %s, \"train_accuracy\": %s, "
                      "\"held_out_pairs\": %d, \"held_out_ties\": %d, \"held_out_loss\": %s, \"held_out_accuracy\": %s, "
                      "\"held_out_accuracy_se\": %s, \"held_out_margin\": %s, \"ece\": %s, \"reliability\": [%s]",
                      step, total, pst_json_number(b[0], lr, 6),
                      pst_json_number(b[1], r->loss_n ? r->loss_sum / r->loss_n : NAN, 6),
                      pst_json_number(b[2], r->acc_n ? r->acc_sum / r->acc_n : NAN, 6), e->stats.n, e->stats.n_ties,
                      pst_json_number(b[3], e->stats.loss, 6), pst_json_number(b[4], e->stats.accuracy, 6),
                      pst_json_number(b[5], e->accuracy_se, 6), pst_json_number(b[6], e->stats.margin, 6),
                      pst_json_number(b[7], e->ece, 6), table);
    r->loss_sum = r->acc_sum = 0, r->loss_n = r->acc_n = 0;
}

static void shuffle(pst_token_pair *p, int n, pst_rng *rng) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)pst_rng_below(rng, (uint64_t)i + 1);
        pst_token_pair t = p[i];
        p[i] = p[j], p[j] = t;
    }
}

int pst_rm_train(pst_reward_model *rm, const pst_token_pair *pairs, int n, const pst_rm_train_options *o,
                 pst_rm_eval *final, pst_error *err) {
    if (n < 2) return pst_fail_field(err, "pairs", "%d pairs: training a reward model needs at least 2", n);
    if (o->batch < 1 || o->epochs < 1) return pst_fail(err, "reward model: batch and epochs must be >= 1");
    pst_rng rng;
    pst_rng_seed(&rng, o->seed);
    pst_token_pair *all = pst_malloc((size_t)n * sizeof *all, err); /* shallow copies, reordered */
    if (!all) return -1;
    memcpy(all, pairs, (size_t)n * sizeof *all);
    shuffle(all, n, &rng);
    int n_val = (int)lround(o->held_out * n);
    n_val = o->held_out > 0 && n_val < 1 ? 1 : n_val > n - 1 ? n - 1 : n_val;
    pst_token_pair *val = all, *train = all + n_val;
    int n_train = n - n_val, rc = -1;
    long per_epoch = (n_train + o->batch - 1) / o->batch, total = per_epoch * o->epochs;
    rm_run r = {0};
    if (rm_run_open(&r, rm, o, err) < 0) goto done;
    pst_progress_start(&r.progress, "rm train", o->quiet ? 0 : total);
    if (o->quiet) r.progress.enabled = 0;
    for (long step = 0; step < total; step++) {
        long b = step % per_epoch;
        if (b == 0) shuffle(train, n_train, &rng);
        int i0 = (int)b * o->batch, nb = n_train - i0 < o->batch ? n_train - i0 : o->batch;
        pst_pair_stats st;
        pst_gpt2_zero_grad(&rm->trunk);
        memset(r.head_grad, 0, (size_t)rm->trunk.config.n_embd * sizeof(float));
        if (pst_rm_pairs_batch(rm, train + i0, nb, r.head_grad, 1.0f, NULL, &st, err) < 0) goto done;
        float lr = pst_lr_schedule(step, o->warmup, total, (float)o->lr, (float)o->lr_min);
        rm_update(&r, rm, o, lr);
        r.loss_sum += st.loss * nb, r.loss_n += nb;
        if (st.n > st.n_ties) r.acc_sum += st.accuracy * (st.n - st.n_ties), r.acc_n += st.n - st.n_ties;
        if ((o->eval_every > 0 && (step + 1) % o->eval_every == 0) || step + 1 == total) {
            if (pst_rm_evaluate(rm, val, n_val, o->batch, final, err) < 0) goto done;
            write_eval(&r, step + 1, total, final, lr);
        }
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f", st.loss);
        pst_progress_update(&r.progress, step + 1, 0, extra);
    }
    pst_progress_finish(&r.progress);
    rc = pst_reward_model_save(rm, o->out_dir, err);
done:
    rm_run_free(&r);
    free(all);
    return rc;
}
