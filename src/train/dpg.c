/* The DPG family (include/posterior/dpg.h): distributional policy gradients toward
 * p = P/Z, with a KL-adaptive proposal, a baseline, and the f-divergence variants. */
#include "posterior/dpg.h"
#include "posterior/rl.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const variant_names[] = {"on-policy", "kl-adaptive", "baseline", "f", "reinforce", "rloo", "grpo"};
static const char *const reward_names[] = {"evidence", "log-target", "log-evidence"};
static const char *const f_names[] = {"fkl", "rkl", "js", "tv"};

const char *pst_dpg_variant_name(pst_dpg_variant v) { return v >= 0 && v <= PST_RL_GRPO ? variant_names[v] : "?"; }
const char *pst_rl_reward_name(pst_rl_reward r) { return r >= 0 && r <= PST_REWARD_LOG_EVIDENCE ? reward_names[r] : "?"; }

int pst_rl_reward_parse(const char *name, pst_rl_reward *r, pst_error *err) {
    for (int i = 0; i <= PST_REWARD_LOG_EVIDENCE; i++)
        if (name && strcmp(name, reward_names[i]) == 0) {
            *r = (pst_rl_reward)i;
            return 0;
        }
    return pst_fail_field(err, "reward", "unknown reward '%s' (evidence, log-target or log-evidence)", name ? name : "");
}
const char *pst_f_divergence_name(pst_f_divergence f) { return f >= 0 && f <= PST_F_TV ? f_names[f] : "?"; }

int pst_dpg_variant_parse(const char *name, pst_dpg_variant *v, pst_error *err) {
    for (int i = 0; i <= PST_RL_GRPO; i++)
        if (name && strcmp(name, variant_names[i]) == 0) {
            *v = (pst_dpg_variant)i;
            return 0;
        }
    return pst_fail_field(err, "variant",
                          "unknown variant '%s' (on-policy, kl-adaptive, baseline, f, reinforce, rloo or grpo)",
                    name ? name : "");
}

int pst_f_divergence_parse(const char *name, pst_f_divergence *f, pst_error *err) {
    for (int i = 0; i <= PST_F_TV; i++)
        if (name && strcmp(name, f_names[i]) == 0) {
            *f = (pst_f_divergence)i;
            return 0;
        }
    return pst_fail_field(err, "f", "unknown f-divergence '%s' (fkl, rkl, js or tv)", name ? name : "");
}

void pst_dpg_options_default(pst_dpg_options *o) {
    memset(o, 0, sizeof *o);
    o->variant = PST_DPG_KL_ADAPTIVE;
    o->f = PST_F_FKL;
    o->batch = 64;
    o->steps = 100;
    o->lr = 1e-3;
    o->lr_min = -1;
    o->baseline_decay = 0.9;
    o->log_t_clip = 20;
    o->reward_floor = -20;
    o->group_size = 4;
    o->seed = 1;
}

/* f(t) and f'(t) of D_f(π‖p) = E_p[f(π/p)], from log t; and lim_{t→∞} f(t)/t, the
 * cost of π's mass where p = 0. */
static double f_value(pst_f_divergence f, double log_t) {
    double t = exp(log_t);
    switch (f) {
    case PST_F_FKL: return -log_t;
    case PST_F_RKL: return t * log_t;
    case PST_F_JS: return 0.5 * (t * (log(2.0) + log_t - log1p(t)) + log(2.0) - log1p(t));
    case PST_F_TV: return 0.5 * fabs(t - 1);
    }
    return NAN;
}

static double f_prime(pst_f_divergence f, double log_t) {
    switch (f) {
    case PST_F_FKL: return -exp(-log_t);
    case PST_F_RKL: return log_t + 1;
    case PST_F_JS: return 0.5 * (log(2.0) + log_t - log1p(exp(log_t)));
    case PST_F_TV: return log_t > 0 ? 0.5 : log_t < 0 ? -0.5 : 0;
    }
    return NAN;
}

static double f_outside_support(pst_f_divergence f) {
    switch (f) {
    case PST_F_FKL: return 0;
    case PST_F_RKL: return INFINITY;
    case PST_F_JS: return 0.5 * log(2.0);
    case PST_F_TV: return 0.5;
    }
    return NAN;
}

/* ---- training state and checkpoints ---------------------------------------- */

enum { Q_INITIAL = 0, Q_COPY = 1, Q_POLICY = 2 };

typedef struct {
    long step;
    pst_rng rng;
    int n_groups;
    double *log_w_sum; /* [n_groups] log Σ P/q over every sample seen, per context */
    double *count;     /* [n_groups] */
    /* [n_groups] per context, whatever Ẑ they feed: samples drawn, and those with P > 0 */
    double *context_seen, *context_hits;
    double baseline;
    int baseline_set;
    long proposal_updates;
    int q_kind;
    int ranks; /* the ranks of the run (a checkpoint resumes on as many) */
} dpg_state;

/* A double in JSON that reads back bit-exactly ("%.17g"; cJSON's own printing may round
 * to 15 digits, a resumed run would then drift); -inf (a context without a satisfying
 * sample yet) is not JSON: null. */
static cJSON *exact_number(double x) {
    char buf[32];
    return cJSON_CreateRaw(pst_json_number(buf, x, 17));
}

static cJSON *exact_array(const double *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, exact_number(x[i]));
    return a;
}

static int state_save(const dpg_state *st, const char *path, pst_error *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return pst_fail_oom(err, path);
    cJSON_AddNumberToObject(root, "step", (double)st->step);
    char buf[32];
    cJSON *rng = cJSON_AddArrayToObject(root, "rng");
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64, st->rng.s[i]);
        cJSON_AddItemToArray(rng, cJSON_CreateString(buf));
    }
    cJSON_AddItemToObject(root, "log_w_sum", exact_array(st->log_w_sum, st->n_groups));
    cJSON_AddItemToObject(root, "count", exact_array(st->count, st->n_groups));
    cJSON_AddItemToObject(root, "context_seen", exact_array(st->context_seen, st->n_groups));
    cJSON_AddItemToObject(root, "context_hits", exact_array(st->context_hits, st->n_groups));
    cJSON_AddItemToObject(root, "baseline", exact_number(st->baseline));
    cJSON_AddBoolToObject(root, "baseline_set", st->baseline_set);
    cJSON_AddNumberToObject(root, "proposal_updates", (double)st->proposal_updates);
    cJSON_AddStringToObject(root, "proposal", st->q_kind == Q_COPY ? "copy" : st->q_kind == Q_POLICY ? "policy" : "initial");
    cJSON_AddNumberToObject(root, "ranks", st->ranks);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return pst_fail_oom(err, path);
    int rc = pst_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

/* The per-context counts of a state file; a state written before they were kept (or of
 * another context count) falls back on the Ẑ accumulators: seen = count, hits = 1 where
 * Ẑ_c > 0 (a lower bound; with one shared Ẑ only context 0 is known). */
static void context_counts_load(dpg_state *st, const cJSON *seen, const cJSON *hits) {
    int ok = cJSON_IsArray(seen) && cJSON_IsArray(hits) && cJSON_GetArraySize(seen) == st->n_groups &&
             cJSON_GetArraySize(hits) == st->n_groups;
    for (int g = 0; g < st->n_groups; g++) {
        const cJSON *s = ok ? cJSON_GetArrayItem(seen, g) : NULL, *h = ok ? cJSON_GetArrayItem(hits, g) : NULL;
        st->context_seen[g] = cJSON_IsNumber(s) ? s->valuedouble : st->count[g];
        st->context_hits[g] = cJSON_IsNumber(h) ? h->valuedouble : st->log_w_sum[g] > -INFINITY;
    }
}

