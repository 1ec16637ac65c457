/* posterior data info SHARD: what a token shard holds (counts, vocabulary,
 * scorer, document lengths, score histogram), as text or --json.
 * posterior data show SHARD: its documents decoded, segment by segment. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/corpus.h"
#include "posterior/shard.h"

#define MAX_BINS 100

static const char *split_name(uint32_t split) {
    return split == PST_SPLIT_TRAIN ? "train" : split == PST_SPLIT_VAL ? "val" : "all";
}

/* What data info reports of a shard: document lengths in tokens, and of the segment
 * scores the counts, range, mean, token-weighted mean and a histogram of `bins` bins. */
typedef struct {
    uint64_t min_len, max_len;
    uint64_t scored, unscored;
    double lo, hi, mean, tok_mean, width;
    int bins;
    uint64_t hist[MAX_BINS];
} shard_summary;

static void summarise_shard(const pst_shard *s, int bins, shard_summary *m) {
    memset(m, 0, sizeof *m);
    m->bins = bins;
    m->min_len = UINT64_MAX;
    for (uint64_t d = 0; d < s->n_documents; d++) {
        uint64_t n = pst_shard_document_end(s, d) - pst_shard_document_start(s, d);
        if (n < m->min_len) m->min_len = n;
        if (n > m->max_len) m->max_len = n;
    }
    if (!s->n_documents) m->min_len = 0;
    /* scores: count, NaN, range, mean; token-weighted mean */
    double lo = INFINITY, hi = -INFINITY, sum = 0, tok_sum = 0, tok_n = 0;
    for (uint64_t i = 0; i < s->n_segments; i++) {
        float v = s->segment_scores[i];
        if (isnan(v)) {
            m->unscored++;
            continue;
        }
        m->scored++;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        sum += v;
        double nt = (double)(s->segment_offsets[i + 1] - s->segment_offsets[i]);
        tok_sum += v * nt;
        tok_n += nt;
    }
    double width = m->scored && hi > lo ? (hi - lo) / bins : 0;
    for (uint64_t i = 0; i < s->n_segments && m->scored; i++) {
        float v = s->segment_scores[i];
        if (isnan(v)) continue;
        int b = width > 0 ? (int)((v - lo) / width) : 0;
        if (b >= bins) b = bins - 1;
        if (b < 0) b = 0;
        m->hist[b]++;
    }
    m->lo = lo, m->hi = hi, m->width = width;
    m->mean = m->scored ? sum / m->scored : NAN;
    m->tok_mean = tok_n > 0 ? tok_sum / tok_n : NAN;
}

static void print_info_json(const pst_shard *s, const shard_summary *m) {
    cJSON *o = cJSON_CreateObject();
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)s->tokenizer_hash);
    cJSON_AddStringToObject(o, "path", s->path);
    cJSON_AddNumberToObject(o, "version", s->version);
    cJSON_AddNumberToObject(o, "vocab_size", s->vocab_size);
    cJSON_AddNumberToObject(o, "eot_id", s->eot_id);
    cJSON_AddNumberToObject(o, "token_bytes", s->token_bytes);
    cJSON_AddStringToObject(o, "tokenizer_hash", hash);
    cJSON_AddNumberToObject(o, "tokens", (double)s->n_tokens);
    cJSON_AddNumberToObject(o, "documents", (double)s->n_documents);
    cJSON_AddNumberToObject(o, "segments", (double)s->n_segments);
    cJSON_AddStringToObject(o, "split", split_name(s->split));
    cJSON_AddNumberToObject(o, "split_seed", (double)s->split_seed);
    cJSON_AddNumberToObject(o, "val_fraction", s->val_fraction);
    if (s->scorer[0]) cJSON_AddStringToObject(o, "scorer", s->scorer);
    else cJSON_AddNullToObject(o, "scorer");
    cJSON_AddNumberToObject(o, "min_document_tokens", (double)m->min_len);
    cJSON_AddNumberToObject(o, "max_document_tokens", (double)m->max_len);
    cJSON_AddNumberToObject(o, "mean_document_tokens", s->n_documents ? (double)s->n_tokens / s->n_documents : 0);
    cJSON *sc = cJSON_AddObjectToObject(o, "scores");
    cJSON_AddNumberToObject(sc, "scored", (double)m->scored);
    cJSON_AddNumberToObject(sc, "unscored", (double)m->unscored);
    if (m->scored) {
        cJSON_AddNumberToObject(sc, "min", m->lo);
        cJSON_AddNumberToObject(sc, "max", m->hi);
        cJSON_AddNumberToObject(sc, "mean", m->mean);
        cJSON_AddNumberToObject(sc, "token_weighted_mean", m->tok_mean);
        cJSON *h = cJSON_AddArrayToObject(sc, "histogram");
        for (int b = 0; b < m->bins; b++) {
            cJSON *bin = cJSON_CreateObject();
            cJSON_AddNumberToObject(bin, "lo", m->lo + b * m->width);
            cJSON_AddNumberToObject(bin, "hi", b == m->bins - 1 ? m->hi : m->lo + (b + 1) * m->width);
            cJSON_AddNumberToObject(bin, "count", (double)m->hist[b]);
            cJSON_AddItemToArray(h, bin);
        }
    }
    char *js = cJSON_PrintUnformatted(o);
    if (js) printf("%s\n", js);
    free(js);
    cJSON_Delete(o);
}

