/* Messages that say what is wrong, and input that used to be accepted
 * silently: a spec's relative "prior" is relative to the spec's folder;
 * "conditional" must be a boolean; E_p[phi] of a 0/1 feature must be in
 * [0, 1]; target init --help's example is a valid spec; --eot below -1 is
 * refused; token-id flags are named once ("--prompt-tokens", not
 * "----prompt-tokens"); a missing vocab.json is named; prepare --out creates
 * the prefix's folder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_model.h"
#include "posterior/prior.h"
#include "posterior/tokenizer.h"



/* `bin args` fails with exit code `code` and a message holding needle (and not bad). */
static void expect(const char *args, int code, const char *needle, const char *bad) {
    char *out;
    int rc = run(args, &out, 1);
    CHECK_MSG(rc == code && strstr(out, needle) && !(bad && strstr(out, bad)),
              "[%s] exit %d (want %d), output '%s' (want '%s'%s%s)", args, rc, code, out, needle,
              bad ? ", not " : "", bad ? bad : "");
    free(out);
}

int main(void) {
    if (cli_init("pst_cli_messages")) return 1;
    char cwd[600]; /* the test changes directory once */
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    char model[300], bare[300], specs[300], spec[300], args[2048], *out;
    snprintf(model, sizeof model, "%s/prior", dir);
    snprintf(bare, sizeof bare, "%s/bare", dir);
    snprintf(specs, sizeof specs, "%s/specs", dir);
    snprintf(spec, sizeof spec, "%s/t.json", specs);
    CHECK(pst_mkdir_p(specs, &err) == 0);
    make_model(model, 0.5f);
    make_model(bare, 0.5f);
    snprintf(args, sizeof args, "%s/vocab.json", bare);
    CHECK(unlink(args) == 0);

    /* the spec stores the prior relative to its own folder, and works from any working directory */
    snprintf(args, sizeof args, "target init --prior %s --out %s 'regex:^[a-m]'", model, spec);
    CHECK(run(args, &out, 1) == 0);
    free(out);
    char *text;
    size_t len;
    CHECK(pst_read_file(spec, &text, &len, &err) == 0 && strstr(text, "\"prior\":\t\"../prior\""));
    free(text);
    snprintf(args, sizeof args, "target estimate --spec %s --n 20 --max-new-tokens 2 --seed 1", spec);
    char in_root[2400];
    snprintf(in_root, sizeof in_root, "%s", args);
    CHECK(chdir("/") == 0);
    expect(in_root, 0, "\"log_z\"", NULL);
    CHECK(chdir(cwd) == 0);

    /* "conditional" a boolean; moments of a 0/1 feature in [0, 1] */
    const char *cond = "{\"kind\": \"pointwise\", \"prior\": \"../prior\", \"scorers\": [\"pii\"], \"conditional\": \"yes\"}";
    CHECK(pst_write_file_atomic(spec, cond, strlen(cond), &err) == 0);
    snprintf(args, sizeof args, "target estimate --spec %s --n 4", spec);
    expect(args, 1, "\"conditional\" must be true or false", NULL);
    const char *mom = "{\"kind\": \"distributional\", \"prior\": \"../prior\", \"scorers\": [\"regex:^a\"], "
                      "\"moments\": [1.5], \"lambda\": [0.1]}";
    CHECK(pst_write_file_atomic(spec, mom, strlen(mom), &err) == 0);
    expect(args, 1, "\"moments\"[0] is 1.5, outside [0, 1]", NULL);

    /* target init --help's example spec is accepted */
    expect("target init --help", 0, "'below:0.5:toxicity'", "not:toxicity>0.5");
    snprintf(args, sizeof args, "target init --prior %s --out %s 'below:0.5:toxicity'", model, spec);
    expect(args, 0, "", NULL);

    /* flags named once; the missing file named; --eot below -1 refused */
    snprintf(args, sizeof args, "sample --model %s --prompt-tokens 999999", model);
    expect(args, 1, "--prompt-tokens: token id 999999", "----");
    snprintf(args, sizeof args, "sample --model %s --prompt hi", bare);
    expect(args, 1, "bare/vocab.json does not exist", NULL);
    snprintf(args, sizeof args, "sample --model %s --eot -5", model);
    expect(args, 2, "--eot must be a token id, or -1", NULL);
    snprintf(args, sizeof args, "logprob --model %s --tokens --bos --eot -5 < /dev/null", model);
    expect(args, 2, "--eot must be a token id, or -1", NULL);

    /* prepare --out PREFIX creates PREFIX's folder */
    char corpus[300];
    snprintf(corpus, sizeof corpus, "%s/doc.txt", dir);
    CHECK(pst_write_file_atomic(corpus, "some text\n", 10, &err) == 0);
    snprintf(args, sizeof args, "prepare --corpus %s --tokenizer %s --out %s/new/folder/x", corpus, model, dir);
    expect(args, 0, "\"documents\":1", NULL);
    snprintf(args, sizeof args, "%s/new/folder/x.train.bin", dir);
    CHECK(pst_file_exists(args));

    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
    return check_report();
}
