/* posterior train: maximum-likelihood training of a GPT-2 prior (src/train/mle.c).
 *
 * Data: a token shard (posterior prepare) or a file of whitespace-separated token ids.
 * Model: a new one (--n-layer ... --vocab-size, seeded init) or --model DIR to continue.
 * Run directory: train_config.json, metrics.jsonl, checkpoints/ckpt-STEP/ (model/ with the
 * tokenizer of --tokenizer or --model, training_state.bin), model -> the latest checkpoint's
 * model; --resume continues exactly. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/corpus.h"
#include "posterior/prior.h"
#include "posterior/scorer.h"
#include "posterior/shard.h"
#include "posterior/tokenizer.h"
#include "posterior/train.h"

static int is_shard(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8] = {0};
    size_t got = fread(magic, 1, 8, f);
    fclose(f);
    return got == 8 && memcmp(magic, PST_SHARD_MAGIC, 8) == 0;
}

typedef struct {
    long print_every, stop_at;
    pst_mle_step last;
} step_ctx;

/* Optional stderr line per step; stops (with a checkpoint) once step stop_at is done. */
static int on_step(void *ctx, const pst_mle_step *s) {
    step_ctx *c = ctx;
    c->last = *s;
    if (c->print_every > 0 && (s->step % c->print_every == 0))
        fprintf(stderr, "step %ld  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tok/s\n", s->step,
                s->loss, s->lr, s->grad_norm, s->tokens_per_s);
    return c->stop_at > 0 && s->step >= c->stop_at;
}

#define UNSET INT_MIN /* an architecture flag not given */

/* The architecture flags given (not UNSET) must be the continued model's: returns 0, or
 * -1 naming the flag, both values and where the model comes from. */
