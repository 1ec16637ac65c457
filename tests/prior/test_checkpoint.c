/* Checkpoints: save -> load bit-exact, F16/BF16 conversion against closed-form values,
 * "transformer." prefix, ignored buffers, tied lm_head, malformed files rejected with a
 * message naming the file and tensor, training-state round trip and corruption, vocab growth. */
#include "check.h"
#include "posterior/prior.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const pst_gpt2_config tiny = {.n_layer = 2, .n_head = 2, .n_embd = 8, .n_positions = 16,
                                     .vocab_size = 37, .layer_norm_epsilon = 1e-5f};

static char tmpdir[256];

static void path_in(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, len, f);
    fclose(f);
}

static void write_text(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* ---- hand-written safetensors: entries appended to a header and a data buffer ---- */
typedef struct {
    char header[1 << 16];
    size_t hlen;
    unsigned char *data;
    size_t dlen, dcap;
} st_writer;

static void st_begin(st_writer *w) {
    w->hlen = (size_t)snprintf(w->header, sizeof w->header, "{\"__metadata__\":{\"format\":\"pt\"}");
    w->dcap = 1 << 20;
    w->data = malloc(w->dcap);
    w->dlen = 0;
}

static void st_add(st_writer *w, const char *name, const char *dtype, const char *shape,
                   const void *bytes, size_t n) {
    if (w->dlen + n > w->dcap) abort();
    memcpy(w->data + w->dlen, bytes, n);
    w->hlen += (size_t)snprintf(w->header + w->hlen, sizeof w->header - w->hlen,
                                ",\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                                name, dtype, shape, w->dlen, w->dlen + n);
    w->dlen += n;
}

static void st_finish(st_writer *w, const char *path) {
    w->header[w->hlen++] = '}';
    unsigned char *buf = malloc(8 + w->hlen + w->dlen);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)w->hlen >> (8 * i));
    memcpy(buf + 8, w->header, w->hlen);
    memcpy(buf + 8 + w->hlen, w->data, w->dlen);
    write_bytes(path, buf, 8 + w->hlen + w->dlen);
    free(buf);
    free(w->data);
}

static const char *tiny_config_json =
    "{\"model_type\": \"gpt2\", \"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_ctx\": 16,"
    " \"vocab_size\": 37, \"layer_norm_epsilon\": 1e-05}";

/* Exactly representable in F16 and BF16: k/64 for |k| <= 128. */
static void fill_representable(pst_gpt2 *m, pst_rng *rng) {
    for (size_t i = 0; i < m->num_params; i++)
        m->param_memory[i] = (float)((int)pst_rng_below(rng, 257) - 128) / 64.0f;
}

static uint16_t f32_to_bf16_exact(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)(b >> 16);
}

/* Exact F16 encoding of a value known to be representable as a normal or zero. */
static uint16_t f32_to_f16_exact(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    uint32_t sign = (b >> 16) & 0x8000, exp = (b >> 23) & 0xff, man = b & 0x7fffff;
    if (exp == 0) return (uint16_t)sign;
    return (uint16_t)(sign | ((exp - 112) << 10) | (man >> 13));
}

