/* Helpers shared by the benchmark suites (bench_suites.c, bench_ops.c, bench_attention.c). */
#ifndef DUOCL_HOST_BENCH_INTERNAL_H
#define DUOCL_HOST_BENCH_INTERNAL_H

#include "bench.h"
#include "model/model.h"
#include "model/train_step.h"
#include "study/oracle.h"

/* A device buffer of `floats` values uniform in [-scale, scale) from seed. */
duo_status duo_bench_random_buffer(duo_runtime *rt, size_t floats, float scale, uint64_t seed,
                                   cl_mem *out);

/* Overwrites the first `floats` values of a buffer the same way. */
duo_status duo_bench_random_fill(duo_runtime *rt, cl_mem buffer, size_t floats, float scale,
                                 uint64_t seed);

/* n tokens uniform in [0, vocab). */
void duo_bench_random_tokens(int32_t *tokens, size_t n, int vocab, uint64_t seed);

/* Fills a case (shape left empty, device_median NaN). */
void duo_bench_case_set(duo_bench_case *c, const char *section, const char *name, double work,
                        const char *unit, duo_bench_fn run, void *context, int arg);

/* duo_bench_run, then each case appended to the report. */
duo_status duo_bench_run_and_add(duo_runtime *rt, duo_bench_case *cases, int count,
                                 const duo_bench_run_options *run, duo_bench_report *r);

/* A model with random weights and random tokens for the suites' training and
 * evaluation cases (tokens and targets from seed + 11 and + 12). */
typedef struct duo_bench_model {
    duo_runtime *rt;
    duo_model *m;
    duo_activations *a;
    duo_optimizer opt;
    bool has_opt;
    duo_train_config train;
    duo_route_thresholds half;
    int32_t *tokens, *targets;
    uint64_t seed;
    long step;
    duo_search_counts counts;
    const char *patterns[3];
    duo_trace *trace;
} duo_bench_model;

/* Creates `model` (o->config's, or a variant of it) with a batch of `batch`
 * windows; `training` also makes the optimizer. */
duo_status duo_bench_model_open(duo_runtime *rt, const duo_bench_suite_options *o,
                                const duo_model_config *model, size_t batch, bool training,
                                duo_bench_model *mc);
void duo_bench_model_close(duo_bench_model *mc);

/* One stage-1 training step at p_big 0.5 (a duo_bench_fn; context is the
 * duo_bench_model, arg unused). */
duo_status duo_bench_train_run(void *context, int arg);

#endif