static int check_arch_flags(const pst_gpt2_config *c, const int given[5], const char *from, pst_error *err) {
    const char *flags[5] = {"--n-layer", "--n-head", "--n-embd", "--n-positions", "--vocab-size"};
    const char *fields[5] = {"n_layer", "n_head", "n_embd", "n_positions", "vocab_size"};
    int have[5] = {c->n_layer, c->n_head, c->n_embd, c->n_positions, c->vocab_size};
    for (int i = 0; i < 5; i++)
        if (given[i] != UNSET && given[i] != have[i])
            return pst_fail(err, "%s %d, but %s has %s %d; a continued model keeps its architecture "
                            "(drop %s or give %d)", flags[i], given[i], from, fields[i], have[i], flags[i], have[i]);
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *data = NULL, *out = NULL, *model_dir = NULL, *tokenizer_dir = NULL, *val_data = NULL;
    int n_layer = UNSET, n_head = UNSET, n_embd = UNSET, n_positions = UNSET, vocab_size = UNSET;
    int batch = 8, seq = 128, grad_accum = 1, resume = 0, shuffle = 1, quiet = 0, val_batches = 8;
    long steps = 1000, warmup = 100, save_every = 0, log_every = 1, print_every = 0, stop_at = 0,
         val_every = 0;
    double lr = 6e-4, lr_min = -1, weight_decay = 0.1, clip = 1.0, beta1 = 0.9, beta2 = 0.95;
    uint64_t seed = 1;
    const pst_arg spec[] = {
        {"data", ARG_STRING, &data, "training tokens: a shard (posterior prepare) or a file of whitespace-separated ids"},
        {"val-data", ARG_STRING, &val_data, "held-out tokens (shard or id file) for a val_loss in the metrics"},
        {"val-every", ARG_LONG, &val_every, "measure val_loss every this many steps (0: at checkpoints and the end)"},
        {"val-batches", ARG_INT, &val_batches, "batches in each val_loss (the same ones every time)"},
        {"out", ARG_STRING, &out, "run directory (model/, metrics.jsonl, training_state.bin, train_config.json)"},
        {"model", ARG_STRING, &model_dir, "continue training this model directory (else a new model)"},
        {"tokenizer", ARG_STRING, &tokenizer_dir, "tokenizer saved with the model: a folder (vocab.json + merges.txt) or gpt2 (default: --model's)"},
        {"n-layer", ARG_INT, &n_layer, "new model: layers (default 4; with --model / --resume: must be the model's)"},
        {"n-head", ARG_INT, &n_head, "new model: attention heads (default 4)"},
        {"n-embd", ARG_INT, &n_embd, "new model: width (default 128)"},
        {"n-positions", ARG_INT, &n_positions, "new model: context length (default 256)"},
        {"vocab-size", ARG_INT, &vocab_size, "new model: vocabulary (default 0: the tokenizer's, the shard's, or max id + 1)"},
        {"steps", ARG_LONG, &steps, "optimizer updates in total"},
        {"batch", ARG_INT, &batch, "sequences per micro-batch"},
        {"seq", ARG_INT, &seq, "tokens per sequence"},
        {"grad-accum", ARG_INT, &grad_accum, "micro-batches per update"},
        {"lr", ARG_DOUBLE, &lr, "peak learning rate"},
        {"lr-min", ARG_DOUBLE, &lr_min, "final learning rate of the cosine decay (-1: lr/10)"},
        {"warmup", ARG_LONG, &warmup, "linear warmup steps"},
        {"weight-decay", ARG_DOUBLE, &weight_decay, "AdamW decoupled weight decay (2-D weights only)"},
        {"beta1", ARG_DOUBLE, &beta1, "AdamW beta1"},
        {"beta2", ARG_DOUBLE, &beta2, "AdamW beta2"},
        {"clip", ARG_DOUBLE, &clip, "max global gradient norm (0: off)"},
        {"seed", ARG_U64, &seed, "seed of the initialisation and the data order"},
        {"shuffle", ARG_INT, &shuffle, "shards: 1 shuffles documents per epoch, 0 keeps their order"},
        {"resume", ARG_FLAG, &resume, "continue the run in --out from its checkpoint"},
        {"save-every", ARG_LONG, &save_every, "checkpoint every this many steps (0: at the end)"},
        {"log-every", ARG_LONG, &log_every, "metrics line every this many steps"},
        {"print-every", ARG_LONG, &print_every, "also print a line on stderr every this many steps (0: off)"},
        {"stop-at", ARG_LONG, &stop_at, "stop after this step, with a checkpoint (0: run to --steps); continue with --resume"},
        {"quiet", ARG_FLAG, &quiet, "no progress line"},
        {0},
    };
    int npos = 0;
    int rc = pst_args_parse("train",
                            "Trains a GPT-2 prior by maximum likelihood (AdamW, warmup + cosine, clipping,\n"
                            "gradient accumulation); checkpoints in Hugging Face layout; --resume is exact.",
                            spec, argc, argv, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    const char *usage_err = NULL;
    if (npos) usage_err = "unexpected argument";
    else if (!data) usage_err = "--data is required";
    else if (!out) usage_err = "--out is required";
    else if (resume && model_dir) usage_err = "--resume continues --out's own model; drop --model";
    else if (batch < 1 || seq < 1 || grad_accum < 1) usage_err = "--batch, --seq and --grad-accum must be >= 1";
    else if (shuffle != 0 && shuffle != 1) usage_err = "--shuffle must be 0 or 1";
    if (usage_err) {
        fprintf(stderr, "posterior train: %s\n", usage_err);
        return 2;
    }
    if (lr_min < 0) lr_min = lr / 10;
    const int arch_given[5] = {n_layer, n_head, n_embd, n_positions, vocab_size};

    pst_error err = {0};
    pst_gpt2 m = {0};
    pst_token_source src = {0}, val = {0};
    pst_tokenizer *tok = NULL;
    int *ids = NULL;
    size_t n_ids = 0;
    char *extra = NULL;
    rc = 1;
    /* the data first: its vocabulary can size a new model */
    if (is_shard(data)) {
        if (pst_token_source_shard(&src, data, batch, seq, shuffle, seed, &err)) goto fail;
    } else {
        if (pst_read_token_ids(data, &ids, &n_ids, &err) ||
            pst_token_source_windows(&src, ids, n_ids, batch, seq, seed, data, &err))
            goto fail;
    }
    if (val_data) {
        int *vids = NULL;
        size_t nv = 0;
        int vrc = is_shard(val_data)
                      ? pst_token_source_shard(&val, val_data, batch, seq, 0, seed, &err)
                      : pst_read_token_ids(val_data, &vids, &nv, &err) ||
                            pst_token_source_windows(&val, vids, nv, batch, seq, seed ^ 0x56414c, val_data, &err);
        free(vids);
        if (vrc) {
            pst_fail_context(&err, "--val-data");
            goto fail;
        }
    }
    char saved_model[4096];
    if (pst_path_join(saved_model, sizeof saved_model, out, "model", &err)) goto fail;
    char ckpt_model[4096] = "";
    if (resume) {
        int found = pst_mle_find_checkpoint(out, ckpt_model, sizeof ckpt_model, &err);
        if (found < 0) goto fail;
        if (!found) {
            pst_fail(&err, "--resume: %s has no checkpoint (checkpoints/ckpt-STEP)", out);
            goto fail;
        }
    }
    const char *from = resume ? ckpt_model : model_dir; /* the continued model */
    if (!tokenizer_dir && from) {
        char vj[4096];
        if (pst_path_join(vj, sizeof vj, from, "vocab.json", &err)) goto fail;
        if (pst_file_exists(vj)) tokenizer_dir = from;
    }
    if (tokenizer_dir && pst_tokenizer_open(&tok, tokenizer_dir, &err)) goto fail;
    if (from) {
        if (pst_gpt2_load(&m, from, &err)) {
            if (resume) pst_fail_context(&err, "--resume");
            goto fail;
        }
        if (check_arch_flags(&m.config, arch_given, resume ? "the checkpoint" : from, &err)) {
            if (resume) pst_fail_context(&err, "--resume %s", out);
            goto fail;
        }
    } else {
        if (vocab_size == UNSET || vocab_size == 0) vocab_size = tok ? pst_tokenizer_vocab_size(tok) : 0;
        if (vocab_size == 0) vocab_size = src.max_id + 1;
        pst_gpt2_config cfg = {n_layer == UNSET ? 4 : n_layer, n_head == UNSET ? 4 : n_head,
                               n_embd == UNSET ? 128 : n_embd, n_positions == UNSET ? 256 : n_positions,
                               vocab_size, 1e-5f};
        if (pst_gpt2_create(&m, &cfg, &err)) {
            pst_fail_context(&err, "new model");
            goto fail;
        }
        pst_rng init;
        pst_rng_seed(&init, seed);
        pst_rng split = pst_rng_split(&init, 0x1417); /* init stream, apart from the data's */
        pst_gpt2_init_random(&m, &split);
    }
    if (tok && pst_tokenizer_vocab_size(tok) > m.config.vocab_size) {
        pst_fail(&err, "the tokenizer has %d ids, more than the model's vocab_size %d",
                 pst_tokenizer_vocab_size(tok), m.config.vocab_size);
        goto fail;
    }

    cJSON *x = cJSON_CreateObject();
    if (x) {
        cJSON_AddStringToObject(x, "data_path", data);
        cJSON_AddStringToObject(x, "init", resume ? "resume" : model_dir ? model_dir : "random");
        if (tokenizer_dir) cJSON_AddStringToObject(x, "tokenizer", tokenizer_dir);
        extra = cJSON_PrintUnformatted(x);
        cJSON_Delete(x);
    }
    pst_mle_options o;
    pst_mle_options_default(&o);
    o.steps = steps, o.grad_accum = grad_accum, o.lr = lr, o.lr_min = lr_min, o.warmup = warmup;
    o.weight_decay = weight_decay, o.beta1 = beta1, o.beta2 = beta2, o.clip = clip, o.seed = seed;
    o.out_dir = out, o.save_every = save_every, o.log_every = log_every, o.resume = resume;
    o.quiet = quiet, o.extra_config_json = extra, o.tokenizer = tok;
    o.val = val_data ? &val : NULL, o.val_every = val_every, o.val_batches = val_batches;
    step_ctx sc = {print_every, stop_at, {0}};
    if (pst_mle_train(&m, &src, &o, on_step, &sc, &err)) goto fail;
    /* a one-line summary on stdout for scripts */
    char *q = pst_json_quote(saved_model, strlen(saved_model), NULL);
    char nb[32]; /* JSON null for a loss that is not finite */
    printf("{\"model\": %s, \"step\": %ld, \"loss\": %s, \"params\": %zu}\n", q ? q : "null", sc.last.step,
           pst_json_number(nb, sc.last.loss, 6), m.num_params);
    free(q);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "posterior train: %s\n", err.msg);
done:
    free(extra);
    free(ids);
    pst_tokenizer_free(tok);
    pst_token_source_free(&src);
    pst_token_source_free(&val);
    pst_gpt2_free(&m);
    return rc;
}
