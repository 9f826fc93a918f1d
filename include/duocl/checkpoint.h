/* Checkpoints: the run's config and named tensors in one checksummed file.
 *
 * Format, version 1. All integers little-endian; tensor data is the host's
 * little-endian bytes (big-endian hosts are refused). "pad" is zero bytes up
 * to the next multiple of 8 from the start of the file, so every tensor's
 * data is 8-byte aligned in the file and in the reader's memory.
 *
 *   header   "DUOCLCKP" | u32 version = 1 | u32 flags = 0
 *   config   u64 length | JSON text (no NUL) | pad
 *   tensors, repeated until the trailer:
 *            "TNSR" | u8 dtype | u8 ndim (0..8) | u16 name length | name | pad
 *            | u64 shape[ndim] | u64 data bytes | data | pad
 *   trailer  "DUOCLEND" | u64 tensor count | u64 file size | u64 checksum
 *
 * The checksum is FNV-1a 64 over every byte before it. A reader checks, in
 * this order: length >= header + trailer, magic, version, the end marker
 * and file size (a missing marker or a size that differs means the file was
 * cut short), the checksum (any other change), then the records.
 *
 * Scalars of the training state (step, generator state, data position) are
 * tensors too: 0-dimensional u64 tensors named "state.*" (see
 * duo_checkpoint_writer_add_u64 / duo_checkpoint_get_u64), so they are exact
 * and checksummed like everything else.
 *
 * Writing goes to PATH.tmp, is flushed and fsync'd, then renamed over PATH
 * (and the directory fsync'd): a crash at any point leaves either the old
 * checkpoint or the new one at PATH, never a half-written file. */
#ifndef DUOCL_CHECKPOINT_H
#define DUOCL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DUO_CHECKPOINT_VERSION = 1,
    DUO_TENSOR_MAX_DIMS = 8,
    DUO_TENSOR_NAME_MAX = 255 /* bytes, without the NUL */
};

/* The values are stored in the file. */
typedef enum duo_dtype {
    DUO_DTYPE_F32 = 1,
    DUO_DTYPE_U8 = 2,
    DUO_DTYPE_I32 = 3,
    DUO_DTYPE_U64 = 4
} duo_dtype;

/* A tensor to write, or one found in a checkpoint. ndim 0 is a scalar (one
 * element). data is row-major, shape[0] outermost. */
typedef struct duo_tensor_desc {
    const char *name;   /* 1..255 bytes, no NUL inside; unique within a file */
    duo_dtype dtype;
    int ndim;
    uint64_t shape[DUO_TENSOR_MAX_DIMS];
    const void *data;
} duo_tensor_desc;

/* "f32", "u8", "i32", "u64"; "?" for anything else. */
const char *duo_dtype_name(duo_dtype dtype);

/* Bytes per element (0 for an unknown dtype). */
size_t duo_dtype_size(duo_dtype dtype);

/* ---- writing ---- */

typedef struct duo_checkpoint_writer duo_checkpoint_writer;

/* Creates PATH.tmp and writes the header and config_json (NUL-terminated). */
duo_status duo_checkpoint_writer_open(const char *path, const char *config_json,
                                      duo_checkpoint_writer **out);

/* Appends one tensor (the data is copied to the file now, so a caller can
 * reuse one host buffer for tensor after tensor). A name already written is
 * an error. On any failure the writer is still valid and must be aborted;
 * after a failed write (DUO_ERR_IO) further adds and commit refuse. */
duo_status duo_checkpoint_writer_add(duo_checkpoint_writer *w, const duo_tensor_desc *tensor);

/* Appends a 0-dimensional u64 tensor (a state scalar). */
duo_status duo_checkpoint_writer_add_u64(duo_checkpoint_writer *w, const char *name,
                                         uint64_t value);

/* Writes the trailer, flushes, fsyncs, renames PATH.tmp over PATH and frees
 * the writer (also on failure, after removing PATH.tmp; PATH is then as it
 * was before). */
duo_status duo_checkpoint_writer_commit(duo_checkpoint_writer *w);

/* Removes PATH.tmp and frees the writer; PATH is untouched. NULL is fine. */
void duo_checkpoint_writer_abort(duo_checkpoint_writer *w);

/* open + add each tensor + commit (abort on any failure). */
duo_status duo_checkpoint_write(const char *path, const char *config_json,
                                const duo_tensor_desc *tensors, size_t n_tensors);

/* ---- reading ---- */

typedef struct duo_checkpoint duo_checkpoint;

/* Reads the whole file and verifies it (see the order above). Errors are
 * DUO_ERR_IO (cannot open or read; not a regular file, such as a FIFO or a
 * folder, which is refused before it is opened) or DUO_ERR_FORMAT (over
 * 64 GiB, or the checks above), naming the file. The check that no name
 * repeats, and each lookup by name, sort and search (O(n log n) in all). */
duo_status duo_checkpoint_open(const char *path, duo_checkpoint **out);

/* Frees everything; pointers obtained from the checkpoint become invalid. NULL is fine. */
void duo_checkpoint_close(duo_checkpoint *ck);

/* The config JSON stored in the file, NUL-terminated, owned by ck. */
const char *duo_checkpoint_config_json(const duo_checkpoint *ck);

/* The path the checkpoint was opened from (for messages). */
const char *duo_checkpoint_path(const duo_checkpoint *ck);

/* Tensors in file order: count, then the description of one (name and data
 * point into ck's memory). index must be < count. */
size_t duo_checkpoint_tensor_count(const duo_checkpoint *ck);
duo_status duo_checkpoint_tensor_at(const duo_checkpoint *ck, size_t index, duo_tensor_desc *out);

/* Looks a tensor up by name and checks it has the dtype and shape the caller
 * expects; *data points into ck's memory (8-byte aligned). A missing tensor,
 * another dtype or another shape is DUO_ERR_FORMAT naming the file, the
 * tensor and both shapes. */
duo_status duo_checkpoint_find(const duo_checkpoint *ck, const char *name, duo_dtype dtype,
                               int ndim, const uint64_t *shape, const void **data);

/* As duo_checkpoint_find, then copies the data to dst (dst_bytes must be the
 * tensor's size). */
duo_status duo_checkpoint_read(const duo_checkpoint *ck, const char *name, duo_dtype dtype,
                               int ndim, const uint64_t *shape, void *dst, size_t dst_bytes);

/* Reads a 0-dimensional u64 tensor written by duo_checkpoint_writer_add_u64. */
duo_status duo_checkpoint_get_u64(const duo_checkpoint *ck, const char *name, uint64_t *value);

#ifdef __cplusplus
}
#endif
#endif
