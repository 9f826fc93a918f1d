/* Wall-clock time for progress, rates and benchmarks. */
#ifndef DUOCL_HOST_CLOCK_H
#define DUOCL_HOST_CLOCK_H

/* Seconds on the monotonic clock (an arbitrary origin: use differences). */
double duo_now_seconds(void);

#endif
