/* duocl bench: how fast this device runs the Duo model's work, piece by piece.
 *
 * A benchmark is a list of cases. A case is one piece of work (a GEMM shape,
 * one op at the bench shapes, a training step, a routed evaluation, an oracle
 * search, a start-up) that can be run again and again; each run is timed on
 * the host around the work and a queue finish. The runner warms every case
 * up, then runs the cases round-robin (case 1, 2, ..., n, then again): this
 * machine's speed drifts by 2x for seconds at a time, and round-robin puts
 * every case under the same drift, so ratios between cases hold even when
 * absolute times move. Medians with min, max and quartiles are reported.
 *
 * With a trace (profiling), each run is also bracketed by two marker events
 * whose device timestamps give the device-side time of the work, and every
 * run becomes a Chrome trace event (chrome://tracing, Perfetto).
 *
 * Every run also counts the host's blocking calls during the work (the
 * runtime's reads, writes, finishes and event waits, rt->blocking; not the
 * runner's own finish or the trace's wait after it): each is a round trip
 * in which the device idles until the host enqueues more.
 *
 * A report (every case with its samples, the device, the config) is written
 * as JSON and read back for `duocl bench compare`. */
#ifndef DUOCL_HOST_BENCH_H
#define DUOCL_HOST_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/config.h"
#include "device/runtime_internal.h"

enum { DUO_BENCH_MAX_REPEAT = 64, DUO_BENCH_FORMAT_VERSION = 1 };

typedef struct duo_bench_stats {
    int n;
    double median, min, max, q1, q3; /* seconds */
} duo_bench_stats;

/* Stats of n samples (sorted in place). n = 0 gives NaNs. */
void duo_bench_stats_of(double *samples, int n, duo_bench_stats *out);

/* ---- trace: device time of bracketed work from marker events ---- */

typedef struct duo_trace_event {
    char name[64];
    char category[16];
    double start_us; /* device clock (host clock without profiling), microseconds */
    double dur_us;
    long blocking;   /* blocking calls the bracketed work made (the trace's own wait not counted) */
} duo_trace_event;

typedef struct duo_trace duo_trace;

/* A trace on rt's queue. With rt->profiling the times come from marker
 * events (CL_PROFILING_COMMAND_END of a marker before and after the work);
 * otherwise from the host clock around the work and a finish. */
duo_status duo_trace_create(duo_runtime *rt, duo_trace **out);
void duo_trace_destroy(duo_trace *t);
bool duo_trace_uses_events(const duo_trace *t);

/* Brackets work queued between begin and end. end waits for the queue. */
duo_status duo_trace_begin(duo_trace *t, const char *name, const char *category);
duo_status duo_trace_end(duo_trace *t);

int duo_trace_count(const duo_trace *t);
const duo_trace_event *duo_trace_at(const duo_trace *t, int i);

/* {"traceEvents": [{"name", "cat", "ph": "X", "ts", "dur", "pid", "tid"}...]}. */
duo_status duo_trace_write_chrome(const duo_trace *t, const char *path);

/* ---- cases ---- */

/* Runs one case once; `arg` tells a shared function which variant. */
typedef duo_status (*duo_bench_fn)(void *context, int arg);

typedef struct duo_bench_case {
    char section[16];   /* "gemm", "op", "ffn", "train", "eval", "oracle", "startup" */
    char name[64];      /* unique within the section */
    char shape[96];     /* what was run, in words: "m=4096 n=256 k=256 NN" */
    double work;        /* per run, in `unit`s (FLOPs, tokens, patterns); 0: time only */
    char unit[16];      /* "GFLOP/s" (work in FLOPs), "tokens/s", "patterns/s", "" */
    double samples[DUO_BENCH_MAX_REPEAT]; /* seconds per run, in run order */
    duo_bench_stats seconds;
    double device_median; /* median device-side seconds from the trace; NaN without */
    double cores;         /* process CPU time / wall time over the timed runs: how many
                           * of the machine's cores the work actually got (NaN unknown) */
    double blocking;      /* blocking calls in one run of the work (the last timed run;
                           * the work is the same each run); NaN unknown */
    duo_bench_fn run;     /* not part of the report */
    void *context;
    int arg;
} duo_bench_case;

/* The rate of a case at its median time (work / median, GFLOP/s scaled); NaN without work. */
double duo_bench_rate(const duo_bench_case *c);

typedef struct duo_bench_run_options {
    int warmup;  /* untimed runs of each case first */
    int repeat;  /* timed runs of each case, at most DUO_BENCH_MAX_REPEAT */
    duo_trace *trace; /* may be NULL */
    /* Called after each timed run (progress), may be NULL. */
    void (*progress)(void *context, int done, int total);
    void *progress_context;
} duo_bench_run_options;

/* Warms each case up, then runs them round-robin `repeat` times and fills
 * samples, seconds and device_median. */
duo_status duo_bench_run(duo_runtime *rt, duo_bench_case *cases, int count,
                         const duo_bench_run_options *options);

/* ---- the report ---- */

