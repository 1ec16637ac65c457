/* Checkpoint directories (include/posterior/base.h, docs/formats.md "Checkpoints"):
 * a checkpoint is written complete under a temporary name, fsync'd, made visible by one
 * rename(2), then ROOT/latest is re-pointed atomically; what a kill leaves is removed. */
#include "posterior/base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- trees and temporaries ------------------------------------------------------- */

static int tree_errno; /* the first error of an nftw walk (the callbacks take no context) */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT && !tree_errno) tree_errno = errno;
    return 0;
}

int pst_remove_tree(const char *path, pst_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : pst_fail(err, "%s: %s", path, strerror(errno));
    tree_errno = 0;
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && !tree_errno) tree_errno = errno;
    if (tree_errno) return pst_fail(err, "%s: cannot remove: %s", path, strerror(tree_errno));
    return 0;
}

/* The PID of a temporary name NAME.tmp.PID (the last ".tmp."), or 0 when name is not one. */
static long tmp_name_pid(const char *name) {
    const char *t = NULL;
    for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp.")) t = p;
    if (!t || !t[5]) return 0;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    return *end == 0 && pid > 0 && t[5] >= '0' && t[5] <= '9' ? pid : 0;
}

static int process_alive(long pid) {
    return pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int pst_remove_stale_tmp(const char *dir, pst_error *err) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT || errno == ENOTDIR ? 0 : pst_fail(err, "%s: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[4096];
        struct stat st;
        if (pst_path_join(path, sizeof path, dir, e->d_name, err)) {
            rc = -1;
            break;
        }
        long pid = tmp_name_pid(e->d_name);
        if (pid && !process_alive(pid)) rc = pst_remove_tree(path, err);
        else if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) rc = pst_remove_stale_tmp(path, err);
    }
    closedir(d);
    return rc;
}

int pst_symlink_atomic(const char *target, const char *path, pst_error *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return pst_fail(err, "%s: path too long", path);
    unlink(tmp);
    if (symlink(target, tmp) != 0) return pst_fail(err, "%s: cannot create a link: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
            return pst_fail(err, "%s is a directory, not a link to %s", path, target);
        return pst_fail(err, "%s: cannot replace: %s", path, strerror(e));
    }
    return 0;
}

/* ---- fsync ----------------------------------------------------------------------- */

static int sync_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag != FTW_F && flag != FTW_D && flag != FTW_DP) return 0; /* links: nothing to flush */
    if (!S_ISREG(sb->st_mode) && !S_ISDIR(sb->st_mode)) return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        if (!tree_errno) tree_errno = errno;
        if (fd >= 0) close(fd);
        return 1;
    }
    close(fd);
    return 0;
}

/* fsync of every file and directory under path (and path itself). */
static int sync_tree(const char *path, pst_error *err) {
    tree_errno = 0;
    if (nftw(path, sync_entry, 16, FTW_PHYS) != 0 || tree_errno)
        return pst_fail(err, "%s: cannot flush: %s", path, strerror(tree_errno ? tree_errno : errno));
    return 0;
}

/* ---- checkpoints ----------------------------------------------------------------- */

/* STEP of a complete checkpoint's name "ckpt-STEP", or -1. */
static long ckpt_name_step(const char *name) {
    if (strncmp(name, "ckpt-", 5) != 0 || name[5] < '0' || name[5] > '9') return -1;
    char *end;
    errno = 0;
    long step = strtol(name + 5, &end, 10);
    return *end == 0 && errno == 0 ? step : -1;
}

