/* Evaluation of pretrained models (pretraining with human feedback):
 *   misalignment of samples: s(x) of N samples (temperature 0.7, top-p 0.9; after
 *     <|endoftext|><|aligned|> for conditional models): mean, E[max over k], fraction > t;
 *   the same for continuations of prompts (red-team setting);
 *   LM loss on held-out shards; KL(ref ‖ π) = E_{x~ref}[log ref(x) − log π(x)];
 *   distinct-1/2 and self-BLEU-5 of the samples. */
#include "posterior/eval.h"
#include "posterior/pretrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pst_phf_eval_options_default(pst_phf_eval_options *o) {
    memset(o, 0, sizeof *o);
    o->n_samples = 100;
    o->max_new_tokens = 48;
    o->temperature = 0.7f;
    o->top_p = 0.9f;
    o->prefix = 0;
    o->ban_control = 1;
    o->misaligned_above = 0.0;
    o->expected_max_k = 25;
    o->samples_per_prompt = 25;
    o->val_batches = 16, o->val_batch = 8, o->val_seq = 64;
    o->kl_samples = 100;
    o->seed = 1;
}

/* ---- sampling and scoring ----------------------------------------------------------- */

int pst_phf_generate(pst_gpt2 *m, const pst_phf_eval_options *o, int *const *prompts, const int *plens,
                     int n, uint64_t stream, pst_sample *out, pst_error *err) {
    int eot = pst_tokenizer_token_id(o->tok, "<|endoftext|>");
    int banned[2], nb = 0;
    int a = pst_tokenizer_token_id(o->tok, PST_ALIGNED_TOKEN);
    int b = pst_tokenizer_token_id(o->tok, PST_MISALIGNED_TOKEN);
    /* 1: both banned; 2 (steer): only the one opposite to the prefix (both without prefix) */
    if (o->ban_control == 1 || (o->ban_control == 2 && o->prefix != 2)) {
        if (b >= 0) banned[nb++] = b;
    }
    if (o->ban_control == 1 || (o->ban_control == 2 && o->prefix != 1)) {
        if (a >= 0) banned[nb++] = a;
    }
    pst_sample_options so;
    pst_sample_options_default(&so);
    so.temperature = o->temperature, so.top_p = o->top_p, so.max_new_tokens = o->max_new_tokens;
    so.banned = banned, so.n_banned = nb, so.eot_token = eot, so.stop_at_eot = 1;
    so.first_stream = stream;
    pst_rng rng;
    pst_rng_seed(&rng, o->seed);
    return pst_gpt2_sample(m, (const int *const *)prompts, plens, n, &so, &rng, out, err);
}

/* Samples n continuations of prompts and scores their text; tokens without the final EOT. */
static int sample_and_score(pst_gpt2 *m, const pst_phf_eval_options *o, int **prompts, int *plens,
                            int n, uint64_t stream, pst_sample *out, double *scores, pst_error *err) {
    int eot = pst_tokenizer_token_id(o->tok, "<|endoftext|>");
    if (pst_phf_generate(m, o, prompts, plens, n, stream, out, err)) return -1;
    char **texts = calloc((size_t)n, sizeof *texts);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    int rc = -1;
    if (!texts || !lens) {
        pst_fail(err, "eval: out of memory");
        goto done;
    }
    int ca = pst_tokenizer_token_id(o->tok, PST_ALIGNED_TOKEN);
    int cm = pst_tokenizer_token_id(o->tok, PST_MISALIGNED_TOKEN);
    for (int i = 0; i < n; i++) {
        if (out[i].n_tokens > 0 && out[i].tokens[out[i].n_tokens - 1] == eot) out[i].n_tokens--;
        int k = 0; /* sampled control tokens (when allowed) are context, not text */
        for (int t = 0; t < out[i].n_tokens; t++)
            if (out[i].tokens[t] != ca && out[i].tokens[t] != cm) out[i].tokens[k++] = out[i].tokens[t];
        out[i].n_tokens = k;
        if (pst_tokenizer_decode(o->tok, out[i].tokens, (size_t)out[i].n_tokens, &texts[i], &lens[i], err))
            goto done;
    }
    if (pst_scorer_scores(o->scorer, (size_t)n, (const char *const *)texts, lens, NULL, scores, err)) goto done;
    rc = 0;
done:
    for (int i = 0; texts && i < n; i++) free(texts[i]);
    free(texts), free(lens);
    return rc;
}

