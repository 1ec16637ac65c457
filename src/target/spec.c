/* Target specs: a target saved as a small JSON file so it is a reusable artefact.
 *   {"kind": "distributional", "prior": "runs/prior", "scorers": ["contains:cat"],
 *    "moments": [0.5], "lambda": [1.23], "beta": 1.0, "conditional": false}
 * A relative "prior" in a file is relative to the file's folder (so a spec
 * and its prior can move together); in memory it is a path usable as is. */
#include "posterior/target.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pst_target_spec_free(pst_target_spec *spec) {
    if (!spec) return;
    free(spec->prior);
    for (int i = 0; i < spec->n_scorers; i++) free(spec->scorers[i]);
    free(spec->scorers);
    memset(spec, 0, sizeof *spec);
}

static int read_numbers(const cJSON *root, const char *key, const char *origin, double *out, int *n,
                        pst_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    *n = -1;
    if (!a || cJSON_IsNull(a)) return 0;
    if (!cJSON_IsArray(a)) return pst_fail(err, "%s: \"%s\" must be an array of numbers", origin, key);
    int m = cJSON_GetArraySize(a);
    if (m > PST_TARGET_MAX_FEATURES)
        return pst_fail(err, "%s: \"%s\" has %d values (at most %d)", origin, key, m, PST_TARGET_MAX_FEATURES);
    for (int i = 0; i < m; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return pst_fail(err, "%s: \"%s\"[%d] is not a finite number", origin, key, i);
        out[i] = v->valuedouble;
    }
    *n = m;
    return 0;
}

/* The folder of file path ("." for a bare name) into buf. */
static void folder_of(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, cap, ".");
    else if (slash == path) snprintf(buf, cap, "/");
    else snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* base: the folder a relative "prior" is relative to (NULL: as is). */
static int parse_in(const char *json, const char *origin, const char *base, int check_files,
                    pst_target_spec *spec, pst_error *err) {
    memset(spec, 0, sizeof *spec);
    spec->beta = 1.0;
    cJSON *root = cJSON_Parse(json);
    if (!root) return pst_fail(err, "%s: not valid JSON (near '%.20s')", origin, cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        pst_fail(err, "%s: a target spec is a JSON object", origin);
        goto done;
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(kind)) {
        pst_fail(err, "%s: missing \"kind\" (pointwise, distributional or klrl)", origin);
        goto done;
    }
    if (pst_target_kind_parse(kind->valuestring, &spec->kind, err) < 0) {
        pst_fail_context(err, "%s", origin);
        goto done;
    }
    const cJSON *prior = cJSON_GetObjectItemCaseSensitive(root, "prior");
    if (!cJSON_IsString(prior) || !prior->valuestring[0]) {
        pst_fail(err, "%s: missing \"prior\" (the prior model's directory)", origin);
        goto done;
    }
    char resolved[4096];
    if (base && prior->valuestring[0] != '/' && strcmp(base, ".") != 0) {
        if (pst_path_join(resolved, sizeof resolved, base, prior->valuestring, err) < 0) goto done;
    } else {
        snprintf(resolved, sizeof resolved, "%s", prior->valuestring);
    }
    if (!(spec->prior = pst_strdup(resolved, err))) goto done;
    if (check_files) {
        char cfg[4096];
        if (pst_path_join(cfg, sizeof cfg, spec->prior, "config.json", err) < 0) goto done;
        if (!pst_file_exists(cfg)) {
            pst_fail(err, "%s: prior model '%s' not found (no %s)", origin, spec->prior, cfg);
            goto done;
        }
    }
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "scorers");
    if (!cJSON_IsArray(sc) || cJSON_GetArraySize(sc) < 1) {
        pst_fail(err, "%s: \"scorers\" must be a non-empty array of scorer specs", origin);
        goto done;
    }
    int ns = cJSON_GetArraySize(sc);
    if (!(spec->scorers = pst_calloc((size_t)ns, sizeof(char *), err))) goto done;
    for (int i = 0; i < ns; i++) {
        const cJSON *s = cJSON_GetArrayItem(sc, i);
        if (!cJSON_IsString(s) || !s->valuestring[0]) {
            pst_fail(err, "%s: \"scorers\"[%d] is not a scorer spec string", origin, i);
            goto done;
        }
        if (!(spec->scorers[i] = pst_strdup(s->valuestring, err))) goto done;
        spec->n_scorers = i + 1;
    }
    int nl, nm;
    if (read_numbers(root, "lambda", origin, spec->lambda, &nl, err) < 0 ||
        read_numbers(root, "moments", origin, spec->moments, &nm, err) < 0)
        goto done;
    spec->has_lambda = nl >= 0;
    spec->n_features = nm >= 0 ? nm : nl;
    if (spec->kind == PST_TARGET_DISTRIBUTIONAL) {
        if (nm < 1) {
            pst_fail(err, "%s: a distributional target needs \"moments\" (the desired E_p[phi])", origin);
            goto done;
        }
        if (nl >= 0 && nl != nm) {
            pst_fail(err, "%s: \"lambda\" has %d values but \"moments\" has %d", origin, nl, nm);
            goto done;
        }
    }
    const cJSON *beta = cJSON_GetObjectItemCaseSensitive(root, "beta");
    if (beta) {
        if (!cJSON_IsNumber(beta) || !(beta->valuedouble > 0) || !isfinite(beta->valuedouble)) {
            pst_fail(err, "%s: \"beta\" must be a positive number", origin);
            goto done;
        }
        spec->beta = beta->valuedouble;
    }
    if (spec->kind == PST_TARGET_KLRL && !beta) { /* p ∝ a·exp(r/β): no default β */
        pst_fail(err, "%s: a klrl target needs \"beta\" (p is a(x)·exp(r(x)/beta))", origin);
        goto done;
    }
    if (spec->kind == PST_TARGET_KLRL && ns != 1) {
        pst_fail(err, "%s: a klrl target takes exactly one scorer (its score is the reward r)", origin);
        goto done;
    }
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(root, "conditional");
    if (cond && !cJSON_IsBool(cond)) {
        pst_fail(err, "%s: \"conditional\" must be true or false", origin);
        goto done;
    }
    spec->conditional = cJSON_IsTrue(cond);
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc < 0) pst_target_spec_free(spec);
    return rc;
}

