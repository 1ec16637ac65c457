/* posterior label serve --model DIR --prompts FILE --db FILE.sqlite [--port 8080] [--host H]
 * posterior label export --db FILE.sqlite --out pairs.jsonl
 *
 * serve: the labelling page (src/label/label.h) until SIGINT / SIGTERM; prints
 * {"url": ...} on stdout once listening. export: the judged pairs as a preference-pair
 * file (include/posterior/pairs.h). Built only with libmicrohttpd and SQLite; otherwise
 * both say so (exit 1). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "label/label.h"

#ifndef POSTERIOR_HAVE_LABEL
static int not_built(const char *command) {
    fprintf(stderr, "posterior %s: not built: this posterior was built without libmicrohttpd and SQLite "
                    "(install libmicrohttpd-dev and libsqlite3-dev, as scripts/bootstrap.sh does, and rebuild)\n",
            command);
    return 1;
}
#endif

static volatile int stop_flag;

static void on_signal(int sig) {
    stop_flag = 1;
}

static void on_ready(const char *url, void *ctx) {
    printf("{\"url\": \"%s\"}\n", url); /* url: http://IPv4:PORT/, nothing to escape */
    fflush(stdout);
    fprintf(stderr, "posterior label serve: open %s (Ctrl-C stops; every judgement is saved at once)\n", url);
}

static int label_serve(int argc, char **argv) {
    pst_label_options o;
    pst_label_options_default(&o);
    const pst_arg args[] = {
        PST_ARGS_MODEL(o.model_dir, .required = 1, .field = "model_dir"),
        ARG("prompts", ARG_STRING, &o.prompts_path, "a file of prompts, one per line (an empty line: no prompt)",
            .required = 1, .field = "prompts_path"),
        ARG("db", ARG_STRING, &o.db_path, "SQLite database of the judgements (created when missing)", .required = 1,
            .field = "db_path"),
        ARG("port", ARG_INT, &o.port, "TCP port (0: any free port)", .range = "0..65535"),
        ARG("host", ARG_STRING, &o.host, "IPv4 address to listen on"),
        ARG("max-new-tokens", ARG_INT, &o.max_new_tokens, "tokens per continuation at most", .range = "1.."),
        ARG("temperature", ARG_FLOAT, &o.temperature, "sampling temperature (0: greedy; q ≠ π then)"),
        PST_ARGS_SEED(o.seed),
        {0},
    };
    int pr = pst_args_parse("label serve",
                            "Serve a page that shows a prompt and two continuations sampled from the model, and\n"
                            "records which one a person prefers (A / B / tie / skip, undo) in an SQLite database.",
                            args, argc, argv, NULL);
    if (pr != PST_ARGS_RUN) return pr;
#ifdef POSTERIOR_HAVE_LABEL
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.stop = &stop_flag, o.on_ready = on_ready;
    pst_error err = {0};
    if (pst_label_serve(&o, &err) < 0) return pst_cli_fail("label serve", args, &err);
    return 0;
#else
    (void)on_ready, (void)on_signal;
    return not_built("label serve");
#endif
}

static int label_export(int argc, char **argv) {
    const char *db = NULL, *out = NULL;
    const pst_arg args[] = {
        ARG("db", ARG_STRING, &db, "SQLite database of posterior label serve", .required = 1, .field = "db_path"),
        ARG("out", ARG_STRING, &out, "preference pairs to write (JSON lines)", .required = 1, .field = "out_path"),
        {0},
    };
    int pr = pst_args_parse("label export",
                            "Write the judged pairs of a label database as preference pairs (JSON lines:\n"
                            "prompt, chosen, rejected, tie); skipped prompts are left out.",
                            args, argc, argv, NULL);
    if (pr != PST_ARGS_RUN) return pr;
#ifdef POSTERIOR_HAVE_LABEL
    size_t n = 0, same = 0;
    pst_error err = {0};
    if (pst_label_export(db, out, &n, &same, &err) < 0) return pst_cli_fail("label export", args, &err);
    printf("{\"pairs\": %zu, \"identical_left_out\": %zu}\n", n, same);
    return 0;
#else
    return not_built("label export");
#endif
}

int cmd_label(int argc, char **argv) {
    const pst_subcommand subs[] = {{"serve", label_serve}, {"export", label_export}, {0}};
    return pst_subcommand_run("label",
                              "usage: posterior label serve|export [options]   (--help on each)\n\n"
                              "A person's judgements of pairs of samples, as preference pairs:\n"
                              "  serve   a local web page: a prompt, two continuations, A / B / tie / skip\n"
                              "  export  the judged pairs as a preference-pair file (JSON lines)\n",
                              subs, argc, argv);
}
