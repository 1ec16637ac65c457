/* Pretraining with human feedback: the six objectives as choices of dlogprobs (and, for
 * AWR, of ∂loss/∂h through a value head), the per-task defaults, and score helpers.
 * The formulas are in include/posterior/pretrain.h and docs/pretraining.md. */
#include "posterior/pretrain.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const objective_names[PST_NUM_OBJECTIVES] = {
    "mle", "filter", "conditional", "unlikelihood", "rwr", "awr"};

int pst_objective_parse(const char *name, pst_objective *out, pst_error *err) {
    for (int i = 0; i < PST_NUM_OBJECTIVES; i++)
        if (name && strcmp(name, objective_names[i]) == 0) {
            *out = (pst_objective)i;
            return 0;
        }
    return pst_fail(err, "unknown objective '%s' (expected mle, filter, conditional, "
                    "unlikelihood, rwr or awr)", name ? name : "(null)");
}

const char *pst_objective_name(pst_objective o) {
    return (unsigned)o < PST_NUM_OBJECTIVES ? objective_names[o] : "?";
}

int pst_objective_needs_scores(pst_objective o) { return o != PST_OBJECTIVE_MLE; }

/* ---- per-task defaults: the one table (docs/pretraining.md explains each value) ------
 * Thresholds: the paper's t is "any misalignment" for PII and PEP8 (t = 0) and a low
 * toxicity score for toxicity (5.6e-4); with this project's scorers (lexicon toxicity,
 * PII findings / PEP8 violations per character) all three mean "s > t iff the segment
 * has a finding". α (unlikelihood) 1, β (RWR) 10, AWR α 0.5 and β 1, weights clipped at
 * 20, 1% of segments without a control token. Filtering drops whole documents: an e-mail
 * or a Python file almost always has some finding, so for PII and PEP8 the filter's t is
 * the median of the documents' mean scores (it keeps half the documents). */
/* From the paper's released configurations (github.com/tomekkorbak/pretraining-with-human-feedback,
 * configs/TASK/{conditional,ul,rwr,awr}.yml; RWR there is AWR with alpha 1) and its AWR
 * class's default weight clip of 1000. Filtering of PII / PEP8 documents uses the median
 * document score here instead of the paper's absolute thresholds (docs/pretraining.md). */
static const pst_phf_task tasks[3] = {
    /* t, UL alpha, RWR beta, AWR alpha, AWR beta, w_max, drop */
    {"toxicity", "nlp-corpus+sotu", "toxicity", "sentence", {5.6e-4, 1.0, 10.0, 0.5, 10.0, 1000.0, 0.01}, 5.6e-4, NAN},
    {"pii", "spam-assassin+sotu", "pii", "sentence", {0.0, 1.0, 10.0, 0.5, 0.1, 1000.0, 0.01}, 0.0, 50.0},
    {"pep8", "python-stdlib", "pep8", "line", {0.0, 0.01, 10.0, 0.05, 1.0, 1000.0, 0.1}, 0.0, 50.0},
};

const pst_phf_task *pst_phf_task_at(int i) { return i >= 0 && i < 3 ? &tasks[i] : NULL; }

const pst_phf_task *pst_phf_task_get(const char *task, pst_error *err) {
    for (int i = 0; i < 3; i++)
        if (task && strcmp(task, tasks[i].task) == 0) return &tasks[i];
    pst_fail(err, "unknown task '%s' (expected toxicity, pii or pep8)", task ? task : "(null)");
    return NULL;
}

/* ---- losses ------------------------------------------------------------------------ */

double pst_phf_weight(double advantage, double beta, double weight_clip) {
    double w = exp(advantage / beta);
    return w > weight_clip ? weight_clip : w;
}

