/* Checkpoints: Hugging Face GPT-2 model directories and the training-state file.
 *
 * model.safetensors = [u64 N, little endian][N bytes of JSON header][data]
 * header: {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 *          "__metadata__": {"format": "pt"}}, offsets relative to the data section.
 *
 * We save the data section as exactly our contiguous parameter buffer; each Hugging Face
 * tensor (h.i.attn.c_attn.weight is layer i's slice of qkvw [L, C, 3C]) points into it.
 * Safetensors readers only require the tensors to tile the data section, in any order.
 */
#include "posterior/prior.h"
#include "prior/gpt2_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- tensor naming ----------------------------------------------------- */

/* Hugging Face names of our 16 tensors; per-layer ones are "h.<i>.<name>". */
static const char *const tensor_names[PST_GPT2_NUM_TENSORS] = {
    "wte.weight",        "wpe.weight",        "ln_1.weight",      "ln_1.bias",
    "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
    "ln_2.weight",       "ln_2.bias",         "mlp.c_fc.weight",  "mlp.c_fc.bias",
    "mlp.c_proj.weight", "mlp.c_proj.bias",   "ln_f.weight",      "ln_f.bias"};

static int tensor_is_per_layer(int k) { return k >= 2 && k <= 13; }

static void param_pointers(const pst_gpt2_params *p, float *out[PST_GPT2_NUM_TENSORS]) {
    out[0] = p->wte, out[1] = p->wpe, out[2] = p->ln1w, out[3] = p->ln1b;
    out[4] = p->qkvw, out[5] = p->qkvb, out[6] = p->attprojw, out[7] = p->attprojb;
    out[8] = p->ln2w, out[9] = p->ln2b, out[10] = p->fcw, out[11] = p->fcb;
    out[12] = p->fcprojw, out[13] = p->fcprojb, out[14] = p->lnfw, out[15] = p->lnfb;
}

/* Shape of one Hugging Face tensor (one layer's slice for per-layer tensors). */
static int tensor_shape(const pst_gpt2_config *c, int k, long shape[2]) {
    long C = c->n_embd;
    switch (k) {
    case 0: shape[0] = c->vocab_size, shape[1] = C; return 2;
    case 1: shape[0] = c->n_positions, shape[1] = C; return 2;
    case 4: shape[0] = C, shape[1] = 3 * C; return 2;
    case 5: shape[0] = 3 * C; return 1;
    case 6: shape[0] = C, shape[1] = C; return 2;
    case 10: shape[0] = C, shape[1] = 4 * C; return 2;
    case 11: shape[0] = 4 * C; return 1;
    case 12: shape[0] = 4 * C, shape[1] = C; return 2;
    default: shape[0] = C; return 1;
    }
}

/* Parses a (prefix-stripped) name into tensor index k and layer; returns 0 if known. */
static int parse_tensor_name(const pst_gpt2_config *c, const char *name, int *k, int *layer) {
    *layer = 0;
    if (strncmp(name, "h.", 2) == 0) {
        char *end;
        errno = 0;
        long i = strtol(name + 2, &end, 10);
        if (end == name + 2 || *end != '.' || errno || i < 0 || i >= c->n_layer) return -1;
        for (int j = 2; j <= 13; j++)
            if (strcmp(end + 1, tensor_names[j]) == 0) {
                *k = j;
                *layer = (int)i;
                return 0;
            }
        return -1;
    }
    for (int j = 0; j < PST_GPT2_NUM_TENSORS; j++)
        if (!tensor_is_per_layer(j) && strcmp(name, tensor_names[j]) == 0) {
            *k = j;
            return 0;
        }
    return -1;
}

/* The causal-mask buffers old transformers versions saved: h.i.attn.bias, h.i.attn.masked_bias. */
static int is_ignored_buffer(const char *name) {
    size_t n = strlen(name);
    const char *sfx[] = {".attn.bias", ".attn.masked_bias"};
    for (int i = 0; i < 2; i++) {
        size_t s = strlen(sfx[i]);
        if (n > s && strcmp(name + n - s, sfx[i]) == 0 && strncmp(name, "h.", 2) == 0) return 1;
    }
    return 0;
}

/* ---- config.json ---------------------------------------------------------- */

