/* posterior — text layer: GPT-2 byte-level BPE tokenizer.
 *
 * Reads vocab.json + merges.txt (identical in content to GPT-2's encoder.json +
 * vocab.bpe) and produces exactly the ids of GPT-2's reference encoder.
 * Special tokens (<|endoftext|>, and user-added ones such as <|aligned|>) are
 * matched in input text only when the caller allows it, and never produced by
 * merging ordinary text. decode(encode(s)) == s for every byte string.
 */
#ifndef POSTERIOR_TOKENIZER_H
#define POSTERIOR_TOKENIZER_H

#include "posterior/base.h"

typedef struct pst_tokenizer pst_tokenizer;

/* Loads vocab.json and merges.txt; special tokens present in vocab.json
 * (e.g. <|endoftext|>) are registered as special. */
int pst_tokenizer_load(pst_tokenizer **out, const char *vocab_json_path,
                       const char *merges_txt_path, pst_error *err);
/* Same, from a model directory (dir/vocab.json, dir/merges.txt, and
 * dir/added_tokens.json when present). */
int pst_tokenizer_load_dir(pst_tokenizer **out, const char *dir, pst_error *err);
/* Writes vocab.json + merges.txt (+ added_tokens.json) into dir, atomically. */
int pst_tokenizer_save_dir(const pst_tokenizer *t, const char *dir, pst_error *err);
void pst_tokenizer_free(pst_tokenizer *t);

int pst_tokenizer_vocab_size(const pst_tokenizer *t); /* including special tokens */
/* Id of an exact token string (special or not), or -1. */
int pst_tokenizer_token_id(const pst_tokenizer *t, const char *token);
/* Adds a special token (if absent) and returns its id (>= 0), or -1 on error. */
int pst_tokenizer_add_special(pst_tokenizer *t, const char *token, pst_error *err);

/* Encodes len bytes of text. When allow_special is set, registered special
 * tokens occurring in the text become their ids; otherwise they are encoded as
 * ordinary text. *ids is malloc'd. Thread-safe (the word cache is per call or locked). */
int pst_tokenizer_encode(pst_tokenizer *t, const char *text, size_t len, int allow_special,
                         int **ids, size_t *n_ids, pst_error *err);
/* Decodes ids to bytes (*text malloc'd and NUL-terminated; len excludes the NUL).
 * An id outside the vocabulary is an error naming the id. */
int pst_tokenizer_decode(const pst_tokenizer *t, const int *ids, size_t n_ids, char **text,
                         size_t *len, pst_error *err);

#endif