int pst_target_spec_parse(const char *json, const char *origin, int check_files, pst_target_spec *spec,
                          pst_error *err) {
    return parse_in(json, origin, NULL, check_files, spec, err);
}

int pst_target_spec_load(const char *path, pst_target_spec *spec, pst_error *err) {
    char *text;
    size_t len;
    if (pst_read_file(path, &text, &len, err) < 0) return pst_fail_context(err, "target spec");
    char base[4096];
    folder_of(path, base, sizeof base);
    int rc = parse_in(text, path, base, 1, spec, err);
    free(text);
    return rc;
}

/* Numbers as raw JSON with 17 significant digits: cJSON prints 15 when they compare equal
 * within its epsilon, so λ or μ̄ would not read back bit for bit (found by fuzz_target_spec). */
static cJSON *exact_number(double x) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", x);
    return cJSON_CreateRaw(buf);
}

static cJSON *exact_numbers(const double *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, exact_number(x[i]));
    return a;
}

char *pst_target_spec_to_json(const pst_target_spec *spec, pst_error *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        pst_fail_oom(err, "a JSON document");
        return NULL;
    }
    cJSON_AddStringToObject(root, "kind", pst_target_kind_name(spec->kind));
    cJSON_AddStringToObject(root, "prior", spec->prior ? spec->prior : "");
    cJSON *sc = cJSON_AddArrayToObject(root, "scorers");
    for (int i = 0; i < spec->n_scorers; i++) cJSON_AddItemToArray(sc, cJSON_CreateString(spec->scorers[i]));
    if (spec->kind == PST_TARGET_DISTRIBUTIONAL) {
        cJSON_AddItemToObject(root, "moments", exact_numbers(spec->moments, spec->n_features));
        if (spec->has_lambda) cJSON_AddItemToObject(root, "lambda", exact_numbers(spec->lambda, spec->n_features));
    }
    cJSON_AddItemToObject(root, "beta", exact_number(spec->beta));
    cJSON_AddBoolToObject(root, "conditional", spec->conditional);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) pst_fail_oom(err, "a JSON document");
    return text;
}

int pst_target_spec_check_fitted(const pst_target_spec *spec, const char *path, pst_error *err) {
    if (spec->kind == PST_TARGET_DISTRIBUTIONAL && !spec->has_lambda)
        return pst_fail(err, "%s: distributional target without \"lambda\" (p would be the prior itself); fit it "
                             "first: posterior target fit --spec %s",
                        path, path);
    return 0;
}

/* target relative to folder `from` (both resolved with realpath) into buf;
 * the absolute target when `from` cannot be resolved; -1 when target cannot. */
static int relative_path(const char *target, const char *from, char *buf, size_t cap) {
    char t[PATH_MAX], f[PATH_MAX];
    if (!realpath(target, t)) return -1;
    if (!realpath(from, f)) return snprintf(buf, cap, "%s", t) < (int)cap ? 0 : -1;
    size_t common = 0; /* length of the shared leading components */
    for (size_t i = 0;; i++) {
        int t_end = t[i] == 0 || t[i] == '/', f_end = f[i] == 0 || f[i] == '/';
        if (t_end && f_end) common = i;
        if (t[i] != f[i] || !t[i]) break;
    }
    size_t k = 0;
    buf[0] = 0;
    for (const char *p = f + common; *p; p++) /* one ".." per component of f left */
        if (*p == '/' && p[1] && k + 4 < cap) k += (size_t)snprintf(buf + k, cap - k, "%s..", k ? "/" : "");
    const char *rest = t + common + (t[common] == '/');
    if (*rest) k += (size_t)snprintf(buf + k, cap - k, "%s%s", k ? "/" : "", rest);
    if (k == 0) snprintf(buf, cap, ".");
    return k < cap ? 0 : -1;
}

int pst_target_spec_save(const char *path, const pst_target_spec *spec, pst_error *err) {
    /* "prior" relative to the file's folder, as loading reads it */
    char dir[4096], rel[4096];
    folder_of(path, dir, sizeof dir);
    pst_target_spec in_file = *spec;
    if (spec->prior && relative_path(spec->prior, dir, rel, sizeof rel) == 0) in_file.prior = rel;
    char *text = pst_target_spec_to_json(&in_file, err);
    if (!text) return -1;
    size_t len = strlen(text);
    char *buf = pst_malloc(len + 2, err);
    if (!buf) {
        free(text);
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = '\n';
    free(text);
    int rc = pst_write_file_atomic(path, buf, len + 1, err);
    free(buf);
    return rc;
}
