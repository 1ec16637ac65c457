/* libFuzzer target: the external-scorer protocol (src/evidence/external.c): the
 * reply reader (line splitting, partial lines, EOF) and the answer parser, with
 * no process spawned. The scorer's end of a socket pair gets the fuzz input as
 * the "process's" replies, then EOF. Input: PROBE-REPLIES [%% BATCH-REPLIES]:
 * the replies to the start-up probe (one empty text, id 0, learns the kind)
 * and then to a batch of 3 texts (ids 1..3); each part is sent with a newline.
 * external.c is included so its private reader can be called directly. */
#include "../../src/evidence/external.c"

#include "fuzz.h"

/* Runs one batch of n texts against replies[0, len); returns run_batch's rc. */
static int batch(pst_scorer *s, external_impl *x, size_t n, int probe, const char *replies,
                 size_t len) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) abort();
    /* fits: max_len << socket buffer; the separator took the part's last newline */
    if ((len && write(sv[1], replies, len) != (ssize_t)len) || write(sv[1], "\n", 1) != 1) abort();
    shutdown(sv[1], SHUT_WR); /* then EOF */
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    x->fd = sv[0];
    x->pid = 0; /* no process: ext_stop only closes the socket */
    x->rlen = 0;
    static const char *const texts[3] = {"", "a", "b\nc"}, *const ctx[3] = {NULL, "ctx", NULL};
    static const size_t lens[3] = {0, 1, 3};
    pst_score out[3];
    memset(out, 0, sizeof out);
    char answered[3] = {0};
    batch_t b = {n, texts, lens, ctx, out, answered, 0, x->next_id};
    x->next_id += (long long)n;
    pst_error err;
    int rc = run_batch(s, x, &b, now_s() + 5.0, probe, &err);
    if (getenv("FUZZ_DEBUG")) fprintf(stderr, "batch n=%zu rc=%d answered=%zu: %s\n", n, rc, b.n_answered, rc ? err.msg : "");
    if (rc == 0 && b.n_answered != n) abort(); /* success means every text answered */
    for (size_t i = 0; i < n; i++) pst_score_clear(&out[i]);
    if (x->fd >= 0) close(x->fd);
    x->fd = -1;
    close(sv[1]);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_parts p = fuzz_split(data, size);
    pst_error err;
    /* a scorer shell as pst_scorer_create_external builds it, minus the probe */
    pst_scorer *s = pst_scorer_new("external:fuzz", 13, &err);
    external_impl *x = calloc(1, sizeof *x);
    if (!s || !x || !(x->cmd = strdup("fuzz"))) abort();
    x->fd = -1;
    pthread_mutex_init(&x->lock, NULL);
    s->ops = &external_ops;
    s->impl = x;
    s->timeout = 5.0;
    if (batch(s, x, 1, 1, p.data[0], p.len[0]) == 0 && p.n > 1)
        batch(s, x, 3, 0, p.data[1], p.len[1]);
    pst_scorer_free(s);
    return 0;
}