/* Parses exactly len bytes as one JSON value (trailing whitespace allowed, nothing else). */
static cJSON *parse_json_exact(const char *text, size_t len) {
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!v) return NULL;
    while (end && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (!end || end != text + len) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

/* An integer in [lo, hi]; 1 when absent and not required. */
static int json_int(const cJSON *root, const char *key, int *out, int required, int lo, int hi,
                    const char *path, pst_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return required ? pst_fail(err, "%s: missing key \"%s\"", path, key) : 1;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return pst_fail(err, "%s: \"%s\" must be an integer", path, key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return pst_fail(err, "%s: \"%s\" is %.17g; it must be in %d..%d%s", path, key, v->valuedouble, lo, hi,
                        hi < INT_MAX && v->valuedouble > hi ? " (the largest this implementation supports)" : "");
    *out = (int)v->valuedouble;
    return 0;
}

int pst_gpt2_load_config(pst_gpt2_config *cfg, const char *dir, pst_error *err) {
    char path[4096];
    if (pst_path_join(path, sizeof path, dir, "config.json", err)) return -1;
    char *text;
    size_t len;
    if (pst_read_file(path, &text, &len, err)) return -1;
    cJSON *root = parse_json_exact(text, len);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return pst_fail(err, "%s: not a JSON object (bad JSON)", path);
    }
    memset(cfg, 0, sizeof *cfg);
    int rc = -1;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "gpt2") != 0)) {
        pst_fail(err, "%s: model_type is not \"gpt2\"", path);
        goto done;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (act && (!cJSON_IsString(act) || (strcmp(act->valuestring, "gelu_new") != 0 &&
                                         strcmp(act->valuestring, "gelu_pytorch_tanh") != 0))) {
        pst_fail(err, "%s: activation_function must be \"gelu_new\" (tanh GELU)", path);
        goto done;
    }
    const char *unsupported[] = {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"};
    for (int i = 0; i < 2; i++)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, unsupported[i]))) {
            pst_fail(err, "%s: %s = true is not supported", path, unsupported[i]);
            goto done;
        }
    const cJSON *saw = cJSON_GetObjectItemCaseSensitive(root, "scale_attn_weights");
    if (saw && cJSON_IsFalse(saw)) {
        pst_fail(err, "%s: scale_attn_weights = false is not supported", path);
        goto done;
    }
    if (json_int(root, "n_layer", &cfg->n_layer, 1, 1, PST_GPT2_MAX_N_LAYER, path, err) ||
        json_int(root, "n_head", &cfg->n_head, 1, 1, PST_GPT2_MAX_N_EMBD, path, err) ||
        json_int(root, "n_embd", &cfg->n_embd, 1, 1, PST_GPT2_MAX_N_EMBD, path, err) ||
        json_int(root, "vocab_size", &cfg->vocab_size, 1, 1, PST_GPT2_MAX_VOCAB, path, err))
        goto done;
    /* n_positions, or n_ctx (older configs); both must then agree */
    int n_ctx = 0;
    int r = json_int(root, "n_positions", &cfg->n_positions, 0, 1, PST_GPT2_MAX_N_POSITIONS, path, err);
    int rc_ctx = json_int(root, "n_ctx", &n_ctx, r == 1, 1, PST_GPT2_MAX_N_POSITIONS, path, err);
    if (r < 0 || rc_ctx < 0) goto done;
    if (r == 1) cfg->n_positions = n_ctx;
    else if (rc_ctx == 0 && n_ctx != cfg->n_positions) {
        pst_fail(err, "%s: n_ctx (%d) and n_positions (%d) differ; a GPT-2 has one context length", path, n_ctx,
                 cfg->n_positions);
        goto done;
    }
    /* token ids the config names must be in the vocabulary */
    const char *id_keys[3] = {"bos_token_id", "eos_token_id", "pad_token_id"};
    for (int i = 0; i < 3; i++) {
        int id;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, id_keys[i]);
        if (v && !cJSON_IsNull(v) && json_int(root, id_keys[i], &id, 0, 0, cfg->vocab_size - 1, path, err) < 0)
            goto done;
    }
    cfg->layer_norm_epsilon = 1e-5f;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1) {
            pst_fail(err, "%s: layer_norm_epsilon must be a number in (0, 1]", path);
            goto done;
        }
        cfg->layer_norm_epsilon = (float)eps->valuedouble;
    }
    if (pst_gpt2_config_check(cfg, err)) {
        pst_fail_context(err, "%s", path);
        goto done;
    }
    /* architecture variants this implementation does not compute */
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(root, "n_inner");
    if (inner && !cJSON_IsNull(inner) &&
        !(cJSON_IsNumber(inner) && inner->valuedouble == 4.0 * cfg->n_embd)) {
        pst_fail(err, "%s: n_inner must be null or 4 x n_embd (%d)", path, 4 * cfg->n_embd);
        goto done;
    }
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings"))) {
        pst_fail(err, "%s: tie_word_embeddings = false is not supported (the output embedding is wte)", path);
        goto done;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "add_cross_attention"))) {
        pst_fail(err, "%s: add_cross_attention = true is not supported", path);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* config.json; a sequence-classification model (one label) also gets id2label / label2id. */
static int save_config(const pst_gpt2_config *c, const char *dir, const char *architecture, int one_label,
                       pst_error *err) {
    char path[4096];
    if (pst_path_join(path, sizeof path, dir, "config.json", err)) return -1;
    cJSON *root = cJSON_CreateObject();
    if (!root) return pst_fail_oom(err, path);
    const char *arch[] = {architecture};
    cJSON_AddStringToObject(root, "model_type", "gpt2");
    cJSON_AddItemToObject(root, "architectures", cJSON_CreateStringArray(arch, 1));
    cJSON_AddNumberToObject(root, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(root, "n_head", c->n_head);
    cJSON_AddNumberToObject(root, "n_embd", c->n_embd);
    cJSON_AddNumberToObject(root, "n_positions", c->n_positions);
    cJSON_AddNumberToObject(root, "n_ctx", c->n_positions);
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(root, "layer_norm_epsilon", c->layer_norm_epsilon);
    cJSON_AddStringToObject(root, "activation_function", "gelu_new");
    cJSON_AddNullToObject(root, "n_inner");
    cJSON_AddNumberToObject(root, "resid_pdrop", 0.0);
    cJSON_AddNumberToObject(root, "embd_pdrop", 0.0);
    cJSON_AddNumberToObject(root, "attn_pdrop", 0.0);
    cJSON_AddNumberToObject(root, "initializer_range", 0.02);
    cJSON_AddBoolToObject(root, "scale_attn_weights", 1);
    cJSON_AddBoolToObject(root, "tie_word_embeddings", 1);
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    if (one_label) {
        cJSON *id2label = cJSON_AddObjectToObject(root, "id2label"), *label2id = cJSON_AddObjectToObject(root, "label2id");
        if (id2label) cJSON_AddStringToObject(id2label, "0", "LABEL_0");
        if (label2id) cJSON_AddNumberToObject(label2id, "LABEL_0", 0);
    }
    if (c->vocab_size > 50256) { /* the GPT-2 vocabulary (or a grown one): <|endoftext|> = 50256 */
        cJSON_AddNumberToObject(root, "bos_token_id", 50256);
        cJSON_AddNumberToObject(root, "eos_token_id", 50256);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return pst_fail_oom(err, path);
    size_t n = strlen(text);
    text[n] = '\n'; /* replace the NUL; length n + 1 written */
    int rc = pst_write_file_atomic(path, text, n + 1, err);
    free(text);
    return rc;
}

/* ---- dtype conversion ------------------------------------------------------ */

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        /* zero or subnormal: man · 2^-24 */
        float f = ldexpf((float)man, -24);
        return sign ? -f : f;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

enum { DT_F32, DT_F16, DT_BF16 };

static void convert(float *dst, const unsigned char *src, size_t n, int dtype) {
    if (dtype == DT_F32) {
        memcpy(dst, src, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = dtype == DT_F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
}

/* ---- safetensors load -------------------------------------------------------- */

/* Reads a non-negative integer JSON number (exactly representable). */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != floor(v->valuedouble))
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

/* A tensor's bytes [begin, end) in the data section. */
typedef struct {
    uint64_t begin, end;
    const char *name;
} byte_span;

static int by_begin(const void *a, const void *b) {
    const byte_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The safetensors format: the tensors' spans tile the data section exactly
 * -- no two overlap, no byte belongs to none, nothing follows the last. */
static int check_tiling(byte_span *sp, size_t n, size_t data_len, const char *path, pst_error *err) {
    qsort(sp, n, sizeof *sp, by_begin);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].begin < pos)
            return pst_fail(err, "%s: tensors %s (bytes %llu..%llu) and %s (bytes %llu..%llu) overlap",
                            path, sp[i - 1].name, (unsigned long long)sp[i - 1].begin,
                            (unsigned long long)sp[i - 1].end, sp[i].name,
                            (unsigned long long)sp[i].begin, (unsigned long long)sp[i].end);
        if (sp[i].begin > pos)
            return pst_fail(err, "%s: bytes %llu..%llu of the data section belong to no tensor (before "
                            "tensor %s)", path, (unsigned long long)pos, (unsigned long long)sp[i].begin,
                            sp[i].name);
        pos = sp[i].end;
    }
    if (pos < data_len)
        return pst_fail(err, "%s: %llu trailing bytes after the data of the last tensor%s%s (the data "
                        "section has %zu bytes, the tensors end at byte %llu)", path,
                        (unsigned long long)(data_len - pos), n ? ", " : "", n ? sp[n - 1].name : "",
                        data_len, (unsigned long long)pos);
    return 0;
}

/* Maps a whole regular file of at least 8 bytes read-only. */
static int map_safetensors(const char *path, unsigned char **map, size_t *len, pst_error *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return pst_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return pst_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pst_fail(err, "%s: %s, not a safetensors file", path,
                        S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
    }
    size_t file_len = (size_t)st.st_size;
    if (file_len < 8) {
        close(fd);
        return pst_fail(err, "%s: truncated safetensors file (%zu bytes, need at least 8)", path,
                        file_len);
    }
    *map = mmap(NULL, file_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (*map == MAP_FAILED) return pst_fail(err, "%s: cannot mmap: %s", path, strerror(errno));
    *len = file_len;
    return 0;
}

/* One header entry: dtype (dtype -1: one we do not read), shape, element count and
 * its byte range [begin, end) in the data section. */
typedef struct {
    int dtype, esize, ndim;
    long shape[8];
    uint64_t numel, begin, end;
} tensor_entry;

static int parse_tensor_entry(const cJSON *t, size_t data_len, const char *path, tensor_entry *e,
                              pst_error *err) {
    const char *full = t->string;
    if (!cJSON_IsObject(t)) return pst_fail(err, "%s: tensor %s: entry is not a JSON object", path, full);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return pst_fail(err,
                        "%s: tensor %s: needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])",
                        path, full);
    if (strcmp(dt->valuestring, "F32") == 0) e->dtype = DT_F32, e->esize = 4;
    else if (strcmp(dt->valuestring, "F16") == 0) e->dtype = DT_F16, e->esize = 2;
    else if (strcmp(dt->valuestring, "BF16") == 0) e->dtype = DT_BF16, e->esize = 2;
    else e->dtype = -1, e->esize = 0; /* buffers we ignore may have other dtypes (attn.bias is often U8/BOOL) */
    e->ndim = cJSON_GetArraySize(sh);
    if (e->ndim > 8) return pst_fail(err, "%s: tensor %s: %d dimensions", path, full, e->ndim);
    e->numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        uint64_t s;
        if (json_u64(cJSON_GetArrayItem(sh, d), &s) || s > (1ull << 40))
            return pst_fail(err, "%s: tensor %s: shape[%d] is not a valid size", path, full, d);
        e->shape[d] = (long)s;
        e->numel *= s;
        if (e->numel > (1ull << 40)) return pst_fail(err, "%s: tensor %s: too many elements", path, full);
    }
    if (json_u64(cJSON_GetArrayItem(off, 0), &e->begin) || json_u64(cJSON_GetArrayItem(off, 1), &e->end) ||
        e->begin > e->end || e->end > data_len)
        return pst_fail(err, "%s: tensor %s: data_offsets out of range (data section has %zu bytes)", path, full,
                        data_len);
    return 0;
}

/* The entry's dtype is readable and its byte range holds shape x dtype. */
static int check_entry_data(const cJSON *t, const tensor_entry *e, const char *path, pst_error *err) {
    if (e->dtype < 0)
        return pst_fail(err, "%s: tensor %s: unsupported dtype %s (expected F32, F16 or BF16)", path, t->string,
                        cJSON_GetObjectItemCaseSensitive(t, "dtype")->valuestring);
    if (e->end - e->begin != e->numel * (uint64_t)e->esize)
        return pst_fail(err, "%s: tensor %s: data_offsets span %llu bytes but shape x dtype needs %llu", path,
                        t->string, (unsigned long long)(e->end - e->begin), (unsigned long long)(e->numel * e->esize));
    return 0;
}

/* Tensor k (of layer `layer`) of name `full` with the shape config.json gives. */
static int check_entry_shape(const pst_gpt2_config *c, int k, const tensor_entry *e, const char *full,
                             const char *path, pst_error *err) {
    long want[2];
    int wdim = tensor_shape(c, k, want);
    int ok = e->ndim == wdim;
    for (int d = 0; ok && d < wdim; d++) ok = e->shape[d] == want[d];
    if (ok) return 0;
    char got_s[128] = "", want_s[64];
    for (int d = 0, o = 0; d < e->ndim && o < 100; d++)
        o += snprintf(got_s + o, sizeof got_s - o, "%s%ld", d ? ", " : "", e->shape[d]);
    if (wdim == 2) snprintf(want_s, sizeof want_s, "%ld, %ld", want[0], want[1]);
    else snprintf(want_s, sizeof want_s, "%ld", want[0]);
    return pst_fail(err, "%s: tensor %s: shape [%s] does not match config.json (expected [%s])", path, full, got_s,
                    want_s);
}

/* Every GPT-2 tensor of the config was given (seen[k·n_layer + layer]). */
static int check_all_seen(const pst_gpt2_config *c, const unsigned char *seen, const char *path, pst_error *err) {
    for (int k = 0; k < PST_GPT2_NUM_TENSORS; k++)
        for (int i = 0; i < (tensor_is_per_layer(k) ? c->n_layer : 1); i++)
            if (!seen[(size_t)k * c->n_layer + i])
                return tensor_is_per_layer(k) ? pst_fail(err, "%s: missing tensor h.%d.%s", path, i, tensor_names[k])
                                              : pst_fail(err, "%s: missing tensor %s", path, tensor_names[k]);
    return 0;
}

/* We tie the output embedding to wte; an lm_head.weight is accepted when equal. */
static int check_lm_head_tied(const pst_gpt2 *m, const unsigned char *lm_head_data, int lm_head_dtype,
                              const char *path, pst_error *err) {
    size_t n = (size_t)m->config.vocab_size * m->config.n_embd;
    float row[256];
    for (size_t i = 0; i < n; i += 256) {
        size_t cnt = n - i < 256 ? n - i : 256;
        convert(row, lm_head_data + i * (lm_head_dtype == DT_F32 ? 4 : 2), cnt, lm_head_dtype);
        if (memcmp(row, m->params.wte + i, cnt * 4) != 0)
            return pst_fail(err,
                            "%s: lm_head.weight differs from wte.weight (untied output embeddings are not supported)",
                            path);
    }
    return 0;
}

static void format_shape(char *buf, size_t cap, const long *shape, int ndim) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && o < cap; d++) o += (size_t)snprintf(buf + o, cap - o, "%s%ld", d ? ", " : "", shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* An extra tensor named x->name: checked against x's shape, converted into x->data. */
static int load_extra(pst_gpt2_extra *x, const tensor_entry *e, const unsigned char *data, const char *full,
                      const char *path, pst_error *err) {
    int ok = e->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++) ok = e->shape[d] == x->shape[d];
    if (!ok) {
        char got[128], want[64];
        format_shape(got, sizeof got, e->shape, e->ndim);
        format_shape(want, sizeof want, x->shape, x->ndim);
        return pst_fail(err, "%s: tensor %s: shape %s, expected %s", path, full, got, want);
    }
    if (x->found) return pst_fail(err, "%s: tensor %s: given twice", path, full);
    convert(x->data, data + e->begin, e->numel, e->dtype);
    x->found = 1;
    return 0;
}

static pst_gpt2_extra *find_extra(pst_gpt2_extra *extra, int n_extra, const char *name) {
    for (int i = 0; i < n_extra; i++)
        if (strcmp(extra[i].name, name) == 0) return &extra[i];
    return NULL;
}

static int load_safetensors(pst_gpt2 *m, const char *path, pst_gpt2_extra *extra, int n_extra, pst_error *err) {
    const pst_gpt2_config *c = &m->config;
    unsigned char *map = NULL;
    size_t file_len = 0;
    if (map_safetensors(path, &map, &file_len, err)) return -1;

    int rc = -1;
    cJSON *hdr = NULL;
    unsigned char *seen = NULL;
    byte_span *spans = NULL;
    size_t n_spans = 0;
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++) header_len |= (uint64_t)map[i] << (8 * i);
    if (header_len > file_len - 8) {
        pst_fail(err, "%s: truncated safetensors file: header size %llu exceeds the %zu bytes after the size field",
                 path, (unsigned long long)header_len, file_len - 8);
        goto done;
    }
    const unsigned char *data = map + 8 + header_len;
    size_t data_len = file_len - 8 - (size_t)header_len;
    hdr = parse_json_exact((const char *)map + 8, (size_t)header_len);
    if (!hdr || !cJSON_IsObject(hdr)) {
        pst_fail(err, "%s: safetensors header is not a JSON object (bad JSON)", path);
        goto done;
    }
    float *ptrs[PST_GPT2_NUM_TENSORS];
    param_pointers(&m->params, ptrs);
    size_t n_slots = (size_t)PST_GPT2_NUM_TENSORS * c->n_layer;
    seen = pst_calloc(n_slots, 1, err);
    spans = seen ? pst_calloc((size_t)cJSON_GetArraySize(hdr) + 1, sizeof *spans, err) : NULL;
    if (!spans) goto done;
    const unsigned char *lm_head_data = NULL;
    int lm_head_dtype = DT_F32;

    for (const cJSON *t = hdr->child; t; t = t->next) {
        const char *full = t->string;
        if (strcmp(full, "__metadata__") == 0) continue;
        tensor_entry e = {0};
        if (parse_tensor_entry(t, data_len, path, &e, err)) goto done;
        spans[n_spans++] = (byte_span){e.begin, e.end, full};
        const char *name = full;
        if (strncmp(name, "transformer.", 12) == 0) name += 12;
        if (is_ignored_buffer(name)) continue;
        if (check_entry_data(t, &e, path, err)) goto done;
        pst_gpt2_extra *x = find_extra(extra, n_extra, full);
        if (x) {
            if (load_extra(x, &e, data, full, path, err)) goto done;
            continue;
        }
        if (strcmp(name, "lm_head.weight") == 0) {
            if (e.ndim != 2 || e.shape[0] != c->vocab_size || e.shape[1] != c->n_embd) {
                pst_fail(err, "%s: tensor %s: shape does not match config [vocab_size %d, n_embd %d]", path, full,
                         c->vocab_size, c->n_embd);
                goto done;
            }
            lm_head_data = data + e.begin;
            lm_head_dtype = e.dtype;
            continue;
        }
        int k, layer;
        if (parse_tensor_name(c, name, &k, &layer)) {
            pst_fail(err, "%s: tensor %s: not a GPT-2 tensor for this config (n_layer %d)", path, full, c->n_layer);
            goto done;
        }
        if (check_entry_shape(c, k, &e, full, path, err)) goto done;
        size_t slot = (size_t)k * c->n_layer + layer;
        if (seen[slot]) {
            pst_fail(err, "%s: tensor %s: given twice", path, full);
            goto done;
        }
        seen[slot] = 1;
        convert(ptrs[k] + (size_t)layer * e.numel, data + e.begin, e.numel, e.dtype);
    }
    if (check_tiling(spans, n_spans, data_len, path, err) || check_all_seen(c, seen, path, err) ||
        (lm_head_data && check_lm_head_tied(m, lm_head_data, lm_head_dtype, path, err)))
        goto done;
    rc = 0;
done:
    free(seen);
    free(spans);
    cJSON_Delete(hdr);
    munmap(map, file_len);
    return rc;
}

