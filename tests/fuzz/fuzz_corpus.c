/* libFuzzer target: the JSONL (and other) inputs read as documents
 * (src/text/corpus.c: jsonl, lines, json-array; the text field is "text") and
 * metrics.jsonl as a resumed run truncates it (pst_metrics_truncate, src/base),
 * and token-id files (`train --data`, pst_read_token_ids, src/train/mle.c).
 * Input: one file, read in every format. */
#include "fuzz.h"
#include "posterior/corpus.h"
#include "posterior/train.h"

static void read_as(const char *path, const char *format) {
    pst_corpus *c = NULL;
    pst_error err;
    if (pst_corpus_open(&c, path, format, NULL, &err)) abort(); /* the file exists */
    pst_document_list l;
    if (pst_corpus_read(c, 0, &l, &err) == 0) {
        for (size_t i = 0; i < l.n; i++) /* touch every byte (ASan checks the bounds) */
            for (size_t j = 0; j < l.docs[i].len; j++) {
                volatile char b = l.docs[i].text[j];
                (void)b;
            }
        pst_document_list_free(&l);
    } else
        fuzz_note(format, err.msg);
    pst_corpus_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("in.jsonl", (const char *)data, size);
    read_as(path, "jsonl");
    read_as(path, "lines");
    read_as(path, "json-array");
    pst_error err;
    int *ids = NULL;
    size_t n = 0;
    if (pst_read_token_ids(path, &ids, &n, &err) == 0)
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0) abort();
    free(ids);
    if (pst_metrics_truncate(path, 3, &err)) abort(); /* only I/O can fail */
    return 0;
}
