/* Sampling: first-token frequencies vs the warped softmax (chi-square) for temperature,
 * top-k, top-p and banned ids; logprob_model equals pst_gpt2_score of the same tokens;
 * logprob_proposal equals the warped log-probs recomputed here from full forwards;
 * eot stops a row; results are deterministic and independent of batching; scoring
 * agrees with a direct forward; bad inputs are rejected. */
#include "check.h"
#include "posterior/prior.h"

#include <stdlib.h>
#include <string.h>

static const pst_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_positions = 40,
                                    .vocab_size = 29, .layer_norm_epsilon = 1e-5f};

/* Reference q: s = z/T, drop banned, sort descending (ties: lower id), keep top_k, softmax,
 * keep the prefix whose preceding mass is < top_p, renormalise. T = 0: argmax. */
static void ref_q(const float *z, int V, const pst_sample_options *o, double *q) {
    int *ord = malloc(V * sizeof(int)), n = 0;
    unsigned char *ban = calloc(V, 1);
    for (int i = 0; i < o->n_banned; i++) ban[o->banned[i]] = 1;
    for (int j = 0; j < V; j++)
        if (!ban[j]) ord[n++] = j;
    for (int a = 1; a < n; a++) /* insertion sort: descending z, ascending id */
        for (int b = a; b > 0 && (z[ord[b]] > z[ord[b - 1]] ||
                                  (z[ord[b]] == z[ord[b - 1]] && ord[b] < ord[b - 1]));
             b--) {
            int t = ord[b];
            ord[b] = ord[b - 1];
            ord[b - 1] = t;
        }
    for (int j = 0; j < V; j++) q[j] = 0;
    if (o->temperature == 0) {
        q[ord[0]] = 1;
    } else {
        if (o->top_k > 0 && o->top_k < n) n = o->top_k;
        double mx = z[ord[0]] / (double)o->temperature, tot = 0;
        for (int i = 0; i < n; i++) tot += q[ord[i]] = exp(z[ord[i]] / (double)o->temperature - mx);
        if (o->top_p < 1) {
            double cum = 0;
            int keep = 0;
            while (keep < n && cum / tot < o->top_p) cum += q[ord[keep++]];
            for (int i = keep; i < n; i++) q[ord[i]] = 0;
            tot = cum;
        }
        for (int i = 0; i < n; i++) q[ord[i]] /= tot;
    }
    free(ord);
    free(ban);
}

/* Logits of the next token after each prefix of seq: out [len, V]. */
static void logits_of(pst_gpt2 *m, const int *seq, int len, float *out) {
    pst_error err;
    int rc = pst_gpt2_forward(m, seq, NULL, 1, len, out, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
}

static double log_softmax_at(const float *z, int V, int j) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++) mx = z[i] > mx ? z[i] : mx;
    for (int i = 0; i < V; i++) s += exp(z[i] - mx);
    return z[j] - mx - log(s);
}

/* Upper 0.1% point of chi-square with k degrees of freedom (Wilson–Hilferty). */
static double chi2_crit(int k) {
    double z = 3.090232, a = 2.0 / (9.0 * k);
    return k * pow(1 - a + z * sqrt(a), 3);
}

static void make_model(pst_gpt2 *m) {
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 42);
    CHECK(pst_gpt2_create(m, &cfg, &err) == 0);
    pst_gpt2_init_random(m, &rng);
    /* sharpen the output distribution so truncation matters: logits std ~ a few units */
    for (size_t i = 0; i < (size_t)cfg.vocab_size * cfg.n_embd; i++) m->params.wte[i] *= 60.0f;
    for (size_t i = 0; i < (size_t)cfg.n_positions * cfg.n_embd; i++) m->params.wpe[i] *= 30.0f;
}

