/* PPO on a tiny GPT-2.
 *
 * Without arguments: the GPT-2 distribution's token pass (micro-batched, with contexts)
 * gives the same log-probs as score and, for J = Σ_i c_i·Σ_t log π(x_t), the same gradient
 * as accumulate with coefficients c_i.
 *
 * test_ppo_gpt2 --eval IN.json OUT.json (tests/train/test_ppo_torch.py): IN names a model
 * directory and holds a minibatch (contexts, continuations, per-token log π_old, V_old,
 * advantages, returns), the value head and PPO's clip settings; OUT receives PPO's loss
 * (pst_ppo_minibatch: policy, value, total), its gradient over every model parameter (the
 * C buffer layout) and over the value head, and the clip fractions, as JSON. */
#include "check.h"
#include "posterior/rl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static pst_error err;

/* ---- --eval ---------------------------------------------------------------------------- */

static int *int_array(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    int *out = malloc(sizeof(int) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++) out[i] = cJSON_GetArrayItem(a, i)->valueint;
    return out;
}

static float *float_array(const cJSON *root, const char *key, int *n) {
    const cJSON *a = cJSON_GetObjectItem(root, key);
    *n = cJSON_GetArraySize(a);
    float *out = malloc(sizeof(float) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++) out[i] = (float)cJSON_GetArrayItem(a, i)->valuedouble;
    return out;
}

static cJSON *json_floats(const float *x, size_t n) {
    cJSON *a = cJSON_CreateArray();
    char buf[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "%.9g", x[i]);
        cJSON_AddItemToArray(a, cJSON_CreateRaw(buf));
    }
    return a;
}

static int eval_mode(const char *in, const char *out) {
    char *text;
    size_t len;
    if (pst_read_file(in, &text, &len, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 2;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return fprintf(stderr, "%s: not JSON\n", in), 2;
    const cJSON *ctxs = cJSON_GetObjectItem(root, "contexts"), *conts = cJSON_GetObjectItem(root, "xs");
    int n = cJSON_GetArraySize(conts), nv, k;
    pst_gpt2_policy_options po;
    pst_gpt2_policy_options_default(&po);
    po.micro_batch = cJSON_GetObjectItem(root, "micro_batch")->valueint;
    pst_distribution d;
    if (pst_gpt2_distribution_load(cJSON_GetObjectItem(root, "model")->valuestring, &po, &d, &err) < 0)
        return fprintf(stderr, "%s\n", err.msg), 2;
    pst_seq *cs = calloc((size_t)n, sizeof *cs);
    pst_sample *xs = calloc((size_t)n, sizeof *xs);
    int *off = calloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        cs[i].tokens = int_array(cJSON_GetArrayItem(ctxs, i), &cs[i].n);
        xs[i].tokens = int_array(cJSON_GetArrayItem(conts, i), &xs[i].n_tokens);
        off[i + 1] = off[i] + xs[i].n_tokens;
    }
    pst_ppo_options p;
    pst_ppo_options_default(&p);
    p.clip = cJSON_GetObjectItem(root, "clip")->valuedouble;
    p.value_clip = cJSON_GetObjectItem(root, "value_clip")->valuedouble;
    p.vf_coef = cJSON_GetObjectItem(root, "vf_coef")->valuedouble;
    float *lp_old = float_array(root, "lp_old", &k), *v_old = float_array(root, "v_old", &k),
          *adv = float_array(root, "adv", &k), *ret = float_array(root, "ret", &k), *v = float_array(root, "vh", &nv);
    pst_value_head vh;
    int rc = 2;
    if (pst_value_head_create(&vh, nv - 1, &err) == 0) {
        memcpy(vh.param, v, sizeof(float) * (size_t)nv);
        pst_ppo_batch b = {off, lp_old, v_old, adv, ret};
        pst_ppo_step s = {0};
        pst_dist_zero_grad(&d);
        if (pst_ppo_minibatch(&d, &vh, &p, cs, xs, n, &b, &s, &err) == 0) {
            pst_gpt2 *m = pst_gpt2_distribution_model(&d);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "policy_loss", s.policy_loss);
            cJSON_AddNumberToObject(o, "value_loss", s.value_loss);
            cJSON_AddNumberToObject(o, "loss", s.policy_loss + p.vf_coef * s.value_loss);
            cJSON_AddNumberToObject(o, "clip_fraction", s.clip_fraction);
            cJSON_AddNumberToObject(o, "value_clip_fraction", s.value_clip_fraction);
            cJSON_AddItemToObject(o, "grads", json_floats(m->grad_memory, m->num_params));
            cJSON_AddItemToObject(o, "vh_grad", json_floats(vh.grad, (size_t)nv));
            char *js = cJSON_PrintUnformatted(o);
            rc = pst_write_file_atomic(out, js, strlen(js), &err) == 0 ? 0 : 2;
            free(js);
            cJSON_Delete(o);
        }
        pst_value_head_free(&vh);
    }
    if (rc) fprintf(stderr, "%s\n", err.msg);
    for (int i = 0; i < n; i++) free((void *)cs[i].tokens), free(xs[i].tokens);
    free(cs), free(xs), free(off), free(lp_old), free(v_old), free(adv), free(ret), free(v);
    pst_distribution_free(&d);
    cJSON_Delete(root);
    return rc;
}

