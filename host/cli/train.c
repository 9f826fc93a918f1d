/* duocl train: stage-1 Duo training of a config, with progress on stderr and
 * the final validation table on stdout. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "duocl/comm.h"
#include "duocl/runtime.h"
#include "study/train.h"

enum { MAX_OVERRIDES = 64 };

static void format_duration(double s, char *buf, size_t size)
{
    long t = s > 0 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
}

static void print_eval(FILE *out, const duo_train_eval *eval, bool with_loss)
{
    fprintf(out, "%-10s", "domain");
    for (int mode = 0; mode < DUO_TRAIN_EVAL_MODES; mode++)
        fprintf(out, with_loss ? "  %-18s" : "  %-8s",
                mode == DUO_TRAIN_EVAL_BIG ? "all-big" : mode == DUO_TRAIN_EVAL_SMALL ? "all-small" : "random");
    fprintf(out, "\n");
    for (int d = 0; d < eval->n_domains; d++) {
        fprintf(out, "%-10s", eval->domain[d]);
        for (int mode = 0; mode < DUO_TRAIN_EVAL_MODES; mode++) {
            const duo_eval_result *r = &eval->result[mode][d];
            if (with_loss)
                fprintf(out, "  %6.4f (%6.4f)   ", r->bits_per_byte, r->loss);
            else
                fprintf(out, "  %-8.4f", r->bits_per_byte);
        }
        fprintf(out, "\n");
    }
}

void cli_print_train_event(const duo_train_event *e, void *progress)
{
    cli_train_progress *p = progress;
    switch (e->kind) {
    case DUO_TRAIN_EVENT_START:
        p->first_step = e->step;
        fprintf(stderr, "%s at step %ld of %ld: %zu parameters, %d tokens per step\n",
                e->resumed ? "resuming" : "training", e->step, e->steps, e->n_params,
                p->batch_tokens);
        break;
    case DUO_TRAIN_EVENT_STEP: {
        /* A running mean from the second step (the first compiles the
         * kernels), then an exponential average of the recent steps. */
        double dt = e->tokens_per_s > 0 ? p->batch_tokens / e->tokens_per_s : 0;
        long k = e->step - p->first_step;
        if (k <= 2)
            p->step_s = dt;
        else
            p->step_s += (k < 12 ? 1.0 / (double)(k - 1) : 0.1) * (dt - p->step_s);
        double rate = p->step_s > 0 ? p->batch_tokens / p->step_s : 0;
        char eta[32], elapsed[32];
        format_duration(p->step_s * (double)(e->steps - e->step), eta, sizeof eta);
        format_duration(e->elapsed_s, elapsed, sizeof elapsed);
        if (p->tty) {
            int width = 24, filled = (int)(width * e->step / (e->steps ? e->steps : 1));
            char bar[32];
            for (int i = 0; i < width; i++)
                bar[i] = i < filled ? '#' : '.';
            bar[width] = '\0';
            fprintf(stderr, "\r\033[K[%s] step %ld/%ld  loss %.4f  %.0f tok/s  ETA %s", bar,
                    e->step, e->steps, (double)e->result.loss, rate, eta);
        } else if (e->step == p->first_step + 1 || e->step % p->print_every == 0 ||
                   e->step == e->steps) {
            fprintf(stderr, "step %ld/%ld  loss %.4f  lr %.3g  grad norm %.3f  %.0f tok/s  "
                    "elapsed %s  ETA %s\n", e->step, e->steps, (double)e->result.loss, e->result.lr,
                    (double)e->result.grad_norm, e->tokens_per_s, elapsed, eta);
        }
        break;
    }
    case DUO_TRAIN_EVENT_EVAL:
        fprintf(stderr, "%svalidation after step %ld, bits per byte:\n", p->tty ? "\r\033[K" : "",
                e->step);
        print_eval(stderr, e->eval, false);
        break;
    case DUO_TRAIN_EVENT_CHECKPOINT:
        fprintf(stderr, "%scheckpoint %s (step %ld)\n", p->tty ? "\r\033[K" : "", e->path, e->step);
        break;
    case DUO_TRAIN_EVENT_DONE: {
        char elapsed[32];
        format_duration(e->elapsed_s, elapsed, sizeof elapsed);
        printf("validation after step %ld: bits per byte (loss in nats/token), %llu tokens per "
               "domain\n", e->step,
               e->eval->n_domains ? (unsigned long long)e->eval->result[0][0].targets : 0ULL);
        print_eval(stdout, e->eval, true);
        printf("trained %ld steps (%ld in this process) at %.0f tokens/s; run time %s\n", e->steps,
               e->steps - p->first_step, e->train_tokens_per_s, elapsed);
        long here = e->steps - p->first_step;
        if (here > 0 && e->grad_sum_s > 0)
            printf("gradient sum per step on rank 0: read to the host %.1f ms, summed over the "
                   "ranks %.1f ms, written back %.1f ms\n", 1e3 * e->grad_read_s / (double)here,
                   1e3 * e->grad_sum_s / (double)here, 1e3 * e->grad_write_s / (double)here);
        break;
    }
    }
    fflush(stderr);
}

void cli_train_progress_init(cli_train_progress *p, const duo_config *config)
{
    *p = (cli_train_progress){.tty = isatty(STDERR_FILENO) == 1,
                              .batch_tokens = config->train.batch * config->model.ctx};
    p->print_every = config->train.steps > 50 ? (config->train.steps + 49) / 50 : 1;
}