/* plain_only: only the cases of the plain path (temperature 1, no top-k / top-p). */
static void test_first_token_frequencies(pst_gpt2 *m, int plain_only) {
    const int V = m->config.vocab_size, N = 20000;
    int prompt[3] = {3, 17, 5};
    float *logits = malloc(3 * V * sizeof(float));
    double *q = malloc(V * sizeof(double));
    long *count = malloc(V * sizeof(long));
    logits_of(m, prompt, 3, logits);
    const float *z = logits + 2 * V;
    int argmax = 0;
    for (int j = 1; j < V; j++)
        if (z[j] > z[argmax]) argmax = j;
    int banned[3] = {argmax, 0, 11};
    struct { float t; int k; float p; int nb; } cases[] = {
        {1.0f, 0, 1.0f, 0}, {0.6f, 0, 1.0f, 0}, {1.7f, 5, 1.0f, 0}, {1.0f, 0, 0.75f, 0},
        {0.8f, 8, 0.9f, 0}, {1.3f, 0, 1.0f, 3}, {1.0f, 6, 0.6f, 2}, {0.0f, 0, 1.0f, 1},
        {1.0f, 0, 1.0f, 3},
    };
    const int **prompts = malloc(N * sizeof *prompts);
    int *lens = malloc(N * sizeof(int));
    for (int i = 0; i < N; i++) prompts[i] = prompt, lens[i] = 3;
    pst_sample *s = malloc(N * sizeof *s);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        if (plain_only && !(cases[ci].t == 1.0f && cases[ci].k == 0 && cases[ci].p == 1.0f)) continue;
        pst_sample_options o;
        pst_sample_options_default(&o);
        o.temperature = cases[ci].t, o.top_k = cases[ci].k, o.top_p = cases[ci].p;
        o.banned = banned, o.n_banned = cases[ci].nb;
        o.max_new_tokens = 1;
        ref_q(z, V, &o, q);
        pst_rng rng;
        pst_rng_seed(&rng, 100 + ci);
        pst_error err;
        int rc = pst_gpt2_sample(m, prompts, lens, N, &o, &rng, s, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        if (rc) continue;
        memset(count, 0, V * sizeof(long));
        int lp_bad = 0;
        for (int i = 0; i < N; i++) {
            int t = s[i].tokens[0];
            count[t]++;
            if (fabs(s[i].logprob_proposal - (q[t] > 0 ? log(q[t]) : -INFINITY)) > 1e-5 ||
                fabs(s[i].logprob_model - log_softmax_at(z, V, t)) > 1e-5 || s[i].n_tokens != 1)
                lp_bad++;
        }
        CHECK_MSG(lp_bad == 0, "case %zu: %d samples with wrong log-probs", ci, lp_bad);
        /* chi-square over tokens with q > 0, pooling expected counts < 5 */
        double chi = 0, pool_o = 0, pool_e = 0;
        int df = -1, outside = 0;
        for (int j = 0; j < V; j++) {
            double e = q[j] * N;
            if (q[j] == 0) {
                outside += count[j] > 0;
                continue;
            }
            if (e < 5) {
                pool_o += count[j], pool_e += e;
                continue;
            }
            chi += (count[j] - e) * (count[j] - e) / e;
            df++;
        }
        if (pool_e > 0) {
            chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
            df++;
        }
        CHECK_MSG(outside == 0, "case %zu: sampled a token with q = 0", ci);
        if (df >= 1)
            CHECK_MSG(chi < chi2_crit(df), "case %zu: chi2 %.2f with %d df (critical %.2f)", ci,
                      chi, df, chi2_crit(df));
        else
            CHECK_MSG(count[s[0].tokens[0]] == N, "case %zu: a point mass was not respected", ci);
        pst_sample_free(s, N);
    }
    free(s);
    free(prompts);
    free(lens);
    free(logits), free(q), free(count);
}

