/* Environment that vendor drivers read when the ICD loader starts them. */
#ifndef DUOCL_PLATFORMS_ENVIRONMENT_H
#define DUOCL_PLATFORMS_ENVIRONMENT_H

/* Must run before the first OpenCL call. Points PoCL's kernel cache at a
 * persistent folder when POCL_CACHE_DIR is unset. Idempotent. */
void duo_platform_prepare_environment(void);

/* The folder duocl keeps its caches in: $XDG_CACHE_HOME/duocl or ~/.cache/duocl
 * (created). Writes "" when there is no home. */
void duo_cache_dir(char *out, size_t cap);

#endif
