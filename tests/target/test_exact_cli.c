/* The exact-sample yardstick end to end, on a tiny byte-level GPT-2 with one new token
 * per sample, where p and every policy are enumerable (257 first tokens):
 *   - target sample --sampler rs --out: a reference set whose log Ẑ matches the exact Z;
 *   - eval --reference: KL(p‖π) and TVD from exact samples match the enumerated values,
 *     for the prior and for a policy that drops part of p (there the importance-sampled
 *     KL from the policy's own samples is far too low, and the warnings fire);
 *   - bad input: a reference of another target, a budget too small for the acceptance
 *     rate, another truncation, a policy with another vocabulary: clear errors, exit != 0,
 *     nothing written. */
#include "check.h"
#include "posterior/shard.h"
#include "posterior/target.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pst_error err;
static char bin[1024], dir[256];

/* Runs a command line; stdout into *out, stderr into *errout (each may be NULL); the exit code. */
static int run(const char *args, char **out, char **errout) {
    char cmd[4096], fo[300], fe[300];
    snprintf(fo, sizeof fo, "%s/out.txt", dir);
    snprintf(fe, sizeof fe, "%s/err.txt", dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", bin, args, fo, fe);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : 255;
    size_t len;
    if (out && pst_read_file(fo, out, &len, &err) < 0) *out = strdup("");
    if (errout && pst_read_file(fe, errout, &len, &err) < 0) *errout = strdup("");
    return rc;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* log-softmax of the first token after <|endoftext|> */
static void first_token_logprobs(pst_gpt2 *m, int eot, double *lp) {
    int V = m->config.vocab_size;
    float *logits = malloc(sizeof(float) * V);
    CHECK(pst_gpt2_forward(m, &eot, NULL, 1, 1, logits, &err) == 0);
    double mx = -INFINITY, s = 0;
    for (int v = 0; v < V; v++) mx = fmax(mx, logits[v]);
    for (int v = 0; v < V; v++) s += exp(logits[v] - mx);
    for (int v = 0; v < V; v++) lp[v] = logits[v] - mx - log(s);
    free(logits);
}

static int is_letter(pst_tokenizer *tok, int v) {
    size_t len;
    const char *b = pst_tokenizer_token_bytes(tok, v, &len);
    return len == 1 && b[0] >= 'a' && b[0] <= 'z';
}

/* A policy that drops the letters a..m: their tied embedding rows are set to −40·h/|h|²,
 * h = the final hidden state after <|endoftext|> (read off the logits with unit rows). */
static void make_dropping_policy(pst_gpt2 *m, pst_tokenizer *tok, int eot, const char *path) {
    int C = m->config.n_embd, V = m->config.vocab_size, probe = 'z';
    float *wte = m->param_memory, *save = malloc(sizeof(float) * C), *logits = malloc(sizeof(float) * V);
    double *h = malloc(sizeof(double) * C), hh = 0;
    memcpy(save, wte + (size_t)probe * C, sizeof(float) * C);
    for (int j = 0; j < C; j++) {
        for (int c = 0; c < C; c++) wte[(size_t)probe * C + c] = c == j;
        CHECK(pst_gpt2_forward(m, &eot, NULL, 1, 1, logits, &err) == 0);
        h[j] = logits[probe];
        hh += h[j] * h[j];
    }
    memcpy(wte + (size_t)probe * C, save, sizeof(float) * C);
    for (int v = 0; v < V; v++) {
        size_t len;
        const char *b = pst_tokenizer_token_bytes(tok, v, &len);
        if (len == 1 && b[0] >= 'a' && b[0] <= 'm')
            for (int c = 0; c < C; c++) wte[(size_t)v * C + c] = (float)(-40 * h[c] / hh);
    }
    CHECK(pst_gpt2_save(m, path, &err) == 0);
    CHECK(pst_tokenizer_save_dir(tok, path, &err) == 0);
    free(save), free(logits), free(h);
}

int main(void) {
    const char *b = getenv("POSTERIOR_BIN");
    if (!b || !pst_file_exists(b)) {
        fprintf(stderr, "POSTERIOR_BIN not set or missing: build the posterior target first\n");
        return 1;
    }
    snprintf(bin, sizeof bin, "OMP_NUM_THREADS=1 %s", b);
    snprintf(dir, sizeof dir, "/tmp/pst_exact_cli_%d", (int)getpid());
    char model[300], drop[300], other[300], spec[300], spec2[300], ref[300], args[2048];
    snprintf(model, sizeof model, "%s/prior", dir);
    snprintf(drop, sizeof drop, "%s/drop", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    snprintf(spec, sizeof spec, "%s/t.json", dir);
    snprintf(spec2, sizeof spec2, "%s/t2.json", dir);
    snprintf(ref, sizeof ref, "%s/ref.jsonl", dir);

    pst_tokenizer *tok;
    CHECK(pst_tokenizer_from_merges(&tok, NULL, 0, NULL, 0, &err) == 0);
    int V = pst_tokenizer_vocab_size(tok), eot = pst_tokenizer_token_id(tok, "<|endoftext|>");
    pst_rng rng;
    pst_rng_seed(&rng, 31);
    pst_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_positions = 32, .vocab_size = V,
                           .layer_norm_epsilon = 1e-5f};
    pst_gpt2 m;
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    for (size_t i = 0; i < m.num_params; i++) m.param_memory[i] *= 3;
    CHECK(pst_gpt2_save(&m, model, &err) == 0);
    CHECK(pst_tokenizer_save_dir(tok, model, &err) == 0);

    /* exact p over the first token, p = a·1[letter]/Z */
    double *la = malloc(sizeof(double) * V), *lpi = malloc(sizeof(double) * V);
    first_token_logprobs(&m, eot, la);
    double z = 0;
    for (int v = 0; v < V; v++) z += is_letter(tok, v) ? exp(la[v]) : 0;
    make_dropping_policy(&m, tok, eot, drop);
    first_token_logprobs(&m, eot, lpi);
    double kl_drop = 0, tvd_drop = 0, dropped = 0;
    for (int v = 0; v < V; v++) {
        double p = is_letter(tok, v) ? exp(la[v]) / z : 0;
        if (p > 0) kl_drop += p * (log(p) - lpi[v]);
        tvd_drop += 0.5 * fabs(p - exp(lpi[v]));
        if (p > 0 && lpi[v] - la[v] < -10) dropped += p;
    }
    printf("exact Z = %.5f, KL(p|drop) = %.4f, mass dropped %.3f\n", z, kl_drop, dropped);
    CHECK(z > 0.05 && z < 0.5 && kl_drop > 3 && dropped > 0.1);

    /* a reference set of exact samples */
    snprintf(args, sizeof args, "target init --kind pointwise --prior %s --out %s 'regex:^[a-z]'", model, spec);
    CHECK(run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "target sample --spec %s --n 3000 --max-new-tokens 1 --seed 2 --out %s", spec, ref);
    char *out = NULL, *errs = NULL;
    CHECK(run(args, &out, &errs) == 0);
    cJSON *st = cJSON_Parse(errs);
    double lz = num(st, "log_z"), lz_se = num(st, "log_z_se");
    CHECK_MSG(fabs(lz - log(z)) < 3 * lz_se, "rs log Z %g vs exact %g (se %g)", lz, log(z), lz_se);
    cJSON_Delete(st);
    free(out), free(errs);

    /* eval of the prior and of the dropping policy against it */
    const char *models[2] = {model, drop};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "eval --model %s --spec %s --n 2000 --max-new-tokens 1 --seed 3 --reference %s",
                 models[k], spec, ref);
        CHECK(run(args, &out, &errs) == 0);
        cJSON *j = cJSON_Parse(out);
        CHECK(j != NULL);
        double kl = num(j, "kl_p_pi_exact"), kl_se = num(j, "kl_p_pi_exact_se"), tvd = num(j, "tvd_p_pi_exact"),
               tvd_se = num(j, "tvd_p_pi_exact_se"), kl_is = num(j, "kl_p_pi");
        double want_kl = k ? kl_drop : -log(z), want_tvd = k ? tvd_drop : 1 - z;
        CHECK(num(j, "n_exact") == 3000);
        CHECK_MSG(fabs(kl - want_kl) < 3 * kl_se, "%s: exact KL %g ± %g vs %g", models[k], kl, kl_se, want_kl);
        CHECK_MSG(fabs(tvd - want_tvd) < 3 * tvd_se + 1e-9, "%s: exact TVD %g ± %g vs %g", models[k], tvd, tvd_se,
                  want_tvd);
        const cJSON *w = cJSON_GetObjectItem(j, "warnings");
        if (k == 0) { /* π = a covers p: no warning, both estimators agree */
            CHECK_MSG(cJSON_GetArraySize(w) == 0, "prior: warnings %s", errs);
            CHECK(num(j, "dropped_fraction") == 0);
        } else { /* π dropped letters a..m: IS from π is blind to it */
            CHECK_MSG(kl_is < want_kl - 2, "IS KL %g vs exact %g", kl_is, want_kl);
            CHECK_MSG(fabs(num(j, "dropped_fraction") - dropped) < 0.05, "dropped %g vs %g",
                      num(j, "dropped_fraction"), dropped);
            CHECK_MSG(errs && strstr(errs, "disagree") && strstr(errs, "mass dropped"), "stderr: %s", errs);
            CHECK(cJSON_GetArraySize(w) == 2);
        }
        cJSON_Delete(j);
        free(out), free(errs);
    }

    /* drawn on the fly (no --reference): the same quantities */
    snprintf(args, sizeof args, "eval --model %s --spec %s --n 500 --n-exact 1500 --max-new-tokens 1 --seed 4", drop,
             spec);
    CHECK(run(args, &out, NULL) == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK_MSG(fabs(num(j, "kl_p_pi_exact") - kl_drop) < 3 * num(j, "kl_p_pi_exact_se"), "on the fly: %g vs %g",
              num(j, "kl_p_pi_exact"), kl_drop);
    CHECK(num(j, "n_exact") == 1500);
    cJSON_Delete(j);
    free(out);

    /* tune measures on the exact samples every --exact-every steps */
    snprintf(args, sizeof args,
             "tune --spec %s --out %s/run --steps 6 --batch 16 --lr 1e-2 --max-new-tokens 1 --exact-every 3 "
             "--n-exact 200 --quiet",
             spec, dir);
    CHECK(run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "%s/run/metrics.jsonl", dir);
    char *metrics;
    size_t len;
    CHECK(pst_read_file(args, &metrics, &len, &err) == 0);
    int with_exact = 0;
    for (char *l = strtok(metrics, "\n"); l; l = strtok(NULL, "\n")) with_exact += strstr(l, "kl_p_pi_exact") != NULL;
    CHECK_MSG(with_exact == 2, "%d metrics lines with exact estimates", with_exact);
    free(metrics);
    snprintf(args, sizeof args, "%s/run/reference.jsonl", dir);
    CHECK(pst_file_exists(args));

    /* bad input */
    snprintf(args, sizeof args, "target init --kind pointwise --prior %s --out %s 'regex:^[b-z]'", model, spec2);
    CHECK(run(args, NULL, NULL) == 0);
    struct {
        const char *args, *want;
    } bad[] = {
        {"eval --model %s --spec %s --n 10 --max-new-tokens 1 --reference %s", "another target"},
        {"eval --model %s --spec %s --n 10 --max-new-tokens 2 --reference %s", "new tokens"},
        {"eval --model %s --spec %s --n 10 --max-new-tokens 1 --n-exact 1000 --max-proposals 640 --seed 1%s",
         "budget"},
        {"tune --init %s --spec %s --steps 1 --batch 4 --max-new-tokens 1 --quiet --out %s.run", "another target"},
    };
    for (int i = 0; i < 4; i++) {
        snprintf(args, sizeof args, bad[i].args, model, i == 0 || i == 3 ? spec2 : spec, i == 2 ? "" : ref);
        if (i == 3) /* the reference of the first target for a run of the second */
            snprintf(args, sizeof args, "tune --init %s --spec %s --steps 1 --batch 4 --max-new-tokens 1 --quiet "
                                        "--out %s/badrun --reference %s",
                     model, spec2, dir, ref);
        CHECK_MSG(run(args, &out, &errs) != 0 && strstr(errs, bad[i].want) && out[0] == 0, "%s: %s", args, errs);
        if (i == 2) CHECK_MSG(strstr(errs, "acceptance rate") && strstr(errs, "640"), "%s", errs);
        free(out), free(errs);
    }
    snprintf(args, sizeof args, "%s/badrun", dir);
    CHECK(!pst_file_exists(args)); /* nothing written */
    /* a policy whose tokenizer differs: the same model, ids of "a" and "b" swapped */
    CHECK(pst_gpt2_save(&m, other, &err) == 0);
    CHECK(pst_tokenizer_save_dir(tok, other, &err) == 0);
    snprintf(args, sizeof args, "%s/vocab.json", other);
    char *vocab;
    CHECK(pst_read_file(args, &vocab, &len, &err) == 0);
    char *ka = strstr(vocab, "\"a\":"), *kb = strstr(vocab, "\"b\":");
    CHECK(ka && kb);
    if (ka && kb) ka[1] = 'b', kb[1] = 'a';
    CHECK(pst_write_file_atomic(args, vocab, len, &err) == 0);
    free(vocab);
    snprintf(args, sizeof args, "eval --model %s --spec %s --n 10 --max-new-tokens 1 --reference %s", other, spec, ref);
    CHECK(run(args, &out, &errs) != 0 && strstr(errs, "vocabulary") && out[0] == 0);
    printf("%s", errs);
    free(out), free(errs);

    pst_gpt2_free(&m);
    pst_tokenizer_free(tok);
    free(la), free(lpi);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    CHECK(system(args) == 0);
    return check_report();
}
