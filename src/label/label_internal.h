/* The labelling page's parts: the SQLite store (store.c), the sampler of pairs
 * (pairs_source.c) and the HTTP server (server.c, page.c). */
#ifndef POSTERIOR_LABEL_INTERNAL_H
#define POSTERIOR_LABEL_INTERNAL_H

#include "label/label.h"

#include <sqlite3.h>

typedef struct {
    sqlite3 *db;
    const char *path;
    long n_prompts;
} lb_store;

/* The state the page shows: the first item without a judgement (item = 0 when done). */
typedef struct {
    long item, prompt_index;
    char *prompt, *a, *b; /* malloc'd; NULL when done */
    long judged, skipped, total;
} lb_state;

void lb_state_free(lb_state *s);

/* Opens (creates) the database for a prompts file of n_prompts lines whose text has the
 * 64-bit checksum sum; a database made for another file is refused, naming both. */
int lb_store_open(lb_store *st, const char *path, const char *prompts_path, uint64_t sum, long n_prompts,
                  const char *model, pst_error *err);
/* Opens an existing database read-only (export). */
int lb_store_open_existing(lb_store *st, const char *path, pst_error *err);
void lb_store_close(lb_store *st);

/* The first prompt index without an item (n_prompts when every prompt has one). */
int lb_store_next_prompt(lb_store *st, long *prompt_index, pst_error *err);
/* Stores the pair shown for a prompt (one transaction). */
int lb_store_add_item(lb_store *st, long prompt_index, const char *prompt, const char *a, const char *b,
                      pst_error *err);
/* The first item with no judgement, and the counts. */
int lb_store_state(lb_store *st, lb_state *s, pst_error *err);
/* Records a judgement in one transaction. Returns 0, or the HTTP status of a refusal
 * (404 no such item, 409 judged already) with the message in err; -1 on a database error. */
int lb_store_judge(lb_store *st, long item, const char *choice, pst_error *err);
/* Deletes the latest judgement (one transaction); *item: its item (0 when none). */
int lb_store_undo(lb_store *st, long *item, pst_error *err);

/* The page (HTML with inline CSS and script). */
extern const char lb_page_html[];

/* FNV-1a 64 of data[0, n): the prompts file's checksum. */
uint64_t lb_checksum(const char *data, size_t n);

#endif
