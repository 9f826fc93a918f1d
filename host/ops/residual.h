/* Residual add and scaled add on the device. Buffers hold n floats. */
#ifndef DUOCL_OPS_RESIDUAL_H
#define DUOCL_OPS_RESIDUAL_H

#include "device/runtime_internal.h"

/* out = a + b (out may alias a or b). */
duo_status duo_residual_add(duo_runtime *rt, cl_mem out, cl_mem a, cl_mem b, size_t n);

/* y += alpha * x. */
duo_status duo_scaled_add(duo_runtime *rt, cl_mem y, cl_mem x, float alpha, size_t n);

#endif