static void test_save_load_bit_exact(void) {
    pst_error err = {0};
    pst_gpt2 m, l;
    pst_rng rng;
    pst_rng_seed(&rng, 1);
    CHECK(pst_gpt2_create(&m, &tiny, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    m.param_memory[3] = -0.0f; /* signed zero and a subnormal survive bit-exactly */
    m.param_memory[4] = 1e-40f;
    char dir[512];
    path_in(dir, sizeof dir, "saved/model");
    CHECK_MSG(pst_gpt2_save(&m, dir, &err) == 0, "%s", err.msg);
    CHECK_MSG(pst_gpt2_load(&l, dir, &err) == 0, "%s", err.msg);
    CHECK(l.num_params == m.num_params);
    CHECK(memcmp(&l.config, &m.config, sizeof m.config) == 0);
    CHECK(l.param_memory && memcmp(l.param_memory, m.param_memory, m.num_params * 4) == 0);
    pst_gpt2_free(&l);

    /* file layout: header length multiple of 8, metadata format pt, config keys for transformers */
    char path[600], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(pst_read_file(path, &text, &len, &err) == 0);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)(unsigned char)text[i] << (8 * i);
    CHECK(hl % 8 == 0);
    CHECK(len == 8 + hl + m.num_params * 4);
    cJSON *h = cJSON_ParseWithLength(text + 8, hl);
    CHECK(h != NULL);
    cJSON *meta = cJSON_GetObjectItem(h, "__metadata__");
    CHECK(meta && cJSON_IsString(cJSON_GetObjectItem(meta, "format")) &&
          strcmp(cJSON_GetObjectItem(meta, "format")->valuestring, "pt") == 0);
    cJSON *qkv = cJSON_GetObjectItem(h, "h.1.attn.c_attn.weight");
    CHECK(qkv && strcmp(cJSON_GetObjectItem(qkv, "dtype")->valuestring, "F32") == 0);
    CHECK(qkv && cJSON_GetArraySize(cJSON_GetObjectItem(qkv, "shape")) == 2 &&
          cJSON_GetArrayItem(cJSON_GetObjectItem(qkv, "shape"), 0)->valueint == 8 &&
          cJSON_GetArrayItem(cJSON_GetObjectItem(qkv, "shape"), 1)->valueint == 24);
    /* its bytes are layer 1's slice of qkvw */
    if (qkv) {
        int b = cJSON_GetArrayItem(cJSON_GetObjectItem(qkv, "data_offsets"), 0)->valueint;
        CHECK(memcmp(text + 8 + hl + b, m.params.qkvw + 8 * 24, 8 * 24 * 4) == 0);
    }
    CHECK(cJSON_GetArraySize(h) == 1 + 4 + 12 * 2);
    cJSON_Delete(h);
    free(text);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(pst_read_file(path, &text, &len, &err) == 0);
    cJSON *c = cJSON_Parse(text);
    free(text);
    CHECK(c && strcmp(cJSON_GetObjectItem(c, "model_type")->valuestring, "gpt2") == 0);
    CHECK(c && strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "architectures"), 0)->valuestring,
                      "GPT2LMHeadModel") == 0);
    CHECK(c && cJSON_GetObjectItem(c, "n_ctx")->valueint == 16);
    CHECK(c && cJSON_GetObjectItem(c, "n_positions")->valueint == 16);
    CHECK(c && strcmp(cJSON_GetObjectItem(c, "activation_function")->valuestring, "gelu_new") == 0);
    cJSON_Delete(c);
    pst_gpt2_free(&m);
}

/* Writes every tensor of m with alternating dtypes, a "transformer." prefix on some,
 * causal-mask buffers, and a tied lm_head. */
