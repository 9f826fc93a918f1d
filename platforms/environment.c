/* Driver environment, set before any OpenCL call. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "environment.h"

void duo_cache_dir(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, cap, "%s/duocl", xdg);
    else if (home && *home)
        snprintf(out, cap, "%s/.cache/duocl", home);
    else {
        out[0] = '\0';
        return;
    }
    duo_make_directories(out); /* a failure shows when a file there is opened */
}

void duo_platform_prepare_environment(void)
{
    /* PoCL compiles kernels with LLVM at first use (CLBlast's GEMM takes ~12 s)
     * and caches the result in POCL_CACHE_DIR; make that a persistent folder we
     * know rather than whatever the driver picks. */
    const char *pocl = getenv("POCL_CACHE_DIR");
    if (pocl && *pocl)
        return;
    char dir[1024];
    duo_cache_dir(dir, sizeof dir - 16);
    if (!dir[0])
        return;
    strcat(dir, "/pocl");
    duo_make_directories(dir);
    setenv("POCL_CACHE_DIR", dir, 0);
}