static int state_load(dpg_state *st, const char *path, pst_error *err) {
    char *text;
    size_t len;
    if (pst_read_file(path, &text, &len, err) < 0) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return pst_fail(err, "%s: not valid JSON", path);
    int rc = -1;
    const cJSON *step = cJSON_GetObjectItem(root, "step"), *rng = cJSON_GetObjectItem(root, "rng"),
                *lw = cJSON_GetObjectItem(root, "log_w_sum"), *cnt = cJSON_GetObjectItem(root, "count"),
                *q = cJSON_GetObjectItem(root, "proposal");
    if (!cJSON_IsNumber(step) || !cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4 || !cJSON_IsArray(lw) ||
        !cJSON_IsArray(cnt) || cJSON_GetArraySize(lw) != st->n_groups || cJSON_GetArraySize(cnt) != st->n_groups ||
        !cJSON_IsString(q)) {
        pst_fail(err, "%s: not a DPG training state for this run (fields or context count differ)", path);
        goto done;
    }
    const cJSON *ranks = cJSON_GetObjectItem(root, "ranks");
    int was = cJSON_IsNumber(ranks) ? ranks->valueint : 1;
    if (was != st->ranks) { /* every rank reads the same file: every rank fails alike */
        pst_fail_field(err, "resume", "resume: the run was trained on %d rank%s and is resumed on %d; resume it on %d "
                       "(mpirun -np %d), since sums over another number of ranks differ in the last bits (%s)",
                       was, was == 1 ? "" : "s", st->ranks, was, was, path);
        goto done;
    }
    st->step = (long)step->valuedouble;
    for (int i = 0; i < 4; i++) {
        const cJSON *s = cJSON_GetArrayItem(rng, i);
        if (!cJSON_IsString(s)) {
            pst_fail(err, "%s: bad rng state", path);
            goto done;
        }
        st->rng.s[i] = strtoull(s->valuestring, NULL, 16);
    }
    for (int g = 0; g < st->n_groups; g++) {
        const cJSON *a = cJSON_GetArrayItem(lw, g), *c = cJSON_GetArrayItem(cnt, g);
        st->log_w_sum[g] = cJSON_IsNumber(a) ? a->valuedouble : -INFINITY;
        st->count[g] = cJSON_IsNumber(c) ? c->valuedouble : 0;
    }
    context_counts_load(st, cJSON_GetObjectItem(root, "context_seen"), cJSON_GetObjectItem(root, "context_hits"));
    const cJSON *b = cJSON_GetObjectItem(root, "baseline");
    st->baseline = cJSON_IsNumber(b) ? b->valuedouble : 0;
    st->baseline_set = cJSON_IsTrue(cJSON_GetObjectItem(root, "baseline_set"));
    const cJSON *pu = cJSON_GetObjectItem(root, "proposal_updates");
    st->proposal_updates = cJSON_IsNumber(pu) ? (long)pu->valuedouble : 0;
    st->q_kind = strcmp(q->valuestring, "copy") == 0 ? Q_COPY : strcmp(q->valuestring, "policy") == 0 ? Q_POLICY : Q_INITIAL;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* out_dir/ckpt-STEP/{policy/, proposal/, state.json}, one checkpoint directory
 * (pst_checkpoint: written complete under a temporary name, one rename, then
 * out_dir/latest -> ckpt-STEP and the previous checkpoint removed). */
static int checkpoint_save(const char *out_dir, const dpg_state *st, pst_distribution *policy,
                           pst_distribution *q, pst_error *err) {
    pst_checkpoint c;
    char sub[4096];
    if (pst_checkpoint_begin(&c, out_dir, st->step, err) < 0) return -1;
    if (pst_path_join(sub, sizeof sub, c.tmp, "policy", err) < 0 || pst_dist_save(policy, sub, err) < 0 ||
        (st->q_kind == Q_COPY &&
         (pst_path_join(sub, sizeof sub, c.tmp, "proposal", err) < 0 || pst_dist_save(q, sub, err) < 0)) ||
        pst_path_join(sub, sizeof sub, c.tmp, "state.json", err) < 0 || state_save(st, sub, err) < 0) {
        pst_checkpoint_abort(&c);
        return pst_fail_context(err, "checkpoint %s", c.dir);
    }
    return pst_checkpoint_commit(&c, err);
}

/* Loads the latest complete checkpoint of out_dir into st, the policy and (a copied
 * proposal) q_copy, which is cloned from the policy here. */
static int checkpoint_load(const char *out_dir, dpg_state *st, pst_distribution *policy,
                           pst_distribution *q_copy, pst_error *err) {
    char dir[4096], sub[4096];
    int found = pst_checkpoint_find(out_dir, dir, sizeof dir, NULL, err);
    if (found <= 0)
        return found < 0 ? pst_fail_context(err, "resume")
                         : pst_fail_field(err, "resume", "resume: no checkpoint in %s (no ckpt-STEP)", out_dir);
    if (pst_path_join(sub, sizeof sub, dir, "state.json", err) < 0 || state_load(st, sub, err) < 0) return -1;
    if (pst_path_join(sub, sizeof sub, dir, "policy", err) < 0 || pst_dist_load(policy, sub, err) < 0)
        return pst_fail_context(err, "resume");
    if (st->q_kind != Q_COPY) return 0;
    if (pst_dist_clone(policy, q_copy, err) < 0) return -1;
    if (pst_path_join(sub, sizeof sub, dir, "proposal", err) < 0 || pst_dist_load(q_copy, sub, err) < 0)
        return pst_fail_context(err, "resume: proposal");
    return 0;
}

/* ---- metrics over one batch ---------------------------------------------------- */

typedef struct {
    int n, k, n_groups;
    const int *group;
    const double *lt, *lq, *lpi, *la, *f;
} batch_view;

/* Averages each estimator over the contexts where it is defined (one group when
 * unconditional): a context whose batch has no sample of P > 0 (Ẑ_c = 0 so far) has no
 * estimate of KL(p_c‖·) or TVD and is skipped for them, not turned into NaN for all. */
static void batch_metrics(const batch_view *b, pst_dpg_step *m, double *sub) {
    double *lt = sub, *lq = sub + b->n, *lpi = sub + 2 * b->n, *la = sub + 3 * b->n, *f = sub + 4 * b->n;
    pst_estimate acc[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}}, mom[PST_TARGET_MAX_FEATURES];
    memset(m->moments_policy, 0, sizeof m->moments_policy);
    int used = 0, defined[4] = {0, 0, 0, 0};
    for (int g = 0; g < b->n_groups; g++) {
        int c = 0;
        for (int i = 0; i < b->n; i++) {
            if (b->group[i] != g) continue;
            lt[c] = b->lt[i], lq[c] = b->lq[i], lpi[c] = b->lpi[i], la[c] = b->la[i];
            memcpy(f + (size_t)c * b->k, b->f + (size_t)i * b->k, sizeof(double) * b->k);
            c++;
        }
        if (!c) continue;
        pst_estimate e[4] = {pst_estimate_kl_target_policy(lt, lq, lpi, c), pst_estimate_kl_target_policy(lt, lq, lq, c),
                             pst_estimate_kl_policy_prior(lpi, la, lq, c), pst_estimate_tvd(lt, lq, lpi, c)};
        for (int j = 0; j < 4; j++) {
            if (!isfinite(e[j].value)) continue;
            acc[j].value += e[j].value;
            acc[j].se += isfinite(e[j].se) ? e[j].se * e[j].se : 0;
            defined[j]++;
        }
        pst_estimate_moments_policy(lpi, lq, f, c, b->k, mom);
        for (int j = 0; j < b->k; j++) {
            m->moments_policy[j].value += mom[j].value;
            m->moments_policy[j].se += mom[j].se * mom[j].se;
        }
        used++;
    }
    pst_estimate *out[4] = {&m->kl_target_policy, &m->kl_target_proposal, &m->kl_policy_prior, &m->tvd};
    for (int j = 0; j < 4; j++) {
        out[j]->value = defined[j] ? acc[j].value / defined[j] : NAN;
        out[j]->se = defined[j] ? sqrt(acc[j].se) / defined[j] : NAN;
    }
    for (int j = 0; j < b->k; j++) {
        m->moments_policy[j].value /= used;
        m->moments_policy[j].se = sqrt(m->moments_policy[j].se) / used;
    }
}

