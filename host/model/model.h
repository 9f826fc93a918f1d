/* The Duo model on the device: parameters in one flat buffer with named
 * views, the activations of one batch, and forward / backward with per-token,
 * per-layer routes through masked token compaction.
 *
 * Shapes: B sequences of T tokens, N = B*T rows; d = d_model, L layers,
 * H heads of hd = d/H, V vocabulary, F[r] the FFN width of route r
 * (F[SMALL] = ffn_small, F[BIG] = ffn_big, F[SKIP] = 0).
 *
 * Weights are stored (in, out) row-major so a linear layer is y = x W, one
 * GEMM with neither operand transposed. The tensors, in the order of the flat
 * buffer (weight-decayed matrices first, then the norm gains, which are not):
 *   embed                     (V, d)    tied with the output head
 *   layer.l.wq, wk, wv, wo    (d, d)
 *   layer.l.w1_small, w3_small (d, Fs), layer.l.w2_small (Fs, d)
 *   layer.l.w1_big, w3_big    (d, Fb),  layer.l.w2_big   (Fb, d)
 *   layer.l.norm_att, norm_ffn (d)
 *   norm_out                  (d)
 */
#ifndef DUOCL_HOST_MODEL_H
#define DUOCL_HOST_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "duocl/config.h"
#include "duocl/model.h" /* the public calls; the struct is here */
#include "duocl/routes.h"
#include "ops/attention.h"
#include "ops/attention_fused.h"
#include "ops/compact.h"
#include "ops/loss.h"
#include "ops/rope.h"
#include "device/runtime_internal.h"

enum { DUO_MAX_LAYERS = 32, DUO_MAX_TENSORS = 8 + 12 * DUO_MAX_LAYERS };

/* One named view into the flat parameter buffer: its offset and two
 * sub-buffers (of the parameters and of the gradients), so every op can take
 * a tensor as a plain cl_mem. Offsets are aligned to the device's
 * CL_DEVICE_MEM_BASE_ADDR_ALIGN, as sub-buffers require; the gaps stay zero. */
typedef struct duo_weight {
    char name[48];
    size_t offset;      /* in floats, into params and grads */
    size_t rows, cols;  /* a vector is 1 x cols */
    bool decay;         /* AdamW weight decay applies */
    cl_mem param, grad; /* sub-buffers */
} duo_weight;

typedef struct duo_ffn_weights {
    duo_weight *w1, *w3, *w2; /* (d, F), (d, F), (F, d) */
    size_t width;             /* F; 0 for SKIP */
} duo_ffn_weights;

typedef struct duo_layer_weights {
    duo_weight *wq, *wk, *wv, *wo;
    duo_ffn_weights ffn[DUO_ROUTE_COUNT]; /* indexed by duo_route; [SKIP] is empty */
    duo_weight *norm_att, *norm_ffn;
} duo_layer_weights;

typedef struct duo_model {
    duo_runtime *rt;
    duo_model_config config;
    size_t head_dim;
    size_t n_params;         /* floats in the flat buffers, gaps included */
    size_t n_decay_params;   /* floats [0, n_decay_params) hold the decayed matrices */
    duo_weight *embed, *norm_out;
    duo_layer_weights layer[DUO_MAX_LAYERS];
    duo_weight tensors[DUO_MAX_TENSORS]; /* in buffer order */
    int n_tensors;
    cl_mem params, grads, adam_m, adam_v;
    duo_rope_table rope;
    bool fused_attention;    /* config.attention resolved for the device (duo_model_attention_path) */
} duo_model;

/* Allocates the model's buffers (parameters uninitialised) for a validated config. */
duo_status duo_model_create(duo_runtime *rt, const duo_model_config *config, duo_model **out);
void duo_model_destroy(duo_model *m);

/* Checks before anything is allocated that the model's buffers (parameters,
 * gradients, AdamW moments) and, for batch > 0, the activations of `batch`
 * sequences of `ctx` tokens fit the device: every buffer within its
 * CL_DEVICE_MAX_MEM_ALLOC_SIZE, all of them within CL_DEVICE_GLOBAL_MEM_SIZE.
 * Otherwise DUO_ERR_INVALID_ARGUMENT with what is needed, what the device
 * allows and the largest batch that fits ("model + activations need 9.1 GiB
 * for batch 512, device 'X' allows 8 GiB; try --batch 448"). */
duo_status duo_model_check_device_memory(duo_runtime *rt, const duo_model_config *config,
                                         size_t batch, size_t ctx, bool training);

/* Whether a model of this config runs the fused attention kernels on rt's
 * device: "fused" and "gemm" as written, "auto" as the vendor profile says
 * (the GEMM path where the fused kernels cannot take the head dim). "fused"
 * where they cannot is a DUO_ERR_CONFIG error naming model.attention. */
duo_status duo_model_attention_path(const duo_runtime *rt, const duo_model_config *config,
                                    bool *fused);

/* Attention on the model's path (ops/attention_fused.h or ops/attention.h):
 * the same buffers, shapes and function; only the saved and scratch sizes
 * differ. */
size_t duo_model_attention_saved_floats(const duo_model *m, duo_attention_shape s);
size_t duo_model_attention_scratch_floats(const duo_model *m, duo_attention_shape s);
duo_status duo_model_attention_forward(duo_model *m, duo_attention_shape s, cl_mem y, cl_mem saved,
                                       cl_mem scratch, cl_mem q, cl_mem k, cl_mem v);
duo_status duo_model_attention_backward(duo_model *m, duo_attention_shape s, cl_mem dq, cl_mem dk,
                                        cl_mem dv, cl_mem scratch, cl_mem dy, cl_mem saved);

