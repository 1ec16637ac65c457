/* posterior sample: draw continuations from a model.
 *
 * One JSON line per sample:
 *   {"text": "...", "tokens": [...], "logprob_model": a, "logprob_proposal": q}
 * text (the decoded continuation) only when the model directory has a tokenizer;
 * logprob_model = log a(x | prompt) under the raw model, logprob_proposal = log q(x | prompt)
 * under the distribution actually sampled from (temperature, top-k, top-p, bans); with
 * --bf16-weights both are under the model with its weight matrices rounded to bfloat16. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/steps.h"
#include "cli/commands.h"
#include "posterior/corpus.h"
#include "posterior/prior.h"
#include "posterior/scorer.h"
#include "posterior/tokenizer.h"

/* Ids separated by spaces or commas; each in [0, V). what names them in errors
 * ("--ban", "--prompt-tokens", "FILE line 3"). */
static int parse_ids(const char *what, const char *s, int V, int **out, int *n, pst_error *err) {
    *out = NULL;
    *n = 0;
    size_t cap = strlen(s) / 2 + 1;
    int *ids = malloc(cap * sizeof(int));
    if (!ids) return pst_fail(err, "%s: out of memory", what);
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            free(ids);
            return pst_fail(err, "%s: '%s' is not a list of token ids", what, s);
        }
        if (v < 0 || v >= V) {
            free(ids);
            return pst_fail(err, "%s: token id %ld is outside the model's vocabulary [0, %d)", what,
                            v, V);
        }
        ids[(*n)++] = (int)v;
        s = end;
    }
    *out = ids;
    return 0;
}

/* The ids of one prompt given as text (tokenized, special tokens allowed) or as ids;
 * an empty prompt becomes <|endoftext|> (an unconditional sample). what names it in errors. */
static int prompt_ids_of(const char *what, const char *text, size_t text_len, const char *ids,
                         pst_tokenizer *tok, int V, int eot, int **out, int *n, pst_error *err) {
    *out = NULL;
    *n = 0;
    if (text) {
        size_t nid = 0;
        if (pst_tokenizer_encode(tok, text, text_len, 1, out, &nid, err))
            return pst_fail_context(err, "%s", what);
        *n = (int)nid;
        for (int i = 0; i < *n; i++)
            if ((*out)[i] >= V)
                return pst_fail(err, "%s: token id %d is outside the model's vocabulary [0, %d)",
                                what, (*out)[i], V);
    } else if (ids && parse_ids(what, ids, V, out, n, err)) {
        return -1;
    }
    if (*n > 0) return 0;
    if (eot < 0)
        return pst_fail(err, "%s: no prompt and no end-of-text token for this vocabulary (%d ids): "
                        "pass --prompt-tokens or --eot", what, V);
    free(*out);
    *out = malloc(sizeof(int));
    if (!*out) return pst_fail(err, "out of memory");
    (*out)[0] = eot;
    *n = 1;
    return 0;
}

static const char sample_summary[] =
    "Samples continuations of a prompt; one JSON line per sample with the text (when\n"
    "the model has a tokenizer), tokens, logprob_model and logprob_proposal.";

