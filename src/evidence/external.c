/* external:CMD — a scorer process speaking JSON lines.
 *
 * CMD runs once under /bin/sh -c with a Unix socket pair as stdin/stdout
 * (stderr is inherited, so its messages reach the user). For each text we
 * write one request line
 *     {"id": N, "text": "...", "context": "..."}      (context only when given)
 * and the process answers one line per request, in any order:
 *     {"id": N, "score": x}   or   {"id": N, "features": [x1, ..., xk]}
 * (both may be given; an {"id": N, "error": "..."} answer fails the batch with
 * that message). A batch writes all its requests while reading answers
 * (poll, no deadlock), matches answers by id, and
 *   - fails after the timeout (default 60 s per batch, the start-up probe
 *     included; the process is stopped and started again on the next batch);
 *   - restarts the process once per batch when it exits or closes its output,
 *     resending the unanswered requests; a second crash fails the batch;
 *   - fails with the offending line when an answer is not such a JSON object.
 * The process is its own process group's leader; ext_stop ends the group
 * (EOF, then SIGTERM, then SIGKILL), so nothing it started is orphaned.
 * At creation the process is started and asked to score the empty text, which
 * fixes the kind (score or k features) for the scorer's lifetime.
 * Texts are sent as JSON strings; invalid UTF-8 bytes become U+FFFD.
 * A mutex serialises batches, so several threads may share the scorer. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evidence/scorer_internal.h"

typedef struct {
    char *cmd;
    pthread_mutex_t lock;
    pid_t pid;       /* 0 when not running */
    int fd;          /* our end of the socket pair, -1 when not running */
    char *rbuf;      /* bytes read but not yet a full line */
    size_t rlen, rcap;
    long long next_id;
    size_t k;        /* features per answer (0: score only) */
} external_impl;

#define STOP_GRACE_S 1.0 /* seconds to exit after EOF, and again after SIGTERM */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 1 when process pid has exited within `seconds` (it stays a zombie, not
 * reaped, so its pid -- the process group's id -- cannot be reused yet). */
static int exited_within(pid_t pid, double seconds) {
    double until = now_s() + seconds;
    for (;;) {
        siginfo_t info;
        info.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == pid) return 1;
        if (now_s() >= until) return 0;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Ends the process and everything it started (its process group, see
 * ext_start): closes our end of the socket (EOF on its stdin); unless
 * kill_now, waits STOP_GRACE_S for it to exit; then SIGTERM to the group,
 * STOP_GRACE_S more, then SIGKILL to the group -- also after a clean exit, for
 * children left behind -- and reaps it. Returns the wait status; *signalled
 * (may be NULL) is set when it had to be signalled. */
static int ext_stop(external_impl *x, int kill_now, int *signalled) {
    if (x->fd >= 0) close(x->fd);
    x->fd = -1;
    x->rlen = 0;
    int status = 0, sig = 0;
    if (x->pid > 0) {
        if (kill_now || !exited_within(x->pid, STOP_GRACE_S)) {
            sig = 1;
            kill(-x->pid, SIGTERM);
            kill(x->pid, SIGTERM); /* in case it is not (yet) its group's leader */
            exited_within(x->pid, STOP_GRACE_S);
        }
        kill(-x->pid, SIGKILL);
        kill(x->pid, SIGKILL);
        while (waitpid(x->pid, &status, 0) < 0 && errno == EINTR) {}
    }
    x->pid = 0;
    if (signalled) *signalled = sig;
    return status;
}

static int ext_start(external_impl *x, pst_error *err) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return pst_fail(err, "external scorer '%s': socketpair: %s", x->cmd, strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return pst_fail(err, "external scorer '%s': fork: %s", x->cmd, strerror(errno));
    }
    if (pid == 0) { /* child: only async-signal-safe calls until exec */
        setpgid(0, 0); /* its own process group, so stopping it reaches its children */
        if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0) _exit(127);
        execl("/bin/sh", "sh", "-c", x->cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: whichever runs first */
    close(sv[1]);
    int fl = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    x->fd = sv[0];
    x->pid = pid;
    x->rlen = 0;
    return 0;
}

/* ---- JSON request lines ---------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

static int buf_add(buf_t *b, const char *s, size_t n) {
    char *p = pst_grow(b->p, &b->cap, b->n + n, 1, 4096, NULL); /* the caller reports */
    if (!p) return -1;
    b->p = p;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

static int add_request(buf_t *b, long long id, const char *text, size_t len, const char *ctx) {
    char head[64];
    int h = snprintf(head, sizeof head, "{\"id\": %lld, \"text\": ", id);
    size_t qn;
    char *q = pst_json_quote(text, len, &qn);
    if (!q || buf_add(b, head, (size_t)h) < 0 || buf_add(b, q, qn) < 0) {
        free(q);
        return -1;
    }
    free(q);
    if (ctx) {
        q = pst_json_quote(ctx, strlen(ctx), &qn);
        if (!q || buf_add(b, ", \"context\": ", 13) < 0 || buf_add(b, q, qn) < 0) {
            free(q);
            return -1;
        }
        free(q);
    }
    return buf_add(b, "}\n", 2);
}

/* ---- one batch ------------------------------------------------------------- */

typedef struct {
    size_t n;
    const char *const *texts;
    const size_t *lens;
    const char *const *contexts;
    pst_score *out;
    char *answered;  /* [n] */
    size_t n_answered;
    long long base;  /* id of text 0 in this batch */
} batch_t;

/* Parses one answer line; 0 ok, -1 error (garbage). probe: learn k. */
static int take_answer(pst_scorer *s, external_impl *x, batch_t *b, const char *line, size_t len,
                       int probe, pst_error *err) {
    cJSON *j = cJSON_ParseWithLength(line, len);
    const char *why = NULL;
    char whybuf[160];
    cJSON *id = NULL, *score = NULL, *feats = NULL, *e = NULL;
    if (!j || !cJSON_IsObject(j)) {
        why = "not a JSON object";
        goto bad;
    }
    e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e) {
        pst_fail(err, "external scorer '%s' reported an error: %.300s", x->cmd,
                 cJSON_IsString(e) ? e->valuestring : "(non-string error)");
        cJSON_Delete(j);
        return -1;
    }
    id = cJSON_GetObjectItemCaseSensitive(j, "id");
    /* ids are below 2^53, where doubles hold every integer; the test also
     * keeps the conversion to long long defined (no 1e300, no inf) */
    if (!cJSON_IsNumber(id) || id->valuedouble != floor(id->valuedouble) ||
        fabs(id->valuedouble) > 9007199254740992.0) {
        why = "no \"id\" that is an integer below 2^53";
        goto bad;
    }
    long long v = (long long)id->valuedouble;
    if (v < b->base || v >= b->base + (long long)b->n) {
        snprintf(whybuf, sizeof whybuf, "id %lld was not asked for (this batch: %lld..%lld)", v,
                 b->base, b->base + (long long)b->n - 1);
        why = whybuf;
        goto bad;
    }
    size_t i = (size_t)(v - b->base);
    if (b->answered[i]) {
        snprintf(whybuf, sizeof whybuf, "id %lld answered twice", v);
        why = whybuf;
        goto bad;
    }
    score = cJSON_GetObjectItemCaseSensitive(j, "score");
    feats = cJSON_GetObjectItemCaseSensitive(j, "features");
    if (score && (!cJSON_IsNumber(score) || !isfinite(score->valuedouble))) {
        why = "\"score\" is not a finite number";
        goto bad;
    }
    if (feats) {
        if (!cJSON_IsArray(feats) || cJSON_GetArraySize(feats) < 1) {
            why = "\"features\" is not a non-empty array";
            goto bad;
        }
        size_t k = (size_t)cJSON_GetArraySize(feats);
        if (probe) x->k = k;
        if (k != x->k) {
            snprintf(whybuf, sizeof whybuf, "%zu features, expected %zu", k, x->k);
            why = whybuf;
            goto bad;
        }
        pst_score *r = &b->out[i];
        r->features = pst_calloc(k, sizeof(double), err);
        if (!r->features) {
            cJSON_Delete(j);
            return -1;
        }
        r->n_features = k;
        size_t q = 0;
        double sum = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, feats) {
            if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
                why = "a feature is not a finite number";
                goto bad;
            }
            r->features[q++] = it->valuedouble;
            sum += it->valuedouble;
        }
        r->score = score ? score->valuedouble : sum;
    } else if (score) {
        if (x->k && !probe) {
            snprintf(whybuf, sizeof whybuf, "no \"features\" (expected %zu)", x->k);
            why = whybuf;
            goto bad;
        }
        b->out[i].score = score->valuedouble;
    } else {
        why = "neither \"score\" nor \"features\"";
        goto bad;
    }
    b->answered[i] = 1;
    b->n_answered++;
    cJSON_Delete(j);
    return 0;
