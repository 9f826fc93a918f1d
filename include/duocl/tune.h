/* Tuning CLBlast for a device and a model: `duocl tune` as a library function.
 * It never makes the model's GEMMs slower: tuned parameters are kept only when
 * they beat CLBlast's built-in ones over a training step's GEMMs.
 *
 * duo_tune_device
 *  1. lists the GEMMs of one training step of the model (duo_tune_step_gemms);
 *  2. runs CLBlast's kernel tuner programs (Debian's clblast-utils, looked up in
 *     $DUOCL_CLBLAST_TUNERS, then on $PATH, then in /usr/bin) one after another,
 *     each in <cache>/tuning/work-XXXXXX/<kernel> (kept, with its log.txt) with a
 *     time budget after which it is stopped and its finished phases used:
 *     Xgemm S, XgemmDirect S/2, Copy, Pad, Transpose, Padtranspose S/8 each
 *     (S = options.seconds). Xgemm and the copy kernels run at the step's
 *     heaviest GEMM, XgemmDirect at its smallest plain one;
 *  3. measures XGEMM_MIN_INDIRECT_SIZE (below its cube in m*n*k CLBlast uses
 *     the direct kernel, above it the tuned Xgemm) with CLBlast's routine tuner
 *     (clblast_tuner_routine_xgemm, budget S/2) at every distinct GEMM of the
 *     step, and takes the switch point that makes the step fastest; without
 *     that tuner, or when it runs out of time, none is stored (CLBlast's own);
 *  4. times CLBlast's built-in parameters and each tuned set (the tuned
 *     kernels with CLBlast's own switch point, with the measured one, and
 *     with every plain GEMM of the step in-direct) on every GEMM of the step,
 *     interleaved over `rounds` rounds: median per GEMM, total = sum over the
 *     GEMMs of (runs per step x median);
 *  5. keeps the fastest tuned set only when its total is at least
 *     DUO_TUNE_MARGIN_PERCENT % below the built-in one. Otherwise the file
 *     records "built-in parameters kept" and no kernels (so `duocl study`,
 *     which tunes only devices without a file, does not retune). Either way
 *     the file records both totals, and a file whose totals say its
 *     parameters are slower is refused when a runtime starts;
 *  6. checks CLBlast's GEMM with kept parameters (duo_selftest_gemm); a file
 *     that fails the check is removed again.
 * Everything is timed and checked on CLBlast's GEMM (duo_runtime_options.gemm
 * = DUO_GEMM_CLBLAST), whichever GEMM the device runs by default: where that
 * is duocl's built-in GEMM (PoCL), the parameters apply to runs that choose
 * CLBlast ("gemm": "clblast", --gemm clblast, DUOCL_GEMM=clblast). A device
 * that forbids compiling at run time cannot run CLBlast: DUO_TUNE_FAILED_DEVICE.
 * It never prints: progress goes to the callback.
 *
 * Each set is timed in a fresh process, because CLBlast can override its
 * parameters but not restore its built-in ones: duo_tune_device runs
 * `PROGRAM tune --measure-job JOB` (PROGRAM: options.program, the duocl
 * binary), which times the job with duo_tune_measure_job. A program that is
 * not duocl must set options.program.
 *
 * It sets DUOCL_NO_TUNING=1 while it runs (so an old, possibly bad, file is not
 * applied) and unsets it for the self-test; the caller's value is put back
 * before it returns. Not thread-safe (environment, children). */
#ifndef DUOCL_TUNE_H
#define DUOCL_TUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "duocl/config.h"
#include "duocl/device.h"
#include "duocl/selftest.h"
#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DUO_TUNE_TUNERS = 7,         /* six kernel tuners and the routine tuner */
    DUO_TUNE_MAX_GEMMS = 24,     /* GEMM kinds of a training step */
    DUO_TUNE_MAX_SETS = 4,       /* built-in; tuned kernels with CLBlast's, the measured and the
                                    all-in-direct switch point */
    DUO_TUNE_MAX_ROUNDS = 16,
    DUO_TUNE_MARGIN_PERCENT = 2, /* a tuned set must beat the built-in one by this much */
    DUO_TUNE_CALL_MS = 40        /* Xgemm's tuning shape: the heaviest GEMM made smaller until
                                    one call takes about this long with the built-in parameters */
};

/* One GEMM of a training step: C (m x n) = op(A) (m x k) op(B) (k x n),
 * row-major, A transposed when ta, B when tb; batch > 1: that many strided
 * GEMMs in one call (attention, per sequence and head). */
