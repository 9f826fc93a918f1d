/* RUN/oracle_tokens.bin: its reader, which checks every field, and its writer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/fileio.h"
#include "oracle_tokens.h"

static const char WHAT[] = "oracle token file";
static const char REDO[] = "rerun 'duocl oracle RUN' to write it again";

/* A read position in the file's bytes; every take names what it wanted so a
 * truncated file says where it ends. */
typedef struct cursor {
    const char *path;
    const uint8_t *data;
    size_t size, at;
} cursor;

static duo_status truncated(const cursor *c, const char *domain, const char *field, uint64_t count,
                            unsigned size)
{
    char need[64];
    if (size > 1)
        snprintf(need, sizeof need, "%llu values of %u bytes", (unsigned long long)count, size);
    else
        snprintf(need, sizeof need, "%llu bytes", (unsigned long long)count);
    return duo_fail(DUO_ERR_FORMAT, "%s '%s' is truncated: %s%s%s%s needs %s at offset %zu, only %zu "
                    "bytes remain; %s", WHAT, c->path, domain ? "domain '" : "", domain ? domain : "",
                    domain ? "': " : "", field, need, c->at, c->size - c->at, REDO);
}

static duo_status take(cursor *c, size_t n, const char *domain, const char *field, const uint8_t **out)
{
    if (n > c->size - c->at)
        return truncated(c, domain, field, n, 1);
    *out = c->data + c->at;
    c->at += n;
    return DUO_OK;
}

static uint32_t u32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t u64_at(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Copies count 4-byte values into a fresh array. */
static duo_status take_array(cursor *c, uint64_t count, const char *domain, const char *field, void **out)
{
    const uint8_t *p = NULL;
    if (count > (c->size - c->at) / 4)
        return truncated(c, domain, field, count, 4);
    DUO_TRY(take(c, (size_t)count * 4, domain, field, &p));
    *out = malloc(count ? (size_t)count * 4 : 1);
    if (!*out)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s '%s': out of memory for %s of domain '%s'", WHAT,
                        c->path, field, domain);
    memcpy(*out, p, (size_t)count * 4);
    return DUO_OK;
}

static duo_status check_losses(const cursor *c, const char *domain, const char *field, const float *x,
                               uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return duo_fail(DUO_ERR_FORMAT, "%s '%s': domain '%s': %s of token %llu is %g, not a finite loss; %s",
                            WHAT, c->path, domain, field, (unsigned long long)i, (double)x[i], REDO);
    return DUO_OK;
}