/* Every parameter takes at least 2 bytes (F16 / BF16) after the 8-byte size field: when
 * the parameters would take more than 64 MB, a file too small for them is refused before
 * they are allocated (a 100-byte config.json must not cost gigabytes); smaller models get
 * the more precise errors of the header. A missing file is left to the loader. */
static int check_file_size(const pst_gpt2_config *cfg, const char *path, pst_error *err) {
    size_t s[PST_GPT2_NUM_TENSORS], n = 0;
    pst_gpt2_param_sizes(cfg, s);
    for (int i = 0; i < PST_GPT2_NUM_TENSORS; i++) n += s[i];
    struct stat st;
    if ((uint64_t)n * sizeof(float) > (64u << 20) && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size < 8 + 2 * (uint64_t)n)
        return pst_fail(err, "%s: truncated safetensors file: %lld bytes, too small for the %zu "
                        "parameters of config.json (at least 2 bytes each)", path,
                        (long long)st.st_size, n);
    return 0;
}

int pst_gpt2_load(pst_gpt2 *m, const char *dir, pst_error *err) { return pst_gpt2_load_with(m, dir, NULL, 0, err); }

int pst_gpt2_load_with(pst_gpt2 *m, const char *dir, pst_gpt2_extra *extra, int n_extra, pst_error *err) {
    memset(m, 0, sizeof *m);
    for (int i = 0; i < n_extra; i++) extra[i].found = 0;
    pst_gpt2_config cfg;
    char path[4096];
    if (pst_gpt2_load_config(&cfg, dir, err) ||
        pst_path_join(path, sizeof path, dir, "model.safetensors", err) ||
        check_file_size(&cfg, path, err))
        return -1;
    if (pst_gpt2_create(m, &cfg, err)) return -1;
    if (load_safetensors(m, path, extra, n_extra, err)) {
        pst_gpt2_free(m);
        memset(m, 0, sizeof *m);
        return -1;
    }
    return 0;
}

