/* Saving and loading duo_model parameters, moments and training state. */
#include <stdio.h>
#include <stdlib.h>

#include "model_io.h"

static const char *const GROUPS[] = {"param", "adam_m", "adam_v"};

static cl_mem group_buffer(duo_model *m, int group)
{
    return group == 0 ? m->params : group == 1 ? m->adam_m : m->adam_v;
}

duo_status duo_model_save(duo_model *m, const char *path, const char *config_json,
                          const duo_train_state *state)
{
    float *host = malloc(m->n_params * sizeof *host);
    if (!host)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory saving %s", path);
    duo_checkpoint_writer *w;
    duo_status st = duo_checkpoint_writer_open(path, config_json, &w);
    if (st != DUO_OK) {
        free(host);
        return st;
    }
    int groups = state ? 3 : 1;
    for (int g = 0; g < groups && st == DUO_OK; g++) {
        st = duo_buffer_read(m->rt, group_buffer(m, g), 0, m->n_params * sizeof *host, host);
        for (int i = 0; i < m->n_tensors && st == DUO_OK; i++) {
            const duo_weight *t = &m->tensors[i];
            char name[96];
            snprintf(name, sizeof name, "%s.%s", GROUPS[g], t->name);
            duo_tensor_desc desc = {.name = name, .dtype = DUO_DTYPE_F32, .ndim = 2,
                                    .shape = {t->rows, t->cols}, .data = host + t->offset};
            st = duo_checkpoint_writer_add(w, &desc);
        }
    }
    free(host);
    if (state && st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(w, "state.step", state->step);
    if (state && st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(w, "state.loader_seed", state->loader_seed);
    if (state && st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(w, "state.loader_next", state->loader_next);
    if (st != DUO_OK) {
        duo_checkpoint_writer_abort(w);
        return st;
    }
    return duo_checkpoint_writer_commit(w);
}

duo_status duo_model_load(duo_model *m, const duo_checkpoint *ck, duo_train_state *state)
{
    float *host = calloc(m->n_params, sizeof *host);
    if (!host)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory loading %s", duo_checkpoint_path(ck));
    duo_status st = DUO_OK;
    int groups = state ? 3 : 1;
    for (int g = 0; g < groups && st == DUO_OK; g++) {
        for (int i = 0; i < m->n_tensors && st == DUO_OK; i++) {
            const duo_weight *t = &m->tensors[i];
            char name[96];
            snprintf(name, sizeof name, "%s.%s", GROUPS[g], t->name);
            uint64_t shape[2] = {t->rows, t->cols};
            st = duo_checkpoint_read(ck, name, DUO_DTYPE_F32, 2, shape, host + t->offset,
                                     t->rows * t->cols * sizeof(float));
        }
        if (st == DUO_OK)
            st = duo_buffer_write(m->rt, group_buffer(m, g), 0, m->n_params * sizeof *host, host);
    }
    free(host);
    DUO_TRY(st);
    if (!state)
        return DUO_OK;
    DUO_TRY(duo_checkpoint_get_u64(ck, "state.step", &state->step));
    DUO_TRY(duo_checkpoint_get_u64(ck, "state.loader_seed", &state->loader_seed));
    return duo_checkpoint_get_u64(ck, "state.loader_next", &state->loader_next);
}

duo_status duo_model_open(duo_runtime *rt, const char *path, duo_config *config, duo_model **out)
{
    *out = NULL;
    duo_checkpoint *ck;
    DUO_TRY(duo_checkpoint_open(path, &ck));
    char source[1100];
    snprintf(source, sizeof source, "%s (config block)", path);
    duo_status st = duo_config_parse(duo_checkpoint_config_json(ck), source, config);
    duo_model *m = NULL;
    if (st == DUO_OK)
        st = duo_model_create(rt, &config->model, &m);
    if (st == DUO_OK)
        st = duo_model_load(m, ck, NULL);
    duo_checkpoint_close(ck);
    if (st != DUO_OK) {
        duo_model_destroy(m);
        return st;
    }
    *out = m;
    return DUO_OK;
}