typedef struct duo_tune_gemm {
    const char *name;     /* "qkvo.forward", "ffn_big.w2.backward_weight", "head.forward" */
    size_t m, n, k, batch;
    bool ta, tb;
    int count;            /* calls of this shape in one training step */
    double ms[DUO_TUNE_MAX_SETS]; /* filled by duo_tune_device: median time of one call per set */
} duo_tune_gemm;

/* The GEMMs of one training step of `model` at `batch` sequences, as the model
 * runs them: per layer the four projections (x W, dY W^T, X^T dY), both FFNs with
 * half of the tokens each (50% routing), attention's batched block products
 * (each query block timed at the middle block's width), and the head. Fills
 * out[0..cap) and returns how many there are (at most DUO_TUNE_MAX_GEMMS). */
int duo_tune_step_gemms(const duo_model_config *model, int batch, duo_tune_gemm *out, int cap);

typedef enum duo_tuner_outcome {
    DUO_TUNER_NOT_RUN = 0,    /* not reached (an earlier step failed, or a candidate file was given) */
    DUO_TUNER_NOT_INSTALLED,  /* the program is missing: the kernel stays untuned */
    DUO_TUNER_FINISHED,
    DUO_TUNER_STOPPED,        /* killed when its budget ran out */
    DUO_TUNER_FAILED          /* exited non-zero or did not start */
} duo_tuner_outcome;

/* One tuner program and what it gave. */
typedef struct duo_tuner_run {
    const char *kernel;       /* CLBlast kernel: "Xgemm", "XgemmDirect", "Copy", ..., "GemmRoutine" */
    const char *program;      /* "clblast_tuner_xgemm" */
    char path[1024];          /* where it was found: "/usr/bin/clblast_tuner_xgemm" */
    size_t m, n, k;           /* the shape it ran at (the routine tuner: every step shape) */
    double budget_s;
    double seconds;           /* how long it ran */
    duo_tuner_outcome outcome;
    bool found;               /* it left a result (the routine tuner: a switch point) */
    double best_ms;           /* the best time it measured at its shape */
} duo_tuner_run;

/* The step that failed, so a caller can say what happened. */
typedef enum duo_tune_step {
    DUO_TUNE_OK = 0,
    DUO_TUNE_FAILED_OPTIONS,   /* an option outside what is allowed */
    DUO_TUNE_FAILED_DEVICE,    /* the device could not be opened */
    DUO_TUNE_FAILED_CACHE,     /* no cache folder: $XDG_CACHE_HOME and $HOME unset */
    DUO_TUNE_FAILED_WORK_DIR,  /* the work folder could not be created */
    DUO_TUNE_FAILED_NO_RESULT, /* no tuner produced a result (see the logs) */
    DUO_TUNE_FAILED_CANDIDATE, /* options.candidate could not be read */
    DUO_TUNE_FAILED_TIMING,    /* the built-in parameters could not be timed */
    DUO_TUNE_FAILED_SAVE,      /* the tuning file could not be written */
    DUO_TUNE_FAILED_SELFTEST   /* GEMM failed with the parameters: the file was removed */
} duo_tune_step;

typedef enum duo_tune_event_kind {
    DUO_TUNE_EVENT_DEVICE,        /* the device is known: device, path, settings, result (model_gemm).
                                     Nothing has run yet, so a caller can time its untuned baseline here */
    DUO_TUNE_EVENT_TUNING,        /* the work folder is made: work_dir */
    DUO_TUNE_EVENT_TUNER_START,   /* tuner (found, budget_s) starts */
    DUO_TUNE_EVENT_RESULT_SKIPPED,/* a result file of the running tuner is unreadable: path, message */
    DUO_TUNE_EVENT_TUNER_DONE,    /* tuner: outcome, seconds, found, best_ms (or NOT_INSTALLED) */
    DUO_TUNE_EVENT_SWITCH_POINT,  /* value: the measured XGEMM_MIN_INDIRECT_SIZE; 0 with message: none */
    DUO_TUNE_EVENT_TIMING,        /* the comparison starts: sets, rounds */
    DUO_TUNE_EVENT_TIMED,         /* set `set` (name) timed in round `round`: total_ms (a step's GEMMs);
                                     message when it failed */
    DUO_TUNE_EVENT_DECIDED        /* result: kept, totals (the file is not written yet) */
} duo_tune_event_kind;

