/* Seeded host-side random numbers: a splitmix64 stream. Small, fast and the
 * same on every platform, so data order and initialisation are reproducible. */
#ifndef DUOCL_HOST_RNG_H
#define DUOCL_HOST_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct duo_rng {
    uint64_t state;
} duo_rng;

/* The splitmix64 finaliser: a good 64-bit mix of one word. */
static inline uint64_t duo_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline duo_rng duo_rng_seeded(uint64_t seed)
{
    duo_rng r = {duo_mix64(seed ^ 0x853c49e6748fea9bULL)};
    return r;
}

static inline uint64_t duo_rng_next(duo_rng *r)
{
    r->state += 0x9e3779b97f4a7c15ULL;
    return duo_mix64(r->state);
}

/* Uniform in [0, 1) with 24 bits, exactly representable as float. */
static inline float duo_rng_uniform(duo_rng *r)
{
    return (float)(duo_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform in [lo, hi). */
static inline float duo_rng_range(duo_rng *r, float lo, float hi)
{
    return lo + (hi - lo) * duo_rng_uniform(r);
}

/* Uniform integer in [0, n), n > 0. */
static inline uint64_t duo_rng_below(duo_rng *r, uint64_t n)
{
    return duo_rng_next(r) % n;
}

/* Standard normal (Box-Muller, in double for portability of the bits). */
static inline float duo_rng_normal(duo_rng *r)
{
    double u1 = ((double)(duo_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(duo_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif
