/* Command-line options, declared as data and shared by every subcommand.
 *
 * Each subcommand declares a table of options bound to the variables (or the library's
 * option structs) they set; pst_args_parse fills them, checks what the table says
 * (required, numeric range, allowed words), prints --help from the table, and names
 * the flag in every error. Options are "--name value" or "--name=value"; flags take no
 * value. Arguments that are not options are moved, in order, to argv[0..*npos).
 * The groups below (PST_ARGS_*) are the options several commands share, with one help
 * text each: a flag name means one thing in every command (docs/cli.md). */
#ifndef POSTERIOR_CLI_ARGS_H
#define POSTERIOR_CLI_ARGS_H

#include <stdint.h>

#include "posterior/base.h"

typedef enum { ARG_FLAG, ARG_INT, ARG_LONG, ARG_U64, ARG_DOUBLE, ARG_FLOAT, ARG_STRING } pst_arg_kind;

typedef struct {
    const char *name;    /* without the leading "--" */
    pst_arg_kind kind;
    void *dest;          /* int*, long*, uint64_t*, double*, float*, const char** */
    const char *help;    /* one line; the default is printed from *dest */
    /* optional, as designated initialisers (.required = 1, .range = "1..", ...): */
    int required;        /* refused when missing: "--NAME is required" */
    const char *range;   /* numbers: "MIN..", "..MAX" or "MIN..MAX", inclusive */
    const char *why;     /* a range error's words after "--NAME ", a format of the value (%g) */
    const char *choices; /* strings: the words allowed, "a|b|c" */
    const char *alias;   /* an older spelling, still accepted */
    const char *field;   /* the library option field it sets (default: the name, '-' as '_') */
    int resume_may_change; /* --resume: may differ from the saved value (e.g. more steps) */
} pst_arg;

/* One entry: ARG("name", ARG_INT, &var, "help", .range = "1..", ...) */
#define ARG(name_, kind_, dest_, help_, ...) \
    {.name = (name_), .kind = (kind_), .dest = (dest_), .help = (help_), __VA_ARGS__}

/* Returned by pst_args_parse when the command should run. */
#define PST_ARGS_RUN (-1)

/* Returns PST_ARGS_RUN when parsed and checked, otherwise the command's exit code: 0
 * when --help was printed, 2 on a usage error (message on stderr). With npos NULL the
 * command takes no positional argument. spec ends with {0}. */
int pst_args_parse(const char *command, const char *summary, const pst_arg *spec, int argc, char **argv,
                   int *npos);

/* The same, also marking given[i] = 1 for every entry i of spec given on the command
 * line (given: PST_ARGS_MAX zeroed bytes). */
#define PST_ARGS_MAX 128
int pst_args_parse_given(const char *command, const char *summary, const pst_arg *spec, int argc, char **argv,
                         int *npos, unsigned char *given);

/* 1 when the entry named name (without "--") was given (given: from pst_args_parse_given). */
int pst_args_given(const pst_arg *spec, const unsigned char *given, const char *name);

/* --resume: the options saved in a run folder's JSON (run_json; each entry of spec under
 * its field name) become the values of the options not given, and an option given with
 * another value than the saved one is refused (exit 2, naming both) unless the entry says
 * resume_may_change. No file: nothing
 * saved (a run killed before writing it). *saved: the parsed file, which the string
 * options now point into (cJSON_Delete it at the end). Returns PST_ARGS_RUN or the exit code. */
int pst_args_resume(const char *command, const pst_arg *spec, const unsigned char *given, const char *run_json,
                    void **saved);

/* Prints "posterior COMMAND: MESSAGE" on stderr, followed by " (--FLAG)" when the error
 * names an option field (err->field) that a flag of spec sets and the message does not
 * name the flag already. Returns 1 (the exit code of a failed command). */
int pst_cli_fail(const char *command, const pst_arg *spec, const pst_error *err);

/* A command with subcommands (posterior target init|fit|...): argv[0] names one of subs
 * (ending with {0}), which runs on the rest. --help prints usage (exit 0); no name, or an
 * unknown one, is a usage error naming the subcommands (exit 2). */
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} pst_subcommand;
int pst_subcommand_run(const char *command, const char *usage, const pst_subcommand *subs, int argc, char **argv);

/* ---- shared groups: table entries bound to variables or option structs ------------- */

/* pst_sample_options s: the sampling of a model (a proposal q; log q is the warped log-prob) */
#define PST_ARGS_SAMPLING(s)                                                                        \
    ARG("max-new-tokens", ARG_INT, &(s).max_new_tokens, "tokens per sample at most", .range = "0.."), \
        ARG("temperature", ARG_FLOAT, &(s).temperature, "sampling temperature (0: greedy; q ≠ π then)"), \
        ARG("top-k", ARG_INT, &(s).top_k, "keep the k most likely tokens (0: off)", .range = "0.."),  \
        ARG("top-p", ARG_FLOAT, &(s).top_p, "nucleus: keep the most likely tokens up to this mass (1: off)")

/* const char *model: a GPT-2 model directory (Hugging Face layout) */
#define PST_ARGS_MODEL(model, ...)                                                                           \
    ARG("model", ARG_STRING, &(model), "model directory (config.json + model.safetensors [+ vocab.json, merges.txt])", \
        __VA_ARGS__)

