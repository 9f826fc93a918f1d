#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "json_file.h"

duo_status duo_write_json_file(const char *path, const char *what, const cJSON *document,
                               bool compact)
{
    char *text = compact ? cJSON_PrintUnformatted(document) : cJSON_Print(document);
    if (!text)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory writing %s %s", what, path);
    const void *parts[] = {text, "\n"};
    size_t sizes[] = {strlen(text), 1};
    duo_status st = duo_write_file_atomic(path, what, parts, sizes, 2);
    cJSON_free(text);
    return st;
}