/* One JSON object body per step; the exact-sample keys only on steps that measured them. */
void pst_dpg_step_json(const pst_dpg_step *m, char *out, size_t cap) {
    char mom[1024], ex[512] = "", more[160] = "", b[12][32];
    int off = 0;
    for (int j = 0; j < m->n_features && off < (int)sizeof mom - 64; j++)
        off += snprintf(mom + off, sizeof mom - off, "%s%s", j ? ", " : "",
                        pst_json_number(b[0], m->moments_policy[j].value, 6));
    mom[off] = 0;
    if (m->has_exact) {
        const pst_exact_report *e = &m->exact;
        snprintf(ex, sizeof ex,
                 ", \"n_exact\": %d, \"kl_p_pi_exact\": %s, \"kl_p_pi_exact_se\": %s, \"tvd_p_pi_exact\": %s, "
                 "\"tvd_p_pi_exact_se\": %s, \"log_z_exact\": %s, \"log_z_exact_se\": %s, \"dropped_fraction\": %s, "
                 "\"kl_gain_exact\": %s, \"kl_gain_exact_se\": %s",
                 e->n, pst_json_number(b[0], e->kl_target_policy.value, 6), pst_json_number(b[1], e->kl_target_policy.se, 4),
                 pst_json_number(b[2], e->tvd.value, 6), pst_json_number(b[3], e->tvd.se, 4),
                 pst_json_number(b[4], e->log_z.value, 6), pst_json_number(b[5], e->log_z.se, 4),
                 pst_json_number(b[6], e->dropped_fraction, 4), pst_json_number(b[7], m->proposal_gain.value, 6),
                 pst_json_number(b[8], m->proposal_gain.se, 4));
    }
    int k = 0;
    if (m->has_policy_stats)
        k += snprintf(more, sizeof more, ", \"entropy\": %s, \"mean_length\": %s, \"distinct_2\": %s",
                      pst_json_number(b[0], m->entropy, 6), pst_json_number(b[1], m->mean_length, 4),
                      pst_json_number(b[2], m->distinct_2, 4));
    if (m->n_contexts > 0) snprintf(more + k, sizeof more - k, ", \"zero_z_contexts\": %d", m->zero_z_contexts);
    snprintf(out, cap,
             "\"step\": %ld, \"loss\": %s, \"log_z\": %s, \"log_z_se\": %s, \"z\": %s, \"kl_p_pi\": %s, "
             "\"kl_p_pi_se\": %s, \"kl_p_q\": %s, \"kl_pi_a\": %s, \"kl_pi_a_se\": %s, \"tvd_p_pi\": %s, "
             "\"moments_pi\": [%s], \"ess\": %s, \"proposal_updated\": %d, \"proposal_updates\": %ld, "
             "\"lr\": %.4g, \"samples_per_s\": %.4g%s%s",
             m->step, pst_json_number(b[1], m->loss, 6), pst_json_number(b[2], m->log_z, 6),
             pst_json_number(b[3], m->log_z_se, 6), pst_json_number(b[4], exp(m->log_z), 6),
             pst_json_number(b[5], m->kl_target_policy.value, 6), pst_json_number(b[6], m->kl_target_policy.se, 6),
             pst_json_number(b[7], m->kl_target_proposal.value, 6), pst_json_number(b[8], m->kl_policy_prior.value, 6),
             pst_json_number(b[9], m->kl_policy_prior.se, 6), pst_json_number(b[10], m->tvd.value, 6), mom,
             pst_json_number(b[11], m->ess, 6), m->proposal_updated, m->proposal_updates, m->lr, m->samples_per_s, ex, more);
}

double pst_dpg_lr(const pst_dpg_options *o, long step) {
    if (o->lr_min >= 0) return pst_lr_schedule(step, o->warmup, o->steps, (float)o->lr, (float)o->lr_min);
    return step < o->warmup ? o->lr * (double)(step + 1) / (double)o->warmup : o->lr;
}

int pst_dpg_checkpoint_due(const pst_dpg_options *o, long step, int stop) {
    return o->out_dir && ((o->checkpoint_every > 0 && step % o->checkpoint_every == 0) || step == o->steps || stop);
}

/* ---- the yardstick: exact samples of p -------------------------------------------- */

/* log q of the reference samples for the current proposal (log a when q is the prior). */
static int reference_proposal_logprobs(const pst_reference *r, const pst_target *t, pst_distribution *q,
                                       double *out, pst_error *err) {
    if (t->prior && q->self == t->prior->self) {
        memcpy(out, r->log_prior, sizeof(double) * (size_t)r->n);
        return 0;
    }
    return pst_reference_logprobs(r, q, out, err);
}

/* Measures π_θ on the reference (m->exact) and the paired gain over q,
 * mean(log q − log π) = KL(p‖π) − KL(p‖q), with se = sd/√n; ref_lpi receives log π. */
static int measure_exact(const pst_reference *r, const pst_target *t, pst_distribution *policy, const double *ref_lq,
                         double *ref_lpi, pst_dpg_step *m, pst_error *err) {
    if (pst_reference_logprobs(r, policy, ref_lpi, err) < 0 ||
        pst_estimate_exact(r->log_target, r->log_prior, ref_lpi, r->n, r->log_z, &m->exact, err) < 0)
        return -1;
    double s = 0, ss = 0;
    for (int i = 0; i < r->n; i++) s += ref_lq[i] - ref_lpi[i];
    s /= r->n;
    for (int i = 0; i < r->n; i++) ss += (ref_lq[i] - ref_lpi[i] - s) * (ref_lq[i] - ref_lpi[i] - s);
    m->proposal_gain.value = s;
    m->proposal_gain.se = sqrt(ss / (r->n - 1) / r->n);
    m->has_exact = 1;
    return 0;
}

