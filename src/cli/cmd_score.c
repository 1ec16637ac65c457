/* posterior score --scorer SPEC [--segments sentence|line|document] [--jsonl] FILE...
 *
 * One JSON object per document on stdout:
 *   {"file": F, ["line": N,] "score": s, ["log_b": l|null,] ["features": [...],]
 *    ["segments": [{"start", "end", "score"}],]
 *    "findings": [{"type", "start", "end", "text", "rating"}]}
 * Offsets are bytes; a finding's text is cut at 200 bytes; rating is the
 * scorer's (toxicity: the cuss rating 1 or 2; others 1). log_b is printed for pointwise scorers only; null means
 * -inf (b = 0). features are printed for feature scorers (φ ∈ R^k, names on
 * stderr with --names). Without files, stdin is read. With --jsonl every
 * input line is a document {"text": ..., "context": ...}. Documents are scored
 * --batch at a time (one request burst for external: scorers), split over
 * --threads threads; the output keeps the input order. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/scorer.h"

static void print_double(double v) {
    char nb[32];
    fputs(pst_json_number(nb, v, 17), stdout); /* round-trips exactly; null when not finite */
}

static void print_quoted(const char *s, size_t n) {
    size_t qn;
    char *q = pst_json_quote(s, n, &qn);
    if (q) fwrite(q, 1, qn, stdout);
    else fputs("\"\"", stdout);
    free(q);
}

static void print_result(const pst_scorer *sc, const char *file, long line, const char *text,
                         const pst_score *r, int segmented) {
    printf("{\"file\": ");
    print_quoted(file, strlen(file));
    if (line > 0) printf(", \"line\": %ld", line);
    printf(", \"score\": ");
    print_double(r->score);
    if (pst_scorer_kind_of(sc) == PST_SCORER_POINTWISE) {
        printf(", \"log_b\": ");
        print_double(r->log_b);
    }
    if (pst_scorer_kind_of(sc) == PST_SCORER_FEATURES) {
        printf(", \"features\": [");
        for (size_t i = 0; i < r->n_features; i++) {
            if (i) printf(", ");
            print_double(r->features[i]);
        }
        printf("]");
    }
    if (segmented) {
        printf(", \"segments\": [");
        for (size_t i = 0; i < r->n_segments; i++) {
            printf("%s{\"start\": %zu, \"end\": %zu, \"score\": ", i ? ", " : "",
                   r->segments[i].start, r->segments[i].end);
            print_double(r->segment_scores[i]);
            printf("}");
        }
        printf("]");
    }
    printf(", \"findings\": [");
    for (size_t i = 0; i < r->n_findings; i++) {
        const pst_finding *f = &r->findings[i];
        printf("%s{\"type\": ", i ? ", " : "");
        print_quoted(f->type, strlen(f->type));
        printf(", \"start\": %zu, \"end\": %zu, \"text\": ", f->start, f->end);
        size_t n = f->end - f->start;
        print_quoted(text + f->start, n > 200 ? 200 : n);
        printf(", \"rating\": ");
        print_double(f->rating);
        printf("}");
    }
    printf("]}\n");
}

typedef struct {
    char **texts;
    size_t *lens;
    char **contexts;
    long *lines;
    const char **files; /* labels, not owned */
    size_t n, cap;
} doc_batch;

static void batch_reset(doc_batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        free(b->texts[i]);
        free(b->contexts[i]);
    }
    b->n = 0;
}

static void batch_free(doc_batch *b) {
    batch_reset(b);
    free(b->texts);
    free(b->lens);
    free(b->contexts);
    free(b->lines);
    free(b->files);
}

static int batch_push(doc_batch *b, const char *file, char *text, size_t len, char *ctx, long line) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        char **t = realloc(b->texts, cap * sizeof *t);
        if (t) b->texts = t;
        size_t *l = t ? realloc(b->lens, cap * sizeof *l) : NULL;
        if (l) b->lens = l;
        char **c = l ? realloc(b->contexts, cap * sizeof *c) : NULL;
        if (c) b->contexts = c;
        long *ln = c ? realloc(b->lines, cap * sizeof *ln) : NULL;
        if (ln) b->lines = ln;
        const char **fl = ln ? realloc(b->files, cap * sizeof *fl) : NULL;
        if (!fl) return -1;
        b->files = fl;
        b->cap = cap;
    }
    b->files[b->n] = file;
    b->texts[b->n] = text;
    b->lens[b->n] = len;
    b->contexts[b->n] = ctx;
    b->lines[b->n] = line;
    b->n++;
    return 0;
}

