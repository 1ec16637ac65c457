/* posterior logprob: score sequences under a model.
 *
 * One sequence per stdin line (token ids with --tokens, else text tokenized with the
 * model directory's tokenizer); one JSON object per line on stdout:
 *   {"logprob": S, "token_logprobs": [l1, ..., l(n-1)]}
 * l_i = log π(token_i | token_0 .. token_(i-1)), S = Σ l_i (natural log). With --bos the
 * end-of-text token is prepended as context, so every token of the line is scored. */
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
#include "posterior/tokenizer.h"

typedef struct {
    int *ids;
    int n, cap;
} id_list;

static int id_push(id_list *l, int v) {
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        int *p = realloc(l->ids, (size_t)nc * sizeof(int));
        if (!p) return -1;
        l->ids = p, l->cap = nc;
    }
    l->ids[l->n++] = v;
    return 0;
}

/* Whitespace-separated ids of one line; each must be in [0, V). */
static int parse_line_ids(const char *s, long line, int V, id_list *out, pst_error *err) {
    out->n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || (*end && *end != ' ' && *end != '\t' && *end != '\r' && *end != '\n')) {
            int k = 0;
            while (s[k] && s[k] != ' ' && s[k] != '\t' && s[k] != '\n' && k < 40) k++;
            return pst_fail(err, "stdin line %ld: '%.*s' is not a token id", line, k, s);
        }
        if (v < 0 || v >= V)
            return pst_fail(err, "stdin line %ld: token id %ld is outside the model's vocabulary [0, %d)",
                            line, v, V);
        if (id_push(out, (int)v)) return pst_fail(err, "stdin line %ld: out of memory", line);
        s = end;
    }
    return 0;
}

/* Scores n sequences and prints one JSON line each; skip = tokens of context per sequence
 * (0 or 1 with --bos) whose own log-prob is not reported. */
