/* Tuning CLBlast for a device: `duocl tune` as a library function.
 *
 * duo_tune_device runs CLBlast's own tuner programs (Debian's clblast-utils,
 * /usr/bin/clblast_tuner_*) one after another as child processes, each in its
 * own folder under <cache>/tuning/work-XXXXXX (kept, with its log.txt) and
 * with a time budget after which it is stopped and its finished phases used:
 *   Xgemm S, XgemmDirect S/2, Copy, Pad, Transpose, Padtranspose S/8 each
 * (S = options.seconds). It keeps the best parameters each tuner reported,
 * adds XGEMM_MIN_INDIRECT_SIZE, stores them as the device's tuning file
 * (<cache>/tuning/<device>__<driver>.json, which duo_runtime_create applies),
 * and checks GEMM with them (duo_selftest_gemm); a file that fails the check
 * is removed again. It never prints: progress goes to the callback.
 *
 * It sets DUOCL_NO_TUNING=1 while it looks the device up (so an old, possibly
 * bad, file is not applied) and unsets it for the self-test; the caller's
 * value is put back before it returns. Not thread-safe (environment, children). */
#ifndef DUOCL_TUNE_H
#define DUOCL_TUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "duocl/device.h"
#include "duocl/selftest.h"
#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DUO_TUNE_TUNERS = 6, DUO_TUNE_DEFAULT_MIN_INDIRECT = 128 };

typedef enum duo_tuner_outcome {
    DUO_TUNER_NOT_RUN = 0,    /* not reached (an earlier step failed) */
    DUO_TUNER_NOT_INSTALLED,  /* the program is missing: the kernel stays untuned */
    DUO_TUNER_FINISHED,
    DUO_TUNER_STOPPED,        /* killed when its budget ran out */
    DUO_TUNER_FAILED          /* exited non-zero or did not start */
} duo_tuner_outcome;

/* One tuner program and what it gave. */
typedef struct duo_tuner_run {
    const char *kernel;       /* CLBlast kernel: "Xgemm", "XgemmDirect", "Copy", ... */
    const char *program;      /* "clblast_tuner_xgemm" */
    char path[256];           /* "/usr/bin/clblast_tuner_xgemm" */
    double budget_s;
    double seconds;           /* how long it ran */
    duo_tuner_outcome outcome;
    bool found;               /* it left a result: its parameters are in the file */
    double best_ms;           /* the best time it measured at the tuning shape */
} duo_tuner_run;

/* The step that failed, so a caller can say what happened. */
typedef enum duo_tune_step {
    DUO_TUNE_OK = 0,
    DUO_TUNE_FAILED_OPTIONS,   /* an option outside what is allowed */
    DUO_TUNE_FAILED_DEVICE,    /* the device could not be opened */
    DUO_TUNE_FAILED_CACHE,     /* no cache folder: $XDG_CACHE_HOME and $HOME unset */
    DUO_TUNE_FAILED_WORK_DIR,  /* the work folder could not be created */
    DUO_TUNE_FAILED_NO_RESULT, /* no tuner produced a result (see the logs) */
    DUO_TUNE_FAILED_SAVE,      /* the tuning file could not be written */
    DUO_TUNE_FAILED_SELFTEST   /* GEMM failed with the parameters: the file was removed */
} duo_tune_step;

typedef enum duo_tune_event_kind {
    DUO_TUNE_EVENT_DEVICE,        /* the device is known: device, path, settings. Nothing has run yet, so a
                                     caller can time its untuned baseline here */
    DUO_TUNE_EVENT_TUNING,        /* the work folder is made: work_dir */
    DUO_TUNE_EVENT_TUNER_START,   /* tuner (found, budget_s) starts */
    DUO_TUNE_EVENT_RESULT_SKIPPED,/* a result file of the running tuner is unreadable: path, message */
    DUO_TUNE_EVENT_TUNER_DONE     /* tuner: outcome, seconds, found, best_ms (or NOT_INSTALLED) */
} duo_tune_event_kind;

typedef struct duo_tune_event {
    duo_tune_event_kind kind;
    const duo_device_info *device;
    const char *path;             /* DEVICE: the tuning file; RESULT_SKIPPED: the result file */
    const char *work_dir;
    const char *message;          /* RESULT_SKIPPED: why */
    const duo_tuner_run *tuner;   /* TUNER_START, TUNER_DONE */
    const struct duo_tune_options *settings; /* DEVICE: the options with every default filled in */
} duo_tune_event;

typedef void (*duo_tune_callback)(const duo_tune_event *event, void *user);

typedef struct duo_tune_options {
    const char *device;        /* selector as in duo_devices_select; NULL: the default device */
    double fraction;           /* of each tuner phase's configurations to try, (0, 1]; 0: 0.25 */
    size_t m, n, k;            /* GEMM shape the tuners time; 0: 1024, 256, 256 */
    double seconds;            /* the Xgemm tuner's budget (others get shares of it); 0: 240 */
    int min_indirect;          /* XGEMM_MIN_INDIRECT_SIZE stored: GEMMs with m*n*k below its cube
                                  use the direct kernel. 0: DUO_TUNE_DEFAULT_MIN_INDIRECT;
                                  negative: none stored (CLBlast's own) */
    duo_tune_callback callback; /* may be NULL */
    void *user;
} duo_tune_options;

typedef struct duo_tune_result {
    duo_device_info device;
    char path[1400];           /* the tuning file */
    char work_dir[1400];       /* the tuners' folders and logs */
    int kernel_count;          /* entries in the file (the tuned kernels and GemmRoutine) */
    duo_tuner_run tuners[DUO_TUNE_TUNERS];
    duo_selftest_result selftest;
    duo_tune_step failed;      /* DUO_TUNE_OK on success */
} duo_tune_result;

/* Tunes the device and stores the file (above). out is required and filled in
 * as far as the run got, also on failure (out->failed says where). */
duo_status duo_tune_device(const duo_tune_options *options, duo_tune_result *out);

/* "finished", "stopped on time", "failed", "not installed", "not run". */
const char *duo_tuner_outcome_name(duo_tuner_outcome outcome);

#ifdef __cplusplus
}
#endif
#endif