typedef struct duo_tune_event {
    duo_tune_event_kind kind;
    const duo_device_info *device;
    const char *path;             /* DEVICE: the tuning file; RESULT_SKIPPED: the result file */
    const char *work_dir;
    const char *message;          /* RESULT_SKIPPED, SWITCH_POINT, TIMED: why */
    const duo_tuner_run *tuner;   /* TUNER_START, TUNER_DONE */
    const struct duo_tune_options *settings; /* DEVICE: the options with every default filled in */
    const struct duo_tune_result *result;    /* DEVICE, TIMING, TIMED, DECIDED: as far as it got */
    int set, round;               /* TIMED */
    const char *name;             /* TIMED: the set's name */
    double total_ms;              /* TIMED */
    long value;                   /* SWITCH_POINT */
} duo_tune_event;

typedef void (*duo_tune_callback)(const duo_tune_event *event, void *user);

typedef struct duo_tune_options {
    const char *device;        /* selector as in duo_devices_select; NULL: the default device */
    const duo_model_config *model; /* required: whose training step is tuned for */
    int batch;                 /* sequences per step; 0: 16 */
    double fraction;           /* of each tuner phase's configurations to try, (0, 1]; 0: 0.25 */
    size_t m, n, k;            /* Xgemm tuning shape; 0: the step's heaviest GEMM */
    double seconds;            /* the Xgemm tuner's budget (others get shares of it); 0: 240 */
    int min_indirect;          /* XGEMM_MIN_INDIRECT_SIZE: 0 measures it, > 0 proposes this value,
                                  < 0 leaves CLBlast's own. A proposed value is timed like the rest */
    int rounds;                /* interleaved timing rounds, 1..DUO_TUNE_MAX_ROUNDS; 0: 3 */
    const char *candidate;     /* a tuning file whose kernels are timed as the tuned set instead of
                                  running the tuners (a file from another machine; tests) */
    const char *program;       /* the duocl executable that runs the timing jobs (`PROGRAM tune
                                  --measure-job JOB`); NULL: /proc/self/exe, right only when the
                                  caller is duocl itself */
    duo_tune_callback callback; /* may be NULL */
    void *user;
} duo_tune_options;

typedef struct duo_tune_result {
    duo_device_info device;
    duo_gemm_kind model_gemm;  /* the GEMM the model's products run on this device (its
                                  model.gemm, else $DUOCL_GEMM, else the vendor profile's):
                                  CLBlast's parameters matter only when it is DUO_GEMM_CLBLAST */
    char model_gemm_reason[64]; /* where that choice came from: "vendor profile pocl" */
    char path[1400];           /* the tuning file */
    char work_dir[1400];       /* the tuners' folders and logs, the timing jobs */
    duo_tuner_run tuners[DUO_TUNE_TUNERS];
    int min_indirect;          /* the measured or proposed switch point; 0: none */
    int gemm_count;            /* the step's GEMMs, with each set's time */
    duo_tune_gemm gemms[DUO_TUNE_MAX_GEMMS];
    int set_count;             /* sets timed: [0] is CLBlast's built-in parameters */
    char set_names[DUO_TUNE_MAX_SETS][48];
    double total_ms[DUO_TUNE_MAX_SETS]; /* a step's GEMMs with each set (0: a set that failed) */
    int rounds;
    int kept;                  /* the set in the file: 0 (built-in parameters kept) or a tuned one */
    int best_tuned;            /* the fastest tuned set (0 when none could be timed) */
    int kernel_count;          /* entries in the file (0 when the built-in parameters are kept) */
    duo_selftest_result selftest;
    duo_tune_step failed;      /* DUO_TUNE_OK on success */
} duo_tune_result;

/* Tunes the device for the model and stores the file (above). out is required
 * and filled in as far as the run got, also on failure (out->failed says where).
 * Keeping the built-in parameters is a success (out->kept == 0). */
duo_status duo_tune_device(const duo_tune_options *options, duo_tune_result *out);

/* The timing child's side (`duocl tune --measure-job JOB`): times the GEMMs of
 * the job file duo_tune_device wrote with the parameters it names and writes
 * JOB.out ("ok" and the median milliseconds of one call per GEMM, or "error
 * MESSAGE"). Meant for a fresh process: it sets DUOCL_NO_TUNING=1 and leaves
 * CLBlast's parameters overridden for the rest of the process. */
duo_status duo_tune_measure_job(const char *job_path);

/* "finished", "stopped on time", "failed", "not installed", "not run". */
const char *duo_tuner_outcome_name(duo_tuner_outcome outcome);

#ifdef __cplusplus
}
#endif
#endif
