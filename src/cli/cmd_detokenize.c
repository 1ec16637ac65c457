/* posterior detokenize: GPT-2 token ids on stdin -> text (raw bytes) on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/steps.h"
#include "cli/commands.h"
#include "posterior/tokenizer.h"

static const char detokenize_summary[] =
    "Reads whitespace-separated token ids on stdin and writes the text they decode to.";

int cmd_detokenize(int argc, char **argv) {
    const char *model = NULL, *vocab = NULL, *merges = NULL;
    int lines = 0;
    const pst_arg spec[] = {
        PST_ARGS_TOKENIZER_FILES(model, vocab, merges),
        ARG("lines", ARG_FLAG, &lines, "each input line of ids is one text, written followed by a newline"),
        {0},
    };
    int rc = pst_args_parse("detokenize", detokenize_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    pst_error err = {0};
    pst_tokenizer *t = NULL;
    char *in = NULL, *text = NULL;
    size_t len = 0, cap = 0, n = 0, tlen;
    int *ids = NULL;
    rc = 1;
    if (pst_tokenizer_open_flags(&t, model, vocab, merges, &err)) goto fail;
    if (pst_read_file("/dev/stdin", &in, &len, &err)) goto fail;
    long line = 1;
    for (size_t pos = 0; pos <= len;) {
        /* end of a line (in --lines mode) or of the input: decode what we have */
        int flush = pos == len || (lines && in[pos] == '\n');
        if (flush) {
            if (pos < len || n || !lines) {
                if (pst_tokenizer_decode(t, ids, n, &text, &tlen, &err)) {
                    pst_fail_context(&err, "line %ld", line);
                    goto fail;
                }
                if (fwrite(text, 1, tlen, stdout) != tlen || (lines && fputc('\n', stdout) == EOF)) goto write_error;
                free(text);
                text = NULL;
                n = 0;
            }
            if (pos == len) break;
            line++;
            pos++;
            continue;
        }
        char c = in[pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            line += c == '\n';
            pos++;
            continue;
        }
        size_t s = pos;
        while (pos < len && !strchr(" \t\n\r", in[pos]) && in[pos]) pos++;
        if (pos == s) pos++; /* a NUL byte */
        char word[32];
        size_t wl = pos - s < sizeof word - 1 ? pos - s : sizeof word - 1;
        memcpy(word, in + s, wl);
        word[wl] = 0;
        char *end;
        errno = 0;
        long v = strtol(word, &end, 10);
        if (pos - s >= sizeof word - 1 || end == word || *end || errno || v < 0 || v > 2147483647L) {
            fprintf(stderr, "posterior detokenize: line %ld: '%s%s' is not a token id\n", line, word,
                    pos - s >= sizeof word - 1 ? "..." : "");
            goto done;
        }
        if (v >= pst_tokenizer_vocab_size(t)) {
            fprintf(stderr, "posterior detokenize: line %ld: token id %ld is outside the vocabulary 0..%d\n", line,
                    v, pst_tokenizer_vocab_size(t) - 1);
            goto done;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            int *a = realloc(ids, cap * sizeof *a);
            if (!a) {
                pst_fail(&err, "out of memory");
                goto fail;
            }
            ids = a;
        }
        ids[n++] = (int)v;
    }
    if (pst_cli_flush_stdout(&err) < 0) goto fail;
    rc = 0;
    goto done;
write_error:
    pst_fail(&err, "cannot write to stdout");
fail:
    pst_cli_fail("detokenize", spec, &err);
done:
    free(ids), free(in), free(text), pst_tokenizer_free(t);
    return rc;
}
