/* The labelling page's SQLite store (src/label/label.h): WAL, synchronous=FULL,
 * one transaction per write, so a killed server loses no judgement it answered. */
#include "label_internal.h"

#include "posterior/pairs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, prompt_index INTEGER NOT NULL UNIQUE,"
    " prompt TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS judgements(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " item INTEGER NOT NULL UNIQUE REFERENCES items(id),"
    " choice TEXT NOT NULL CHECK(choice IN ('a','b','tie','skip')), at TEXT NOT NULL DEFAULT (datetime('now')));";

uint64_t lb_checksum(const char *data, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
    return h;
}

static int db_fail(lb_store *st, pst_error *err, const char *what) {
    return pst_fail(err, "%s: %s: %s", st->path, what, st->db ? sqlite3_errmsg(st->db) : "cannot open");
}

static int exec(lb_store *st, const char *sql, pst_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    pst_fail(err, "%s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    return -1;
}

/* meta[key] into buf ("" when missing). */
static int meta_get(lb_store *st, const char *key, char *buf, size_t cap, pst_error *err) {
    sqlite3_stmt *q;
    buf[0] = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = ?", -1, &q, NULL) != SQLITE_OK)
        return db_fail(st, err, "reading meta");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return 0;
}

static int meta_set(lb_store *st, const char *key, const char *value, pst_error *err) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &q, NULL) != SQLITE_OK)
        return db_fail(st, err, "writing meta");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_fail(st, err, "writing meta");
    sqlite3_finalize(q);
    return rc;
}

static int open_db(lb_store *st, const char *path, int flags, pst_error *err) {
    memset(st, 0, sizeof *st);
    st->path = path;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        int rc = db_fail(st, err, "cannot open the database");
        sqlite3_close(st->db), st->db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(st->db, 5000);
    return 0;
}

int lb_store_open(lb_store *st, const char *path, const char *prompts_path, uint64_t sum, long n_prompts,
                  const char *model, pst_error *err) {
    if (open_db(st, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err) < 0) return -1;
    st->n_prompts = n_prompts;
    char want[64], got[64], was[4096];
    snprintf(want, sizeof want, "%016" PRIx64 ":%ld", sum, n_prompts);
    if (exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err) < 0 ||
        exec(st, schema, err) < 0 || meta_get(st, "prompts", got, sizeof got, err) < 0 ||
        meta_get(st, "prompts_path", was, sizeof was, err) < 0)
        return lb_store_close(st), -1;
    if (got[0] && strcmp(got, want) != 0) {
        pst_fail(err, "%s: this database holds judgements of another prompts file (%s, checksum:lines %s), not %s "
                      "(%s); use a new database for these prompts",
                 path, was, got, prompts_path, want);
        return lb_store_close(st), -1;
    }
    if (!got[0] && (exec(st, "BEGIN IMMEDIATE", err) < 0 || meta_set(st, "prompts", want, err) < 0 ||
                    meta_set(st, "prompts_path", prompts_path, err) < 0 || meta_set(st, "model", model, err) < 0 ||
                    exec(st, "COMMIT", err) < 0))
        return lb_store_close(st), -1;
    return 0;
}

int lb_store_open_existing(lb_store *st, const char *path, pst_error *err) {
    if (!pst_file_exists(path)) return pst_fail(err, "%s: no such database", path);
    if (open_db(st, path, SQLITE_OPEN_READONLY, err) < 0) return -1;
    char got[64];
    if (meta_get(st, "prompts", got, sizeof got, err) < 0) {
        pst_fail_context(err, "not a database of posterior label serve");
        return lb_store_close(st), -1;
    }
    if (!got[0]) {
        pst_fail(err, "%s: not a database of posterior label serve (no prompts file recorded)", path);
        return lb_store_close(st), -1;
    }
    return 0;
}

void lb_store_close(lb_store *st) {
    if (st->db) sqlite3_close(st->db);
    st->db = NULL;
}

static long count(lb_store *st, const char *sql) {
    sqlite3_stmt *q;
    long n = -1;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(q) == SQLITE_ROW) n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

int lb_store_next_prompt(lb_store *st, long *prompt_index, pst_error *err) {
    long n = count(st, "SELECT COALESCE(MAX(prompt_index) + 1, 0) FROM items");
    if (n < 0) return db_fail(st, err, "reading items");
    *prompt_index = n;
    return 0;
}

int lb_store_add_item(lb_store *st, long prompt_index, const char *prompt, const char *a, const char *b,
                      pst_error *err) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO items(prompt_index, prompt, a, b) VALUES(?, ?, ?, ?)", -1, &q,
                           NULL) != SQLITE_OK)
        return db_fail(st, err, "adding an item");
    sqlite3_bind_int64(q, 1, prompt_index);
    sqlite3_bind_text(q, 2, prompt, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, a, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_fail(st, err, "adding an item");
    sqlite3_finalize(q);
    return rc;
}

void lb_state_free(lb_state *s) {
    free(s->prompt), free(s->a), free(s->b);
    memset(s, 0, sizeof *s);
}

static char *column_dup(sqlite3_stmt *q, int c, pst_error *err) {
    const char *t = (const char *)sqlite3_column_text(q, c);
    return pst_strdup(t ? t : "", err);
}

