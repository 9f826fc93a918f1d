/* A run's configuration: the model's shape, the training recipe and where the
 * data is. Read from JSON, validated field by field, and written back with
 * every default filled in (the run directory's config.json, the config block
 * of a checkpoint).
 *
 * The JSON has three objects, each optional key shown with its default:
 *
 *   "model": { "vocab", "d_model", "n_layers", "n_heads", "ctx", "ffn_big"  (required),
 *              "ffn_small": ffn_big / 16, "rope_theta": 10000, "norm_eps": 1e-5,
 *              "attention": "auto" | "fused" | "gemm", "gemm": "auto" | "clblast" | "builtin" }
 *   "train": { "batch": 16, "steps": 300, "lr": 2e-3, "warmup": 30, "min_lr": 2e-4,
 *              "schedule": "cosine" | "constant", "weight_decay": 0.1,
 *              "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "grad_clip": 1.0 (0: off),
 *              "seed": 1, "p_big": 0.5, "p_small": 0.5, "p_skip": 0,
 *              "eval_every": 100 (0: only at the end), "eval_tokens": 65536 (per domain),
 *              "ckpt_every": 100 (0: only at the end),
 *              "grad_shards": 0 (the number of ranks the run starts with; see below),
 *              "domain_weights": {"web": 1, "wiki": 1, "instruct": 1, "code": 1} }
 *   "data":  { "tokenizer": "byte" or a tokenizer JSON file, "shards": "data/shards/byte" }
 *
 * "model" is required; "train" and "data" may be left out. Paths are kept as
 * written (relative ones are relative to the working directory). Unknown
 * keys, duplicate keys, wrong types and out-of-range values (a number too
 * large to be finite, such as 1e999, among them) are DUO_ERR_CONFIG errors
 * whose message names the source, the key path (`train.p_big`) and what is
 * allowed. A config file is a regular file of at most 1 MiB. */
#ifndef DUOCL_CONFIG_H
#define DUOCL_CONFIG_H

#include <stdint.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DUO_CONFIG_MAX_LAYERS = 32, /* model.n_layers: the most layers a duocl model has */
    DUO_CONFIG_MAX_STEPS = 1000000000, /* train.steps (and so any checkpoint's state.step) */
    DUO_CONFIG_MAX_DOMAINS = 16,
    DUO_CONFIG_NAME_MAX = 32,   /* a domain name's buffer, NUL included */
    DUO_CONFIG_PATH_MAX = 1024  /* a path's buffer, NUL included */
};

/* How the model computes attention (the same function either way): "fused"
 * kernels that never hold the (T, T) scores, "gemm" through CLBlast's batched
 * products and the (T, T) probabilities, or "auto", the vendor profile's
 * choice for the device (the GEMM path where the fused kernels cannot take
 * the head dim). An absent key is "auto", so older configs and checkpoints
 * load unchanged. */
typedef enum duo_attention_kind {
    DUO_ATTENTION_AUTO = 0,
    DUO_ATTENTION_FUSED = 1,
    DUO_ATTENTION_GEMM = 2
} duo_attention_kind;

/* Which GEMM runs the model's matrix products: "clblast" (generates and
 * compiles its kernels at run time), "builtin" (duocl's kernels/gemm.cl,
 * which can come from ready-built binaries), or "auto", the vendor
 * profile's choice for the device. An absent key is "auto". duocl train and
 * eval create the runtime with it (duo_runtime_options.gemm); their --gemm
 * option wins over it. */
typedef enum duo_gemm_kind {
    DUO_GEMM_AUTO = 0,
    DUO_GEMM_CLBLAST = 1,
    DUO_GEMM_BUILTIN = 2
} duo_gemm_kind;

typedef struct duo_model_config {
    int vocab;          /* V: token ids are 0..V-1; >= 257 with the byte tokenizer */
    int d_model;        /* d */
    int n_layers;       /* L, 1 to DUO_CONFIG_MAX_LAYERS */
    int n_heads;        /* H; d % H == 0 and the head dim d/H is even (RoPE pairs) */
    int ctx;            /* T: tokens per sequence */
    int ffn_big;        /* F_big */
    int ffn_small;      /* F_small <= F_big */
    double rope_theta;
    double norm_eps;    /* RMSNorm epsilon */
    duo_attention_kind attention;
    duo_gemm_kind gemm;
} duo_model_config;

