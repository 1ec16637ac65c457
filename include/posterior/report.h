/* posterior — the HTML report of runs (layer eval, src/eval/report*.c; docs/report.md).
 *
 * pst_report_write reads run folders and writes one self-contained HTML file (inline CSS
 * and SVG, no script, nothing fetched): each run's configuration (run.json or
 * train_config.json), curves of its metrics.jsonl (runs overlaid on shared axes, a moving
 * average over `window` points drawn over the raw values, reference lines KL(p‖a) = −log Z
 * and μ̄, every point's value in an SVG <title>), its evaluations (eval's JSON: the
 * estimates from exact samples of p beside the importance-sampled ones, with standard
 * errors and warnings), their samples with the target scorers' findings highlighted, and
 * a table comparing the runs of an experiment folder. Every text that comes from a file
 * (model samples included) is HTML-escaped.
 *
 * A path is
 *   a run folder        metrics.jsonl (+ run.json / train_config.json, eval*.json,
 *                       *.eval.json): a folder with a configuration but no metrics.jsonl
 *                       is an error;
 *   an experiment folder  no metrics.jsonl of its own, run folders among its
 *                       subfolders, runs kept as files (NAME.metrics.jsonl with
 *                       NAME.run.json and NAME.eval.json) and/or evaluations (*.json
 *                       of eval or pretrain eval) in it: all its runs, and the
 *                       experiment table;
 *   an evaluation       the JSON of eval ("n", "kl_pi_a") or pretrain eval ("lm_loss",
 *                       "mean_score"), shown on its own.
 * An evaluation is attached to the run whose folder holds it, or holds its "model".
 * A metrics line that is not a JSON object is skipped and named in summary->warnings
 * (and in the report); the rest is drawn. */
#ifndef POSTERIOR_REPORT_H
#define POSTERIOR_REPORT_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int window;          /* moving average over this many points (25) */
    int max_samples;     /* samples shown per evaluation (8) */
    const char *title;   /* NULL: "posterior report" */
    int findings;        /* 1: score the samples with the target's scorers for findings (1) */
} pst_report_options;

void pst_report_options_default(pst_report_options *o);

typedef struct {
    size_t n_runs, n_evals, n_curves; /* curves: one per run and metric */
    size_t n_points;                  /* points drawn over all curves */
    char **warnings;                  /* [n_warnings] malloc'd messages */
    size_t n_warnings;
} pst_report_summary;

/* Reads the n paths and writes the report to out_path atomically. summary (may be NULL)
 * receives the counts and the warnings; free it with pst_report_summary_clear. */
int pst_report_write(const char *const *paths, size_t n, const char *out_path, const pst_report_options *o,
                     pst_report_summary *summary, pst_error *err);
void pst_report_summary_clear(pst_report_summary *s);

#ifdef __cplusplus
}
#endif

#endif