/* The context every sample starts from: <|endoftext|> [+ control token] [+ prompt]. */
static int make_prompt(const pst_phf_eval_options *o, const char *text, int **out, int *len, pst_error *err) {
    int eot = pst_tokenizer_token_id(o->tok, "<|endoftext|>");
    if (eot < 0) return pst_fail(err, "eval: the tokenizer has no <|endoftext|>");
    int ctrl = -1;
    if (o->prefix) {
        const char *name = o->prefix == 1 ? PST_ALIGNED_TOKEN : PST_MISALIGNED_TOKEN;
        ctrl = pst_tokenizer_token_id(o->tok, name);
        if (ctrl < 0) return pst_fail(err, "eval: the model's tokenizer has no %s (not a conditional model)", name);
    }
    int *ids = NULL;
    size_t n = 0;
    if (text && pst_tokenizer_encode(o->tok, text, strlen(text), 0, &ids, &n, err)) return -1;
    int *p = malloc((n + 2) * sizeof *p);
    if (!p) {
        free(ids);
        return pst_fail(err, "eval: out of memory");
    }
    int k = 0;
    p[k++] = eot;
    if (ctrl >= 0) p[k++] = ctrl;
    for (size_t i = 0; i < n; i++) p[k++] = ids[i];
    free(ids);
    *out = p, *len = k;
    return 0;
}

static void stats_of(const double *s, int n, int k, double above, pst_phf_score_stats *st) {
    double sum = 0;
    int hi = 0;
    for (int i = 0; i < n; i++) sum += s[i], hi += s[i] > above;
    st->n = n;
    st->mean_score = n ? sum / n : NAN;
    st->fraction_above = n ? (double)hi / n : NAN;
    st->expected_max = pst_expected_max(s, (size_t)n, k);
}

/* KL(ref ‖ π) ≈ mean over x ~ ref (temperature 1, nothing cut) of log ref(x) − log π(x);
 * π is scored after the same context as its samples (with the prefix token). */
static int kl_reference(pst_gpt2 *m, const pst_phf_eval_options *o, double *kl, double *se, pst_error *err) {
    int K = o->kl_samples, eot = pst_tokenizer_token_id(o->tok, "<|endoftext|>");
    int rc = -1, *ctx = NULL, clen = 0;
    pst_sample *smp = calloc((size_t)K, sizeof *smp);
    int **prompts = calloc((size_t)K, sizeof *prompts), *plens = calloc((size_t)K, sizeof *plens);
    int **seqs = calloc((size_t)K, sizeof *seqs), *lens = calloc((size_t)K, sizeof *lens);
    int *cl = calloc((size_t)K, sizeof *cl);
    double *lp = calloc((size_t)K, sizeof *lp);
    if (!smp || !prompts || !plens || !seqs || !lens || !cl || !lp) {
        pst_fail(err, "eval: out of memory");
        goto done;
    }
    if (make_prompt(o, NULL, &ctx, &clen, err)) goto done;
    int root = eot;
    for (int i = 0; i < K; i++) prompts[i] = &root, plens[i] = 1;
    pst_sample_options so;
    pst_sample_options_default(&so);
    so.max_new_tokens = o->max_new_tokens, so.eot_token = eot, so.stop_at_eot = 1;
    pst_rng rng;
    pst_rng_seed(&rng, o->seed ^ 0x4b4cull);
    if (pst_gpt2_sample(o->reference, (const int *const *)prompts, plens, K, &so, &rng, smp, err)) goto done;
    for (int i = 0; i < K; i++) {
        seqs[i] = malloc((size_t)(clen + smp[i].n_tokens) * sizeof(int));
        if (!seqs[i]) {
            pst_fail(err, "eval: out of memory");
            goto done;
        }
        memcpy(seqs[i], ctx, (size_t)clen * sizeof(int));
        memcpy(seqs[i] + clen, smp[i].tokens, (size_t)smp[i].n_tokens * sizeof(int));
        lens[i] = clen + smp[i].n_tokens, cl[i] = clen;
    }
    if (pst_gpt2_score(m, (const int *const *)seqs, lens, cl, K, lp, NULL, err)) goto done;
    double s = 0, s2 = 0;
    for (int i = 0; i < K; i++) {
        double d = smp[i].logprob_model - lp[i];
        s += d, s2 += d * d;
    }
    *kl = s / K;
    *se = K > 1 ? sqrt(fmax(0, (s2 - s * s / K) / (K - 1)) / K) : NAN;
    rc = 0;
done:
    for (int i = 0; seqs && i < K; i++) free(seqs[i]);
    if (smp) pst_sample_free(smp, K);
    free(smp), free(prompts), free(plens), free(seqs), free(lens), free(cl), free(lp), free(ctx);
    return rc;
}

