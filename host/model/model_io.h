/* Model checkpoints: the parameters (and, for training, AdamW's moments and
 * the training state) of a duo_model in the checkpoint format of
 * duocl/checkpoint.h. Tensors are named "param.<tensor>", "adam_m.<tensor>"
 * and "adam_v.<tensor>" with the model's tensor names ("layer.3.w1_big");
 * the training state is the u64 scalars "state.step", "state.loader_seed"
 * and "state.loader_next". */
#ifndef DUOCL_HOST_MODEL_IO_H
#define DUOCL_HOST_MODEL_IO_H

#include <stdbool.h>

#include "duocl/checkpoint.h"
#include "duocl/config.h"
#include "duocl/model.h"
#include "model.h"

typedef struct duo_train_state {
    uint64_t step;         /* optimizer steps done */
    uint64_t loader_seed;  /* duo_loader_state */
    uint64_t loader_next;
} duo_train_state;

/* Writes config_json, the parameters and, when state is not NULL, the AdamW
 * moments and the state, atomically (temporary file + rename). */
duo_status duo_model_save(duo_model *m, const char *path, const char *config_json,
                          const duo_train_state *state);

/* Loads the parameters from ck (shapes must match the model); when state is
 * not NULL also the moments and the state (a checkpoint without them is an
 * error naming the file). */
duo_status duo_model_load(duo_model *m, const duo_checkpoint *ck, duo_train_state *state);

/* Opens a checkpoint, reads its config, creates the model and loads its
 * parameters: what evaluation and analysis start from. The caller destroys
 * the model. */
duo_status duo_model_open(duo_runtime *rt, const char *path, duo_config *config, duo_model **out);

#endif
