/* A config file (duo_config_parse, what duo_config_load and a checkpoint's
 * config block go through). A config that loads must write back to JSON
 * that loads to the same config: the run folder keeps the resolved config
 * and every resume reads it again. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "duocl/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    duo_config config;
    if (duo_config_parse(text, "fuzz.json", &config) == DUO_OK) {
        char *json = NULL, *again = NULL;
        FUZZ_ASSERT(duo_config_to_json(&config, &json) == DUO_OK, "%s", duo_last_error());
        duo_config back;
        FUZZ_ASSERT(duo_config_parse(json, "written back", &back) == DUO_OK,
                    "the written config does not load: %s", duo_last_error());
        FUZZ_ASSERT(duo_config_to_json(&back, &again) == DUO_OK, "%s", duo_last_error());
        FUZZ_ASSERT(strcmp(json, again) == 0, "a config changed on a round trip:\n%s\n%s", json, again);
        free(json);
        free(again);
    }
    duo_clear_error();
    free(text);
    return 0;
}