/* Longer samples from several prompts: log-probs recomputed by full forwards and by scoring. */
static void test_logprobs_match_scoring(pst_gpt2 *m) {
    const int V = cfg.vocab_size, n = 70; /* > 64 rows: two batches */
    int **pr = malloc(n * sizeof *pr), *lens = malloc(n * sizeof(int));
    pst_rng prng;
    pst_rng_seed(&prng, 7);
    for (int i = 0; i < n; i++) {
        lens[i] = 1 + (int)pst_rng_below(&prng, 9);
        pr[i] = malloc(lens[i] * sizeof(int));
        for (int t = 0; t < lens[i]; t++) pr[i][t] = (int)pst_rng_below(&prng, V);
    }
    int banned[2] = {4, 9};
    pst_sample_options o;
    pst_sample_options_default(&o);
    o.temperature = 0.9f, o.top_k = 12, o.top_p = 0.85f, o.banned = banned, o.n_banned = 2;
    o.max_new_tokens = 25, o.eot_token = 2, o.stop_at_eot = 1;
    pst_sample *s = calloc(n, sizeof *s);
    pst_rng rng;
    pst_rng_seed(&rng, 8);
    pst_error err;
    int rc = pst_gpt2_sample(m, (const int *const *)pr, lens, n, &o, &rng, s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    int **seq = malloc(n * sizeof *seq), *slen = malloc(n * sizeof(int));
    double *score = malloc(n * sizeof(double));
    float **tlp = malloc(n * sizeof *tlp);
    int n_eot = 0, bad_stop = 0, bad_q = 0;
    float *lg = malloc((size_t)cfg.n_positions * V * sizeof(float));
    for (int i = 0; i < n; i++) {
        slen[i] = lens[i] + s[i].n_tokens;
        seq[i] = malloc(slen[i] * sizeof(int));
        memcpy(seq[i], pr[i], lens[i] * sizeof(int));
        memcpy(seq[i] + lens[i], s[i].tokens, s[i].n_tokens * sizeof(int));
        for (int t = 0; t < s[i].n_tokens - 1; t++) bad_stop += s[i].tokens[t] == 2;
        int ends_eot = s[i].n_tokens > 0 && s[i].tokens[s[i].n_tokens - 1] == 2;
        n_eot += ends_eot;
        if (!ends_eot && s[i].n_tokens != 25) bad_stop++;
        /* proposal log-prob recomputed: Σ log q_ref(token | prefix) from a full forward */
        logits_of(m, seq[i], slen[i] - 1, lg);
        double lq = 0;
        for (int t = 0; t < s[i].n_tokens; t++) {
            double q[29];
            ref_q(lg + (size_t)(lens[i] - 1 + t) * V, V, &o, q);
            lq += log(q[s[i].tokens[t]]);
        }
        if (!(fabs(lq - s[i].logprob_proposal) < 1e-4)) {
            bad_q++;
            fprintf(stderr, "sample %d: proposal %.8f, recomputed %.8f\n", i,
                    s[i].logprob_proposal, lq);
        }
    }
    CHECK_MSG(bad_stop == 0, "%d rows stopped wrongly", bad_stop);
    CHECK_MSG(n_eot > 0 && n_eot < n, "eot ended %d of %d rows (want some, not all)", n_eot, n);
    CHECK_MSG(bad_q == 0, "%d samples with a wrong logprob_proposal", bad_q);
    rc = pst_gpt2_score(m, (const int *const *)seq, slen, lens, n, score, tlp, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    int bad_m = 0, bad_tok = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!(fabs(score[i] - s[i].logprob_model) < 1e-4)) {
            bad_m++;
            fprintf(stderr, "sample %d: model %.8f, scored %.8f\n", i, s[i].logprob_model, score[i]);
        }
        /* token_logprobs cover every position, prompt included, and agree with a forward */
        logits_of(m, seq[i], slen[i] - 1 > 0 ? slen[i] - 1 : 1, lg);
        for (int t = 0; t + 1 < slen[i]; t++)
            if (!(fabs(tlp[i][t] - log_softmax_at(lg + (size_t)t * V, V, seq[i][t + 1])) < 1e-5))
                bad_tok++;
        free(tlp[i]);
    }
    CHECK_MSG(bad_m == 0, "%d samples whose logprob_model differs from pst_gpt2_score", bad_m);
    CHECK_MSG(bad_tok == 0, "%d token log-probs differ from a direct forward", bad_tok);

    /* determinism and independence from batching: the first 5 of a smaller call agree
     * (tokens exactly; log-probs to rounding, as a different number of rows per decoding
     * step may use a different matrix-product kernel) */
    pst_sample s5[5];
    pst_rng_seed(&rng, 8);
    rc = pst_gpt2_sample(m, (const int *const *)pr, lens, 5, &o, &rng, s5, &err);
    CHECK(rc == 0);
    int same = 1;
    for (int i = 0; rc == 0 && i < 5; i++)
        same &= s5[i].n_tokens == s[i].n_tokens &&
                memcmp(s5[i].tokens, s[i].tokens, s[i].n_tokens * sizeof(int)) == 0 &&
                fabs(s5[i].logprob_proposal - s[i].logprob_proposal) < 1e-4 &&
                fabs(s5[i].logprob_model - s[i].logprob_model) < 1e-4;
    CHECK_MSG(same, "samples depend on the batch they were drawn in");

    /* the same call twice: bit-identical */
    pst_sample s5b[5];
    pst_rng_seed(&rng, 8);
    rc = pst_gpt2_sample(m, (const int *const *)pr, lens, 5, &o, &rng, s5b, &err);
    CHECK(rc == 0);
    same = 1;
    for (int i = 0; rc == 0 && i < 5; i++)
        same &= s5[i].n_tokens == s5b[i].n_tokens &&
                memcmp(s5[i].tokens, s5b[i].tokens, s5[i].n_tokens * sizeof(int)) == 0 &&
                s5[i].logprob_proposal == s5b[i].logprob_proposal &&
                s5[i].logprob_model == s5b[i].logprob_model;
    CHECK_MSG(same, "sampling is not deterministic");
    /* called from inside a parallel region (as a caller sampling per thread might), on a
     * model wide enough for the multi-threaded kernels: a team of one computes the same */
    {
        pst_gpt2_config wide = {.n_layer = 1, .n_head = 2, .n_embd = 128, .n_positions = 16,
                                .vocab_size = 29, .layer_norm_epsilon = 1e-5f};
        pst_gpt2 mw;
        pst_rng wr;
        pst_rng_seed(&wr, 4);
        CHECK(pst_gpt2_create(&mw, &wide, &err) == 0);
        pst_gpt2_init_random(&mw, &wr);
        pst_sample sa[3], sb[3];
        int rca, rcb = 0;
        pst_rng_seed(&wr, 5);
        rca = pst_gpt2_sample(&mw, (const int *const *)pr, lens, 3, &o, &wr, sa, &err);
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            {
                pst_rng r2;
                pst_rng_seed(&r2, 5);
                rcb = pst_gpt2_sample(&mw, (const int *const *)pr, lens, 3, &o, &r2, sb, &err);
            }
        }
        CHECK(rca == 0 && rcb == 0);
        same = 1;
        for (int i = 0; rca == 0 && rcb == 0 && i < 3; i++)
            same &= sa[i].n_tokens == sb[i].n_tokens &&
                    memcmp(sa[i].tokens, sb[i].tokens, sa[i].n_tokens * sizeof(int)) == 0 &&
                    fabs(sa[i].logprob_model - sb[i].logprob_model) < 1e-5;
        CHECK_MSG(same, "sampling inside a parallel region differs");
        if (rca == 0) pst_sample_free(sa, 3);
        if (rcb == 0) pst_sample_free(sb, 3);
        pst_gpt2_free(&mw);
    }
    if (rc == 0) pst_sample_free(s5b, 5);
    pst_sample_free(s5, 5);

    /* greedy: each token is the argmax of the allowed logits; proposal log-prob 0 */
    o.temperature = 0, o.top_k = 0, o.top_p = 1, o.max_new_tokens = 10, o.stop_at_eot = 0;
    rc = pst_gpt2_sample(m, (const int *const *)pr, lens, 3, &o, &rng, s5, &err);
    CHECK(rc == 0);
    for (int i = 0; rc == 0 && i < 3; i++) {
        CHECK(s5[i].n_tokens == 10 && s5[i].logprob_proposal == 0);
        int buf[64];
        memcpy(buf, pr[i], lens[i] * sizeof(int));
        memcpy(buf + lens[i], s5[i].tokens, 10 * sizeof(int));
        logits_of(m, buf, lens[i] + 9, lg);
        for (int t = 0; t < 10; t++) {
            const float *z = lg + (size_t)(lens[i] - 1 + t) * V;
            int am = -1;
            for (int j = 0; j < V; j++)
                if (j != 4 && j != 9 && (am < 0 || z[j] > z[am])) am = j;
            CHECK(s5[i].tokens[t] == am);
        }
    }
    if (rc == 0) pst_sample_free(s5, 3);

    for (int i = 0; i < n; i++) free(seq[i]), free(pr[i]);
    pst_sample_free(s, n);
    free(s), free(seq), free(slen), free(score), free(tlp), free(pr), free(lens), free(lg);
}

