/* Route generation: the counter-based hash of include/duocl/routes.h, on the
 * device. Integer arithmetic only (ulong wraps like the host's uint64_t), and
 * the thresholds are integers computed on the host, so every route here equals
 * duo_route_pick's for the same (seed, step, layer, token).
 *
 * routes: (layers, n) uint8 row-major; row l holds layer first_layer + l, and
 *         element [l, t] is the route id (0 SKIP, 1 SMALL, 2 BIG) of token t
 *         (its index in the flattened batch, b * T + t).
 * big_end, small_end: thresholds on the hash's top 24 bits (see routes.h). */

#define ROUTE_SEED_KEY 0x6a09e667f3bcc909UL

/* The splitmix64 finaliser, as duo_mix64 in host/rng.h. */
static ulong route_mix64(ulong z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
    return z ^ (z >> 31);
}

/* One work-item per (token, layer): global (n, layers). */
__kernel void route_generate(__global uchar *routes, const ulong seed, const ulong step_index,
                             const uint first_layer, const int layers, const int n,
                             const uint big_end, const uint small_end)
{
    const int t = get_global_id(0);
    const int l = get_global_id(1);
    if (t >= n || l >= layers)
        return;
    ulong h = route_mix64(seed ^ ROUTE_SEED_KEY);
    h = route_mix64(h ^ step_index);
    h = route_mix64(h ^ (((ulong)(first_layer + (uint)l) << 32) | (ulong)(uint)t));
    const uint u = (uint)(h >> 40);
    routes[(size_t)l * (size_t)n + (size_t)t] = u < big_end ? 2 : (u < small_end ? 1 : 0);
}
