/* Router training (stage 3) in the library: duocl/router.h's
 * duo_router_train, and its beta schedule for tests and tools. */
#ifndef DUOCL_HOST_ROUTER_TRAIN_H
#define DUOCL_HOST_ROUTER_TRAIN_H

#include "duocl/router.h"

/* The softmax sharpness of step `step` (from 0) of `steps`: geometric from
 * beta_start at the first step to beta_end at the last. */
double duo_router_beta(double beta_start, double beta_end, long steps, long step);

#endif
