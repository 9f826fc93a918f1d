/* The training run (host/train.c) on the tiny model and small generated data:
 * what a run writes, that the loss falls, that a run killed with SIGKILL and
 * resumed gives the uninterrupted run's losses and checkpoint bit for bit,
 * stopping on request, NaN losses, and the errors of resume and missing data.
 *
 * The SIGKILL run is a forked child that kills itself from the progress
 * callback at a fixed step (after a checkpoint, before the next), so the
 * test is deterministic; it is forked before this process touches OpenCL. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duocl/data.h"
#include "duocl/runtime.h"
#include "duocl/tokenizer.h"
#include "model/model_io.h"
#include "base/rng.h"
#include "study/train.h"
#include "unitcheck.h"

enum { STEPS = 24, KILL_AT = 13, STOP_AT = 5, MAX_LINES = 256, LINE_CAP = 512 };

static char work[256];
static duo_runtime *rt;

/* ---- data: two small domains of generated text, as byte-level shards ---- */

static size_t append(char *buf, size_t n, size_t cap, const char *s)
{
    size_t len = strlen(s);
    if (n + len < cap) {
        memcpy(buf + n, s, len);
        n += len;
    }
    return n;
}

/* Sentences from a tiny grammar ("web") or assignments ("code"); documents
 * end with a 0x00 byte (end-of-text). Structured, so a tiny model learns. */
static size_t generate(const char *domain, uint64_t seed, char *buf, size_t cap)
{
    static const char *const nouns[] = {"cat", "dog", "bird", "tree", "river", "house", "child"};
    static const char *const verbs[] = {"sees", "likes", "finds", "paints", "follows"};
    static const char *const adjs[] = {"red", "small", "old", "quiet", "bright"};
    duo_rng rng = duo_rng_seeded(seed);
    size_t n = 0;
    while (n + 200 < cap) {
        char s[160];
        if (strcmp(domain, "web") == 0)
            snprintf(s, sizeof s, "The %s %s %s the %s %s. ", adjs[duo_rng_below(&rng, 5)],
                     nouns[duo_rng_below(&rng, 7)], verbs[duo_rng_below(&rng, 5)],
                     adjs[duo_rng_below(&rng, 5)], nouns[duo_rng_below(&rng, 7)]);
        else
            snprintf(s, sizeof s, "x%d = f(x%d) + %d\n", (int)duo_rng_below(&rng, 10),
                     (int)duo_rng_below(&rng, 10), (int)duo_rng_below(&rng, 100));
        n = append(buf, n, cap, s);
        if (duo_rng_below(&rng, 12) == 0)
            buf[n++] = '\0';
    }
    return n;
}

static bool write_shard(const char *dir, const char *domain, const char *split, size_t bytes,
                        uint64_t seed)
{
    char *text = malloc(bytes);
    size_t n = generate(domain, seed, text, bytes);
    duo_tokenizer *tok;
    int32_t *ids = NULL;
    size_t count = 0;
    char path[512];
    bool ok = unit_ok("byte tokenizer", duo_tokenizer_byte_level(&tok)) &&
              unit_ok("encode", duo_tokenizer_encode(tok, (const uint8_t *)text, n, &ids, &count)) &&
              unit_ok("shard name", duo_shard_filename(dir, domain, split, path, sizeof path)) &&
              unit_ok("shard write", duo_shard_write(path, ids, count, DUO_BYTE_VOCAB, n,
                                                     duo_tokenizer_fingerprint(tok)));
    duo_tokenizer_destroy(tok);
    free(ids);
    free(text);
    return ok;
}

/* ---- configs and runs ---- */

static void run_path(char *buf, size_t size, const char *run, const char *file)
{
    snprintf(buf, size, "%s/%s%s%s", work, run, file ? "/" : "", file ? file : "");
}

static duo_config make_config(int steps, const char *shards)
{
    char json[1024], dir[300];
    snprintf(dir, sizeof dir, "%s/shards", work);
    snprintf(json, sizeof json,
             "{\"model\": {\"vocab\": 257, \"d_model\": 32, \"n_layers\": 4, \"n_heads\": 2, "
             "\"ctx\": 32, \"ffn_big\": 64, \"ffn_small\": 8},"
             " \"train\": {\"batch\": 4, \"steps\": %d, \"warmup\": 2, \"eval_every\": 12, "
             "\"eval_tokens\": 200, \"ckpt_every\": 8, \"seed\": 3, "
             "\"domain_weights\": {\"web\": 1, \"code\": 1}},"
             " \"data\": {\"tokenizer\": \"byte\", \"shards\": \"%s\"}}",
             steps, shards ? shards : dir);
    duo_config c;
    if (!unit_ok("config", duo_config_parse(json, "test config", &c)))
        exit(1);
    return c;
}