static void print_info_text(const pst_shard *s, const shard_summary *m) {
    printf("shard        %s\n", s->path);
    printf("format       version %u, %u-byte token ids\n", s->version, s->token_bytes);
    printf("vocabulary   %u tokens, <|endoftext|> = %u, tokenizer hash %016llx\n", s->vocab_size,
           s->eot_id, (unsigned long long)s->tokenizer_hash);
    printf("split        %s (val fraction %g, seed %llu)\n", split_name(s->split), s->val_fraction,
           (unsigned long long)s->split_seed);
    printf("tokens       %llu\n", (unsigned long long)s->n_tokens);
    printf("documents    %llu (tokens per document: min %llu, mean %.1f, max %llu)\n",
           (unsigned long long)s->n_documents, (unsigned long long)m->min_len,
           s->n_documents ? (double)s->n_tokens / s->n_documents : 0.0, (unsigned long long)m->max_len);
    printf("segments     %llu\n", (unsigned long long)s->n_segments);
    printf("scorer       %s\n", s->scorer[0] ? s->scorer : "(none: unscored)");
    printf("scores       %llu scored, %llu unscored", (unsigned long long)m->scored,
           (unsigned long long)m->unscored);
    if (!m->scored) {
        printf("\n");
        return;
    }
    printf(", min %.6g, mean %.6g, max %.6g, token-weighted mean %.6g\n", m->lo, m->mean, m->hi, m->tok_mean);
    uint64_t peak = 1;
    for (int b = 0; b < m->bins; b++) peak = m->hist[b] > peak ? m->hist[b] : peak;
    for (int b = 0; b < m->bins; b++) {
        char bar[41];
        int w = (int)((double)m->hist[b] / peak * 40 + 0.5);
        memset(bar, '#', (size_t)w);
        bar[w] = 0;
        printf("  [%11.5g, %11.5g%c %10llu  %s\n", m->lo + b * m->width,
               b == m->bins - 1 ? m->hi : m->lo + (b + 1) * m->width, b == m->bins - 1 ? ']' : ')',
               (unsigned long long)m->hist[b], bar);
    }
}

/* data info and data show take one SHARD argument: the usage error otherwise (exit 2). */
static int one_shard_expected(const char *cmd, int npos) {
    fprintf(stderr, "posterior %s: expected one SHARD argument (got %d)\n", cmd, npos);
    return 2;
}

static const char data_info_summary[] =
    "posterior data info SHARD: counts, vocabulary, scorer and a\n"
    "histogram of the segment scores of a token shard.";

static int data_info(int argc, char **argv) {
    int json = 0, bins = 10;
    const char *tokenizer = NULL;
    const pst_arg spec[] = {
        ARG("json", ARG_FLAG, &json, "print one JSON object instead of text"),
        PST_ARGS_TOKENIZER(tokenizer, "check the shard against it: exit 1 on a mismatch"),
        ARG("bins", ARG_INT, &bins, "bins of the score histogram", .range = "1..100"),
        {0},
    };
    int npos = 0;
    int rc = pst_args_parse("data info", data_info_summary, spec, argc, argv, &npos);
    if (rc != PST_ARGS_RUN) return rc;
    if (npos != 1) return one_shard_expected("data info", npos);
    pst_shard s;
    pst_error err = {0};
    if (pst_shard_open(&s, argv[0], &err)) {
        pst_cli_fail("data info", spec, &err);
        return 1;
    }
    if (tokenizer) { /* the vocabulary must be the tokenizer's: same size, same token bytes */
        pst_tokenizer *tok = NULL;
        uint64_t hash = 0;
        int bad = pst_tokenizer_open(&tok, tokenizer, &err) || pst_tokenizer_hash(tok, &hash, &err) ||
                  pst_shard_check_vocab(&s, pst_tokenizer_vocab_size(tok), hash, &err);
        pst_tokenizer_free(tok);
        if (bad) {
            pst_cli_fail("data info", spec, &err);
            pst_shard_close(&s);
            return 1;
        }
    }
    shard_summary m;
    summarise_shard(&s, bins, &m);
    if (json) print_info_json(&s, &m);
    else print_info_text(&s, &m);
    pst_shard_close(&s);
    return 0;
}