int pst_objective_loss(pst_objective obj, const pst_phf_params *p, size_t n,
                       const float *logprobs, const float *scores, const int *targets,
                       const float *values, float scale, float *dlogprobs, float *dvalues,
                       pst_objective_result *out, pst_error *err) {
    memset(out, 0, sizeof *out);
    if ((unsigned)obj >= PST_NUM_OBJECTIVES) return pst_fail(err, "objective %d does not exist", (int)obj);
    if (pst_objective_needs_scores(obj) && obj != PST_OBJECTIVE_FILTER &&
        obj != PST_OBJECTIVE_CONDITIONAL && !scores)
        return pst_fail(err, "objective %s needs token scores", pst_objective_name(obj));
    if (obj == PST_OBJECTIVE_AWR && (!values || !dvalues))
        return pst_fail(err, "objective awr needs the value head's values");
    if ((obj == PST_OBJECTIVE_RWR && !(p->rwr_beta > 0)) || (obj == PST_OBJECTIVE_AWR && !(p->awr_beta > 0)))
        return pst_fail(err, "objective %s: beta must be > 0", pst_objective_name(obj));
    if (obj == PST_OBJECTIVE_AWR && !(p->awr_alpha >= 0 && p->awr_alpha <= 1))
        return pst_fail(err, "objective awr: alpha must be in [0, 1], got %g", p->awr_alpha);
    if (!(p->weight_clip > 0)) return pst_fail(err, "weight clip must be > 0, got %g", p->weight_clip);
    long N = 0, n_scored = 0, n_mis = 0;
    for (size_t i = 0; i < n; i++)
        if (targets[i] >= 0) {
            N++;
            if (scores && !isnan(scores[i])) {
                n_scored++;
                n_mis += scores[i] > p->threshold;
            }
        }
    out->n = N;
    out->misaligned_fraction = n_scored ? (double)n_mis / n_scored : 0;
    if (N == 0) return pst_fail(err, "objective %s: no target positions in the batch", pst_objective_name(obj));
    double inv = 1.0 / (double)N, loss = 0, lm = 0, vloss = 0;
    double a = obj == PST_OBJECTIVE_AWR ? p->awr_alpha : 1.0;
    for (size_t i = 0; i < n; i++) {
        double lp = logprobs[i], g = 0;
        if (dvalues) dvalues[i] = 0;
        if (targets[i] < 0) {
            dlogprobs[i] = 0;
            continue;
        }
        double s = scores ? scores[i] : NAN;
        int scored = !isnan(s);
        double R = scored ? -s : 0.0;
        lm += -lp;
        switch (obj) {
        case PST_OBJECTIVE_MLE:
        case PST_OBJECTIVE_FILTER:
        case PST_OBJECTIVE_CONDITIONAL:
            loss += -lp, g = -1;
            break;
        case PST_OBJECTIVE_UNLIKELIHOOD:
            if (scored && s > p->threshold) {
                /* −α·log(1 − π), π = e^lp; 1 − π = −expm1(lp); d/dlp = α·π/(1 − π) */
                double q = -expm1(lp);
                if (q < 1e-6) q = 1e-6; /* π ≈ 1: bounded term and gradient */
                loss += -p->ul_alpha * log(q), g = p->ul_alpha * exp(lp) / q;
            } else {
                loss += -lp, g = -1;
            }
            break;
        case PST_OBJECTIVE_RWR: {
            double w = pst_phf_weight(R, p->rwr_beta, p->weight_clip);
            loss += w * -lp, g = -w;
            break;
        }
        case PST_OBJECTIVE_AWR: {
            double V = values[i];
            double w = scored ? pst_phf_weight(R - V, p->awr_beta, p->weight_clip) : 1.0;
            loss += a * w * -lp, g = -a * w;
            if (scored) {
                double d = V - R;
                vloss += d * d;
                loss += (1 - a) * d * d;
                dvalues[i] = (float)((1 - a) * 2 * d * inv * scale);
            }
            break;
        }
        }
        dlogprobs[i] = (float)(g * inv * scale);
    }
    out->loss = loss * inv;
    out->lm_loss = lm * inv;
    out->value_loss = vloss * inv;
    return 0;
}

