/* OpenCL device discovery and selection.
 * Every device of every platform gets one flat index; broken platforms are
 * skipped with a warning instead of failing the whole listing. */
#ifndef DUOCL_DEVICE_H
#define DUOCL_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum duo_device_type {
    DUO_DEVICE_GPU,
    DUO_DEVICE_ACCELERATOR,
    DUO_DEVICE_CPU,
    DUO_DEVICE_OTHER
} duo_device_type;

typedef struct duo_device_info {
    int index;               /* flat index over all platforms */
    int platform_index;      /* P of the P:D selector */
    int device_index;        /* D of the P:D selector */
    char platform[128];      /* platform name */
    char platform_version[128];
    char vendor[128];        /* device vendor string */
    uint32_t vendor_id;      /* PCI vendor id (0x10DE Nvidia, 0x1002 AMD, 0x8086 Intel) */
    char name[256];          /* device name */
    char driver[128];        /* driver version */
    duo_device_type type;
    bool integrated;         /* shares memory with the host (iGPU) */
    char opencl_c_version[64];
    int opencl_c_major, opencl_c_minor;
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes; /* the largest single buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE) */
    uint64_t local_mem_bytes;
    size_t max_work_group_size;
    bool fp16, fp64;
    bool compiler_available; /* CL_DEVICE_COMPILER_AVAILABLE: it builds OpenCL C at run time */
    char profile[16];        /* vendor profile: amd, intel, nvidia, pocl, intel-fpga, xilinx,
                              * generic */
    void *cl_platform;       /* cl_platform_id */
    void *cl_device;         /* cl_device_id */
} duo_device_info;

typedef struct duo_device_list {
    duo_device_info *devices;
    int count;
    int default_index;         /* -1 when count is 0 */
    char default_reason[256];  /* why the default was chosen */
    char warnings[2048];       /* platforms that failed or had no devices, one per line */
} duo_device_list;

/* Lists every device. Fails with DUO_ERR_NO_PLATFORM when no ICD or no device
 * exists (the message says which package to install). Free with duo_devices_free. */
duo_status duo_devices_list(duo_device_list *out);
void duo_devices_free(duo_device_list *list);

/* Resolves a selector: NULL or "" for the default, a flat index "2", "P:D",
 * a vendor word (amd, intel, nvidia, pocl), a type (gpu, cpu, accelerator) or a
 * case-insensitive substring of the device or platform name. On no match,
 * DUO_ERR_NO_DEVICE with a message listing the devices. */
duo_status duo_devices_select(const duo_device_list *list, const char *selector, int *index_out);

/* "gpu", "cpu", "accelerator", "other". */
const char *duo_device_type_name(duo_device_type type);

#ifdef __cplusplus
}
#endif
#endif
