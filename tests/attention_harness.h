/* The checks op_attention (the GEMM path, ops/attention.h) and
 * op_attention_fused (the fused path, ops/attention_fused.h) share: both
 * paths have the same calling pattern, so one harness takes the path's
 * functions and runs, for a shape,
 *   - forward and backward on random q, k, v, dy uniform in [-1, 1] against
 *     the double-precision C reference (tests/ref/attention_ref.c), and
 *     optionally a second run that must give the same bytes in every output
 *     and in the saved block;
 *   - causality: huge keys and values after a cut change no output bit at or
 *     before it.
 * Every output, saved and scratch buffer starts as NaN (test_alloc), so a
 * value the launchers fail to write, or one computed from memory they never
 * wrote, shows up as NaN.
 *
 * Tolerance (both paths): the device computes in float with sums of at most
 * hd products per score and T terms per output, so its error is a few float
 * epsilons times those lengths' square roots, well under 1e-6 at the tested
 * sizes; we allow atol = 1e-5 * max(1, max |want|) and rtol 1e-5 (~100
 * epsilons of the values' scale), which still catches any wrong term (a mask
 * off by one moves y by ~1/T, over 1e-3 here).
 *
 * Check names start with the path's name ("attention", "attention_fused"). */
#ifndef DUOCL_TESTS_ATTENTION_HARNESS_H
#define DUOCL_TESTS_ATTENTION_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/attention.h"
#include "testutil.h"

typedef struct attention_path {
    const char *name; /* prefix of every check's name */
    size_t (*saved_floats)(duo_attention_shape s);
    size_t (*scratch_floats)(duo_attention_shape s);
    duo_status (*forward)(duo_runtime *rt, duo_attention_shape s, cl_mem y, cl_mem saved,
                          cl_mem scratch, cl_mem q, cl_mem k, cl_mem v);
    duo_status (*backward)(duo_runtime *rt, duo_attention_shape s, cl_mem dq, cl_mem dk, cl_mem dv,
                           cl_mem scratch, cl_mem dy, cl_mem saved);
} attention_path;

/* Four checks (y, dq, dk, dv against the reference); with `twice`, five more
 * (y, dq, dk, dv and saved identical bytes on a second run). */
void attention_check_against_reference(test_context *t, const attention_path *path,
                                       duo_attention_shape s, bool twice);

/* One check: rows at or before `cut` identical bytes after later keys and
 * values were set to +-1e30. */
void attention_check_causality(test_context *t, const attention_path *path, duo_attention_shape s,
                               size_t cut);

/* A new array of n doubles (free() it) holding x. */
double *attention_to_double(const float *x, size_t n);

#endif
