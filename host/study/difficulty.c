/* Token difficulty: the per-domain statistics, top lists and text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "difficulty.h"
#include "base/error.h"

typedef struct ranked {
    float value;
    uint64_t index;
} ranked;

static int ascending(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int descending(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static ranked *sorted(const float *x, size_t n, int (*order)(const void *, const void *))
{
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++)
        r[i] = (ranked){x[i], i};
    qsort(r, n, sizeof *r, order);
    return r;
}

duo_status duo_average_ranks(const float *x, size_t n, double *ranks)
{
    ranked *r = sorted(x, n, ascending);
    if (!r)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "duo_average_ranks: out of memory for %zu values", n);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && r[j + 1].value == r[i].value)
            j++;
        /* Positions i..j (0-based) share ranks i+1..j+1: their mean. */
        double rank = (double)(i + j) / 2.0 + 1.0;
        for (size_t m = i; m <= j; m++)
            ranks[r[m].index] = rank;
        i = j + 1;
    }
    free(r);
    return DUO_OK;
}

duo_status duo_spearman(const float *x, const float *y, size_t n, double *rho)
{
    *rho = NAN;
    if (n < 2)
        return DUO_OK;
    double *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry);
    duo_status st = rx && ry ? DUO_OK
                             : duo_fail(DUO_ERR_OUT_OF_MEMORY, "duo_spearman: out of memory for %zu values", n);
    if (st == DUO_OK)
        st = duo_average_ranks(x, n, rx);
    if (st == DUO_OK)
        st = duo_average_ranks(y, n, ry);
    if (st == DUO_OK) {
        double mean = ((double)n + 1.0) / 2.0, sxy = 0, sxx = 0, syy = 0;
        for (size_t i = 0; i < n; i++) {
            double a = rx[i] - mean, b = ry[i] - mean;
            sxy += a * b;
            sxx += a * a;
            syy += b * b;
        }
        if (sxx > 0 && syy > 0)
            *rho = sxy / sqrt(sxx * syy);
    }
    free(rx);
    free(ry);
    return st;
}

duo_status duo_top_indices(const float *score, size_t n, size_t count, uint64_t *out)
{
    if (count > n)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_top_indices: count %zu is more than the %zu scores",
                        count, n);
    ranked *r = sorted(score, n, descending);
    if (!r)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "duo_top_indices: out of memory for %zu values", n);
    for (size_t i = 0; i < count; i++)
        out[i] = r[i].index;
    free(r);
    return DUO_OK;
}

size_t duo_top_decile_count(size_t n)
{
    size_t c = (n + 9) / 10;
    return c ? c : 1;
}

duo_status duo_difficulty_benefit(const duo_token_domain *d, int k, float *benefit)
{
    if (k < 0 || k > DUO_TOKEN_FILE_MAX_LAYERS || !d->loss_oracle[k])
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "budget %d was not searched in domain '%s'", k, d->name);
    for (uint64_t i = 0; i < d->tokens; i++)
        benefit[i] = d->loss_small[i] - d->loss_oracle[k][i];
    return DUO_OK;
}

static double mean_of(const float *x, uint64_t n)
{
    double s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += x[i];
    return n ? s / (double)n : NAN;
}

static duo_status check_selection(const duo_token_domain *d, int ctx, int min_position)
{
    if (ctx < 1 || min_position < 0 || min_position >= ctx)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "first position %d: allowed 0 to %d (the window length - 1)",
                        min_position, ctx - 1);
    if (d->tokens == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "domain '%s' has no tokens", d->name);
    return DUO_OK;
}

/* Copies the values of the tokens at positions >= min_position; returns how many. */
static size_t gather(const float *src, uint64_t tokens, int ctx, int min_position, float *dst)
{
    size_t n = 0;
    for (uint64_t i = 0; i < tokens; i++)
        if (i % (uint64_t)ctx >= (uint64_t)min_position)
            dst[n++] = src[i];
    return n;
}

duo_status duo_difficulty_compute(const duo_token_domain *d, int ctx, int k, int min_position,
                                  duo_difficulty_stats *out)
{
    memset(out, 0, sizeof *out);
    DUO_TRY(check_selection(d, ctx, min_position));
    size_t all = (size_t)d->tokens;
    size_t n = (size_t)d->n_windows * (size_t)(ctx - min_position);
    size_t top = duo_top_decile_count(n);
    float *full = malloc(all * sizeof *full);
    float *small = malloc(n * sizeof *small), *big = malloc(n * sizeof *big);
    float *oracle = malloc(n * sizeof *oracle), *benefit = malloc(n * sizeof *benefit);
    uint64_t *hard = malloc(top * sizeof *hard), *gain = malloc(top * sizeof *gain);
    bool *in_gain = calloc(n, sizeof *in_gain);
    duo_status st = full && small && big && oracle && benefit && hard && gain && in_gain
                        ? DUO_OK
                        : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the statistics of '%s'", d->name);
    if (st == DUO_OK)
        st = duo_difficulty_benefit(d, k, full);
    if (st == DUO_OK) {
        gather(d->loss_small, all, ctx, min_position, small);
        gather(d->loss_big, all, ctx, min_position, big);
        gather(d->loss_oracle[k], all, ctx, min_position, oracle);
        gather(full, all, ctx, min_position, benefit);
        out->tokens = n;
        out->mean_small = mean_of(small, n);
        out->mean_big = mean_of(big, n);
        out->mean_oracle = mean_of(oracle, n);
        out->mean_benefit = mean_of(benefit, n);
        uint64_t gains = 0;
        for (size_t i = 0; i < n; i++)
            gains += benefit[i] > 0;
        out->fraction_gain = (double)gains / (double)n;
        st = duo_spearman(small, benefit, n, &out->spearman_small_benefit);
    }
    if (st == DUO_OK)
        st = duo_spearman(big, benefit, n, &out->spearman_big_benefit);
    if (st == DUO_OK)
        st = duo_spearman(small, big, n, &out->spearman_small_big);
    if (st == DUO_OK)
        st = duo_top_indices(small, n, top, hard);
    if (st == DUO_OK)
        st = duo_top_indices(benefit, n, top, gain);
    if (st == DUO_OK) {
        for (size_t i = 0; i < top; i++)
            in_gain[gain[i]] = true;
        out->top_count = top;
        for (size_t i = 0; i < top; i++)
            out->top_overlap += in_gain[hard[i]];
    }
    free(full);
    free(small);
    free(big);
    free(oracle);
    free(benefit);
    free(hard);
    free(gain);
    free(in_gain);
    return st;
}

