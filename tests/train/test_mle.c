/* The MLE loop (src/train/mle.c) through a hand-made token source:
 *  - gradient accumulation: 2 micro-batches of 2 windows give the same update as one
 *    batch of the same 4 windows (loss, gradient norm, parameters);
 *  - the logged lr follows pst_lr_schedule; the loss is the mean token cross-entropy of
 *    the model before the update (checked against pst_gpt2_cross_entropy);
 *  - a callback stop leaves a checkpoint at that step; a NaN model fails with a message;
 *  - token ids outside the vocabulary and a shape mismatch are refused. */
#include "check.h"
#include "posterior/shard.h"
#include "posterior/train.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const pst_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_positions = 16,
                                    .vocab_size = 23, .layer_norm_epsilon = 1e-5f};
enum { N_WIN = 8, SEQ = 8 };

/* Fixed windows served in order; the position is the index of the next window. */
typedef struct {
    int win[N_WIN][SEQ + 1];
    int next, B;
} fixed_source;

static int fixed_next(void *self, int *tokens, pst_error *err) {
    fixed_source *f = self;
    (void)err;
    for (int b = 0; b < f->B; b++) {
        memcpy(tokens + b * (SEQ + 1), f->win[f->next], sizeof f->win[0]);
        f->next = (f->next + 1) % N_WIN;
    }
    return 0;
}
static size_t fixed_pos_size(void *self) { (void)self; return sizeof(int); }
static void fixed_pos_get(void *self, void *buf) { memcpy(buf, &((fixed_source *)self)->next, sizeof(int)); }
static int fixed_pos_set(void *self, const void *buf, size_t len, pst_error *err) {
    if (len != sizeof(int)) return pst_fail(err, "bad position");
    memcpy(&((fixed_source *)self)->next, buf, sizeof(int));
    return 0;
}

static void make_source(pst_token_source *src, fixed_source *f, int B) {
    pst_rng rng;
    pst_rng_seed(&rng, 77);
    for (int w = 0; w < N_WIN; w++)
        for (int t = 0; t <= SEQ; t++) f->win[w][t] = (int)pst_rng_below(&rng, cfg.vocab_size);
    f->next = 0;
    f->B = B;
    memset(src, 0, sizeof *src);
    src->self = f;
    src->B = B;
    src->T = SEQ;
    src->max_id = cfg.vocab_size - 1;
    snprintf(src->description, sizeof src->description, "fixed windows");
    src->next = fixed_next;
    src->pos_size = fixed_pos_size;
    src->pos_get = fixed_pos_get;
    src->pos_set = fixed_pos_set;
}

static void make_model(pst_gpt2 *m) {
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    CHECK(pst_gpt2_create(m, &cfg, &err) == 0);
    pst_gpt2_init_random(m, &rng);
}

typedef struct {
    pst_mle_step steps[16];
    int n, stop_at;
} recorder;

static int record(void *ctx, const pst_mle_step *s) {
    recorder *r = ctx;
    if (r->n < 16) r->steps[r->n++] = *s;
    return r->stop_at > 0 && s->step >= r->stop_at;
}

static char tmp[256];

