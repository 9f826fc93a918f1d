/* Routes: which FFN module one token uses at one layer.
 *
 * During Duo training every (step, layer, token) draws its route independently
 * from a counter-based generator, so a run is reproducible and any route can be
 * recomputed on its own, on the host or on the device, without a stream state:
 *
 *   h = mix(mix(mix(seed ^ 0x6a09e667f3bcc909) ^ step) ^ (layer << 32 | token))
 *   u = h >> 40                                   (top 24 bits, 0 <= u < 2^24)
 *   route = u < big_end ? BIG : u < small_end ? SMALL : SKIP
 *
 * where mix is the splitmix64 finaliser and all arithmetic is on uint64
 * (wrapping). The thresholds are integers the host derives once from the
 * probabilities (duo_route_thresholds_make), so host and device compare the
 * same integers and give identical routes: no float is involved per token.
 * `token` is the token's index in the flattened batch, b * T + t. */
#ifndef DUOCL_ROUTES_H
#define DUOCL_ROUTES_H

#include <stdint.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The values are the route ids stored on the device (one uint8 per token). */
typedef enum duo_route {
    DUO_ROUTE_SKIP = 0,  /* the FFN sub-block is bypassed: x = h */
    DUO_ROUTE_SMALL = 1, /* the small FFN (F_small) */
    DUO_ROUTE_BIG = 2    /* the big FFN (F_big) */
} duo_route;

enum { DUO_ROUTE_COUNT = 3 };

/* Integer thresholds on the hash's top 24 bits: [0, big_end) is BIG,
 * [big_end, small_end) is SMALL, [small_end, 2^24) is SKIP. */
typedef struct duo_route_thresholds {
    uint32_t big_end;
    uint32_t small_end;
} duo_route_thresholds;

enum { DUO_ROUTE_HASH_BITS = 24 };

/* Checks that each probability is finite, in [0, 1], and that they sum to 1
 * within 1e-6; fails with DUO_ERR_INVALID_ARGUMENT naming the values otherwise.
 * The probabilities are quantised to multiples of 2^-24 (p_big and p_skip are
 * rounded to the nearest; p_small takes the rest). */
duo_status duo_route_thresholds_make(double p_big, double p_small, double p_skip,
                                     duo_route_thresholds *out);

/* The 64-bit hash of (seed, step, layer, token) above. */
uint64_t duo_route_hash(uint64_t seed, uint64_t step, uint32_t layer, uint32_t token);

/* The route of one token at one layer and step, for valid thresholds. */
duo_route duo_route_pick(const duo_route_thresholds *thresholds, uint64_t seed, uint64_t step,
                         uint32_t layer, uint32_t token);

/* The same with the probabilities validated first (convenient, slower). */
duo_status duo_route_sample(double p_big, double p_small, double p_skip, uint64_t seed,
                            uint64_t step, uint32_t layer, uint32_t token, duo_route *out);

/* 'K', 'S' or 'B' (the letters of a route string such as "SSBK"); '?' otherwise. */
char duo_route_letter(duo_route route);

#ifdef __cplusplus
}
#endif
#endif
