/* How losses are reported. */
#ifndef DUOCL_HOST_MEASURES_H
#define DUOCL_HOST_MEASURES_H

#include <math.h>

/* Bits per byte of text: a summed loss in nats over the UTF-8 bytes of the
 * tokens it scored; NAN when no bytes were scored. Comparable across
 * tokenizers, unlike nats per token. */
static inline double duo_bits_per_byte(double total_nats, double bytes)
{
    return bytes > 0 ? total_nats / log(2.0) / bytes : NAN;
}

#endif
