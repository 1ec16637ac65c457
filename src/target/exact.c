/* Exact samples of p, the yardstick (docs/posterior.md, "Measuring with exact samples").
 *
 * Rejection sampling from the prior with an envelope P(x) ≤ M·a(x): accept x ~ a with
 * probability P(x)/(M·a(x)). Accepted samples follow p exactly, and the acceptance
 * rate r estimates Z/M, so log Ẑ = log M + log r̂ with se = √((1 − r̂)/(r̂·N)) (N draws).
 *   pointwise, b ∈ [0, 1]:             M = 1
 *   distributional, lo_j ≤ φ_j ≤ hi_j:  M = exp Σ_j max(λ_j lo_j, λ_j hi_j)
 * Divergences of a policy π to p are then plain means over x_i ~ p (no weights):
 *   KL(p‖π) = E_p[log P − log π] − log Z,   TVD(p, π) = E_p[(1 − π·Z/P)_+],
 * which see the mass of p that π has dropped, unlike importance sampling from π. */
#include "posterior/shard.h"
#include "posterior/target.h"
#include "posterior/tokenizer.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* log M with P(x) <= M·a(x): pointwise b <= 1 gives M = 1; distributional with bounded
 * features, log M = Σ_j max(λ_j lo_j, λ_j hi_j); KL-RL with r <= r_hi, log M = r_hi/β. */
int pst_target_log_envelope(const pst_target *t, double *log_m) {
    *log_m = 0;
    if (t->kind == PST_TARGET_POINTWISE) return 1;
    if (t->kind == PST_TARGET_KLRL) {
        if (!t->bounded[0] || !(t->beta > 0)) return 0;
        *log_m = t->feature_hi[0] / t->beta;
        return isfinite(*log_m);
    }
    if (t->kind != PST_TARGET_DISTRIBUTIONAL) return 0;
    double s = 0;
    for (int j = 0; j < t->n_features; j++) {
        if (!t->bounded[j]) return 0;
        s += fmax(t->lambda[j] * t->feature_lo[j], t->lambda[j] * t->feature_hi[j]);
    }
    *log_m = s;
    return isfinite(s);
}

void pst_exact_options_default(pst_exact_options *o) {
    o->batch = 64;
    o->max_proposals = 200000;
    o->comm = NULL;
}

void pst_reference_free(pst_reference *r) {
    if (!r) return;
    if (r->xs) pst_sample_free(r->xs, r->n);
    free(r->xs), free(r->log_prior), free(r->log_target), free(r->context);
    memset(r, 0, sizeof *r);
}

/* log Ẑ = log M + log(n/N); se = √((1 − r)/(r·N)). */
static pst_estimate log_z_of(double log_m, long accepted, long proposed) {
    double r = (double)accepted / (double)proposed;
    pst_estimate e = {log_m + log(r), sqrt((1 - r) / (r * (double)proposed))};
    return e;
}

static int grow(pst_reference *r, int cap, pst_error *err) {
    pst_sample *xs = pst_realloc(r->xs, sizeof *xs * (size_t)cap, err);
    if (xs) r->xs = xs;
    double *lp = pst_realloc(r->log_prior, sizeof(double) * (size_t)cap, err);
    if (lp) r->log_prior = lp;
    double *lt = pst_realloc(r->log_target, sizeof(double) * (size_t)cap, err);
    if (lt) r->log_target = lt;
    return xs && lp && lt ? 0 : -1;
}

/* Stops with an error once the budget cannot give n samples at the rate seen so far:
 * with k ≥ 10 accepted in N draws the projection N·n/k; with none, the rate is below
 * about 3/N (95%), so n samples need more than N·n/3 draws; with 1 ≤ k < 10 the
 * projection is too rough to stop early, and is only said once the budget is spent. */