/* q ← a frozen copy of π_θ. */
static int replace_proposal(pst_distribution *policy, pst_distribution *q_copy, dpg_state *st, pst_dpg_step *m,
                            pst_error *err) {
    pst_distribution fresh;
    if (pst_dist_clone(policy, &fresh, err) < 0) return -1;
    pst_distribution_free(q_copy);
    *q_copy = fresh;
    st->q_kind = Q_COPY;
    st->proposal_updates++;
    m->proposal_updated = 1;
    m->proposal_updates = st->proposal_updates;
    return 0;
}

/* ---- the trainer ------------------------------------------------------------- */

/* One run of pst_dpg_train: its inputs, its state (saved in checkpoints) and its buffers. */
typedef struct {
    pst_distribution *policy, *proposal; /* π_θ; the initial q (NULL: a copy of π_θ) */
    const pst_target *target;
    const pst_dpg_options *o;
    int n, k, G, on_policy; /* batch, features, contexts, q = π_θ */
    pst_f_divergence fdiv;
    dpg_state st;
    pst_distribution q_copy; /* the proposal when it is a frozen copy of π_θ */
    pst_sample *xs;          /* [n] this step's samples of q */
    pst_seq *ctx;            /* [n] their contexts (NULL when unconditional) */
    int *group;              /* [n] their context index */
    double *buf;
    /* [n] log P, log q, log π_θ, log a, the gradient coefficients; f [n·k]; scratch [(4+k)·n] */
    double *lt, *lq, *lpi, *la, *coef, *f, *scratch;
    double *ref_lq, *ref_lpi; /* [ref->n] log q, log π of the reference samples */
    pst_metrics mf;
    pst_progress prog;
    double last_exact;
    /* data parallel (o->comm): this rank's rows [r0, r0 + m) of each batch (0, n alone);
     * writer: rank 0; gather [n·(4 + k)] the packed rows of the per-sample statistics;
     * tokens [N] each rank's sampled tokens this step */
    const pst_comm *comm;
    int r0, m, writer, n_ranks;
    double *gather;
    int *tokens;
} dpg_run;

static int is_rl(pst_dpg_variant v) { return v >= PST_RL_REINFORCE; }
static int is_grouped(pst_dpg_variant v) { return v == PST_RL_RLOO || v == PST_RL_GRPO; }

int pst_dpg_options_check(const pst_dpg_options *o, pst_error *err) {
    if (o->batch < 2) return pst_fail_field(err, "batch", "batch = %d: DPG needs at least 2 samples per step", o->batch);
    if (!(o->lr > 0)) return pst_fail_field(err, "lr", "lr = %g: must be positive", o->lr);
    if (is_grouped(o->variant) && (o->group_size < 2 || o->batch % o->group_size))
        return pst_fail_field(err, "group_size", "group_size = %d with batch = %d: %s needs groups of at least 2 "
                                                 "samples that divide the batch", o->group_size, o->batch,
                              pst_dpg_variant_name(o->variant));
    if (is_rl(o->variant) && !(o->kl_coef >= 0 && isfinite(o->kl_coef)))
        return pst_fail_field(err, "kl_coef", "kl_coef = %g: must be finite and >= 0", o->kl_coef);
    if (is_rl(o->variant) && !isfinite(o->reward_floor))
        return pst_fail_field(err, "reward_floor", "reward_floor = %g: must be finite", o->reward_floor);
    int N = o->comm ? o->comm->size : 1; /* every rank finds it alike: said by rank 0 */
    if (o->batch % N)
        return pst_comm_fail_all(o->comm, err, "batch", "the batch %d is the global batch, split over %d ranks: it "
                                 "must be a multiple of %d (e.g. %d)", o->batch, N, N, (o->batch / N + 1) * N);
    return 0;
}

/* Data parallel: the models can be sampled by rows and their gradients summed. Every rank
 * finds the same (the options agree): reported by rank 0. */
static int check_data_parallel(const pst_distribution *policy, const pst_distribution *proposal,
                               const pst_dpg_options *o, pst_error *err) {
    if (!o->comm || o->comm->size < 2) return 0;
    if (!pst_dist_data_parallel(policy) || (proposal && !pst_dist_data_parallel(proposal)))
        return pst_comm_fail_all(o->comm, err, NULL, "dpg: the model '%s' cannot be sampled by rows: it does not "
                                 "run data parallel; run it on one rank", pst_dist_name(policy));
    return 0;
}

static int check_options(const pst_distribution *policy, const pst_target *target, const pst_distribution *proposal,
                         const pst_dpg_options *o, pst_error *err) {
    if (!pst_dist_trainable(policy)) return pst_fail(err, "dpg: the policy '%s' is not trainable", pst_dist_name(policy));
    if (pst_dpg_options_check(o, err) < 0 || check_data_parallel(policy, proposal, o, err) < 0) return -1;
    if ((o->resume || o->checkpoint_every > 0) && !o->out_dir)
        return pst_fail_field(err, "out_dir", "dpg: checkpoints and resuming need an output directory (out_dir)");
    const pst_reference *ref = o->reference;
    int G = o->contexts && o->n_contexts > 0 ? o->n_contexts : 1;
    if (ref && (G > 1 || (o->contexts && (o->contexts[0].n != ref->n_context ||
                                          memcmp(o->contexts[0].tokens, ref->context, sizeof(int) * ref->n_context)))))
        return pst_fail(err, "dpg: the reference set of exact samples holds one context; it does not match this "
                             "run's %d context(s)", G);
    (void)target;
    return 0;
}

/* The proposal q of this step: π_θ (on-policy), its frozen copy, or the initial proposal. */
static pst_distribution *current_proposal(dpg_run *r) {
    return r->st.q_kind == Q_POLICY ? r->policy : r->st.q_kind == Q_COPY ? &r->q_copy : r->proposal;
}

/* Allocates the buffers; rank 0 removes what a killed run left in out_dir. */
static int run_open(dpg_run *r, pst_error *err) {
    const pst_dpg_options *o = r->o;
    int n = r->n, k = r->k, G = r->G;
    r->st.n_groups = G;
    pst_rng_seed(&r->st.rng, o->seed);
    r->st.ranks = r->n_ranks;
    r->st.q_kind = r->on_policy ? Q_POLICY : r->proposal ? Q_INITIAL : Q_COPY;
    r->st.log_w_sum = pst_malloc(sizeof(double) * G, err);
    r->st.count = pst_calloc((size_t)G, sizeof(double), err);
    r->st.context_seen = pst_calloc((size_t)G, sizeof(double), err);
    r->st.context_hits = pst_calloc((size_t)G, sizeof(double), err);
    r->xs = pst_calloc((size_t)n, sizeof *r->xs, err);
    r->ctx = o->contexts ? pst_malloc(sizeof *r->ctx * n, err) : NULL;
    r->group = pst_calloc((size_t)n, sizeof(int), err);
    /* lt lq lpi la coef f[k] | scratch for per-context metrics: 4n + k·n */
    r->buf = pst_malloc(sizeof(double) * (size_t)n * (5 + k + 4 + k), err);
    r->gather = pst_malloc(sizeof(double) * (size_t)n * (4 + k), err);
    r->tokens = pst_malloc(sizeof(int) * (size_t)r->n_ranks, err);
    if (!r->st.log_w_sum || !r->st.count || !r->st.context_seen || !r->st.context_hits || !r->xs ||
        (o->contexts && !r->ctx) || !r->group || !r->buf || !r->gather || !r->tokens)
        return -1;
    for (int g = 0; g < G; g++) r->st.log_w_sum[g] = -INFINITY;
    double *buf = r->buf;
    r->lt = buf, r->lq = buf + n, r->lpi = buf + 2 * n, r->la = buf + 3 * n, r->coef = buf + 4 * n;
    r->f = buf + 5 * n, r->scratch = buf + (size_t)(5 + k) * n;

    if (o->out_dir && r->writer && pst_remove_stale_tmp(o->out_dir, err) < 0) return -1;
    return 0;
}

