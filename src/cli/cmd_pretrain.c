/* posterior pretrain: pretraining with human feedback (src/train/objectives.c, phf.c).
 *
 *   posterior pretrain --objective mle|filter|conditional|unlikelihood|rwr|awr --task T
 *                      --data PREFIX.train.bin --out DIR [--model MLE_DIR (finetuning)] ...
 *   posterior pretrain eval ...  (evaluation; src/eval/phf_eval.c)
 *
 * The task gives the defaults (threshold, α, β, drop fraction; docs/pretraining.md);
 * every one can be overridden. Conditional training adds <|aligned|> and <|misaligned|> to
 * the tokenizer (saved with the model) and grows the model's vocabulary. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/steps.h"
#include "cli/commands.h"
#include "posterior/corpus.h"
#include "posterior/eval.h"
#include "posterior/pretrain.h"
#include "posterior/scorer.h"
#include "posterior/tokenizer.h"

static const char pretrain_summary[] =
    "Pretraining (or finetuning, with --model) with human feedback: six objectives\n"
    "on scored shards. `posterior pretrain eval --help` evaluates a model.";

/* The shard must come from this tokenizer (a conditional model's has 2 more ids: the
 * aligned and misaligned tokens). */
static int check_shard_tokenizer(const pst_shard *shard, const pst_tokenizer *tok, const char *tok_name,
                                 const char *data, pst_error *err) {
    int tv = pst_tokenizer_vocab_size(tok);
    uint64_t th;
    if (tv == (int)shard->vocab_size) {
        if (pst_tokenizer_hash(tok, &th, err) || pst_shard_check_vocab(shard, tv, th, err))
            return pst_fail_context(err, "--tokenizer %s", tok_name);
        return 0;
    }
    if (tv == (int)shard->vocab_size + 2 && pst_tokenizer_token_id(tok, PST_ALIGNED_TOKEN) >= (int)shard->vocab_size &&
        pst_tokenizer_token_id(tok, PST_MISALIGNED_TOKEN) >= (int)shard->vocab_size)
        return 0;
    return pst_fail(err, "--tokenizer %s has %d ids but %s was prepared with a tokenizer of %u; pass that tokenizer "
                    "with --tokenizer", tok_name, tv, data, shard->vocab_size);
}

/* The objective's settings for OUT/train_config.json (as one JSON object; NULL when out of memory). */
static char *objective_config(pst_objective obj, const char *task_name, const char *data, const char *model_dir,
                              const pst_phf_params *p, uint64_t kept_docs, uint64_t kept_tokens, int aligned_id,
                              int misaligned_id) {
    cJSON *x = cJSON_CreateObject();
    if (!x) return NULL;
    cJSON_AddStringToObject(x, "objective", pst_objective_name(obj));
    if (task_name) cJSON_AddStringToObject(x, "task", task_name);
    cJSON_AddStringToObject(x, "data_path", data);
    cJSON_AddStringToObject(x, "init", model_dir ? model_dir : "random");
    cJSON_AddNumberToObject(x, "threshold", p->threshold);
    cJSON_AddNumberToObject(x, "ul_alpha", p->ul_alpha);
    cJSON_AddNumberToObject(x, "rwr_beta", p->rwr_beta);
    cJSON_AddNumberToObject(x, "awr_alpha", p->awr_alpha);
    cJSON_AddNumberToObject(x, "awr_beta", p->awr_beta);
    cJSON_AddNumberToObject(x, "weight_clip", p->weight_clip);
    cJSON_AddNumberToObject(x, "drop_fraction", p->drop_fraction);
    cJSON_AddNumberToObject(x, "kept_documents", (double)kept_docs);
    cJSON_AddNumberToObject(x, "kept_tokens", (double)kept_tokens);
    if (aligned_id >= 0) {
        cJSON_AddNumberToObject(x, "aligned_id", aligned_id);
        cJSON_AddNumberToObject(x, "misaligned_id", misaligned_id);
    }
    char *text = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    return text;
}

