/* Whole-file helpers shared by every file format (tokenizer files, shards,
 * result files). */
#ifndef DUOCL_HOST_FILEIO_H
#define DUOCL_HOST_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"

/* Reads a whole file into *data (malloc'd, with a NUL after the last byte);
 * `what` names the kind of file in the error ("tokenizer file"). */
duo_status duo_read_whole_file(const char *path, const char *what, uint8_t **data, size_t *n);

/* Writes parts one after another to path + ".tmp", flushes and syncs it, then
 * renames it over path, so a crash never leaves a half-written file there. */
duo_status duo_write_file_atomic(const char *path, const char *what, const void *const *parts,
                                 const size_t *sizes, int n_parts);

/* "prefix/<file name of path without a trailing .json>" into out:
 * ("runs", "configs/tiny.json") -> "runs/tiny". */
void duo_path_under(const char *prefix, const char *path, char *out, size_t cap);

/* mkdir -p: creates path and every missing parent; an existing folder is fine. */
duo_status duo_make_directories(const char *path);

#endif
