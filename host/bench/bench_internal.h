/* Helpers shared by the benchmark suites (bench_suites.c, bench_ops.c). */
#ifndef DUOCL_HOST_BENCH_INTERNAL_H
#define DUOCL_HOST_BENCH_INTERNAL_H

#include "bench.h"

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

#endif
