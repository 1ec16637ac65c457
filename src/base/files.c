/* Whole-file reads, atomic writes, directories. */
#include "posterior/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pst_read_file(const char *path, char **out, size_t *len, pst_error *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return pst_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = pst_malloc(cap + 1, err);
    if (!buf) {
        fclose(f);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            char *nb = pst_realloc(buf, cap * 2 + 1, err);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return pst_fail(err, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int pst_write_file_atomic(const char *path, const void *data, size_t len, pst_error *err) {
    return pst_write_file_atomic_parts(path, &data, &len, 1, err);
}

int pst_write_file_atomic_parts(const char *path, const void *const *parts, const size_t *lens,
                                int n_parts, pst_error *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return pst_fail(err, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return pst_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    for (int i = 0; i < n_parts; i++) {
        const char *p = parts[i];
        size_t left = lens[i];
        while (left > 0) {
            ssize_t w = write(fd, p, left);
            if (w < 0) {
                if (errno == EINTR) continue;
                int e = errno;
                close(fd);
                unlink(tmp);
                return pst_fail(err, "%s: write failed: %s", tmp, strerror(e));
            }
            p += w;
            left -= (size_t)w;
        }
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return pst_fail(err, "%s: cannot flush: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return pst_fail(err, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return 0;
}

int pst_mkdir_p(const char *path, pst_error *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0) return 0;
    if (n >= sizeof buf) return pst_fail(err, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return pst_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return pst_fail(err, "%s: exists and is not a directory", path);
    return 0;
}

int pst_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int pst_path_join(char *buf, size_t cap, const char *dir, const char *name, pst_error *err) {
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] != '/';
    if (snprintf(buf, cap, "%s%s%s", dir, slash ? "/" : "", name) >= (int)cap)
        return pst_fail(err, "%s/%s: path too long", dir, name);
    return 0;
}
