/* A CLBlast tuning file (duo_tuning_load, read by every runtime start on
 * its device), checked without a device and against one; and a CLBlast
 * tuner's result file (duo_tuning_read_clblast_result, read by `duocl tune`). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/tuning.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("tuning.json", data, size);
    duo_tuning t;
    if (duo_tuning_load(path, NULL, &t) == DUO_OK) {
        FUZZ_ASSERT(t.kernel_count >= 0 && t.kernel_count <= DUO_TUNING_MAX_KERNELS, "%d kernels",
                    t.kernel_count);
        for (int k = 0; k < t.kernel_count; k++)
            FUZZ_ASSERT(t.kernels[k].count >= 0 && t.kernels[k].count <= DUO_TUNING_MAX_PARAMS,
                        "%d parameters", t.kernels[k].count);
        /* The same file against the device it names. */
        duo_device_info device;
        memset(&device, 0, sizeof device);
        snprintf(device.name, sizeof device.name, "%s", t.device);
        snprintf(device.driver, sizeof device.driver, "%s", t.driver);
        snprintf(device.platform, sizeof device.platform, "%s", t.platform);
        (void)duo_tuning_load(path, &device, &t);
    }
    duo_tuning_kernel kernel;
    (void)duo_tuning_read_clblast_result(path, "Xgemm", &kernel);
    duo_clear_error();
    return 0;
}