static int over_budget(long accepted, long proposed, int n, long budget, pst_error *err) {
    double need = accepted > 0 ? (double)proposed * n / accepted : (double)proposed * n / 3.0;
    if (proposed < budget && (accepted > 0 && accepted < 10 ? 1 : need <= (double)budget)) return 0;
    if (accepted > 0)
        return pst_fail_field(err, "max_proposals", "exact samples: acceptance rate %.3g (%ld of %ld draws of the prior): %d samples of p "
                             "would need about %.3g draws, over the budget of %ld%s",
                        (double)accepted / proposed, accepted, proposed, n, need, budget,
                        accepted < 10 ? " (a rough projection: fewer than 10 accepted)" : "");
    return pst_fail_field(err, "max_proposals", "exact samples: acceptance rate below %.3g (%ld of %ld draws of the prior accepted): "
                         "%d samples of p would need more than %.3g draws; the budget is %ld",
                    3.0 / proposed, accepted, proposed, n, need, budget);
}

int pst_draw_exact(const pst_target *t, const pst_seq *context, int n, const pst_exact_options *o, pst_rng *rng,
                   pst_reference *out, pst_error *err) {
    memset(out, 0, sizeof *out);
    if (n < 1) return pst_fail(err, "exact samples: n = %d; need at least one", n);
    if (!t->prior) return pst_fail(err, "exact samples: the target has no prior to propose from");
    if (!pst_target_log_envelope(t, &out->log_envelope))
        return pst_fail(err, "exact samples: no envelope P <= M a is known for this %s target (features without "
                             "known bounds, or a KL-RL reward); use quasi-rejection sampling instead",
                        pst_target_kind_name(t->kind));
    if (context && context->n > 0) {
        out->context = pst_malloc(sizeof(int) * (size_t)context->n, err);
        if (!out->context) return -1;
        memcpy(out->context, context->tokens, sizeof(int) * (size_t)context->n);
        out->n_context = context->n;
    }
    int batch = o->batch > 0 ? o->batch : 64, cap = 0;
    pst_scored_batch sb = {0};
    unsigned char *acc = pst_malloc((size_t)batch, err);
    if (!acc) return -1;
    while (out->n < n) {
        if (out->proposed > 0 && over_budget(out->n, out->proposed, n, o->max_proposals, err) < 0) {
            if (err && o->comm && o->comm->rank != 0) err->msg[0] = 0; /* every rank found it: rank 0 says it */
            goto fail;
        }
        if (pst_draw_scored_split(t, t->prior, context && context->n ? context : NULL, batch, batch, rng, o->comm, &sb,
                                  err) < 0)
            goto fail;
        for (int i = 0; i < batch; i++)
            if (fabs(sb.log_q[i] - sb.log_prior[i]) > 1e-3 * (1 + fabs(sb.log_prior[i]))) {
                pst_fail(err, "exact samples: the prior samples with warping (temperature, top-k or top-p); "
                              "rejection sampling needs plain samples of a");
                goto fail;
            }
        int na;
        if (pst_rejection_select(sb.log_target, sb.log_prior, batch, out->log_envelope, rng, acc, &na, err) < 0)
            goto fail;
        /* draws after the n-th acceptance are not counted: r̂ = n/N stays unbiased */
        for (int i = 0; i < batch && out->n < n; i++) {
            out->proposed++;
            if (!acc[i]) continue;
            if (out->n == cap && grow(out, cap = cap ? 2 * cap : 64, err) < 0) goto fail;
            out->xs[out->n] = sb.xs[i];
            sb.xs[i].tokens = NULL; /* moved */
            out->log_prior[out->n] = sb.log_prior[i];
            out->log_target[out->n] = sb.log_target[i];
            out->n++;
        }
        pst_scored_batch_free(&sb);
    }
    free(acc);
    out->exact = 1;
    out->log_z = log_z_of(out->log_envelope, out->n, out->proposed);
    return 0;
fail:
    free(acc);
    pst_scored_batch_free(&sb);
    pst_reference_free(out);
    return -1;
}

/* ---- estimators from exact samples ---------------------------------------------- */

/* mean(u), and the variance of that mean (se², from pst_estimate_mean). */
static double mean_var(const double *u, int n, double *var_of_mean) {
    pst_estimate e = pst_estimate_mean(u, n);
    *var_of_mean = e.se * e.se;
    return e.value;
}

/* KL = mean(g) − log Z, g = log P − log π:  se² = var(ḡ) + se(log Z)².
 * TVD = mean (1 − e^{log π − log P + log Z})_+:  se² = var/n + (∂TVD/∂log Z)² se(log Z)²,
 *   ∂TVD/∂log Z = −mean[s_i·1(s_i < 1)], s_i = π Z / P.
 * Ẑ and the sample means are treated as independent (they come from the same draws,
 * but the mean over accepted samples does not depend on how many were rejected). */
