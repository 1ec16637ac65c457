/* Preference pairs from a model, labelled by an oracle scorer, with known label noise
 * (include/posterior/preference.h): two samples per prompt; the higher score wins, or, with
 * noise T, the first wins with probability σ((s_1 − s_2)/T) — Bradley–Terry on r = s. */
#include "posterior/preference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pst_pairs_make_options_default(pst_pairs_make_options *o) {
    memset(o, 0, sizeof *o);
    o->n = 100;
    pst_sample_options_default(&o->sampling);
    o->sampling.stop_at_eot = 1;
    o->max_rounds = 8;
}

/* the continuation as text, without a final <|endoftext|> */
static int decode_continuation(pst_tokenizer *tok, const pst_sample *s, int eot, char **text, pst_error *err) {
    size_t len, n = (size_t)s->n_tokens;
    if (n && s->tokens[n - 1] == eot) n--;
    return pst_tokenizer_decode(tok, s->tokens, n, text, &len, err);
}

/* one round: k pairs wanted, 2k samples; the valid pairs are appended to out[*have] */
static int make_round(pst_gpt2 *m, pst_tokenizer *tok, pst_scorer *oracle, const char *const *prompts, int n_prompts,
                      int **prompt_ids, const int *prompt_lens, const pst_pairs_make_options *o, int k, pst_rng *rng,
                      pst_pair *out, int *have, pst_pairs_make_stats *st, pst_error *err) {
    int rc = -1, first = *have;
    const int **pp = pst_calloc(2 * (size_t)k, sizeof *pp, err);
    int *pl = pst_calloc(2 * (size_t)k, sizeof *pl, err);
    pst_sample *smp = pst_calloc(2 * (size_t)k, sizeof *smp, err);
    char **texts = pst_calloc(2 * (size_t)k, sizeof *texts, err);
    const char **ctx = pst_calloc(2 * (size_t)k, sizeof *ctx, err);
    double *score = pst_calloc(2 * (size_t)k, sizeof *score, err);
    if (!pp || !pl || !smp || !texts || !ctx || !score) goto done;
    for (int j = 0; j < 2 * k; j++) { /* rows 2i and 2i + 1: the two continuations of pair i */
        int q = n_prompts ? (first + j / 2) % n_prompts : 0;
        pp[j] = prompt_ids[q], pl[j] = prompt_lens[q], ctx[j] = n_prompts ? prompts[q] : "";
    }
    if (pst_gpt2_sample(m, pp, pl, 2 * k, &o->sampling, rng, smp, err) < 0) goto done;
    for (int j = 0; j < 2 * k; j++)
        if (decode_continuation(tok, &smp[j], o->sampling.eot_token, &texts[j], err) < 0) goto done;
    if (pst_scorer_scores(oracle, 2 * (size_t)k, (const char *const *)texts, NULL, ctx, score, err) < 0) goto done;
    for (int i = 0; i < k; i++) {
        char *a = texts[2 * i], *b = texts[2 * i + 1];
        if (!*a || !*b || strcmp(a, b) == 0) { /* the pairs format refuses these */
            st->discarded++;
            continue;
        }
        double d = (o->prefer_low ? -1 : 1) * (score[2 * i] - score[2 * i + 1]);
        int first_wins = o->noise > 0 ? pst_rng_uniform(rng) < 1 / (1 + exp(-d / o->noise)) : d >= 0;
        pst_pair *p = &out[(*have)++];
        p->prompt = pst_strdup(ctx[2 * i], err);
        if (!p->prompt) goto done;
        p->chosen = first_wins ? a : b, p->rejected = first_wins ? b : a;
        texts[2 * i] = texts[2 * i + 1] = NULL; /* owned by the pair now */
        p->tie = o->noise <= 0 && d == 0;
        st->ties += p->tie;
        st->mean_abs_gap += fabs(d);
        if (!p->tie) st->achievable_accuracy += o->noise > 0 ? 1 / (1 + exp(-fabs(d) / o->noise)) : 1;
    }
    rc = 0;
done:
    for (int j = 0; texts && j < 2 * k; j++) free(texts[j]);
    if (smp) pst_sample_free(smp, 2 * k);
    free(pp), free(pl), free(smp), free(texts), free(ctx), free(score);
    return rc;
}

int pst_pairs_make(pst_gpt2 *m, pst_tokenizer *tok, pst_scorer *oracle, const char *const *prompts, int n_prompts,
                   const pst_pairs_make_options *o, pst_rng *rng, pst_pair **out, pst_pairs_make_stats *st,
                   pst_error *err) {
    memset(st, 0, sizeof *st);
    *out = NULL;
    int eot = o->sampling.eot_token, np = n_prompts ? n_prompts : 1, have = 0, rc = -1;
    if (eot < 0) return pst_fail_field(err, "eot_token", "pairs make needs an <|endoftext|> token to start from");
    if (o->n < 1) return pst_fail_field(err, "n", "%d pairs: must be at least 1", o->n);
    int **ids = pst_calloc((size_t)np, sizeof *ids, err), *lens = pst_calloc((size_t)np, sizeof *lens, err);
    pst_pair *pairs = pst_calloc((size_t)o->n, sizeof *pairs, err);
    if (!ids || !lens || !pairs) goto done;
    for (int q = 0; q < np; q++) {
        int *body = NULL, pl;
        const char *text = n_prompts ? prompts[q] : "";
        if (pst_encode_prompt_text(tok, eot, m->config.n_positions, text, "", 0, &body, &lens[q], &pl, err) < 0) {
            pst_fail_context(err, "prompt %d", q + 1);
            goto done;
        }
        ids[q] = body;
    }
    for (int round = 0; round < o->max_rounds && have < o->n; round++) {
        int k = o->n - have;
        if (make_round(m, tok, oracle, prompts, n_prompts, ids, lens, o, k, rng, pairs, &have, st, err) < 0) goto done;
    }
    if (have < o->n) {
        pst_fail(err, "pairs make: only %d of %d pairs after %d rounds (%d discarded: empty or identical "
                 "continuations; try a longer --max-new-tokens or a higher --temperature)", have, o->n, o->max_rounds,
                 st->discarded);
        goto done;
    }
    st->n = have;
    st->mean_abs_gap /= have;
    st->achievable_accuracy = have > st->ties ? st->achievable_accuracy / (have - st->ties) : NAN;
    *out = pairs, pairs = NULL, rc = 0;
done:
    if (pairs) {
        pst_pair_set s = {pairs, (size_t)have, 0, NULL};
        pst_pair_set_free(&s);
    }
    for (int q = 0; ids && q < np; q++) free(ids[q]);
    free(ids), free(lens);
    return rc;
}
