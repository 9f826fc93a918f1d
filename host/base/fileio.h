/* Whole-file helpers shared by every file format, and the two rules they
 * keep for every file duocl reads or writes:
 *
 *   reading: regular files only, checked before the file is opened (a FIFO,
 *            a device or a folder is refused with DUO_ERR_IO and never
 *            blocks), and a size limit per format (below), checked before
 *            anything is allocated (DUO_ERR_FORMAT);
 *   writing: a temporary file PATH.tmp, fsync, rename over PATH, fsync of
 *            the folder, so a crash leaves the old file or the new one. */
#ifndef DUOCL_HOST_FILEIO_H
#define DUOCL_HOST_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "duocl/status.h"

/* The largest file each format may be, in bytes. */
#define DUO_MAX_CONFIG_BYTES ((uint64_t)1 << 20)       /* a config JSON: 1 MiB */
#define DUO_MAX_TUNING_BYTES ((uint64_t)1 << 20)       /* a tuning file: 1 MiB */
#define DUO_MAX_TOKENIZER_BYTES ((uint64_t)64 << 20)   /* a tokenizer file: 64 MiB */
#define DUO_MAX_RESULT_JSON_BYTES ((uint64_t)256 << 20) /* eval/oracle/difficulty/bench JSON: 256 MiB */
#define DUO_MAX_LOG_BYTES ((uint64_t)1 << 30)          /* a run's log.jsonl: 1 GiB */
#define DUO_MAX_ORACLE_TOKENS_BYTES ((uint64_t)16 << 30) /* oracle_tokens.bin: 16 GiB */
#define DUO_MAX_SHARD_BYTES ((uint64_t)64 << 30)       /* a token shard: 64 GiB */
#define DUO_MAX_CHECKPOINT_BYTES ((uint64_t)64 << 30)  /* a checkpoint: 64 GiB */

/* Opens path for reading when it is a regular file of at most max_bytes:
 * *fd (the caller closes it) and its *size. `what` names the kind of file in
 * errors ("tokenizer file"). A missing file is DUO_ERR_IO with strerror's
 * words. */
duo_status duo_open_regular_file(const char *path, const char *what, uint64_t max_bytes, int *fd,
                                 uint64_t *size);

/* Reads a whole regular file of at most max_bytes into *data (malloc'd, with
 * a NUL after the last byte). */
duo_status duo_read_file(const char *path, const char *what, uint64_t max_bytes, uint8_t **data,
                         size_t *n);

/* duo_read_file without a size limit of its own (corpus text, the report's
 * inputs); still regular files only. */
duo_status duo_read_whole_file(const char *path, const char *what, uint8_t **data, size_t *n);

/* Writes parts one after another to path + ".tmp" (any stale .tmp, of any
 * kind, is removed first), fsyncs it, renames it over path and fsyncs the
 * folder, so a crash never leaves a half-written file at path. */
duo_status duo_write_file_atomic(const char *path, const char *what, const void *const *parts,
                                 const size_t *sizes, int n_parts);

/* A log that grows line by line (log.jsonl): opened for appending, or
 * emptied first when `truncate`, as a FILE*; a FIFO, device or folder at path
 * is refused (DUO_ERR_IO) instead of blocking. */
duo_status duo_open_log(const char *path, const char *what, int truncate, FILE **out);

/* fsync of the folder holding path, so a rename into it survives a crash.
 * Best effort: some file systems cannot sync a folder, which is not worth
 * failing a write over. */
void duo_sync_parent_directory(const char *path);

/* Moves a damaged file out of the way instead of overwriting it: renames
 * path to path.bad (or path.bad2, path.bad3, ... when that exists) and puts
 * the new name in out. */
duo_status duo_keep_bad_copy(const char *path, char *out, size_t cap);

/* "prefix/<file name of path without a trailing .json>" into out:
 * ("runs", "configs/tiny.json") -> "runs/tiny". */
void duo_path_under(const char *prefix, const char *path, char *out, size_t cap);

/* mkdir -p: creates path and every missing parent; an existing folder is fine. */
duo_status duo_make_directories(const char *path);

#endif
