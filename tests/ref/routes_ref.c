#include <math.h>

#include "routes_ref.h"

static uint64_t splitmix64_finaliser(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z;
}

uint8_t ref_route(uint64_t seed, uint64_t step, uint32_t layer, uint32_t token, double p_big,
                  double p_small, double p_skip)
{
    (void)p_small; /* SMALL takes what BIG and SKIP leave */
    uint64_t key = splitmix64_finaliser(seed ^ 0x6a09e667f3bcc909ULL);
    uint64_t step_key = splitmix64_finaliser(key ^ step);
    uint64_t counter = ((uint64_t)layer << 32) | (uint64_t)token;
    uint64_t hash = splitmix64_finaliser(step_key ^ counter);
    double u = (double)(hash >> 40);              /* 0 .. 2^24 - 1 */
    double big_end = round(p_big * 16777216.0);   /* both rounded half away from zero */
    double skip_width = round(p_skip * 16777216.0);
    if (skip_width > 16777216.0 - big_end)
        skip_width = 16777216.0 - big_end;
    if (u < big_end)
        return 2;
    if (u < 16777216.0 - skip_width)
        return 1;
    return 0;
}

void ref_route_generate(uint8_t *routes, uint64_t seed, uint64_t step, uint32_t first_layer,
                        int layers, size_t n, double p_big, double p_small, double p_skip)
{
    for (int l = 0; l < layers; l++)
        for (size_t t = 0; t < n; t++)
            routes[(size_t)l * n + t] = ref_route(seed, step, first_layer + (uint32_t)l,
                                                  (uint32_t)t, p_big, p_small, p_skip);
}

void ref_route_counts(const uint8_t *routes, size_t n, size_t counts[3])
{
    counts[0] = counts[1] = counts[2] = 0;
    for (size_t i = 0; i < n; i++)
        if (routes[i] < 3)
            counts[routes[i]]++;
}

int ref_count_plausible(size_t count, size_t n, double p, double sigmas)
{
    double mean = (double)n * p, sd = sqrt((double)n * p * (1.0 - p));
    return fabs((double)count - mean) <= sigmas * sd + 1.0;
}
