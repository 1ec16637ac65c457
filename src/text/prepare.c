/* prepare: corpus -> documents -> segments -> tokens (+ segment scores) -> shards.
 *
 * Files are read in corpus order in chunks; the documents of a chunk are
 * segmented, tokenized and scored in parallel (OpenMP), then appended in order,
 * so the output does not depend on the thread count. Each document is
 * tokenized whole (ids identical to GPT-2's encoder on the document) and every
 * token is assigned to the segment holding its last byte. A document goes to
 * the validation shard iff u < val_fraction, u = uniform(split(pst_rng(seed), i))
 * for its corpus index i. Empty documents are counted and skipped.
 */
#include "posterior/corpus.h"
#include "posterior/shard.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int pst_document_is_val(uint64_t seed, uint64_t document_index, double val_fraction) {
    if (val_fraction <= 0) return 0;
    pst_rng base;
    pst_rng_seed(&base, seed);
    pst_rng r = pst_rng_split(&base, document_index);
    return pst_rng_uniform(&r) < val_fraction;
}

typedef struct {
    const char *text;
    size_t len;
    size_t file;        /* corpus file index, for error messages */
    uint32_t *ids;
    size_t n_ids;
    size_t *segment_ends; /* [n_segments] cumulative token counts */
    float *scores;        /* [n_segments] */
    size_t n_segments;
    int rc;
    pst_error err;
} doc_work;

static void doc_work_clear(doc_work *w) {
    free(w->ids);
    free(w->segment_ends);
    free(w->scores);
    w->ids = NULL;
    w->segment_ends = NULL;
    w->scores = NULL;
}

/* Segments, tokenizes and scores one document into w. token_len[id] is the
 * byte length of each token. */
static int process_document(pst_tokenizer *tok, const uint32_t *token_len, int vocab,
                            const pst_prepare_options *opt, doc_work *w) {
    pst_error *err = &w->err;
    pst_span *spans = NULL;
    size_t n_spans = 0;
    int *ids = NULL;
    size_t n_ids = 0;
    int rc = -1;
    if (w->len == 0) return 0;
    if (pst_segment(opt->segmenter, w->text, w->len, &spans, &n_spans, err)) goto done;
    if (pst_tokenizer_encode(tok, w->text, w->len, 0, &ids, &n_ids, err)) goto done;
    w->ids = pst_malloc((n_ids ? n_ids : 1) * sizeof *w->ids, err);
    w->segment_ends = pst_calloc(n_spans ? n_spans : 1, sizeof *w->segment_ends, err);
    w->scores = pst_malloc((n_spans ? n_spans : 1) * sizeof *w->scores, err);
    if (!w->ids || !w->segment_ends || !w->scores) goto done;
    /* token k covers bytes [pos, pos + token_len[id]); its segment holds byte pos + len - 1 */
    size_t pos = 0, s = 0;
    for (size_t k = 0; k < n_ids; k++) {
        if (ids[k] < 0 || ids[k] >= vocab) {
            pst_fail(err, "prepare: tokenizer produced id %d outside its vocabulary of %d", ids[k], vocab);
            goto done;
        }
        w->ids[k] = (uint32_t)ids[k];
        pos += token_len[ids[k]];
        while (s < n_spans && spans[s].end < pos) s++;
        if (s == n_spans || pos > w->len) {
            pst_fail(err, "prepare: tokens cover more than the document's %zu bytes", w->len);
            goto done;
        }
        w->segment_ends[s] = k + 1;
    }
    if (pos != w->len) {
        pst_fail(err, "prepare: tokens cover %zu of the document's %zu bytes", pos, w->len);
        goto done;
    }
    for (size_t i = 1; i < n_spans; i++) /* segments without a token of their own */
        if (w->segment_ends[i] < w->segment_ends[i - 1]) w->segment_ends[i] = w->segment_ends[i - 1];
    w->n_ids = n_ids;
    w->n_segments = n_spans;
    if (opt->score) {
        if (opt->score(opt->score_ctx, w->text, w->len, spans, n_spans, w->scores, err)) goto done;
    } else {
        for (size_t i = 0; i < n_spans; i++) w->scores[i] = NAN;
    }
    rc = 0;
done:
    free(spans);
    free(ids);
    return rc;
}

/* Byte length of every token (by decoding each id alone). */
static uint32_t *token_lengths(const pst_tokenizer *tok, int vocab, pst_error *err) {
    uint32_t *lens = pst_malloc((size_t)vocab * sizeof *lens, err);
    if (!lens) {
        return NULL;
    }
    for (int id = 0; id < vocab; id++) {
        char *text;
        size_t len;
        if (pst_tokenizer_decode(tok, &id, 1, &text, &len, err)) {
            free(lens);
            return NULL;
        }
        lens[id] = (uint32_t)len;
        free(text);
    }
    return lens;
}

#define CHUNK_BYTES (2u << 20) /* per parallel round; also the progress granularity */
#define CHUNK_FILES 1024u
#define ROUND_DOCS 4096u /* documents segmented / tokenized / scored in parallel at once */

