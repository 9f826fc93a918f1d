/* Whole-file helpers shared by every file format duocl reads and writes (the
 * rules are in fileio.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

/* "a directory", "a FIFO", ... for a file that is not a regular one. */
static const char *kind_of(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO (named pipe)";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

/* "1 MiB", "64 GiB", or bytes when it is not a whole number of either. */
static void format_size(uint64_t bytes, char *buf, size_t cap)
{
    if (bytes >= (1u << 30) && bytes % (1u << 30) == 0)
        snprintf(buf, cap, "%llu GiB", (unsigned long long)(bytes >> 30));
    else if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(buf, cap, "%llu MiB", (unsigned long long)(bytes >> 20));
    else
        snprintf(buf, cap, "%llu bytes", (unsigned long long)bytes);
}

duo_status duo_open_regular_file(const char *path, const char *what, uint64_t max_bytes, int *fd,
                                 uint64_t *size)
{
    *fd = -1;
    *size = 0;
    /* stat first: open() itself blocks on a FIFO without a writer. */
    struct stat info;
    if (stat(path, &info) != 0)
        return duo_fail(DUO_ERR_IO, "%s '%s': cannot open: %s", what, path, strerror(errno));
    if (!S_ISREG(info.st_mode))
        return duo_fail(DUO_ERR_IO, "%s '%s' is %s; duocl reads only regular files", what, path,
                        kind_of(info.st_mode));
    /* O_NONBLOCK: should it have become a FIFO since, open returns at once
     * and the fstat below refuses it. It changes nothing for a regular file. */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0)
        return duo_fail(DUO_ERR_IO, "%s '%s': cannot open: %s", what, path, strerror(errno));
    if (fstat(f, &info) != 0) {
        duo_status st = duo_fail(DUO_ERR_IO, "%s '%s': cannot stat: %s", what, path, strerror(errno));
        close(f);
        return st;
    }
    if (!S_ISREG(info.st_mode)) {
        close(f);
        return duo_fail(DUO_ERR_IO, "%s '%s' is %s; duocl reads only regular files", what, path,
                        kind_of(info.st_mode));
    }
    uint64_t bytes = (uint64_t)info.st_size;
    if (bytes > max_bytes || bytes >= (uint64_t)SIZE_MAX) {
        close(f);
        char limit[32];
        format_size(max_bytes, limit, sizeof limit);
        return duo_fail(DUO_ERR_FORMAT, "%s '%s' has %llu bytes; a %s has at most %s (is it the "
                        "right file?)", what, path, (unsigned long long)bytes, what, limit);
    }
    *fd = f;
    *size = bytes;
    return DUO_OK;
}

duo_status duo_read_file(const char *path, const char *what, uint64_t max_bytes, uint8_t **data,
                         size_t *n)
{
    *data = NULL;
    *n = 0;
    int fd;
    uint64_t size;
    DUO_TRY(duo_open_regular_file(path, what, max_bytes, &fd, &size));
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s '%s': out of memory for its %llu bytes", what,
                        path, (unsigned long long)size);
    }
    /* A file that shrinks while it is read is judged on what was read; one
     * that grows, on its size when it was opened. */
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t r = read(fd, buf + got, (size_t)size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            duo_status st = duo_fail(DUO_ERR_IO, "%s '%s': read error after %zu of %llu bytes: %s",
                                     what, path, got, (unsigned long long)size, strerror(errno));
            free(buf);
            close(fd);
            return st;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *n = got;
    return DUO_OK;
}

duo_status duo_read_whole_file(const char *path, const char *what, uint8_t **data, size_t *n)
{
    return duo_read_file(path, what, UINT64_MAX, data, n);
}

void duo_sync_parent_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

duo_status duo_open_log(const char *path, const char *what, int truncate, FILE **out)
{
    *out = NULL;
    /* O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of
     * blocking; fstat then refuses anything but a regular file. */
    int fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND),
                  0666);
    if (fd < 0)
        return duo_fail(DUO_ERR_IO, "%s '%s': cannot open for writing: %s", what, path, strerror(errno));
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(fd);
        return duo_fail(DUO_ERR_IO, "%s '%s' is not a regular file; duocl writes logs only to "
                        "regular files", what, path);
    }
    *out = fdopen(fd, truncate ? "wb" : "ab");
    if (!*out) {
        duo_status st = duo_fail(DUO_ERR_IO, "%s '%s': %s", what, path, strerror(errno));
        close(fd);
        return st;
    }
    return DUO_OK;
}

/* Writes all n bytes, retrying short writes. */
static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
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
    /* A stale PATH.tmp (a crash, or anything someone put there) goes first:
     * O_EXCL then creates a fresh regular file and never opens a FIFO. */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        duo_status st = duo_fail(DUO_ERR_IO, "%s '%s': cannot remove the stale '%s': %s", what,
                                 path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        duo_status st = duo_fail(DUO_ERR_IO, "%s '%s': cannot create '%s': %s", what, path, tmp,
                                 strerror(errno));
        free(tmp);
        return st;
    }
    int ok = 1;
    for (int i = 0; i < n_parts && ok; i++)
        ok = sizes[i] == 0 || write_all(fd, parts[i], sizes[i]) == 0;
    ok = ok && fsync(fd) == 0;
    int err = errno;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            err = errno;
        remove(tmp);
        duo_status st = duo_fail(DUO_ERR_IO, "%s '%s': cannot write: %s", what, path, strerror(err));
        free(tmp);
        return st;
    }
    free(tmp);
    duo_sync_parent_directory(path);
    return DUO_OK;
}

duo_status duo_keep_bad_copy(const char *path, char *out, size_t cap)
{
    for (int i = 1; i <= 99; i++) {
        int w = i == 1 ? snprintf(out, cap, "%s.bad", path) : snprintf(out, cap, "%s.bad%d", path, i);
        if (w < 0 || (size_t)w >= cap)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "the path '%s.bad' is too long", path);
        struct stat info;
        if (lstat(out, &info) == 0)
            continue;
        if (rename(path, out) != 0)
            return duo_fail(DUO_ERR_IO, "cannot move '%s' to '%s': %s", path, out, strerror(errno));
        duo_sync_parent_directory(out);
        return DUO_OK;
    }
    return duo_fail(DUO_ERR_IO, "cannot keep a copy of '%s': '%s.bad' to '%s.bad99' all exist; "
                    "remove some", path, path, path);
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