/* --ban-tokens NAME,NAME,...: the tokens' ids appended to banned[n_banned] (grown). */
static int ban_token_names(const char *names, const pst_tokenizer *tok, int V, int **banned, int *n_banned,
                           pst_error *err) {
    if (!tok) return pst_fail(err, "--ban-tokens needs a tokenizer (in the model directory or --tokenizer)");
    int *all = pst_realloc(*banned, ((size_t)*n_banned + strlen(names) + 1) * sizeof(int), err);
    if (!all) return -1;
    *banned = all;
    for (const char *p = names; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[512];
        if (len == 0 || len >= sizeof name)
            return pst_fail(err, "--ban-tokens: empty or too long token in '%s'", names);
        memcpy(name, p, len);
        name[len] = 0;
        int id = pst_tokenizer_token_id(tok, name);
        if (id < 0 || id >= V) return pst_fail(err, "--ban-tokens: '%s' is not a token of this model's vocabulary", name);
        all[(*n_banned)++] = id;
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

/* One JSON line: the prompt's index (>= 0 with a prompts file), the text (with a tokenizer),
 * the tokens and both log-probabilities (and why, when one is not finite). */
static int print_sample(const pst_sample *s, int prompt, const pst_tokenizer *tok, pst_error *err) {
    putchar('{');
    if (prompt >= 0) printf("\"prompt\": %d, ", prompt);
    if (tok) {
        char *text = NULL;
        size_t tl = 0;
        if (pst_tokenizer_decode(tok, s->tokens, (size_t)s->n_tokens, &text, &tl, err)) return -1;
        char *q = pst_json_quote(text, tl, NULL);
        free(text);
        if (!q) return pst_fail(err, "out of memory");
        printf("\"text\": %s, ", q);
        free(q);
    }
    fputs("\"tokens\": [", stdout);
    for (int t = 0; t < s->n_tokens; t++) printf(t ? ", %d" : "%d", s->tokens[t]);
    char nb[2][32];
    printf("], \"logprob_model\": %s, \"logprob_proposal\": %s%s}\n",
           pst_json_number(nb[0], s->logprob_model, 9), pst_json_number(nb[1], s->logprob_proposal, 9),
           isfinite(s->logprob_model) && isfinite(s->logprob_proposal)
               ? ""
               : ", \"reason\": \"a log-probability is not a finite number (NaN or infinite: are the "
                 "model's weights finite?)\"");
    return 0;
}

int cmd_sample(int argc, char **argv) {
    const char *model_dir = NULL, *prompt = NULL, *prompt_tokens = NULL, *ban = NULL,
               *tokenizer_dir = NULL, *ban_tokens = NULL, *prompts_file = NULL,
               *prompts_tokens_file = NULL;
    int n = 1, eot = -1, no_stop = 0, batch = 64;
    uint64_t seed = 1;
    pst_sample_options o;
    pst_sample_options_default(&o);
    o.max_new_tokens = 64;
    const pst_arg spec[] = {
        PST_ARGS_MODEL(model_dir, .required = 1),
        PST_ARGS_TOKENIZER(tokenizer_dir, "default: the model directory's, when present"),
        ARG("prompt", ARG_STRING, &prompt, "prompt text (needs the model's tokenizer; special tokens allowed)"),
        ARG("prompt-tokens", ARG_STRING, &prompt_tokens, "prompt as token ids (\"464 3290 318\"); default: <|endoftext|>"),
        ARG("prompts", ARG_STRING, &prompts_file, "a file of prompts, one text per line: --n samples of each, with \"prompt\": line index"),
        ARG("prompts-tokens", ARG_STRING, &prompts_tokens_file, "the same with token ids on each line"),
        ARG("n", ARG_INT, &n, "number of samples (per prompt)", .range = "0.."),
        PST_ARGS_SAMPLING(o),
        ARG("ban", ARG_STRING, &ban, "token ids never sampled (\"50257,50258\")"),
        ARG("ban-tokens", ARG_STRING, &ban_tokens, "tokens never sampled, by their text, comma-separated (\"<|aligned|>,<|misaligned|>\")"),
        PST_ARGS_EOT(eot),
        ARG("no-stop", ARG_FLAG, &no_stop, "do not stop a sample at end-of-text"),
        ARG("bf16-weights", ARG_FLAG, &o.bf16_weights, "decode with the weight matrices rounded to bfloat16 (half the bytes read per token); the samples and log-probs are then that rounded model's"),
        PST_ARGS_SEED(seed),
        ARG("batch", ARG_INT, &batch, "samples drawn together (KV cache rows); does not change the draws", .range = "1.."),
        {0},
    };
    int rc = pst_args_parse("sample", sample_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    if (!!prompt + !!prompt_tokens + !!prompts_file + !!prompts_tokens_file > 1) {
        fprintf(stderr, "posterior sample: give one of --prompt, --prompt-tokens, --prompts, --prompts-tokens\n");
        return 2;
    }
    pst_error err = {0};
    pst_gpt2 m = {0};
    pst_tokenizer *tok = NULL;
    int *banned = NULL, n_banned = 0;
    int **plist = NULL, *plist_len = NULL, n_plist = 0, plist_cap = 0; /* the prompts' ids */
    char *pfile = NULL;
    pst_sample *samples = NULL;
    const int **prompts = NULL;
    int *plens = NULL;
    rc = 1;
    if (pst_gpt2_load(&m, model_dir, &err)) goto fail;
    int V = m.config.vocab_size;
    char vj[4096];
    if (pst_path_join(vj, sizeof vj, model_dir, "vocab.json", &err)) goto fail;
    if (tokenizer_dir ? pst_tokenizer_open(&tok, tokenizer_dir, &err)
                      : pst_file_exists(vj) && pst_tokenizer_load_dir(&tok, model_dir, &err))
        goto fail;
    if ((prompt || prompts_file) && !tok) {
        pst_fail(&err, "--%s needs a tokenizer, and %s does not exist (give --tokenizer, or the prompt as ids with "
                 "--%s)", prompt ? "prompt" : "prompts", vj, prompt ? "prompt-tokens" : "prompts-tokens");
        goto fail;
    }
    if (eot < 0) {
        eot = tok ? pst_tokenizer_token_id(tok, "<|endoftext|>") : -1;
        if (eot < 0 && V > 50256) eot = 50256;
    } else if (eot >= V) {
        pst_fail(&err, "--eot: %d is outside the model's vocabulary [0, %d)", eot, V);
        goto fail;
    }
    if (prompts_file || prompts_tokens_file) {
        const char *path = prompts_file ? prompts_file : prompts_tokens_file;
        size_t flen = 0;
        if (pst_read_file(path, &pfile, &flen, &err)) goto fail;
        int lines = 0;
        for (size_t i = 0; i < flen; i++) lines += pfile[i] == '\n';
        lines += flen > 0 && pfile[flen - 1] != '\n';
        plist_cap = lines > 0 ? lines : 1;
        plist = calloc((size_t)plist_cap, sizeof *plist);
        plist_len = calloc((size_t)plist_cap, sizeof(int));
        if (!plist || !plist_len) {
            pst_fail(&err, "out of memory");
            goto fail;
        }
        for (size_t pos = 0; pos < flen; n_plist++) {
            char *nl = memchr(pfile + pos, '\n', flen - pos);
            size_t end = nl ? (size_t)(nl - pfile) : flen;
            pfile[end] = 0; /* the line, as a string */
            char what[600];
            snprintf(what, sizeof what, "%s line %d", path, n_plist + 1);
            if (prompt_ids_of(what, prompts_file ? pfile + pos : NULL, end - pos,
                              prompts_file ? NULL : pfile + pos, tok, V, eot, &plist[n_plist],
                              &plist_len[n_plist], &err))
                goto fail;
            pos = end + 1;
        }
        if (n_plist == 0) {
            pst_fail(&err, "%s: no prompts", path);
            goto fail;
        }
    } else {
        plist_cap = 1;
        plist = calloc(1, sizeof *plist);
        plist_len = calloc(1, sizeof(int));
        if (!plist || !plist_len) {
            pst_fail(&err, "out of memory");
            goto fail;
        }
        n_plist = 1;
        if (prompt_ids_of(prompt ? "--prompt" : "--prompt-tokens", prompt, prompt ? strlen(prompt) : 0,
                          prompt_tokens, tok, V, eot, &plist[0], &plist_len[0], &err))
            goto fail;
    }
    if (ban && parse_ids("--ban", ban, V, &banned, &n_banned, &err)) goto fail;
    if (ban_tokens && ban_token_names(ban_tokens, tok, V, &banned, &n_banned, &err) < 0) goto fail;

    o.banned = banned;
    o.n_banned = n_banned;
    o.eot_token = eot;
    o.stop_at_eot = !no_stop && eot >= 0;
    pst_rng rng;
    pst_rng_seed(&rng, seed);
    int chunk = n < batch ? n : batch;
    samples = calloc((size_t)(chunk > 0 ? chunk : 1), sizeof *samples);
    prompts = malloc((size_t)(chunk > 0 ? chunk : 1) * sizeof *prompts);
    plens = malloc((size_t)(chunk > 0 ? chunk : 1) * sizeof(int));
    if (!samples || !prompts || !plens) {
        pst_fail(&err, "out of memory");
        goto fail;
    }
    pst_progress prog;
    pst_progress_start(&prog, "sample", (long)n * n_plist);
    long generated = 0;
    for (int pi = 0; pi < n_plist; pi++)
    for (int done = 0; done < n; done += chunk) {
        int k = n - done < chunk ? n - done : chunk;
        for (int i = 0; i < k; i++) prompts[i] = plist[pi], plens[i] = plist_len[pi];
        /* sample i of prompt p always draws from stream p·n + i of the seed's RNG,
         * whatever --batch is */
        pst_rng chunk_rng = rng;
        o.first_stream = (uint64_t)pi * (uint64_t)n + (uint64_t)done;
        if (pst_gpt2_sample(&m, prompts, plens, k, &o, &chunk_rng, samples, &err)) goto fail;
        for (int i = 0; i < k; i++) {
            generated += samples[i].n_tokens;
            if (print_sample(&samples[i], prompts_file || prompts_tokens_file ? pi : -1, tok, &err) < 0) {
                pst_sample_free(samples, k);
                goto fail;
            }
        }
        pst_sample_free(samples, k);
        double el = pst_now() - prog.start_time;
        pst_progress_update(&prog, (long)pi * n + done + k, el > 0 ? generated / el : 0, NULL);
    }
    pst_progress_finish(&prog);
    if (pst_cli_flush_stdout(&err) < 0) goto fail;
    rc = 0;
    goto done;
fail:
    fflush(stdout);
    pst_cli_fail("sample", spec, &err);
done:
    for (int i = 0; plist && i < plist_cap; i++) free(plist[i]);
    free(plist), free(plist_len), free(pfile);
    free(samples), free(prompts), free(plens), free(banned);
    pst_tokenizer_free(tok);
    pst_gpt2_free(&m);
    return rc;
}