/* posterior data show SHARD: documents decoded, one JSON object per segment
 * ({"document", "source", "segment", "score", "text"}) or, as text, each segment
 * on its own line prefixed by its score. */
static const char data_show_summary[] =
    "posterior data show SHARD: documents of a shard, decoded, segment by\n"
    "segment with their scores.";

static int data_show(int argc, char **argv) {
    const char *tokenizer = "gpt2";
    long first = 0, count = 1;
    int json = 0;
    const pst_arg spec[] = {
        PST_ARGS_TOKENIZER(tokenizer, "the shard's (default: gpt2)"),
        ARG("doc", ARG_LONG, &first, "first document (index in the shard)", .range = "0.."),
        ARG("count", ARG_LONG, &count, "number of documents", .range = "0.."),
        ARG("json", ARG_FLAG, &json, "one JSON object per segment"),
        {0},
    };
    int npos = 0;
    int rc = pst_args_parse("data show", data_show_summary, spec, argc, argv, &npos);
    if (rc != PST_ARGS_RUN) return rc;
    if (npos != 1) return one_shard_expected("data show", npos);
    pst_shard s;
    pst_tokenizer *tok = NULL;
    pst_error err = {0};
    if (pst_shard_open(&s, argv[0], &err)) {
        pst_cli_fail("data show", spec, &err);
        return 1;
    }
    uint64_t hash = 0;
    if (pst_tokenizer_open(&tok, tokenizer, &err) || pst_tokenizer_hash(tok, &hash, &err) ||
        pst_shard_check_vocab(&s, pst_tokenizer_vocab_size(tok), hash, &err)) {
        pst_cli_fail("data show", spec, &err);
        pst_tokenizer_free(tok);
        pst_shard_close(&s);
        return 1;
    }
    if ((uint64_t)first >= s.n_documents && count > 0) {
        fprintf(stderr, "posterior data show: %s: --doc %ld, the shard has %llu documents\n", s.path, first,
                (unsigned long long)s.n_documents);
        pst_tokenizer_free(tok);
        pst_shard_close(&s);
        return 1;
    }
    rc = 0;
    for (uint64_t d = (uint64_t)first; d < s.n_documents && d < (uint64_t)first + (uint64_t)count && !rc; d++) {
        for (uint64_t g = s.document_segments[d]; g < s.document_segments[d + 1] && !rc; g++) {
            uint64_t a = s.segment_offsets[g], z = s.segment_offsets[g + 1];
            int *ids = malloc(sizeof(int) * (z - a + 1));
            char *text = NULL;
            size_t len = 0;
            if (!ids) {
                rc = pst_fail(&err, "out of memory");
                break;
            }
            for (uint64_t t = a; t < z; t++) ids[t - a] = (int)pst_shard_token(&s, t);
            rc = pst_tokenizer_decode(tok, ids, z - a, &text, &len, &err);
            free(ids);
            if (rc) break;
            float score = s.segment_scores[g];
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "document", (double)d);
                cJSON_AddNumberToObject(o, "source", (double)s.document_source[d]);
                cJSON_AddNumberToObject(o, "segment", (double)g);
                if (isnan(score)) cJSON_AddNullToObject(o, "score");
                else cJSON_AddNumberToObject(o, "score", score);
                cJSON_AddNumberToObject(o, "tokens", (double)(z - a));
                /* cJSON strings end at NUL: such bytes are shown as "?" */
                for (size_t i = 0; i < len; i++)
                    if (!text[i]) text[i] = '?';
                cJSON_AddStringToObject(o, "text", text);
                char *js = cJSON_PrintUnformatted(o);
                if (js) printf("%s\n", js);
                free(js);
                cJSON_Delete(o);
            } else {
                if (g == s.document_segments[d])
                    printf("== document %llu (corpus document %llu)\n", (unsigned long long)d,
                           (unsigned long long)s.document_source[d]);
                if (isnan(score)) printf("%10s | ", "-");
                else printf("%10.4g | ", score);
                fwrite(text, 1, len, stdout);
                if (!len || text[len - 1] != '\n') printf("\n");
            }
            free(text);
        }
    }
    if (rc) pst_cli_fail("data show", spec, &err);
    pst_tokenizer_free(tok);
    pst_shard_close(&s);
    return rc ? 1 : 0;
}

int cmd_data(int argc, char **argv) {
    const pst_subcommand subs[] = {{"info", data_info}, {"show", data_show}, {0}};
    return pst_subcommand_run("data",
                              "usage: posterior data info SHARD [--json] [--bins N] [--tokenizer DIR]\n"
                              "       posterior data show SHARD [--doc I] [--count N] [--json] [--tokenizer DIR]\n\n"
                              "  info   counts, vocabulary, scorer and score histogram of a token shard\n"
                              "  show   documents of a shard, decoded segment by segment with their scores\n",
                              subs, argc, argv);
}