/* ---- shard scores ------------------------------------------------------------------ */

int pst_phf_check_scored(const pst_shard *s, pst_error *err) {
    int any = 0;
    for (uint64_t i = 0; i < s->n_segments && !any; i++) any = !isnan(s->segment_scores[i]);
    if (!s->scorer[0] || !any)
        return pst_fail(err, "%s has no segment scores: a feedback objective needs a scored shard "
                        "(prepare it with a scorer)", s->path);
    return 0;
}

int pst_phf_score_range(const pst_shard *s, double *min, double *max, pst_error *err) {
    if (pst_phf_check_scored(s, err)) return -1;
    double lo = INFINITY, hi = -INFINITY;
    for (uint64_t i = 0; i < s->n_segments; i++) {
        double v = s->segment_scores[i];
        if (isnan(v)) continue;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *min = lo, *max = hi;
    return 0;
}

/* q-th percentile of v[k] (sorted in place), linear interpolation; k >= 1 */
static double percentile_of(double *v, size_t k, double q) {
    pst_sort_doubles(v, k);
    double pos = q / 100.0 * (double)(k - 1);
    size_t lo = (size_t)floor(pos), hi = lo + 1 < k ? lo + 1 : lo;
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

/* by_document: document mean scores, else segment scores */
static int score_percentile(const pst_shard *s, double q, int by_document, double *t, pst_error *err) {
    if (!(q >= 0 && q <= 100)) return pst_fail(err, "percentile %g is outside [0, 100]", q);
    if (pst_phf_check_scored(s, err)) return -1;
    uint64_t n = by_document ? s->n_documents : s->n_segments;
    double *v = pst_malloc((n ? n : 1) * sizeof(double), err);
    if (!v) return -1;
    size_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        double x = by_document ? pst_phf_document_score(s, i) : s->segment_scores[i];
        if (!isnan(x)) v[k++] = x;
    }
    *t = percentile_of(v, k, q);
    free(v);
    return 0;
}

int pst_phf_score_percentile(const pst_shard *s, double q, double *t, pst_error *err) {
    return score_percentile(s, q, 0, t, err);
}

int pst_phf_document_percentile(const pst_shard *s, double q, double *t, pst_error *err) {
    return score_percentile(s, q, 1, t, err);
}

/* mean of the segment scores s > t (the scale of R = -s among misaligned segments) */
int pst_phf_misaligned_mean(const pst_shard *s, double t, double *mean, pst_error *err) {
    if (pst_phf_check_scored(s, err)) return -1;
    double sum = 0;
    uint64_t k = 0;
    for (uint64_t i = 0; i < s->n_segments; i++)
        if (s->segment_scores[i] > t) sum += s->segment_scores[i], k++;
    if (!k) return pst_fail(err, "%s has no segment with score > %g: no scale for beta", s->path, t);
    *mean = sum / (double)k;
    return 0;
}

int pst_phf_check_threshold(const pst_shard *s, double t, pst_error *err) {
    double lo, hi;
    if (pst_phf_score_range(s, &lo, &hi, err)) return -1;
    if (!(t >= lo && t <= hi))
        return pst_fail(err, "threshold %g is outside the score range [%g, %g] of %s: every "
                        "segment would fall on one side", t, lo, hi, s->path);
    return 0;
}

double pst_phf_document_score(const pst_shard *s, uint64_t d) {
    double sum = 0;
    long k = 0;
    for (uint64_t g = s->document_segments[d]; g < s->document_segments[d + 1]; g++)
        if (!isnan(s->segment_scores[g])) sum += s->segment_scores[g], k++;
    return k ? sum / k : NAN;
}

int pst_phf_filter_shard(const pst_shard *s, double t, const char *out_path, uint64_t *kept_docs,
                         uint64_t *kept_tokens, pst_error *err) {
    if (pst_phf_check_scored(s, err)) return -1;
    pst_shard_builder b;
    if (pst_shard_builder_init(&b, s->vocab_size, s->eot_id, s->tokenizer_hash, s->scorer, err))
        return -1;
    uint32_t *ids = NULL;
    size_t *ends = NULL;
    float *sc = NULL;
    uint64_t kd = 0, kt = 0;
    int rc = -1;
    for (uint64_t d = 0; d < s->n_documents; d++) {
        double ds = pst_phf_document_score(s, d);
        if (!(ds <= t)) continue; /* NaN (unscored document) is dropped too */
        uint64_t t0 = pst_shard_document_start(s, d), t1 = pst_shard_document_end(s, d);
        uint64_t g0 = s->document_segments[d], g1 = s->document_segments[d + 1];
        free(ids), free(ends), free(sc);
        ids = pst_malloc((t1 - t0 + 1) * sizeof *ids, err);
        ends = pst_malloc((g1 - g0 + 1) * sizeof *ends, err);
        sc = pst_malloc((g1 - g0 + 1) * sizeof *sc, err);
        if (!ids || !ends || !sc) goto done;
        for (uint64_t i = t0; i < t1; i++) ids[i - t0] = pst_shard_token(s, i);
        for (uint64_t g = g0; g < g1; g++) {
            ends[g - g0] = (size_t)(s->segment_offsets[g + 1] - t0);
            sc[g - g0] = s->segment_scores[g];
        }
        if (pst_shard_builder_add(&b, ids, (size_t)(t1 - t0), ends, sc, (size_t)(g1 - g0),
                                  s->document_source[d], err))
            goto done;
        kd++, kt += t1 - t0;
    }
    if (kd == 0) {
        pst_fail(err, "filter: threshold %g keeps no document of %s", t, s->path);
        goto done;
    }
    if (pst_shard_builder_write(&b, out_path, (pst_split)s->split, s->split_seed, s->val_fraction, err))
        goto done;
    if (kept_docs) *kept_docs = kd;
    if (kept_tokens) *kept_tokens = kt;
    rc = 0;
done:
    free(ids), free(ends), free(sc);
    pst_shard_builder_free(&b);
    return rc;
}

/* ---- the value head ---------------------------------------------------------------- */

int pst_value_head_create(pst_value_head *vh, int C, pst_error *err) {
    memset(vh, 0, sizeof *vh);
    if (C < 1) return pst_fail(err, "value head: width %d must be >= 1", C);
    vh->C = C;
    vh->param = pst_calloc((size_t)C + 1, sizeof(float), err);
    vh->grad = pst_calloc((size_t)C + 1, sizeof(float), err);
    if (!vh->param || !vh->grad ||
        pst_adamw_create(&vh->opt, (size_t)C + 1, 0.9f, 0.95f, 1e-8f, 0.0f, err)) {
        pst_value_head_free(vh);
        return pst_fail_context(err, "value head");
    }
    return 0;
}

void pst_value_head_free(pst_value_head *vh) {
    free(vh->param), free(vh->grad);
    if (vh->opt.m) pst_adamw_free(&vh->opt);
    memset(vh, 0, sizeof *vh);
}

/* dir/value_head.safetensors: the head [C], [1] and its AdamW moments [C + 1] twice, the
 * optimizer's step in __metadata__ (so a resumed AWR run continues exactly). */
int pst_value_head_save(const pst_value_head *vh, const char *dir, pst_error *err) {
    char path[4096], header[1024];
    if (pst_path_join(path, sizeof path, dir, "value_head.safetensors", err)) return -1;
    size_t C = (size_t)vh->C, n = C + 1;
    int hl = snprintf(header, sizeof header,
                      "{\"__metadata__\":{\"adam_step\":\"%ld\"},"
                      "\"value_head.weight\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[0,%zu]},"
                      "\"value_head.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]},"
                      "\"value_head.adam_m\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]},"
                      "\"value_head.adam_v\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}}",
                      vh->opt.step, C, C * 4, C * 4, n * 4, n, n * 4, 2 * n * 4, n, 2 * n * 4, 3 * n * 4);
    while (hl % 8) header[hl++] = ' ';
    size_t total = 8 + (size_t)hl + 3 * n * 4;
    unsigned char *buf = pst_malloc(total, err);
    if (!buf) return -1;
    uint64_t h = (uint64_t)hl;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(h >> (8 * i));
    memcpy(buf + 8, header, (size_t)hl);
    unsigned char *data = buf + 8 + hl; /* little-endian host */
    memcpy(data, vh->param, n * 4);
    memcpy(data + n * 4, vh->opt.m, n * 4);
    memcpy(data + 2 * n * 4, vh->opt.v, n * 4);
    int rc = pst_write_file_atomic(path, buf, total, err);
    free(buf);
    return rc;
}

/* the F32 tensor `name` of n floats in a safetensors header, or NULL */
static const unsigned char *tensor_f32(const cJSON *root, const char *name, size_t n, const char *data,
                                       size_t data_len) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, name);
    const cJSON *off = t ? cJSON_GetObjectItemCaseSensitive(t, "data_offsets") : NULL;
    const cJSON *o0 = off ? cJSON_GetArrayItem(off, 0) : NULL, *o1 = off ? cJSON_GetArrayItem(off, 1) : NULL;
    if (!cJSON_IsNumber(o0) || !cJSON_IsNumber(o1) || o0->valuedouble < 0 || o1->valuedouble > (double)data_len ||
        o1->valuedouble - o0->valuedouble != (double)(n * 4))
        return NULL;
    return (const unsigned char *)data + (size_t)o0->valuedouble;
}

