/* libFuzzer target: tokenizer folders (src/text/bpe.c): vocab.json, merges.txt,
 * added_tokens.json. Input: VOCAB %% MERGES [%% ADDED-TOKENS [%% TEXT]] (see
 * fuzz.h; no third part = no added_tokens.json). A tokenizer that loads
 * encodes TEXT with and without special tokens; decoding gives TEXT back. */
#include <stdlib.h>

#include "fuzz.h"
#include "posterior/tokenizer.h"

/* The loaders refuse empty tokens (an empty token made encoding loop forever in
 * push_ids, issue 19 defect 1): a loaded tokenizer that has one is a finding. */
static int has_empty_token(const pst_tokenizer *t) {
    for (int id = 0; id < pst_tokenizer_vocab_size(t); id++) {
        size_t len = 0;
        if (pst_tokenizer_token_bytes(t, id, &len) && len == 0) return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_parts p = fuzz_split(data, size);
    fuzz_part_file(&p, 0, "vocab.json");
    fuzz_part_file(&p, 1, "merges.txt");
    fuzz_part_file(&p, 2, "added_tokens.json");
    pst_tokenizer *t = NULL;
    pst_error err;
    if (pst_tokenizer_load_dir(&t, fuzz_dir(), &err)) {
        fuzz_note("load", err.msg);
        return 0;
    }
    const char *text = p.n > 3 ? p.data[3] : "Hello world <|endoftext|> again";
    size_t len = p.n > 3 ? p.len[3] : strlen(text);
    if (has_empty_token(t)) abort();
    for (int special = 0; special < 2; special++) {
        int *ids = NULL;
        size_t n = 0;
        if (pst_tokenizer_encode(t, text, len, special, &ids, &n, &err) == 0) {
            char *back = NULL;
            size_t back_len = 0;
            if (pst_tokenizer_decode(t, ids, n, &back, &back_len, &err) == 0) {
                if (back_len != len || memcmp(back, text, len) != 0) {
                    fprintf(stderr, "decode(encode(text)) != text\n");
                    abort();
                }
                free(back);
            }
            free(ids);
        } else
            fuzz_note("encode", err.msg);
    }
    pst_tokenizer_free(t);
    return 0;
}
