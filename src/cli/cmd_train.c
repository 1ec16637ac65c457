/* posterior train: maximum-likelihood training of a GPT-2 prior (src/train/mle.c).
 *
 * Data: a token shard (posterior prepare) or a file of whitespace-separated token ids.
 * Model: a new one (--n-layer ... --vocab-size, seeded init) or --model DIR to continue.
 * Run directory: train_config.json, metrics.jsonl, checkpoints/ckpt-STEP/ (model/ with the
 * tokenizer of --tokenizer or --model, training_state.bin), model -> the latest checkpoint's
 * model; --resume continues exactly.
 * Under mpirun -np N: data parallel (docs/scaling.md), --batch the global batch split over
 * the ranks, rank 0 alone writes and prints. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/steps.h"
#include "cli/commands.h"
#include "cli/ranks.h"
#include "posterior/comm.h"
#include "posterior/corpus.h"
#include "posterior/prior.h"
#include "posterior/scorer.h"
#include "posterior/shard.h"
#include "posterior/tokenizer.h"
#include "posterior/train.h"

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

static const char train_summary[] =
    "Trains a GPT-2 prior by maximum likelihood (AdamW, warmup + cosine, clipping,\n"
    "gradient accumulation); checkpoints in Hugging Face layout; --resume is exact.\n"
    "Under mpirun -np N: data parallel, --batch split over the N ranks (docs/scaling.md).";

int cmd_train(int argc, char **argv) {
    const char *data = NULL, *model_dir = NULL, *tokenizer_dir = NULL, *val_data = NULL;
    int n_layer = 4, n_head = 4, n_embd = 128, n_positions = 256, vocab_size = 0;
    int batch = 8, seq = 128, shuffle = 1;
    long print_every = 0, stop_at = 0;
    pst_mle_options o;
    pst_mle_options_default(&o);
    o.steps = 1000, o.warmup = 100, o.lr = 6e-4, o.lr_min = -1, o.weight_decay = 0.1, o.clip = 1.0;
    o.beta1 = 0.9, o.beta2 = 0.95, o.seed = 1, o.save_every = 0, o.log_every = 1, o.val_every = 0;
    o.val_batches = 8, o.grad_accum = 1;
    const pst_arg spec[] = {
        ARG("data", ARG_STRING, &data, "training tokens: a shard (posterior prepare) or a file of whitespace-separated ids",
         .required = 1),
        ARG("val-data", ARG_STRING, &val_data, "held-out tokens (shard or id file) for a val_loss in the metrics"),
        ARG("model", ARG_STRING, &model_dir, "continue training this model directory (else a new model)"),
        PST_ARGS_TOKENIZER(tokenizer_dir, "saved with the model (default: --model's)"),
        PST_ARGS_ARCH(n_layer, n_head, n_embd, n_positions),
        ARG("vocab-size", ARG_INT, &vocab_size, "new model: vocabulary (0: the tokenizer's, the shard's, or max id + 1)"),
        ARG("batch", ARG_INT, &batch, "sequences per micro-batch (under mpirun: all ranks' together)", .range = "1.."),
        ARG("seq", ARG_INT, &seq, "tokens per sequence", .range = "1.."),
        ARG("beta1", ARG_DOUBLE, &o.beta1, "AdamW beta1"),
        ARG("beta2", ARG_DOUBLE, &o.beta2, "AdamW beta2"),
        ARG("shuffle", ARG_INT, &shuffle, "shards: 1 shuffles documents per epoch, 0 keeps their order", .range = "0..1"),
        PST_ARGS_MLE(o),
        PST_ARGS_STEPS(print_every, stop_at),
        {0},
    };
    unsigned char given[PST_ARGS_MAX] = {0};
    int rc = pst_args_parse_given("train", train_summary, spec, argc, argv, NULL, given);
    if (rc != PST_ARGS_RUN) return rc;
    if (o.resume && model_dir) {
        fprintf(stderr, "posterior train: --resume continues --out's own model; drop --model\n");
        return 2;
    }
    if (o.lr_min < 0) o.lr_min = o.lr / 10;
    const char *out = o.out_dir;
    int resume = o.resume;
    uint64_t seed = o.seed;
    const char *arch_flags[5] = {"n-layer", "n-head", "n-embd", "n-positions", "vocab-size"};
    const int arch[5] = {n_layer, n_head, n_embd, n_positions, vocab_size};
    int arch_given[5]; /* the values given, UNSET for the flags not given */
    for (int i = 0; i < 5; i++) arch_given[i] = pst_args_given(spec, given, arch_flags[i]) ? arch[i] : UNSET;

    pst_error err = {0};
    pst_comm world = pst_comm_world();
    pst_gpt2 m = {0};
    pst_token_source src = {0}, val = {0};
    pst_tokenizer *tok = NULL;
    int *ids = NULL;
    size_t n_ids = 0;
    char *extra = NULL;
    rc = 1;
    /* the same command line on every rank before any collective call that depends on it */
    if (pst_comm_agree_args(&world, argc, argv, &err)) goto fail;
    /* the data first: its vocabulary can size a new model */
    if (pst_shard_detect(data)) {
        if (pst_token_source_shard(&src, data, batch, seq, shuffle, seed, &err)) goto fail;
    } else {
        if (pst_read_token_ids(data, &ids, &n_ids, &err) ||
            pst_token_source_windows(&src, ids, n_ids, batch, seq, seed, data, &err))
            goto fail;
    }
    if (val_data) {
        int *vids = NULL;
        size_t nv = 0;
        int vrc = pst_shard_detect(val_data)
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
    if (resume) { /* rank 0 first: it removes what a killed run left; then the others read */
        int found = world.rank == 0 ? pst_mle_find_checkpoint(out, ckpt_model, sizeof ckpt_model, &err) : 0;
        if (pst_comm_check(&world, found < 0 ? -1 : 0, &err)) goto fail;
        if (world.rank != 0) found = pst_mle_find_checkpoint(out, ckpt_model, sizeof ckpt_model, &err);
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
        if (vocab_size == 0) vocab_size = tok ? pst_tokenizer_vocab_size(tok) : 0;
        if (vocab_size == 0) vocab_size = src.max_id + 1;
        pst_gpt2_config cfg = {n_layer, n_head, n_embd, n_positions, vocab_size, 1e-5f};
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
    o.extra_config_json = extra, o.tokenizer = tok, o.val = val_data ? &val : NULL;
    pst_cli_steps sc = {world.rank == 0 ? print_every : 0, stop_at, {0}};
    o.comm = &world;
    if (pst_mle_train(&m, &src, &o, pst_cli_on_step, &sc, &err)) goto fail;
    rc = 0;
    if (world.rank != 0) goto done;
    /* a one-line summary on stdout for scripts */
    char *q = pst_json_quote(saved_model, strlen(saved_model), NULL);
    char nb[32]; /* JSON null for a loss that is not finite */
    printf("{\"model\": %s, \"step\": %ld, \"loss\": %s, \"params\": %zu}\n", q ? q : "null", sc.last.step,
           pst_json_number(nb, sc.last.loss, 6), m.num_params);
    free(q);
    goto done;
fail:
    rc = pst_cli_fail_ranks("train", &world, spec, &err); /* one that every rank found: said by rank 0 alone */
done:
    free(extra);
    free(ids);
    pst_tokenizer_free(tok);
    pst_token_source_free(&src);
    pst_token_source_free(&val);
    pst_gpt2_free(&m);
    return rc;
}
