/* The sources of the kernels/ folder's .cl files, compiled into the binary
 * (generated at build time by cmake/embed_kernels.cmake). common.cl is among
 * them: program.c puts it in front of every other file, it is no program. */
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
