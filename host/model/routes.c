/* Host side of the counter-based route generator (see include/duocl/routes.h).
 * kernels/routes.cl computes the same hash and comparison on the device. */
#include <math.h>
#include <stdbool.h>

#include "duocl/routes.h"
#include "base/error.h"
#include "base/rng.h"

#define HASH_RANGE (1u << DUO_ROUTE_HASH_BITS)

/* A fixed odd constant keys the seed, so seed 0 is not a special case. */
#define ROUTE_SEED_KEY 0x6a09e667f3bcc909ULL

static bool probability_ok(double p) { return isfinite(p) && p >= 0.0 && p <= 1.0; }

duo_status duo_route_thresholds_make(double p_big, double p_small, double p_skip,
                                     duo_route_thresholds *out)
{
    double sum = p_big + p_small + p_skip;
    if (!probability_ok(p_big) || !probability_ok(p_small) || !probability_ok(p_skip) ||
        !(fabs(sum - 1.0) <= 1e-6))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "route probabilities p_big=%g p_small=%g p_skip=%g are not allowed: "
                        "each must be in [0, 1] and they must sum to 1 (their sum is %.9g)",
                        p_big, p_small, p_skip, sum);
    /* Rounding p_big and p_skip to 24 bits and giving the rest to SMALL keeps
     * exact cases exact (p = 0, 1, 0.5, 0.25 ...). */
    uint32_t big = (uint32_t)llround(p_big * HASH_RANGE);
    uint32_t skip = (uint32_t)llround(p_skip * HASH_RANGE);
    if (big > HASH_RANGE)
        big = HASH_RANGE;
    if (skip > HASH_RANGE - big)
        skip = HASH_RANGE - big;
    out->big_end = big;
    out->small_end = HASH_RANGE - skip;
    return DUO_OK;
}

uint64_t duo_route_hash(uint64_t seed, uint64_t step, uint32_t layer, uint32_t token)
{
    uint64_t h = duo_mix64(seed ^ ROUTE_SEED_KEY);
    h = duo_mix64(h ^ step);
    return duo_mix64(h ^ (((uint64_t)layer << 32) | token));
}

duo_route duo_route_pick(const duo_route_thresholds *thresholds, uint64_t seed, uint64_t step,
                         uint32_t layer, uint32_t token)
{
    uint32_t u = (uint32_t)(duo_route_hash(seed, step, layer, token) >> (64 - DUO_ROUTE_HASH_BITS));
    if (u < thresholds->big_end)
        return DUO_ROUTE_BIG;
    return u < thresholds->small_end ? DUO_ROUTE_SMALL : DUO_ROUTE_SKIP;
}

duo_status duo_route_sample(double p_big, double p_small, double p_skip, uint64_t seed,
                            uint64_t step, uint32_t layer, uint32_t token, duo_route *out)
{
    duo_route_thresholds thresholds;
    DUO_TRY(duo_route_thresholds_make(p_big, p_small, p_skip, &thresholds));
    *out = duo_route_pick(&thresholds, seed, step, layer, token);
    return DUO_OK;
}

char duo_route_letter(duo_route route)
{
    switch (route) {
    case DUO_ROUTE_SKIP: return 'K';
    case DUO_ROUTE_SMALL: return 'S';
    case DUO_ROUTE_BIG: return 'B';
    }
    return '?';
}
