/* Preference losses on GPT-2 (include/posterior/preference.h): Bradley–Terry on a reward
 * model's trunk and head, and the DPO family on a policy, each one forward and one backward
 * over the 2n rows of a batch of n pairs (chosen rows first, then rejected). */
#include "posterior/preference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pst_token_pairs_free(pst_token_pair *p, int n) {
    for (int i = 0; p && i < n; i++) free(p[i].chosen), free(p[i].rejected);
    free(p);
}

static const int *row_seq(const pst_token_pair *pairs, int n, int row, int *len) {
    const pst_token_pair *p = &pairs[row % n];
    *len = row < n ? p->n_chosen : p->n_rejected;
    return row < n ? p->chosen : p->rejected;
}

/* stats of n margins d_i (r_w − r_l, or β·m) over the non-tie pairs */
static void margin_stats(const pst_token_pair *pairs, int n, const double *d, double loss, pst_pair_stats *st) {
    memset(st, 0, sizeof *st);
    st->n = n, st->loss = loss;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (pairs[i].tie) {
            st->n_ties++;
            continue;
        }
        st->accuracy += d[i] > 0, st->margin += d[i], k++;
    }
    st->accuracy = k ? st->accuracy / k : NAN, st->margin = k ? st->margin / k : NAN;
}

int pst_rm_pairs_batch(pst_reward_model *rm, const pst_token_pair *pairs, int n, float *head_grad, float scale,
                       double *margins, pst_pair_stats *st, pst_error *err) {
    int B = 2 * n, T = 1, *lens = pst_malloc((size_t)B * sizeof *lens, err);
    double *r = pst_malloc((size_t)B * sizeof *r, err), *d = pst_malloc((size_t)n * sizeof *d, err);
    int *tokens = NULL, rc = -1;
    if (!lens || !r || !d) goto done;
    for (int b = 0; b < B; b++) {
        row_seq(pairs, n, b, &lens[b]);
        if (lens[b] > T) T = lens[b];
    }
    tokens = pst_calloc((size_t)B * T, sizeof *tokens, err);
    if (!tokens) goto done;
    for (int b = 0; b < B; b++) memcpy(tokens + (size_t)b * T, row_seq(pairs, n, b, &lens[b]), (size_t)lens[b] * sizeof(int));
    if (pst_reward_model_forward(rm, tokens, lens, B, T, r, err) < 0) goto done;
    /* L = (1/n) Σ BT(r_w, r_l): ∂L/∂r_w = g/n, ∂L/∂r_l = −g/n with g = ∂BT/∂(r_w − r_l) */
    double loss = 0;
    for (int i = 0; i < n; i++) {
        double g;
        loss += pst_bradley_terry_loss(r[i], r[n + i], pairs[i].tie, &g);
        d[i] = r[i] - r[n + i];
        r[i] = scale * g / n, r[n + i] = -scale * g / n; /* r now holds ∂(scale·L)/∂r */
    }
    margin_stats(pairs, n, d, loss / n, st);
    if (margins) memcpy(margins, d, (size_t)n * sizeof *d);
    rc = head_grad ? pst_reward_model_backward(rm, r, head_grad, err) : 0;
done:
    free(lens), free(r), free(d), free(tokens);
    return rc;
}

/* The 2n rows as inputs [B, T] and targets (next tokens; −1 on the prompt and the padding),
 * T = the longest sequence − 1. */
static int pair_rows(const pst_token_pair *pairs, int n, int **inp, int **tgt, int *T_out, pst_error *err) {
    int B = 2 * n, T = 1, len;
    for (int b = 0; b < B; b++) {
        row_seq(pairs, n, b, &len);
        if (len - 1 > T) T = len - 1;
    }
    *inp = pst_calloc((size_t)B * T, sizeof(int), err);
    *tgt = *inp ? pst_malloc((size_t)B * T * sizeof(int), err) : NULL;
    if (!*tgt) return -1;
    for (int b = 0; b < B; b++) {
        const int *s = row_seq(pairs, n, b, &len);
        int pl = pairs[b % n].prompt_len;
        for (int t = 0; t < T; t++) {
            (*inp)[(size_t)b * T + t] = t < len - 1 ? s[t] : 0;
            (*tgt)[(size_t)b * T + t] = t < len - 1 && t + 1 >= pl ? s[t + 1] : -1;
        }
    }
    *T_out = T;
    return 0;
}

