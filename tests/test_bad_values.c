/* Values that are out of range are named as they were written, checked
 * before any cast or product (issue 14): a shard count of 2^63 + 1 (it was
 * reported as a file of "66 bytes"), a learning rate of 1e999 (cJSON reads
 * infinity; the message said "got null"), and a config of 33 layers (the
 * config allowed 64, the model 32, so it failed only after the device
 * started, without the file's name). No device is needed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duocl/config.h"
#include "duocl/data.h"
#include "testutil.h"
#include "unitcheck.h"

static char dir[512];

static void shard_count_of_2_63_plus_1_is_named(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/web.train.tok", dir);
    int32_t tokens[8] = {1, 2, 3, 4, 5, 6, 7, 0};
    if (!unit_ok("shard_write", duo_shard_write(path, tokens, 8, 257, 8, 0)))
        return;
    FILE *f = fopen(path, "r+b");
    unsigned char count[8];
    uint64_t v = (1ULL << 63) + 1;
    for (int i = 0; i < 8; i++)
        count[i] = (unsigned char)(v >> (8 * i));
    bool patched = f && fseek(f, 24, SEEK_SET) == 0 && fwrite(count, 1, 8, f) == 8;
    if (f)
        fclose(f);
    if (!unit_check("patch the count", patched, "%s", path))
        return;
    duo_shard_info info;
    duo_status st = duo_shard_read_info(path, &info);
    unit_fails("the count is named as written", st, DUO_ERR_FORMAT, "9223372036854775809 tokens",
               "web.train.tok");
    unit_check("no wrapped size", !strstr(duo_last_error(), "(66 bytes)"), "%s", duo_last_error());
    duo_shard *s = NULL;
    unit_fails("open refuses it too", duo_shard_open(path, 0, 0, &s), DUO_ERR_FORMAT,
               "9223372036854775809 tokens", NULL);
    duo_shard_close(s);
}

#define SHAPE "\"vocab\": 257, \"d_model\": 32, \"n_heads\": 2, \"ctx\": 8, \"ffn_big\": 64"

static void lr_of_1e999_is_not_a_finite_number(void)
{
    duo_config c;
    unit_fails("lr 1e999", duo_config_parse("{\"model\": {" SHAPE ", \"n_layers\": 2}, "
                                            "\"train\": {\"lr\": 1e999}}", "big-lr.json", &c),
               DUO_ERR_CONFIG, "big-lr.json: train.lr", "not a finite number");
    unit_check("not null", !strstr(duo_last_error(), "got null"), "%s", duo_last_error());
    unit_fails("a domain weight of -1e999", duo_config_parse("{\"model\": {" SHAPE ", \"n_layers\": 2}, "
                                                             "\"train\": {\"domain_weights\": "
                                                             "{\"web\": -1e999}}}", "w.json", &c),
               DUO_ERR_CONFIG, "train.domain_weights.web", "not a finite number");
}

static void config_allows_the_layers_a_model_has(void)
{
    duo_config c;
    unit_ok("32 layers", duo_config_parse("{\"model\": {" SHAPE ", \"n_layers\": 32}}", "l.json", &c));
    unit_check("the limit is the model's", DUO_CONFIG_MAX_LAYERS == 32, "%d", DUO_CONFIG_MAX_LAYERS);
    char path[600];
    snprintf(path, sizeof path, "%s/deep.json", dir);
    FILE *f = fopen(path, "w");
    if (!unit_check("write config", f != NULL, "%s", path))
        return;
    fputs("{\"model\": {" SHAPE ", \"n_layers\": 33}}\n", f);
    fclose(f);
    /* Loading the file is all `duocl train` does before the device starts. */
    unit_fails("33 layers: refused by the config, naming the file and key", duo_config_load(path, &c),
               DUO_ERR_CONFIG, "deep.json: model.n_layers", "an integer in [1, 32]");
}

int main(void)
{
    if (!test_temp_dir(dir, sizeof dir, "bad-values"))
        return 1;
    UNIT_RUN(shard_count_of_2_63_plus_1_is_named);
    UNIT_RUN(lr_of_1e999_is_not_a_finite_number);
    UNIT_RUN(config_allows_the_layers_a_model_has);
    test_remove_dir(dir);
    return unit_summary("test_bad_values");
}