bad:
    cJSON_Delete(j);
    return pst_fail(err, "external scorer '%s' answered garbage (%s): '%.*s'", x->cmd, why,
                    (int)(len > 200 ? 200 : len), line);
}

/* Runs the batch against the current process. Returns 0 when all answered,
 * 1 when the process died (caller may restart), -1 on error. */
static int run_batch(pst_scorer *s, external_impl *x, batch_t *b, double deadline, int probe,
                     pst_error *err) {
    buf_t req = {0};
    for (size_t i = 0; i < b->n; i++)
        if (!b->answered[i] &&
            add_request(&req, b->base + (long long)i, b->texts[i], b->lens[i],
                        b->contexts ? b->contexts[i] : NULL) < 0) {
            free(req.p);
            return pst_fail_oom(err, "the requests to the external scorer");
        }
    size_t sent = 0;
    int rc = 0;
    while (b->n_answered < b->n) {
        double left = deadline - now_s();
        if (left <= 0) {
            rc = pst_fail(err, "external scorer '%s' timed out after %.3g s with %zu of %zu texts "
                          "answered", x->cmd, s->timeout, b->n_answered, b->n);
            ext_stop(x, 1, NULL);
            break;
        }
        struct pollfd p = {x->fd, POLLIN | (sent < req.n ? POLLOUT : 0), 0};
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            rc = pst_fail(err, "external scorer '%s': poll: %s", x->cmd, strerror(errno));
            break;
        }
        if (pr == 0) continue;
        if ((p.revents & POLLOUT) && sent < req.n) {
            ssize_t w = send(x->fd, req.p + sent, req.n - sent, MSG_NOSIGNAL);
            if (w > 0) sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                rc = 1; /* EPIPE / ECONNRESET: the process is gone */
                break;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (x->rcap - x->rlen < 65536) {
                size_t cap = x->rcap ? x->rcap * 2 : 65536;
                char *nb = pst_realloc(x->rbuf, cap, err);
                if (!nb) {
                    rc = -1;
                    break;
                }
                x->rbuf = nb;
                x->rcap = cap;
            }
            ssize_t r = read(x->fd, x->rbuf + x->rlen, x->rcap - x->rlen);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                rc = 1; /* EOF: the process exited or closed stdout */
                break;
            }
            if (r > 0) {
                x->rlen += (size_t)r;
                size_t start = 0;
                for (;;) {
                    char *nl = memchr(x->rbuf + start, '\n', x->rlen - start);
                    if (!nl) break;
                    size_t ll = (size_t)(nl - (x->rbuf + start));
                    const char *line = x->rbuf + start;
                    size_t skip = ll + 1;
                    while (ll > 0 && (line[ll - 1] == '\r' || line[ll - 1] == ' ')) ll--;
                    if (ll > 0 && take_answer(s, x, b, line, ll, probe, err) < 0) {
                        rc = -1;
                        break;
                    }
                    start += skip;
                }
                if (rc < 0) {
                    ext_stop(x, 1, NULL);
                    break;
                }
                memmove(x->rbuf, x->rbuf + start, x->rlen - start);
                x->rlen -= start;
            }
        }
    }
    free(req.p);
    return rc;
}

