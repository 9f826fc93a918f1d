/* Inside the device layer's tuner (duocl/tune.h): the timing processes
 * (tune_timing.c). Each parameter set is timed in a fresh process,
 * `PROGRAM tune --measure-job JOB` (duo_tune_measure_job), because CLBlast can
 * override its parameters but not restore its built-in ones. */
#ifndef DUOCL_DEVICE_TUNE_TIMING_H
#define DUOCL_DEVICE_TUNE_TIMING_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "device/tuning.h"
#include "duocl/tune.h"

/* A parameter set to time. */
typedef struct duo_tune_set {
    duo_tuning tuning;      /* no kernels: CLBlast's built-in parameters */
    char file[1700];        /* where duo_tune_compare stored it for the children */
} duo_tune_set;

static inline void duo_tune_emit(const duo_tune_options *o, duo_tune_event e)
{
    if (o->callback)
        o->callback(&e, o->user);
}

/* The most a timing child or a tuner's compiling first run may take. */
static inline double duo_tune_child_seconds(const duo_tune_options *o)
{
    return fmax(600, 4 * o->seconds);
}

/* Writes a timing job: the device, a tuning file applied over the built-in
 * parameters (NULL: none), a warm-up call before every GEMM, the GEMMs. */
duo_status duo_tune_write_job(const char *path, const duo_device_info *device,
                              const char *parameters, bool warm_up, const duo_tune_gemm *gemms,
                              int count);

/* Runs the job in a child `program tune --measure-job JOB` (in JOB.d, its
 * output in JOB.d/log.txt), killed after `seconds`: ms[i] for each of its
 * `count` GEMMs, or false with a message in why. */
bool duo_tune_time_job(const char *program, const char *job_path, int count, double seconds,
                       double *ms, char *why, size_t cap);

/* Times every set on every GEMM of the step, interleaved: round r runs the
 * sets starting from set r (built-in first, then second, ...), each in a
 * fresh process. out->gemms[].ms and out->total_ms get the medians and totals.
 * o: every default filled in (o->program the duocl binary). */
duo_status duo_tune_compare(const duo_tune_options *o, duo_tune_set *sets, duo_tune_result *out);

#endif