/* const char *tok: a tokenizer (a folder or the bundled gpt2); `what` is this command's use of it and default */
#define PST_ARGS_TOKENIZER(tok, what) \
    ARG("tokenizer", ARG_STRING, &(tok), "tokenizer: a folder (vocab.json + merges.txt) or gpt2; " what)

/* int eot: the end-of-text token id */
#define PST_ARGS_EOT(eot)                                                                     \
    ARG("eot", ARG_INT, &(eot), "end-of-text id (-1: the tokenizer's <|endoftext|>, else 50256)", \
        .range = "-1..", .why = "must be a token id, or -1 for the tokenizer's <|endoftext|>; got %g")

/* a tokenizer given as a folder or as two files: const char *model, *vocab, *merges */
#define PST_ARGS_TOKENIZER_FILES(model, vocab, merges)                                                       \
    ARG("model", ARG_STRING, &(model),                                                                     \
        "tokenizer folder (vocab.json + merges.txt, or encoder.json + vocab.bpe), or gpt2"),               \
        ARG("vocab", ARG_STRING, &(vocab), "vocab.json (GPT-2 encoder.json), with --merges instead of --model"), \
        ARG("merges", ARG_STRING, &(merges), "merges.txt (GPT-2 vocab.bpe), with --vocab")

/* uint64_t seed: drives every random choice of the command */
#define PST_ARGS_SEED(seed) ARG("seed", ARG_U64, &(seed), "random seed")

/* a run folder: const char *out (required), int resume, int quiet */
#define PST_ARGS_RUN_FOLDER(out, resume, quiet, out_help)                                 \
    ARG("out", ARG_STRING, &(out), out_help, .required = 1, .field = "out_dir"),             \
        ARG("resume", ARG_FLAG, &(resume), "continue the run in --out from its checkpoint"), \
        ARG("quiet", ARG_FLAG, &(quiet), "no progress line")

/* int n_layer, n_head, n_embd, n_positions: the architecture of a new GPT-2 model (a
 * continued one keeps its own) */
#define PST_ARGS_ARCH(n_layer, n_head, n_embd, n_positions)                                \
    ARG("n-layer", ARG_INT, &(n_layer), "new model: layers (a continued model keeps its own)"), \
        ARG("n-head", ARG_INT, &(n_head), "new model: attention heads"),                    \
        ARG("n-embd", ARG_INT, &(n_embd), "new model: width"),                              \
        ARG("n-positions", ARG_INT, &(n_positions), "new model: context length")

/* pst_mle_options o: the MLE loop of train and pretrain (optimiser, schedule, run folder,
 * checkpoints, metrics, held-out loss); its defaults are the command's */
#define PST_ARGS_MLE(o)                                                                                          \
    ARG("steps", ARG_LONG, &(o).steps, "optimizer updates in total (tokens = steps·batch·seq·grad-accum)"),       \
        ARG("grad-accum", ARG_INT, &(o).grad_accum, "micro-batches per update", .range = "1.."),                   \
        ARG("lr", ARG_DOUBLE, &(o).lr, "peak learning rate"),                                                      \
        ARG("lr-min", ARG_DOUBLE, &(o).lr_min, "final learning rate of the cosine decay (-1: lr/10)"),             \
        ARG("warmup", ARG_LONG, &(o).warmup, "linear warmup steps"),                                               \
        ARG("weight-decay", ARG_DOUBLE, &(o).weight_decay, "AdamW decoupled weight decay (2-D weights only)"),      \
        ARG("clip", ARG_DOUBLE, &(o).clip, "max global gradient norm (0: off)"),                                   \
        ARG("save-every", ARG_LONG, &(o).save_every, "checkpoint every this many steps (0: at the end)"),          \
        ARG("log-every", ARG_LONG, &(o).log_every, "metrics line every this many steps"),                          \
        ARG("val-every", ARG_LONG, &(o).val_every, "val_loss every this many steps (0: at checkpoints and the end)"), \
        ARG("val-batches", ARG_INT, &(o).val_batches, "batches in each val_loss (the same ones every time)"),      \
        PST_ARGS_SEED((o).seed),                                                                                 \
        PST_ARGS_RUN_FOLDER((o).out_dir, (o).resume, (o).quiet,                                                 \
                            "run directory (model/, metrics.jsonl, checkpoints/, train_config.json)")

/* the step callback's options of train and pretrain: long print_every, stop_at */
#define PST_ARGS_STEPS(print_every, stop_at)                                                               \
    ARG("print-every", ARG_LONG, &(print_every), "also print a line on stderr every this many steps (0: off)"), \
        ARG("stop-at", ARG_LONG, &(stop_at),                                                                  \
         "stop after this step, with a checkpoint (0: run to --steps); continue with --resume")

/* exact samples of p: const char *reference, long max_proposals */
#define PST_ARGS_EXACT(reference, max_proposals)                                                                 \
    ARG("reference", ARG_STRING, &(reference), "exact samples of p to measure against (target sample --out)"),     \
        ARG("max-proposals", ARG_LONG, &(max_proposals), "budget of prior draws for the exact samples", .range = "1..")

#endif