int pst_estimate_exact(const double *log_target, const double *log_prior, const double *log_pi, int n,
                       pst_estimate log_z, pst_exact_report *out, pst_error *err) {
    memset(out, 0, sizeof *out);
    out->n = n;
    out->log_z = log_z;
    if (n < 2) return pst_fail(err, "exact estimates: %d samples of p; need at least 2", n);
    double *u = pst_malloc(sizeof(double) * 2 * (size_t)n, err);
    if (!u) return -1;
    double *v = u + n, dz = 0, var;
    int dropped = 0, infinite = 0;
    for (int i = 0; i < n; i++) {
        u[i] = log_target[i] - log_pi[i];
        infinite |= !isfinite(u[i]);
        double s = exp(log_pi[i] - log_target[i] + log_z.value);
        v[i] = s < 1 ? 1 - s : 0;
        if (s < 1) dz -= s / n;
        dropped += log_pi[i] - log_prior[i] < PST_DROPPED_LOG_RATIO;
    }
    out->dropped_fraction = (double)dropped / n;
    if (infinite) { /* π(x) = 0 on a sample of p: KL(p‖π) = ∞ */
        out->kl_target_policy.value = INFINITY;
        out->kl_target_policy.se = NAN;
    } else {
        double m = mean_var(u, n, &var);
        out->kl_target_policy.value = m - log_z.value;
        out->kl_target_policy.se = sqrt(var + log_z.se * log_z.se);
    }
    double m = mean_var(v, n, &var);
    out->tvd.value = m;
    out->tvd.se = sqrt(var + dz * dz * log_z.se * log_z.se);
    free(u);
    return 0;
}

/* ---- reference sets on disk ------------------------------------------------------- */

typedef struct {
    uint64_t h;
} fnv;

static void fnv_bytes(fnv *f, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) f->h = (f->h ^ b[i]) * 0x100000001b3ull;
}

static int fnv_file(fnv *f, const char *dir, const char *name, pst_error *err) {
    char path[4096];
    if (pst_path_join(path, sizeof path, dir, name, err) < 0) return -1;
    FILE *fp = fopen(path, "rb");
    if (!fp) return pst_fail(err, "%s: cannot read it to hash the target", path);
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0) fnv_bytes(f, buf, got);
    int bad = ferror(fp);
    fclose(fp);
    return bad ? pst_fail(err, "%s: read error while hashing", path) : 0;
}

int pst_target_spec_hash(const pst_target_spec *spec, uint64_t *hash, pst_error *err) {
    fnv f = {1469598103934665603ull};
    char num[64];
    int n = snprintf(num, sizeof num, "%d|%d|%.17g|%d|", (int)spec->kind, spec->n_scorers, spec->beta,
                     spec->conditional);
    fnv_bytes(&f, num, (size_t)n);
    for (int i = 0; i < spec->n_scorers; i++) fnv_bytes(&f, spec->scorers[i], strlen(spec->scorers[i]) + 1);
    for (int j = 0; spec->has_lambda && j < spec->n_features; j++) {
        n = snprintf(num, sizeof num, "%.17g|", spec->lambda[j]);
        fnv_bytes(&f, num, (size_t)n);
    }
    /* the prior's weights and configuration, not its path */
    if (fnv_file(&f, spec->prior, "config.json", err) < 0 || fnv_file(&f, spec->prior, "model.safetensors", err) < 0)
        return -1;
    *hash = f.h;
    return 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (k < 0) return -1;
        if ((size_t)k < *cap - *len) {
            *len += (size_t)k;
            return 0;
        }
        size_t nc = *cap * 2 + (size_t)k + 1;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb, *cap = nc;
    }
}