/* Once every rank has opened: restores a checkpoint (resume: every rank reads it) or
 * sets up q, scores the reference samples under q and opens rank 0's metrics file. */
static int run_start(dpg_run *r, pst_error *err) {
    const pst_dpg_options *o = r->o;
    if (o->resume) {
        if (checkpoint_load(o->out_dir, &r->st, r->policy, &r->q_copy, err) < 0) return -1;
    } else if (r->st.q_kind == Q_COPY) {
        if (pst_dist_clone(r->policy, &r->q_copy, err) < 0) return -1;
    }
    const pst_reference *ref = o->reference;
    if (ref) {
        r->ref_lq = pst_malloc(sizeof(double) * 2 * (size_t)ref->n, err);
        if (!r->ref_lq) return -1;
        r->ref_lpi = r->ref_lq + ref->n;
        if (reference_proposal_logprobs(ref, r->target, current_proposal(r), r->ref_lq, err) < 0) return -1;
    }
    if (o->metrics_path && r->writer && pst_metrics_open(&r->mf, o->metrics_path, o->resume ? r->st.step : -1, err) < 0)
        return -1;
    return 0;
}

static void run_close(dpg_run *r) {
    if (r->xs) pst_sample_free(r->xs, r->n);
    pst_metrics_close(&r->mf);
    pst_distribution_free(&r->q_copy);
    free(r->st.log_w_sum), free(r->st.count), free(r->st.context_seen), free(r->st.context_hits);
    free(r->xs), free(r->ctx), free(r->group), free(r->buf);
    free(r->ref_lq), free(r->gather), free(r->tokens);
}

/* Data parallel: this rank holds rows [r0, r0 + m) of each array arrays[j] (width[j]
 * values per row); afterwards every rank holds all n rows of each (packed into one
 * allgather: exact copies, so every rank computes what one rank computes). */
static int gather_rows(dpg_run *r, double *const *arrays, const int *width, int count, pst_error *err) {
    if (r->n_ranks < 2) return 0;
    int W = 0;
    for (int j = 0; j < count; j++) W += width[j];
    if (W == 0) return 0;
    double *block = r->gather + (size_t)r->r0 * W; /* this rank's block: each array's rows in turn */
    for (int j = 0, at = 0; j < count; at += r->m * width[j], j++)
        memcpy(block + at, arrays[j] + (size_t)r->r0 * width[j], sizeof(double) * (size_t)r->m * width[j]);
    if (pst_comm_allgather_f64(r->comm, r->gather, (size_t)r->m * W, err) < 0) return -1;
    for (int q = 0; q < r->n_ranks; q++)
        for (int j = 0, at = 0; j < count; at += r->m * width[j], j++)
            memcpy(arrays[j] + (size_t)q * r->m * width[j], r->gather + (size_t)q * r->m * W + at,
                   sizeof(double) * (size_t)r->m * width[j]);
    return 0;
}

/* Data parallel, on-policy statistics (distinct-2 needs every sample): the other ranks'
 * sampled tokens into xs, so that every rank holds the whole batch's samples. */
static int gather_tokens(dpg_run *r, pst_error *err) {
    if (r->n_ranks < 2) return 0;
    int n = r->n, total = 0, mine = 0, *all = NULL, rc = -1;
    double *len = r->scratch; /* as doubles: the per-row gather */
    for (int i = 0; i < n; i++) len[i] = r->xs[i].n_tokens;
    if (gather_rows(r, &len, (const int[]){1}, 1, err) < 0) return -1;
    for (int q = 0; q < r->n_ranks; q++) r->tokens[q] = 0;
    for (int i = 0; i < n; i++) r->tokens[i / r->m] += (int)len[i], total += (int)len[i];
    mine = r->tokens[r->r0 / r->m];
    int *flat = pst_malloc(sizeof(int) * (size_t)(total + mine + 1), err);
    if (!flat) return -1;
    all = flat + mine;
    for (int i = r->r0, at = 0; i < r->r0 + r->m; at += r->xs[i].n_tokens, i++)
        memcpy(flat + at, r->xs[i].tokens, sizeof(int) * (size_t)r->xs[i].n_tokens);
    if (pst_comm_allgatherv_i32(r->comm, flat, mine, all, r->tokens, err) < 0) goto done;
    for (int i = 0, at = 0; i < n; at += (int)len[i], i++) {
        if (i >= r->r0 && i < r->r0 + r->m) continue;
        r->xs[i].n_tokens = (int)len[i];
        r->xs[i].tokens = pst_malloc(sizeof(int) * (size_t)(len[i] > 0 ? len[i] : 1), err);
        if (!r->xs[i].tokens) goto done;
        memcpy(r->xs[i].tokens, all + at, sizeof(int) * (size_t)len[i]);
    }
    rc = 0;
done:
    free(flat);
    return rc;
}

/* Step 1: this rank's rows of x_i ~ q (all n alone; the rows of one call, row i from its
 * own stream, with N ranks). */
static int sample_batch(dpg_run *r, pst_distribution *q, pst_error *err) {
    if (r->n_ranks < 2) return pst_dist_sample(q, r->ctx, r->n, &r->st.rng, r->xs, err);
    return pst_dist_sample_rows(q, r->ctx, r->n, r->r0, r->m, &r->st.rng, r->xs + r->r0, err);
}

/* Steps 1–3: x_i ~ q with log q, log a, the features and log P; log π_θ unless it comes
 * with the gradient (*pi_from_gradient). With N ranks each rank draws and scores its rows
 * [r0, r0 + m) and the statistics of all n rows are gathered on every rank. */
static int draw_and_score(dpg_run *r, pst_distribution *q, int *pi_from_gradient, pst_error *err) {
    const pst_dpg_options *o = r->o;
    int n = r->n, r0 = r->r0, m = r->m, kf = r->k;
    long step = r->st.step + 1;
    int k = is_grouped(o->variant) ? o->group_size : 1; /* k consecutive samples share a context */
    for (int i = 0; i < n; i++) {
        r->group[i] = (int)((r->st.step * n + i) / k % r->G);
        if (r->ctx) r->ctx[i] = o->contexts[r->group[i]];
    }
    const pst_seq *ctx = r->ctx ? r->ctx + r0 : NULL;
    pst_sample *xs = r->xs + r0;
    /* 1. x_i ~ q, with log q the log-prob of the distribution really sampled */
    if (sample_batch(r, q, err) < 0) return pst_fail_context(err, "dpg step %ld: sampling", step);
    for (int i = r0; i < r0 + m; i++) r->lq[i] = r->xs[i].logprob_proposal;
    /* 2. log a, evidence, log P; samples of the prior itself carry log a already */
    for (int i = r0; i < r0 + m; i++) r->scratch[i] = r->xs[i].logprob_model;
    const pst_target *t = r->target;
    double *known_la = t->prior && q->self == t->prior->self ? r->scratch + r0 : NULL;
    if (pst_target_score(t, ctx, xs, m, known_la, r->la + r0, r->f + (size_t)r0 * kf, r->lt + r0, err) < 0)
        return pst_fail_context(err, "dpg step %ld", step);
    /* 3. log π_θ: the sampler's raw log-prob when q is the policy; else scored, or (for
     *    plain DPG, whose weights do not involve π_θ) taken from the gradient's own
     *    forward pass, which saves a forward */
    *pi_from_gradient = q != r->policy && o->variant == PST_DPG_KL_ADAPTIVE;
    if (q == r->policy) {
        for (int i = r0; i < r0 + m; i++) r->lpi[i] = r->xs[i].logprob_model;
    } else if (!*pi_from_gradient && pst_dist_score(r->policy, ctx, xs, m, r->lpi + r0, err) < 0) {
        return pst_fail_context(err, "dpg step %ld: scoring the policy", step);
    }
    double *const arrays[5] = {r->lt, r->lq, r->la, r->f, r->lpi};
    if (gather_rows(r, arrays, (const int[]){1, 1, 1, kf, 1}, *pi_from_gradient ? 4 : 5, err) < 0) return -1;
    return r->on_policy ? gather_tokens(r, err) : 0;
}

