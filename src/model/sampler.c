/* sampler.c - choosing the next token from logits (g4_sampler_*): penalties, temperature,
 * top-k / top-p / min-p truncation and a seeded draw. Works on a private copy of the
 * logits; candidates are sorted only as far as truncation needs (top-k first, in one pass
 * with a heap, so the usual top_k = 64 sorts 64 entries, not the 262,144 of the
 * vocabulary). */
#include "../base.h"

#include <math.h>
#include <string.h>

typedef struct cand { float v; int32_t id; } cand;

struct g4_sampler {
    g4_sampler_params p;
    int32_t n_vocab;
    float *work;        /* (n_vocab) logits after penalties */
    int32_t *idx;       /* (n_vocab) candidate ids */
    cand *pairs;        /* (n_vocab) scratch for sorting */
    int32_t *hist;      /* ring of the last penalty_last_n tokens */
    int32_t n_hist, hist_pos;
    uint64_t rng;
};

g4_sampler_params g4_sampler_default_params(void) {
    return (g4_sampler_params){.temperature = 1.0f, .top_k = 64, .top_p = 0.95f, .repeat_penalty = 1.0f, .seed = 0x9e3779b97f4a7c15ull};
}

g4_status g4_sampler_create(g4_sampler **out, const g4_sampler_params *params, int32_t n_vocab, g4_error *err) {
    *out = NULL;
    if (n_vocab < 1) return g4_fail(err, G4_ERR_ARG, "sampler: vocabulary size %d", n_vocab);
    g4_sampler_params p = params ? *params : g4_sampler_default_params();
    if (!(p.temperature >= 0) || p.top_k < 0 || !(p.top_p >= 0 && p.top_p <= 1) || !(p.min_p >= 0 && p.min_p <= 1) ||
        !(p.repeat_penalty >= 0) || !isfinite(p.presence_penalty) || !isfinite(p.frequency_penalty) || p.penalty_last_n < 0)
        return g4_fail(err, G4_ERR_ARG, "sampler: a parameter is out of range");
    if (p.penalty_last_n == 0) p.penalty_last_n = 64;
    g4_sampler *s = calloc(1, sizeof *s);
    if (!s) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    s->p = p;
    s->n_vocab = n_vocab;
    s->work = g4_malloc((size_t)n_vocab * sizeof *s->work);
    s->idx = g4_malloc((size_t)n_vocab * sizeof *s->idx);
    s->hist = g4_malloc((size_t)p.penalty_last_n * sizeof *s->hist);
    s->pairs = g4_malloc((size_t)n_vocab * sizeof *s->pairs);
    if (!s->work || !s->idx || !s->hist || !s->pairs) { g4_sampler_free(s); return g4_fail(err, G4_ERR_NOMEM, "out of memory"); }
    g4_sampler_reset(s);
    *out = s;
    return G4_OK;
}

void g4_sampler_free(g4_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->idx);
    free(s->hist);
    free(s->pairs);
    free(s);
}

void g4_sampler_reset(g4_sampler *s) {
    s->n_hist = s->hist_pos = 0;
    s->rng = s->p.seed ? s->p.seed : 0x9e3779b97f4a7c15ull;
}

void g4_sampler_accept(g4_sampler *s, int32_t token) {
    if (token < 0 || token >= s->n_vocab) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.penalty_last_n;
    if (s->n_hist < s->p.penalty_last_n) s->n_hist++;
}

/* splitmix64: small, fast and good enough for sampling */
static double next_uniform(g4_sampler *s) {
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* a ranks below b: lower value, or the same value and a higher id */
static inline int cand_below(cand a, cand b) { return a.v < b.v || (a.v == b.v && a.id > b.id); }

/* Restores the min-heap h[0..k) (root: the lowest-ranked candidate) below position i. */
static void heap_down(cand *h, int32_t k, int32_t i) {
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= k) return;
        if (c + 1 < k && cand_below(h[c + 1], h[c])) c++;
        if (!cand_below(h[c], h[i])) return;
        const cand t = h[i]; h[i] = h[c]; h[c] = t;
        i = c;
    }
}