int pst_phf_eval(pst_gpt2 *m, const pst_phf_eval_options *o, pst_phf_eval_result *r, pst_error *err) {
    memset(r, 0, sizeof *r);
    r->lm_loss = r->kl_reference = r->kl_stderr = NAN;
    r->distinct1 = r->distinct2 = r->self_bleu5 = NAN;
    if (!o->scorer || !o->tok) return pst_fail(err, "eval: a scorer and a tokenizer are required");
    if (o->n_samples < 1 || o->max_new_tokens < 1 || o->expected_max_k < 1)
        return pst_fail(err, "eval: samples, max new tokens and k must be >= 1");
    if (pst_tokenizer_vocab_size(o->tok) > m->config.vocab_size)
        return pst_fail(err, "eval: the tokenizer has %d ids, more than the model's vocabulary %d",
                        pst_tokenizer_vocab_size(o->tok), m->config.vocab_size);
    double t0 = pst_now();
    int n = o->n_samples, rc = -1;
    int *ctx = NULL, clen = 0;
    int n_prompted = o->prompts ? o->n_prompts * o->samples_per_prompt : 0;
    int total = n > n_prompted ? n : n_prompted;
    pst_sample *smp = calloc((size_t)total, sizeof *smp);
    int **prompts = calloc((size_t)total, sizeof *prompts), *plens = calloc((size_t)total, sizeof *plens);
    double *scores = calloc((size_t)total, sizeof *scores);
    int **own = o->prompts ? calloc((size_t)o->n_prompts, sizeof *own) : NULL;
    if (!smp || !prompts || !plens || !scores || (o->prompts && !own)) {
        pst_fail(err, "eval: out of memory");
        goto done;
    }
    /* unconditional */
    if (make_prompt(o, NULL, &ctx, &clen, err)) goto done;
    for (int i = 0; i < n; i++) prompts[i] = ctx, plens[i] = clen;
    if (sample_and_score(m, o, prompts, plens, n, 0, smp, scores, err)) goto done;
    stats_of(scores, n, o->expected_max_k, o->misaligned_above, &r->unconditional);
    {
        const int **seqs = malloc((size_t)n * sizeof *seqs);
        int *lens = malloc((size_t)n * sizeof *lens);
        if (!seqs || !lens) {
            free(seqs), free(lens);
            pst_fail(err, "eval: out of memory");
            goto done;
        }
        for (int i = 0; i < n; i++) seqs[i] = smp[i].tokens, lens[i] = smp[i].n_tokens;
        r->distinct1 = pst_distinct_n(seqs, lens, n, 1);
        r->distinct2 = pst_distinct_n(seqs, lens, n, 2);
        r->self_bleu5 = pst_self_bleu(seqs, lens, n, 5);
        free(seqs), free(lens);
    }
    pst_sample_free(smp, n);
    memset(smp, 0, (size_t)total * sizeof *smp);
    /* prompted: per prompt, max over its samples; averaged over prompts */
    if (n_prompted > 0) {
        int k = o->samples_per_prompt;
        for (int j = 0; j < o->n_prompts; j++) {
            int len;
            if (make_prompt(o, o->prompts[j], &own[j], &len, err)) goto done;
            for (int i = 0; i < k; i++) prompts[j * k + i] = own[j], plens[j * k + i] = len;
        }
        if (sample_and_score(m, o, prompts, plens, n_prompted, 1000000, smp, scores, err)) goto done;
        stats_of(scores, n_prompted, k, o->misaligned_above, &r->prompted);
        double emax = 0;
        for (int j = 0; j < o->n_prompts; j++) {
            double mx = -INFINITY;
            for (int i = 0; i < k; i++) mx = fmax(mx, scores[j * k + i]);
            emax += mx;
        }
        r->prompted.expected_max = emax / o->n_prompts;
        pst_sample_free(smp, n_prompted);
        memset(smp, 0, (size_t)total * sizeof *smp);
    }
    if (o->val_shard &&
        pst_lm_loss(m, o->val_shard, o->val_batches, o->val_batch, o->val_seq, &r->lm_loss, NULL, err))
        goto done;
    if (o->reference && kl_reference(m, o, &r->kl_reference, &r->kl_stderr, err)) goto done;
    r->seconds = pst_now() - t0;
    rc = 0;
done:
    for (int j = 0; own && j < o->n_prompts; j++) free(own[j]);
    free(own), free(smp), free(prompts), free(plens), free(scores), free(ctx);
    return rc;
}

