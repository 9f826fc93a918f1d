/* The SwiGLU gate of the FFN: h = silu(a) * b, with silu(x) = x sigmoid(x).
 * (The three GEMMs around it go through CLBlast.)
 * a, b, h, dh, da, db: (M, F) row-major and contiguous, i.e. flat arrays of
 * n = M*F floats; one work-item per element. */

/* sigmoid(x) and 1 - sigmoid(x), both from exp(-|x|) <= 1: no overflow for
 * large |x| and no cancellation in 1 - sigmoid(x) when sigmoid(x) ~ 1. */
static float sigmoid_pair(const float x, float *complement)
{
    const float e = exp(-fabs(x));
    const float big = 1.0f / (1.0f + e), small = e / (1.0f + e);
    *complement = x >= 0.0f ? small : big;
    return x >= 0.0f ? big : small;
}

/* h may alias a or b (each element is read before it is written). */
__kernel void swiglu_forward(__global float *h, __global const float *a, __global const float *b,
                             const int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    float one_minus;
    const float x = a[i], s = sigmoid_pair(x, &one_minus);
    h[i] = x * s * b[i];
}

/* da = dh * b * silu'(a), silu'(a) = s (1 + a (1 - s)); db = dh * silu(a).
 * Both overwritten; da and db may alias dh, a or b elementwise. */
__kernel void swiglu_backward(__global float *da, __global float *db, __global const float *dh,
                              __global const float *a, __global const float *b, const int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    float one_minus;
    const float x = a[i], g = dh[i], bi = b[i];
    const float s = sigmoid_pair(x, &one_minus);
    da[i] = g * bi * (s * (1.0f + x * one_minus));
    db[i] = g * (x * s);
}