static int run_train(int argc, char **argv)
{
    cli_option options[] = {
        {"device", "D", "OpenCL device selector (default: $DUOCL_DEVICE, else the default device)", NULL},
        {"run-dir", "DIR", "run folder (default runs/<config name>)", NULL},
        {"resume", NULL, "continue the run folder's checkpoints/latest.ckpt bit-exactly", NULL},
        {"set", "KEY=VALUE", "override a config value, e.g. train.steps=20 (repeatable)", NULL},
        CLI_RUNTIME_OPTIONS,
    };
    /* --set may repeat; cli_parse keeps one value per option, so collect them first. */
    const char *overrides[MAX_OVERRIDES];
    int n_overrides = 0;
    char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
    if (!rest)
        return CLI_INTERNAL_ERROR;
    int n_rest = 0;
    for (int i = 0; i < argc; i++) {
        const char *value = NULL;
        if (i > 0 && strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            value = argv[++i];
        else if (i > 0 && strncmp(argv[i], "--set=", 6) == 0)
            value = argv[i] + 6;
        if (!value) {
            rest[n_rest++] = argv[i];
            continue;
        }
        if (n_overrides == MAX_OVERRIDES) {
            fprintf(stderr, "duocl train: more than %d --set options\n", MAX_OVERRIDES);
            free(rest);
            return CLI_USER_ERROR;
        }
        overrides[n_overrides++] = value;
    }
    const char *config_path;
    int code = cli_parse(&cli_train_command, n_rest, rest, options, 7, &config_path, 1, 1,
                         "CONFIG is a JSON config (configs/tiny.json, configs/quickstart.json).\n"
                         "Ctrl-C writes a checkpoint and exits with code 1; --resume continues.");
    free(rest);
    if (code != CLI_OK)
        return code;

    duo_config config;
    duo_status st = duo_config_load_with_overrides(config_path, overrides, n_overrides, &config);
    if (st != DUO_OK)
        return cli_report(st);
    char run_dir[4096];
    if (options[1].value)
        snprintf(run_dir, sizeof run_dir, "%s", options[1].value);
    else
        duo_study_default_run_dir(config_path, run_dir, sizeof run_dir);

    /* Under mpirun every rank opens its own device (cli_rank_device) and
     * rank 0 alone prints the progress. */
    int rank = duo_comm_rank(), ranks = duo_comm_size();
    char device[256];
    duo_runtime_options ro = {0};
    if (!cli_rank_device("train", cli_device_selector(&options[0]), device, sizeof device,
                         &ro.device))
        return CLI_USER_ERROR;
    if (!cli_runtime_options("train", &options[4], config.model.gemm, &ro))
        return CLI_USER_ERROR;
    duo_runtime *rt;
    st = duo_runtime_create(&ro, &rt);
    if (st != DUO_OK)
        return cli_report(st);
    if (ranks > 1)
        fprintf(stderr, "rank %d of %d: device %s; GEMM %s (%s); %d of the %d sequences of each "
                "step\n", rank, ranks, duo_runtime_device(rt)->name,
                duo_gemm_kind_name(duo_runtime_gemm(rt)), duo_runtime_gemm_reason(rt),
                config.train.batch / ranks, config.train.batch);
    if (rank == 0)
        fprintf(stderr, "device: %s; GEMM %s (%s); run folder %s\n",
                duo_runtime_device(rt)->name, duo_gemm_kind_name(duo_runtime_gemm(rt)),
                duo_runtime_gemm_reason(rt), run_dir);

    cli_train_progress p;
    cli_train_progress_init(&p, &config);
    volatile sig_atomic_t *stop = cli_catch_interrupts(
        "\nduocl train: stopping after this step (Ctrl-C again to abort without a checkpoint)\n");
    duo_train_options to = {.run_dir = run_dir, .resume = options[2].value != NULL,
                            .stop = stop, .callback = rank == 0 ? cli_print_train_event : NULL,
                            .user = &p};
    duo_comm_reset_stats();
    st = duo_train(rt, &config, &to);
    duo_comm_stats cs;
    duo_comm_get_stats(&cs);
    if (st == DUO_OK && rank == 0 && ranks > 1 && cs.sum_calls > 0) {
        /* Each step sums the gradient buckets and the loss (2 doubles). */
        printf("gradient all-reduce over %d ranks: %.2f MB per step, %.1f ms per step in the sums "
               "(%llu sums, %.2f s in all)\n", ranks,
               (double)cs.sum_bytes / 1e6 / (double)(config.train.steps - p.first_step),
               1e3 * cs.sum_seconds / (double)(config.train.steps - p.first_step),
               (unsigned long long)cs.sum_calls, cs.sum_seconds);
    }
    cli_release_interrupts();
    if (p.tty)
        fprintf(stderr, "\n");
    duo_runtime_destroy(rt);
    if (st == DUO_ERR_INTERRUPTED) {
        if (ranks > 1)
            fprintf(stderr, "duocl train: rank %d: %s\n", rank, duo_last_error());
        else
            fprintf(stderr, "duocl train: %s\n", duo_last_error());
        return CLI_USER_ERROR;
    }
    return cli_report(st);
}

const cli_command cli_train_command = {
    .name = "train",
    .usage = "duocl train CONFIG [--device D] [--run-dir DIR] [--resume] [--set KEY=VALUE ...]\n"
             "                   [--gemm clblast|builtin] [--kernel-binaries DIR] [--no-compile]",
    .summary = "train a Duo model from scratch with random big/small routes (stage 1)",
    .run = run_train,
};