static void write_mixed_dtype_dir(const pst_gpt2 *m, const char *dir, int lm_head_mode) {
    char path[600];
    pst_error err;
    pst_mkdir_p(dir, &err);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, tiny_config_json);
    static const char *names[] = {"wte.weight", "wpe.weight", "ln_1.weight", "ln_1.bias",
                                  "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                                  "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                                  "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                                  "mlp.c_proj.bias", "ln_f.weight", "ln_f.bias"};
    static const char *shapes[] = {"[37,8]", "[16,8]", "[8]", "[8]", "[8,24]", "[24]", "[8,8]",
                                   "[8]", "[8]", "[8]", "[8,32]", "[32]", "[32,8]", "[8]", "[8]",
                                   "[8]"};
    const float *ptrs[16] = {m->params.wte, m->params.wpe, m->params.ln1w, m->params.ln1b,
                             m->params.qkvw, m->params.qkvb, m->params.attprojw,
                             m->params.attprojb, m->params.ln2w, m->params.ln2b, m->params.fcw,
                             m->params.fcb, m->params.fcprojw, m->params.fcprojb,
                             m->params.lnfw, m->params.lnfb};
    size_t sizes[16];
    pst_gpt2_param_sizes(&m->config, sizes);
    st_writer w;
    st_begin(&w);
    int idx = 0;
    for (int k = 15; k >= 0; k--) { /* reverse order: order in the file must not matter */
        int per_layer = k >= 2 && k <= 13, nl = per_layer ? 2 : 1;
        size_t per = sizes[k] / nl;
        for (int i = 0; i < nl; i++, idx++) {
            char name[128];
            const char *prefix = idx % 3 == 0 ? "transformer." : "";
            if (per_layer) snprintf(name, sizeof name, "%sh.%d.%s", prefix, i, names[k]);
            else snprintf(name, sizeof name, "%s%s", prefix, names[k]);
            const float *src = ptrs[k] + i * per;
            uint16_t *half = malloc(per * 2);
            int mode = idx % 3; /* 0 F32, 1 F16, 2 BF16 */
            if (mode == 0) st_add(&w, name, "F32", shapes[k], src, per * 4);
            else {
                for (size_t j = 0; j < per; j++)
                    half[j] = mode == 1 ? f32_to_f16_exact(src[j]) : f32_to_bf16_exact(src[j]);
                st_add(&w, name, mode == 1 ? "F16" : "BF16", shapes[k], half, per * 2);
            }
            free(half);
        }
    }
    unsigned char mask[16 * 16];
    memset(mask, 1, sizeof mask);
    st_add(&w, "h.0.attn.bias", "BOOL", "[1,1,16,16]", mask, sizeof mask);
    float mb = -1e4f;
    st_add(&w, "transformer.h.1.attn.masked_bias", "F32", "[]", &mb, 4);
    if (lm_head_mode) {
        float *lm = malloc(sizes[0] * 4);
        memcpy(lm, m->params.wte, sizes[0] * 4);
        if (lm_head_mode == 2) lm[5] += 1.0f; /* untied */
        st_add(&w, "lm_head.weight", "F32", "[37,8]", lm, sizes[0] * 4);
        free(lm);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_finish(&w, path);
}

static void test_mixed_dtypes_prefix_buffers(void) {
    pst_error err = {0};
    pst_gpt2 m, l;
    pst_rng rng;
    pst_rng_seed(&rng, 2);
    CHECK(pst_gpt2_create(&m, &tiny, &err) == 0);
    fill_representable(&m, &rng);
    char dir[512];
    path_in(dir, sizeof dir, "mixed");
    write_mixed_dtype_dir(&m, dir, 1);
    CHECK_MSG(pst_gpt2_load(&l, dir, &err) == 0, "%s", err.msg);
    CHECK(l.param_memory && memcmp(l.param_memory, m.param_memory, m.num_params * 4) == 0);
    pst_gpt2_free(&l);

    write_mixed_dtype_dir(&m, dir, 2);
    CHECK(pst_gpt2_load(&l, dir, &err) == -1);
    CHECK_MSG(contains(err.msg, "lm_head.weight") && contains(err.msg, "model.safetensors"),
              "%s", err.msg);
    pst_gpt2_free(&m);
}

/* Closed-form F16 / BF16 values, including subnormals, infinities and signed zero. */
static void test_half_values(void) {
    pst_error err = {0};
    pst_gpt2 m, l;
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    CHECK(pst_gpt2_create(&m, &tiny, &err) == 0);
    fill_representable(&m, &rng);
    char dir[512], path[600];
    path_in(dir, sizeof dir, "halves");
    write_mixed_dtype_dir(&m, dir, 0);
    /* rewrite: ln_f.bias as F16 with special bit patterns, ln_f.weight as BF16 specials */
    uint16_t f16[8] = {0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x7bff, 0x8000, 0x7c00};
    float f16_want[8] = {ldexpf(1, -24), ldexpf(1023, -24), ldexpf(1, -14), 1.0f, -2.0f,
                         65504.0f, -0.0f, INFINITY};
    uint16_t bf16[8] = {0x3f80, 0xbf80, 0x4049, 0x0001, 0x7f7f, 0xff80, 0x3e00, 0x4780};
    float bf16_want[8] = {1.0f, -1.0f, 3.140625f, ldexpf(1, -133), 3.38953139e38f, -INFINITY,
                          0.125f, 65536.0f};
    /* build a header that has ln_f.* in half precision and the rest from the model */
    st_writer w;
    st_begin(&w);
    size_t sizes[16];
    pst_gpt2_param_sizes(&tiny, sizes);
    const float *ptrs[14] = {m.params.wte, m.params.wpe, m.params.ln1w, m.params.ln1b,
                             m.params.qkvw, m.params.qkvb, m.params.attprojw, m.params.attprojb,
                             m.params.ln2w, m.params.ln2b, m.params.fcw, m.params.fcb,
                             m.params.fcprojw, m.params.fcprojb};
    static const char *names[] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight",
                                  "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                                  "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight",
                                  "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"};
    static const char *shapes[] = {"[8]", "[8]", "[8,24]", "[24]", "[8,8]", "[8]", "[8]", "[8]",
                                   "[8,32]", "[32]", "[32,8]", "[8]"};
    st_add(&w, "wte.weight", "F32", "[37,8]", ptrs[0], sizes[0] * 4);
    st_add(&w, "wpe.weight", "F32", "[16,8]", ptrs[1], sizes[1] * 4);
    for (int k = 2; k < 14; k++)
        for (int i = 0; i < 2; i++) {
            char name[128];
            snprintf(name, sizeof name, "h.%d.%s", i, names[k - 2]);
            size_t per = sizes[k] / 2;
            st_add(&w, name, "F32", shapes[k - 2], ptrs[k] + i * per, per * 4);
        }
    st_add(&w, "ln_f.bias", "F16", "[8]", f16, 16);
    st_add(&w, "ln_f.weight", "BF16", "[8]", bf16, 16);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_finish(&w, path);
    CHECK_MSG(pst_gpt2_load(&l, dir, &err) == 0, "%s", err.msg);
    if (l.param_memory) {
        for (int i = 0; i < 8; i++) {
            CHECK_MSG(memcmp(&l.params.lnfb[i], &f16_want[i], 4) == 0, "f16 %04x -> %g want %g",
                      f16[i], l.params.lnfb[i], f16_want[i]);
            CHECK_MSG(memcmp(&l.params.lnfw[i], &bf16_want[i], 4) == 0, "bf16 %04x -> %g want %g",
                      bf16[i], l.params.lnfw[i], bf16_want[i]);
        }
        CHECK(memcmp(l.params.wte, m.params.wte, (m.num_params - 16) * 4) == 0);
    }
    pst_gpt2_free(&l);
    pst_gpt2_free(&m);
}