int lb_store_state(lb_store *st, lb_state *s, pst_error *err) {
    memset(s, 0, sizeof *s);
    s->total = st->n_prompts;
    s->judged = count(st, "SELECT COUNT(*) FROM judgements WHERE choice != 'skip'");
    s->skipped = count(st, "SELECT COUNT(*) FROM judgements WHERE choice = 'skip'");
    if (s->judged < 0 || s->skipped < 0) return db_fail(st, err, "counting judgements");
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, prompt_index, prompt, a, b FROM items WHERE id NOT IN "
                           "(SELECT item FROM judgements) ORDER BY id LIMIT 1",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(st, err, "reading items");
    int rc = 0;
    if (sqlite3_step(q) == SQLITE_ROW) {
        s->item = sqlite3_column_int64(q, 0), s->prompt_index = sqlite3_column_int64(q, 1);
        if (!(s->prompt = column_dup(q, 2, err)) || !(s->a = column_dup(q, 3, err)) || !(s->b = column_dup(q, 4, err)))
            rc = -1;
    }
    sqlite3_finalize(q);
    if (rc < 0) lb_state_free(s);
    return rc;
}

int lb_store_judge(lb_store *st, long item, const char *choice, pst_error *err) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT (SELECT COUNT(*) FROM items WHERE id = ?1), "
                                   "(SELECT COUNT(*) FROM judgements WHERE item = ?1)", -1, &q, NULL) != SQLITE_OK)
        return db_fail(st, err, "reading items");
    sqlite3_bind_int64(q, 1, item);
    int exists = 0, judged = 0;
    if (sqlite3_step(q) == SQLITE_ROW) exists = sqlite3_column_int(q, 0), judged = sqlite3_column_int(q, 1);
    sqlite3_finalize(q);
    if (!exists) return pst_fail(err, "no item %ld", item), 404;
    if (judged) return pst_fail(err, "item %ld is judged already (undo it first)", item), 409;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO judgements(item, choice) VALUES(?, ?)", -1, &q, NULL) != SQLITE_OK)
        return db_fail(st, err, "recording a judgement");
    sqlite3_bind_int64(q, 1, item);
    sqlite3_bind_text(q, 2, choice, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_fail(st, err, "recording a judgement"); /* autocommit: one transaction */
    sqlite3_finalize(q);
    return rc;
}

int lb_store_undo(lb_store *st, long *item, pst_error *err) {
    *item = count(st, "SELECT COALESCE((SELECT item FROM judgements ORDER BY id DESC LIMIT 1), 0)");
    if (*item < 0) return db_fail(st, err, "reading judgements");
    if (*item == 0) return 0;
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM judgements WHERE item = %ld", *item);
    return exec(st, sql, err);
}

/* ---- export ----------------------------------------------------------------------------- */

static int collect_pairs(lb_store *st, pst_pair **out, size_t *n, size_t *identical, pst_error *err) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT i.prompt, i.a, i.b, j.choice FROM judgements j JOIN items i ON i.id = j.item "
                                   "WHERE j.choice != 'skip' ORDER BY j.id", -1, &q, NULL) != SQLITE_OK)
        return db_fail(st, err, "reading judgements");
    pst_pair *v = NULL;
    size_t k = 0;
    int rc = 0;
    while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
        const char *prompt = (const char *)sqlite3_column_text(q, 0), *a = (const char *)sqlite3_column_text(q, 1),
                   *b = (const char *)sqlite3_column_text(q, 2), *choice = (const char *)sqlite3_column_text(q, 3);
        if (strcmp(a, b) == 0) {
            (*identical)++;
            continue;
        }
        pst_pair *w = pst_realloc(v, (k + 1) * sizeof *w, err);
        if (!w) {
            rc = -1;
            break;
        }
        v = w;
        int b_wins = strcmp(choice, "b") == 0;
        pst_pair *p = &v[k++];
        memset(p, 0, sizeof *p);
        p->tie = strcmp(choice, "tie") == 0;
        p->line = (long)k;
        if (!(p->prompt = pst_strdup(prompt, err)) || !(p->chosen = pst_strdup(b_wins ? b : a, err)) ||
            !(p->rejected = pst_strdup(b_wins ? a : b, err)))
            rc = -1;
    }
    sqlite3_finalize(q);
    *out = v, *n = k;
    return rc;
}

int pst_label_export(const char *db_path, const char *out_path, size_t *n, size_t *identical, pst_error *err) {
    lb_store st;
    size_t same = 0, k = 0;
    pst_pair *pairs = NULL;
    if (lb_store_open_existing(&st, db_path, err) < 0) return -1;
    int rc = collect_pairs(&st, &pairs, &k, &same, err);
    lb_store_close(&st);
    if (rc == 0 && k == 0) rc = pst_fail(err, "%s: no judged pair to export (%zu with identical texts)", db_path, same);
    if (rc == 0) rc = pst_pairs_write(out_path, pairs, k, err);
    for (size_t i = 0; i < k; i++) free(pairs[i].prompt), free(pairs[i].chosen), free(pairs[i].rejected);
    free(pairs);
    if (n) *n = rc == 0 ? k : 0;
    if (identical) *identical = same;
    return rc;
}