/* ---- the token pass against score and accumulate ---------------------------------------- */

typedef struct {
    const double *c;
    double lp[8];
} pass_ctx;

static int coef_fn(void *ctx, int i, int T, const float *lp, const float *h, int C, float *dl, float *dh,
                   pst_error *e) {
    pass_ctx *pc = ctx;
    (void)h, (void)C, (void)dh, (void)e;
    pc->lp[i] = 0;
    for (int t = 0; t < T; t++) pc->lp[i] += lp[t], dl[t] = (float)pc->c[i];
    return 0;
}

static void test_token_pass(void) {
    pst_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_positions = 16, .vocab_size = 29,
                           .layer_norm_epsilon = 1e-5f};
    pst_gpt2 m;
    pst_rng rng;
    pst_rng_seed(&rng, 11);
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    pst_gpt2_policy_options po;
    pst_gpt2_policy_options_default(&po);
    po.micro_batch = 3;
    po.sampling.max_new_tokens = 6;
    pst_distribution a, b;
    CHECK(pst_gpt2_distribution_from(&m, &po, &a, &err) == 0 && pst_gpt2_distribution_from(&m, &po, &b, &err) == 0);
    int ctx_tokens[8][2];
    pst_seq cs[8];
    pst_sample xs[8];
    double c[8], lp[8];
    for (int i = 0; i < 8; i++) {
        ctx_tokens[i][0] = 1 + i, ctx_tokens[i][1] = 2 + i;
        cs[i] = (pst_seq){ctx_tokens[i], 1 + i % 2};
        c[i] = pst_rng_uniform(&rng) - 0.5;
    }
    CHECK(pst_dist_sample(&a, cs, 8, &rng, xs, &err) == 0);
    CHECK(pst_dist_has_tokens(&a) && pst_dist_hidden_size(&a) == 16);
    pass_ctx pc = {c, {0}};
    pst_dist_zero_grad(&a);
    pst_dist_zero_grad(&b);
    CHECK(pst_dist_token_pass(&a, cs, xs, 8, 1, coef_fn, &pc, &err) == 0);
    CHECK(pst_dist_accumulate(&b, cs, xs, c, 8, lp, &err) == 0);
    for (int i = 0; i < 8; i++) CHECK_NEAR(pc.lp[i], lp[i], 1e-4);
    pst_gpt2 *ga = pst_gpt2_distribution_model(&a), *gb = pst_gpt2_distribution_model(&b);
    double d = 0, r = 0;
    for (size_t j = 0; j < ga->num_params; j++) {
        double x = ga->grad_memory[j], y = gb->grad_memory[j];
        d += (x - y) * (x - y), r += y * y;
    }
    CHECK_MSG(r > 0 && sqrt(d / r) < 1e-5, "token pass vs accumulate: relative gradient error %g", sqrt(d / r));
    CHECK(pst_gpt2_distribution_model(&(pst_distribution){0}) == NULL);
    pst_sample_free(xs, 8);
    pst_distribution_free(&a), pst_distribution_free(&b);
    pst_gpt2_free(&m);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--eval") == 0) return eval_mode(argv[2], argv[3]);
    test_token_pass();
    return check_report();
}
