/* posterior pii [--json] [--redact] [--types EMAIL,PHONE] FILE...
 *
 * Prints the personal data found in each file, one finding per line:
 *   path:offset: TYPE text        (offset in bytes; text JSON-escaped, no quotes)
 * or with --json one object per finding {"file", "type", "start", "end", "text"}.
 * --redact prints each file with every finding replaced by {{TYPE}} instead.
 * Exit status: 0 nothing found (or --redact), 1 something found, 2 usage or
 * an unreadable file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/pii.h"
#include "posterior/scorer.h"

static const char pii_summary[] =
    "Find personal data (e-mail, URL, phone, SSN, credit card, IP, "
    "credentials, handles, street addresses)\nin FILE... (- or none: stdin).";

int cmd_pii(int argc, char **argv) {
    int json = 0, redact = 0;
    const char *types = NULL;
    const pst_arg args[] = {
        ARG("types", ARG_STRING, &types, "only these types, e.g. EMAIL,PHONE (default: all)"),
        ARG("json", ARG_FLAG, &json, "one JSON object per finding"),
        ARG("redact", ARG_FLAG, &redact, "print the text with each finding replaced by {{TYPE}}"),
        {0},
    };
    int npos = 0;
    int pr = pst_args_parse("pii", pii_summary, args, argc, argv, &npos);
    if (pr != PST_ARGS_RUN) return pr;
    pst_error err;
    pst_pii *pii;
    if (pst_pii_create_types(types, &pii, &err) < 0) {
        fprintf(stderr, "posterior pii: --types: %s\n", err.msg);
        return 2;
    }
    const char *stdin_only[] = {"-"};
    const char *const *files = npos ? (const char *const *)argv : stdin_only;
    int nfiles = npos ? npos : 1, found = 0, failed = 0;
    for (int f = 0; f < nfiles; f++) {
        int is_stdin = strcmp(files[f], "-") == 0;
        const char *label = is_stdin ? "<stdin>" : files[f];
        char *text;
        size_t len, n;
        pst_pii_finding *fs;
        if (pst_read_file(is_stdin ? "/dev/stdin" : files[f], &text, &len, &err) < 0) {
            pst_cli_fail("pii", args, &err);
            failed = 1;
            continue;
        }
        if (pst_pii_find(pii, text, len, &fs, &n, &err) < 0) {
            fprintf(stderr, "posterior pii: %s: %s\n", label, err.msg);
            free(text);
            failed = 1;
            continue;
        }
        found |= n > 0;
        if (redact) {
            char *out;
            size_t out_len;
            if (pst_pii_redact(text, len, fs, n, &out, &out_len, &err) < 0) {
                fprintf(stderr, "posterior pii: %s: %s\n", label, err.msg);
                failed = 1;
            } else {
                fwrite(out, 1, out_len, stdout);
                free(out);
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                size_t qn, fl;
                char *q = pst_json_quote(text + fs[i].start, fs[i].end - fs[i].start, &qn);
                char *fq = pst_json_quote(label, strlen(label), &fl);
                if (!q || !fq) {
                    fprintf(stderr, "posterior pii: out of memory\n");
                    free(q);
                    free(fq);
                    failed = 1;
                    break;
                }
                if (json)
                    printf("{\"file\": %s, \"type\": \"%s\", \"start\": %zu, \"end\": %zu, "
                           "\"text\": %s}\n", fq, pst_pii_type_name(fs[i].type), fs[i].start,
                           fs[i].end, q);
                else /* the escaped text without its quotes keeps one finding per line */
                    printf("%s:%zu: %s %.*s\n", label, fs[i].start, pst_pii_type_name(fs[i].type),
                           (int)(qn - 2), q + 1);
                free(q);
                free(fq);
            }
        }
        free(fs);
        free(text);
    }
    pst_pii_free(pii);
    fflush(stdout);
    if (failed) return 2;
    return redact ? 0 : found;
}
