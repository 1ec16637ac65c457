/* posterior tune --method ppo end to end on a tiny byte-level GPT-2, and its bad input:
 *   - a PPO run writes the DPG metrics keys plus PPO's, checkpoints with a value head, and
 *     resumes;
 *   - --reward naming an unknown reward, a KL-RL target without beta, --minibatch > --batch,
 *     --variant / PPO options with another --method, a value head of another model's width
 *     in the checkpoint, NaN rewards from an external scorer: clear errors, non-zero exit,
 *     the last good checkpoint kept. */
#include "cli/cli_model.h"
#include "posterior/pretrain.h"

#include <stdio.h>

int main(void) {
    if (cli_init("pst_tune_rl_cli") < 0) return 1;
    char model[300], spec[300], args[2048], path[600];
    char *out = NULL;
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(spec, sizeof spec, "%s/t.json", dir);
    make_model(model, 0.5f);
    snprintf(args, sizeof args, "target init --kind pointwise --prior %s --out %s 'regex:^[a-m]'", model, spec);
    CHECK(run(args, &out, 1) == 0);
    free(out);
    const char *common = "--steps 3 --batch 4 --minibatch 2 --ppo-epochs 2 --max-new-tokens 3 --quiet --n-exact 0 "
                         "--lr 1e-3 --checkpoint-every 1";

    /* a run, its metrics and checkpoint, and a resume */
    snprintf(args, sizeof args, "tune --method ppo --spec %s --out %s/r1 %s", spec, dir, common);
    CHECK_MSG(run(args, &out, 1) == 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/r1/metrics.jsonl", dir);
    CHECK(lines_of(path) == 3);
    char *text = NULL;
    size_t len;
    CHECK(pst_read_file(path, &text, &len, &err) == 0);
    const char *keys[] = {"\"kl_pi_a\"", "\"kl_p_pi\"", "\"moments_pi\"", "\"kl_coef\"", "\"value_loss\"",
                          "\"clip_fraction\"", "\"reward\"", "\"samples_per_s\""};
    for (int k = 0; text && k < 8; k++) CHECK_MSG(strstr(text, keys[k]), "metrics lack %s", keys[k]);
    free(text);
    snprintf(path, sizeof path, "%s/r1/checkpoints/ckpt-3/value_head.safetensors", dir);
    CHECK(pst_file_exists(path));
    snprintf(args, sizeof args, "tune --spec %s --out %s/r1 --resume --steps 4", spec, dir);
    CHECK_MSG(run(args, &out, 1) == 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/r1/metrics.jsonl", dir);
    CHECK(lines_of(path) == 4);

    /* a value head of another model's width in the checkpoint */
    pst_value_head vh;
    CHECK(pst_value_head_create(&vh, 7, &err) == 0);
    snprintf(path, sizeof path, "%s/r1/checkpoints/ckpt-4", dir);
    CHECK(pst_value_head_save(&vh, path, &err) == 0);
    pst_value_head_free(&vh);
    snprintf(args, sizeof args, "tune --spec %s --out %s/r1 --resume --steps 5", spec, dir);
    CHECK(run(args, &out, 1) == 1);
    CHECK_MSG(strstr(out, "value head") && strstr(out, "width 16"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/r1/checkpoints/ckpt-4/policy/model.safetensors", dir);
    CHECK(pst_file_exists(path)); /* kept */

    /* usage errors (exit 2) */
    const struct {
        const char *extra, *needle;
    } usage[] = {
        {"--method ppo --reward bogus", "bogus"},
        {"--method ppo --minibatch 8 --batch 4", "minibatch"},
        {"--method ppo --variant baseline", "--variant belongs to --method dpg"},
        {"--method reinforce --f js", "--f belongs to --method dpg"},
        {"--method rloo --minibatch 2", "--minibatch belongs to --method ppo"},
        {"--method dpg --kl-target 1", "--kl-target belongs to --method ppo"},
    };
    for (size_t u = 0; u < sizeof usage / sizeof usage[0]; u++) {
        snprintf(args, sizeof args, "tune --spec %s --out %s/u%zu --steps 1 --n-exact 0 --quiet %s", spec, dir, u,
                 usage[u].extra);
        int rc = run(args, &out, 1);
        CHECK_MSG(rc == 2 && strstr(out, usage[u].needle), "'%s': exit %d: %s", usage[u].extra, rc, out);
        free(out);
        snprintf(path, sizeof path, "%s/u%zu", dir, u);
        CHECK(!pst_file_exists(path)); /* nothing written */
    }

    /* a KL-RL target without beta */
    char kspec[300];
    snprintf(kspec, sizeof kspec, "%s/klrl.json", dir);
    snprintf(args, sizeof args, "{\"kind\": \"klrl\", \"prior\": \"%s\", \"scorers\": [\"regex:^[a-m]\"]}", model);
    CHECK(pst_write_file_atomic(kspec, args, strlen(args), &err) == 0);
    snprintf(args, sizeof args, "tune --method ppo --spec %s --out %s/k1 %s", kspec, dir, common);
    CHECK(run(args, &out, 1) != 0);
    CHECK_MSG(strstr(out, "beta"), "%s", out);
    free(out);

    /* NaN rewards from an external scorer at its 4th batch: an error, checkpoint 2 kept */
    char scorer[300], espec[300];
    snprintf(scorer, sizeof scorer, "%s/nan_scorer.py", dir);
    const char *py = "import json, sys\n"
                     "n = 0\n"
                     "for line in sys.stdin:\n"
                     "    r = json.loads(line)\n"
                     "    n += 1\n"
                     "    s = float('nan') if n > 13 else 0.5\n"
                     "    print(json.dumps({'id': r['id'], 'score': s}), flush=True)\n";
    CHECK(pst_write_file_atomic(scorer, py, strlen(py), &err) == 0);
    snprintf(espec, sizeof espec, "%s/ext.json", dir);
    snprintf(args, sizeof args,
             "{\"kind\": \"klrl\", \"beta\": 1, \"prior\": \"%s\", \"scorers\": [\"external:/usr/bin/python3 %s\"]}",
             model,
             scorer);
    CHECK(pst_write_file_atomic(espec, args, strlen(args), &err) == 0);
    snprintf(args, sizeof args, "tune --method ppo --spec %s --out %s/e1 %s --steps 6", espec, dir, common);
    CHECK(run(args, &out, 1) == 1);
    printf("NaN scorer: %s", out);
    CHECK(strstr(out, "NaN") || strstr(out, "nan"));
    snprintf(path, sizeof path, "%s/e1/checkpoints/ckpt-3/value_head.safetensors", dir);
    CHECK_MSG(pst_file_exists(path), "the last good checkpoint (3) is kept: %s", out);
    free(out);

    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
    return check_report();
}