/* Scores the batch (in chunks on `threads` threads; output keeps the input
 * order) and prints one object per document. */
static int flush(pst_scorer *sc, doc_batch *b, const pst_score_options *opt, int threads) {
    if (b->n == 0) return 0;
    size_t n = b->n;
    pst_score *r = calloc(n, sizeof *r);
    if (!r) {
        fprintf(stderr, "posterior score: out of memory\n");
        batch_reset(b);
        return -1;
    }
    int has_ctx = 0;
    for (size_t i = 0; i < n; i++) has_ctx |= b->contexts[i] != NULL;
    size_t chunk = threads > 1 ? (n + 4 * (size_t)threads - 1) / (4 * (size_t)threads) : n;
    long n_chunks = (long)((n + chunk - 1) / chunk);
    long failed = -1; /* first chunk that failed */
    pst_error first_err = {0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 1 ? threads : 1)
    for (long c = 0; c < n_chunks; c++) {
        size_t a = (size_t)c * chunk, m = a + chunk > n ? n - a : chunk;
        pst_error err;
        if (pst_scorer_score(sc, m, (const char *const *)b->texts + a, b->lens + a,
                             has_ctx ? (const char *const *)b->contexts + a : NULL, opt, r + a,
                             &err) < 0) {
#pragma omp critical(score_error)
            if (failed < 0 || c < failed) {
                failed = c;
                first_err = err;
            }
        }
    }
    int rc = 0;
    if (failed >= 0) {
        /* the chunk's documents: lines A-B of one file, or files A .. B */
        size_t a = (size_t)failed * chunk, z = a + chunk > n ? n - 1 : a + chunk - 1;
        if (b->lines[a] > 0)
            fprintf(stderr, "posterior score: %s:%ld-%ld: %s\n", b->files[a], b->lines[a],
                    b->lines[z], first_err.msg);
        else if (z > a)
            fprintf(stderr, "posterior score: %s .. %s (%zu files): %s\n", b->files[a], b->files[z],
                    z - a + 1, first_err.msg);
        else
            fprintf(stderr, "posterior score: %s: %s\n", b->files[a], first_err.msg);
        rc = -1;
    } else {
        for (size_t i = 0; i < n; i++)
            print_result(sc, b->files[i], b->lines[i], b->texts[i], &r[i], opt->segmented);
    }
    for (size_t i = 0; i < n; i++) pst_score_clear(&r[i]);
    free(r);
    batch_reset(b);
    fflush(stdout);
    return rc;
}

/* --jsonl: each non-empty line is {"text": "...", "context": "..."}. */
static int score_jsonl(pst_scorer *sc, const char *file, char *data, size_t len,
                       const pst_score_options *opt, int batch, int threads) {
    doc_batch b = {0};
    int rc = 0;
    long line_no = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        line_no++;
        size_t a = pos;
        pos = end + 1;
        while (a < end && (data[a] == ' ' || data[a] == '\t' || data[a] == '\r')) a++;
        if (a == end) continue;
        cJSON *j = cJSON_ParseWithLength(data + a, end - a);
        cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
        cJSON *c = j ? cJSON_GetObjectItemCaseSensitive(j, "context") : NULL;
        if (!cJSON_IsString(t) || (c && !cJSON_IsString(c) && !cJSON_IsNull(c))) {
            fprintf(stderr, "posterior score: %s:%ld: expected a JSON object with a string "
                    "\"text\" (and optional string \"context\")\n", file, line_no);
            cJSON_Delete(j);
            rc = -1;
            break;
        }
        char *text = strdup(t->valuestring);
        char *ctx = cJSON_IsString(c) ? strdup(c->valuestring) : NULL;
        cJSON_Delete(j);
        if (!text || (cJSON_IsString(c) && !ctx) || batch_push(&b, file, text, strlen(text), ctx, line_no) < 0) {
            fprintf(stderr, "posterior score: out of memory\n");
            free(text);
            free(ctx);
            rc = -1;
            break;
        }
        if ((int)b.n >= batch) rc = flush(sc, &b, opt, threads);
    }
    if (rc == 0) rc = flush(sc, &b, opt, threads);
    batch_free(&b);
    return rc;
}