int pst_checkpoint_begin(pst_checkpoint *c, const char *root, long step, pst_error *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "ckpt-%ld", step);
    if (snprintf(c->root, sizeof c->root, "%s", root) >= (int)sizeof c->root ||
        pst_path_join(c->dir, sizeof c->dir, root, c->name, err) ||
        snprintf(c->tmp, sizeof c->tmp, "%s.tmp.%ld", c->dir, (long)getpid()) >= (int)sizeof c->tmp)
        return pst_fail(err, "%s: path too long", root);
    if (pst_mkdir_p(root, err) || pst_remove_tree(c->tmp, err)) return -1;
    if (mkdir(c->tmp, 0755) != 0) return pst_fail(err, "%s: cannot create: %s", c->tmp, strerror(errno));
    return 0;
}

void pst_checkpoint_abort(pst_checkpoint *c) {
    if (c->tmp[0]) pst_remove_tree(c->tmp, NULL);
}

/* Removes ROOT's complete checkpoints other than keep. */
static int remove_other_checkpoints(const char *root, const char *keep, pst_error *err) {
    DIR *d = opendir(root);
    if (!d) return pst_fail(err, "%s: %s", root, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        char path[4096];
        if (ckpt_name_step(e->d_name) < 0 || strcmp(e->d_name, keep) == 0) continue;
        rc = pst_path_join(path, sizeof path, root, e->d_name, err) || pst_remove_tree(path, err) ? -1 : 0;
    }
    closedir(d);
    return rc;
}

static int sync_dir(const char *dir, pst_error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return pst_fail(err, "%s: cannot flush: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

/* ROOT/latest -> name, unless it already points there. */
static int point_latest(const char *root, const char *name, pst_error *err) {
    char latest[4096], now[256];
    if (pst_path_join(latest, sizeof latest, root, "latest", err)) return -1;
    ssize_t n = readlink(latest, now, sizeof now - 1);
    if (n >= 0) now[n] = 0;
    if (n >= 0 && strcmp(now, name) == 0) return 0;
    if (n < 0 && errno == EINVAL) unlink(latest); /* a plain file (runs before links) */
    return pst_symlink_atomic(name, latest, err) || sync_dir(root, err) ? -1 : 0;
}

int pst_checkpoint_commit(pst_checkpoint *c, pst_error *err) {
    char replaced[4096] = "";
    if (sync_tree(c->tmp, err)) goto fail;
    if (pst_file_exists(c->dir)) { /* the same step of an earlier run: set aside, removed below */
        snprintf(replaced, sizeof replaced, "%s.replaced.tmp.%ld", c->dir, (long)getpid());
        if (rename(c->dir, replaced) != 0) {
            pst_fail(err, "%s: cannot replace: %s", c->dir, strerror(errno));
            goto fail;
        }
    }
    if (rename(c->tmp, c->dir) != 0) {
        pst_fail(err, "%s: cannot rename into place: %s", c->dir, strerror(errno));
        goto fail;
    }
    c->tmp[0] = 0;
    if (sync_dir(c->root, err) || point_latest(c->root, c->name, err)) return -1;
    if (replaced[0] && pst_remove_tree(replaced, err)) return -1;
    return remove_other_checkpoints(c->root, c->name, err);
fail:
    pst_checkpoint_abort(c);
    return -1;
}

int pst_checkpoint_find(const char *root, char *dir, size_t cap, long *step, pst_error *err) {
    if (pst_remove_stale_tmp(root, err)) return -1;
    DIR *d = opendir(root);
    if (!d) return errno == ENOENT ? 0 : pst_fail(err, "%s: %s", root, strerror(errno));
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long s = ckpt_name_step(e->d_name);
        char path[4096];
        struct stat st;
        if (s > best && pst_path_join(path, sizeof path, root, e->d_name, NULL) == 0 && lstat(path, &st) == 0 &&
            S_ISDIR(st.st_mode))
            best = s;
    }
    closedir(d);
    if (best < 0) return 0;
    char name[64];
    snprintf(name, sizeof name, "ckpt-%ld", best);
    if (pst_path_join(dir, cap, root, name, err) || point_latest(root, name, err) ||
        remove_other_checkpoints(root, name, err))
        return -1;
    if (step) *step = best;
    return 1;
}
