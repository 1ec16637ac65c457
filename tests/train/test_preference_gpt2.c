/* Preference losses on GPT-2 against PyTorch (tests/train/preference_reference.py, float64
 * autograd): the reward model's rewards, the Bradley–Terry loss and its gradients w.r.t. the
 * head and every trunk tensor; the DPO sigmoid / cDPO / IPO / hinge losses and their gradients
 * w.r.t. every policy tensor — all to 1e-5 relative (losses |Δ|/|L|, gradients ‖Δ‖/‖g‖ per
 * tensor). Then the reward-model directory round trip (score.weight beside the trunk, HF
 * names) and a language-model directory refused as rm: ("no reward head").
 *
 *   test_preference_gpt2 [FIXTURE]   (default tests/fixtures/train/preference_gpt2.safetensors;
 *                                      tests/train/test_preference_torch.py passes a fresh one) */
#include "check.h"
#include "fixture.h"
#include "posterior/preference.h"
#include "posterior/reward_model.h"
#include "posterior/scorer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE "tests/fixtures/train/preference_gpt2.safetensors"
#define TOL 1e-5

static pst_error err;
/* per tensor ‖Δ‖/‖g‖; a tensor whose exact gradient is zero (BT: ln_f.bias, since r_w and r_l
 * share w·b and the loss depends on r_w − r_l) is measured against the whole gradient's norm */
static void check_grads(const pst_gpt2 *m, const float *ref, const char *what) {
    size_t s[PST_GPT2_NUM_TENSORS], off = 0;
    pst_gpt2_param_sizes(&m->config, s);
    double norm_all = 0;
    for (size_t i = 0; i < m->num_params; i++) norm_all += (double)ref[i] * ref[i];
    norm_all = sqrt(norm_all);
    for (int i = 0; i < PST_GPT2_NUM_TENSORS; i++) {
        double d = 0, r = 0;
        for (size_t j = off; j < off + s[i]; j++) {
            d += ((double)m->grad_memory[j] - ref[j]) * ((double)m->grad_memory[j] - ref[j]);
            r += (double)ref[j] * ref[j];
        }
        double e = sqrt(d) / (sqrt(r) > 1e-6 * norm_all ? sqrt(r) : norm_all);
        CHECK_MSG(e <= TOL, "%s gradient of %s: relative error %.3g", what, tensor_names[i], e);
        off += s[i];
    }
    double e = rel_err(m->grad_memory, ref, m->num_params);
    CHECK_MSG(e <= TOL, "%s gradient, all parameters: relative error %.3g", what, e);
}

static void check_rel(double got, double want, const char *what) {
    CHECK_MSG(fabs(got - want) <= TOL * fabs(want), "%s: %.9g vs PyTorch %.9g", what, got, want);
}

typedef struct {
    fixture f;
    pst_gpt2_config cfg;
    int n;
    pst_token_pair *pairs;
} setup;

static pst_token_pair *read_pairs(const fixture *f, int n) {
    const int *cl = fixture_get(f, "chosen_len", "I32", n), *rl = fixture_get(f, "rejected_len", "I32", n),
              *pl = fixture_get(f, "prompt_len", "I32", n), *tie = fixture_get(f, "tie", "I32", n);
    int Tc = 0, Tr = 0;
    for (int i = 0; i < n; i++) Tc = cl[i] > Tc ? cl[i] : Tc, Tr = rl[i] > Tr ? rl[i] : Tr;
    const int *c = fixture_get(f, "chosen", "I32", (size_t)n * Tc), *r = fixture_get(f, "rejected", "I32", (size_t)n * Tr);
    pst_token_pair *p = calloc((size_t)n, sizeof *p);
    for (int i = 0; i < n; i++) {
        p[i] = (pst_token_pair){malloc(cl[i] * sizeof(int)), malloc(rl[i] * sizeof(int)), cl[i], rl[i], pl[i], tie[i]};
        memcpy(p[i].chosen, c + (size_t)i * Tc, cl[i] * sizeof(int));
        memcpy(p[i].rejected, r + (size_t)i * Tr, rl[i] * sizeof(int));
    }
    return p;
}

static void load_params(pst_gpt2 *m, const setup *s, const char *name) {
    CHECK(pst_gpt2_create(m, &s->cfg, &err) == 0);
    memcpy(m->param_memory, fixture_get(&s->f, name, "F32", m->num_params), m->num_params * sizeof(float));
}

static void test_reward_model(const setup *s) {
    pst_reward_model rm = {0};
    load_params(&rm.trunk, s, "rm_params");
    int C = s->cfg.n_embd, n = s->n;
    rm.head = malloc(C * sizeof(float));
    rm.batch = 3; /* several forwards of padded rows */
    memcpy(rm.head, fixture_get(&s->f, "rm_head", "F32", C), C * sizeof(float));
    /* rewards, batched over sequences of different lengths */
    const int **seqs = malloc(2 * n * sizeof *seqs);
    int *lens = malloc(2 * n * sizeof *lens);
    for (int i = 0; i < n; i++) {
        seqs[i] = s->pairs[i].chosen, lens[i] = s->pairs[i].n_chosen;
        seqs[n + i] = s->pairs[i].rejected, lens[n + i] = s->pairs[i].n_rejected;
    }
    double r[64];
    CHECK(pst_reward_model_rewards(&rm, seqs, lens, 2 * n, r, &err) == 0);
    const double *r_ref = fixture_get(&s->f, "rm_rewards", "F64", 2 * n);
    for (int i = 0; i < 2 * n; i++) CHECK_MSG(fabs(r[i] - r_ref[i]) <= TOL * (fabs(r_ref[i]) + 1e-3), "r[%d] %.9g vs %.9g", i, r[i], r_ref[i]);
    /* Bradley–Terry: loss, head gradient, trunk gradients */
    float *head_grad = calloc(C, sizeof(float));
    pst_pair_stats st;
    pst_gpt2_zero_grad(&rm.trunk);
    CHECK(pst_rm_pairs_batch(&rm, s->pairs, n, head_grad, 1.0f, NULL, &st, &err) == 0);
    check_rel(st.loss, *(const double *)fixture_get(&s->f, "bt_loss", "F64", 1), "Bradley-Terry loss");
    double e = rel_err(head_grad, fixture_get(&s->f, "bt_head_grad", "F32", C), C);
    CHECK_MSG(e <= TOL, "head gradient: relative error %.3g", e);
    check_grads(&rm.trunk, fixture_get(&s->f, "bt_grads", "F32", rm.trunk.num_params), "Bradley-Terry");
    CHECK(st.n == n && st.n_ties == 1);
    free(head_grad), free(seqs), free(lens);
    pst_reward_model_free(&rm);
}