static int score_and_print(pst_gpt2 *m, id_list *seqs, const long *lines, int n, int skip,
                           pst_error *err) {
    const int **ptr = malloc((size_t)n * sizeof *ptr);
    int *lens = malloc((size_t)n * sizeof(int)), *plens = malloc((size_t)n * sizeof(int));
    double *lp = malloc((size_t)n * sizeof(double));
    float **tok_lp = calloc((size_t)n, sizeof *tok_lp);
    int rc = -1, k = 0;
    int *idx = malloc((size_t)n * sizeof(int));
    if (!ptr || !lens || !plens || !lp || !tok_lp || !idx) {
        pst_fail(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (seqs[i].n > m->config.n_positions) {
            pst_fail(err, "stdin line %ld: %d tokens%s, more than the model's n_positions %d",
                     lines[i], seqs[i].n, skip ? " with --bos" : "", m->config.n_positions);
            goto done;
        }
        if (seqs[i].n == 0) continue; /* empty line: nothing to score */
        ptr[k] = seqs[i].ids, lens[k] = seqs[i].n, plens[k] = 1, idx[k] = i;
        k++;
    }
    if (k && pst_gpt2_score(m, ptr, lens, plens, k, lp, tok_lp, err)) goto done;
    for (int i = 0, j = 0; i < n; i++) {
        int has = j < k && idx[j] == i;
        double s = 0;
        char nb[32];
        int nt = has ? lens[j] - 1 : 0;
        /* S = Σ of the printed values; JSON has no NaN/inf: null and a reason */
        for (int t = 0; t < nt; t++) s += tok_lp[j][t];
        printf("{\"logprob\": %s, \"token_logprobs\": [", pst_json_number(nb, s, 9));
        for (int t = 0; t < nt; t++) printf("%s%s", t ? ", " : "", pst_json_number(nb, tok_lp[j][t], 9));
        fputs(isfinite(s) ? "]}\n"
                          : "], \"reason\": \"the model gave a log-probability that is not a finite number "
                            "(NaN or infinite: are its weights finite?)\"}\n",
              stdout);
        j += has;
    }
    rc = 0;
done:
    for (int i = 0; i < k && tok_lp; i++) free(tok_lp[i]);
    free(ptr), free(lens), free(plens), free(lp), free(tok_lp), free(idx);
    return rc;
}

/* The tokenizer logprob needs: --tokenizer, else the model directory's (text mode, or
 * --bos without --eot when the model has one); NULL in token mode without them. */
static int open_tokenizer(const char *model_dir, const char *tokenizer_dir, int tokens_mode, int need_eot,
                          pst_tokenizer **tok, pst_error *err) {
    if (tokenizer_dir) return pst_tokenizer_open(tok, tokenizer_dir, err);
    if (tokens_mode && !need_eot) return 0;
    char vj[4096];
    if (pst_path_join(vj, sizeof vj, model_dir, "vocab.json", err)) return -1;
    if (tokens_mode && !pst_file_exists(vj)) return 0;
    if (pst_tokenizer_load_dir(tok, model_dir, err)) {
        if (!tokens_mode) pst_fail_context(err, "text mode needs the model's tokenizer (or use --tokens)");
        return -1;
    }
    return 0;
}

/* Appends the token ids of one stdin line (line lineno, got bytes) to s: parsed ids
 * (--tokens) or the tokenizer's encoding, each inside the vocabulary [0, V). */
static int read_sequence(const char *line, size_t got, long lineno, int tokens_mode, pst_tokenizer *tok,
                         int allow_special, int V, id_list *s, pst_error *err) {
    int *ids = NULL;
    size_t nid = 0;
    if (tokens_mode) {
        id_list tmp = {0};
        if (parse_line_ids(line, lineno, V, &tmp, err)) {
            free(tmp.ids);
            return -1;
        }
        ids = tmp.ids, nid = (size_t)tmp.n;
    } else if (pst_tokenizer_encode(tok, line, got, allow_special, &ids, &nid, err)) {
        return pst_fail_context(err, "stdin line %ld", lineno);
    }
    int rc = 0;
    for (size_t i = 0; i < nid && rc == 0; i++) {
        if (ids[i] >= V)
            rc = pst_fail(err, "stdin line %ld: token id %d is outside the model's vocabulary [0, %d)", lineno,
                          ids[i], V);
        else if (id_push(s, ids[i]))
            rc = pst_fail(err, "out of memory");
    }
    free(ids);
    return rc;
}

static const char logprob_summary[] =
    "Reads one sequence per line on stdin and writes, per line,\n"
    "{\"logprob\": S, \"token_logprobs\": [l1, ..., l(n-1)]} with l_i = log p(token_i | token_0..i-1).";

int cmd_logprob(int argc, char **argv) {
    const char *model_dir = NULL, *tokenizer_dir = NULL;
    int tokens_mode = 0, batch = 32, bos = 0, eot = -1, allow_special = 0;
    const pst_arg spec[] = {
        PST_ARGS_MODEL(model_dir, .required = 1),
        PST_ARGS_TOKENIZER(tokenizer_dir, "default: the model directory's"),
        ARG("tokens", ARG_FLAG, &tokens_mode, "lines are whitespace-separated token ids (default: text)"),
        ARG("bos", ARG_FLAG, &bos, "prepend the end-of-text token as context, so the first token is scored too"),
        PST_ARGS_EOT(eot),
        ARG("allow-special", ARG_FLAG, &allow_special, "text mode: special tokens such as <|endoftext|> become their ids"),
        ARG("batch", ARG_INT, &batch, "lines scored per forward pass", .range = "1.."),
        {0},
    };
    int rc = pst_args_parse("logprob", logprob_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    pst_error err = {0};
    pst_gpt2 m = {0};
    pst_tokenizer *tok = NULL;
    id_list *seqs = calloc((size_t)batch, sizeof *seqs);
    long *lines = calloc((size_t)batch, sizeof(long));
    char *line = NULL;
    size_t cap = 0;
    rc = 1;
    if (!seqs || !lines) {
        pst_fail(&err, "out of memory");
        goto fail;
    }
    if (pst_gpt2_load(&m, model_dir, &err)) goto fail;
    int V = m.config.vocab_size;
    if (open_tokenizer(model_dir, tokenizer_dir, tokens_mode, bos && eot < 0, &tok, &err)) goto fail;
    if (bos && eot < 0) {
        eot = tok ? pst_tokenizer_token_id(tok, "<|endoftext|>") : 50256;
        if (eot < 0) eot = 50256;
    }
    if (bos && (eot < 0 || eot >= V)) {
        pst_fail(&err, "--bos: end-of-text id %d is outside the model's vocabulary [0, %d); pass --eot", eot, V);
        goto fail;
    }
    long lineno = 0;
    int n = 0;
    for (;;) {
        ssize_t got = getline(&line, &cap, stdin);
        if (got >= 0) {
            lineno++;
            if (got > 0 && line[got - 1] == '\n') line[--got] = 0;
            id_list *s = &seqs[n];
            s->n = 0;
            if (bos && id_push(s, eot)) {
                pst_fail(&err, "out of memory");
                goto fail;
            }
            if (read_sequence(line, (size_t)got, lineno, tokens_mode, tok, allow_special, V, s, &err)) goto fail;
            lines[n++] = lineno;
        }
        if (n == batch || (got < 0 && n > 0)) {
            if (score_and_print(&m, seqs, lines, n, bos, &err)) goto fail;
            n = 0;
        }
        if (got < 0) break;
    }
    if (ferror(stdin)) {
        pst_fail(&err, "error reading stdin");
        goto fail;
    }
    if (pst_cli_flush_stdout(&err) < 0) goto fail;
    rc = 0;
    goto done;
fail:
    fflush(stdout);
    pst_cli_fail("logprob", spec, &err);
done:
    for (int i = 0; seqs && i < batch; i++) free(seqs[i].ids);
    free(seqs), free(lines), free(line);
    pst_tokenizer_free(tok);
    pst_gpt2_free(&m);
    return rc;
}