/* Which running Ẑ sample i's weight is divided by: its context's (CDPG), or the one
 * shared by all contexts (o->shared_z, the ablation). */
static int z_group(const dpg_run *r, int i) { return r->o->shared_z ? 0 : r->group[i]; }

/* Step 4: the running Ẑ per context, log Σ P/q over every sample so far; then log Ẑ,
 * its se on this batch and the batch's effective sample size into m. */
static void update_partition(dpg_run *r, pst_dpg_step *m) {
    int n = r->n;
    for (int i = 0; i < n; i++) {
        int g = z_group(r, i);
        double lw = r->lt[i] - r->lq[i], a = r->st.log_w_sum[g];
        r->st.log_w_sum[g] = a == -INFINITY ? lw : lw == -INFINITY ? a : fmax(a, lw) + log1p(exp(-fabs(a - lw)));
        r->st.count[g] += 1;
    }
    for (int i = 0; i < n; i++) {
        r->st.context_seen[r->group[i]] += 1;
        r->st.context_hits[r->group[i]] += r->lt[i] > -INFINITY;
    }
    m->log_z = r->st.log_w_sum[0] - log(r->st.count[0]);
    pst_estimate lz = pst_estimate_log_partition(r->lt, r->lq, n);
    m->log_z_se = lz.se;
    double *lw = r->scratch;
    for (int i = 0; i < n; i++) lw[i] = r->lt[i] - r->lq[i];
    m->ess = pst_effective_sample_size(lw, n);
}

/* Conditional runs: the per-context counts into m (valid while the callback runs) and
 * how many contexts drawn so far have no sample with P > 0 yet (Ẑ_c = 0: no gradient
 * from them; skipped, not an error, while another context has one). */
static void report_contexts(const dpg_run *r, pst_dpg_step *m) {
    if (!r->o->contexts) return;
    m->n_contexts = r->G;
    m->context_seen = r->st.context_seen, m->context_hits = r->st.context_hits;
    for (int g = 0; g < r->G; g++) m->zero_z_contexts += r->st.context_seen[g] > 0 && r->st.context_hits[g] == 0;
}

/* On-policy (q = π_θ at temperature 1 where the sampler is untruncated): the mean over
 * the batch's tokens of −log π_θ(x_t | x_<t) and the mean length (pst_rl_rollout_stats). */
static void report_policy_stats(const dpg_run *r, pst_dpg_step *m) {
    if (!r->on_policy) return;
    pst_rl_rollout_stats(r->xs, r->lpi, r->n, &m->entropy, &m->mean_length, &m->distinct_2);
    m->has_policy_stats = 1;
}

/* Whether some sample so far has P > 0 (Ẑ > 0). Ẑ = 0 so far: no gradient yet (every
 * weight is 0); after max(1024, 10·batch) samples without one (or at the end of
 * training) it is an error. Returns 1, 0, or -1 on that error. */
static int target_seen(const dpg_run *r, long step, pst_error *err) {
    if (is_rl(r->o->variant)) return 1; /* a reward of 0 everywhere is a (zero) signal, not an error */
    int any_target = 0;
    double seen = 0;
    for (int g = 0; g < r->G; g++) any_target |= r->st.log_w_sum[g] > -INFINITY, seen += r->st.count[g];
    if (!any_target && (seen >= fmax(1024.0, 10.0 * r->n) || r->st.step + 1 >= r->o->steps))
        return pst_comm_fail_all(r->comm, err, NULL,
                        "dpg step %ld: none of the %.0f samples so far has P(x) > 0 (Z estimate is 0): the "
                        "constraint is never satisfied by the proposal; relax it or start from a closer model",
                        step, seen);
    return any_target;
}

/* grad = ∇ Σ_i c_i log π_θ(x_i) over this rank's rows (all n alone), log π_θ of those rows
 * into lpi when with_logprob; then with N ranks every rank's log π_θ gathered. The sum of
 * the gradient over ranks is sum_gradient's, just before the step. */
static int accumulate_rows(dpg_run *r, int with_logprob, pst_error *err) {
    pst_dist_zero_grad(r->policy);
    if (pst_dist_accumulate(r->policy, r->ctx ? r->ctx + r->r0 : NULL, r->xs + r->r0, r->coef + r->r0, r->m,
                            with_logprob ? r->lpi + r->r0 : NULL, err) < 0)
        return -1;
    return with_logprob ? gather_rows(r, &r->lpi, (const int[]){1}, 1, err) : 0;
}

/* log π_θ of this rank's rows by a forward pass, gathered. */
static int score_policy_rows(dpg_run *r, pst_error *err) {
    if (pst_dist_score(r->policy, r->ctx ? r->ctx + r->r0 : NULL, r->xs + r->r0, r->m, r->lpi + r->r0, err) < 0)
        return -1;
    return gather_rows(r, &r->lpi, (const int[]){1}, 1, err);
}

/* With N ranks: the gradient summed over ranks (one allreduce of the policy's whole
 * gradient buffer), so that every rank takes the same step on its copy of θ. */
static int sum_gradient(dpg_run *r, pst_error *err) {
    if (r->n_ranks < 2) return 0;
    size_t np = 0;
    float *g = pst_dist_gradient(r->policy, &np);
    if (!g) return pst_fail(err, "dpg: no gradient to sum over the ranks");
    return pst_comm_allreduce_sum_f32(r->comm, g, np, err);
}

/* Plain DPG off-policy: c_i = (P/q)/(n·Ẑ) needs no π_θ, so the gradient is accumulated
 * now and log π_θ comes with its forward pass. */
static int accumulate_importance_gradient(dpg_run *r, long step, pst_error *err) {
    int n = r->n;
    for (int i = 0; i < n; i++) {
        int g = z_group(r, i);
        r->coef[i] = r->lt[i] > -INFINITY ? exp(r->lt[i] - r->lq[i] - (r->st.log_w_sum[g] - log(r->st.count[g]))) / n
                                          : 0;
    }
    if (accumulate_rows(r, 1, err) < 0) return pst_fail_context(err, "dpg step %ld", step);
    return 0;
}

/* Step 5, RL variants: the reward r_i (rl.h), R_i = r_i − kl_coef·(log π_θ − log a), the
 * advantages A_i and c_i = A_i/n; the loss is −mean R (the negated objective). */