static void test_dpo(const setup *s) {
    pst_gpt2 policy;
    load_params(&policy, s, "policy_params");
    int n = s->n;
    const double *ref_w = fixture_get(&s->f, "ref_chosen", "F64", n), *ref_l = fixture_get(&s->f, "ref_rejected", "F64", n);
    double beta = fixture_meta(&s->f, "beta"), eps = fixture_meta(&s->f, "label_smoothing");
    const char *kinds[] = {"sigmoid", "csigmoid", "ipo", "hinge"};
    for (int k = 0; k < 4; k++) {
        char name[64];
        pst_dpo_loss_kind kind = k == 0 || k == 1 ? PST_DPO_SIGMOID : k == 2 ? PST_DPO_IPO : PST_DPO_HINGE;
        pst_pair_stats st;
        pst_gpt2_zero_grad(&policy);
        CHECK(pst_dpo_pairs_batch(&policy, s->pairs, n, ref_w, ref_l, kind, beta, k == 1 ? eps : 0, 1, 1.0f, NULL, &st, &err) == 0);
        snprintf(name, sizeof name, "%s_loss", kinds[k]);
        check_rel(st.loss, *(const double *)fixture_get(&s->f, name, "F64", 1), name);
        snprintf(name, sizeof name, "%s_grads", kinds[k]);
        check_grads(&policy, fixture_get(&s->f, name, "F32", policy.num_params), kinds[k]);
    }
    pst_gpt2_free(&policy);
}

/* score.weight saved beside transformer.* and read back; an LM directory is no reward model */
static void test_directory(const setup *s) {
    char dir[] = "/tmp/pst_rm_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    pst_reward_model rm = {0}, back;
    load_params(&rm.trunk, s, "rm_params");
    rm.head = malloc(s->cfg.n_embd * sizeof(float));
    memcpy(rm.head, fixture_get(&s->f, "rm_head", "F32", s->cfg.n_embd), s->cfg.n_embd * sizeof(float));
    CHECK(pst_reward_model_save(&rm, dir, &err) == 0);
    CHECK(pst_reward_model_load(&back, dir, 0, &err) == 0);
    CHECK(memcmp(back.head, rm.head, s->cfg.n_embd * sizeof(float)) == 0);
    CHECK(memcmp(back.trunk.param_memory, rm.trunk.param_memory, rm.trunk.num_params * sizeof(float)) == 0);
    pst_reward_model_free(&back);
    char path[512], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(pst_read_file(path, &text, &len, &err) == 0 && strstr(text, "GPT2ForSequenceClassification") &&
          strstr(text, "\"id2label\""));
    free(text);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(pst_read_file(path, &text, &len, &err) == 0 && strstr(text + 8, "\"transformer.h.1.mlp.c_fc.weight\"") &&
          strstr(text + 8, "\"score.weight\":{\"dtype\":\"F32\",\"shape\":[1,32]"));
    free(text);
    /* the language model's own directory has no head */
    CHECK(pst_gpt2_save(&rm.trunk, dir, &err) == 0);
    CHECK(pst_reward_model_load(&back, dir, 0, &err) < 0 && strstr(err.msg, "no reward head"));
    pst_scorer *sc;
    char spec[600];
    snprintf(spec, sizeof spec, "rm:%s", dir);
    CHECK(pst_scorer_create(spec, &sc, &err) < 0 && strstr(err.msg, "no reward head") && strstr(err.msg, dir));
    CHECK(pst_scorer_create("rm:", &sc, &err) < 0 && strstr(err.msg, "rm:DIR"));
    pst_reward_model_free(&rm);
    pst_remove_tree(dir, &err);
}

int main(int argc, char **argv) {
    setup s;
    const char *path = argc > 1 ? argv[1] : FIXTURE;
    if (fixture_open(&s.f, path)) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    s.cfg = (pst_gpt2_config){(int)fixture_meta(&s.f, "n_layer"), (int)fixture_meta(&s.f, "n_head"),
                              (int)fixture_meta(&s.f, "n_embd"), (int)fixture_meta(&s.f, "n_positions"),
                              (int)fixture_meta(&s.f, "vocab_size"), (float)fixture_meta(&s.f, "layer_norm_epsilon")};
    s.n = (int)fixture_meta(&s.f, "n_pairs");
    s.pairs = read_pairs(&s.f, s.n);
    test_reward_model(&s);
    test_dpo(&s);
    test_directory(&s);
    pst_token_pairs_free(s.pairs, s.n);
    fixture_close(&s.f);
    return check_report();
}