/* Loads dir and expects an error message containing both needles. */
static void expect_load_error(const char *dir, const char *needle1, const char *needle2) {
    pst_gpt2 l;
    pst_error err = {0};
    int rc = pst_gpt2_load(&l, dir, &err);
    CHECK_MSG(rc == -1, "loading %s should fail (%s)", dir, needle1);
    if (rc == 0) pst_gpt2_free(&l);
    CHECK_MSG(contains(err.msg, needle1) && (!needle2 || contains(err.msg, needle2)),
              "message \"%s\" lacks \"%s\"/\"%s\"", err.msg, needle1, needle2 ? needle2 : "");
    CHECK(l.param_memory == NULL);
}

static void test_malformed(void) {
    pst_error err = {0};
    pst_gpt2 m;
    pst_rng rng;
    pst_rng_seed(&rng, 4);
    CHECK(pst_gpt2_create(&m, &tiny, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    char good[512], bad[512], path[600], *file;
    size_t flen;
    path_in(good, sizeof good, "good");
    path_in(bad, sizeof bad, "bad");
    CHECK(pst_gpt2_save(&m, good, &err) == 0);
    CHECK(pst_gpt2_save(&m, bad, &err) == 0);
    snprintf(path, sizeof path, "%s/model.safetensors", good);
    CHECK(pst_read_file(path, &file, &flen, &err) == 0);
    char bad_st[600], bad_cfg[600];
    snprintf(bad_st, sizeof bad_st, "%s/model.safetensors", bad);
    snprintf(bad_cfg, sizeof bad_cfg, "%s/config.json", bad);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)(unsigned char)file[i] << (8 * i);

    /* truncated: inside the size field, inside the header, inside the data */
    write_bytes(bad_st, file, 5);
    expect_load_error(bad, "truncated", "model.safetensors");
    write_bytes(bad_st, file, 8 + hl / 2);
    expect_load_error(bad, "truncated", "model.safetensors");
    write_bytes(bad_st, file, flen - 4);
    expect_load_error(bad, "out of range", "model.safetensors");
    write_bytes(bad_st, file, 0);
    expect_load_error(bad, "truncated", NULL);
    /* a config far larger than the file: refused before allocating its parameters
     * (here 8e11 floats, which the loader used to try to allocate) */
    write_text(bad_cfg, "{\"n_layer\": 4096, \"n_head\": 1, \"n_embd\": 4096, \"vocab_size\": 50257, "
                        "\"n_positions\": 1024}");
    write_bytes(bad_st, file, flen);
    expect_load_error(bad, "too small for the", "parameters of config.json");
    CHECK(pst_gpt2_save(&m, bad, &err) == 0); /* a good model again for what follows */

    /* header offsets out of range / inconsistent with the shape */
    st_writer w;
    float zeros[128] = {0};
    st_begin(&w);
    st_add(&w, "ln_f.bias", "F32", "[8]", zeros, 32);
    w.hlen += (size_t)snprintf(w.header + w.hlen, sizeof w.header - w.hlen,
                               ",\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[32,4000]}");
    st_finish(&w, bad_st);
    expect_load_error(bad, "out of range", "ln_f.weight");
    st_begin(&w);
    st_add(&w, "ln_f.bias", "F32", "[8]", zeros, 28);
    st_finish(&w, bad_st);
    expect_load_error(bad, "ln_f.bias", "shape x dtype");
    st_begin(&w);
    st_add(&w, "ln_f.bias", "F32", "[8]", zeros, 32);
    w.hlen += (size_t)snprintf(w.header + w.hlen, sizeof w.header - w.hlen,
                               ",\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[-32,0]}");
    st_finish(&w, bad_st);
    expect_load_error(bad, "ln_f.weight", "data_offsets");

    /* the spans must tile the data section: overlaps, holes and trailing bytes
     * are format violations (they used to load without complaint) */
    st_begin(&w);
    st_add(&w, "ln_f.bias", "F32", "[8]", zeros, 32);
    memset(w.data + w.dlen, 0, 16);
    w.dlen += 16;
    w.hlen += (size_t)snprintf(w.header + w.hlen, sizeof w.header - w.hlen,
                               ",\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[16,48]}");
    st_finish(&w, bad_st);
    expect_load_error(bad, "tensors ln_f.bias (bytes 0..32) and ln_f.weight (bytes 16..48) overlap",
                      "model.safetensors");
    st_begin(&w);
    st_add(&w, "ln_f.bias", "F32", "[8]", zeros, 32);
    memset(w.data + w.dlen, 0, 8);
    w.dlen += 8;
    st_add(&w, "ln_f.weight", "F32", "[8]", zeros, 32);
    st_finish(&w, bad_st);
    expect_load_error(bad, "bytes 32..40 of the data section belong to no tensor (before tensor ln_f.weight)",
                      "model.safetensors");
    char *longer = malloc(flen + 3);
    memcpy(longer, file, flen);
    memcpy(longer + flen, "xyz", 3);
    write_bytes(bad_st, longer, flen + 3);
    expect_load_error(bad, "3 trailing bytes after the data of the last tensor", "model.safetensors");
    free(longer);
    write_bytes(bad_st, file, flen); /* the same file without them loads */
    pst_gpt2 ok;
    CHECK_MSG(pst_gpt2_load(&ok, bad, &err) == 0, "%s", err.msg);
    pst_gpt2_free(&ok);

    /* shape vs config, unknown dtype, unknown tensor, duplicate, missing tensor */
    st_begin(&w);
    st_add(&w, "h.0.attn.c_attn.weight", "F32", "[8,16]", zeros, 128 * 4);
    st_finish(&w, bad_st);
    expect_load_error(bad, "h.0.attn.c_attn.weight", "expected [8, 24]");
    st_begin(&w);
    st_add(&w, "ln_f.bias", "I64", "[4]", zeros, 32);
    st_finish(&w, bad_st);
    expect_load_error(bad, "ln_f.bias", "dtype I64");
    st_begin(&w);
    st_add(&w, "h.2.ln_1.weight", "F32", "[8]", zeros, 32); /* n_layer is 2 */
    st_finish(&w, bad_st);
    expect_load_error(bad, "h.2.ln_1.weight", "not a GPT-2 tensor");
    st_begin(&w);
    st_add(&w, "ln_f.bias", "F32", "[8]", zeros, 32);
    st_add(&w, "transformer.ln_f.bias", "F32", "[8]", zeros, 32);
    st_finish(&w, bad_st);
    expect_load_error(bad, "ln_f.bias", "twice");
    st_begin(&w);
    st_add(&w, "ln_f.bias", "F32", "[8]", zeros, 32);
    st_finish(&w, bad_st);
    expect_load_error(bad, "missing tensor", "wte.weight");

    /* bad JSON in the safetensors header and in config.json */
    memcpy(file + 8, "[[[", 3);
    write_bytes(bad_st, file, flen);
    expect_load_error(bad, "bad JSON", "model.safetensors");
    memcpy(file + 8, "{}}", 3); /* a valid object followed by garbage */
    write_bytes(bad_st, file, flen);
    expect_load_error(bad, "bad JSON", "model.safetensors");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": ");
    expect_load_error(bad, "bad JSON", "config.json");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 3, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 37}");
    expect_load_error(bad, "config.json", "divisible");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"vocab_size\": 37}");
    expect_load_error(bad, "config.json", "n_ctx");
    write_text(bad_cfg, "{\"n_layer\": 2.5, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 37}");
    expect_load_error(bad, "config.json", "n_layer");
    write_text(bad_cfg, "{\"model_type\": \"llama\", \"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 37}");
    expect_load_error(bad, "config.json", "model_type");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 37, \"n_inner\": 20}");
    expect_load_error(bad, "config.json", "n_inner");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 37, \"activation_function\": \"relu\"}");
    expect_load_error(bad, "config.json", "activation_function");
    /* limits named; n_ctx and n_positions agree; token ids inside the vocabulary */
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 2147483647}");
    expect_load_error(bad, "config.json", "\"vocab_size\" is 2147483647; it must be in 1..67108864 (the largest");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 1099511627776, \"vocab_size\": 37}");
    expect_load_error(bad, "config.json", "\"n_positions\" is 1099511627776; it must be in 1..1048576");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"n_ctx\": 32, \"vocab_size\": 37}");
    expect_load_error(bad, "config.json", "n_ctx (32) and n_positions (16) differ");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 37, \"bos_token_id\": 1e6}");
    expect_load_error(bad, "config.json", "\"bos_token_id\" is 1000000; it must be in 0..36");
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"n_ctx\": 16, \"vocab_size\": 37, \"bos_token_id\": 36, \"eos_token_id\": null}");
    remove(bad_st);
    CHECK(mkdir(bad_st, 0755) == 0); /* model.safetensors a directory: said so (was "No such device") */
    expect_load_error(bad, "model.safetensors: is a directory", NULL);
    CHECK(rmdir(bad_st) == 0);
    /* config that disagrees with the tensors */
    write_text(bad_cfg, "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 40}");
    char good_st[600];
    snprintf(good_st, sizeof good_st, "%s/model.safetensors", good);
    char *gfile;
    size_t glen;
    CHECK(pst_read_file(good_st, &gfile, &glen, &err) == 0);
    write_bytes(bad_st, gfile, glen);
    expect_load_error(bad, "wte.weight", "does not match config.json");
    free(gfile);
    expect_load_error("/nonexistent/dir", "config.json", "cannot open");
    free(file);
    pst_gpt2_free(&m);
}

