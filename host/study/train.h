/* Stage-1 training (public: duocl/train.h) and the config comparison its
 * resume uses. */
#ifndef DUOCL_HOST_TRAIN_H
#define DUOCL_HOST_TRAIN_H

#include <signal.h>
#include <stdbool.h>

#include "duocl/config.h"
#include "duocl/train.h"
#include "evaluate.h"
#include "device/runtime_internal.h"
#include "model/train_step.h"

/* The first key path where two configs differ ("train.lr"), ignoring
 * train.steps; writes "" if they agree. Values are described in `detail`
 * ("0.002 in the checkpoint, 0.001 now"). */
duo_status duo_config_first_difference(const duo_config *checkpoint, const duo_config *now,
                                       char *key, size_t key_size, char *detail, size_t detail_size);

#endif
