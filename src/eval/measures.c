/* The measures both evaluations use: LM loss on a shard, distinct-n, self-BLEU,
 * E[max of k] (include/posterior/eval.h has the formulas). */
#include "posterior/eval.h"
#include "posterior/shard.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- LM loss ------------------------------------------------------------------------ */

/* Mean cross-entropy over the loader's batches in order: batch b is the stream tokens
 * [b·B·T, (b+1)·B·T], positions past the shard's end get weight 0. */
int pst_lm_loss(pst_gpt2 *m, const char *shard_path, int batches, int B, int T, double *loss, long *tokens,
                pst_error *err) {
    pst_shard sh;
    pst_loader ld;
    float *w = NULL;
    int rc = -1, have_loader = 0;
    double sum = 0;
    long count = 0;
    if (T > m->config.n_positions) T = m->config.n_positions;
    if (pst_shard_open(&sh, shard_path, err) < 0) return -1;
    if ((int)sh.vocab_size > m->config.vocab_size) {
        pst_fail(err, "%s: vocabulary of %u ids, the model has %d", shard_path, sh.vocab_size, m->config.vocab_size);
        goto done;
    }
    if (pst_loader_init(&ld, &sh, B, T, 0, 0, 1, err) < 0) goto done;
    have_loader = 1;
    w = malloc(sizeof(float) * (size_t)B * T);
    if (!w) {
        pst_fail(err, "out of memory");
        goto done;
    }
    for (int bi = 0; bi < batches; bi++) {
        int r = pst_loader_next(&ld, err);
        if (r < 0) goto done;
        if (r == 0) break;
        float valid = 0;
        for (int i = 0; i < B * T; i++) valid += w[i] = (size_t)(i + 1) < ld.n_valid ? 1.0f : 0.0f;
        if (valid == 0) break;
        double l;
        if (pst_gpt2_cross_entropy(m, ld.tokens, ld.tokens + 1, w, B, T, NULL, &l, err) < 0) goto done;
        sum += l * valid;
        count += (long)valid;
    }
    if (!count) {
        pst_fail(err, "%s: no tokens", shard_path);
        goto done;
    }
    *loss = sum / count;
    if (tokens) *tokens = count;
    rc = 0;
done:
    free(w);
    if (have_loader) pst_loader_free(&ld);
    pst_shard_close(&sh);
    return rc;
}

int pst_lm_loss_of_dir(const char *model_dir, const char *shard_path, int batches, int B, int T, double *loss,
                       long *tokens, pst_error *err) {
    pst_gpt2 m = {0};
    int rc = pst_gpt2_load(&m, model_dir, err);
    if (rc == 0) rc = pst_lm_loss(&m, shard_path, batches, B, T, loss, tokens, err);
    pst_gpt2_free(&m);
    return rc;
}

/* ---- diversity and order statistics ------------------------------------------------------------------- */

double pst_expected_max(const double *scores, size_t n, int k) {
    if (n == 0) return NAN;
    if (k < 1) k = 1;
    if ((size_t)k > n) k = (int)n;
    double *s = malloc(n * sizeof *s);
    if (!s) return NAN;
    memcpy(s, scores, n * sizeof *s);
    pst_sort_doubles(s, n);
    /* P(max = s_(i)) = C(i−1, k−1)/C(n, k), i = 1..n (1-based), computed in log space */
    double lcnk = lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1), e = 0;
    for (size_t i = (size_t)k; i <= n; i++) {
        double l = lgamma((double)i) - lgamma((double)k) - lgamma((double)(i - k) + 1) - lcnk;
        e += exp(l) * s[i - 1];
    }
    free(s);
    return e;
}

static int ngram_eq(const int *a, const int *b, int order) {
    for (int j = 0; j < order; j++)
        if (a[j] != b[j]) return 0;
    return 1;
}

/* occurrences of the n-gram g in seq */
static int count_in(const int *g, int order, const int *seq, int len) {
    int c = 0;
    for (int t = 0; t + order <= len; t++) c += ngram_eq(seq + t, g, order);
    return c;
}

static double bleu(const int *const *seqs, const int *lens, int n_seqs, int h, int max_order) {
    const int *hyp = seqs[h];
    int c = lens[h];
    double log_p = 0;
    for (int order = 1; order <= max_order; order++) {
        long match = 0, total = c >= order ? c - order + 1 : 0;
        for (int t = 0; t + order <= c; t++) {
            const int *g = hyp + t;
            int first = 1; /* count each distinct n-gram once, at its first occurrence */
            for (int u = 0; u < t && first; u++) first = !ngram_eq(hyp + u, g, order);
            if (!first) continue;
            int ch = count_in(g, order, hyp, c), cmax = 0;
            for (int r = 0; r < n_seqs; r++) {
                if (r == h) continue;
                int cr = count_in(g, order, seqs[r], lens[r]);
                cmax = cr > cmax ? cr : cmax;
            }
            match += ch < cmax ? ch : cmax;
        }
        double denom = total > 0 ? (double)total : 1.0;
        double p = match > 0 ? (double)match / denom : 0.1 / denom;
        log_p += log(p) / max_order;
    }
    /* brevity penalty: the reference length closest to c (the shorter on ties) */
    int best = -1;
    for (int r = 0; r < n_seqs; r++) {
        if (r == h) continue;
        int d = abs(lens[r] - c), db = best < 0 ? 0 : abs(best - c);
        if (best < 0 || d < db || (d == db && lens[r] < best)) best = lens[r];
    }
    double bp = c == 0 ? 0 : c > best ? 1.0 : exp(1.0 - (double)best / c);
    return c == 0 ? 0 : bp * exp(log_p);
}

double pst_self_bleu(const int *const *seqs, const int *lens, int n_seqs, int max_order) {
    if (n_seqs < 2) return NAN;
    double s = 0;
    for (int h = 0; h < n_seqs; h++) s += bleu(seqs, lens, n_seqs, h, max_order);
    return s / n_seqs;
}

