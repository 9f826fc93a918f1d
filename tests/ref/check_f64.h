/* Helpers for tests whose references run in double: conversions, and a
 * comparison in double (finite-difference checks need tolerances far below
 * float's resolution, which comparing rounded floats would break). */
#ifndef DUOCL_TESTS_CHECK_F64_H
#define DUOCL_TESTS_CHECK_F64_H

#include <stdbool.h>
#include <stddef.h>

#include "testutil.h"

/* Fresh copies (test_malloc: abort on failure); the caller frees. */
double *ref_to_double(const float *x, size_t n);
float *ref_to_float(const double *x, size_t n);

/* Like test_close, in double: |got - want| <= atol + rtol |want|. */
bool test_close_f64(test_context *t, const char *name, const double *got, const double *want,
                    size_t n, double atol, double rtol);

#endif
