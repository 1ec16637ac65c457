/* posterior report RUN... --out FILE.html
 *
 * One self-contained HTML page (inline CSS and SVG, nothing fetched) of run folders,
 * experiment folders and evaluations: configuration, curves, evaluation tables, samples
 * with findings, experiment tables (include/posterior/report.h, docs/report.md).
 * Skipped metrics lines are named on stderr; the page is written all the same.
 * Exit status: 0 written, 1 an unreadable run, 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/report.h"
#include "posterior/scorer.h"

static const char report_summary[] =
    "Write an HTML report of RUN... (run folders with metrics.jsonl, experiment folders\n"
    "holding run folders, or eval's JSON): configuration, curves, evaluations, samples.";

int cmd_report(int argc, char **argv) {
    const char *out = NULL;
    int no_findings = 0;
    pst_report_options o;
    pst_report_options_default(&o);
    const pst_arg args[] = {
        ARG("out", ARG_STRING, &out, "the HTML file to write", .required = 1),
        ARG("window", ARG_INT, &o.window, "moving average over this many points", .range = "1.."),
        ARG("show", ARG_INT, &o.max_samples, "sample texts shown per evaluation", .range = "0..",
            .field = "max_samples"),
        ARG("title", ARG_STRING, &o.title, "the page's title (default: posterior report)"),
        ARG("no-findings", ARG_FLAG, &no_findings, "do not score the samples for findings"),
        {0},
    };
    int npos = 0;
    int pr = pst_args_parse("report", report_summary, args, argc, argv, &npos);
    if (pr != PST_ARGS_RUN) return pr;
    if (npos == 0) {
        fprintf(stderr, "posterior report: expected RUN... (a run folder, an experiment folder or eval's JSON)\n");
        return 2;
    }
    o.findings = !no_findings;
    pst_report_summary s = {0};
    pst_error err = {0};
    if (pst_report_write((const char *const *)argv, (size_t)npos, out, &o, &s, &err) < 0) {
        pst_report_summary_clear(&s);
        return pst_cli_fail("report", args, &err);
    }
    for (size_t i = 0; i < s.n_warnings; i++) fprintf(stderr, "posterior report: warning: %s\n", s.warnings[i]);
    char *q = pst_json_quote(out, strlen(out), NULL);
    printf("{\"out\": %s, \"runs\": %zu, \"evaluations\": %zu, \"curves\": %zu, \"points\": %zu, \"warnings\": %zu}\n",
           q ? q : "null", s.n_runs, s.n_evals, s.n_curves, s.n_points, s.n_warnings);
    free(q);
    pst_report_summary_clear(&s);
    return 0;
}
