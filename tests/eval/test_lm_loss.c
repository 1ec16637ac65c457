/* pst_lm_loss (src/eval/measures.c), the one LM loss of both evaluations, against
 * log-probabilities computed by pst_gpt2_score on the same windows. A one-document shard
 * holds doc (20 ids) and the loader's stream is doc ++ eot (21 tokens, 20 predictions):
 *   - B = 1, T = 64 (clipped to the context, 32): one window, loss = −log π(doc[1..] eot | doc[0]) / 20;
 *   - B = 1, T = 8: windows [0, 8], [8, 16], [16, 20] of the stream (8 + 8 + 4 positions),
 *     the last one short (its padding not counted): loss = −Σ window log-probs / 20;
 *   - batches = 1 stops after the first window (8 tokens);
 *   - a shard whose vocabulary exceeds the model's is refused, naming the shard. */
#include "../check.h"
#include "posterior/eval.h"
#include "posterior/shard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { V = 64, EOT = 63, N = 20 };

static pst_error err;

static void write_shard(const char *path, const uint32_t *ids, uint32_t vocab) {
    pst_shard_builder b;
    size_t ends[1] = {N};
    float sc[1] = {0};
    CHECK(pst_shard_builder_init(&b, vocab, EOT, 0, NULL, &err) == 0);
    CHECK(pst_shard_builder_add(&b, ids, N, ends, sc, 1, 0, &err) == 0);
    CHECK_MSG(pst_shard_builder_write(&b, path, PST_SPLIT_ALL, 0, 0, &err) == 0, "%s", err.msg);
    pst_shard_builder_free(&b);
}

/* log π of stream[from + 1 .. to] given stream[from] (one window of the loader) */
static double window_logprob(pst_gpt2 *m, const int *stream, int from, int to) {
    const int *s = stream + from;
    int len = to - from + 1, plen = 1;
    double lp = NAN;
    CHECK(pst_gpt2_score(m, &s, &len, &plen, 1, &lp, NULL, &err) == 0);
    return lp;
}

int main(void) {
    pst_gpt2 m;
    pst_rng rng;
    pst_rng_seed(&rng, 7);
    pst_gpt2_config cfg = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_positions = 32, .vocab_size = V,
                           .layer_norm_epsilon = 1e-5f};
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    uint32_t ids[N];
    int stream[N + 1];
    for (int i = 0; i < N; i++) ids[i] = (uint32_t)((i * 37 + 11) % 60), stream[i] = (int)ids[i];
    stream[N] = EOT;
    char path[300], big[300];
    snprintf(path, sizeof path, "/tmp/pst_lm_loss_%d.bin", (int)getpid());
    snprintf(big, sizeof big, "/tmp/pst_lm_loss_big_%d.bin", (int)getpid());
    write_shard(path, ids, V);
    write_shard(big, ids, V + 1);

    double loss;
    long tokens;
    /* T = 64 is clipped to the context, 32: one window [0, 20] */
    CHECK(pst_lm_loss(&m, path, 10, 1, 64, &loss, &tokens, &err) == 0);
    double want = -window_logprob(&m, stream, 0, 20) / N;
    CHECK_MSG(tokens == N && fabs(loss - want) < 1e-5, "T 64: loss %g (want %g), %ld tokens", loss, want, tokens);
    CHECK(pst_lm_loss(&m, path, 10, 1, 8, &loss, &tokens, &err) == 0);
    want = -(window_logprob(&m, stream, 0, 8) + window_logprob(&m, stream, 8, 16) + window_logprob(&m, stream, 16, 20)) / N;
    CHECK_MSG(tokens == N && fabs(loss - want) < 1e-5, "T 8: loss %g (want %g), %ld tokens", loss, want, tokens);
    CHECK(pst_lm_loss(&m, path, 1, 1, 8, &loss, &tokens, &err) == 0);
    want = -window_logprob(&m, stream, 0, 8) / 8;
    CHECK_MSG(tokens == 8 && fabs(loss - want) < 1e-5, "1 batch: loss %g (want %g), %ld tokens", loss, want, tokens);
    /* two rows of 8: the same windows, in one batch then a short one */
    CHECK(pst_lm_loss(&m, path, 10, 2, 8, &loss, &tokens, &err) == 0);
    want = -(window_logprob(&m, stream, 0, 8) + window_logprob(&m, stream, 8, 16) + window_logprob(&m, stream, 16, 20)) / N;
    CHECK_MSG(tokens == N && fabs(loss - want) < 1e-5, "B 2: loss %g (want %g), %ld tokens", loss, want, tokens);

    CHECK(pst_lm_loss(&m, big, 1, 1, 8, &loss, &tokens, &err) < 0);
    CHECK_MSG(strstr(err.msg, big) && strstr(err.msg, "vocabulary of 65 ids, the model has 64"), "%s", err.msg);

    pst_gpt2_free(&m);
    unlink(path), unlink(big);
    return check_report();
}