duo_status duo_difficulty_top(const duo_token_domain *d, int ctx, int min_position, const float *score,
                              size_t count, uint64_t *out)
{
    DUO_TRY(check_selection(d, ctx, min_position));
    size_t n = (size_t)d->n_windows * (size_t)(ctx - min_position);
    if (count > n)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%zu top tokens asked of domain '%s', which has %zu at "
                        "positions %d and later", count, d->name, n, min_position);
    float *kept = malloc((n ? n : 1) * sizeof *kept);
    if (!kept)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the top tokens of '%s'", d->name);
    gather(score, d->tokens, ctx, min_position, kept);
    duo_status st = duo_top_indices(kept, n, count, out);
    /* Back from the j-th kept token to its index in the domain. */
    uint64_t per = (uint64_t)(ctx - min_position);
    for (size_t j = 0; j < count && st == DUO_OK; j++)
        out[j] = out[j] / per * (uint64_t)ctx + (uint64_t)min_position + out[j] % per;
    free(kept);
    return st;
}

/* ---- text ---- */

/* Length of the valid UTF-8 sequence starting at s (of n bytes), 0 if none. */
static size_t utf8_length(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

size_t duo_escape_text(const uint8_t *bytes, size_t n, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        char piece[8];
        size_t len, step = 1;
        uint8_t c = bytes[i];
        if (c == '\\')
            len = (size_t)snprintf(piece, sizeof piece, "\\\\");
        else if (c == '\n')
            len = (size_t)snprintf(piece, sizeof piece, "\\n");
        else if (c == '\t')
            len = (size_t)snprintf(piece, sizeof piece, "\\t");
        else if (c == '\r')
            len = (size_t)snprintf(piece, sizeof piece, "\\r");
        else if (c >= 0x20 && c < 0x7F) {
            piece[0] = (char)c;
            len = 1;
        } else if (c >= 0x80 && (step = utf8_length(bytes + i, n - i)) > 0) {
            memcpy(piece, bytes + i, step);
            len = step;
        } else {
            step = 1;
            len = (size_t)snprintf(piece, sizeof piece, "\\x%02X", c);
        }
        if (used + len + 1 > cap)
            break;
        memcpy(out + used, piece, len);
        used += len;
        i += step;
    }
    out[used] = 0;
    return used;
}

static duo_status token_bytes(const duo_tokenizer *tok, const char *domain, int32_t id,
                              const uint8_t **bytes, size_t *len)
{
    *bytes = duo_tokenizer_token_bytes(tok, id, len);
    if (!*bytes)
        return duo_fail(DUO_ERR_FORMAT, "domain '%s': token id %d is outside the tokenizer's vocabulary (0 to "
                        "%d); was the oracle run with this run's tokenizer?", domain, id,
                        duo_tokenizer_vocab_size(tok) - 1);
    return DUO_OK;
}

duo_status duo_difficulty_context(const duo_tokenizer *tok, const duo_token_domain *d, int ctx,
                                  uint64_t i, size_t context_bytes, char *context, size_t context_cap,
                                  char *token, size_t token_cap)
{
    if (i >= d->tokens)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "token %llu is outside domain '%s' (%llu tokens)",
                        (unsigned long long)i, d->name, (unsigned long long)d->tokens);
    const int32_t *window = d->windows + (i / (uint64_t)ctx) * (uint64_t)(ctx + 1);
    size_t t = (size_t)(i % (uint64_t)ctx);
    const uint8_t *b;
    size_t len;
    /* Walk back from position t until enough bytes are covered. */
    size_t start = t + 1, have = 0;
    while (start > 0 && have < context_bytes) {
        DUO_TRY(token_bytes(tok, d->name, window[start - 1], &b, &len));
        have += len;
        start--;
    }
    uint8_t *text = malloc(have ? have : 1);
    if (!text)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for a context of %zu bytes", have);
    size_t used = 0;
    for (size_t p = start; p <= t && have; p++) {
        token_bytes(tok, d->name, window[p], &b, &len); /* checked above */
        memcpy(text + used, b, len);
        used += len;
    }
    size_t skip = used > context_bytes ? used - context_bytes : 0;
    /* Do not start in the middle of a UTF-8 character. */
    for (int n = 0; n < 3 && skip > 0 && skip < used && (text[skip] & 0xC0) == 0x80; n++)
        skip++;
    duo_escape_text(text + skip, used - skip, context, context_cap);
    free(text);
    DUO_TRY(token_bytes(tok, d->name, window[t + 1], &b, &len));
    duo_escape_text(b, len, token, token_cap);
    return DUO_OK;
}
