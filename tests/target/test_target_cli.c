/* The target / tune / eval commands end to end on a tiny byte-level GPT-2 whose
 * exact first-token distribution is the reference: the target "first byte is a
 * lowercase letter" has Z = Σ_{id ∈ a..z} softmax(logits | <|endoftext|>)[id]. */
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

/* Runs a command line; captures stdout (and stderr into *errout if given); returns the exit code. */
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
    if (!errout) {
        char *e;
        if (rc != 0 && pst_read_file(fe, &e, &len, &err) == 0) {
            fprintf(stderr, "[%s] exit %d: %s\n", args, rc, e);
            free(e);
        }
    }
    return rc;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

int main(void) {
    const char *b = getenv("POSTERIOR_BIN");
    if (!b || !pst_file_exists(b)) {
        fprintf(stderr, "POSTERIOR_BIN not set or missing: build the posterior target first\n");
        return 1;
    }
    snprintf(bin, sizeof bin, "OMP_NUM_THREADS=1 %s", b);
    snprintf(dir, sizeof dir, "/tmp/pst_target_cli_%d", (int)getpid());
    char model[300], spec[300], dspec[300], args[2048];
    snprintf(model, sizeof model, "%s/prior", dir);
    snprintf(spec, sizeof spec, "%s/t.json", dir);
    snprintf(dspec, sizeof dspec, "%s/d.json", dir);

    /* the prior: 256 byte tokens + <|endoftext|>, a tiny random GPT */
    pst_tokenizer *tok;
    CHECK(pst_tokenizer_from_merges(&tok, NULL, 0, NULL, 0, &err) == 0);
    int V = pst_tokenizer_vocab_size(tok), eot = pst_tokenizer_token_id(tok, "<|endoftext|>");
    CHECK(V == 257 && eot == 256);
    pst_rng rng;
    pst_rng_seed(&rng, 31);
    pst_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_positions = 32, .vocab_size = V,
                           .layer_norm_epsilon = 1e-5f};
    pst_gpt2 m;
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    for (size_t i = 0; i < m.num_params; i++) m.param_memory[i] *= 3; /* not uniform */
    CHECK(pst_gpt2_save(&m, model, &err) == 0);
    CHECK(pst_tokenizer_save_dir(tok, model, &err) == 0);
    /* exact Z: first-token distribution after <|endoftext|> */
    float *logits = malloc(sizeof(float) * V);
    int prompt = eot;
    CHECK(pst_gpt2_forward(&m, &prompt, NULL, 1, 1, logits, &err) == 0);
    double mx = -INFINITY, s = 0, za = 0;
    for (int v = 0; v < V; v++) mx = fmax(mx, logits[v]);
    for (int v = 0; v < V; v++) s += exp(logits[v] - mx);
    for (int v = 0; v < V; v++) {
        size_t len;
        const char *bytes = pst_tokenizer_token_bytes(tok, v, &len);
        if (len == 1 && bytes[0] >= 'a' && bytes[0] <= 'z') za += exp(logits[v] - mx) / s;
    }
    printf("exact Z = %.5f\n", za);
    CHECK(za > 0.02 && za < 0.5);

    /* init, estimate */
    snprintf(args, sizeof args, "target init --kind pointwise --prior %s --out %s 'regex:^[a-z]'", model, spec);
    CHECK(run(args, NULL, NULL) == 0);
    CHECK(pst_file_exists(spec));
    char *out = NULL, *errs = NULL;
    snprintf(args, sizeof args, "target estimate --spec %s --n 3000 --max-new-tokens 4 --seed 2", spec);
    CHECK(run(args, &out, NULL) == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL);
    double z = num(j, "z"), lz = num(j, "log_z"), lz_se = num(j, "log_z_se");
    CHECK_MSG(fabs(lz - log(za)) < 4 * lz_se, "log Z %g vs exact %g (se %g)", lz, log(za), lz_se);
    CHECK_NEAR(num(j, "kl_pi_a"), 0.0, 1e-9);          /* π = a */
    CHECK_NEAR(num(j, "kl_p_pi"), -lz, 1e-6);           /* KL(p‖a) = −log Z for b ∈ {0,1} */
    CHECK_NEAR(num(j, "tvd_p_pi"), 1 - z, 1e-6);        /* TVD(p, a) = 1 − Z */
    cJSON_Delete(j);
    free(out);

    /* samplers: every accepted sample satisfies the constraint */
    const char *samplers[3] = {"rs", "qrs", "imh"};
    for (int k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "target sample --spec %s --sampler %s --n 40 --max-new-tokens 4 --seed 3", spec,
                 samplers[k]);
        CHECK(run(args, &out, &errs) == 0);
        CHECK_MSG(count_lines(out) == 40, "%s: %d lines", samplers[k], count_lines(out));
        int bad = 0;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            cJSON *o = cJSON_Parse(line);
            const cJSON *t = o ? cJSON_GetObjectItem(o, "text") : NULL;
            if (!cJSON_IsString(t) || !(t->valuestring[0] >= 'a' && t->valuestring[0] <= 'z')) bad++;
            cJSON_Delete(o);
        }
        CHECK_MSG(bad == 0, "%s: %d samples violate the constraint", samplers[k], bad);
        cJSON *st = cJSON_Parse(errs);
        CHECK_MSG(st && num(st, "acceptance_rate") > 0, "%s stats: %s", samplers[k], errs);
        cJSON_Delete(st);
        free(out);
        free(errs);
    }

    /* distributional: λ for μ̄ = 0.5 has the closed form logit(0.5) − logit(Z) */
    snprintf(args, sizeof args, "target init --kind distributional --moments 0.5 --prior %s --out %s 'regex:^[a-z]'",
             model, dspec);
    CHECK(run(args, NULL, NULL) == 0);
    /* before the fit, every command but `target fit` refuses the spec (it would be p = a) */
    {
        const char *cmds[4] = {"eval --model %s --spec %s --n 4", "target estimate --model %s --spec %s --n 4",
                               "target sample --sampler imh --model %s --spec %s --n 2",
                               "tune --init %s --spec %s --steps 1 --batch 2 --quiet --out /nonexistent/run"};
        for (int c = 0; c < 4; c++) {
            char *e2 = NULL;
            snprintf(args, sizeof args, cmds[c], model, dspec);
            CHECK_MSG(run(args, NULL, &e2) != 0 && e2 && strstr(e2, dspec) && strstr(e2, "target fit --spec"),
                      "%s: %s", args, e2 ? e2 : "");
            free(e2);
        }
    }
    snprintf(args, sizeof args, "target fit --spec %s --n 4000 --max-new-tokens 2 --seed 4", dspec);
    CHECK(run(args, &out, NULL) == 0);
    j = cJSON_Parse(out);
    const cJSON *lam = j ? cJSON_GetObjectItem(j, "lambda") : NULL;
    double lambda = cJSON_IsArray(lam) ? cJSON_GetArrayItem(lam, 0)->valuedouble : NAN;
    double closed = -log(za / (1 - za)), se = 1 / sqrt(4000 * za * (1 - za));
    CHECK_MSG(fabs(lambda - closed) < 4 * se, "lambda %g vs closed form %g (se %g)", lambda, closed, se);
    CHECK(num(j, "iterations") <= 12);
    /* its standard errors: for a binary φ with q = a, se(λ̂) = se(logit ẑ) = 1/√(n z(1−z)) and
     * E_p[φ] of the fitted target is 0.5 ± se/4 (Var_p[φ] = 1/4) */
    const cJSON *lse = cJSON_GetObjectItem(j, "lambda_se"), *mse = cJSON_GetObjectItem(j, "moment_se");
    double lambda_se = cJSON_IsArray(lse) ? cJSON_GetArrayItem(lse, 0)->valuedouble : NAN,
           moment_se = cJSON_IsArray(mse) ? cJSON_GetArrayItem(mse, 0)->valuedouble : NAN;
    CHECK_MSG(fabs(lambda_se / se - 1) < 0.1, "lambda_se %g vs %g", lambda_se, se);
    CHECK_MSG(fabs(moment_se / (se / 4) - 1) < 0.1, "moment_se %g vs %g", moment_se, se / 4);
    cJSON_Delete(j);
    free(out);
    /* a fit that pins E_p[φ] down less tightly than asked warns, naming the flag */
    snprintf(args, sizeof args,
             "target fit --spec %s --n 500 --max-new-tokens 2 --seed 4 --max-moment-se 0.001 --out %s.tmp", dspec,
             dspec);
    errs = NULL;
    CHECK(run(args, &out, &errs) == 0);
    CHECK_MSG(errs && strstr(errs, "--max-moment-se") && strstr(errs, "feature 0"), "stderr: %s", errs ? errs : "");
    free(out);
    free(errs);
    /* eval estimates the target's own moment E_p[φ] from the policy's samples: 0.5 here */
    snprintf(args, sizeof args, "eval --model %s --spec %s --n 2000 --max-new-tokens 2 --seed 6", model, dspec);
    CHECK(run(args, &out, NULL) == 0);
    j = cJSON_Parse(out);
    const cJSON *mp = j ? cJSON_GetObjectItem(j, "moments_p") : NULL,
                *mps = j ? cJSON_GetObjectItem(j, "moments_p_se") : NULL;
    double m_p = cJSON_IsArray(mp) ? cJSON_GetArrayItem(mp, 0)->valuedouble : NAN,
           m_se = cJSON_IsArray(mps) ? cJSON_GetArrayItem(mps, 0)->valuedouble : NAN;
    CHECK_MSG(m_se > 0 && fabs(m_p - 0.5) < 4 * hypot(m_se, moment_se), "E_p[phi] %g ± %g (fit ± %g)", m_p, m_se,
              moment_se);
    cJSON_Delete(j);
    free(out);
    pst_target_spec ds;
    CHECK(pst_target_spec_load(dspec, &ds, &err) == 0 && ds.has_lambda && fabs(ds.lambda[0] - lambda) < 1e-6);
    pst_target_spec_free(&ds);

    /* tune with KL-adaptive DPG, then eval: satisfaction rises from Z */
    char run_dir[300];
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    snprintf(args, sizeof args,
             "tune --method dpg --variant kl-adaptive --spec %s --out %s --steps 30 --batch 32 --lr 1e-2 "
             "--max-new-tokens 4 --checkpoint-every 10 --quiet",
             spec, run_dir);
    CHECK(run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "%s/metrics.jsonl", run_dir);
    char *metrics;
    size_t len;
    CHECK(pst_read_file(args, &metrics, &len, &err) == 0 && count_lines(metrics) == 30);
    free(metrics);
    snprintf(args, sizeof args, "tune --method dpg --variant kl-adaptive --spec %s --out %s --steps 40 --batch 32 "
                                "--lr 1e-2 --max-new-tokens 4 --checkpoint-every 10 --quiet --resume",
             spec, run_dir);
    CHECK(run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "%s/metrics.jsonl", run_dir);
    CHECK(pst_read_file(args, &metrics, &len, &err) == 0 && count_lines(metrics) == 40);
    CHECK(strstr(metrics, "\"step\": 40,") != NULL);
    free(metrics);
    snprintf(args, sizeof args, "eval --model %s/model --spec %s --n 600 --max-new-tokens 4 --seed 5", run_dir, spec);
    CHECK(run(args, &out, NULL) == 0);
    j = cJSON_Parse(out);
    const cJSON *al = j ? cJSON_GetObjectItem(j, "alignment") : NULL;
    double sat = cJSON_IsArray(al) ? cJSON_GetArrayItem(al, 0)->valuedouble : NAN;
    printf("satisfaction %.3f -> %.3f after 40 DPG steps; KL(pi|a) %.3f (ideal %.3f); distinct-1 %.3f\n", za, sat,
           num(j, "kl_pi_a"), -log(za), num(j, "distinct_1"));
    CHECK_MSG(sat > za + 0.3, "satisfaction %g (base %g)", sat, za);
    CHECK(num(j, "kl_pi_a") > 0 && num(j, "distinct_1") > 0 && num(j, "distinct_1") <= 1);
    cJSON_Delete(j);
    free(out);

    /* CDPG through the CLI: prompts as contexts (one Z per prompt), then eval given a prompt */
    {
        char prompts[300];
        snprintf(prompts, sizeof prompts, "%s/prompts.txt", dir);
        const char *pt = "Hello\nabc\n\n";
        CHECK(pst_write_file_atomic(prompts, pt, strlen(pt), &err) == 0);
        snprintf(args, sizeof args,
                 "tune --spec %s --out %s/cdpg --prompts %s --steps 4 --batch 8 --max-new-tokens 3 --quiet", spec, dir,
                 prompts);
        CHECK(run(args, NULL, NULL) == 0);
        snprintf(args, sizeof args, "%s/cdpg/run.json", dir);
        char *rj;
        size_t rl;
        CHECK(pst_read_file(args, &rj, &rl, &err) == 0 && strstr(rj, "\"contexts\":\t2"));
        free(rj);
        snprintf(args, sizeof args, "eval --model %s/cdpg/model --spec %s --n 20 --max-new-tokens 3 --prompt Hello",
                 dir, spec);
        CHECK(run(args, &out, NULL) == 0 && strstr(out, "\"alignment\""));
        free(out);
    }

    /* LM loss on a one-document shard: equals −(1/20)·log π(doc ++ eot | eot) */
    {
        uint32_t ids[20];
        int seq[22];
        seq[0] = eot;
        for (int i = 0; i < 20; i++) ids[i] = (uint32_t)((i * 37 + 11) % 256), seq[i + 1] = (int)ids[i];
        seq[21] = eot;
        uint64_t th;
        CHECK(pst_tokenizer_hash(tok, &th, &err) == 0);
        pst_shard_builder sbld;
        size_t ends[1] = {20};
        float sc[1] = {0};
        char shard_path[300];
        snprintf(shard_path, sizeof shard_path, "%s/doc.shard", dir);
        CHECK(pst_shard_builder_init(&sbld, (uint32_t)V, (uint32_t)eot, th, NULL, &err) == 0);
        CHECK(pst_shard_builder_add(&sbld, ids, 20, ends, sc, 1, 0, &err) == 0);
        CHECK(pst_shard_builder_write(&sbld, shard_path, PST_SPLIT_ALL, 0, 0, &err) == 0);
        pst_shard_builder_free(&sbld);
        /* the loader's stream is doc ++ eot: the first row's inputs are doc[0..19], its
         * targets doc[1..19], eot — 20 positions, the first scored token doc[1] given doc[0] */
        double lp;
        const int *sp2 = seq + 1;
        int slen2 = 21, plen2 = 1;
        CHECK(pst_gpt2_score(&m, &sp2, &slen2, &plen2, 1, &lp, NULL, &err) == 0);
        snprintf(args, sizeof args, "eval --model %s --spec %s --n 8 --max-new-tokens 2 --data %s --lm-seq 32", model,
                 spec, shard_path);
        CHECK(run(args, &out, NULL) == 0);
        j = cJSON_Parse(out);
        CHECK_MSG(fabs(num(j, "lm_loss") - (-lp / 20)) < 1e-4, "lm_loss %g vs %g", num(j, "lm_loss"), -lp / 20);
        CHECK(num(j, "lm_tokens") == 20);
        cJSON_Delete(j);
        free(out);
    }

    /* bad input: clear errors, non-zero exits */
    char bad_spec[300];
    snprintf(bad_spec, sizeof bad_spec, "%s/bad.json", dir);
    const char *missing = "{\"kind\": \"pointwise\", \"prior\": \"/nonexistent/prior\", \"scorers\": [\"pii\"]}";
    CHECK(pst_write_file_atomic(bad_spec, missing, strlen(missing), &err) == 0);
    snprintf(args, sizeof args, "target estimate --spec %s", bad_spec);
    CHECK(run(args, NULL, &errs) == 1 && strstr(errs, "/nonexistent/prior"));
    free(errs);
    snprintf(args, sizeof args, "target init --prior %s --out %s/u.json 'bogus:1'", model, dir);
    CHECK(run(args, NULL, &errs) == 1 && strstr(errs, "bogus"));
    free(errs);
    /* rs is exact for a distributional target with a bounded feature too (envelope e^max(λ,0)) */
    snprintf(args, sizeof args, "target sample --spec %s --sampler rs --n 5 --max-new-tokens 2", dspec);
    CHECK(run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "target fit --spec %s", spec);
    CHECK(run(args, NULL, &errs) == 1 && strstr(errs, "distributional"));
    free(errs);
    snprintf(args, sizeof args, "tune --spec %s --out %s/r2 --variant ppo", spec, dir);
    CHECK(run(args, NULL, &errs) == 2 && strstr(errs, "ppo"));
    free(errs);
    /* a constraint no sample satisfies: Z = 0 is an error in training */
    snprintf(args, sizeof args, "target init --prior %s --out %s/never.json 'regex:^QQQQ$'", model, dir);
    CHECK(run(args, NULL, NULL) == 0);
    snprintf(args, sizeof args, "target estimate --spec %s/never.json --n 50 --max-new-tokens 2", dir);
    CHECK(run(args, &out, &errs) == 1 && strstr(errs, "Z is estimated as 0") && strstr(out, "\"z\": 0,"));
    free(out);
    free(errs);
    snprintf(args, sizeof args, "tune --spec %s/never.json --out %s/r3 --steps 3 --batch 8 --quiet --n-exact 0", dir,
             dir);
    CHECK(run(args, NULL, &errs) == 1 && strstr(errs, "Z estimate is 0"));
    free(errs);
    /* with exact samples (the default) the same target fails before training, naming the rate and budget */
    snprintf(args, sizeof args, "tune --spec %s/never.json --out %s/r4 --steps 3 --batch 8 --quiet --max-proposals 2000",
             dir, dir);
    CHECK(run(args, NULL, &errs) == 1 && strstr(errs, "acceptance rate below") && strstr(errs, "2000"));
    free(errs);
    CHECK(run("target --help", &out, NULL) == 0 && strstr(out, "estimate"));
    free(out);
    CHECK(run("tune --help", &out, NULL) == 0 && strstr(out, "--variant"));
    free(out);

    snprintf(args, sizeof args, "rm -rf %s", dir);
    CHECK(system(args) == 0);
    free(logits);
    pst_gpt2_free(&m);
    pst_tokenizer_free(tok);
    return check_report();
}