typedef enum duo_schedule_kind {
    DUO_SCHEDULE_COSINE = 0,   /* linear warm-up, then cosine from lr to min_lr */
    DUO_SCHEDULE_CONSTANT = 1  /* linear warm-up, then lr */
} duo_schedule_kind;

typedef struct duo_domain_weight {
    char name[DUO_CONFIG_NAME_MAX]; /* [a-z0-9_-], 1 to 31 characters */
    double weight;                  /* >= 0; relative, need not sum to 1 */
} duo_domain_weight;

typedef struct duo_train_config {
    int batch;           /* B: sequences per step */
    int steps;           /* optimizer steps of the whole run, 1 to DUO_CONFIG_MAX_STEPS */
    double lr;           /* peak learning rate */
    int warmup;          /* steps of linear warm-up, <= steps */
    double min_lr;       /* cosine floor, in [0, lr] */
    duo_schedule_kind schedule;
    double weight_decay; /* AdamW, decoupled; matrices and embeddings only */
    double beta1, beta2, eps;
    double grad_clip;    /* global L2 norm clip; 0 turns clipping off */
    uint64_t seed;       /* integer in [0, 2^53] (exact in JSON) */
    double p_big, p_small, p_skip; /* route probabilities, sum 1 */
    int eval_every;      /* steps between validations; 0: only at the end */
    int eval_tokens;     /* validation tokens per domain */
    int ckpt_every;      /* steps between checkpoints; 0: only at the end */
    /* The global batch is cut into grad_shards equal shards whose gradients
     * are computed one by one and added in shard order, so the bits do not
     * depend on the number of ranks (which must divide it). 0: the number of
     * ranks when the run starts; duo_train writes the resolved value to the
     * run's config.json and checkpoints, and a checkpoint without the key
     * (older runs) means 1. Must divide batch. */
    int grad_shards;
    int n_domains;       /* entries of domains[] in use, >= 1 */
    duo_domain_weight domains[DUO_CONFIG_MAX_DOMAINS]; /* in the order written */
} duo_train_config;

typedef struct duo_data_config {
    char tokenizer[DUO_CONFIG_PATH_MAX]; /* "byte" or a path to a tokenizer file */
    char shards[DUO_CONFIG_PATH_MAX];    /* folder of token shards */
} duo_data_config;

typedef struct duo_config {
    duo_model_config model;
    duo_train_config train;
    duo_data_config data;
} duo_config;

/* Reads and validates a JSON config file. On failure *out is unspecified. */
duo_status duo_config_load(const char *path, duo_config *out);

/* The same from a NUL-terminated JSON string; `source` names it in messages
 * ("runs/x/checkpoints/step100.ckpt (config block)"); NULL gives "<string>". */
duo_status duo_config_parse(const char *json, const char *source, duo_config *out);

/* Like duo_config_load, then applies overrides "key.path=VALUE" in order
 * before validation (e.g. "train.steps=20"). VALUE is read as JSON, or as a
 * string if it is not valid JSON ("data.shards=/tmp/s"). The key must be one
 * the config format allows. */
duo_status duo_config_load_with_overrides(const char *path, const char *const *overrides,
                                          int n_overrides, duo_config *out);

/* The cross-field checks (head dim, probabilities summing to 1, ...) that the
 * loaders run; for a config built or edited in code. */
duo_status duo_config_validate(const duo_config *config, const char *source);

/* The resolved config as pretty-printed JSON with every field. The string is
 * malloc'd; the caller frees it with free(). Parsing it gives the same config. */
duo_status duo_config_to_json(const duo_config *config, char **out);

/* Writes duo_config_to_json's text (and a final newline) to path, through
 * a temporary file, fsync and a rename (never in place). */
duo_status duo_config_save(const duo_config *config, const char *path);

/* "cosine" / "constant". */
const char *duo_schedule_kind_name(duo_schedule_kind kind);

/* "auto" / "fused" / "gemm". */
const char *duo_attention_kind_name(duo_attention_kind kind);

/* "auto" / "clblast" / "builtin"; and back (false for any other name). */
const char *duo_gemm_kind_name(duo_gemm_kind kind);
int duo_gemm_kind_from_name(const char *name, duo_gemm_kind *out);

#ifdef __cplusplus
}
#endif
#endif