int pst_reference_save(const char *path, const pst_reference *r, pst_error *err) {
    size_t len = 0, cap = 1 << 16;
    char *buf = pst_malloc(cap, err), num[4][32];
    if (!buf) return -1;
    int bad = append(&buf, &len, &cap,
                     "{\"posterior_reference\": 1, \"target_hash\": \"%016" PRIx64 "\", \"sampler\": \"rejection\", "
                     "\"n\": %d, \"proposed\": %ld, \"log_envelope\": %s, \"log_z\": %s, \"log_z_se\": %s, "
                     "\"max_new_tokens\": %d, \"context\": [",
                     r->target_hash, r->n, r->proposed, pst_json_number(num[0], r->log_envelope, 17),
                     pst_json_number(num[1], r->log_z.value, 17), pst_json_number(num[2], r->log_z.se, 17),
                     r->max_new_tokens);
    for (int t = 0; t < r->n_context && !bad; t++) bad = append(&buf, &len, &cap, t ? ", %d" : "%d", r->context[t]);
    bad = bad || append(&buf, &len, &cap, "]}\n");
    for (int i = 0; i < r->n && !bad; i++) {
        bad = append(&buf, &len, &cap, "{\"tokens\": [");
        for (int t = 0; t < r->xs[i].n_tokens && !bad; t++)
            bad = append(&buf, &len, &cap, t ? ", %d" : "%d", r->xs[i].tokens[t]);
        bad = bad || append(&buf, &len, &cap, "], \"log_prior\": %s, \"log_target\": %s}\n",
                            pst_json_number(num[0], r->log_prior[i], 17), pst_json_number(num[1], r->log_target[i], 17));
    }
    int rc = bad ? pst_fail_oom(err, path) : pst_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

/* Reads an int array field into a malloc'd buffer; errors name file:line. */
static int read_ints(const cJSON *a, const char *path, int line, const char *key, int **out, int *n, pst_error *err) {
    if (!cJSON_IsArray(a)) return pst_fail(err, "%s:%d: \"%s\" must be an array of token ids", path, line, key);
    int m = cJSON_GetArraySize(a);
    *out = pst_malloc(sizeof(int) * (size_t)(m > 0 ? m : 1), err);
    if (!*out) return -1;
    int i = 0;
    for (const cJSON *v = a->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > 1e9) {
            free(*out), *out = NULL;
            return pst_fail(err, "%s:%d: \"%s\"[%d] is not a token id", path, line, key, i);
        }
        (*out)[i] = (int)v->valuedouble;
    }
    *n = m;
    return 0;
}

static int read_number(const cJSON *o, const char *key, const char *path, int line, double *x, pst_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return pst_fail(err, "%s:%d: \"%s\" must be a number", path, line, key);
    *x = v->valuedouble;
    return 0;
}

static int parse_header(const char *text, const char *path, pst_reference *r, pst_error *err) {
    cJSON *h = cJSON_Parse(text);
    int rc = -1;
    double n = 0, proposed = 0, mnt = 0;
    const cJSON *mark = h ? cJSON_GetObjectItemCaseSensitive(h, "posterior_reference") : NULL,
                *hash = h ? cJSON_GetObjectItemCaseSensitive(h, "target_hash") : NULL;
    if (!cJSON_IsNumber(mark) || mark->valueint != 1 || !cJSON_IsString(hash)) {
        pst_fail(err, "%s:1: not a reference set of exact samples (no \"posterior_reference\": 1 header with a "
                      "\"target_hash\")", path);
        goto done;
    }
    char *end;
    r->target_hash = strtoull(hash->valuestring, &end, 16);
    if (*end || !*hash->valuestring) {
        pst_fail(err, "%s:1: \"target_hash\" is not a hexadecimal hash", path);
        goto done;
    }
    if (read_number(h, "n", path, 1, &n, err) < 0 || read_number(h, "proposed", path, 1, &proposed, err) < 0 ||
        read_number(h, "log_envelope", path, 1, &r->log_envelope, err) < 0 ||
        read_number(h, "log_z", path, 1, &r->log_z.value, err) < 0 ||
        read_number(h, "log_z_se", path, 1, &r->log_z.se, err) < 0 ||
        read_number(h, "max_new_tokens", path, 1, &mnt, err) < 0)
        goto done;
    if (!(n >= 2 && n <= 1e8 && proposed >= n && proposed <= 1e15 && mnt >= 1 && mnt <= 1e6)) {
        pst_fail(err, "%s:1: inconsistent header (n %g, proposed %g, max_new_tokens %g)", path, n, proposed, mnt);
        goto done;
    }
    r->proposed = (long)proposed, r->max_new_tokens = (int)mnt, r->n = (int)n;
    if (read_ints(cJSON_GetObjectItemCaseSensitive(h, "context"), path, 1, "context", &r->context, &r->n_context,
                  err) < 0)
        goto done;
    rc = 0;
done:
    cJSON_Delete(h);
    return rc;
}

