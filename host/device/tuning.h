/* Per-device CLBlast kernel parameters: found by `duocl tune` (which runs
 * CLBlast's own tuners), stored as JSON in the user's cache, and applied at
 * runtime start-up with CLBlastOverrideParameters.
 *
 * File: $XDG_CACHE_HOME/duocl/tuning/<device>__<driver>.json (or ~/.cache/...),
 *   {"format": "duocl-clblast-tuning", "version": 1, "device": NAME,
 *    "driver": VERSION, "platform": NAME, "shape": [m, n, k],
 *    "decision": "tuned parameters kept" | "built-in parameters kept",
 *    "comparison": {"builtin_ms": B, "tuned_ms": T, "gemms": G, "rounds": R},
 *    "kernels": {"Xgemm": {"time_ms": T, "parameters": {"KWG": 32, ...}}, ...}}
 * "comparison" holds a training step's GEMM time with CLBlast's built-in
 * parameters and with the tuned ones (duocl tune's interleaved medians);
 * "decision" and "comparison" are absent in files of older duocl versions.
 * "built-in parameters kept" files have no kernels: the device was tuned and
 * CLBlast's own parameters were faster.
 *
 * Policy (documented in README): no file means untuned CLBlast (fine). A file
 * that cannot be read, is malformed, names another device or driver, whose
 * comparison says its parameters are slower than the built-in ones, or whose
 * parameters CLBlast rejects makes duo_runtime_create FAIL with an error that
 * names the file and says to rerun `duocl tune` or delete it. DUOCL_NO_TUNING=1
 * skips the file (used by `duocl tune` to time the untuned baseline). */
#ifndef DUOCL_HOST_TUNING_H
#define DUOCL_HOST_TUNING_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime_internal.h"

enum { DUO_TUNING_MAX_KERNELS = 8, DUO_TUNING_MAX_PARAMS = 24 };

typedef struct duo_tuning_kernel {
    char name[32];                              /* CLBlast kernel: "Xgemm", "XgemmDirect", "Copy" */
    double time_ms;                             /* tuner's best time at the tuning shape */
    int count;
    char names[DUO_TUNING_MAX_PARAMS][32];      /* "KWG", "XGEMM_MIN_INDIRECT_SIZE" */
    size_t values[DUO_TUNING_MAX_PARAMS];
} duo_tuning_kernel;

typedef struct duo_tuning {
    char device[256];
    char driver[128];
    char platform[128];
    size_t m, n, k;                             /* the shape the tuners ran at */
    int kernel_count;
    duo_tuning_kernel kernels[DUO_TUNING_MAX_KERNELS];
    bool builtin_kept;                          /* "built-in parameters kept": no kernels */
    bool compared;                              /* "comparison" is present */
    double builtin_ms, tuned_ms;                /* a step's GEMMs: built-in, these parameters */
    int gemms, rounds;                          /* GEMM shapes timed, interleaved rounds */
} duo_tuning;

/* The tuning file for a device (folder not created). "" when there is no cache dir. */
void duo_tuning_path(const duo_device_info *device, char *out, size_t cap);

/* Reads and validates a tuning file. When `device` is given, the file must name
 * that device and driver. Errors name the file. */
duo_status duo_tuning_load(const char *path, const duo_device_info *device, duo_tuning *out);

/* Writes the file atomically, creating its folder. */
duo_status duo_tuning_save(const char *path, const duo_tuning *tuning);

/* Calls CLBlastOverrideParameters for every kernel; `source` names the file in errors. */
duo_status duo_tuning_apply(duo_runtime *rt, const duo_tuning *tuning, const char *source);

/* What duo_runtime_create calls: loads and applies the device's file if there is
 * one (and DUOCL_NO_TUNING is unset). *applied says whether it applied
 * parameters (false for a "built-in parameters kept" file). */
duo_status duo_tuning_apply_stored(duo_runtime *rt, bool *applied);

/* Reads one result file written by a CLBlast tuner (clblast_<kernel>_32.json):
 * its best time and best parameters (PRECISION dropped) into *out, named `kernel`. */
duo_status duo_tuning_read_clblast_result(const char *path, const char *kernel,
                                          duo_tuning_kernel *out);

/* The fastest configuration in a CLBlast tuner's printed tables (its log):
 * rows that ran and whose results matched, under the "* Parameters explored:"
 * line above them. What a tuner stopped on time leaves of the phase it was
 * in (it writes its JSON only when a phase ends). false when there is none. */
bool duo_tuning_read_clblast_log(const char *path, const char *kernel, duo_tuning_kernel *out);

/* Writes t's kernels into dir as the clblast_<family>_32.json files that
 * CLBlast's routine tuner applies from its folder before it times. */
void duo_tuning_write_clblast_files(const char *dir, const duo_tuning *t);

/* The single-size result clblast_tuner_routine_xgemm -m -n -k left in dir:
 * its in-direct and direct times. false when there is none. */
bool duo_tuning_read_routine_result(const char *dir, double *indirect_ms, double *direct_ms);

/* Adds or replaces (when faster, or when `force`) one kernel's parameters. */
void duo_tuning_put(duo_tuning *tuning, const duo_tuning_kernel *kernel, bool force);

#endif