static void test_train_state(void) {
    pst_error err = {0};
    size_t n = 1000;
    pst_adamw a = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .step = 77};
    pst_adamw b = a;
    a.m = malloc(n * 4), a.v = malloc(n * 4), b.m = calloc(n, 4), b.v = calloc(n, 4);
    pst_rng rng, rng2;
    pst_rng_seed(&rng, 5);
    for (size_t i = 0; i < n; i++) a.m[i] = (float)pst_rng_normal(&rng), a.v[i] = (float)pst_rng_uniform(&rng);
    b.step = 0;
    const char pos[] = "data position blob";
    char got[64] = {0}, path[600];
    size_t got_len = 0;
    path_in(path, sizeof path, "training_state.bin");
    CHECK_MSG(pst_train_state_save(path, &a, n, &rng, pos, sizeof pos, &err) == 0, "%s", err.msg);
    memset(&rng2, 0, sizeof rng2);
    CHECK_MSG(pst_train_state_load(path, &b, n, &rng2, got, sizeof got, &got_len, &err) == 0, "%s",
              err.msg);
    CHECK(b.step == 77);
    CHECK(memcmp(a.m, b.m, n * 4) == 0 && memcmp(a.v, b.v, n * 4) == 0);
    CHECK(memcmp(&rng, &rng2, sizeof rng) == 0);
    CHECK(got_len == sizeof pos && memcmp(got, pos, sizeof pos) == 0);

    CHECK(pst_train_state_load(path, &b, n + 1, &rng2, got, sizeof got, &got_len, &err) == -1);
    CHECK_MSG(contains(err.msg, "1000 parameters"), "%s", err.msg);
    CHECK(pst_train_state_load(path, &b, n, &rng2, got, 4, &got_len, &err) == -1);
    CHECK_MSG(contains(err.msg, "data position"), "%s", err.msg);
    char *file;
    size_t flen;
    CHECK(pst_read_file(path, &file, &flen, &err) == 0);
    file[flen / 2] ^= 0x10;
    write_bytes(path, file, flen);
    CHECK(pst_train_state_load(path, &b, n, &rng2, got, sizeof got, &got_len, &err) == -1);
    CHECK_MSG(contains(err.msg, "checksum"), "%s", err.msg);
    write_bytes(path, file, flen - 100);
    CHECK(pst_train_state_load(path, &b, n, &rng2, got, sizeof got, &got_len, &err) == -1);
    CHECK_MSG(contains(err.msg, "truncated") && contains(err.msg, "training_state.bin"), "%s",
              err.msg);
    memcpy(file, "NOTSTATE", 8);
    write_bytes(path, file, flen);
    CHECK(pst_train_state_load(path, &b, n, &rng2, got, sizeof got, &got_len, &err) == -1);
    CHECK_MSG(contains(err.msg, "magic"), "%s", err.msg);
    free(file);
    free(a.m), free(a.v), free(b.m), free(b.v);
}

