/* posterior — base layer: errors, random numbers, files, logging, matrix products.
 *
 * Conventions used by every layer:
 *  - A function that can fail returns 0 on success and -1 on failure, and fills
 *    a pst_error with a message naming the file / field / value and what is wrong.
 *    Library messages never name a command-line flag: when a message is about an
 *    option, pst_fail_field also records the option's field name (err->field, e.g.
 *    "max_proposals"), and the CLI adds the matching flag.
 *  - Library code never calls exit() and never prints to stdout.
 *  - No global mutable state: everything lives in structs the caller owns.
 */
#ifndef POSTERIOR_BASE_H
#define POSTERIOR_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ---------------------------------------------------------- */

typedef struct {
    char msg[1024];
    char field[64]; /* the option field the message is about ("" when none) */
} pst_error;

/* Formats the message into err (if err is not NULL), clears err->field, returns -1. */
int pst_fail(pst_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a message about an option field (its name as in the options struct,
 * e.g. "max_proposals"): err->field = field. Returns -1. */
int pst_fail_field(pst_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "context: " to an existing message; returns -1. */
int pst_fail_context(pst_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checked allocation (llm.c's habit): the allocation carries its own check,
 *     double *w = pst_malloc(sizeof *w * n, err);
 *     if (!w) return -1;
 * and every failure says the same thing, "out of memory: N bytes", in err.
 * Each returns NULL and fills err on failure; a size of 0 still gives a pointer.
 * pst_calloc zeroes (and checks count * size for overflow); pst_realloc leaves p
 * intact on failure; pst_aligned_alloc aligns to 64 bytes (free with free()). */
void *pst_malloc(size_t bytes, pst_error *err);
void *pst_calloc(size_t count, size_t size, pst_error *err);
void *pst_realloc(void *p, size_t bytes, pst_error *err);
char *pst_strdup(const char *s, pst_error *err);
char *pst_strndup(const char *s, size_t n, pst_error *err); /* at most n bytes of s, NUL-ended */
void *pst_aligned_alloc(size_t bytes, pst_error *err);
/* A large buffer that is filled at once (a copy of a model's weights): aligned to 2 MB,
 * with transparent huge pages asked for (madvise), so that its first touch faults in 2 MB
 * pages instead of 4 KB ones where the kernel allows it (free with free()). */
void *pst_large_alloc(size_t bytes, pst_error *err);
/* Growable arrays, one way: makes room for need elements of elem bytes in p (NULL:
 * none yet), whose capacity is *cap elements, doubling from first (or *cap) until need
 * fits;
 *     pst_span *v = pst_grow(l->v, &l->cap, l->n + 1, sizeof *v, 16, err);
 *     if (!v) return -1;
 *     l->v = v;
 * Returns p itself when it already has room, the reallocated array (*cap updated), or
 * NULL with err filled (p intact, *cap unchanged). */
void *pst_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first, pst_error *err);
/* A file's own growable array of T, declared in one line (klib's kvec habit):
 *     PST_ARRAY(span_list, pst_span)
 * is   typedef struct { pst_span *v; size_t n, cap; } span_list;   with
 *     static int span_list_push(span_list *l, pst_span x, pst_error *err);
 * which appends x (0, or -1 with err filled when out of memory; err may be NULL).
 * Start from {0}; free(l.v) when done. */
#define PST_ARRAY(name, T)                                                    \
    typedef struct {                                                          \
        T *v;                                                                 \
        size_t n, cap;                                                        \
    } name;                                                                   \
    static inline int name##_push(name *l, T x, pst_error *err) {             \
        T *v = (T *)pst_grow(l->v, &l->cap, l->n + 1, sizeof *v, 16, err);    \
        if (!v) return -1;                                                    \
        l->v = v;                                                             \
        l->v[l->n++] = x;                                                     \
        return 0;                                                             \
    }
/* The same message for an allocator of another library (cJSON, PCRE2) that returned
 * NULL: "out of memory: <what>"; returns -1. */
int pst_fail_oom(pst_error *err, const char *what);

/* ---- random numbers -------------------------------------------------- */

/* xoshiro256** seeded by splitmix64. The whole state is these 4 words, so it is
 * saved in training state and restored exactly on --resume. */
typedef struct {
    uint64_t s[4];
} pst_rng;

void pst_rng_seed(pst_rng *rng, uint64_t seed);
uint64_t pst_rng_u64(pst_rng *rng);
double pst_rng_uniform(pst_rng *rng);           /* in [0, 1) */
double pst_rng_normal(pst_rng *rng);            /* standard normal */
uint64_t pst_rng_below(pst_rng *rng, uint64_t n); /* uniform in [0, n), unbiased */
/* An independent stream derived from rng and a label (e.g. thread or purpose). */
pst_rng pst_rng_split(const pst_rng *rng, uint64_t label);

/* ---- files ----------------------------------------------------------- */

/* Reads a whole file; *out is malloc'd and NUL-terminated (len excludes the NUL). */
int pst_read_file(const char *path, char **out, size_t *len, pst_error *err);
/* Writes data to path atomically: path.tmp.<pid>, fsync, rename. An existing
 * file at path is left intact if anything fails. */
int pst_write_file_atomic(const char *path, const void *data, size_t len, pst_error *err);
/* Same, writing n_parts buffers one after another (no concatenated copy in memory). */
int pst_write_file_atomic_parts(const char *path, const void *const *parts, const size_t *lens,
                                int n_parts, pst_error *err);
/* mkdir -p */
int pst_mkdir_p(const char *path, pst_error *err);
int pst_file_exists(const char *path);
/* Joins a directory and a file name into buf; returns -1 if it does not fit. */
int pst_path_join(char *buf, size_t cap, const char *dir, const char *name, pst_error *err);

/* Removes a directory tree (or a file); a missing path is fine. Symbolic links are
 * removed, never followed. */
int pst_remove_tree(const char *path, pst_error *err);
/* Removes, anywhere under dir, the temporaries NAME.tmp.PID (files or directories) that
 * an atomic write or a checkpoint of a process that no longer runs left behind (a kill).
 * Temporaries of live processes are kept. */
int pst_remove_stale_tmp(const char *dir, pst_error *err);
/* Makes path a symbolic link to target, atomically (a link at path.tmp.PID, renamed over
 * path). Fails when path is a directory. */
int pst_symlink_atomic(const char *target, const char *path, pst_error *err);

/* ---- the environment (src/base/env.c: every variable the library reads) ---- */

/* The data folder: env POSTERIOR_DATA, else the repository's data/ compiled in as
 * POSTERIOR_DATA_DIR; an error when neither is set. */
int pst_data_dir(char *buf, size_t cap, pst_error *err);
/* POSTERIOR_PYTHON_STDLIB (the python-stdlib corpus folder), NULL when unset or empty. */
const char *pst_env_python_stdlib(void);
/* POSTERIOR_GEMM (the matrix-product kernel to force), NULL when unset or empty. */
const char *pst_env_gemm(void);
/* The number of processes an MPI launcher started (mpirun / mpiexec / srun set
 * OMPI_COMM_WORLD_SIZE or PMI_SIZE; PMIX_RANK alone counts as 1), 0 when none started
 * this one: include/posterior/comm.h. */
int pst_env_mpi_size(void);
/* 1 when the caller chose how idle OpenMP threads wait: OMP_WAIT_POLICY or GOMP_SPINCOUNT
 * set (the CLI's OpenMP defaults leave such a choice alone). */
int pst_env_omp_wait_chosen(void);
/* The folder for what the library measures once per machine (base/cpu.c): env
 * POSTERIOR_CACHE_DIR, else $XDG_CACHE_HOME/posterior, else $HOME/.cache/posterior;
 * -1 when none is set or the path does not fit. */
int pst_env_cache_dir(char *buf, size_t cap);

/* ---- checkpoints (docs/formats.md, "Checkpoints") ---------------------
 * One checkpoint of a run = one directory ROOT/ckpt-STEP/, made complete before it is
 * visible:
 *   1. pst_checkpoint_begin: ROOT/ckpt-STEP.tmp.PID/ is created; the caller writes every
 *      file of the checkpoint into c->tmp;
 *   2. pst_checkpoint_commit: every file and directory in it is fsync'd, then one
 *      rename(2) makes it ROOT/ckpt-STEP (ROOT fsync'd); then the symbolic link
 *      ROOT/latest -> ckpt-STEP is replaced atomically and every other ckpt-* removed.
 * A kill at any point leaves ROOT with its previous checkpoint intact and visible.
 * pst_checkpoint_find (resume) takes the highest complete ckpt-STEP, re-points latest,
 * and removes what killed runs left (temporaries are never loaded). */
typedef struct {
    char root[4096], tmp[4096], dir[4096], name[64];
} pst_checkpoint;

int pst_checkpoint_begin(pst_checkpoint *c, const char *root, long step, pst_error *err);
int pst_checkpoint_commit(pst_checkpoint *c, pst_error *err);
/* Removes c->tmp (after a failed write). */
void pst_checkpoint_abort(pst_checkpoint *c);
/* Returns 1 with ROOT/ckpt-STEP in dir[cap] and STEP in *step (may be NULL), 0 when ROOT
 * holds no complete checkpoint (or does not exist), -1 on error. */
int pst_checkpoint_find(const char *root, char *dir, size_t cap, long *step, pst_error *err);

/* ---- metrics --------------------------------------------------------- */

/* Appends one JSON object per line to a metrics file (JSONL). The line is
 * written and flushed in one call, so a crash never leaves half a line. */
typedef struct {
    FILE *file;
} pst_metrics;

/* resume_step < 0: a new file; >= 0: a resumed run's file, cut after that step
 * (pst_metrics_truncate), then appended to. */
int pst_metrics_open(pst_metrics *m, const char *path, long resume_step, pst_error *err);
/* fmt is the body of a JSON object without braces, e.g. "\"step\": %d, \"loss\": %.6f". */
void pst_metrics_write(pst_metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pst_metrics_close(pst_metrics *m);

/* Keeps the complete lines of a metrics file whose "step" is <= step (a resumed run then
 * rewrites what follows its checkpoint); a missing file is fine. */
int pst_metrics_truncate(const char *path, long step, pst_error *err);

/* ---- JSON text (src/base/json.c) ------------------------------------- */

/* A number for JSON output: "%.{digits}g" in buf, or "null" when x is not finite
 * (JSON has no inf/NaN). Returns the text to print. */
const char *pst_json_number(char buf[32], double x, int digits);
/* s[0, n) as a quoted JSON string, always valid UTF-8: control characters
 * escaped, each byte of an invalid UTF-8 sequence (and NUL) as \ufffd / \u0000.
 * Returns malloc'd text (NULL when out of memory); *out_len excludes the NUL. */
char *pst_json_quote(const char *s, size_t n, size_t *out_len);
/* Length (1..4) of the valid UTF-8 sequence starting s[0, n); 0 when it is invalid
 * (overlong, surrogate, past U+10FFFF, cut short) or n is 0. */
size_t pst_utf8_valid_len(const char *s, size_t n);

/* ---- progress -------------------------------------------------------- */

/* Progress on stderr, redrawn in place, only when stderr is a terminal:
 *   "label  step 120/1000  12.0%  3456 tok/s  ETA 1m23s  <extra>" */
typedef struct {
    const char *label;
    long total;
    double start_time;
    double last_draw;
    int enabled;
} pst_progress;

void pst_progress_start(pst_progress *p, const char *label, long total);
void pst_progress_update(pst_progress *p, long done, double tokens_per_s, const char *extra);
void pst_progress_finish(pst_progress *p);
double pst_now(void); /* monotonic seconds */

/* ---- numerics -------------------------------------------------------- */

/* log(sum(exp(x[i]))) computed stably; -inf for n == 0 or all -inf. */
double pst_logsumexp(const double *x, size_t n);
/* Sorts x[0, n) in place, ascending (NaN placement unspecified). */
void pst_sort_doubles(double *x, size_t n);

/* Row-major single-precision GEMM:
 *   C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C
 * op(A) = A (lda >= K) or A^T when trans_a (A stored [K,M], lda >= M); same for B.
 * Dispatches at run time to the fastest kernel available (see base/gemm.c). */
void pst_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc);

#ifdef __cplusplus
}
#endif

#endif