/* forward over the rows; lp[b] = Σ_t logprobs[b, t] (targets −1 give 0); backward: a
 * backward pass follows (else the forward for log-probs alone) */
static int rows_logprobs(pst_gpt2 *m, const pst_token_pair *pairs, int n, int backward, int **inp, int **tgt, int *T,
                         double *lp, pst_error *err) {
    for (int i = 0; i < n; i++)
        if (pairs[i].prompt_len < 1 || pairs[i].n_chosen <= pairs[i].prompt_len ||
            pairs[i].n_rejected <= pairs[i].prompt_len)
            return pst_fail(err, "pair %d: a response needs at least one token after the %d of the prompt", i,
                            pairs[i].prompt_len);
    if (pair_rows(pairs, n, inp, tgt, T, err) < 0 ||
        (backward ? pst_gpt2_forward(m, *inp, *tgt, 2 * n, *T, NULL, err)
                  : pst_gpt2_forward_logprobs(m, *inp, *tgt, 2 * n, *T, err)) < 0)
        return -1;
    for (int b = 0; b < 2 * n; b++) {
        double s = 0;
        for (int t = 0; t < *T; t++) s += m->logprobs[(size_t)b * *T + t];
        lp[b] = s;
    }
    return 0;
}

int pst_pairs_logprobs(pst_gpt2 *m, const pst_token_pair *pairs, int n, double *logp_chosen, double *logp_rejected,
                       pst_error *err) {
    int *inp = NULL, *tgt = NULL, T;
    double *lp = pst_malloc((size_t)2 * n * sizeof *lp, err);
    int rc = lp ? rows_logprobs(m, pairs, n, 0, &inp, &tgt, &T, lp, err) : -1;
    if (rc == 0) {
        memcpy(logp_chosen, lp, (size_t)n * sizeof *lp);
        memcpy(logp_rejected, lp + n, (size_t)n * sizeof *lp);
    }
    free(inp), free(tgt), free(lp);
    return rc;
}

int pst_dpo_pairs_batch(pst_gpt2 *policy, const pst_token_pair *pairs, int n, const double *ref_chosen,
                        const double *ref_rejected, pst_dpo_loss_kind kind, double beta, double label_smoothing,
                        int grads, float scale, double *margins, pst_pair_stats *st, pst_error *err) {
    int *inp = NULL, *tgt = NULL, T = 0, rc = -1;
    double *lp = pst_malloc((size_t)2 * n * sizeof *lp, err), *g = pst_malloc((size_t)n * sizeof *g, err),
           *margin = pst_malloc((size_t)n * sizeof *margin, err);
    float *dlp = NULL;
    if (!lp || !g || !margin || rows_logprobs(policy, pairs, n, grads, &inp, &tgt, &T, lp, err) < 0) goto done;
    double loss = 0;
    for (int i = 0; i < n; i++) {
        double gi, gj;
        double li = pst_dpo_loss(kind, beta, label_smoothing, lp[i], ref_chosen[i], lp[n + i], ref_rejected[i], &gi);
        if (pairs[i].tie) { /* the mean of both orientations: m and −m */
            double lj = pst_dpo_loss(kind, beta, label_smoothing, lp[n + i], ref_rejected[i], lp[i], ref_chosen[i], &gj);
            li = 0.5 * li + 0.5 * lj, gi = 0.5 * gi - 0.5 * gj;
        }
        loss += li;
        g[i] = gi;
        margin[i] = beta * ((lp[i] - ref_chosen[i]) - (lp[n + i] - ref_rejected[i]));
    }
    margin_stats(pairs, n, margin, loss / n, st);
    if (margins) memcpy(margins, margin, (size_t)n * sizeof *margin);
    if (!grads) {
        rc = 0;
        goto done;
    }
    /* ∂L/∂log π(y_w) = g/n on every scored token of the chosen row, −g/n on the rejected's */
    dlp = pst_calloc((size_t)2 * n * T, sizeof *dlp, err);
    if (!dlp) goto done;
    for (int b = 0; b < 2 * n; b++)
        for (int t = 0; t < T; t++)
            if (tgt[(size_t)b * T + t] >= 0) dlp[(size_t)b * T + t] = (float)((b < n ? 1 : -1) * scale * g[b % n] / n);
    rc = pst_gpt2_backward(policy, dlp, err);
done:
    free(inp), free(tgt), free(lp), free(g), free(margin), free(dlp);
    return rc;
}
