/* Training and sampling throughput of the GPT-2 prior (src/prior), one measurement
 * per process so that the peak resident memory (ru_maxrss) is that measurement's:
 *
 *   bench_prior --config small|tiny --mode train  [--steps N] [--batch B] [--seq T]
 *   bench_prior --config small|tiny --mode sample [--batch B] [--new-tokens N] [--weights fp32|bf16]
 *
 * train:  one step = pst_gpt2_zero_grad + pst_gpt2_cross_entropy (forward) +
 *         pst_gpt2_backward + pst_adamw_update, on uniform random tokens [B, T];
 *         one untimed warm-up step, then N timed steps; tokens/s = B·T·N / time.
 * sample: pst_gpt2_sample of B rows from the end-of-text prompt, N new tokens each
 *         (no stop at eot), KV cache; one untimed warm-up call with 4 new tokens;
 *         tokens/s = B·N / time. --weights bf16: the sampler's bf16 weights
 *         (pst_sample_options.bf16_weights; the copy is made inside the timed call).
 *
 * train also prints, first, the profile: {"profile": "train", "step_s": mean wall seconds a
 * step of each operation of pst_gpt2's op_seconds and of AdamW, "matmul_flops" and
 * "output_flops": a step's FLOPs in the blocks' products and in the output layer's}.
 * Prints one JSON line: impl ("c", or "c-bf16" for bf16 weights), config, mode, batch, seq, threads, params,
 * tokens_per_s, seconds, cpu_seconds (process CPU time of the timed part), peak_rss_mb, flops_per_token (train: 6·N + 12·L·C·T with N
 * the parameters without wpe, as in nanoGPT's MFU), weight_bytes (sampling reads
 * every weight once per decoding step), gemm (the POSTERIOR_GEMM setting). */
