/* posterior label serve (src/label/label.h): libmicrohttpd serves the page and a
 * small JSON API over the SQLite store; pairs are sampled from the model when a prompt
 * is first shown, stored, then shown (so a restart shows the same pair). One request at a
 * time (libmicrohttpd's internal polling thread): the model and the store are used by
 * that thread only. */
#include "label_internal.h"

#include "posterior/prior.h"
#include "posterior/scorer.h"
#include "posterior/tokenizer.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const pst_label_options *opt;
    lb_store store;
    pst_gpt2 model;
    pst_tokenizer *tok;
    int eot;
    char **prompts;
    long n_prompts;
} lb_server;

/* ---- prompts and pairs ---------------------------------------------------------------- */

/* The lines of the prompts file (a final newline ends the last line; \r dropped). */
static int read_prompts(lb_server *s, uint64_t *sum, pst_error *err) {
    char *text = NULL;
    size_t len;
    if (pst_read_file(s->opt->prompts_path, &text, &len, err) < 0) return -1;
    *sum = lb_checksum(text, len);
    long n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    if (len && text[len - 1] != '\n') n++;
    if (n == 0) {
        free(text);
        return pst_fail(err, "%s: no prompt (one prompt a line; an empty line asks for unconditional samples)",
                        s->opt->prompts_path);
    }
    if (!(s->prompts = pst_calloc((size_t)n, sizeof *s->prompts, err))) return free(text), -1;
    char *p = text;
    for (long i = 0; i < n; i++) {
        char *nl = strchr(p, '\n');
        size_t k = nl ? (size_t)(nl - p) : strlen(p);
        if (k && p[k - 1] == '\r') k--;
        if (!(s->prompts[i] = pst_strndup(p, k, err))) return free(text), -1;
        p = nl ? nl + 1 : p + k;
    }
    s->n_prompts = n;
    free(text);
    return 0;
}

/* The continuation of sample x as text (the end-of-text token dropped), valid UTF-8: a
 * byte-level model may stop inside a character; each invalid byte becomes U+FFFD. */
static char *continuation(lb_server *s, const pst_sample *x, pst_error *err) {
    int n = x->n_tokens;
    if (n > 0 && x->tokens[n - 1] == s->eot) n--;
    char *text = NULL, *out;
    size_t len, k = 0;
    if (pst_tokenizer_decode(s->tok, x->tokens, (size_t)n, &text, &len, err) < 0) return NULL;
    if (!(out = pst_malloc(3 * len + 1, err))) return free(text), NULL;
    for (size_t i = 0; i < len;) {
        size_t c = pst_utf8_valid_len(text + i, len - i);
        if (c && text[i]) memcpy(out + k, text + i, c), k += c, i += c;
        else memcpy(out + k, "\xEF\xBF\xBD", 3), k += 3, i++;
    }
    out[k] = 0;
    free(text);
    return out;
}

/* Samples the pair of prompt i (two continuations of <eot> + the prompt's tokens, drawn
 * from RNG stream i of the seed) and stores it. */
static int sample_item(lb_server *s, long i, pst_error *err) {
    int *ids = NULL;
    size_t n_ids = 0;
    const char *prompt = s->prompts[i];
    if (pst_tokenizer_encode(s->tok, prompt, strlen(prompt), 0, &ids, &n_ids, err) < 0) return -1;
    int keep = s->model.config.n_positions - s->opt->max_new_tokens - 1;
    if (keep < 0) keep = 0;
    size_t from = n_ids > (size_t)keep ? n_ids - (size_t)keep : 0; /* the prompt's end, when too long */
    int *ctx = pst_malloc((n_ids - from + 1) * sizeof *ctx, err);
    if (!ctx) return free(ids), -1;
    ctx[0] = s->eot;
    memcpy(ctx + 1, ids + from, (n_ids - from) * sizeof *ctx);
    const int *prompts[2] = {ctx, ctx};
    int lens[2] = {(int)(n_ids - from + 1), (int)(n_ids - from + 1)};
    pst_sample_options so;
    pst_sample_options_default(&so);
    so.max_new_tokens = s->opt->max_new_tokens, so.temperature = s->opt->temperature;
    so.eot_token = s->eot, so.stop_at_eot = 1;
    pst_rng base, rng;
    pst_rng_seed(&base, s->opt->seed);
    rng = pst_rng_split(&base, (uint64_t)i);
    pst_sample x[2] = {{0}};
    int rc = pst_gpt2_sample(&s->model, prompts, lens, 2, &so, &rng, x, err);
    char *a = rc == 0 ? continuation(s, &x[0], err) : NULL, *b = a ? continuation(s, &x[1], err) : NULL;
    if (rc == 0 && (!a || !b)) rc = -1;
    if (rc == 0) rc = lb_store_add_item(&s->store, i, prompt, a, b, err);
    free(a), free(b), free(ids), free(ctx);
    if (x[0].tokens || x[1].tokens) pst_sample_free(x, 2);
    return rc;
}

