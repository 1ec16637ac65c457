/* posterior — the labelling page (layer label, src/label; docs/report.md): a person judges
 * pairs of continuations sampled from a model, and the judgements become preference pairs
 * (include/posterior/pairs.h). Built only with libmicrohttpd and SQLite
 * (CMake finds them: POSTERIOR_HAVE_LABEL is defined for the CLI; without them these
 * functions are not in the library and `posterior label` says it was not built).
 *
 * The database (SQLite, WAL) holds
 *   meta(key, value)       the prompts file's checksum and size, the model: a database made
 *                          for another prompts file is refused;
 *   items(id, prompt_index, prompt, a, b)   the pair shown for each prompt, sampled once
 *                          (seeded by the seed and the prompt's index) and stored before it
 *                          is shown, so a restarted server shows the same pair;
 *   judgements(id, item, choice, at)        choice 'a', 'b', 'tie' or 'skip'; one
 *                          transaction each; undo deletes the latest.
 * HTTP (bound to host:port; one request at a time):
 *   GET  /                 the page (inline CSS and script; texts set as text, never HTML)
 *   GET  /api/next         {"done", "item", "prompt", "a", "b", "judged", "skipped", "total"}
 *   POST /api/judge        {"item": ID, "choice": "a"|"b"|"tie"|"skip"} → the next state
 *   POST /api/undo         deletes the latest judgement → the next state (that item again)
 * A body that is not such JSON → 400, larger than max_body → 413, an unknown item → 404, an
 * item already judged → 409; the server keeps running. */
#ifndef POSTERIOR_LABEL_H
#define POSTERIOR_LABEL_H

#include <stdint.h>
#include <string.h>

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *model_dir;    /* GPT-2 directory with its tokenizer (vocab.json, merges.txt) */
    const char *prompts_path; /* one prompt a line; an empty line: unconditional */
    const char *db_path;      /* created when missing */
    const char *host;         /* "127.0.0.1" */
    int port;                 /* 8080; 0: any free port */
    int max_new_tokens;       /* 40 */
    float temperature;        /* 1 */
    uint64_t seed;            /* 1 */
    size_t max_body;          /* bytes of a request body at most (4096) */
    volatile int *stop;       /* the server returns when *stop becomes non-zero */
    /* called once listening, with the page's address ("http://127.0.0.1:8080/") */
    void (*on_ready)(const char *url, void *ctx);
    void *ctx;
} pst_label_options;

/* Inline, so that a build without the label layer still has the defaults (--help). */
static inline void pst_label_options_default(pst_label_options *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->max_new_tokens = 40;
    o->temperature = 1.0f;
    o->seed = 1;
    o->max_body = 4096;
}

/* Serves the page until *o->stop. Errors: the model, the prompts, a database made for
 * another prompts file, the address (in use, not an IPv4 address). */
int pst_label_serve(const pst_label_options *o, pst_error *err);

/* Writes the judged pairs of a database as a pairs file (pst_pairs_write, atomic): 'a' or
 * 'b' as chosen/rejected, a tie with tie = 1; skips are left out, and so are pairs whose
 * two texts are identical (*identical counts them; may be NULL). *n: pairs written. */
int pst_label_export(const char *db_path, const char *out_path, size_t *n, size_t *identical, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
