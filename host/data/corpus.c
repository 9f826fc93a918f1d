/* Helpers shared by `duocl tokenizer` and `duocl prepare`. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data/corpus.h"
#include "base/error.h"
#include "base/fileio.h"
#include "data/tokenizer_internal.h"

duo_status corpus_read(const char *corpora, const char *domain, const char *split, uint8_t **text,
                       size_t *size)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s.%s.txt", corpora, domain, split);
    if (n < 0 || (size_t)n >= sizeof path)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "corpus path under '%s' is too long", corpora);
    struct stat st;
    if (stat(path, &st) != 0)
        return duo_fail(DUO_ERR_IO,
                        "corpus file '%s' not found (run '/usr/bin/python3 scripts/fetch_corpora.py' "
                        "first, or pass --corpora DIR)", path);
    return duo_read_whole_file(path, "corpus file", text, size);
}

int corpus_split_list(const char *list, char *buf, size_t size, char **names, int max)
{
    if (strlen(list) + 1 > size)
        return -1;
    strcpy(buf, list);
    int n = 0;
    for (char *p = buf;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p || n == max)
            return -1;
        names[n++] = p;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

duo_status corpus_tokenizer_open(const char *value, duo_tokenizer **out)
{
    if (!value || strcmp(value, "byte") == 0)
        return duo_tokenizer_byte_level(out);
    return duo_tokenizer_load(value, out);
}

bool corpus_json_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return false;
    return true;
}