/* The state shown: the first unjudged item, sampling the next prompt's pair when every
 * stored item is judged and prompts remain. */
static int next_state(lb_server *s, lb_state *st, pst_error *err) {
    if (lb_store_state(&s->store, st, err) < 0) return -1;
    if (st->item) return 0;
    long i;
    if (lb_store_next_prompt(&s->store, &i, err) < 0) return -1;
    if (i >= s->n_prompts) return 0;
    if (sample_item(s, i, err) < 0) return -1;
    return lb_store_state(&s->store, st, err);
}

/* ---- HTTP ----------------------------------------------------------------------------- */

typedef struct {
    char *body;
    size_t n;
    int too_large;
} lb_request;

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type, char *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) return free(body), MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *msg) {
    char *q = pst_json_quote(msg, strlen(msg), NULL);
    size_t n = (q ? strlen(q) : 4) + 16;
    char *body = malloc(n);
    if (!body) return free(q), MHD_NO;
    snprintf(body, n, "{\"error\": %s}", q ? q : "null");
    free(q);
    return respond(c, status, "application/json", body);
}

static char *quoted(const char *s) {
    return pst_json_quote(s ? s : "", s ? strlen(s) : 0, NULL);
}

static enum MHD_Result respond_state(lb_server *s, struct MHD_Connection *c) {
    lb_state st;
    pst_error err = {0};
    if (next_state(s, &st, &err) < 0) return respond_error(c, 500, err.msg);
    char *p = quoted(st.prompt), *a = quoted(st.a), *b = quoted(st.b);
    size_t n = (p ? strlen(p) : 0) + (a ? strlen(a) : 0) + (b ? strlen(b) : 0) + 256;
    char *body = p && a && b ? malloc(n) : NULL;
    if (body)
        snprintf(body, n,
                 "{\"done\": %s, \"item\": %ld, \"prompt_index\": %ld, \"prompt\": %s, \"a\": %s, \"b\": %s, "
                 "\"judged\": %ld, \"skipped\": %ld, \"total\": %ld}",
                 st.item ? "false" : "true", st.item, st.prompt_index, p, a, b, st.judged, st.skipped, st.total);
    free(p), free(a), free(b);
    lb_state_free(&st);
    return body ? respond(c, 200, "application/json", body) : respond_error(c, 500, "out of memory");
}

/* POST /api/judge {"item": ID, "choice": "a"|"b"|"tie"|"skip"} */
static enum MHD_Result judge(lb_server *s, struct MHD_Connection *c, const lb_request *rq) {
    cJSON *j = cJSON_ParseWithLength(rq->body ? rq->body : "", rq->n);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(j, "item"), *ch = cJSON_GetObjectItemCaseSensitive(j, "choice");
    const char *choice = cJSON_IsString(ch) ? ch->valuestring : "";
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(item) ||
        !(strcmp(choice, "a") == 0 || strcmp(choice, "b") == 0 || strcmp(choice, "tie") == 0 ||
          strcmp(choice, "skip") == 0)) {
        cJSON_Delete(j);
        return respond_error(c, 400, "expected a JSON object {\"item\": ID, \"choice\": \"a\", \"b\", \"tie\" or \"skip\"}");
    }
    pst_error err = {0};
    int rc = lb_store_judge(&s->store, (long)item->valuedouble, choice, &err);
    cJSON_Delete(j);
    if (rc != 0) return respond_error(c, rc > 0 ? (unsigned)rc : 500, err.msg);
    return respond_state(s, c);
}

