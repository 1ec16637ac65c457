/* eval --prompts: one evaluation per context, averaged, on a tiny byte-level GPT-2 with one
 * new token per sample, where every p_c is enumerable: p_c(v) ∝ a(v | c)·[v is a letter].
 * Each context's log Ẑ_c (rejection) and KL(p_c‖π_c) on exact samples (π = the prior, so
 * KL(p_c‖a_c) = −log Z_c) lie within 3 standard errors of the enumerated values; the
 * averages are the means of the rows; a context whose exact samples are out of budget is
 * named and kept; an empty prompt line and an over-long prompt are errors naming the line. */
#include "cli/cli_model.h"

#include <cjson/cJSON.h>
#include <math.h>

/* log Z_c = log Σ_{v letter} a(v | c) for the byte tokenizer's context bytes c. */
static double exact_log_z(pst_gpt2 *m, const char *prompt) {
    int T = (int)strlen(prompt), V = m->config.vocab_size;
    int *ids = malloc(sizeof(int) * T);
    for (int t = 0; t < T; t++) ids[t] = (unsigned char)prompt[t];
    float *logits = malloc(sizeof(float) * (size_t)T * V);
    CHECK(pst_gpt2_forward(m, ids, NULL, 1, T, logits, &err) == 0);
    const float *l = logits + (size_t)(T - 1) * V;
    double mx = -INFINITY, s = 0, z = 0;
    for (int v = 0; v < V; v++) mx = fmax(mx, l[v]);
    for (int v = 0; v < V; v++) s += exp(l[v] - mx);
    for (int v = 'a'; v <= 'z'; v++) z += exp(l[v] - mx) / s;
    free(ids), free(logits);
    return log(z);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void) {
    if (cli_init("pst_context_eval") < 0) return 1;
    char model[300], spec[300], prompts[300], args[2048], *out = NULL;
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(spec, sizeof spec, "%s/spec.json", dir);
    snprintf(prompts, sizeof prompts, "%s/prompts.txt", dir);
    make_model(model, 0.5f);
    pst_gpt2 m;
    CHECK(pst_gpt2_load(&m, model, &err) == 0);
    const char *ctx[3] = {"ab", "Zz9", "q"};
    FILE *f = fopen(prompts, "w");
    fprintf(f, "%s\n%s\n%s\n", ctx[0], ctx[1], ctx[2]);
    fclose(f);
    snprintf(args, sizeof args, "target init --prior %s --out %s 'regex:^[a-z]'", model, spec);
    CHECK(run(args, &out, 1) == 0);
    free(out);

    snprintf(args, sizeof args,
             "eval --model %s --spec %s --prompts %s --n 64 --n-exact 3000 --max-new-tokens 1 --seed 5", model, spec,
             prompts);
    CHECK(run(args, &out, 0) == 0);
    cJSON *r = cJSON_Parse(out);
    CHECK_MSG(r != NULL, "not JSON: %s", out);
    const cJSON *rows = cJSON_GetObjectItem(r, "contexts");
    CHECK(num(r, "n_contexts") == 3 && num(r, "n_exact_contexts") == 3 && cJSON_GetArraySize(rows) == 3);
    double mean_kl = 0;
    for (int i = 0; i < 3 && cJSON_GetArraySize(rows) == 3; i++) {
        const cJSON *w = cJSON_GetArrayItem(rows, i);
        double lz = exact_log_z(&m, ctx[i]);
        printf("context %s: log Z_c %.4f, rejection %.4f +- %.4f; KL(p_c|a_c) exact %.4f, measured %.4f +- %.4f\n",
               ctx[i], lz, num(w, "log_z"), num(w, "log_z_se"), -lz, num(w, "kl_p_pi_exact"),
               num(w, "kl_p_pi_exact_se"));
        CHECK(num(w, "line") == i + 1);
        CHECK_MSG(fabs(num(w, "log_z") - lz) < 3 * num(w, "log_z_se"), "context %d: log Z", i);
        CHECK_MSG(fabs(num(w, "kl_p_pi_exact") + lz) < 3 * num(w, "kl_p_pi_exact_se") + 1e-3, "context %d: KL", i);
        CHECK(fabs(num(w, "kl_pi_a")) < 1e-4); /* π = a */
        mean_kl += num(w, "kl_p_pi_exact") / 3;
    }
    CHECK_NEAR(num(r, "kl_p_pi_exact"), mean_kl, 1e-5);
    CHECK(num(r, "log_z_min") <= num(r, "log_z_median") && num(r, "log_z_median") <= num(r, "log_z_max"));
    cJSON_Delete(r);
    free(out);

    /* a budget too small for every context: each named on stderr, the estimates from π kept */
    snprintf(args, sizeof args,
             "eval --model %s --spec %s --prompts %s --n 16 --n-exact 3000 --max-proposals 100 --max-new-tokens 1",
             model, spec, prompts);
    CHECK(run(args, &out, 1) == 0);
    CHECK_MSG(strstr(out, "prompts.txt:2: no exact samples") && strstr(out, "\"n_exact_contexts\": 0"), "%s", out);
    free(out);

    /* --max-contexts */
    snprintf(args, sizeof args, "eval --model %s --spec %s --prompts %s --n 8 --n-exact 0 --max-new-tokens 1 "
             "--max-contexts 2", model, spec, prompts);
    CHECK(run(args, &out, 0) == 0 && strstr(out, "\"n_contexts\": 2"));
    free(out);

    /* an empty prompt line; a prompt longer than the model's context */
    f = fopen(prompts, "w");
    fprintf(f, "ab\n\nq\n");
    fclose(f);
    snprintf(args, sizeof args, "eval --model %s --spec %s --prompts %s --n 8 --max-new-tokens 1", model, spec,
             prompts);
    CHECK(run(args, &out, 1) != 0);
    CHECK_MSG(strstr(out, "prompts.txt:2: empty prompt"), "%s", out);
    free(out);
    f = fopen(prompts, "w");
    fprintf(f, "ab\nthis prompt is far longer than sixteen bytes\n");
    fclose(f);
    CHECK(run(args, &out, 1) != 0);
    CHECK_MSG(strstr(out, "prompts.txt:2") && strstr(out, "n_positions"), "%s", out);
    free(out);

    pst_gpt2_free(&m);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    CHECK(system(args) == 0);
    return check_report();
}