typedef struct hooks {
    long kill_at, stop_at;
    volatile sig_atomic_t stop;
} hooks;

static void callback(const duo_train_event *e, void *user)
{
    hooks *h = user;
    if (e->kind != DUO_TRAIN_EVENT_STEP)
        return;
    if (e->step == h->kill_at)
        raise(SIGKILL); /* as a crash or `kill -9` would: no cleanup at all */
    if (e->step == h->stop_at)
        h->stop = 1; /* as the CLI's SIGINT handler does */
}

static duo_status train(const duo_config *c, const char *run, bool resume, hooks *h)
{
    char dir[512];
    run_path(dir, sizeof dir, run, NULL);
    duo_train_options o = {.run_dir = dir, .resume = resume, .stop = h ? &h->stop : NULL,
                           .callback = h ? callback : NULL, .user = h};
    return duo_train(rt, c, &o);
}

/* ---- reading what a run wrote ---- */

/* The log's records without their timing fields (tokens_per_s, elapsed_s),
 * which differ between runs; everything else must be equal bit for bit. */
typedef struct log_lines {
    int n, train, eval;
    char line[MAX_LINES][LINE_CAP];
} log_lines;

static bool read_log(const char *run, log_lines *out)
{
    char path[512], buf[LINE_CAP];
    run_path(path, sizeof path, run, "log.jsonl");
    out->n = out->train = out->eval = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    while (fgets(buf, sizeof buf, f) && out->n < MAX_LINES) {
        char *cut = strstr(buf, ",\"tokens_per_s\"");
        if (!cut)
            cut = strstr(buf, ",\"elapsed_s\"");
        if (cut)
            *cut = '\0';
        out->train += strstr(buf, "\"type\":\"train\"") != NULL;
        out->eval += strstr(buf, "\"type\":\"eval\"") != NULL;
        snprintf(out->line[out->n++], LINE_CAP, "%s", buf);
    }
    fclose(f);
    return true;
}

static double loss_of(const char *line)
{
    const char *p = strstr(line, "\"loss\":");
    return p ? atof(p + 7) : NAN;
}

