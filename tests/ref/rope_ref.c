#include <math.h>

#include "rope_ref.h"

/* Rotates every pair by sign * angle. */
static void rotate(double *out, const double *in, size_t b, size_t t, size_t heads,
                   size_t head_dim, double theta, double sign)
{
    for (size_t row = 0; row < b * t; row++) {
        double pos = (double)(row % t);
        for (size_t h = 0; h < heads; h++)
            for (size_t i = 0; i < head_dim / 2; i++) {
                double angle = sign * pos * pow(theta, -2.0 * (double)i / (double)head_dim);
                double c = cos(angle), s = sin(angle);
                size_t k = row * heads * head_dim + h * head_dim + 2 * i;
                double x0 = in[k], x1 = in[k + 1];
                out[k] = x0 * c - x1 * s;
                out[k + 1] = x0 * s + x1 * c;
            }
    }
}

void ref_rope_forward(double *out, const double *in, size_t b, size_t t, size_t heads,
                      size_t head_dim, double theta)
{
    rotate(out, in, b, t, heads, head_dim, theta, 1.0);
}

void ref_rope_backward(double *dx, const double *dy, size_t b, size_t t, size_t heads,
                       size_t head_dim, double theta)
{
    rotate(dx, dy, b, t, heads, head_dim, theta, -1.0);
}
