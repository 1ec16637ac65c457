/* posterior rm train: a reward model r(x) = w·h_last(x) on a GPT-2 trunk, trained from preference
 * pairs by the Bradley–Terry loss (include/posterior/preference.h). The output directory is a
 * Hugging Face GPT2ForSequenceClassification (score.weight beside transformer.*, config.json,
 * the tokenizer) with metrics.jsonl; `--scorer rm:DIR` makes it evidence. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/preference.h"

static const char rm_train_summary[] =
    "Trains a reward model r(x) = w . h_last(x) (a scalar head on the final hidden state\n"
    "of the last token of <|endoftext|> + prompt + text) from preference pairs by the\n"
    "Bradley-Terry loss -log sigmoid(r(chosen) - r(rejected)) (a tie counts half each way),\n"
    "starting from the trunk of --init. A seeded --held-out fraction of the pairs is held\n"
    "out: OUT/metrics.jsonl gets its loss, accuracy (with standard error), ECE and a\n"
    "reliability table every --eval-every steps and at the end. OUT is a Hugging Face\n"
    "GPT2ForSequenceClassification directory (config.json, model.safetensors with\n"
    "score.weight [1, n_embd], the tokenizer); --scorer rm:OUT uses it as evidence.";

static int rm_train(int argc, char **argv) {
    const char *pairs_path = NULL, *init = NULL;
    pst_rm_train_options o;
    pst_rm_train_options_default(&o);
    const pst_arg spec[] = {
        ARG("pairs", ARG_STRING, &pairs_path, "preference pairs (JSON lines: prompt, chosen, rejected, tie)",
            .required = 1),
        ARG("init", ARG_STRING, &init, "language model whose trunk (and tokenizer) the reward model starts from",
            .required = 1),
        ARG("out", ARG_STRING, &o.out_dir, "reward-model directory written (+ metrics.jsonl)", .required = 1,
            .field = "out_dir"),
        ARG("epochs", ARG_INT, &o.epochs, "passes over the training pairs", .range = "1.."),
        ARG("batch", ARG_INT, &o.batch, "pairs per step", .range = "1.."),
        ARG("lr", ARG_DOUBLE, &o.lr, "peak learning rate"),
        ARG("lr-min", ARG_DOUBLE, &o.lr_min, "final learning rate of the cosine decay"),
        ARG("warmup", ARG_LONG, &o.warmup, "linear warmup steps", .range = "0.."),
        ARG("weight-decay", ARG_DOUBLE, &o.weight_decay, "AdamW decoupled weight decay (2-D trunk weights only)"),
        ARG("grad-clip", ARG_DOUBLE, &o.grad_clip, "clip the gradient's global norm (0: off)", .range = "0.."),
        ARG("held-out", ARG_DOUBLE, &o.held_out, "fraction of the pairs held out for evaluation", .range = "0..0.9"),
        ARG("eval-every", ARG_LONG, &o.eval_every, "held-out evaluation every this many steps (0: at the end)",
            .range = "0.."),
        PST_ARGS_SEED(o.seed),
        ARG("quiet", ARG_FLAG, &o.quiet, "no progress line"),
        {0},
    };
    int rc = pst_args_parse("rm train", rm_train_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    pst_error err = {0};
    pst_pair_set set = {0};
    pst_reward_model rm = {0};
    pst_token_pair *pairs = NULL;
    pst_rng rng;
    pst_rng_seed(&rng, o.seed ^ 0x7265776172640000ull); /* the head's initialisation: its own stream */
    pst_rm_eval e;
    rc = 1;
    if (pst_pairs_read(pairs_path, &set, &err) < 0) goto fail;
    pst_pair_set_print_skips(&set, pairs_path, stderr);
    if (pst_reward_model_init(&rm, init, &rng, &err) < 0 ||
        pst_pairs_tokenize(rm.tok, rm.bos, -1, rm.trunk.config.n_positions, set.pairs, set.n, pairs_path, &pairs,
                           &err) < 0 ||
        pst_rm_train(&rm, pairs, (int)set.n, &o, &e, &err) < 0)
        goto fail;
    printf("{\"pairs\": %zu, \"skipped\": %zu, \"held_out_pairs\": %d, \"held_out_accuracy\": %.4f, "
           "\"held_out_accuracy_se\": %.4f, \"held_out_loss\": %.4f, \"ece\": %.4f, \"out\": \"%s\"}\n",
           set.n, set.skipped, e.stats.n, e.stats.accuracy, e.accuracy_se, e.stats.loss, e.ece, o.out_dir);
    rc = 0;
    goto done;
fail:
    pst_cli_fail("rm train", spec, &err);
done:
    pst_token_pairs_free(pairs, (int)set.n);
    pst_reward_model_free(&rm);
    pst_pair_set_free(&set);
    return rc;
}

int cmd_rm(int argc, char **argv) {
    const pst_subcommand subs[] = {{"train", rm_train}, {0}};
    return pst_subcommand_run("rm",
                              "usage: posterior rm train [options]   (--help on each)\n\n"
                              "Reward models from preference pairs:\n"
                              "  train     fit r(x) on a GPT-2 trunk by Bradley-Terry; use it as --scorer rm:DIR\n",
                              subs, argc, argv);
}