static double rl_coefficients(dpg_run *r) {
    const pst_dpg_options *o = r->o;
    int n = r->n;
    double *reward = r->scratch, *R = r->coef, mean = 0;
    for (int i = 0; i < n; i++) {
        double lt = r->lt[i], la = r->la[i];
        reward[i] = o->reward == PST_REWARD_EVIDENCE   ? (lt > -INFINITY ? exp(lt - la) : 0)
                    : o->reward == PST_REWARD_LOG_TARGET ? (lt > -INFINITY ? lt : la + o->reward_floor)
                                                         : (lt > -INFINITY ? lt - la : o->reward_floor);
    }
    pst_rl_kl_shaped_reward(reward, r->lpi, r->la, o->kl_coef, n, R);
    for (int i = 0; i < n; i++) mean += R[i] / n;
    if (o->variant == PST_RL_REINFORCE) {
        dpg_state *st = &r->st;
        pst_rl_reinforce_advantages(R, n, st->baseline_set ? st->baseline : mean, R);
        st->baseline = st->baseline_set ? o->baseline_decay * st->baseline + (1 - o->baseline_decay) * mean : mean;
        st->baseline_set = 1;
    } else if (o->variant == PST_RL_RLOO) {
        pst_rl_rloo_advantages(R, n, o->group_size, R, NULL); /* groups checked in check_options */
    } else {
        pst_rl_grpo_advantages(R, n, o->group_size, 1, 1e-4, R, NULL);
    }
    for (int i = 0; i < n; i++) r->coef[i] = R[i] / n;
    return -mean;
}

/* Step 5: the coefficients c_i of Σ c_i log π_θ(x_i) and the loss, per variant:
 *   DPG:      c_i = (p/q)(x_i)/n, loss = E_q[(p/q) (log p − log π_θ)] = KL(p‖π_θ);
 *   baseline: c_i = (p/q − π_θ/q)(x_i)/n;
 *   f-DPG:    c_i = −(π_θ/q)(f'(π_θ/p) − b)/n with b a running mean of f' (the baseline),
 *             loss = D_f(π_θ‖p), log(π_θ/p) clipped to ±log_t_clip. */
static double dpg_coefficients(dpg_run *r) {
    const pst_dpg_options *o = r->o;
    if (is_rl(o->variant)) return rl_coefficients(r);
    const double *lt = r->lt, *lq = r->lq, *lpi = r->lpi;
    double *coef = r->coef;
    int n = r->n;
    double loss = 0, fp_mean = 0;
    for (int i = 0; i < n; i++) {
        int g = z_group(r, i);
        double log_zg = r->st.log_w_sum[g] - log(r->st.count[g]);
        if (log_zg == -INFINITY) { /* no evidence of Z_c for this context yet: no signal */
            coef[i] = 0;
            continue;
        }
        double wz = lt[i] > -INFINITY ? exp(lt[i] - lq[i] - log_zg) : 0; /* p/q */
        double ratio = exp(lpi[i] - lq[i]);                              /* π/q */
        if (o->variant == PST_DPG_F) {
            double log_t = lpi[i] - lt[i] + log_zg;
            if (log_t > o->log_t_clip) log_t = o->log_t_clip;
            if (log_t < -o->log_t_clip) log_t = -o->log_t_clip;
            double fp = f_prime(r->fdiv, log_t);
            coef[i] = ratio * fp; /* baseline subtracted below */
            fp_mean += ratio * fp / n;
            loss += lt[i] > -INFINITY ? wz * f_value(r->fdiv, lpi[i] - lt[i] + log_zg) / n
                                      : ratio * (f_outside_support(r->fdiv) > 0 ? f_outside_support(r->fdiv) : 0) / n;
        } else {
            coef[i] = o->variant == PST_DPG_BASELINE ? (wz - ratio) / n : wz / n;
            if (lt[i] > -INFINITY) loss += wz * (lt[i] - log_zg - lpi[i]) / n;
        }
    }
    if (o->variant == PST_DPG_F) {
        dpg_state *st = &r->st;
        double b = st->baseline_set ? st->baseline : fp_mean;
        for (int i = 0; i < n; i++)
            coef[i] = st->log_w_sum[z_group(r, i)] > -INFINITY ? -(coef[i] - b * exp(lpi[i] - lq[i])) / n : 0;
        st->baseline = st->baseline_set ? o->baseline_decay * st->baseline + (1 - o->baseline_decay) * fp_mean : fp_mean;
        st->baseline_set = 1;
    }
    return loss;
}

/* m->loss (NaN without a sample of P > 0 to estimate it from); an error when the loss
 * or a coefficient is NaN/inf. */
static int check_loss(const dpg_run *r, double loss, int any_target, pst_dpg_step *m, pst_error *err) {
    int batch_support = 0; /* some sample of this batch has P > 0 */
    for (int i = 0; i < r->n; i++) batch_support |= r->lt[i] > -INFINITY;
    int finite = !isnan(loss);
    /* without such a sample a DPG loss (an expectation under p) has no estimate here */
    m->loss = any_target && (batch_support || r->o->variant == PST_DPG_F || is_rl(r->o->variant)) ? loss : NAN;
    for (int i = 0; i < r->n && finite; i++) finite = isfinite(r->coef[i]);
    if (!finite) /* found alike on every rank (the whole batch's coefficients): said once */
        return pst_comm_fail_all(r->comm, err, NULL, "dpg step %ld: the loss or a sample weight is NaN/inf (loss %g); stopping, the last good "
                             "checkpoint is kept",
                        m->step, loss);
    return 0;
}

/* 1 when π_θ and q give each of the n samples the same log-probability up to float32
 * rounding (|log q − log π| ≤ 1e-5·(1 + |log q|)): q is π_θ itself (step 1, when the policy
 * starts as the proposal, or a swap no step has followed), and KL estimates that differ only
 * by rounding must not decide a swap -- nor decide it differently on another number of ranks. */
static int same_log_probs(const double *lq, const double *lpi, int n) {
    for (int i = 0; i < n; i++)
        if (isfinite(lq[i]) && !(fabs(lq[i] - lpi[i]) <= 1e-5 * (1 + fabs(lq[i])))) return 0;
    return 1;
}

/* Step 6, KL-adaptive proposal: q ← π_θ when KL(p‖π_θ) < KL(p‖q), both estimated on
 * this fresh batch of q (the policy has not been trained on it yet); with a margin, the
 * paired gain KL(p‖π) − KL(p‖q) = E_p[log q − log π] must be below −margin·se. Never when
 * π_θ and q are the same distribution to rounding (same_log_probs). */
static int adapt_proposal(dpg_run *r, pst_dpg_step *m, pst_error *err) {
    const pst_dpg_options *o = r->o;
    int n = r->n;
    int better = !r->on_policy && !o->reference && m->kl_target_policy.value < m->kl_target_proposal.value &&
                 !same_log_probs(r->lq, r->lpi, n);
    if (better && o->proposal_margin > 0) {
        for (int i = 0; i < n; i++) r->scratch[i] = r->lt[i] > -INFINITY ? r->lq[i] - r->lpi[i] : 0;
        pst_estimate gain;
        pst_estimate_moments_target(r->lt, r->lq, r->scratch, n, 1, &gain);
        better = gain.value + o->proposal_margin * gain.se < 0; /* NaN (m = ∞, se = 0): no */
    }
    if (better && replace_proposal(r->policy, &r->q_copy, &r->st, m, err) < 0) return -1;
    m->proposal_updates = r->st.proposal_updates;
    return 0;
}