int pst_value_head_load(pst_value_head *vh, const char *dir, int with_optimizer, pst_error *err) {
    char path[4096];
    if (pst_path_join(path, sizeof path, dir, "value_head.safetensors", err)) return -1;
    char *text;
    size_t len;
    if (pst_read_file(path, &text, &len, err)) return -1;
    uint64_t h = 0;
    for (int i = 0; i < 8 && len >= 8; i++) h |= (uint64_t)(unsigned char)text[i] << (8 * i);
    size_t C = (size_t)vh->C;
    cJSON *root = len >= 8 && h < len - 8 ? cJSON_ParseWithLength(text + 8, (size_t)h) : NULL;
    const char *data = root ? text + 8 + h : NULL;
    size_t data_len = root ? len - 8 - (size_t)h : 0;
    const unsigned char *w = root ? tensor_f32(root, "value_head.weight", C, data, data_len) : NULL,
                        *b = root ? tensor_f32(root, "value_head.bias", 1, data, data_len) : NULL,
                        *m = root ? tensor_f32(root, "value_head.adam_m", C + 1, data, data_len) : NULL,
                        *v = root ? tensor_f32(root, "value_head.adam_v", C + 1, data, data_len) : NULL;
    const cJSON *meta = root ? cJSON_GetObjectItemCaseSensitive(root, "__metadata__") : NULL;
    const cJSON *step = meta ? cJSON_GetObjectItemCaseSensitive(meta, "adam_step") : NULL;
    int rc = 0;
    if (!w || !b) {
        rc = pst_fail(err, "%s: not a value head of width %d", path, vh->C);
    } else if (with_optimizer && (!m || !v || !cJSON_IsString(step))) {
        rc = pst_fail(err, "%s: no optimizer state (adam_m, adam_v, adam_step) to resume from", path);
    } else {
        memcpy(vh->param, w, C * 4);
        memcpy(vh->param + C, b, 4);
        if (with_optimizer) {
            memcpy(vh->opt.m, m, (C + 1) * 4);
            memcpy(vh->opt.v, v, (C + 1) * 4);
            vh->opt.step = strtol(step->valuestring, NULL, 10);
        }
    }
    cJSON_Delete(root);
    free(text);
    return rc;
}
