/* The two file rules (issue 14), checked on every reader and writer of the
 * formats duocl keeps:
 *   reading: regular files only, checked before opening (a FIFO never blocks,
 *            a folder is DUO_ERR_IO, not "out of memory for 2^63 bytes"), and
 *            a size limit per format, checked before reading;
 *   writing: temporary file, fsync, rename, fsync of the folder; never in
 *            place (config.json was rewritten in place on every start).
 * fsync and rename are wrapped here (the library's calls resolve to these
 * definitions before libc's), so the test sees the order of the calls. No
 * device is needed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fileio.h"
#include "device/tuning.h"
#include "duocl/checkpoint.h"
#include "duocl/config.h"
#include "duocl/data.h"
#include "duocl/tokenizer.h"
#include "study/oracle_tokens.h"
#include "study/run_folder.h"
#include "testutil.h"
#include "unitcheck.h"

static char dir[512];

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("fatal: cannot write %s\n", path);
        exit(1);
    }
}

static char *read_text(const char *path)
{
    uint8_t *data;
    size_t n;
    return duo_read_whole_file(path, "test file", &data, &n) == DUO_OK ? (char *)data : NULL;
}

/* ---- fsync and rename, recorded ---- */

enum { MAX_EVENTS = 256 };
typedef struct event {
    char kind;       /* 's' fsync, 'r' rename */
    char path[2100]; /* fsync: the file or folder synced; rename: the new name */
    char from[1024]; /* rename: the old name */
} event;
static event events[MAX_EVENTS];
static int n_events;
static bool recording;

int fsync(int fd)
{
    if (recording && n_events < MAX_EVENTS) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        event *e = &events[n_events++];
        ssize_t n = readlink(link, e->path, sizeof e->path - 1);
        e->path[n > 0 ? n : 0] = '\0';
        e->kind = 's';
    }
    return (int)syscall(SYS_fsync, fd);
}

int rename(const char *from, const char *to)
{
    if (recording && n_events < MAX_EVENTS) {
        event *e = &events[n_events++];
        e->kind = 'r';
        /* Absolute, as readlink gives the synced files. */
        if (!realpath(from, e->from))
            snprintf(e->from, sizeof e->from, "%s", from);
        char *slash = strrchr(to, '/');
        char folder[1024];
        snprintf(folder, sizeof folder, "%.*s", slash ? (int)(slash - to) : 1, slash ? to : ".");
        char real[1024];
        if (realpath(folder, real))
            snprintf(e->path, sizeof e->path, "%s/%s", real, slash ? slash + 1 : to);
        else
            snprintf(e->path, sizeof e->path, "%s", to);
    }
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 0);
}

static void record(void)
{
    n_events = 0;
    recording = true;
}

/* The write of `path` must have been: fsync of a temporary file, its rename
 * to path, then fsync of path's folder. */
static void check_durable(const char *name, const char *path)
{
    recording = false;
    char real_dir[1024], target[1100];
    if (!realpath(dir, real_dir)) {
        unit_check(name, false, "realpath(%s): %s", dir, strerror(errno));
        return;
    }
    snprintf(target, sizeof target, "%s/%s", real_dir, path + strlen(dir) + 1);
    int renamed = -1;
    for (int i = 0; i < n_events; i++)
        if (events[i].kind == 'r' && strcmp(events[i].path, target) == 0)
            renamed = i;
    if (!unit_check(name, renamed >= 0, "no rename onto %s (%d fsync/rename calls): written in place?",
                    target, n_events))
        return;
    bool file_synced = false, folder_synced = false;
    for (int i = 0; i < renamed; i++)
        file_synced |= events[i].kind == 's' && strcmp(events[i].path, events[renamed].from) == 0;
    for (int i = renamed + 1; i < n_events; i++)
        folder_synced |= events[i].kind == 's' && strcmp(events[i].path, real_dir) == 0;
    unit_check(name, file_synced, "the temporary file %s was not fsync'd before its rename",
               events[renamed].from);
    unit_check(name, folder_synced, "the folder %s was not fsync'd after the rename onto %s",
               real_dir, target);
}

/* ---- every reader, on one path ---- */

typedef struct reader {
    const char *name;
    duo_status (*read)(const char *path);
} reader;

static duo_status read_config(const char *path)
{
    duo_config c;
    return duo_config_load(path, &c);
}

static duo_status read_checkpoint(const char *path)
{
    duo_checkpoint *ck = NULL;
    duo_status st = duo_checkpoint_open(path, &ck);
    duo_checkpoint_close(ck);
    return st;
}

static duo_status read_tokenizer(const char *path)
{
    duo_tokenizer *t = NULL;
    duo_status st = duo_tokenizer_load(path, &t);
    duo_tokenizer_destroy(t);
    return st;
}

static duo_status read_shard_info(const char *path)
{
    duo_shard_info info;
    return duo_shard_read_info(path, &info);
}

