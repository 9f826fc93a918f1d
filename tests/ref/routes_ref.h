/* Plain-C reference of kernels/routes.cl, written from the specification in
 * include/duocl/routes.h (not by calling the library), plus counting helpers
 * for the statistical checks. */
#ifndef DUOCL_TESTS_ROUTES_REF_H
#define DUOCL_TESTS_ROUTES_REF_H

#include <stddef.h>
#include <stdint.h>

/* The route id (0 SKIP, 1 SMALL, 2 BIG) of (seed, step, layer, token) for
 * probabilities that sum to 1. */
uint8_t ref_route(uint64_t seed, uint64_t step, uint32_t layer, uint32_t token, double p_big,
                  double p_small, double p_skip);

/* routes (layers, n): ref_route for layers first_layer .. first_layer + layers - 1. */
void ref_route_generate(uint8_t *routes, uint64_t seed, uint64_t step, uint32_t first_layer,
                        int layers, size_t n, double p_big, double p_small, double p_skip);

/* counts[r] = how many of the n ids equal r, r = 0, 1, 2. */
void ref_route_counts(const uint8_t *routes, size_t n, size_t counts[3]);

/* Whether an observed count of `count` in n independent draws is within
 * `sigmas` standard deviations (plus one for rounding) of n * p. */
int ref_count_plausible(size_t count, size_t n, double p, double sigmas);

#endif