int pst_reference_load(const char *path, uint64_t target_hash, pst_reference *r, pst_error *err) {
    memset(r, 0, sizeof *r);
    char *text;
    size_t len;
    if (pst_read_file(path, &text, &len, err) < 0) return -1;
    char *line = text, *nl = memchr(line, '\n', len);
    if (nl) *nl = 0;
    if (parse_header(line, path, r, err) < 0) goto fail;
    if (r->target_hash != target_hash) {
        pst_fail(err, "%s: drawn for another target (hash %016" PRIx64 ", this target's is %016" PRIx64
                      "): the spec, its lambda or its prior changed; draw the reference again",
                 path, r->target_hash, target_hash);
        goto fail;
    }
    int want = r->n;
    r->n = 0;
    if (grow(r, want, err) < 0) goto fail;
    for (int ln = 2; r->n < want; ln++) {
        if (!nl || nl + 1 == text + len) {
            pst_fail(err, "%s: %d samples, the header says %d (truncated file)", path, r->n, want);
            goto fail;
        }
        line = nl + 1;
        nl = memchr(line, '\n', len - (size_t)(line - text));
        if (nl) *nl = 0;
        cJSON *o = cJSON_Parse(line);
        pst_sample *x = &r->xs[r->n];
        memset(x, 0, sizeof *x);
        int bad = !o ? pst_fail(err, "%s:%d: not valid JSON", path, ln)
                     : read_ints(cJSON_GetObjectItemCaseSensitive(o, "tokens"), path, ln, "tokens", &x->tokens,
                                 &x->n_tokens, err) < 0 ||
                           read_number(o, "log_prior", path, ln, &r->log_prior[r->n], err) < 0 ||
                           read_number(o, "log_target", path, ln, &r->log_target[r->n], err) < 0;
        cJSON_Delete(o);
        if (bad) {
            free(x->tokens);
            goto fail;
        }
        x->logprob_model = x->logprob_proposal = r->log_prior[r->n];
        r->n++;
    }
    free(text);
    r->exact = 1;
    return 0;
fail:
    free(text);
    pst_reference_free(r);
    return -1;
}

/* ---- a policy measured against a reference set ------------------------------------ */

/* The reference's context repeated n times (NULL when unconditional or out of memory). */
static pst_seq *reference_contexts(const pst_reference *r) {
    pst_seq c = {r->context, r->n_context}, *ctx = r->n_context ? malloc(sizeof *ctx * (size_t)r->n) : NULL;
    for (int i = 0; ctx && i < r->n; i++) ctx[i] = c;
    return ctx;
}

int pst_reference_logprobs(const pst_reference *r, pst_distribution *d, double *out, pst_error *err) {
    pst_seq *ctx = reference_contexts(r);
    if (r->n_context && !ctx) return pst_fail_oom(err, "the contexts of the reference samples");
    int rc = pst_dist_score(d, ctx, r->xs, r->n, out, err);
    free(ctx);
    return rc < 0 ? pst_fail_context(err, "scoring the reference samples of p under '%s'", pst_dist_name(d))
                  : 0;
}