static duo_status read_shard(const char *path)
{
    duo_shard *s = NULL;
    duo_status st = duo_shard_open(path, 0, 0, &s);
    duo_shard_close(s);
    return st;
}

static duo_status read_oracle_tokens(const char *path)
{
    duo_token_file f;
    duo_status st = duo_token_file_read(path, &f);
    if (st == DUO_OK)
        duo_token_file_free(&f);
    return st;
}

static duo_status read_tuning(const char *path)
{
    duo_device_info device;
    memset(&device, 0, sizeof device);
    duo_tuning t;
    return duo_tuning_load(path, &device, &t);
}

static duo_status read_log_trim(const char *path)
{
    double elapsed;
    return duo_run_log_trim(path, 10, &elapsed);
}

static const reader READERS[] = {
    {"config", read_config},           {"checkpoint", read_checkpoint},
    {"tokenizer", read_tokenizer},     {"shard header", read_shard_info},
    {"shard", read_shard},             {"oracle_tokens.bin", read_oracle_tokens},
    {"tuning file", read_tuning},      {"log.jsonl (trim on resume)", read_log_trim},
};
enum { N_READERS = (int)(sizeof READERS / sizeof READERS[0]) };

/* A reader that blocks is killed by the alarm, naming itself. */
static const char *volatile reading;
static void on_alarm(int sig)
{
    (void)sig;
    char text[200];
    int n = snprintf(text, sizeof text, "  FAIL  the %s reader blocked on a FIFO for 10 s\n", reading);
    if (write(STDOUT_FILENO, text, (size_t)n) < 0)
        _exit(3);
    _exit(2);
}

static void fifo_is_refused_by_every_reader(void)
{
    char fifo[600];
    path_in(fifo, sizeof fifo, "fifo");
    if (!unit_check("mkfifo", mkfifo(fifo, 0600) == 0, "%s: %s", fifo, strerror(errno)))
        return;
    signal(SIGALRM, on_alarm);
    for (int i = 0; i < N_READERS; i++) {
        reading = READERS[i].name;
        alarm(10);
        duo_status st = READERS[i].read(fifo);
        alarm(0);
        char name[128];
        snprintf(name, sizeof name, "fifo refused by the %s reader", READERS[i].name);
        unit_fails(name, st, DUO_ERR_IO, "FIFO", "regular files");
    }
}

static void folder_is_refused_as_io_by_every_reader(void)
{
    char folder[600];
    path_in(folder, sizeof folder, "a-folder");
    if (!unit_check("mkdir", mkdir(folder, 0700) == 0, "%s: %s", folder, strerror(errno)))
        return;
    for (int i = 0; i < N_READERS; i++) {
        char name[128];
        snprintf(name, sizeof name, "folder refused by the %s reader", READERS[i].name);
        unit_fails(name, READERS[i].read(folder), DUO_ERR_IO, "a directory", "a-folder");
    }
}

static void device_file_is_refused(void)
{
    unit_fails("/dev/zero as a config", read_config("/dev/zero"), DUO_ERR_IO, "character device",
               "/dev/zero");
    unit_fails("/dev/zero as a tokenizer", read_tokenizer("/dev/zero"), DUO_ERR_IO,
               "character device", NULL);
}

/* A sparse file of `bytes` (no disk used). */
static bool sparse(const char *path, off_t bytes)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    bool ok = fd >= 0 && ftruncate(fd, bytes) == 0;
    if (fd >= 0)
        close(fd);
    return unit_check("sparse file", ok, "%s: %s", path, strerror(errno));
}

static void oversized_files_are_refused_before_reading(void)
{
    struct {
        const char *file, *limit;
        off_t bytes;
        duo_status (*read)(const char *path);
    } cases[] = {
        {"big-config.json", "1 MiB", ((off_t)1 << 20) + 1, read_config},
        {"big-tuning.json", "1 MiB", ((off_t)1 << 20) + 1, read_tuning},
        {"big-tokenizer.json", "64 MiB", ((off_t)64 << 20) + 1, read_tokenizer},
        {"big.log.jsonl", "1 GiB", ((off_t)1 << 30) + 1, read_log_trim},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[600], name[128];
        path_in(path, sizeof path, cases[i].file);
        if (!sparse(path, cases[i].bytes))
            continue;
        snprintf(name, sizeof name, "%s over its %s limit", cases[i].file, cases[i].limit);
        unit_fails(name, cases[i].read(path), DUO_ERR_FORMAT, cases[i].limit, cases[i].file);
        remove(path);
    }
}

/* ---- writers ---- */

static void atomic_write_syncs_file_then_folder(void)
{
    char path[600];
    path_in(path, sizeof path, "result.json");
    const void *parts[] = {"{}", "\n"};
    size_t sizes[] = {2, 1};
    record();
    unit_ok("duo_write_file_atomic", duo_write_file_atomic(path, "result file", parts, sizes, 2));
    check_durable("result file: fsync, rename, fsync of the folder", path);
}