/* ---- safetensors save ------------------------------------------------------ */

int pst_gpt2_save(const pst_gpt2 *m, const char *dir, pst_error *err) {
    return pst_gpt2_save_with(m, dir, NULL, 0, "GPT2LMHeadModel", err);
}

/* One header entry: name -> F32, shape, [begin, end) bytes of the data section. */
static int add_header_entry(cJSON *hdr, const char *name, const long *shape, int nd, size_t begin, size_t bytes) {
    double offs[2] = {(double)begin, (double)(begin + bytes)}, shp[2] = {(double)shape[0], (double)shape[1]};
    cJSON *t = cJSON_AddObjectToObject(hdr, name);
    return t && cJSON_AddStringToObject(t, "dtype", "F32") &&
           cJSON_AddItemToObject(t, "shape", cJSON_CreateDoubleArray(shp, nd)) &&
           cJSON_AddItemToObject(t, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
}

int pst_gpt2_save_with(const pst_gpt2 *m, const char *dir, const pst_gpt2_extra *extra, int n_extra,
                       const char *architecture, pst_error *err) {
    const pst_gpt2_config *c = &m->config;
    if (n_extra > 6) return pst_fail(err, "%s: at most 6 extra tensors", dir);
    /* with a head, the trunk's names take Hugging Face's base-model prefix, as a
     * GPT2ForSequenceClassification's save_pretrained writes them */
    const char *prefix = n_extra ? "transformer." : "";
    if (pst_mkdir_p(dir, err)) return -1;
    char path[4096];
    if (pst_path_join(path, sizeof path, dir, "model.safetensors", err)) return -1;
    float *ptrs[PST_GPT2_NUM_TENSORS];
    param_pointers(&m->params, ptrs);
    size_t sizes[PST_GPT2_NUM_TENSORS];
    pst_gpt2_param_sizes(c, sizes);

    cJSON *hdr = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(hdr, "__metadata__");
    if (!hdr || !meta || !cJSON_AddStringToObject(meta, "format", "pt")) {
        cJSON_Delete(hdr);
        return pst_fail_oom(err, path);
    }
    for (int k = 0; k < PST_GPT2_NUM_TENSORS; k++) {
        int nl = tensor_is_per_layer(k) ? c->n_layer : 1;
        size_t per = sizes[k] / nl;
        long shape[2] = {0, 0};
        int nd = tensor_shape(c, k, shape);
        for (int i = 0; i < nl; i++) {
            char name[160];
            if (tensor_is_per_layer(k)) snprintf(name, sizeof name, "%sh.%d.%s", prefix, i, tensor_names[k]);
            else snprintf(name, sizeof name, "%s%s", prefix, tensor_names[k]);
            size_t begin = (size_t)((ptrs[k] + (size_t)i * per) - m->param_memory) * 4;
            if (!add_header_entry(hdr, name, shape, nd, begin, per * 4)) {
                cJSON_Delete(hdr);
                return pst_fail_oom(err, path);
            }
        }
    }
    size_t extra_begin = m->num_params * sizeof(float), extra_bytes[6];
    for (int i = 0; i < n_extra; i++) {
        extra_bytes[i] = sizeof(float) * (size_t)extra[i].shape[0] * (size_t)(extra[i].ndim == 2 ? extra[i].shape[1] : 1);
        if (!add_header_entry(hdr, extra[i].name, extra[i].shape, extra[i].ndim, extra_begin, extra_bytes[i])) {
            cJSON_Delete(hdr);
            return pst_fail_oom(err, path);
        }
        extra_begin += extra_bytes[i];
    }
    char *json = cJSON_PrintUnformatted(hdr);
    cJSON_Delete(hdr);
    if (!json) return pst_fail_oom(err, path);
    size_t jlen = strlen(json);
    size_t padded = (jlen + 7) / 8 * 8; /* data section 8-byte aligned; pad with spaces */
    unsigned char *head = pst_malloc(8 + padded, err);
    if (!head) {
        free(json);
        return -1;
    }
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(head + 8, json, jlen);
    memset(head + 8 + jlen, ' ', padded - jlen);
    free(json);
    const void *parts[8] = {head, m->param_memory};
    size_t lens[8] = {8 + padded, m->num_params * sizeof(float)};
    for (int i = 0; i < n_extra; i++) parts[2 + i] = extra[i].data, lens[2 + i] = extra_bytes[i];
    int rc = pst_write_file_atomic_parts(path, parts, lens, 2 + n_extra, err);
    free(head);
    if (rc) return -1;
    return save_config(c, dir, architecture, n_extra > 0, err);
}

/* ---- vocabulary growth ------------------------------------------------------- */

int pst_gpt2_resize_vocab(pst_gpt2 *m, int new_vocab, pst_rng *rng, pst_error *err) {
    int old_vocab = m->config.vocab_size;
    if (new_vocab < old_vocab)
        return pst_fail(err, "resize_vocab: cannot shrink the vocabulary from %d to %d", old_vocab,
                        new_vocab);
    if (new_vocab == old_vocab) return 0;
    pst_gpt2_config cfg = m->config;
    cfg.vocab_size = new_vocab;
    pst_gpt2 n;
    if (pst_gpt2_create(&n, &cfg, err)) return pst_fail_context(err, "resize_vocab");
    float *src[PST_GPT2_NUM_TENSORS], *dst[PST_GPT2_NUM_TENSORS];
    param_pointers(&m->params, src);
    param_pointers(&n.params, dst);
    size_t sizes[PST_GPT2_NUM_TENSORS];
    pst_gpt2_param_sizes(&m->config, sizes);
    for (int k = 0; k < PST_GPT2_NUM_TENSORS; k++) memcpy(dst[k], src[k], sizes[k] * sizeof(float));
    size_t C = (size_t)cfg.n_embd;
    for (size_t i = (size_t)old_vocab * C; i < (size_t)new_vocab * C; i++)
        n.params.wte[i] = (float)(0.02 * pst_rng_normal(rng));
    pst_gpt2_free(m);
    *m = n;
    return 0;
}

/* ---- training state -------------------------------------------------------------
 * Layout (little endian):
 *   "PSTSTATE" | u32 version=1 | u32 0 | u64 num_params | i64 step |
 *   f32 beta1, beta2, eps, weight_decay | u64 rng[4] | u64 data_pos_len | data_pos |
 *   f32 m[num_params] | f32 v[num_params] | u64 checksum of everything before it
 */

#define STATE_MAGIC "PSTSTATE"
#define STATE_HEADER_BYTES (8 + 4 + 4 + 8 + 8 + 16 + 32 + 8)

/* 64-bit FNV-1a style hash over 8-byte words (fast enough for 1 GB of moments). */
static uint64_t hash_update(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define HASH_INIT 0xcbf29ce484222325ull

uint64_t pst_gpt2_checksum(const pst_gpt2 *m) {
    int dims[5] = {m->config.n_layer, m->config.n_head, m->config.n_embd, m->config.n_positions,
                   m->config.vocab_size};
    uint64_t h = hash_update(HASH_INIT, dims, sizeof dims);
    return hash_update(h, m->param_memory, m->num_params * sizeof(float));
}

static unsigned char *put(unsigned char *p, const void *v, size_t n) {
    memcpy(p, v, n);
    return p + n;
}

int pst_train_state_save(const char *path, const pst_adamw *opt, size_t num_params,
                         const pst_rng *rng, const void *data_pos, size_t data_pos_len,
                         pst_error *err) {
    size_t hlen = STATE_HEADER_BYTES + data_pos_len;
    unsigned char *head = pst_malloc(hlen, err);
    if (!head) return -1;
    uint32_t version = 1, zero = 0;
    uint64_t np = num_params, dl = data_pos_len;
    int64_t step = opt->step;
    float hp[4] = {opt->beta1, opt->beta2, opt->eps, opt->weight_decay};
    unsigned char *p = head;
    p = put(p, STATE_MAGIC, 8);
    p = put(p, &version, 4);
    p = put(p, &zero, 4);
    p = put(p, &np, 8);
    p = put(p, &step, 8);
    p = put(p, hp, 16);
    p = put(p, rng->s, 32);
    p = put(p, &dl, 8);
    if (data_pos_len) put(p, data_pos, data_pos_len);
    uint64_t h = hash_update(HASH_INIT, head, hlen);
    h = hash_update(h, opt->m, num_params * 4);
    h = hash_update(h, opt->v, num_params * 4);
    const void *parts[4] = {head, opt->m, opt->v, &h};
    size_t lens[4] = {hlen, num_params * 4, num_params * 4, 8};
    int rc = pst_write_file_atomic_parts(path, parts, lens, 4, err);
    free(head);
    return rc;
}

static int read_exact(FILE *f, void *buf, size_t n, uint64_t *h, const char *path, const char *what,
                      pst_error *err) {
    if (fread(buf, 1, n, f) != n)
        return pst_fail(err, "%s: truncated training state (reading %s)", path, what);
    if (h) *h = hash_update(*h, buf, n);
    return 0;
}

int pst_train_state_load(const char *path, pst_adamw *opt, size_t num_params, pst_rng *rng,
                         void *data_pos, size_t data_pos_cap, size_t *data_pos_len,
                         pst_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return pst_fail(err, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[STATE_HEADER_BYTES];
    uint64_t h = HASH_INIT, stored;
    int rc = -1;
    unsigned char *pos = NULL;
    if (read_exact(f, head, sizeof head, &h, path, "header", err)) goto done;
    if (memcmp(head, STATE_MAGIC, 8) != 0) {
        pst_fail(err, "%s: not a posterior training-state file (bad magic)", path);
        goto done;
    }
    uint32_t version;
    uint64_t np, dl;
    int64_t step;
    memcpy(&version, head + 8, 4);
    memcpy(&np, head + 16, 8);
    memcpy(&step, head + 24, 8);
    memcpy(&dl, head + 80, 8);
    if (version != 1) {
        pst_fail(err, "%s: unsupported training-state version %u", path, version);
        goto done;
    }
    if (np != num_params) {
        pst_fail(err, "%s: training state is for %llu parameters, the model has %zu", path,
                 (unsigned long long)np, num_params);
        goto done;
    }
    if (dl > data_pos_cap || dl > (1u << 20)) {
        pst_fail(err, "%s: data position of %llu bytes exceeds the %zu expected", path,
                 (unsigned long long)dl, data_pos_cap);
        goto done;
    }
    pos = pst_malloc(dl ? dl : 1, err);
    if (!pos) goto done;
    if (read_exact(f, pos, dl, &h, path, "data position", err) ||
        read_exact(f, opt->m, num_params * 4, &h, path, "first moments", err) ||
        read_exact(f, opt->v, num_params * 4, &h, path, "second moments", err) ||
        read_exact(f, &stored, 8, NULL, path, "checksum", err))
        goto done;
    if (stored != h) {
        pst_fail(err, "%s: checksum mismatch (file corrupted)", path);
        goto done;
    }
    if (fgetc(f) != EOF) {
        pst_fail(err, "%s: trailing bytes after the checksum", path);
        goto done;
    }
    opt->step = step;
    memcpy(rng->s, head + 48, 32);
    if (dl) memcpy(data_pos, pos, dl);
    if (data_pos_len) *data_pos_len = dl;
    rc = 0;
done:
    free(pos);
    fclose(f);
    return rc;
}