static int popcount32(uint32_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static duo_status read_domain(cursor *c, int layers, int ctx, int index, duo_token_domain *d)
{
    const uint8_t *p = NULL;
    char where[48];
    snprintf(where, sizeof where, "domain %d header", index);
    DUO_TRY(take(c, 32 + 8 + 8 + 4, NULL, where, &p));
    if (memchr(p, 0, 32) == NULL)
        return duo_fail(DUO_ERR_FORMAT, "%s '%s': the name of domain %d is not NUL-terminated; %s", WHAT,
                        c->path, index, REDO);
    memcpy(d->name, p, 32);
    d->n_windows = u64_at(p + 32);
    d->tokens = u64_at(p + 40);
    d->searched = u32_at(p + 48);
    const char *name = d->name;
    uint64_t row = (uint64_t)ctx + 1;
    if (d->n_windows > (c->size - c->at) / 4 / row)
        return truncated(c, name, "its windows", d->n_windows * row, 4);
    if (d->tokens != d->n_windows * (uint64_t)ctx)
        return duo_fail(DUO_ERR_FORMAT, "%s '%s': domain '%s' has %llu tokens for %llu windows of %d; "
                        "expected windows x ctx = %llu; %s", WHAT, c->path, name,
                        (unsigned long long)d->tokens, (unsigned long long)d->n_windows, ctx,
                        (unsigned long long)(d->n_windows * (uint64_t)ctx), REDO);
    if (d->searched >> layers >> 1)
        return duo_fail(DUO_ERR_FORMAT, "%s '%s': domain '%s' lists searched budgets above L = %d (mask 0x%x); %s",
                        WHAT, c->path, name, layers, d->searched, REDO);
    DUO_TRY(take_array(c, d->n_windows * row, name, "its windows", (void **)&d->windows));
    for (uint64_t i = 0; i < d->n_windows * row; i++)
        if (d->windows[i] < 0)
            return duo_fail(DUO_ERR_FORMAT, "%s '%s': domain '%s': token id %d at %llu is negative; %s", WHAT,
                            c->path, name, d->windows[i], (unsigned long long)i, REDO);
    DUO_TRY(take_array(c, d->tokens, name, "loss_small", (void **)&d->loss_small));
    DUO_TRY(check_losses(c, name, "loss_small", d->loss_small, d->tokens));
    DUO_TRY(take_array(c, d->tokens, name, "loss_big", (void **)&d->loss_big));
    DUO_TRY(check_losses(c, name, "loss_big", d->loss_big, d->tokens));
    for (int k = 0; k <= layers; k++) {
        if (!(d->searched >> k & 1))
            continue;
        char field[48];
        snprintf(field, sizeof field, "loss_oracle of budget %d", k);
        DUO_TRY(take_array(c, d->tokens, name, field, (void **)&d->loss_oracle[k]));
        DUO_TRY(check_losses(c, name, field, d->loss_oracle[k], d->tokens));
        snprintf(field, sizeof field, "big_mask of budget %d", k);
        DUO_TRY(take_array(c, d->tokens, name, field, (void **)&d->big_mask[k]));
        /* Every oracle route of budget k has exactly k BIG layers below L:
         * this also catches budgets stored out of order. */
        for (uint64_t i = 0; i < d->tokens; i++) {
            uint32_t m = d->big_mask[k][i];
            if (popcount32(m) != k || (layers < 32 && m >> layers))
                return duo_fail(DUO_ERR_FORMAT, "%s '%s': domain '%s': %s of token %llu is 0x%x, which "
                                "does not have exactly %d BIG layers among %d; %s", WHAT, c->path, name,
                                field, (unsigned long long)i, m, k, layers, REDO);
        }
    }
    return DUO_OK;
}

static duo_status parse(cursor *c, duo_token_file *out)
{
    const uint8_t *p = NULL;
    DUO_TRY(take(c, 8 + 16, NULL, "the header", &p));
    if (memcmp(p, "DUOCLPTL", 8) != 0)
        return duo_fail(DUO_ERR_FORMAT, "%s '%s' does not start with \"DUOCLPTL\": not a file written by "
                        "'duocl oracle'", WHAT, c->path);
    uint32_t version = u32_at(p + 8), layers = u32_at(p + 12), n_domains = u32_at(p + 16),
             ctx = u32_at(p + 20);
    if (version != 1)
        return duo_fail(DUO_ERR_FORMAT, "%s '%s' has version %u; this duocl reads version 1; %s", WHAT,
                        c->path, version, REDO);
    if (layers < 1 || layers > DUO_TOKEN_FILE_MAX_LAYERS)
        return duo_fail(DUO_ERR_FORMAT, "%s '%s': header says %u layers; allowed 1 to %d; %s", WHAT, c->path,
                        layers, DUO_TOKEN_FILE_MAX_LAYERS, REDO);
    if (n_domains < 1 || n_domains > DUO_TOKEN_FILE_MAX_DOMAINS)
        return duo_fail(DUO_ERR_FORMAT, "%s '%s': header says %u domains; allowed 1 to %d; %s", WHAT, c->path,
                        n_domains, DUO_TOKEN_FILE_MAX_DOMAINS, REDO);
    if (ctx < 1 || ctx > (1u << 24))
        return duo_fail(DUO_ERR_FORMAT, "%s '%s': header says ctx %u; allowed 1 to %u; %s", WHAT, c->path, ctx,
                        1u << 24, REDO);
    out->layers = (int)layers;
    out->ctx = (int)ctx;
    out->domain = calloc(n_domains, sizeof *out->domain);
    if (!out->domain)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s '%s': out of memory", WHAT, c->path);
    for (uint32_t d = 0; d < n_domains; d++) {
        out->n_domains = (int)d + 1; /* so free releases what this domain got */
        DUO_TRY(read_domain(c, out->layers, out->ctx, (int)d, &out->domain[d]));
    }
    if (c->at != c->size)
        return duo_fail(DUO_ERR_FORMAT, "%s '%s' has %zu bytes after its last domain; %s", WHAT, c->path,
                        c->size - c->at, REDO);
    return DUO_OK;
}

duo_status duo_token_file_read(const char *path, duo_token_file *out)
{
    if (!path || !out)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_token_file_read: path and out must be given");
    memset(out, 0, sizeof *out);
    cursor c = {.path = path};
    uint8_t *data;
    DUO_TRY(duo_read_file(path, WHAT, DUO_MAX_ORACLE_TOKENS_BYTES, &data, &c.size));
    c.data = data;
    duo_status st = parse(&c, out);
    free(data);
    if (st != DUO_OK)
        duo_token_file_free(out);
    return st;
}

void duo_token_file_free(duo_token_file *f)
{
    if (!f)
        return;
    for (int d = 0; d < f->n_domains; d++) {
        duo_token_domain *dom = &f->domain[d];
        free(dom->windows);
        free(dom->loss_small);
        free(dom->loss_big);
        for (int k = 0; k <= DUO_TOKEN_FILE_MAX_LAYERS; k++) {
            free(dom->loss_oracle[k]);
            free(dom->big_mask[k]);
        }
    }
    free(f->domain);
    memset(f, 0, sizeof *f);
}

/* The pieces of the file in order, for duo_write_file_atomic. */
typedef struct pieces {
    const void **data;
    size_t *size;
    int n;
} pieces;

static void put(pieces *p, const void *data, size_t size)
{
    p->data[p->n] = data;
    p->size[p->n++] = size;
}

duo_status duo_token_file_write(const char *path, const duo_token_file *f)
{
    size_t domains = f->n_domains > 0 ? (size_t)f->n_domains : 1;
    /* Per domain: name, counts, searched, windows, two uniform losses and two
     * arrays per searched budget. */
    size_t cap = 2 + domains * (6 + 2 * (DUO_TOKEN_FILE_MAX_LAYERS + 1));
    pieces p = {.data = malloc(cap * sizeof *p.data), .size = malloc(cap * sizeof *p.size)};
    char(*names)[32] = calloc(domains, sizeof *names);
    uint64_t(*counts)[2] = calloc(domains, sizeof *counts);
    duo_status st = DUO_OK;
    if (!p.data || !p.size || !names || !counts)
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory writing %s '%s'", WHAT, path);
    uint32_t header[4] = {1, (uint32_t)f->layers, (uint32_t)f->n_domains, (uint32_t)f->ctx};
    if (st == DUO_OK) {
        put(&p, "DUOCLPTL", 8);
        put(&p, header, sizeof header);
    }
    for (int d = 0; d < f->n_domains && st == DUO_OK; d++) {
        const duo_token_domain *dom = &f->domain[d];
        snprintf(names[d], sizeof names[d], "%s", dom->name); /* zero-padded */
        counts[d][0] = dom->n_windows;
        counts[d][1] = dom->tokens;
        put(&p, names[d], sizeof names[d]);
        put(&p, counts[d], sizeof counts[d]);
        put(&p, &dom->searched, sizeof dom->searched);
        put(&p, dom->windows, dom->n_windows * ((size_t)f->ctx + 1) * sizeof(int32_t));
        put(&p, dom->loss_small, dom->tokens * sizeof(float));
        put(&p, dom->loss_big, dom->tokens * sizeof(float));
        for (int k = 0; k <= f->layers && k <= DUO_TOKEN_FILE_MAX_LAYERS; k++)
            if (dom->searched >> k & 1) {
                put(&p, dom->loss_oracle[k], dom->tokens * sizeof(float));
                put(&p, dom->big_mask[k], dom->tokens * sizeof(uint32_t));
            }
    }
    if (st == DUO_OK)
        st = duo_write_file_atomic(path, WHAT, p.data, p.size, p.n);
    free(p.data);
    free(p.size);
    free(names);
    free(counts);
    return st;
}

void duo_token_file_budgets(const duo_token_file *f, char *buf, size_t cap)
{
    uint32_t common = ~0u;
    for (int d = 0; d < f->n_domains; d++)
        common &= f->domain[d].searched;
    size_t used = 0;
    if (cap)
        buf[0] = 0;
    for (int k = 0; k <= f->layers && used < cap; k++)
        if (common >> k & 1) {
            int w = snprintf(buf + used, cap - used, "%s%d", used ? "," : "", k);
            used += w > 0 ? (size_t)w : 0;
        }
}