int cmd_pretrain(int argc, char **argv) {
    if (argc >= 1 && strcmp(argv[0], "eval") == 0) return cmd_pretrain_eval(argc - 1, argv + 1);
    const char *objective = "mle", *task_name = NULL, *data = NULL, *val_data = NULL;
    const char *model_dir = NULL, *tokenizer_dir = NULL;
    int n_layer = 2, n_head = 2, n_embd = 64, n_positions = 128, batch = 8, seq = 64, beta_auto = 0;
    long print_every = 0, stop_at = 0;
    double threshold = NAN, percentile = NAN, ul_alpha = NAN, rwr_beta = NAN, awr_alpha = NAN,
           awr_beta = NAN, weight_clip = NAN, drop_fraction = NAN;
    pst_mle_options mo;
    pst_mle_options_default(&mo);
    mo.steps = 200, mo.warmup = 20, mo.lr = 1e-3, mo.lr_min = -1, mo.weight_decay = 0.1, mo.clip = 1.0;
    mo.seed = 1, mo.save_every = 0, mo.log_every = 1, mo.val_every = 0, mo.val_batches = 8, mo.grad_accum = 1;
    const pst_arg spec[] = {
        ARG("objective", ARG_STRING, &objective, "mle, filter, conditional, unlikelihood, rwr or awr"),
        ARG("task", ARG_STRING, &task_name, "toxicity, pii or pep8: the defaults of the hyper-parameters"),
        ARG("data", ARG_STRING, &data, "scored training shard (posterior prepare --scorer ...)", .required = 1),
        ARG("val-data", ARG_STRING, &val_data, "held-out shard for val_loss (plain LM loss)"),
        ARG("model", ARG_STRING, &model_dir, "finetune: start from this model directory (e.g. an MLE run's model/)"),
        PST_ARGS_TOKENIZER(tokenizer_dir, "default: --model's, else gpt2"),
        ARG("threshold", ARG_DOUBLE, &threshold, "t: a segment is aligned iff its score <= t (default: the task's)"),
        ARG("threshold-percentile", ARG_DOUBLE, &percentile, "t as this percentile of the shard's segment scores"),
        ARG("alpha", ARG_DOUBLE, &ul_alpha, "unlikelihood α (default: the task's)", .field = "ul_alpha"),
        ARG("rwr-beta", ARG_DOUBLE, &rwr_beta, "RWR β (default: the task's)", .alias = "beta"),
        ARG("awr-alpha", ARG_DOUBLE, &awr_alpha, "AWR α, weight of the LM loss vs the value loss"),
        ARG("awr-beta", ARG_DOUBLE, &awr_beta, "AWR β"),
        ARG("beta-auto", ARG_FLAG, &beta_auto, "RWR and AWR β = the mean score of the shard's misaligned segments (s > t)"),
        ARG("weight-clip", ARG_DOUBLE, &weight_clip, "max token weight for RWR / AWR"),
        ARG("drop-fraction", ARG_DOUBLE, &drop_fraction, "conditional: fraction of segments without a control token"),
        PST_ARGS_ARCH(n_layer, n_head, n_embd, n_positions),
        ARG("batch", ARG_INT, &batch, "sequences per micro-batch", .range = "1.."),
        ARG("seq", ARG_INT, &seq, "tokens per sequence", .range = "1.."),
        PST_ARGS_MLE(mo),
        PST_ARGS_STEPS(print_every, stop_at),
        {0},
    };
    int rc = pst_args_parse("pretrain", pretrain_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    const char *usage_err = NULL;
    if (!isnan(threshold) && !isnan(percentile)) usage_err = "give --threshold or --threshold-percentile, not both";
    else if (beta_auto && (!isnan(rwr_beta) || !isnan(awr_beta)))
        usage_err = "give --beta-auto or --rwr-beta / --awr-beta, not both";
    if (usage_err) {
        fprintf(stderr, "posterior pretrain: %s\n", usage_err);
        return 2;
    }
    if (mo.lr_min < 0) mo.lr_min = mo.lr / 10;
    const char *out = mo.out_dir;
    uint64_t seed = mo.seed;

    pst_error err = {0};
    pst_gpt2 m = {0};
    pst_token_source src = {0}, val = {0};
    pst_tokenizer *tok = NULL;
    pst_shard shard = {0};
    int shard_open = 0;
    char *extra = NULL;
    char filtered[4096] = "";
    rc = 1;
    pst_objective obj;
    if (pst_objective_parse(objective, &obj, &err)) goto fail;
    pst_phf_params p = {0, 1.0, 10.0, 0.5, 1.0, 1000.0, 0.01}; /* without --task: the paper's AWR defaults */
    double filter_percentile = NAN;
    if (task_name) {
        const pst_phf_task *task = pst_phf_task_get(task_name, &err);
        if (!task) goto fail;
        p = task->params;
        filter_percentile = task->filter_percentile;
    } else if (pst_objective_needs_scores(obj) && isnan(threshold) && isnan(percentile)) {
        pst_fail(&err, "objective %s needs --task or --threshold / --threshold-percentile", objective);
        goto fail;
    }
    if (!isnan(threshold)) p.threshold = threshold;
    if (!isnan(ul_alpha)) p.ul_alpha = ul_alpha;
    if (!isnan(rwr_beta)) p.rwr_beta = rwr_beta;
    if (!isnan(awr_alpha)) p.awr_alpha = awr_alpha;
    if (!isnan(awr_beta)) p.awr_beta = awr_beta;
    if (!isnan(weight_clip)) p.weight_clip = weight_clip;
    if (!isnan(drop_fraction)) p.drop_fraction = drop_fraction;

    if (pst_shard_open(&shard, data, &err)) goto fail;
    shard_open = 1;
    if (pst_objective_needs_scores(obj)) {
        if (pst_phf_check_scored(&shard, &err)) goto fail;
        if (!isnan(percentile) && pst_phf_score_percentile(&shard, percentile, &p.threshold, &err)) goto fail;
        if (obj == PST_OBJECTIVE_FILTER && isnan(percentile) && isnan(threshold) && !isnan(filter_percentile) &&
            pst_phf_document_percentile(&shard, filter_percentile, &p.threshold, &err))
            goto fail;
        if (pst_phf_check_threshold(&shard, p.threshold, &err)) {
            pst_fail_context(&err, "--threshold");
            goto fail;
        }
        if (beta_auto) {
            if (pst_phf_misaligned_mean(&shard, p.threshold, &p.rwr_beta, &err)) {
                pst_fail_context(&err, "--beta-auto");
                goto fail;
            }
            p.awr_beta = p.rwr_beta;
        }
    }
    if (pst_mkdir_p(out, &err)) goto fail;

    /* tokenizer: --tokenizer, else --model's, else gpt2 */
    if (!tokenizer_dir && model_dir) {
        char vj[4096];
        if (pst_path_join(vj, sizeof vj, model_dir, "vocab.json", &err)) goto fail;
        if (pst_file_exists(vj)) tokenizer_dir = model_dir;
    }
    if (pst_tokenizer_open(&tok, tokenizer_dir ? tokenizer_dir : "gpt2", &err)) goto fail;
    if (check_shard_tokenizer(&shard, tok, tokenizer_dir ? tokenizer_dir : "gpt2", data, &err) < 0) goto fail;
    int aligned_id = -1, misaligned_id = -1;
    if (obj == PST_OBJECTIVE_CONDITIONAL) {
        aligned_id = pst_tokenizer_add_special(tok, PST_ALIGNED_TOKEN, &err);
        misaligned_id = aligned_id < 0 ? -1 : pst_tokenizer_add_special(tok, PST_MISALIGNED_TOKEN, &err);
        if (aligned_id < 0 || misaligned_id < 0) goto fail;
    }

    /* data */
    const char *train_path = data;
    uint64_t kept_docs = shard.n_documents, kept_tokens = shard.n_tokens;
    if (obj == PST_OBJECTIVE_FILTER) {
        if (pst_path_join(filtered, sizeof filtered, out, "filtered.train.bin", &err) ||
            pst_phf_filter_shard(&shard, p.threshold, filtered, &kept_docs, &kept_tokens, &err))
            goto fail;
        train_path = filtered;
    }
    if (obj == PST_OBJECTIVE_MLE || obj == PST_OBJECTIVE_FILTER) {
        if (pst_token_source_shard(&src, train_path, batch, seq, 1, seed, &err)) goto fail;
    } else if (pst_phf_source(&src, train_path, batch, seq, seed, aligned_id, misaligned_id, p.threshold,
                              obj == PST_OBJECTIVE_CONDITIONAL ? p.drop_fraction : 0, &err)) {
        goto fail;
    }
    if (val_data && pst_token_source_shard(&val, val_data, batch, seq, 0, seed, &err)) {
        pst_fail_context(&err, "--val-data");
        goto fail;
    }

    /* model: --model (finetuning) or new; grown to the tokenizer's vocabulary */
    pst_rng init;
    pst_rng_seed(&init, seed);
    pst_rng split = pst_rng_split(&init, 0x1417);
    if (model_dir) {
        if (pst_gpt2_load(&m, model_dir, &err)) goto fail;
    } else {
        pst_gpt2_config cfg = {n_layer, n_head, n_embd, n_positions, (int)shard.vocab_size, 1e-5f};
        if (pst_gpt2_create(&m, &cfg, &err)) {
            pst_fail_context(&err, "new model");
            goto fail;
        }
        pst_gpt2_init_random(&m, &split);
    }
    int vocab = pst_tokenizer_vocab_size(tok);
    if (vocab > m.config.vocab_size && pst_gpt2_resize_vocab(&m, vocab, &split, &err)) goto fail;
    char saved_model[4096]; /* a link to the latest checkpoint's model (with the tokenizer) */
    if (pst_path_join(saved_model, sizeof saved_model, out, "model", &err)) goto fail;

    extra = objective_config(obj, task_name, data, model_dir, &p, kept_docs, kept_tokens, aligned_id, misaligned_id);
    mo.extra_config_json = extra, mo.val = val_data ? &val : NULL, mo.tokenizer = tok;
    pst_cli_steps sc = {print_every, stop_at, {0}};
    if (pst_phf_train(&m, &src, obj, &p, &mo, model_dir, pst_cli_on_step, &sc, &err)) goto fail;
    if (filtered[0]) remove(filtered);
    char *q = pst_json_quote(saved_model, strlen(saved_model), NULL);
    char nb[3][32]; /* JSON null for what is not finite or not measured (val_loss without --val-data) */
    printf("{\"model\": %s, \"objective\": \"%s\", \"threshold\": %s, \"step\": %ld, \"loss\": %s, "
           "\"val_loss\": %s, \"params\": %zu}\n",
           q ? q : "null", pst_objective_name(obj), pst_json_number(nb[0], p.threshold, 9), sc.last.step,
           pst_json_number(nb[1], sc.last.loss, 6), pst_json_number(nb[2], sc.last.val_loss, 6), m.num_params);
    free(q);
    rc = 0;
    goto done;
fail:
    pst_cli_fail("pretrain", spec, &err);
done:
    free(extra), pst_tokenizer_free(tok);
    pst_token_source_free(&src), pst_token_source_free(&val);
    if (shard_open) pst_shard_close(&shard);
    pst_gpt2_free(&m);
    return rc;
}

int cmd_pretrain_eval(int argc, char **argv) {
    const char *task_name = NULL, *model_dir = NULL, *scorer_spec = NULL, *reference_dir = NULL;
    const char *val_data = NULL, *prompts_path = NULL, *out = NULL, *prefix = "auto", *control = "ban";
    pst_phf_eval_options o;
    pst_phf_eval_options_default(&o);
    double above = NAN;
    const pst_arg spec[] = {
        ARG("task", ARG_STRING, &task_name, "toxicity, pii or pep8: the scorer and the threshold"),
        PST_ARGS_MODEL(model_dir, .required = 1),
        ARG("scorer", ARG_STRING, &scorer_spec, "scorer spec (default: the task's)"),
        ARG("threshold", ARG_DOUBLE, &above, "a sample is misaligned when its score > this (default: the task's)"),
        ARG("samples", ARG_INT, &o.n_samples, "unconditional samples"),
        ARG("max-new-tokens", ARG_INT, &o.max_new_tokens, "tokens per sample at most"),
        ARG("temperature", ARG_FLOAT, &o.temperature, "sampling temperature (0: greedy; q ≠ π then)"),
        ARG("top-p", ARG_FLOAT, &o.top_p, "nucleus: keep the most likely tokens up to this mass (1: off)"),
        ARG("k", ARG_INT, &o.expected_max_k, "expected maximum score over this many samples"),
        ARG("prefix", ARG_STRING, &prefix, "auto: aligned for conditional models", .choices = "auto|aligned|misaligned|none"),
        ARG("control", ARG_STRING, &control, "ban: both control tokens (the paper's); steer: only the opposite one",
            .choices = "ban|steer|free"),
        ARG("prompts", ARG_STRING, &prompts_path, "prompts file (one per line) for prompted generation"),
        ARG("samples-per-prompt", ARG_INT, &o.samples_per_prompt, "continuations per prompt"),
        ARG("val-data", ARG_STRING, &val_data, "held-out shard: LM loss"),
        ARG("val-batches", ARG_INT, &o.val_batches, "batches in the LM loss"),
        ARG("batch", ARG_INT, &o.val_batch, "LM loss: sequences per batch"),
        ARG("seq", ARG_INT, &o.val_seq, "LM loss: tokens per sequence"),
        ARG("reference-model", ARG_STRING, &reference_dir, "reference model (e.g. MLE): KL(ref || model) from its samples",
            .alias = "reference"),
        ARG("kl-samples", ARG_INT, &o.kl_samples, "samples of the reference for the KL"),
        PST_ARGS_SEED(o.seed),
        ARG("out", ARG_STRING, &out, "also write the JSON result to this file"),
        {0},
    };
    int rc = pst_args_parse("pretrain eval",
                            "Evaluates a pretrained model: misalignment score of samples (mean, expected max,\n"
                            "fraction above the threshold), prompted generation, LM loss, KL from a reference,\n"
                            "distinct-1/2 and self-BLEU-5. Prints one JSON object.",
                            spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    if (!task_name && !scorer_spec) {
        fprintf(stderr, "posterior pretrain eval: --task or --scorer is required\n");
        return 2;
    }
    pst_error err = {0};
    pst_gpt2 m = {0}, ref = {0};
    int have_ref = 0;
    pst_prompts prompts = {0};
    char *json = NULL;
    rc = 1;
    if (task_name) {
        const pst_phf_task *task = pst_phf_task_get(task_name, &err);
        if (!task) goto fail;
        if (!scorer_spec) scorer_spec = task->scorer;
        if (isnan(above)) above = task->misaligned_above;
    }
    o.misaligned_above = isnan(above) ? 0.0 : above;
    o.ban_control = !strcmp(control, "ban") ? 1 : !strcmp(control, "steer") ? 2 : 0;
    if (pst_scorer_create(scorer_spec, &o.scorer, &err) || pst_gpt2_load(&m, model_dir, &err) ||
        pst_tokenizer_load_dir(&o.tok, model_dir, &err))
        goto fail;
    int conditional = pst_tokenizer_token_id(o.tok, PST_ALIGNED_TOKEN) >= 0;
    o.prefix = !strcmp(prefix, "aligned") ? 1 : !strcmp(prefix, "misaligned") ? 2 : !strcmp(prefix, "none") ? 0 : conditional;
    if (reference_dir) {
        if (pst_gpt2_load(&ref, reference_dir, &err)) goto fail;
        have_ref = 1;
        o.reference = &ref;
    }
    if (prompts_path) {
        if (pst_prompts_read(prompts_path, &prompts, &err)) goto fail;
        o.prompts = (const char *const *)prompts.text, o.n_prompts = prompts.n;
    }
    o.val_shard = val_data;
    pst_phf_eval_result r;
    if (pst_phf_eval(&m, &o, &r, &err)) goto fail;
    json = pst_phf_eval_json(&o, &r, model_dir);
    if (!json) {
        pst_fail(&err, "out of memory");
        goto fail;
    }
    printf("%s\n", json);
    if (out) {
        size_t l = strlen(json);
        json[l] = '\n';
        if (pst_write_file_atomic(out, json, l + 1, &err)) goto fail;
    }
    rc = 0;
    goto done;
fail:
    pst_cli_fail("pretrain eval", spec, &err);
done:
    pst_prompts_free(&prompts);
    free(json);
    pst_scorer_free(o.scorer);
    pst_tokenizer_free(o.tok);
    pst_gpt2_free(&m);
    if (have_ref) pst_gpt2_free(&ref);
    return rc;
}