#include "cli/omp_defaults.h"
#include "posterior/prior.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int parse_int(const char *flag, const char *s, int lo, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > 1 << 20) {
        fprintf(stderr, "bench_prior: %s expects an integer >= %d, got '%s'\n", flag, lo, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* CPU seconds of the whole process (all threads): with one thread on a shared
 * machine, time on the core, which excludes waiting for it. */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

int main(int argc, char **argv) {
    pst_cli_omp_defaults(argv); /* as the CLI runs */
    const char *config = "tiny", *mode = "train";
    int steps = -1, batch = -1, seq = -1, new_tokens = -1, bf16 = 0;
    for (int i = 1; i < argc; i += 2) { /* flag, value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            printf("usage: bench_prior --config small|tiny --mode train|sample [--steps N] "
                   "[--batch B] [--seq T] [--new-tokens N] [--weights fp32|bf16]\n");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench_prior: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--config") == 0) config = v;
        else if (strcmp(a, "--mode") == 0) mode = v;
        else if (strcmp(a, "--steps") == 0) { if (parse_int(a, v, 1, &steps)) return 2; }
        else if (strcmp(a, "--batch") == 0) { if (parse_int(a, v, 1, &batch)) return 2; }
        else if (strcmp(a, "--seq") == 0) { if (parse_int(a, v, 1, &seq)) return 2; }
        else if (strcmp(a, "--new-tokens") == 0) { if (parse_int(a, v, 1, &new_tokens)) return 2; }
        else if (strcmp(a, "--weights") == 0 && (strcmp(v, "fp32") == 0 || strcmp(v, "bf16") == 0)) bf16 = v[0] == 'b';
        else {
            fprintf(stderr, "bench_prior: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    pst_gpt2_config cfg;
    if (strcmp(config, "small") == 0) {
        cfg = (pst_gpt2_config){12, 12, 768, 1024, 50257, 1e-5f};
    } else if (strcmp(config, "tiny") == 0) {
        cfg = (pst_gpt2_config){4, 4, 128, 256, 50257, 1e-5f};
    } else {
        fprintf(stderr, "bench_prior: --config must be small or tiny, got '%s'\n", config);
        return 2;
    }
    int train = strcmp(mode, "train") == 0;
    if (train && bf16) {
        fprintf(stderr, "bench_prior: --weights bf16 is for --mode sample\n");
        return 2;
    }
    if (!train && strcmp(mode, "sample") != 0) {
        fprintf(stderr, "bench_prior: --mode must be train or sample, got '%s'\n", mode);
        return 2;
    }
    if (batch < 0) batch = train ? 4 : 1;
    if (seq < 0) seq = 256;
    if (steps < 0) steps = strcmp(config, "small") == 0 ? 3 : 10;
    if (new_tokens < 0) new_tokens = strcmp(config, "small") == 0 ? 64 : 128;
    if (seq > cfg.n_positions || new_tokens + 1 > cfg.n_positions) {
        fprintf(stderr, "bench_prior: --seq / --new-tokens exceed n_positions %d\n", cfg.n_positions);
        return 2;
    }

    pst_error err;
    pst_gpt2 m;
    pst_rng rng;
    pst_rng_seed(&rng, 1234);
    if (pst_gpt2_create(&m, &cfg, &err)) {
        fprintf(stderr, "bench_prior: %s\n", err.msg);
        return 1;
    }
    pst_gpt2_init_random(&m, &rng);
    size_t sizes[PST_GPT2_NUM_TENSORS];
    pst_gpt2_param_sizes(&cfg, sizes);
    double n_flop_params = (double)m.num_params - (double)sizes[1]; /* without wpe */
    double seconds = 0, cpu_seconds = 0, tokens = 0, adamw_seconds = 0;
    int rc = 1;

    if (train) {
        int BT = batch * seq;
        int *tok = malloc((size_t)(BT + 1) * sizeof(int));
        float *dlogprobs = malloc((size_t)BT * sizeof(float));
        unsigned char *mask = pst_gpt2_decay_mask(&m, &err);
        pst_adamw opt;
        int have_opt = 0;
        if (!tok || !dlogprobs || !mask) {
            fprintf(stderr, "bench_prior: out of memory%s%s\n", mask ? "" : ": ", mask ? "" : err.msg);
            goto train_done;
        }
        if (pst_adamw_create(&opt, m.num_params, 0.9f, 0.95f, 1e-8f, 0.1f, &err)) {
            fprintf(stderr, "bench_prior: %s\n", err.msg);
            goto train_done;
        }
        have_opt = 1;
        for (int i = 0; i <= BT; i++) tok[i] = (int)pst_rng_below(&rng, cfg.vocab_size);
        for (int s = 0; s <= steps; s++) { /* step 0 is the warm-up */
            if (s == 1) memset(m.op_seconds, 0, sizeof m.op_seconds), adamw_seconds = 0;
            double t0 = pst_now(), c0 = cpu_now(), loss;
            pst_gpt2_zero_grad(&m);
            if (pst_gpt2_cross_entropy(&m, tok, tok + 1, NULL, batch, seq, dlogprobs, &loss, &err) ||
                pst_gpt2_backward(&m, dlogprobs, &err)) {
                fprintf(stderr, "bench_prior: %s\n", err.msg);
                goto train_done;
            }
            double ta = pst_now();
            pst_adamw_update(&opt, m.param_memory, m.grad_memory, 1.0f, mask, m.num_params, 3e-4f);
            adamw_seconds += pst_now() - ta;
            double dt = pst_now() - t0;
            fprintf(stderr, "bench_prior: %s train step %d/%d  loss %.4f  %.2f s\n", config, s,
                    steps, loss, dt);
            if (s > 0) {
                seconds += dt;
                cpu_seconds += cpu_now() - c0;
            }
        }
        tokens = (double)BT * steps;
        rc = 0;
    train_done:
        if (have_opt) pst_adamw_free(&opt);
        free(tok);
        free(dlogprobs);
        free(mask);
    } else {
        int **prompts = malloc((size_t)batch * sizeof(int *)), *lens = malloc((size_t)batch * sizeof(int));
        int eot = cfg.vocab_size - 1;
        pst_sample *out = calloc((size_t)batch, sizeof(pst_sample));
        if (!prompts || !lens || !out) {
            fprintf(stderr, "bench_prior: out of memory\n");
            goto sample_done;
        }
        for (int i = 0; i < batch; i++) {
            prompts[i] = &eot;
            lens[i] = 1;
        }
        pst_sample_options o;
        pst_sample_options_default(&o);
        o.stop_at_eot = 0;
        o.bf16_weights = bf16;
        for (int pass = 0; pass < 2; pass++) { /* pass 0: warm-up */
            o.max_new_tokens = pass == 0 ? 4 : new_tokens;
            double t0 = pst_now(), c0 = cpu_now();
            if (pst_gpt2_sample(&m, (const int *const *)prompts, lens, batch, &o, &rng, out, &err)) {
                fprintf(stderr, "bench_prior: %s\n", err.msg);
                goto sample_done;
            }
            double dt = pst_now() - t0, cdt = cpu_now() - c0;
            int n_new = 0;
            for (int i = 0; i < batch; i++) n_new += out[i].n_tokens;
            pst_sample_free(out, batch);
            if (pass == 1) {
                seconds = dt;
                cpu_seconds = cdt;
                tokens = n_new;
            }
        }
        rc = 0;
    sample_done:
        free(prompts);
        free(lens);
        free(out);
    }
    if (rc == 0 && train) { /* the profile: mean seconds a step by operation, and the FLOPs of the products */
        const pst_gpt2_config *c = &m.config;
        double bt = (double)batch * seq;
        fprintf(stderr, "bench_prior: step by operation (s):");
        printf("{\"profile\": \"train\", \"config\": \"%s\", \"step_s\": {", config);
        for (int op = 0; op < PST_GPT2_OPS; op++)
            printf("\"%s\": %.5f, ", pst_gpt2_op_name(op), m.op_seconds[op] / steps),
                fprintf(stderr, " %s %.3f", pst_gpt2_op_name(op), m.op_seconds[op] / steps);
        printf("\"adamw\": %.5f}, \"matmul_flops\": %.6g, \"output_flops\": %.6g}\n", adamw_seconds / steps,
               6.0 * bt * 12.0 * c->n_layer * c->n_embd * c->n_embd, 6.0 * bt * c->vocab_size * c->n_embd);
        fprintf(stderr, " adamw %.3f\n", adamw_seconds / steps);
    }
    if (rc == 0) {
        const char *gemm = getenv("POSTERIOR_GEMM");
        /* bytes of weights read per decoding step: the matrices in bf16 when so */
        const pst_gpt2_config *c = &m.config;
        double matrices = (double)c->vocab_size * c->n_embd + 12.0 * c->n_layer * c->n_embd * c->n_embd;
        double weight_bytes = 4.0 * (double)m.num_params - (bf16 ? 2.0 * matrices : 0.0);
        printf("{\"impl\": \"%s\", \"config\": \"%s\", \"mode\": \"%s\", \"batch\": %d, \"seq\": %d, "
               "\"new_tokens\": %d, \"threads\": %d, \"params\": %zu, \"tokens_per_s\": %.3f, "
               "\"seconds\": %.3f, \"cpu_seconds\": %.3f, \"peak_rss_mb\": %.1f, \"flops_per_token\": %.6g, "
               "\"weight_bytes\": %.6g, \"gemm\": \"%s\"}\n",
               bf16 ? "c-bf16" : "c", config, mode, batch, train ? seq : 1, train ? 0 : new_tokens, omp_get_max_threads(),
               m.num_params, tokens / seconds, seconds, cpu_seconds, peak_rss_mb(),
               6.0 * n_flop_params + 12.0 * cfg.n_layer * cfg.n_embd * seq,
               weight_bytes, gemm && *gemm ? gemm : "auto");
    }
    pst_gpt2_free(&m);
    return rc;
}