static bool same_logs(const char *name, const log_lines *a, const log_lines *b)
{
    if (!unit_check(name, a->n == b->n, "%d records vs %d", a->n, b->n))
        return false;
    for (int i = 0; i < a->n; i++)
        if (!unit_check(name, strcmp(a->line[i], b->line[i]) == 0, "record %d differs:\n  %s\n  %s",
                        i + 1, a->line[i], b->line[i]))
            return false;
    return true;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(*size + 1);
    if (fread(data, 1, *size, f) != *size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

static bool same_files(const char *name, const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    unsigned char *da = read_file(a, &na), *db = read_file(b, &nb);
    bool same = da && db && na == nb && memcmp(da, db, na) == 0;
    unit_check(name, same, "%s (%zu bytes) and %s (%zu bytes) differ", a, na, b, nb);
    free(da);
    free(db);
    return same;
}

static uint64_t checkpoint_step(const char *path)
{
    duo_checkpoint *ck;
    uint64_t step = UINT64_MAX;
    if (duo_checkpoint_open(path, &ck) == DUO_OK) {
        duo_checkpoint_get_u64(ck, "state.step", &step);
        duo_checkpoint_close(ck);
    }
    return step;
}

/* ---- tests ---- */

static log_lines full; /* the uninterrupted run "full" */

static void train_writes_config_log_and_checkpoints(void)
{
    duo_config c = make_config(STEPS, NULL);
    if (!unit_ok("train", train(&c, "full", false, NULL)))
        return;
    char path[512], key[128], detail[256];
    run_path(path, sizeof path, "full", "config.json");
    duo_config back;
    if (unit_ok("config.json loads", duo_config_load(path, &back))) {
        unit_ok("compare", duo_config_first_difference(&back, &c, key, sizeof key, detail, sizeof detail));
        unit_check("config.json is the resolved config", key[0] == '\0' && back.train.steps == STEPS,
                   "differs at '%s' (%s)", key, detail);
    }
    unit_check("log read", read_log("full", &full), "no log");
    unit_check("one train record per step", full.train == STEPS, "%d train records", full.train);
    /* Validation at steps 12 and 24: 2 domains x 3 routings each. */
    unit_check("eval records", full.eval == 2 * 2 * 3, "%d eval records", full.eval);
    const char *fields[] = {"\"step\":1,", "\"loss\":", "\"lr\":", "\"grad_norm\":"};
    for (int i = 0; i < 4; i++)
        unit_check("train record fields", strstr(full.line[0], fields[i]) != NULL, "'%s' lacks %s",
                   full.line[0], fields[i]);
    bool eval_fields = false;
    for (int i = 0; i < full.n; i++)
        if (strstr(full.line[i], "\"type\":\"eval\"") && strstr(full.line[i], "\"routes\":\"small\"") &&
            strstr(full.line[i], "\"bits_per_byte\":") && strstr(full.line[i], "\"domain\":\"code\""))
            eval_fields = true;
    unit_check("eval record fields", eval_fields, "no eval record of code under small routes");
    run_path(path, sizeof path, "full", "checkpoints/latest.ckpt");
    unit_check("latest checkpoint at the end", checkpoint_step(path) == STEPS, "step %llu",
               (unsigned long long)checkpoint_step(path));
    run_path(path, sizeof path, "full", "checkpoints/final.ckpt");
    unit_check("final checkpoint", checkpoint_step(path) == STEPS, "step %llu",
               (unsigned long long)checkpoint_step(path));
}

static void loss_falls(void)
{
    double first = 0, last = 0;
    int seen = 0;
    for (int i = 0, k = 0; i < full.n; i++)
        if (strstr(full.line[i], "\"type\":\"train\"")) {
            double l = loss_of(full.line[i]);
            if (k < 4)
                first += l / 4;
            if (k >= STEPS - 4)
                last += l / 4;
            k++;
            seen = k;
        }
    unit_check("loss falls", seen == STEPS && last < first - 0.5,
               "mean loss of the first 4 steps %.4f, of the last 4 %.4f", first, last);
}

/* The forked child of main() was killed at step KILL_AT; its latest
 * checkpoint is from step 8 and its log runs to KILL_AT. */
static void sigkill_then_resume_reproduces_the_run(void)
{
    log_lines *killed = malloc(sizeof *killed);
    read_log("killed", killed);
    unit_check("the kill came after the checkpoint", killed->train == KILL_AT,
               "%d train records before the kill", killed->train);
    char path[512], want[512];
    run_path(path, sizeof path, "killed", "checkpoints/latest.ckpt");
    unit_check("checkpoint before the kill", checkpoint_step(path) == 8, "step %llu",
               (unsigned long long)checkpoint_step(path));
    duo_config c = make_config(STEPS, NULL);
    if (unit_ok("resume", train(&c, "killed", true, NULL))) {
        read_log("killed", killed);
        same_logs("resumed log equals the uninterrupted one", killed, &full);
        run_path(want, sizeof want, "full", "checkpoints/final.ckpt");
        run_path(path, sizeof path, "killed", "checkpoints/final.ckpt");
        same_files("resumed final checkpoint equals the uninterrupted one", path, want);
    }
    free(killed);
}

static void stop_request_checkpoints_and_resume_reproduces(void)
{
    duo_config c = make_config(STEPS, NULL);
    hooks h = {.kill_at = -1, .stop_at = STOP_AT};
    duo_status st = train(&c, "stopped", false, &h);
    unit_fails("stop gives DUO_ERR_INTERRUPTED", st, DUO_ERR_INTERRUPTED, "step 5 of 24", "--resume");
    char path[512], want[512];
    run_path(path, sizeof path, "stopped", "checkpoints/latest.ckpt");
    unit_check("checkpoint at the stop", checkpoint_step(path) == STOP_AT, "step %llu",
               (unsigned long long)checkpoint_step(path));
    log_lines *lines = malloc(sizeof *lines);
    if (unit_ok("resume", train(&c, "stopped", true, NULL))) {
        read_log("stopped", lines);
        same_logs("stopped and resumed log equals the uninterrupted one", lines, &full);
        run_path(want, sizeof want, "full", "checkpoints/final.ckpt");
        run_path(path, sizeof path, "stopped", "checkpoints/final.ckpt");
        same_files("stopped and resumed checkpoint equals the uninterrupted one", path, want);
    }
    free(lines);
}

static void resume_errors_name_the_problem(void)
{
    duo_config c = make_config(STEPS, NULL);
    unit_fails("fresh run refuses a folder with a checkpoint", train(&c, "full", false, NULL),
               DUO_ERR_IO, "already holds a run", "--resume");
    unit_fails("resume needs a checkpoint", train(&c, "nothing-here", true, NULL), DUO_ERR_IO,
               "latest.ckpt", "does not exist");
    unit_fails("a finished run has nothing to resume", train(&c, "full", true, NULL),
               DUO_ERR_CONFIG, "train.steps", NULL);
    duo_config changed = c;
    changed.train.lr = 1e-3;
    unit_fails("resume with another lr names train.lr", train(&changed, "full", true, NULL),
               DUO_ERR_CONFIG, "train.lr", "only train.steps");
    changed = c;
    changed.train.domains[1].weight = 2;
    unit_fails("resume with another domain weight names it", train(&changed, "full", true, NULL),
               DUO_ERR_CONFIG, "train.domain_weights.code", NULL);
    changed = c;
    changed.model.ffn_small = 16;
    unit_fails("resume with another model names the key", train(&changed, "full", true, NULL),
               DUO_ERR_CONFIG, "model.ffn_small", NULL);
}

static void missing_shards_are_named(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/no-shards", work);
    duo_config c = make_config(4, dir);
    unit_fails("missing training shard", train(&c, "missing", false, NULL), DUO_ERR_IO,
               "no-shards/web.train.tok", "duocl prepare");
}

/* A checkpoint whose parameters are NaN: the next step's loss is NaN, the
 * run stops naming the step, and the checkpoint stays as it was. */
static void nan_loss_names_the_step_and_keeps_the_checkpoint(void)
{
    duo_config c = make_config(4, NULL);
    if (!unit_ok("train 4 steps", train(&c, "nan", false, NULL)))
        return;
    char path[512], copy[512];
    run_path(path, sizeof path, "nan", "checkpoints/latest.ckpt");
    duo_checkpoint *ck;
    duo_model *m;
    duo_train_state state;
    if (!unit_ok("open", duo_checkpoint_open(path, &ck)))
        return;
    unit_ok("model", duo_model_create(rt, &c.model, &m));
    unit_ok("load", duo_model_load(m, ck, &state));
    char *json = strdup(duo_checkpoint_config_json(ck));
    duo_checkpoint_close(ck);
    float *p = malloc(m->n_params * sizeof *p);
    duo_model_read_params(m, p);
    for (size_t i = 0; i < m->n_params; i++)
        p[i] = NAN;
    duo_model_write_params(m, p);
    unit_ok("save poisoned", duo_model_save(m, path, json, &state));
    duo_model_destroy(m);
    free(p);
    free(json);
    run_path(copy, sizeof copy, "nan", "before.ckpt");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, copy);
    unit_check("copy", system(cmd) == 0, "%s", cmd);
    c.train.steps = 8;
    unit_fails("NaN loss stops with the step", train(&c, "nan", true, NULL), DUO_ERR_NUMERIC,
               "step 5 of 8", "last good checkpoint");
    same_files("the checkpoint is kept", path, copy);
    log_lines *lines = malloc(sizeof *lines);
    read_log("nan", lines);
    unit_check("no record of the failed step", lines->train == 4, "%d train records", lines->train);
    free(lines);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0); /* nothing buffered is duplicated by fork */
    snprintf(work, sizeof work, "/tmp/duocl_test_train_XXXXXX");
    if (!mkdtemp(work)) {
        perror("mkdtemp");
        return 1;
    }
    char shards[300];
    snprintf(shards, sizeof shards, "%s/shards", work);
    mkdir(shards, 0777);
    const char *domains[] = {"web", "code"};
    for (int d = 0; d < 2; d++)
        if (!write_shard(shards, domains[d], "train", 60000, 11 + d) ||
            !write_shard(shards, domains[d], "val", 8000, 21 + d))
            return unit_summary("test_train");

    duo_runtime_options ro = {.device = getenv("DUOCL_DEVICE")};
    pid_t child = fork();
    if (child == 0) {
        if (duo_runtime_create(&ro, &rt) != DUO_OK)
            _exit(2);
        duo_config c = make_config(STEPS, NULL);
        hooks h = {.kill_at = KILL_AT, .stop_at = -1};
        train(&c, "killed", false, &h);
        _exit(3); /* not reached: the callback kills the process */
    }
    int status = 0;
    waitpid(child, &status, 0);
    unit_check("child killed by SIGKILL", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               "child status 0x%x", status);

    if (!unit_ok("runtime", duo_runtime_create(&ro, &rt)))
        return unit_summary("test_train");
    UNIT_RUN(train_writes_config_log_and_checkpoints);
    UNIT_RUN(loss_falls);
    UNIT_RUN(sigkill_then_resume_reproduces_the_run);
    UNIT_RUN(stop_request_checkpoints_and_resume_reproduces);
    UNIT_RUN(resume_errors_name_the_problem);
    UNIT_RUN(missing_shards_are_named);
    UNIT_RUN(nan_loss_names_the_step_and_keeps_the_checkpoint);
    duo_runtime_destroy(rt);
    if (!unit_failed) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
        if (system(cmd) != 0)
            printf("could not remove %s\n", work);
    } else {
        printf("kept %s for inspection\n", work);
    }
    return unit_summary("test_train");
}