static int external_batch(pst_scorer *s, external_impl *x, size_t n, const char *const *texts,
                          const size_t *lens, const char *const *contexts, pst_score *out,
                          int probe, pst_error *err) {
    batch_t b = {n, texts, lens, contexts, out, NULL, 0, 0};
    b.answered = pst_calloc(n, 1, err);
    if (!b.answered) return -1;
    double deadline = now_s() + s->timeout;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (x->fd < 0 && (rc = ext_start(x, err)) < 0) break;
        b.base = x->next_id;
        x->next_id += (long long)n;
        rc = run_batch(s, x, &b, deadline, probe, err);
        if (rc <= 0) break;
        /* the process died or closed its output: end it, maybe restart once */
        int signalled;
        int status = ext_stop(x, 0, &signalled);
        if (attempt == 1) {
            char how[64];
            if (signalled) snprintf(how, sizeof how, "closed its output without exiting");
            else if (WIFSIGNALED(status)) snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(status));
            else snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
            rc = pst_fail(err, "external scorer '%s' %s twice in one batch (restarted once); "
                          "%zu of %zu texts answered", x->cmd, how, b.n_answered, n);
        }
    }
    free(b.answered);
    return rc;
}

static int external_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                          const char *const *contexts, int want_findings, pst_score *out,
                          pst_error *err) {
    external_impl *x = s->impl;
    pthread_mutex_lock(&x->lock);
    int rc = external_batch(s, x, n, texts, lens, contexts, out, 0, err);
    pthread_mutex_unlock(&x->lock);
    return rc;
}

static void external_destroy(void *p) {
    external_impl *x = p;
    if (!x) return;
    ext_stop(x, 0, NULL);
    pthread_mutex_destroy(&x->lock);
    free(x->rbuf);
    free(x->cmd);
    free(x);
}

static const pst_scorer_ops external_ops = {external_score, external_destroy};

int pst_scorer_create_external(const char *spec, size_t len, const char *cmd, double timeout,
                               pst_scorer **out, pst_error *err) {
    *out = NULL;
    const char *c = cmd;
    while (*c == ' ' || *c == '\t') c++;
    if (!*c) return pst_fail(err, "scorer '%.*s': expected external:CMD", (int)len, spec);
    external_impl *x = pst_calloc(1, sizeof *x, err);
    if (!x) return -1;
    x->fd = -1;
    pthread_mutex_init(&x->lock, NULL);
    x->cmd = pst_strdup(cmd, err);
    if (!x->cmd) {
        external_destroy(x);
        return -1;
    }
    pst_scorer *s;
    if (pst_scorer_make(spec, len, &external_ops, x, PST_SCORER_SCORE, &s, err) < 0) return -1;
    pst_scorer_set_timeout(s, timeout);
    /* probe: score the empty text to start the process and learn the kind */
    const char *empty = "";
    size_t zero = 0;
    pst_score r;
    memset(&r, 0, sizeof r);
    if (external_batch(s, x, 1, &empty, &zero, NULL, &r, 1, err) < 0) {
        pst_fail_context(err, "scorer '%.*s': probing with the empty text", (int)len, spec);
        pst_score_clear(&r);
        pst_scorer_free(s);
        return -1;
    }
    pst_score_clear(&r);
    if (x->k) {
        s->kind = PST_SCORER_FEATURES;
        s->k = x->k;
    }
    *out = s;
    return 0;
}