static void test_context_limit_and_errors(pst_gpt2 *m) {
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 9);
    pst_sample_options o;
    pst_sample_options_default(&o);
    o.max_new_tokens = 100; /* more than fits in n_positions = 40 */
    o.stop_at_eot = 0;
    int p[38] = {0}, len = 38;
    const int *pp = p;
    pst_sample s;
    CHECK(pst_gpt2_sample(m, &pp, &len, 1, &o, &rng, &s, &err) == 0);
    CHECK_MSG(s.n_tokens == 2, "a row stops when the context is full: got %d tokens", s.n_tokens);
    pst_sample_free(&s, 1);

    int bad[2] = {1, 29};
    pp = bad, len = 2;
    CHECK(pst_gpt2_sample(m, &pp, &len, 1, &o, &rng, &s, &err) == -1);
    CHECK_MSG(strstr(err.msg, "29") && strstr(err.msg, "position 1"), "%s", err.msg);
    pp = p, len = 0;
    CHECK(pst_gpt2_sample(m, &pp, &len, 1, &o, &rng, &s, &err) == -1);
    len = 41;
    CHECK(pst_gpt2_sample(m, &pp, &len, 1, &o, &rng, &s, &err) == -1);
    CHECK_MSG(strstr(err.msg, "n_positions"), "%s", err.msg);
    len = 2;
    int ban_bad = 40;
    o.banned = &ban_bad, o.n_banned = 1;
    CHECK(pst_gpt2_sample(m, &pp, &len, 1, &o, &rng, &s, &err) == -1);
    CHECK_MSG(strstr(err.msg, "banned") && strstr(err.msg, "40"), "%s", err.msg);
    int all[29];
    for (int i = 0; i < 29; i++) all[i] = i;
    o.banned = all, o.n_banned = 29;
    CHECK(pst_gpt2_sample(m, &pp, &len, 1, &o, &rng, &s, &err) == -1);
    o.n_banned = 0;
    o.top_p = 0;
    CHECK(pst_gpt2_sample(m, &pp, &len, 1, &o, &rng, &s, &err) == -1);
    CHECK_MSG(strstr(err.msg, "top_p"), "%s", err.msg);
    o.top_p = 1, o.temperature = -1;
    CHECK(pst_gpt2_sample(m, &pp, &len, 1, &o, &rng, &s, &err) == -1);
    CHECK_MSG(strstr(err.msg, "temperature"), "%s", err.msg);

    /* a broken model (NaN weights) is an error, not garbage samples */
    o.temperature = 1;
    pst_gpt2 broken;
    CHECK(pst_gpt2_create(&broken, &cfg, &err) == 0);
    memcpy(broken.param_memory, m->param_memory, m->num_params * sizeof(float));
    broken.params.lnfb[3] = NAN;
    CHECK(pst_gpt2_sample(&broken, &pp, &len, 1, &o, &rng, &s, &err) == -1);
    CHECK_MSG(strstr(err.msg, "not finite"), "%s", err.msg);
    pst_gpt2_free(&broken);

    /* scoring: prompt longer than the sequence, bad id, and the one-token sequence */
    int seq[3] = {1, 2, 3}, slen = 3, plen = 4;
    const int *sp = seq;
    double lp;
    CHECK(pst_gpt2_score(m, &sp, &slen, &plen, 1, &lp, NULL, &err) == -1);
    seq[2] = -1, plen = 1;
    CHECK(pst_gpt2_score(m, &sp, &slen, &plen, 1, &lp, NULL, &err) == -1);
    CHECK_MSG(strstr(err.msg, "-1") && strstr(err.msg, "position 2"), "%s", err.msg);
    seq[2] = 3, slen = 1;
    float *tl = NULL;
    CHECK(pst_gpt2_score(m, &sp, &slen, &plen, 1, &lp, &tl, &err) == 0);
    CHECK(lp == 0 && tl != NULL);
    free(tl);
    /* continuation only: prompt_len 2 scores token 2 only */
    slen = 3, plen = 2;
    float lg[3 * 29];
    logits_of(m, seq, 2, lg);
    CHECK(pst_gpt2_score(m, &sp, &slen, &plen, 1, &lp, NULL, &err) == 0);
    CHECK_NEAR(lp, log_softmax_at(lg + 29, 29, 3), 1e-5);
    /* scoring keeps no logits (with AVX-512 or AVX2 it never stores them): no backward may follow,
     * on every machine alike */
    float dl[2] = {1.0f, 1.0f};
    CHECK(pst_gpt2_backward(m, dl, &err) == -1);
    CHECK_MSG(strstr(err.msg, "forward with targets"), "%s", err.msg);
}