/* Step 7: θ ← θ + lr·∇ Σ c_i log π_θ(x_i) (accumulated here unless it already was),
 * lr on the cosine schedule and, with lr_by_ess, scaled by ESS/n. */
static int gradient_step(dpg_run *r, int any_target, int accumulated, pst_dpg_step *m, pst_error *err) {
    const pst_dpg_options *o = r->o;
    pst_distribution *policy = r->policy;
    if (any_target && ((!accumulated && accumulate_rows(r, 0, err) < 0) || sum_gradient(r, err) < 0))
        return pst_fail_context(err, "dpg step %ld", m->step);
    double lr = pst_dpg_lr(o, r->st.step);
    if (o->lr_by_ess) lr *= m->ess / r->n; /* the same step per effective sample: Adam's step ignores |∇| */
    m->lr = lr;
    if (any_target && pst_dist_step(policy, lr, err) < 0) return pst_fail_context(err, "dpg step %ld", m->step);
    return 0;
}

/* Step 8, the yardstick: π_θ measured on exact samples of p every exact_every steps (and
 * at the last); the proposal replaced only on this paired, unbiased comparison. */
static int measure_on_reference(dpg_run *r, pst_dpg_step *m, pst_error *err) {
    const pst_dpg_options *o = r->o;
    const pst_reference *ref = o->reference;
    if (!ref || !((o->exact_every > 0 && r->st.step % o->exact_every == 0) || r->st.step == o->steps)) return 0;
    if (measure_exact(ref, r->target, r->policy, r->ref_lq, r->ref_lpi, m, err) < 0)
        return pst_fail_context(err, "dpg step %ld", m->step);
    if (!r->on_policy && m->proposal_gain.value + o->proposal_margin * m->proposal_gain.se < 0 &&
        !same_log_probs(r->ref_lq, r->ref_lpi, ref->n)) {
        if (replace_proposal(r->policy, &r->q_copy, &r->st, m, err) < 0) return -1;
        memcpy(r->ref_lq, r->ref_lpi, sizeof(double) * (size_t)ref->n);
    }
    return 0;
}

/* The step's metrics line and progress. */
static void report_step(dpg_run *r, const pst_dpg_step *m) {
    if (r->mf.file) {
        char line[4096];
        pst_dpg_step_json(m, line, sizeof line);
        pst_metrics_write(&r->mf, "%s", line);
    }
    if (r->o->quiet || !r->writer) return;
    char extra[160];
    if (m->has_exact) r->last_exact = m->exact.kl_target_policy.value;
    snprintf(extra, sizeof extra, "KL(p|pi) IS %.3f exact %.3f  Z %.3g  updates %ld", m->kl_target_policy.value,
             r->last_exact, exp(m->log_z), r->st.proposal_updates);
    pst_progress_update(&r->prog, r->st.step, m->samples_per_s, extra);
}

/* One DPG step (steps 1–8 above) into m. */
static int dpg_step(dpg_run *r, pst_dpg_step *m, pst_error *err) {
    double t0 = pst_now();
    pst_distribution *q = current_proposal(r);
    int pi_from_gradient = 0, accumulated = 0;
    if (draw_and_score(r, q, &pi_from_gradient, err) < 0) return -1;
    memset(m, 0, sizeof *m);
    m->step = r->st.step + 1;
    m->n_features = r->k;
    update_partition(r, m);
    report_contexts(r, m);
    report_policy_stats(r, m);
    int any_target = target_seen(r, m->step, err);
    if (any_target < 0) return -1;
    if (pi_from_gradient && !any_target && score_policy_rows(r, err) < 0)
        return pst_fail_context(err, "dpg step %ld: scoring the policy", m->step);
    if (pi_from_gradient && any_target) {
        if (accumulate_importance_gradient(r, m->step, err) < 0) return -1;
        accumulated = 1;
    }
    batch_view bv = {r->n, r->k, r->G, r->group, r->lt, r->lq, r->lpi, r->la, r->f};
    batch_metrics(&bv, m, r->scratch);
    if (check_loss(r, dpg_coefficients(r), any_target, m, err) < 0) return -1;
    if (adapt_proposal(r, m, err) < 0) return -1;
    if (gradient_step(r, any_target, accumulated, m, err) < 0) return -1;
    pst_sample_free(r->xs, r->n);
    r->st.step++;
    if (measure_on_reference(r, m, err) < 0) return -1;
    m->samples_per_s = r->n / fmax(pst_now() - t0, 1e-9);
    return 0;
}

/* With N ranks: stop when the callback of any rank says so (one allreduce of a double),
 * so that every rank stops, and checkpoints, at the same step. */
static int agree_stop(const dpg_run *r, int *stop, pst_error *err) {
    if (r->n_ranks < 2) return 0;
    double any = *stop != 0;
    if (pst_comm_allreduce_sum_f64(r->comm, &any, 1, err) < 0) return -1;
    *stop = any > 0;
    return 0;
}

int pst_dpg_train(pst_distribution *policy, const pst_target *target, pst_distribution *proposal,
                  const pst_dpg_options *o, pst_dpg_callback cb, void *cb_ctx, pst_error *err) {
    if (check_options(policy, target, proposal, o, err) < 0) return -1;
    dpg_run r = {.policy = policy, .proposal = proposal, .target = target, .o = o, .last_exact = NAN};
    r.n = o->batch;
    r.k = target->n_features;
    r.G = o->contexts && o->n_contexts > 0 ? o->n_contexts : 1;
    r.on_policy = o->variant == PST_DPG_ON_POLICY || o->variant == PST_DPG_F || is_rl(o->variant);
    r.fdiv = o->variant == PST_DPG_F ? o->f : PST_F_FKL;
    r.comm = o->comm;
    r.n_ranks = o->comm ? o->comm->size : 1;
    r.m = r.n / r.n_ranks, r.r0 = (o->comm ? o->comm->rank : 0) * r.m, r.writer = r.r0 == 0;
    int rc = -1, quiet = o->quiet || !r.writer;
    /* phases that every rank ends together: a failure on one fails all (reported once) */
    if (pst_comm_check(r.comm, run_open(&r, err), err) < 0 || pst_comm_check(r.comm, run_start(&r, err), err) < 0)
        goto done;
    if (!quiet) pst_progress_start(&r.prog, "dpg", o->steps);
    for (int stop = 0; !stop && r.st.step < o->steps;) {
        pst_dpg_step m;
        if (dpg_step(&r, &m, err) < 0) goto done;
        report_step(&r, &m);
        stop = cb ? cb(cb_ctx, &m) : 0; /* the caller may stop the run: checkpointed, not an error */
        if (agree_stop(&r, &stop, err) < 0) goto done;
        /* rank 0 writes it; every rank goes on once it is committed */
        if (pst_dpg_checkpoint_due(o, r.st.step, stop) &&
            pst_comm_check(r.comm, r.writer ? checkpoint_save(o->out_dir, &r.st, policy, &r.q_copy, err) : 0, err) < 0)
            goto done;
    }
    if (!quiet) pst_progress_finish(&r.prog);
    rc = 0;
done:
    run_close(&r);
    return rc;
}
