/* Tokenizer files whose keys are not tokens: the empty string or a string
 * holding a NUL (raw or \u0000), in vocab.json or added_tokens.json, are
 * refused with the file and the key named. (An empty special token used to
 * make encoding loop forever with growing memory: it matches everywhere and
 * consumes nothing.) Runs from the repository root. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "posterior/tokenizer.h"

/* dir/name := the n bytes at s */
static void put(const char *dir, const char *name, const char *s, size_t n) {
    char path[512];
    pst_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK_MSG(pst_write_file_atomic(path, s, n, &err) == 0, "%s", err.msg);
}

/* Loading dir fails with a message holding both words. */
static void refused(const char *dir, const char *what, const char *file, const char *key) {
    pst_tokenizer *t = NULL;
    pst_error err = {0};
    int rc = pst_tokenizer_load_dir(&t, dir, &err);
    CHECK_MSG(rc == -1 && t == NULL, "%s: loaded", what);
    CHECK_MSG(strstr(err.msg, file) && strstr(err.msg, key), "%s: message '%s' lacks '%s' / '%s'", what,
              err.msg, file, key);
    pst_tokenizer_free(t);
}

int main(void) {
    char dir[] = "/tmp/pst-tokkeys-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return check_report();
    }
    pst_tokenizer *t = NULL;
    pst_error err = {0};
    CHECK_MSG(pst_tokenizer_from_merges(&t, NULL, 0, NULL, 0, &err) == 0, "%s", err.msg);
    CHECK_MSG(pst_tokenizer_save_dir(t, dir, &err) == 0, "%s", err.msg);
    int n = pst_tokenizer_vocab_size(t); /* 257: the bytes and <|endoftext|> */
    pst_tokenizer_free(t);
    char path[512], *vocab;
    size_t vlen;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    CHECK(pst_read_file(path, &vocab, &vlen, &err) == 0 && vlen > 2 && vocab[vlen - 1] == '}');

    /* the untouched folder loads */
    CHECK(pst_tokenizer_load_dir(&t, dir, &err) == 0);
    pst_tokenizer_free(t);

    /* added_tokens.json */
    char a[128];
    int m = snprintf(a, sizeof a, "{\"\": %d}", n);
    put(dir, "added_tokens.json", a, (size_t)m);
    refused(dir, "empty added token", "added_tokens.json", "key \"\"");
    m = snprintf(a, sizeof a, "{\"\\u0000\": %d}", n);
    put(dir, "added_tokens.json", a, (size_t)m);
    refused(dir, "added token \\u0000", "added_tokens.json", "\\u0000");
    m = snprintf(a, sizeof a, "{\"<|x|>\": %d, \"<|y\\u0000z|>\": %d}", n, n + 1);
    put(dir, "added_tokens.json", a, (size_t)m);
    refused(dir, "added token with \\u0000 inside", "added_tokens.json", "<|y\\u0000z|>");
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    CHECK(unlink(path) == 0);

    /* vocab.json: one more key, id n */
    char *v = malloc(vlen + 64);
    const char *keys[] = {"\"\"", "\"\\u0000\"", "\"a\\u0000b\"", "\"c\0d\""};
    const size_t key_len[] = {2, 8, 10, 5};
    const char *shown[] = {"key \"\"", "\\u0000", "a\\u0000b", "c\\u0000d"};
    for (int k = 0; k < 4; k++) {
        memcpy(v, vocab, vlen - 1);
        size_t w = vlen - 1;
        memcpy(v + w, ", ", 2), w += 2;
        memcpy(v + w, keys[k], key_len[k]), w += key_len[k];
        w += (size_t)sprintf(v + w, ": %d}", n);
        put(dir, "vocab.json", v, w);
        refused(dir, shown[k], "vocab.json", shown[k]);
    }
    /* an escaped backslash before u0000 is not a NUL */
    memcpy(v, vocab, vlen - 1);
    size_t w = vlen - 1 + (size_t)sprintf(v + vlen - 1, ", \"\\\\u0000\": %d}", n);
    put(dir, "vocab.json", v, w);
    CHECK_MSG(pst_tokenizer_load_dir(&t, dir, &err) == 0, "%s", err.msg);
    pst_tokenizer_free(t);
    free(v);
    free(vocab);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_report();
}