/* PREFIX.train.bin and PREFIX.val.bin into train_path / val_path (4096 bytes each); the
 * prefix's folder is created (prepare --out runs/data/x with no runs/data yet). */
static int output_paths(const char *prefix, char *train_path, char *val_path, pst_error *err) {
    if (snprintf(train_path, 4096, "%s.train.bin", prefix) >= 4096 ||
        snprintf(val_path, 4096, "%s.val.bin", prefix) >= 4096)
        return pst_fail(err, "prepare: output prefix too long");
    const char *slash = strrchr(prefix, '/');
    if (slash && slash > prefix) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - prefix), prefix);
        if (pst_mkdir_p(dir, err)) return pst_fail_context(err, "prepare: the output folder");
    }
    return 0;
}

/* One prepare run: the corpus read a chunk of files at a time (lists), its documents
 * processed ROUND_DOCS at a time in parallel (work) and appended in corpus order to
 * the train or val shard; index is the corpus index of the next document. */
typedef struct {
    pst_tokenizer *tok;
    const pst_prepare_options *opt;
    pst_prepare_stats *stats;
    int vocab, eot, threads;
    uint32_t *token_len;
    pst_corpus *corpus;
    pst_shard_builder train, val;
    pst_document_list *lists; /* [CHUNK_FILES] */
    size_t n_lists;
    doc_work *work; /* [ROUND_DOCS] */
    uint64_t index;
} prepare_run;

/* The tokenizer's vocabulary size and end-of-text token. */
static int check_tokenizer(prepare_run *r, pst_error *err) {
    r->vocab = pst_tokenizer_vocab_size(r->tok);
    r->eot = pst_tokenizer_token_id(r->tok, "<|endoftext|>");
    if (r->vocab <= 0) return pst_fail(err, "prepare: tokenizer has an empty vocabulary");
    if (r->eot < 0) return pst_fail(err, "prepare: the tokenizer has no <|endoftext|> token");
    return 0;
}

/* The token lengths, the corpus, both shard builders and the buffers. */
static int prepare_open(prepare_run *r, pst_error *err) {
    const pst_prepare_options *opt = r->opt;
    uint32_t eot = (uint32_t)r->eot;
    uint64_t tok_hash;
    if (pst_tokenizer_hash(r->tok, &tok_hash, err)) return -1;
    if (!(r->token_len = token_lengths(r->tok, r->vocab, err))) return -1;
    if (pst_corpus_open(&r->corpus, opt->corpus, opt->format, opt->text_field, err)) return -1;
    const char *spec = opt->score && opt->scorer_spec ? opt->scorer_spec : "";
    r->threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
    if (pst_shard_builder_init(&r->train, (uint32_t)r->vocab, eot, tok_hash, spec, err) ||
        pst_shard_builder_init(&r->val, (uint32_t)r->vocab, eot, tok_hash, spec, err))
        return -1;
    r->lists = pst_calloc(CHUNK_FILES, sizeof *r->lists, err);
    r->work = r->lists ? pst_malloc(ROUND_DOCS * sizeof *r->work, err) : NULL;
    return r->work ? 0 : -1;
}

static void free_lists(prepare_run *r) {
    for (size_t i = 0; i < r->n_lists; i++) pst_document_list_free(&r->lists[i]);
    r->n_lists = 0;
}

static void prepare_close(prepare_run *r) {
    if (r->lists) free_lists(r);
    free(r->lists);
    free(r->work);
    pst_shard_builder_free(&r->train);
    pst_shard_builder_free(&r->val);
    pst_corpus_free(r->corpus);
    free(r->token_len);
}

/* Reads files from *f on into lists until CHUNK_FILES files or CHUNK_BYTES bytes;
 * *n_docs is the documents read. */
static int read_chunk(prepare_run *r, size_t *f, size_t *n_docs, pst_error *err) {
    size_t chunk_bytes = 0, n_files = pst_corpus_n_files(r->corpus);
    *n_docs = 0;
    while (*f < n_files && r->n_lists < CHUNK_FILES && chunk_bytes < CHUNK_BYTES) {
        pst_document_list *l = &r->lists[r->n_lists];
        if (pst_corpus_read(r->corpus, *f, l, err)) return -1;
        r->n_lists++;
        (*f)++;
        for (size_t d = 0; d < l->n; d++) chunk_bytes += l->docs[d].len;
        *n_docs += l->n;
    }
    return 0;
}

/* Appends a processed document to the train or val shard (pst_document_is_val) and
 * counts it; an empty one is only counted. */
