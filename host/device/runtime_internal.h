/* What host code (launchers, model, tests) sees of the runtime: the OpenCL
 * handles, kernel lookup, buffers and a short launch helper. */
#ifndef DUOCL_HOST_RUNTIME_INTERNAL_H
#define DUOCL_HOST_RUNTIME_INTERNAL_H

#include <CL/cl.h>

#include "platforms/profile.h"
#include "duocl/runtime.h"
#include "cl_error.h"

enum { DUO_MAX_PROGRAMS = 32, DUO_MAX_KERNELS = 128, DUO_MAX_RETIRED = 32 };

typedef struct duo_program_entry {
    char file[64];     /* "norm.cl" */
    cl_program program;
} duo_program_entry;

/* How often the host waited for the device, by the helper that waited: every
 * blocking helper below counts itself, so a caller can tell how many round
 * trips a piece of work made (duo_blocking_total before and after it). */
typedef struct duo_blocking_counts {
    unsigned long reads;    /* duo_buffer_read */
    unsigned long writes;   /* duo_buffer_write (a blocking write waits for the queue too) */
    unsigned long finishes; /* duo_runtime_finish */
    unsigned long waits;    /* duo_event_wait */
} duo_blocking_counts;

/* A --kernel-binaries folder's manifest, checked at start-up (program_export.c). */
typedef struct duo_binary_manifest duo_binary_manifest;

typedef struct duo_kernel_entry {
    char file[64];
    char name[64];     /* "rmsnorm_forward" */
    cl_kernel kernel;
} duo_kernel_entry;

struct duo_runtime {
    duo_device_info device;
    const duo_profile *profile;
    cl_context context;
    cl_command_queue queue;
    cl_device_id device_id;
    char kernel_dir[1024];        /* "" when kernels are embedded */
    char build_options[512];      /* -cl-std and defines shared by every program */
    size_t work_group_1d, work_group_reduce, work_group_2d; /* profile's, clamped to the device */
    duo_program_entry programs[DUO_MAX_PROGRAMS];
    int program_count;
    duo_kernel_entry kernels[DUO_MAX_KERNELS];
    int kernel_count;
    cl_mem gemm_temp;             /* CLBlast's temp buffer, or the built-in GEMM's transposed
                                   * B; grown on demand */
    size_t gemm_temp_bytes;
    cl_mem gemm_retired[DUO_MAX_RETIRED]; /* temp buffers it replaced (gemm.c, grow_temp) */
    int gemm_retired_count;
    duo_gemm_kind gemm;           /* DUO_GEMM_CLBLAST or DUO_GEMM_BUILTIN */
    char gemm_reason[64];         /* where the choice came from */
    duo_gemm_tiles gemm_tiles;    /* the built-in GEMM's, clamped to the device */
    char no_compile_reason[96];   /* "" when compiling at run time is allowed */
    char binaries_dir[1024];      /* "" unless programs come from ready-built binaries */
    duo_binary_manifest *manifest; /* binaries_dir's manifest.json */
    bool profiling;
    duo_blocking_counts blocking; /* since the runtime was created */
};

/* duo_runtime_create for duo_kernels_export: it compiles every program from
 * source (or, on a device that cannot, only reads the sources) and never
 * loads binaries. */
duo_status duo_runtime_create_for_export(const duo_runtime_options *options, duo_runtime **out);

/* The sum of rt->blocking's counts. */
unsigned long duo_blocking_total(const duo_runtime *rt);

/* The kernel `name` from kernels/`file`, compiling the file on first use. */
duo_status duo_kernel_get(duo_runtime *rt, const char *file, const char *name, cl_kernel *out);

/* One kernel argument: its size and a pointer to its value (NULL value for __local). */
typedef struct duo_karg {
    size_t size;
    const void *value;
} duo_karg;

#define DUO_ARG(v) ((duo_karg){sizeof(v), &(v)})
#define DUO_LOCAL(bytes) ((duo_karg){(bytes), NULL})
#define DUO_NARGS(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* Sets the arguments and enqueues kernels/`file`:`name` over `dims` dimensions.
 * global[] is rounded up to a multiple of local[]; kernels bounds-check. */
duo_status duo_launch(duo_runtime *rt, const char *file, const char *name, int dims,
                      const size_t global[], const size_t local[], int nargs, const duo_karg args[]);

/* Buffers. Sizes are in bytes; a zero size allocates a small placeholder. */
duo_status duo_buffer_create(duo_runtime *rt, size_t bytes, cl_mem *out);
duo_status duo_buffer_write(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes,
                            const void *src);
duo_status duo_buffer_read(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes, void *dst);
/* Not blocking, in order with the kernels: a read whose `done` event (NULL
 * for 0 bytes; the caller waits for it with duo_event_wait and releases it)
 * says when dst holds the bytes, and a write whose src must stay unchanged
 * until a later blocking call or wait has passed it. */
duo_status duo_buffer_read_start(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes,
                                 void *dst, cl_event *done);
duo_status duo_buffer_write_start(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes,
                                  const void *src);
duo_status duo_buffer_fill_zero(duo_runtime *rt, cl_mem buffer, size_t bytes);
duo_status duo_buffer_fill_byte(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes,
                                unsigned char value);
/* A marker event after everything enqueued so far (for device timings; the
 * queue has profiling on when the runtime was created with it). The caller
 * releases it. */
duo_status duo_queue_marker(duo_runtime *rt, cl_event *out);
/* Waits for n events (blocking; counted in rt->blocking.waits). */
duo_status duo_event_wait(duo_runtime *rt, int n, const cl_event *events);
/* Enqueued (in order with the kernels), not waited for. */
duo_status duo_buffer_copy(duo_runtime *rt, cl_mem src, size_t src_offset, cl_mem dst,
                           size_t dst_offset, size_t bytes);
void duo_buffer_release(cl_mem *buffer);

/* Reads the full source of program `file` (kernels/common.cl and the file,
 * with #line directives) into a malloc'd string. */
duo_status duo_program_source(duo_runtime *rt, const char *file, char **out, size_t *length);

/* The FNV-1a hash of a program's full source, as the manifest writes it. */
void duo_program_source_hash(const char *source, size_t length, char out[17]);

/* --kernel-binaries: reads and checks binaries_dir's manifest against the
 * device, the build options and every program's source and binary file. */
duo_status duo_binaries_open(duo_runtime *rt);
void duo_binaries_close(duo_runtime *rt);

/* Program `file` from binaries_dir (duo_binaries_open ran), its kernels checked. */
duo_status duo_program_load_binary(duo_runtime *rt, const char *file, cl_program *out);

/* Builds a program from source text with the runtime's options (exposed for tests). */
duo_status duo_program_build_source(duo_runtime *rt, const char *file, const char *source,
                                    size_t length, cl_program *out);

#endif