/* Normal(0, 0.02) weights with the output projections (wo, w2_*) scaled by
 * 1/sqrt(2L), unit norm gains, zero optimizer state; drawn on the host from
 * the seed, so the same seed gives the same model on every device. */
duo_status duo_model_init(duo_model *m, uint64_t seed);

/* Host copies of the flat parameter buffer (n_params floats). */
duo_status duo_model_read_params(duo_model *m, float *host);
duo_status duo_model_write_params(duo_model *m, const float *host);

/* The activations of one batch shape, kept between forward and backward.
 * `training` also allocates what backward needs. */
typedef struct duo_activations duo_activations;

duo_status duo_activations_create(duo_model *m, size_t batch, size_t ctx, bool training,
                                  duo_activations **out);
void duo_activations_destroy(duo_activations *a);

/* Uploads the batch: tokens and targets (N int32 each; a negative target is
 * masked) and routes (L x N uint8, layer-major, duo_route values). */
duo_status duo_model_set_batch(duo_model *m, duo_activations *a, const int32_t *tokens,
                               const int32_t *targets, const uint8_t *routes);

/* Like set_batch, with the routes drawn on the device from the counter-based
 * generator (seed, step) with the given thresholds. */
duo_status duo_model_set_batch_random_routes(duo_model *m, duo_activations *a,
                                             const int32_t *tokens, const int32_t *targets,
                                             const duo_route_thresholds *thresholds,
                                             uint64_t seed, uint64_t step);

/* Forward pass: per-token losses on the device and the mean loss (nats) over
 * unmasked tokens. Optional: per_token (N floats, host) gets every loss. */
duo_status duo_model_forward(duo_model *m, duo_activations *a, float *mean_loss,
                             float *per_token);

/* The forward pass in pieces, for the oracle's prefix sharing: the embedding
 * writes the residual stream x_0; layer l reads x_l and the routes of layer l
 * and writes x_{l+1} (so a prefix's activations stay valid while deeper
 * layers are recomputed); the head reads x_L. */
duo_status duo_model_forward_embed(duo_model *m, duo_activations *a);
duo_status duo_model_forward_layer(duo_model *m, duo_activations *a, int layer);
duo_status duo_model_forward_head(duo_model *m, duo_activations *a, float *mean_loss,
                                  float *per_token);

/* Sets every token of one layer to one route (on the device). */
duo_status duo_model_set_layer_route(duo_model *m, duo_activations *a, int layer, duo_route route);

/* N = batch * ctx, and ctx. */
size_t duo_activations_tokens(const duo_activations *a);
size_t duo_activations_ctx(const duo_activations *a);

/* Backward pass after forward: m->grads is overwritten with the gradient of
 * the mean loss. */
duo_status duo_model_backward(duo_model *m, duo_activations *a);

/* The tokens each route got at each layer in the last forward (counts[l][r]). */
const duo_compact_counts *duo_activations_counts(const duo_activations *a, int layer);

/* Routing by a learned router instead of the routes buffer. */
typedef enum duo_router_mode {
    DUO_ROUTER_OFF,  /* routes come from the routes buffer (set_batch*) */
    DUO_ROUTER_SOFT, /* every module runs on every token; the layer output is the
                        mixture h + sum_m P_m FFN_m(f), P = softmax(beta z); backward
                        computes the router's gradient only (backbone frozen) */
    DUO_ROUTER_HARD  /* each token takes the module of its largest logit (argmax);
                        the routes buffer is overwritten layer by layer */
} duo_router_mode;

typedef struct duo_router_binding {
    duo_router_mode mode;
    int M;                 /* allowed modules, 2 or 3 */
    int modules[3];        /* route id of each column, in increasing id order */
    cl_mem modules_buffer; /* the same, (M) int on the device */
    cl_mem weights;        /* (L, d, M): layer l's router is rows [l*d, (l+1)*d) */
    cl_mem grads;          /* (L, d, M), overwritten by backward in SOFT mode */
    cl_mem aux;            /* (B) floats: the budget penalty's gradient on each
                              sequence's P_big, set by the caller before backward */
    float beta;            /* softmax sharpness */
} duo_router_binding;

/* Binds a router (NULL or mode OFF: none) to these activations. The binding is
 * copied; its buffers must outlive the activations' use. SOFT needs training
 * activations. */
duo_status duo_activations_set_router(duo_model *m, duo_activations *a,
                                      const duo_router_binding *router);

/* The routes of the last forward (L x N uint8, host): with a HARD router,
 * the routes the router chose. */
duo_status duo_activations_read_routes(const duo_model *m, const duo_activations *a, uint8_t *out);

/* SOFT mode: the router probabilities of the last forward, (L, N, M) floats
 * on the host (for the budget penalty and analyses). */
duo_status duo_activations_read_router_probs(const duo_model *m, const duo_activations *a,
                                             float *out);

/* Device buffers of the last forward, for tests and analyses. */
cl_mem duo_activations_logits(const duo_activations *a); /* (N, V); dlogits after backward */

/* Host copies (N, d floats) of layer l's input of the last forward: the
 * residual stream x_l entering the layer, or the FFN-norm output f_l (what a
 * router reads). */
typedef enum duo_layer_tensor { DUO_LAYER_INPUT, DUO_LAYER_FFN_INPUT } duo_layer_tensor;
duo_status duo_activations_read_layer(const duo_model *m, const duo_activations *a, int layer,
                                      duo_layer_tensor which, float *out);

#endif
