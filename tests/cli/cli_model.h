/* Helpers of the C tests of the CLI: run the built binary (POSTERIOR_BIN) with
 * its output captured, and write a tiny model folder (byte tokenizer). */
#ifndef POSTERIOR_TESTS_CLI_MODEL_H
#define POSTERIOR_TESTS_CLI_MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "posterior/prior.h"
#include "posterior/tokenizer.h"

static pst_error err;
static char bin[1024], dir[256]; /* the command prefix; the test's scratch folder */

/* bin: POSTERIOR_BIN made absolute (a test may change directory), one thread,
 * the repository's data; dir: /tmp/<name>_<pid>, created. -1 without a binary. */
static int cli_init(const char *name) {
    const char *b = getenv("POSTERIOR_BIN");
    char cwd[600];
    if (!b || !pst_file_exists(b) || !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "POSTERIOR_BIN not set or missing: build the posterior target first\n");
        return -1;
    }
    snprintf(bin, sizeof bin, "OMP_NUM_THREADS=1 POSTERIOR_DATA=%s/data %s%s%s", cwd, b[0] == '/' ? "" : cwd,
             b[0] == '/' ? "" : "/", b);
    snprintf(dir, sizeof dir, "/tmp/%s_%d", name, (int)getpid());
    return pst_mkdir_p(dir, &err);
}

/* Runs `bin args`: stdout (and stderr when with_stderr) into *out; returns the exit code. */
static int run(const char *args, char **out, int with_stderr) {
    char cmd[4096], fo[300];
    snprintf(fo, sizeof fo, "%s/out.txt", dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s%s", bin, args, fo, with_stderr ? " 2>&1" : "");
    int rc = system(cmd);
    size_t len;
    if (pst_read_file(fo, out, &len, &err) < 0) *out = strdup("");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 255;
}

/* The number of lines (newlines) of a file; 0 when it cannot be read. */
static inline int lines_of(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

/* A model folder (1 layer, 16 wide, 257 byte tokens) with its tokenizer;
 * weight 7 of wte is `poison` (NaN, Inf, or an ordinary value). */
static void make_model(const char *path, float poison) {
    pst_tokenizer *tok;
    CHECK(pst_tokenizer_from_merges(&tok, NULL, 0, NULL, 0, &err) == 0);
    pst_gpt2_config cfg = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_positions = 16,
                           .vocab_size = pst_tokenizer_vocab_size(tok), .layer_norm_epsilon = 1e-5f};
    pst_gpt2 m;
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    m.params.wte[7] = poison;
    CHECK_MSG(pst_gpt2_save(&m, path, &err) == 0 && pst_tokenizer_save_dir(tok, path, &err) == 0, "%s", err.msg);
    pst_gpt2_free(&m);
    pst_tokenizer_free(tok);
}

#endif