static void test_resize_vocab(void) {
    pst_error err = {0};
    pst_gpt2 m, orig;
    pst_rng rng;
    pst_rng_seed(&rng, 6);
    CHECK(pst_gpt2_create(&m, &tiny, &err) == 0);
    CHECK(pst_gpt2_create(&orig, &tiny, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    memcpy(orig.param_memory, m.param_memory, m.num_params * 4);
    CHECK(pst_gpt2_resize_vocab(&m, 30, &rng, &err) == -1);
    CHECK_MSG(contains(err.msg, "shrink"), "%s", err.msg);
    CHECK(pst_gpt2_resize_vocab(&m, 37 + 400, &rng, &err) == 0);
    CHECK(m.config.vocab_size == 437);
    CHECK(m.num_params == orig.num_params + 400 * 8);
    CHECK(memcmp(m.params.wte, orig.params.wte, 37 * 8 * 4) == 0);
    CHECK(memcmp(m.params.wpe, orig.params.wpe, (orig.num_params - 37 * 8) * 4) == 0);
    double s = 0, s2 = 0;
    for (int i = 37 * 8; i < 437 * 8; i++) s += m.params.wte[i], s2 += m.params.wte[i] * m.params.wte[i];
    double mean = s / 3200, sd = sqrt(s2 / 3200 - mean * mean);
    CHECK_NEAR(mean, 0, 0.003); /* 5 standard errors of the mean */
    CHECK_NEAR(sd, 0.02, 0.0015);
    pst_gpt2_free(&m);
    pst_gpt2_free(&orig);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pst_test_checkpoint_%ld", (long)getpid());
    pst_error err;
    pst_mkdir_p(tmpdir, &err);
    test_save_load_bit_exact();
    test_mixed_dtypes_prefix_buffers();
    test_half_values();
    test_malformed();
    test_train_state();
    test_resize_vocab();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report();
}