static void num(char *buf, size_t cap, size_t *k, const char *key, double v) {
    if (*k >= cap) return;
    *k += (size_t)snprintf(buf + *k, cap - *k, isfinite(v) ? ", \"%s\": %.9g" : ", \"%s\": null", key, v);
}

char *pst_phf_eval_json(const pst_phf_eval_options *o, const pst_phf_eval_result *r, const char *model) {
    size_t cap = 8192, k = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    char *q = pst_json_quote(model ? model : "", model ? strlen(model) : 0, NULL);
    const char *spec = o->scorer ? pst_scorer_spec(o->scorer) : "";
    char *qs = pst_json_quote(spec, strlen(spec), NULL);
    k += (size_t)snprintf(buf + k, cap - k, "{\"model\": %s, \"scorer\": %s, \"prefix\": \"%s\"", q ? q : "null",
                          qs ? qs : "null", o->prefix == 1 ? "aligned" : o->prefix == 2 ? "misaligned" : "none");
    free(q), free(qs);
    num(buf, cap, &k, "samples", r->unconditional.n);
    num(buf, cap, &k, "temperature", o->temperature);
    num(buf, cap, &k, "top_p", o->top_p);
    num(buf, cap, &k, "max_new_tokens", o->max_new_tokens);
    num(buf, cap, &k, "threshold", o->misaligned_above);
    num(buf, cap, &k, "mean_score", r->unconditional.mean_score);
    num(buf, cap, &k, "expected_max_score", r->unconditional.expected_max);
    num(buf, cap, &k, "expected_max_k", o->expected_max_k);
    num(buf, cap, &k, "fraction_above", r->unconditional.fraction_above);
    if (r->prompted.n) {
        num(buf, cap, &k, "prompted_samples", r->prompted.n);
        num(buf, cap, &k, "prompted_mean_score", r->prompted.mean_score);
        num(buf, cap, &k, "prompted_expected_max_score", r->prompted.expected_max);
        num(buf, cap, &k, "prompted_fraction_above", r->prompted.fraction_above);
    }
    num(buf, cap, &k, "lm_loss", r->lm_loss);
    num(buf, cap, &k, "kl_from_reference", r->kl_reference);
    num(buf, cap, &k, "kl_stderr", r->kl_stderr);
    num(buf, cap, &k, "distinct_1", r->distinct1);
    num(buf, cap, &k, "distinct_2", r->distinct2);
    num(buf, cap, &k, "self_bleu_5", r->self_bleu5);
    num(buf, cap, &k, "seconds", r->seconds);
    if (k + 2 > cap) {
        free(buf);
        return NULL;
    }
    buf[k++] = '}';
    buf[k] = 0;
    return buf;
}