static void run_dir(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp, name);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/pst_test_mle_%ld", (long)getpid());
    pst_error err = {0};
    pst_mle_options o;
    pst_mle_options_default(&o);
    o.steps = 3, o.lr = 1e-2, o.lr_min = 1e-3, o.warmup = 1, o.clip = 0, o.quiet = 1;

    /* one batch of 4 windows vs two micro-batches of 2 */
    pst_gpt2 a, b, ref;
    make_model(&a), make_model(&b), make_model(&ref);
    fixed_source fa, fb;
    pst_token_source sa, sb;
    make_source(&sa, &fa, 4);
    make_source(&sb, &fb, 2);
    recorder ra = {.n = 0}, rb = {.n = 0};
    char da[300], db[300];
    run_dir(da, sizeof da, "a"), run_dir(db, sizeof db, "b");
    o.out_dir = da, o.grad_accum = 1;
    CHECK_MSG(pst_mle_train(&a, &sa, &o, record, &ra, &err) == 0, "%s", err.msg);
    o.out_dir = db, o.grad_accum = 2;
    CHECK_MSG(pst_mle_train(&b, &sb, &o, record, &rb, &err) == 0, "%s", err.msg);
    CHECK(ra.n == 3 && rb.n == 3);
    for (int i = 0; i < 3 && ra.n == 3 && rb.n == 3; i++) {
        CHECK_NEAR(ra.steps[i].loss, rb.steps[i].loss, 1e-6);
        CHECK_NEAR(ra.steps[i].grad_norm, rb.steps[i].grad_norm, 1e-5 * ra.steps[i].grad_norm);
        CHECK(ra.steps[i].lr == rb.steps[i].lr);
        CHECK(ra.steps[i].step == i + 1);
        CHECK_NEAR(ra.steps[i].lr, pst_lr_schedule(i, 1, 3, 1e-2f, 1e-3f), 0);
    }
    double maxdiff = 0;
    for (size_t i = 0; i < a.num_params; i++) {
        double d = fabs((double)a.param_memory[i] - b.param_memory[i]);
        if (d > maxdiff) maxdiff = d;
    }
    /* Adam divides by |g|: where g is tiny, rounding differences of the two summation
     * orders show; a wrong accumulation scale moves parameters by ~1e-3 */
    CHECK_MSG(maxdiff < 1e-4, "accumulated update differs by %g", maxdiff);
    double moved = 0;
    for (size_t i = 0; i < a.num_params; i++)
        moved = fmax(moved, fabs((double)a.param_memory[i] - ref.param_memory[i]));
    CHECK_MSG(moved > 1e-3, "training did not move the parameters (%g)", moved);

    /* the first loss is the initial model's cross-entropy on windows 0..3 */
    int in[4 * SEQ], tg[4 * SEQ];
    for (int w = 0; w < 4; w++)
        for (int t = 0; t < SEQ; t++) in[w * SEQ + t] = fa.win[w][t], tg[w * SEQ + t] = fa.win[w][t + 1];
    double l0;
    CHECK(pst_gpt2_cross_entropy(&ref, in, tg, NULL, 4, SEQ, NULL, &l0, &err) == 0);
    CHECK_NEAR(ra.steps[0].loss, l0, 1e-6);

    /* the saved model is the trained one, bit for bit */
    pst_gpt2 saved;
    char mdir[400];
    snprintf(mdir, sizeof mdir, "%s/model", da);
    CHECK_MSG(pst_gpt2_load(&saved, mdir, &err) == 0, "%s", err.msg);
    CHECK(saved.param_memory && memcmp(saved.param_memory, a.param_memory, a.num_params * 4) == 0);
    pst_gpt2_free(&saved);

    /* a callback stop checkpoints at that step; resuming finishes like run a */
    pst_gpt2 c;
    make_model(&c);
    fixed_source fc;
    pst_token_source sc;
    make_source(&sc, &fc, 4);
    recorder rc = {.n = 0, .stop_at = 2};
    char dc[300];
    run_dir(dc, sizeof dc, "c");
    o.out_dir = dc, o.grad_accum = 1;
    CHECK(pst_mle_train(&c, &sc, &o, record, &rc, &err) == 0);
    CHECK(rc.n == 2);
    pst_gpt2_free(&c);
    make_model(&c);
    make_source(&sc, &fc, 4); /* a fresh source: the position comes from the state */
    rc.stop_at = 0;
    o.resume = 1;
    CHECK_MSG(pst_mle_train(&c, &sc, &o, record, &rc, &err) == 0, "%s", err.msg);
    CHECK(rc.n == 3 && rc.steps[2].loss == ra.steps[2].loss);
    CHECK(memcmp(c.param_memory, a.param_memory, a.num_params * 4) == 0);
    o.resume = 0;

    /* bad inputs */
    pst_gpt2 bad;
    make_model(&bad);
    char dd[300];
    run_dir(dd, sizeof dd, "d");
    o.out_dir = dd;
    bad.params.lnfw[0] = NAN;
    make_source(&sa, &fa, 4);
    CHECK(pst_mle_train(&bad, &sa, &o, NULL, NULL, &err) == -1);
    CHECK_MSG(strstr(err.msg, "step 1") && strstr(err.msg, "nan"), "%s", err.msg);
    bad.params.lnfw[0] = 1;
    sa.max_id = 40;
    CHECK(pst_mle_train(&bad, &sa, &o, NULL, NULL, &err) == -1);
    CHECK_MSG(strstr(err.msg, "token id 40"), "%s", err.msg);
    sa.max_id = cfg.vocab_size - 1;
    sa.T = 17;
    CHECK(pst_mle_train(&bad, &sa, &o, NULL, NULL, &err) == -1);
    CHECK_MSG(strstr(err.msg, "n_positions"), "%s", err.msg);
    sa.T = SEQ;
    o.out_dir = da; /* holds a run: refused without resume */
    CHECK(pst_mle_train(&bad, &sa, &o, NULL, NULL, &err) == -1);
    CHECK_MSG(strstr(err.msg, "already holds"), "%s", err.msg);

    /* the shard source: rows of T + 1 consecutive tokens of the document stream (each
     * document followed by <|endoftext|>), consecutive rows sharing one token, looping */
    pst_shard_builder sbld;
    CHECK(pst_shard_builder_init(&sbld, 23, 22, 0, NULL, &err) == 0);
    uint32_t d0[3] = {1, 2, 3}, d1[2] = {4, 5}, d2[4] = {6, 7, 8, 9};
    size_t e0 = 3, e1 = 2, e2 = 4;
    CHECK(pst_shard_builder_add(&sbld, d0, 3, &e0, NULL, 1, 0, &err) == 0);
    CHECK(pst_shard_builder_add(&sbld, d1, 2, &e1, NULL, 1, 1, &err) == 0);
    CHECK(pst_shard_builder_add(&sbld, d2, 4, &e2, NULL, 1, 2, &err) == 0);
    char shard_path[300];
    run_dir(shard_path, sizeof shard_path, "s.bin");
    CHECK_MSG(pst_shard_builder_write(&sbld, shard_path, PST_SPLIT_ALL, 0, 0, &err) == 0, "%s", err.msg);
    pst_shard_builder_free(&sbld);
    pst_token_source ss;
    CHECK_MSG(pst_token_source_shard(&ss, shard_path, 2, 4, 0, 1, &err) == 0, "%s", err.msg);
    int stream[] = {1, 2, 3, 22, 4, 5, 22, 6, 7, 8, 9, 22, 1, 2, 3, 22, 4, 5, 22};
    int rows[2 * 5];
    for (int batch = 0; batch < 2 && ss.next; batch++) {
        CHECK(ss.next(ss.self, rows, &err) == 0);
        for (int r = 0; r < 2; r++)
            for (int t = 0; t <= 4; t++)
                CHECK_MSG(rows[r * 5 + t] == stream[batch * 8 + r * 4 + t], "batch %d row %d t %d: %d vs %d",
                          batch, r, t, rows[r * 5 + t], stream[batch * 8 + r * 4 + t]);
    }
    CHECK(ss.max_id == 22);
    pst_token_source_free(&ss);

    pst_gpt2_free(&a), pst_gpt2_free(&b), pst_gpt2_free(&ref), pst_gpt2_free(&c), pst_gpt2_free(&bad);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_report();
}