/* Moves the k largest (by w[]) of the n candidate ids to the front, in descending order
 * (ties: lower id first). For k < n, one pass keeps the best k in a min-heap: most
 * candidates cost one comparison with its root, so top-k 64 of a 262,144-entry
 * vocabulary takes well under a millisecond (selection, k passes over n, took about 20 ms
 * a token here). Then only the k kept are sorted. */
static void partial_sort(const float *w, int32_t *idx, int32_t n, int32_t k, cand *pairs) {
    for (int32_t i = 0; i < k; i++) pairs[i] = (cand){w[idx[i]], idx[i]};
    if (k < n) {
        for (int32_t i = k / 2 - 1; i >= 0; i--) heap_down(pairs, k, i);
        for (int32_t i = k; i < n; i++) {
            const cand c = {w[idx[i]], idx[i]};
            if (cand_below(pairs[0], c)) { pairs[0] = c; heap_down(pairs, k, 0); }
        }
    }
    qsort(pairs, (size_t)k, sizeof *pairs, cmp_cand);
    for (int32_t i = 0; i < k; i++) idx[i] = pairs[i].id;
}

int32_t g4_sampler_sample(g4_sampler *s, const float *logits) {
    const int32_t V = s->n_vocab;
    float *w = s->work;
    /* NaN (a broken model or caller) ranks last: every comparison below then has an order,
     * and a NaN can neither win nor leave the candidate list empty */
    for (int32_t i = 0; i < V; i++) w[i] = logits[i] == logits[i] ? logits[i] : -INFINITY;
    const g4_sampler_params *p = &s->p;
    if ((p->repeat_penalty > 0 && p->repeat_penalty != 1.0f) || p->presence_penalty != 0 || p->frequency_penalty != 0) {
        /* count each token once for presence/repeat, per occurrence for frequency */
        for (int32_t i = 0; i < s->n_hist; i++) {
            const int32_t t = s->hist[i];
            int32_t first = 1;
            for (int32_t j = 0; j < i; j++) first &= s->hist[j] != t;
            if (first) {
                if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f) w[t] = w[t] > 0 ? w[t] / p->repeat_penalty : w[t] * p->repeat_penalty;
                w[t] -= p->presence_penalty;
            }
            w[t] -= p->frequency_penalty;
        }
    }
    if (!(p->temperature > 0)) return argmax(w, V);
    int32_t n = V;
    for (int32_t i = 0; i < V; i++) s->idx[i] = i;
    const int32_t k = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    /* full sort of 262K entries by selection would be slow: without top-k, keep the
     * candidates within 30 nats of the best (exp(-30) ~ 1e-13 of its probability) */
    if (k == V) {
        const float mx = w[argmax(w, V)];
        n = 0;
        for (int32_t i = 0; i < V; i++)
            if (w[i] >= mx - 30.0f * p->temperature) s->idx[n++] = i;
        partial_sort(w, s->idx, n, n, s->pairs);
    } else {
        partial_sort(w, s->idx, V, k, s->pairs);
        n = k;
    }
    /* softmax over the candidates at the temperature; with an infinite best (+inf, or
     * nothing but -inf and NaN) there is no distribution, and the best is the answer */
    const float mx = w[s->idx[0]];
    if (!isfinite(mx)) return s->idx[0];
    double sum = 0;
    for (int32_t i = 0; i < n; i++) {
        w[s->idx[i]] = expf((w[s->idx[i]] - mx) / p->temperature);
        sum += w[s->idx[i]];
    }
    /* top-p: the smallest prefix whose mass reaches top_p; min-p: relative to the best */
    int32_t keep = n;
    if (p->top_p > 0 && p->top_p < 1) {
        double c = 0;
        for (int32_t i = 0; i < n; i++) {
            c += w[s->idx[i]] / sum;
            if (c >= p->top_p) { keep = i + 1; break; }
        }
    }
    if (p->min_p > 0) {
        const float floor_p = p->min_p * w[s->idx[0]];
        for (int32_t i = 1; i < keep; i++)
            if (w[s->idx[i]] < floor_p) { keep = i; break; }
    }
    double total = 0;
    for (int32_t i = 0; i < keep; i++) total += w[s->idx[i]];
    double r = next_uniform(s) * total;
    for (int32_t i = 0; i < keep; i++) {
        r -= w[s->idx[i]];
        if (r < 0) return s->idx[i];
    }
    return s->idx[keep - 1];
}
