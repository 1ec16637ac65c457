/* posterior tokenize: text on stdin -> GPT-2 token ids on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/steps.h"
#include "cli/commands.h"
#include "posterior/tokenizer.h"

/* Appends the ids, space-separated, and a newline. */
/* ids as one line of decimal numbers; -1 with err set when the write fails */
static int write_ids(FILE *f, const int *ids, size_t n, pst_error *err) {
    char buf[1 << 16];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k + 16 > sizeof buf) {
            if (fwrite(buf, 1, k, f) != k) return pst_fail(err, "cannot write to stdout");
            k = 0;
        }
        if (i) buf[k++] = ' ';
        char tmp[12];
        int v = ids[i], m = 0;
        do tmp[m++] = (char)('0' + v % 10); while ((v /= 10) > 0);
        while (m) buf[k++] = tmp[--m];
    }
    buf[k++] = '\n';
    return fwrite(buf, 1, k, f) == k ? 0 : pst_fail(err, "cannot write to stdout");
}

static const char tokenize_summary[] =
    "Reads text on stdin and writes its GPT-2 byte-level BPE token ids, separated by\n"
    "spaces, on one line (or one line per input line / NUL-separated document).";

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *vocab = NULL, *merges = NULL;
    int allow_special = 0, lines = 0, null_sep = 0;
    const pst_arg spec[] = {
        PST_ARGS_TOKENIZER_FILES(model, vocab, merges),
        ARG("allow-special", ARG_FLAG, &allow_special, "turn special tokens such as <|endoftext|> in the text into their ids"),
        ARG("lines", ARG_FLAG, &lines, "one output line per input line (each line encoded without its newline)"),
        ARG("null", ARG_FLAG, &null_sep, "documents separated by NUL bytes; one output line per document"),
        {0},
    };
    int rc = pst_args_parse("tokenize", tokenize_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    if (lines && null_sep) {
        fprintf(stderr, "posterior tokenize: --lines and --null exclude each other\n");
        return 2;
    }
    pst_error err = {0};
    pst_tokenizer *t = NULL;
    char *text = NULL;
    size_t len = 0;
    int *ids = NULL;
    size_t n = 0;
    rc = 1;
    if (pst_tokenizer_open_flags(&t, model, vocab, merges, &err)) goto fail;
    if (pst_read_file("/dev/stdin", &text, &len, &err)) goto fail;
    if (lines || null_sep) {
        char sep = lines ? '\n' : '\0';
        size_t pos = 0;
        while (pos < len) {
            const char *e = memchr(text + pos, sep, len - pos);
            size_t end = e ? (size_t)(e - text) : len;
            if (pst_tokenizer_encode(t, text + pos, end - pos, allow_special, &ids, &n, &err)) goto fail;
            if (write_ids(stdout, ids, n, &err)) goto fail;
            free(ids);
            ids = NULL;
            pos = end + 1;
        }
    } else {
        if (pst_tokenizer_encode(t, text, len, allow_special, &ids, &n, &err)) goto fail;
        if (write_ids(stdout, ids, n, &err)) goto fail;
    }
    if (pst_cli_flush_stdout(&err) < 0) goto fail;
    rc = 0;
    goto done;
fail:
    pst_cli_fail("tokenize", spec, &err);
done:
    free(ids), free(text), pst_tokenizer_free(t);
    return rc;
}