int pst_reference_evaluate(const pst_target *t, const pst_reference *r, pst_distribution *policy,
                           pst_exact_report *out, pst_estimate *moments_p, pst_error *err) {
    int n = r->n, k = t->n_features, rc = -1;
    pst_seq *ctx = reference_contexts(r);
    double *lpi = pst_malloc(sizeof(double) * (size_t)n * (3 + k), err);
    if (!lpi || (r->n_context && !ctx)) goto done;
    double *la = lpi + n, *lt = lpi + 2 * n, *f = lpi + 3 * n;
    if (pst_reference_logprobs(r, policy, lpi, err) < 0) goto done;
    /* the evidence again: features for E_p[φ], and a check that log P is what was stored */
    if (pst_target_score(t, ctx, r->xs, n, r->log_prior, la, f, lt, err) < 0) goto done;
    for (int i = 0; i < n; i++)
        if (!(fabs(lt[i] - r->log_target[i]) <= 1e-6 * (1 + fabs(lt[i])))) {
            pst_fail(err, "reference sample %d: log P is %.9g now but %.9g when drawn (the scorers changed?)", i, lt[i],
                     r->log_target[i]);
            goto done;
        }
    if (pst_estimate_exact(lt, r->log_prior, lpi, n, r->log_z, out, err) < 0) goto done;
    for (int j = 0; moments_p && j < k; j++) {
        double var, *u = la; /* reuse as scratch */
        for (int i = 0; i < n; i++) u[i] = f[(size_t)i * k + j];
        moments_p[j].value = mean_var(u, n, &var);
        moments_p[j].se = sqrt(var);
    }
    rc = 0;
done:
    free(ctx), free(lpi);
    return rc;
}

int pst_target_check_policy(const char *prior_dir, const char *policy_dir, pst_error *err) {
    pst_tokenizer *a = NULL, *b = NULL;
    uint64_t ha = 0, hb = 1;
    int rc = -1;
    if (pst_tokenizer_load_dir(&a, prior_dir, err) < 0 || pst_tokenizer_load_dir(&b, policy_dir, err) < 0 ||
        pst_tokenizer_hash(a, &ha, err) < 0 || pst_tokenizer_hash(b, &hb, err) < 0)
        goto done;
    if (ha != hb) {
        pst_fail(err, "%s: its vocabulary (%d tokens, hash %016" PRIx64 ") is not the prior's in %s (%d tokens, hash "
                      "%016" PRIx64 "); token ids would mean different texts",
                 policy_dir, pst_tokenizer_vocab_size(b), hb, prior_dir, pst_tokenizer_vocab_size(a), ha);
        goto done;
    }
    rc = 0;
done:
    if (a) pst_tokenizer_free(a);
    if (b) pst_tokenizer_free(b);
    return rc;
}

int pst_yardstick_flags(pst_estimate kl_is, double ess, int n_is, const pst_exact_report *exact) {
    int flags = ess < fmax(30.0, 0.01 * n_is) ? PST_FLAG_LOW_ESS : 0;
    if (!exact) return flags;
    const pst_estimate *e = &exact->kl_target_policy;
    double se = sqrt(kl_is.se * kl_is.se + e->se * e->se);
    /* an infinite exact KL disagrees with any finite IS estimate */
    if (isfinite(kl_is.value) && (e->value == INFINITY || fabs(kl_is.value - e->value) > 3 * se))
        flags |= PST_FLAG_DISAGREE;
    if (exact->dropped_fraction > 0.01) flags |= PST_FLAG_DROPPED;
    return flags;
}

int pst_target_bundle_reference(const pst_target_bundle *b, const char *path, int n, int max_new_tokens,
                                const pst_seq *context, const pst_exact_options *o, pst_rng *rng, pst_reference *out,
                                pst_error *err) {
    uint64_t hash;
    memset(out, 0, sizeof *out);
    if (pst_target_spec_hash(&b->spec, &hash, err) < 0) return -1;
    int nc = context ? context->n : 0;
    if (!path) {
        if (pst_draw_exact(&b->target, context, n, o, rng, out, err) < 0) return -1;
        out->target_hash = hash;
        out->max_new_tokens = max_new_tokens;
        return 0;
    }
    if (pst_reference_load(path, hash, out, err) < 0) return -1;
    if (out->max_new_tokens != max_new_tokens) {
        pst_fail(err, "%s: drawn with at most %d new tokens per sample, compared here at %d: both must truncate "
                      "alike", path, out->max_new_tokens, max_new_tokens);
        pst_reference_free(out);
        return -1;
    }
    if (out->n_context != nc || (nc && memcmp(out->context, context->tokens, sizeof(int) * (size_t)nc))) {
        pst_fail(err, "%s: drawn for another context (%d tokens) than this one (%d tokens)", path, out->n_context, nc);
        pst_reference_free(out);
        return -1;
    }
    return 0;
}
