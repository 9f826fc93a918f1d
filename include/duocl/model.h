/* A Duo model on a device: its parameters in one flat buffer with named
 * views (embedding, per layer: attention norm and q/k/v/o, FFN norm, the big
 * and the small SwiGLU FFN; final norm; the head is tied to the embedding).
 * The study's stages (duocl/train.h, eval.h, oracle.h, router.h) open models
 * themselves; these calls are for programs that want the model as such. */
#ifndef DUOCL_MODEL_H
#define DUOCL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "duocl/config.h"
#include "duocl/runtime.h"
#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duo_model duo_model;

/* Allocates a model of a validated config on rt (parameters uninitialised). */
duo_status duo_model_create(duo_runtime *rt, const duo_model_config *config, duo_model **out);

/* Opens a checkpoint (duocl/checkpoint.h), reads its config into *config,
 * creates the model and loads its parameters. */
duo_status duo_model_open(duo_runtime *rt, const char *path, duo_config *config, duo_model **out);

/* Normal(0, 0.02) weights with the output projections scaled by 1/sqrt(2L),
 * unit norm gains: drawn on the host from the seed, so the same seed gives
 * the same model on every device. */
duo_status duo_model_init(duo_model *m, uint64_t seed);

/* Floats in the flat parameter buffer, and host copies of it. */
size_t duo_model_parameter_count(const duo_model *m);
duo_status duo_model_read_params(duo_model *m, float *host);
duo_status duo_model_write_params(duo_model *m, const float *host);

void duo_model_destroy(duo_model *m);

#ifdef __cplusplus
}
#endif
#endif