static duo_config tiny_config(void)
{
    duo_config c;
    if (!unit_ok("config", duo_config_parse("{\"model\": {\"vocab\": 257, \"d_model\": 8, "
                                            "\"n_layers\": 2, \"n_heads\": 2, \"ctx\": 4, "
                                            "\"ffn_big\": 16}}", "test", &c)))
        exit(1);
    return c;
}

/* A hard link to config.json shows whether it was rewritten in place (the
 * link changes too) or replaced (the link keeps the old text). */
static void config_save_replaces_instead_of_rewriting_in_place(void)
{
    char path[600], link_path[600];
    path_in(path, sizeof path, "config.json");
    path_in(link_path, sizeof link_path, "config-link.json");
    write_text(path, "old text\n");
    if (!unit_check("link", link(path, link_path) == 0, "%s", strerror(errno)))
        return;
    duo_config c = tiny_config();
    record();
    unit_ok("duo_config_save", duo_config_save(&c, path));
    check_durable("config.json: fsync, rename, fsync of the folder", path);
    char *old = read_text(link_path);
    unit_check("config.json not rewritten in place", old && strcmp(old, "old text\n") == 0,
               "the other link to the old config.json now holds \"%.40s\"", old ? old : "?");
    free(old);
    duo_config back;
    unit_ok("the saved config loads", duo_config_load(path, &back));
}

static void log_trim_syncs_file_then_folder(void)
{
    char path[600];
    path_in(path, sizeof path, "log.jsonl");
    write_text(path, "{\"step\":1,\"elapsed_s\":1.5}\n{\"step\":2,\"elapsed_s\":2.5}\n"
                     "{\"step\":3,\"elapsed_s\":3.5}\n{\"step\":4,\"elaps");
    double elapsed = 0;
    record();
    unit_ok("duo_run_log_trim", duo_run_log_trim(path, 2, &elapsed));
    check_durable("trimmed log: fsync, rename, fsync of the folder", path);
    char *text = read_text(path);
    unit_check("trim keeps steps <= 2", text && strcmp(text, "{\"step\":1,\"elapsed_s\":1.5}\n"
                                                             "{\"step\":2,\"elapsed_s\":2.5}\n") == 0 &&
                                            elapsed == 2.5,
               "log \"%s\", elapsed %g", text ? text : "?", elapsed);
    free(text);
}

static void oracle_tokens_syncs_file_then_folder(void)
{
    char path[600];
    path_in(path, sizeof path, "oracle_tokens.bin");
    int32_t windows[5] = {1, 2, 3, 4, 5};
    float small[4] = {1, 2, 3, 4}, big[4] = {0.5f, 1, 1.5f, 2};
    duo_token_domain d = {.name = "web", .n_windows = 1, .tokens = 4, .windows = windows,
                          .loss_small = small, .loss_big = big};
    duo_token_file f = {.layers = 2, .ctx = 4, .n_domains = 1, .domain = &d};
    record();
    unit_ok("duo_token_file_write", duo_token_file_write(path, &f));
    check_durable("oracle_tokens.bin: fsync, rename, fsync of the folder", path);
    unit_ok("it reads back", read_oracle_tokens(path));
}

/* A FIFO left at PATH.tmp (by anyone) must not block the next write. */
static void stale_fifo_tmp_does_not_block_a_write(void)
{
    char path[600], tmp[700];
    path_in(path, sizeof path, "eval.json");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!unit_check("mkfifo", mkfifo(tmp, 0600) == 0, "%s", strerror(errno)))
        return;
    const void *parts[] = {"{}\n"};
    size_t sizes[] = {3};
    reading = "duo_write_file_atomic over a FIFO .tmp";
    alarm(10);
    duo_status st = duo_write_file_atomic(path, "result file", parts, sizes, 1);
    alarm(0);
    unit_ok("write past a stale FIFO", st);
    struct stat info;
    unit_check("no .tmp left", stat(tmp, &info) != 0, "%s still exists", tmp);
    char *text = read_text(path);
    unit_check("written", text && strcmp(text, "{}\n") == 0, "\"%s\"", text ? text : "?");
    free(text);
}

int main(void)
{
    if (!test_temp_dir(dir, sizeof dir, "files"))
        return 1;
    UNIT_RUN(fifo_is_refused_by_every_reader);
    UNIT_RUN(folder_is_refused_as_io_by_every_reader);
    UNIT_RUN(device_file_is_refused);
    UNIT_RUN(oversized_files_are_refused_before_reading);
    UNIT_RUN(atomic_write_syncs_file_then_folder);
    UNIT_RUN(config_save_replaces_instead_of_rewriting_in_place);
    UNIT_RUN(log_trim_syncs_file_then_folder);
    UNIT_RUN(oracle_tokens_syncs_file_then_folder);
    UNIT_RUN(stale_fifo_tmp_does_not_block_a_write);
    test_remove_dir(dir);
    return unit_summary("test_files");
}
