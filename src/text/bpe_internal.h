/* Private to the tokenizer (bpe.c) and its trainer (bpe_train.c): GPT-2's
 * pre-tokenisation and byte alphabet, shared so that training splits text into
 * exactly the words that encoding later splits it into. */
#ifndef POSTERIOR_TEXT_BPE_INTERNAL_H
#define POSTERIOR_TEXT_BPE_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "posterior/base.h"

/* GPT-2's byte order: byte_of_rank[i] is the byte whose single-byte token has
 * id i in GPT-2's vocabulary ('!'..'~', then 0xA1..0xAC, 0xAE..0xFF, then the
 * remaining bytes in increasing order), and codepoint_of_byte[b] the printable
 * character GPT-2 writes byte b as in vocab.json / merges.txt. */
void pst_bpe_byte_alphabet(unsigned char byte_of_rank[256], int codepoint_of_byte[256]);

/* Compiles the pre-tokenisation pattern of the JavaScript reference encoder
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with JavaScript's \s, UTF mode and PCRE2_MATCH_INVALID_UTF, JIT-compiled when
 * the JIT is available. */
int pst_bpe_compile_pattern(pcre2_code **out, pst_error *err);

/* Splits text into words and calls fn(ctx, word, n) for each, in order. The
 * words tile the text exactly: a run of bytes that is not valid UTF-8 (which
 * no branch of the pattern can match) becomes a word of its own, so that
 * concatenating the words gives back the text byte for byte. Linear time.
 * fn returns 0 to continue, -1 to stop with its error. */
typedef int (*pst_bpe_word_fn)(void *ctx, const unsigned char *word, size_t n);
int pst_bpe_pretokenize(const pcre2_code *re, const char *text, size_t len,
                        pst_bpe_word_fn fn, void *ctx, pst_error *err);

/* 64-bit hash of a byte string (used by the word tables). */
uint64_t pst_bpe_hash_bytes(const unsigned char *p, size_t n);

/* One merge applied to a symbol sequence: every adjacent (a, b) of src[0, n), left to
 * right, becomes merged; the result goes to dst (which may be src). Returns its length. */
size_t pst_bpe_merge_pair(int32_t *dst, const int32_t *src, size_t n, int32_t a, int32_t b, int32_t merged);

#endif
