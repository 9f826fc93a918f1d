/* The the kernels/ folder's .cl files sources compiled into the binary (generated at build time). */
#ifndef DUOCL_HOST_EMBEDDED_KERNELS_H
#define DUOCL_HOST_EMBEDDED_KERNELS_H

#include <stddef.h>

typedef struct duo_embedded_kernel {
    const char *file;   /* "norm.cl" */
    const char *source; /* NUL-terminated */
    size_t length;      /* without the NUL */
} duo_embedded_kernel;

/* Terminated by an entry with file == NULL. */
extern const duo_embedded_kernel duo_embedded_kernels[];

#endif