typedef struct duo_bench_report {
    char label[128];        /* how compare names this run */
    char device[256], platform[256], driver[128], profile[32];
    unsigned compute_units;
    char environment[256];  /* POCL_MAX_PTHREAD_COUNT=... and the like */
    char gemm_tuning[320];  /* "tuned (FILE)" when a `duocl tune` file was applied, else "untuned" */
    char date[32];
    double load_start, load_end; /* 1-minute load average before and after (NaN unknown):
                                  * other jobs on the machine show up here */
    char config[128];       /* the config file used */
    int repeat, warmup;
    duo_model_config model;
    int batch;              /* B of the training and eval cases */
    duo_bench_case *cases;
    int count, capacity;
    /* Derived numbers, NaN when the cases were not run. */
    /* Routed FFN block at 50% routing: the time of its non-GEMM work
     * (compaction and SwiGLU) and of its compaction alone (index build,
     * gathers, scatters), each timed on its own, over the whole block's. */
    double ffn_forward_outside_gemm, ffn_backward_outside_gemm;
    double ffn_forward_compaction, ffn_backward_compaction;
    /* Blocking calls of one stage-1 training step at p_big 0.5, run in the
     * pieces of duo_train_step: uploading the batch (before the step), from
     * the step's start to its loss read-back, the read-back itself, and after
     * it (gradient norm, AdamW). */
    double step_blocking_batch, step_blocking_before_loss, step_blocking_loss,
        step_blocking_after_loss;
} duo_bench_report;

void duo_bench_report_init(duo_bench_report *r);
void duo_bench_report_free(duo_bench_report *r);
/* Appends a copy of the case (runner fields cleared). */
duo_status duo_bench_report_add(duo_bench_report *r, const duo_bench_case *c);
/* The case section/name, or NULL. */
const duo_bench_case *duo_bench_report_find(const duo_bench_report *r, const char *section,
                                            const char *name);

/* JSON text of the report (malloc'd, the caller frees) and back. */
duo_status duo_bench_report_to_json(const duo_bench_report *r, char **out);
duo_status duo_bench_report_from_json(const char *text, const char *source, duo_bench_report *out);

/* ---- start-up and the run's description (bench_startup.c) ---- */

typedef struct duo_startup_times {
    double runtime; /* duo_runtime_create */
    double kernels; /* compiling every duocl kernel */
    double gemm;    /* the first GEMM (CLBlast compiles its kernels on first use) */
    double wall;    /* from spawn to exit (the suite's runs; 0 from the probe itself) */
} duo_startup_times;

/* Times this process's start-up on a device: runtime, kernels, a first GEMM
 * of the model's projection shape. Meant for a fresh process. */
duo_status duo_bench_startup_probe(const char *device, duo_startup_times *out);

typedef struct duo_bench_startup_options {
    const char *program;  /* a duocl binary: run as `PROGRAM bench --startup-probe` */
    const char *device;   /* selector passed on; NULL: the default */
    int warm_repeat;      /* starts with PoCL's kernel cache as it is */
    int cold_repeat;      /* starts with an empty PoCL cache (each compiles everything) */
    void (*progress)(void *context, int done, int total); /* may be NULL */
    void *progress_context;
} duo_bench_startup_options;

/* Appends the cases "startup/warm" and "startup/cold": wall time from spawn
 * to exit of fresh processes, with the probe's parts in the shape text. */
duo_status duo_bench_startup_suite(const duo_bench_startup_options *o, duo_bench_report *r);

/* The 1-minute load average: how busy the machine was with other work (NaN unknown). */
double duo_load_average(void);

/* Fills the report's header: device, driver, profile, environment, label
 * (default: the device), date, config, model, batch, whether CLBlast runs
 * with a tuning file, and the load average at the start. */
void duo_bench_report_describe(duo_bench_report *r, duo_runtime *rt, const char *config_path,
                               const duo_config *cfg, const char *label);

/* ---- the suites (host/bench_suites.c) ---- */

typedef struct duo_bench_suite_options {
    const duo_config *config;  /* model shapes; train.batch is B */
    duo_bench_run_options run;
    size_t oracle_batch;       /* sequences per oracle search */
    uint64_t seed;
} duo_bench_suite_options;

/* Each suite allocates what it needs, runs its cases, appends them to the
 * report and frees its buffers. */

/* Every GEMM shape of a training step and an evaluation: the projections
 * (q, k, v, o), both FFNs' three matrices on the tokens of a 50% routing,
 * the tied head, and attention's batched products; forward and backward. */
duo_status duo_bench_gemm_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                duo_bench_report *r);

/* Every op family at the bench shapes, forward and backward, and the routed
 * FFN block at 50% routing whole, as its GEMMs alone, as its non-GEMM work
 * alone and as its compaction alone. Fills the report's ffn_* fractions. */
duo_status duo_bench_op_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                              duo_bench_report *r);

/* Training steps (forward, backward, norm, clipping, AdamW) at p_big 0.5;
 * one more step in pieces fills the report's step_blocking_* counts (with a
 * trace, `repeat` of them, each piece in the trace). */
duo_status duo_bench_train_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                 duo_bench_report *r);

/* Forward passes with every token on all-small, a pattern with L/2 big
 * layers, and all-big. */
duo_status duo_bench_eval_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                duo_bench_report *r);

/* The oracle's depth-first search over every SB pattern with prefix sharing. */
duo_status duo_bench_oracle_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                  duo_bench_report *r);

/* Causal attention forward + backward on the GEMM path and with the fused
 * kernels, round-robin, at T = 256, 512, 1024, 2048 (8 sequences, the
 * config's heads and head dim; each shape names the path's saved and scratch
 * memory), then training steps with model.attention "gemm" and "fused"
 * (bench_attention.c). */
duo_status duo_bench_attention_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                     duo_bench_report *r);

/* FLOPs of a forward pass of one token with every layer on `pattern` (L route
 * letters S/B/K), attention counted over the causal half: for the eval table's
 * "FLOP fraction of all-big". ffn_only counts the FFNs alone. */
double duo_bench_forward_flops(const duo_model_config *c, const char *pattern, bool ffn_only);

#endif