static const char score_summary[] =
    "Score documents with a scorer; one JSON object per document.\n"
    "Reads FILE... (each file one document; - or none: stdin).";

int cmd_score(int argc, char **argv) {
    const char *spec = NULL, *segments = NULL;
    int jsonl = 0, no_findings = 0, batch = 64, names = 0, threads = 1;
    double timeout = 60;
    const pst_arg args[] = {
        ARG("scorer", ARG_STRING, &spec, "scorer spec: pep8, pii, toxicity, contains:W, regex:P, "
                                      "length:MIN:MAX, features:FILE, external:CMD, not:S, "
                                      "below:T:S, above:T:S, python-compiles, A&B; with contexts (--jsonl): numbers-copied, "
                                      "entities-from-context[:K], pep8-clean (docs/evidence.md)", .required = 1),
        ARG("segments", ARG_STRING, &segments, "also score segments: sentence | line | document"),
        ARG("jsonl", ARG_FLAG, &jsonl, "input lines are JSON objects {\"text\", \"context\"}"),
        ARG("no-findings", ARG_FLAG, &no_findings, "omit findings (faster)"),
        ARG("names", ARG_FLAG, &names, "print the feature names on stderr first"),
        ARG("batch", ARG_INT, &batch, "documents (files, or lines with --jsonl) scored together", .range = "1.."),
        ARG("threads", ARG_INT, &threads, "threads scoring the documents of a batch", .range = "1.."),
        ARG("timeout", ARG_DOUBLE, &timeout, "seconds per batch for external: scorers"),
        {0},
    };
    int npos = 0;
    int pr = pst_args_parse("score", score_summary, args, argc, argv, &npos);
    if (pr != PST_ARGS_RUN) return pr;
    if (!(timeout > 0)) {
        fprintf(stderr, "posterior score: --timeout: must be positive, got %g\n", timeout);
        return 2;
    }
    pst_error err;
    pst_score_options opt = {0, PST_SEGMENT_DOCUMENT, !no_findings};
    if (segments) {
        if (pst_segmenter_parse(segments, &opt.segmenter, &err) < 0) {
            fprintf(stderr, "posterior score: --segments: %s\n", err.msg);
            return 2;
        }
        opt.segmented = 1;
    }
    pst_scorer *sc;
    if (pst_scorer_create_timeout(spec, timeout, &sc, &err) < 0) {
        fprintf(stderr, "posterior score: --scorer: %s\n", err.msg);
        return 2;
    }
    if (names)
        for (size_t i = 0; i < pst_scorer_n_features(sc); i++)
            fprintf(stderr, "feature %zu: %s\n", i, pst_scorer_feature_name(sc, i));
    int status = 0;
    const char *stdin_only[] = {"-"};
    const char *const *files = npos ? (const char *const *)argv : stdin_only;
    int nfiles = npos ? npos : 1;
    doc_batch b = {0}; /* without --jsonl: files, --batch at a time */
    for (int f = 0; f < nfiles; f++) {
        const char *path = strcmp(files[f], "-") == 0 ? "/dev/stdin" : files[f];
        const char *label = strcmp(files[f], "-") == 0 ? "<stdin>" : files[f];
        char *data;
        size_t len;
        if (pst_read_file(path, &data, &len, &err) < 0) {
            pst_cli_fail("score", args, &err);
            status = 1;
            continue;
        }
        if (jsonl) {
            if (score_jsonl(sc, label, data, len, &opt, batch, threads) < 0) status = 1;
            free(data);
        } else if (batch_push(&b, label, data, len, NULL, 0) < 0) {
            fprintf(stderr, "posterior score: out of memory\n");
            free(data);
            status = 1;
        } else if ((int)b.n >= batch && flush(sc, &b, &opt, threads) < 0) {
            status = 1;
        }
    }
    if (flush(sc, &b, &opt, threads) < 0) status = 1;
    batch_free(&b);
    pst_scorer_free(sc);
    return status;
}