static int append_document(prepare_run *r, const doc_work *w, pst_error *err) {
    pst_prepare_stats *stats = r->stats;
    stats->documents++;
    stats->bytes += w->len;
    if (w->n_ids == 0) {
        stats->empty_documents++;
        return 0;
    }
    int is_val = pst_document_is_val(r->opt->seed, r->index, r->opt->val_fraction);
    pst_shard_builder *b = is_val ? &r->val : &r->train;
    if (pst_shard_builder_add(b, w->ids, w->n_ids, w->segment_ends, w->scores, w->n_segments, r->index, err))
        return -1;
    stats->segments += w->n_segments;
    if (is_val) stats->val_documents++, stats->val_tokens += w->n_ids;
    else stats->train_documents++, stats->train_tokens += w->n_ids;
    return 0;
}

/* The first n_docs documents of the chunk read (its first file is corpus file f0), in
 * rounds of ROUND_DOCS: segmented, tokenized and scored in parallel, appended in
 * corpus order. */
static int process_chunk(prepare_run *r, size_t n_docs, size_t f0, pst_error *err) {
    doc_work *work = r->work;
    int failed = 0;
    size_t li = 0, ld = 0; /* next document: lists[li].docs[ld] */
    for (size_t r0 = 0; r0 < n_docs && !failed; r0 += ROUND_DOCS) {
        size_t nr = n_docs - r0 < ROUND_DOCS ? n_docs - r0 : ROUND_DOCS;
        for (size_t k = 0; k < nr; k++, ld++) {
            while (ld == r->lists[li].n) li++, ld = 0;
            memset(&work[k], 0, sizeof work[k]);
            work[k].text = r->lists[li].docs[ld].text;
            work[k].len = r->lists[li].docs[ld].len;
            work[k].file = f0 + li;
        }
#pragma omp parallel for schedule(dynamic, 1) num_threads(r->threads) if (nr > 1)
        for (size_t d = 0; d < nr; d++)
            work[d].rc = process_document(r->tok, r->token_len, r->vocab, r->opt, &work[d]);
        for (size_t d = 0; d < nr; d++, r->index++) {
            doc_work *w = &work[d];
            if (!failed && w->rc) {
                pst_fail(err, "%s: document %llu: %s", pst_corpus_file(r->corpus, w->file),
                         (unsigned long long)r->index, w->err.msg);
                failed = 1;
            }
            if (!failed && append_document(r, w, err)) failed = 1;
            doc_work_clear(w);
        }
    }
    return failed ? -1 : 0;
}

/* Every chunk of the corpus (up to max_documents), with progress. */
static int process_corpus(prepare_run *r, double t0, pst_error *err) {
    const pst_prepare_options *opt = r->opt;
    size_t n_files = pst_corpus_n_files(r->corpus);
    pst_progress progress;
    pst_progress_start(&progress, "prepare", (long)n_files);
    if (!opt->progress) progress.enabled = 0;
    int stop = 0;
    for (size_t f = 0; f < n_files && !stop;) {
        size_t f0 = f, n_docs;
        if (read_chunk(r, &f, &n_docs, err)) return -1;
        if (opt->max_documents && r->index + n_docs > opt->max_documents) {
            n_docs = (size_t)(opt->max_documents - r->index);
            stop = 1;
        }
        int rc = process_chunk(r, n_docs, f0, err);
        free_lists(r);
        if (rc) return -1;
        double el = pst_now() - t0;
        char extra[128];
        snprintf(extra, sizeof extra, "%llu docs  %.1f MB/s", (unsigned long long)r->stats->documents,
                 el > 0 ? r->stats->bytes / el / 1e6 : 0.0);
        pst_progress_update(&progress, (long)f, 0, extra);
    }
    pst_progress_finish(&progress);
    return 0;
}

int pst_prepare(pst_tokenizer *tok, const pst_prepare_options *opt, pst_prepare_stats *stats,
                pst_error *err) {
    memset(stats, 0, sizeof *stats);
    double t0 = pst_now();
    char train_path[4096], val_path[4096];
    if (!opt->out_prefix || !*opt->out_prefix) return pst_fail(err, "prepare: no output prefix");
    if (!(opt->val_fraction >= 0 && opt->val_fraction < 1))
        return pst_fail(err, "prepare: the validation fraction %g is outside [0, 1)", opt->val_fraction);
    prepare_run r = {.tok = tok, .opt = opt, .stats = stats};
    int rc = -1;
    if (check_tokenizer(&r, err) || output_paths(opt->out_prefix, train_path, val_path, err) ||
        prepare_open(&r, err) || process_corpus(&r, t0, err))
        goto done;
    if (stats->train_documents + stats->val_documents == 0) {
        pst_fail(err, "corpus %s holds no non-empty document (%llu documents read)",
                 pst_corpus_description(r.corpus), (unsigned long long)stats->documents);
        goto done;
    }
    if (pst_shard_builder_write(&r.train, train_path, PST_SPLIT_TRAIN, opt->seed, opt->val_fraction, err) ||
        pst_shard_builder_write(&r.val, val_path, PST_SPLIT_VAL, opt->seed, opt->val_fraction, err))
        goto done;
    stats->seconds = pst_now() - t0;
    rc = 0;
done:
    prepare_close(&r);
    return rc;
}
