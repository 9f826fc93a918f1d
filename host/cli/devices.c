/* duocl devices: every OpenCL device, the default and why. */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "duocl/device.h"
#include "platforms/profile.h"

static double gib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0 * 1024.0); }

static void print_text(const duo_device_list *list, int selected)
{
    for (int i = 0; i < list->count; i++) {
        const duo_device_info *d = &list->devices[i];
        printf("%s %d  (%d:%d)  %s  [%s%s]%s\n", i == selected ? "*" : " ", d->index,
               d->platform_index, d->device_index, d->name, duo_device_type_name(d->type),
               d->integrated ? ", integrated" : "", i == list->default_index ? "  default" : "");
        printf("      platform   %s (%s)\n", d->platform, d->platform_version);
        printf("      vendor     %s (0x%04X), profile %s\n", d->vendor, d->vendor_id, d->profile);
        printf("      OpenCL C   %d.%d, %u compute units @ %u MHz, max work-group %zu\n",
               d->opencl_c_major, d->opencl_c_minor, d->compute_units, d->clock_mhz,
               d->max_work_group_size);
        printf("      memory     global %.1f GiB, local %.0f KiB; fp16 %s, fp64 %s\n",
               gib(d->global_mem_bytes), (double)d->local_mem_bytes / 1024.0, d->fp16 ? "yes" : "no",
               d->fp64 ? "yes" : "no");
        const duo_profile *p = duo_profile_for(d);
        bool compiles = d->compiler_available && !p->no_compile;
        printf("      duocl      run-time compiler %s; GEMM %s by default; kernels %s\n",
               d->compiler_available ? "yes" : "no (CL_DEVICE_COMPILER_AVAILABLE false)",
               p->gemm == DUO_GEMM_BUILTIN ? "builtin" : "clblast",
               compiles ? "compiled at start-up (or --kernel-binaries)"
                        : "only ready-built: --kernel-binaries DIR (duocl kernels export)");
        printf("      driver     %s\n", d->driver);
    }
    if (list->default_index >= 0)
        printf("\ndefault: %d, %s\n", list->default_index, list->default_reason);
    if (selected != list->default_index)
        printf("selected: %d (*)\n", selected);
}

static cJSON *device_json(const duo_device_info *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", d->index);
    cJSON_AddNumberToObject(o, "platform_index", d->platform_index);
    cJSON_AddNumberToObject(o, "device_index", d->device_index);
    cJSON_AddStringToObject(o, "platform", d->platform);
    cJSON_AddStringToObject(o, "platform_version", d->platform_version);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddNumberToObject(o, "vendor_id", d->vendor_id);
    cJSON_AddStringToObject(o, "device", d->name);
    cJSON_AddStringToObject(o, "type", duo_device_type_name(d->type));
    cJSON_AddBoolToObject(o, "integrated", d->integrated);
    cJSON_AddStringToObject(o, "opencl_c_version", d->opencl_c_version);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddNumberToObject(o, "local_mem_bytes", (double)d->local_mem_bytes);
    cJSON_AddNumberToObject(o, "max_work_group_size", (double)d->max_work_group_size);
    cJSON_AddBoolToObject(o, "fp16", d->fp16);
    cJSON_AddBoolToObject(o, "fp64", d->fp64);
    cJSON_AddBoolToObject(o, "compiler_available", d->compiler_available);
    const duo_profile *p = duo_profile_for(d);
    cJSON_AddStringToObject(o, "gemm", p->gemm == DUO_GEMM_BUILTIN ? "builtin" : "clblast");
    cJSON_AddBoolToObject(o, "run_time_compile", d->compiler_available && !p->no_compile);
    cJSON_AddStringToObject(o, "driver", d->driver);
    cJSON_AddStringToObject(o, "profile", d->profile);
    return o;
}

static void print_json(const duo_device_list *list, int selected)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *devices = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < list->count; i++)
        cJSON_AddItemToArray(devices, device_json(&list->devices[i]));
    cJSON_AddNumberToObject(root, "default", list->default_index);
    cJSON_AddStringToObject(root, "default_reason", list->default_reason);
    cJSON_AddNumberToObject(root, "selected", selected);
    cJSON_AddStringToObject(root, "warnings", list->warnings);
    char *text = cJSON_Print(root);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
}

static int run_devices(int argc, char **argv)
{
    cli_option options[] = {
        {"json", NULL, "print the listing as JSON", NULL},
        {"device", "D", "mark the device this selector picks (default: $DUOCL_DEVICE)", NULL},
    };
    int code = cli_parse(&cli_devices_command, argc, argv, options, 2, NULL, 0, 0, NULL);
    if (code != CLI_OK)
        return code;
    duo_device_list list;
    duo_status st = duo_devices_list(&list);
    if (st != DUO_OK)
        return cli_report(st);
    if (list.warnings[0])
        fprintf(stderr, "%s", list.warnings);
    int selected = list.default_index;
    st = duo_devices_select(&list, cli_device_selector(&options[1]), &selected);
    if (st == DUO_OK) {
        if (options[0].value)
            print_json(&list, selected);
        else
            print_text(&list, selected);
    }
    duo_devices_free(&list);
    return cli_report(st);
}

const cli_command cli_devices_command = {
    .name = "devices",
    .usage = "duocl devices [--json] [--device D]",
    .summary = "list every OpenCL device, with the default and why it was chosen",
    .run = run_devices,
};