static enum MHD_Result route(lb_server *s, struct MHD_Connection *c, const char *url, const char *method,
                             const lb_request *rq) {
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (rq->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body over %zu bytes", s->opt->max_body);
        return respond_error(c, 413, msg);
    }
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
        if (!get) return respond_error(c, 405, "GET only");
        char *page = strdup(lb_page_html);
        return page ? respond(c, 200, "text/html; charset=utf-8", page) : MHD_NO;
    }
    if (strcmp(url, "/api/next") == 0) return get ? respond_state(s, c) : respond_error(c, 405, "GET only");
    if (strcmp(url, "/api/judge") == 0) return post ? judge(s, c, rq) : respond_error(c, 405, "POST only");
    if (strcmp(url, "/api/undo") == 0) {
        if (!post) return respond_error(c, 405, "POST only");
        long item;
        pst_error err = {0};
        if (lb_store_undo(&s->store, &item, &err) < 0) return respond_error(c, 500, err.msg);
        return respond_state(s, c);
    }
    return respond_error(c, 404, "no such page");
}

/* libmicrohttpd calls this first with *con_cls NULL, then once per piece of the body,
 * then with *upload_size 0: the body is kept up to max_body bytes, then only counted. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    lb_server *s = cls;
    lb_request *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_large && rq->n + *upload_size <= s->opt->max_body) {
            char *b = realloc(rq->body, rq->n + *upload_size + 1);
            if (!b) return MHD_NO;
            memcpy(b + rq->n, upload, *upload_size);
            rq->body = b, rq->n += *upload_size, b[rq->n] = 0;
        } else {
            rq->too_large = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(s, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t) {
    lb_request *rq = *con_cls;
    if (rq) free(rq->body), free(rq);
    *con_cls = NULL;
}

/* A listening TCP socket on host:port (port 0: any free one; *bound: the port taken). */
static int listen_on(const char *host, int port, int *bound, pst_error *err) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return pst_fail_field(err, "host", "host '%s' is not an IPv4 address (e.g. 127.0.0.1)", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return pst_fail(err, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return pst_fail_field(err, "port", "%s:%d is in use (another server listens there); choose another port",
                                  host, port);
        return pst_fail_field(err, "port", "cannot listen on %s:%d: %s", host, port, strerror(e));
    }
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *bound = ntohs(a.sin_port);
    return fd;
}

static int load(lb_server *s, pst_error *err) {
    uint64_t sum;
    if (pst_gpt2_load(&s->model, s->opt->model_dir, err) < 0) return -1;
    if (pst_tokenizer_load_dir(&s->tok, s->opt->model_dir, err) < 0)
        return pst_fail_context(err, "%s: the model's tokenizer", s->opt->model_dir);
    s->eot = pst_tokenizer_token_id(s->tok, "<|endoftext|>");
    if (s->eot < 0 || s->eot >= s->model.config.vocab_size)
        return pst_fail(err, "%s: the tokenizer has no <|endoftext|> in the model's vocabulary", s->opt->model_dir);
    if (read_prompts(s, &sum, err) < 0) return -1;
    return lb_store_open(&s->store, s->opt->db_path, s->opt->prompts_path, sum, s->n_prompts, s->opt->model_dir, err);
}

static void unload(lb_server *s) {
    lb_store_close(&s->store);
    if (s->tok) pst_tokenizer_free(s->tok);
    pst_gpt2_free(&s->model);
    for (long i = 0; i < s->n_prompts; i++) free(s->prompts[i]);
    free(s->prompts);
}

int pst_label_serve(const pst_label_options *o, pst_error *err) {
    if (o->max_new_tokens < 1) return pst_fail_field(err, "max_new_tokens", "max_new_tokens must be at least 1");
    if (o->port < 0 || o->port > 65535) return pst_fail_field(err, "port", "port must be in [0, 65535], got %d", o->port);
    lb_server s = {.opt = o};
    int bound = 0, fd = -1, rc = load(&s, err);
    if (rc == 0 && (fd = listen_on(o->host, o->port, &bound, err)) < 0) rc = -1;
    struct MHD_Daemon *d = NULL;
    if (rc == 0) {
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, &s, MHD_OPTION_LISTEN_SOCKET,
                             fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned)30, MHD_OPTION_END);
        if (!d) rc = pst_fail(err, "cannot start the HTTP server on %s:%d", o->host, bound), close(fd);
    }
    if (rc == 0) {
        char url[128];
        snprintf(url, sizeof url, "http://%s:%d/", o->host, bound);
        if (o->on_ready) o->on_ready(url, o->ctx);
        struct timespec tick = {0, 50 * 1000 * 1000};
        while (!(o->stop && *o->stop)) nanosleep(&tick, NULL);
        MHD_stop_daemon(d); /* closes the listening socket too */
    }
    unload(&s);
    return rc;
}