/* The plain case (what DPG samples) over several decoding steps, 40 rows: from the second
 * token on the rows of a step come from the output layer's chunks with the logits grouped
 * (16 + 16 + 8 rows). The log-probs are those pst_gpt2_score gives, and the first 5 rows
 * drawn alone (the thin path, row-major logits) are the same tokens. */
static void test_plain_decoding_matches_scoring(pst_gpt2 *m) {
    enum { n = 40, steps = 6 };
    int eot = 1, *pr[n], lens[n], *seq[n], slen[n];
    for (int i = 0; i < n; i++) pr[i] = &eot, lens[i] = 1;
    pst_sample_options o;
    pst_sample_options_default(&o);
    o.max_new_tokens = steps, o.stop_at_eot = 0;
    pst_sample s[n], s5[5];
    pst_rng rng;
    pst_error err;
    pst_rng_seed(&rng, 21);
    int rc = pst_gpt2_sample(m, (const int *const *)pr, lens, n, &o, &rng, s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    pst_rng_seed(&rng, 21);
    CHECK(pst_gpt2_sample(m, (const int *const *)pr, lens, 5, &o, &rng, s5, &err) == 0);
    double score[n];
    for (int i = 0; i < n; i++) {
        slen[i] = 1 + s[i].n_tokens;
        seq[i] = malloc(slen[i] * sizeof(int));
        seq[i][0] = eot;
        memcpy(seq[i] + 1, s[i].tokens, s[i].n_tokens * sizeof(int));
    }
    CHECK(pst_gpt2_score(m, (const int *const *)seq, slen, lens, n, score, NULL, &err) == 0);
    int bad = 0, differ = 0;
    for (int i = 0; i < n; i++) {
        bad += s[i].n_tokens != steps || !(fabs(score[i] - s[i].logprob_model) < 1e-4) ||
               s[i].logprob_model != s[i].logprob_proposal;
        if (i < 5) differ += memcmp(s5[i].tokens, s[i].tokens, steps * sizeof(int)) != 0;
        free(seq[i]);
    }
    CHECK_MSG(bad == 0, "plain decoding: %d of %d samples with wrong log-probs", bad, n);
    CHECK_MSG(differ == 0, "plain decoding: %d of 5 rows differ from the same rows drawn alone", differ);
    pst_sample_free(s, n);
    pst_sample_free(s5, 5);
}

int main(void) {
    pst_gpt2 m;
    make_model(&m);
    test_first_token_frequencies(&m, 0);
    test_logprobs_match_scoring(&m);
    test_context_limit_and_errors(&m);
    pst_gpt2_free(&m);
    /* a vocabulary of several blocks of the plain path's inverse CDF (256 tokens each) and
     * of the output layer's chunks (1024 each: the inverse CDF over its partial sums) */
    pst_gpt2_config wide = cfg;
    wide.vocab_size = 3000;
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 43);
    CHECK(pst_gpt2_create(&m, &wide, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    for (size_t i = 0; i < (size_t)wide.vocab_size * wide.n_embd; i++) m.params.wte[i] *= 60.0f;
    test_first_token_frequencies(&m, 1);
    test_plain_decoding_matches_scoring(&m);
    pst_gpt2_free(&m);
    return check_report();
}
