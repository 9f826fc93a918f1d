/* A cJSON document written to a file atomically: the one writer of every JSON
 * result (eval.json, oracle.json, difficulty.json), the tuning file and the
 * bench's trace. */
#ifndef DUOCL_HOST_JSON_FILE_H
#define DUOCL_HOST_JSON_FILE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "duocl/status.h"

/* Writes the document (indented, or on one line when compact) and a newline
 * to path through a temporary file and a rename; `what` names the file in
 * errors ("result file"). The document stays the caller's. */
duo_status duo_write_json_file(const char *path, const char *what, const cJSON *document,
                               bool compact);

#endif
