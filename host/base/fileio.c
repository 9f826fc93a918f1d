/* Whole-file helpers shared by every file format duocl writes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

duo_status duo_read_whole_file(const char *path, const char *what, uint8_t **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return duo_fail(DUO_ERR_IO, "%s '%s': cannot open: %s", what, path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return duo_fail(DUO_ERR_IO, "%s '%s': cannot seek: %s", what, path, strerror(errno));
    }
    long size = ftell(f);
    rewind(f);
    if (size < 0) {
        fclose(f);
        return duo_fail(DUO_ERR_IO, "%s '%s': cannot tell its size", what, path);
    }
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s '%s': out of memory for %ld bytes", what, path, size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != (size_t)size) {
        free(buf);
        return duo_fail(DUO_ERR_IO, "%s '%s': read %zu of %ld bytes", what, path, got, size);
    }
    buf[size] = 0;
    *data = buf;
    *n = (size_t)size;
    return DUO_OK;
}

duo_status duo_write_file_atomic(const char *path, const char *what, const void *const *parts,
                                 const size_t *sizes, int n_parts)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s '%s': out of memory", what, path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        duo_status st = duo_fail(DUO_ERR_IO, "%s '%s': cannot create '%s': %s", what, path, tmp,
                                 strerror(errno));
        free(tmp);
        return st;
    }
    int ok = 1;
    for (int i = 0; i < n_parts && ok; i++)
        ok = sizes[i] == 0 || fwrite(parts[i], 1, sizes[i], f) == sizes[i];
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            err = errno;
        remove(tmp);
        duo_status st = duo_fail(DUO_ERR_IO, "%s '%s': cannot write: %s", what, path, strerror(err));
        free(tmp);
        return st;
    }
    free(tmp);
    return DUO_OK;
}

duo_status duo_make_directories(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "folder name '%s' is too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return duo_fail(DUO_ERR_IO, "cannot create folder '%s': %s", buf, strerror(errno));
            *p = c;
            if (!c)
                return DUO_OK;
        }
    }
}

void duo_path_under(const char *prefix, const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".json") == 0)
        len -= 5;
    snprintf(out, cap, "%s/%.*s", prefix, (int)len, base);
}
