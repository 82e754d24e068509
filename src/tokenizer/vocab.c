/* vocab.c - building the indexes the encoder needs from a vocabulary's arrays.
 *
 * vocab_load.c reduces both sources of a Gemma 4 vocabulary (GGUF metadata, Hugging Face
 * tokenizer.json) to the same arrays and hands them to tok_build_vocab, which builds:
 *   - a piece -> id hash map (the vocabulary's text index),
 *   - a (left id, right id) -> (rank, joined id) hash map of the merges,
 *   - the list of added tokens cut out of text before BPE,
 *   - the facts bpe.c needs to split text into independent words safely.
 * Everything read from a file is checked: a malformed vocabulary gives an error, never a
 * crash. Load time matters (the target is < 150 ms for 262,144 tokens and 514,906
 * merges), so the maps are flat arrays with linear probing and no per-entry allocation. */
#include "tokenizer.h"

#include "utf8.h"

#include <string.h>
#include <sys/mman.h>

/* ---- maps ------------------------------------------------------------------- */

/* Zeroed memory for a large hash table. The tables are probed at random, so on Linux
 * they are aligned to 2 MB and marked for transparent huge pages: that removes most TLB
 * misses, which otherwise cost as much as the cache misses (measured: load time of the
 * real vocabulary drops by about a third). free() releases it. */
static void *table_alloc(size_t bytes) {
    void *p = NULL;
    size_t huge = (size_t)2 << 20;
    if (bytes >= huge) {
        if (posix_memalign(&p, huge, (bytes + huge - 1) / huge * huge) != 0) return NULL;
#ifdef MADV_HUGEPAGE
        madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
        memset(p, 0, bytes);
        return p;
    }
    return g4_calloc(1, bytes);
}

static uint32_t pow2_at_least(uint64_t n) {
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return (uint32_t)c;
}

static inline bool span_is(const g4_tokenizer *t, int32_t id, const char *s, size_t n) {
    return t->span[id].len == n && memcmp(t->strings + t->span[id].off, s, n) == 0;
}

int32_t tok_find(const g4_tokenizer *t, const char *s, size_t n) {
    if (!t->pieces.slot) return -1;
    uint64_t h = tok_hash(s, n);
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & t->pieces.mask;
    for (;;) {
        uint64_t e = t->pieces.slot[i];
        if (!e) return -1;
        if ((uint32_t)(e >> 32) == tag && span_is(t, (int32_t)(uint32_t)e - 1, s, n)) return (int32_t)(uint32_t)e - 1;
        i = (i + 1) & t->pieces.mask;
    }
}

static g4_status build_piece_map(g4_tokenizer *t, g4_error *err) {
    uint32_t cap = pow2_at_least((uint64_t)t->n_vocab * 2);
    t->pieces.slot = table_alloc((size_t)cap * sizeof(uint64_t));
    if (!t->pieces.slot) return g4_fail(err, G4_ERR_NOMEM, "out of memory for the vocabulary index");
    t->pieces.mask = cap - 1;
    /* in batches: hash and prefetch first, insert second (the inserts are cache misses) */
    enum { BATCH = 64 };
    for (int32_t id0 = 0; id0 < t->n_vocab; id0 += BATCH) {
        uint64_t hs[BATCH];
        int32_t nb = G4_MIN(BATCH, t->n_vocab - id0);
        for (int32_t k = 0; k < nb; k++) {
            hs[k] = tok_hash(t->strings + t->span[id0 + k].off, t->span[id0 + k].len);
            __builtin_prefetch(&t->pieces.slot[(uint32_t)hs[k] & t->pieces.mask], 1);
        }
        for (int32_t k = 0; k < nb; k++) {
            int32_t id = id0 + k;
            uint32_t n = t->span[id].len;
            const char *s = t->strings + t->span[id].off;
            if (n == 0) continue; /* holes in an HF vocabulary: never matched */
            uint32_t tag = (uint32_t)(hs[k] >> 32), i = (uint32_t)hs[k] & t->pieces.mask;
            for (;;) {
                uint64_t e = t->pieces.slot[i];
                if (!e) { t->pieces.slot[i] = (uint64_t)tag << 32 | (uint32_t)(id + 1); break; }
                /* a duplicated piece keeps its first (lowest) id, as llama.cpp's loader and
                 * the Hugging Face export of the same vocabulary do */
                if ((uint32_t)(e >> 32) == tag && span_is(t, (int32_t)(uint32_t)e - 1, s, n)) break;
                i = (i + 1) & t->pieces.mask;
            }
        }
    }
    return G4_OK;
}

/* Looking up three pieces per merge for half a million merges is dominated by cache
 * misses, so merges are resolved in batches: hash everything, prefetch the slots, find
 * candidates by tag, prefetch their spans and bytes, then compare. The result is the
 * same as calling tok_find on each piece (which is the fallback on any doubt). */
#define MERGE_BATCH 128

typedef struct lookup {
    const char *s;
    uint32_t n, tag, slot;
    int32_t cand;
} lookup;

static void lookup_start(const g4_tokenizer *t, lookup *l, const char *s, uint32_t n) {
    uint64_t h = tok_hash(s, n);
    l->s = s;
    l->n = n;
    l->tag = (uint32_t)(h >> 32);
    l->slot = (uint32_t)h & t->pieces.mask;
    __builtin_prefetch(&t->pieces.slot[l->slot]);
}

static void lookup_probe(const g4_tokenizer *t, lookup *l) {
    l->cand = -1;
    for (uint32_t i = l->slot;; i = (i + 1) & t->pieces.mask) {
        uint64_t e = t->pieces.slot[i];
        if (!e) return;
        if ((uint32_t)(e >> 32) == l->tag) { l->cand = (int32_t)(uint32_t)e - 1; break; }
    }
    __builtin_prefetch(&t->span[l->cand]);
}

static int32_t lookup_finish(const g4_tokenizer *t, const lookup *l) {
    if (l->cand >= 0 && span_is(t, l->cand, l->s, l->n)) return l->cand;
    return l->cand < 0 ? -1 : tok_find(t, l->s, l->n); /* tag collision: do it slowly */
}

/* Inserts a merge; returns true when the pair was already there (it then takes the
 * later rank, as Hugging Face's merge map does). */
static bool merge_put(tok_merge *slots, uint32_t mask, uint64_t key, uint32_t rank, int32_t out) {
    uint32_t i = tok_merge_slot(key, mask);
    while (slots[i].key && slots[i].key != key) i = (i + 1) & mask;
    bool repeated = slots[i].key == key;
    slots[i] = (tok_merge){key, rank, out};
    return repeated;
}

/* ---- building ---------------------------------------------------------------- */

static int cmp_added(const void *pa, const void *pb) {
    const tok_added *a = pa, *b = pb;
    unsigned ca = (unsigned char)a->text[0], cb = (unsigned char)b->text[0];
    if (ca != cb) return ca < cb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1; /* longest first */
    return a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_u32(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return a < b ? -1 : a > b;
}

/* Scans every piece for the two facts that let bpe.c cut text into words (see
 * tokenizer.h): which characters a '▁' may follow inside a piece, and whether any
 * piece mixes newlines with other characters. */
static g4_status scan_word_boundaries(g4_tokenizer *t, g4_error *err) {
    uint32_t cap = 16, n = 0;
    uint32_t *glue = g4_malloc(cap * sizeof *glue);
    if (!glue) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    bool mixed_newline = false;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        uint32_t len;
        const unsigned char *s = (const unsigned char *)tok_piece(t, id, &len);
        if (t->type[id] == TOK_BYTE) continue;
        bool has_nl = false, has_other = false;
        uint32_t prev = 0;
        bool have_prev = false;
        for (uint32_t i = 0; i < len;) {
            uint32_t cp;
            size_t k = utf8_decode(s + i, len - i, &cp);
            if (k == 0) k = 1;
            if (cp == '\n') has_nl = true; else has_other = true;
            if (cp == 0x2581 && have_prev && prev != 0x2581) {
                bool seen = false;
                for (uint32_t j = 0; j < n; j++) seen |= glue[j] == prev;
                if (!seen) {
                    if (n == cap) {
                        uint32_t *g = realloc(glue, (size_t)cap * 2 * sizeof *glue);
                        if (!g) { free(glue); return g4_fail(err, G4_ERR_NOMEM, "out of memory"); }
                        glue = g;
                        cap *= 2;
                    }
                    glue[n++] = prev;
                }
            }
            prev = cp;
            have_prev = true;
            i += (uint32_t)k;
        }
        mixed_newline |= has_nl && has_other;
    }
    qsort(glue, n, sizeof *glue, cmp_u32);
    t->glue_before_space = glue;
    t->n_glue = (int32_t)n;
    t->split_newlines = !mixed_newline;
    return G4_OK;
}

/* Parses "<0xHH>" (either hex case, as Hugging Face's ByteFallback decoder accepts). */
int tok_byte_piece(const char *s, uint32_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
              : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

typedef struct strcur {
    const tok_strlist *l;
    const uint8_t *p;
    int64_t i;
} strcur;

static strcur strcur_start(const tok_strlist *l) { return (strcur){l, l->gguf, 0}; }

/* The next string of the list; false for one longer than 1 GB (a corrupt file). */
static bool strcur_next(strcur *c, const char **s, uint32_t *n) {
    if (c->l->ptrs) {
        *s = c->l->ptrs[c->i];
        *n = c->l->lens[c->i];
        c->i++;
        return true;
    }
    uint64_t len = 0;
    for (int k = 7; k >= 0; k--) len = len << 8 | c->p[k];
    if (len > (1u << 30)) return false;
    *s = (const char *)c->p + 8;
    *n = (uint32_t)len;
    c->p += 8 + len;
    c->i++;
    return true;
}

g4_status tok_build_vocab(g4_tokenizer *t, const tok_build *b, g4_error *err) {
    g4_status st;
    if (b->n_vocab <= 0 || b->n_vocab > (1 << 24))
        return g4_fail(err, G4_ERR_FORMAT, "vocabulary size %d is out of range", b->n_vocab);
    t->n_vocab = b->n_vocab;
    uint64_t total = 0;
    strcur cur = strcur_start(&b->pieces);
    for (int32_t i = 0; i < b->n_vocab; i++) {
        const char *ps;
        uint32_t n;
        if (!strcur_next(&cur, &ps, &n)) return g4_fail(err, G4_ERR_FORMAT, "token %d is too long", i);
        total += (uint64_t)n + 1;
    }
    if (total > G4_MAX_METADATA_BYTES || total > UINT32_MAX)
        return g4_fail(err, G4_ERR_FORMAT, "vocabulary strings are too large (%llu bytes)",
                       (unsigned long long)total);
    t->strings = g4_malloc((size_t)total);
    t->span = g4_malloc((size_t)b->n_vocab * sizeof *t->span);
    t->type = g4_malloc((size_t)b->n_vocab);
    t->byte_of = g4_malloc((size_t)b->n_vocab * sizeof(int16_t));
    if (!t->strings || !t->span || !t->type || !t->byte_of)
        return g4_fail(err, G4_ERR_NOMEM, "out of memory for %d tokens", b->n_vocab);
    uint32_t off = 0;
    cur = strcur_start(&b->pieces);
    for (int32_t i = 0; i < b->n_vocab; i++) {
        const char *ps;
        uint32_t n;
        strcur_next(&cur, &ps, &n);
        if (n) memcpy(t->strings + off, ps, n);
        t->strings[off + n] = 0;
        t->span[i] = (tok_span){off, n};
        uint8_t ty = b->types ? b->types[i] : TOK_NORMAL;
        if (ty < TOK_NORMAL || ty > TOK_BYTE) ty = TOK_NORMAL; /* 0 or unknown: plain */
        int bv = tok_byte_piece(ps, n);
        if (!b->types && bv >= 0) ty = TOK_BYTE;
        t->type[i] = ty;
        t->byte_of[i] = (int16_t)bv;
        off += n + 1;
    }
    if ((st = build_piece_map(t, err)) != G4_OK) return st;

    for (int i = 0; i < 256; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", i);
        t->byte_id[i] = tok_find(t, name, 6);
    }
    for (int i = 0; i < 128; i++) {
        char c = (char)i;
        t->ascii_id[i] = tok_find(t, &c, 1);
    }
    t->space_id = tok_find(t, UTF8_SPACE_MARK, 3);
    t->byte_fallback = b->byte_fallback;

    /* merges */
    uint32_t cap = pow2_at_least((uint64_t)b->n_merges * 2 + 1);
    uint32_t hot_cap = pow2_at_least((uint64_t)G4_MIN(b->n_merges, TOK_HOT_RANKS) * 2 + 1);
    uint32_t filter_bits = pow2_at_least((uint64_t)b->n_merges * 16 + 64); /* ~6% false "maybe" */
    t->merges.slot = table_alloc((size_t)cap * sizeof *t->merges.slot);
    t->merges.hot = table_alloc((size_t)hot_cap * sizeof *t->merges.hot);
    t->merges.filter = table_alloc(filter_bits / 8);
    t->merges.hot_mask = hot_cap - 1;
    t->merges.filter_mask = filter_bits - 1;
    if (!t->merges.slot || !t->merges.hot || !t->merges.filter)
        return g4_fail(err, G4_ERR_NOMEM, "out of memory for %lld merges", (long long)b->n_merges);
    t->merges.mask = cap - 1;
    t->n_merges = b->n_merges;
    bool repeated = false;
    /* joined strings of one batch, back to back */
    char *joined = NULL;
    size_t joined_cap = 0;
    cur = strcur_start(&b->merges);
    for (int64_t r0 = 0; r0 < b->n_merges; r0 += MERGE_BATCH) {
        int64_t nb = G4_MIN((int64_t)MERGE_BATCH, b->n_merges - r0);
        lookup lk[3 * MERGE_BATCH];
        size_t jo = 0;
        for (int64_t k = 0; k < nb; k++) {
            int64_t r = r0 + k;
            const char *l, *rt;
            uint32_t ln, rn;
            bool ok;
            if (b->merge_pairs) {
                ok = strcur_next(&cur, &l, &ln) && strcur_next(&cur, &rt, &rn);
            } else {
                const char *ms;
                uint32_t n;
                ok = strcur_next(&cur, &ms, &n);
                const char *sp = ok ? memchr(ms, ' ', n) : NULL;
                if (ok && !sp) {
                    st = g4_fail(err, G4_ERR_FORMAT, "merge %lld has no space separator", (long long)r);
                    goto out;
                }
                if (ok) {
                    l = ms; ln = (uint32_t)(sp - ms);
                    rt = sp + 1; rn = n - ln - 1;
                }
            }
            if (!ok) { st = g4_fail(err, G4_ERR_FORMAT, "merge %lld is too long", (long long)r); goto out; }
            if (jo + ln + rn > joined_cap) {
                /* joined strings of this batch stay where they are: grow by copying */
                size_t cap2 = G4_MAX(joined_cap * 2, jo + ln + rn + 4096);
                char *p = malloc(cap2);
                if (!p) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto out; }
                if (jo) memcpy(p, joined, jo);
                for (int64_t q = 0; q < 3 * k; q += 3) lk[q + 2].s = p + (lk[q + 2].s - joined);
                free(joined);
                joined = p;
                joined_cap = cap2;
            }
            memcpy(joined + jo, l, ln);
            memcpy(joined + jo + ln, rt, rn);
            lookup_start(t, &lk[3 * k], l, ln);
            lookup_start(t, &lk[3 * k + 1], rt, rn);
            lookup_start(t, &lk[3 * k + 2], joined + jo, ln + rn);
            jo += (size_t)ln + rn;
        }
        for (int64_t k = 0; k < 3 * nb; k++) lookup_probe(t, &lk[k]);
        for (int64_t k = 0; k < 3 * nb; k++)
            if (lk[k].cand >= 0) __builtin_prefetch(t->strings + t->span[lk[k].cand].off);
        uint64_t keys[MERGE_BATCH];
        int32_t outs[MERGE_BATCH];
        for (int64_t k = 0; k < nb; k++) {
            int32_t a = lookup_finish(t, &lk[3 * k]), c = lookup_finish(t, &lk[3 * k + 1]);
            int32_t j = lookup_finish(t, &lk[3 * k + 2]);
            if (a < 0 || c < 0 || j < 0) {
                /* Hugging Face refuses such a vocabulary too (MergeTokenOutOfVocabulary) */
                st = g4_fail(err, G4_ERR_FORMAT, "merge %lld joins pieces that are not in the vocabulary",
                             (long long)(r0 + k));
                goto out;
            }
            keys[k] = tok_pair_key(a, c);
            outs[k] = j;
            uint32_t bit = tok_merge_bit(keys[k], t->merges.filter_mask);
            __builtin_prefetch(&t->merges.slot[tok_merge_slot(keys[k], t->merges.mask)], 1);
            __builtin_prefetch(&t->merges.filter[bit >> 6], 1);
        }
        for (int64_t k = 0; k < nb; k++) {
            uint32_t rank = (uint32_t)(r0 + k), bit = tok_merge_bit(keys[k], t->merges.filter_mask);
            repeated |= merge_put(t->merges.slot, t->merges.mask, keys[k], rank, outs[k]);
            t->merges.filter[bit >> 6] |= 1ull << (bit & 63);
            /* merges come in rank order, so the hot ones are the first */
            if (rank < TOK_HOT_RANKS) merge_put(t->merges.hot, t->merges.hot_mask, keys[k], rank, outs[k]);
        }
    }

    if (repeated) {
        /* a pair listed twice keeps its later rank, which may not be a hot one: rebuild
         * the hot table from the final ranks */
        memset(t->merges.hot, 0, ((size_t)t->merges.hot_mask + 1) * sizeof *t->merges.hot);
        for (uint32_t i = 0; i <= t->merges.mask; i++) {
            const tok_merge *e = &t->merges.slot[i];
            if (e->key && e->rank < TOK_HOT_RANKS) merge_put(t->merges.hot, t->merges.hot_mask, e->key, e->rank, e->out);
        }
    }

    /* added tokens: control, unknown and user-defined pieces are matched as a whole */
    int32_t n_added = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if ((t->type[i] == TOK_CONTROL || t->type[i] == TOK_USER_DEFINED || t->type[i] == TOK_UNKNOWN) &&
            t->span[i].len > 0)
            n_added++;
    t->added = g4_calloc((size_t)n_added, sizeof *t->added);
    if (!t->added) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto out; }
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->type[i];
        if ((ty == TOK_CONTROL || ty == TOK_USER_DEFINED || ty == TOK_UNKNOWN) && t->span[i].len > 0) {
            tok_added *a = &t->added[t->n_added++];
            a->id = i;
            a->text = tok_piece(t, i, &a->len);
            a->always = ty == TOK_USER_DEFINED;
            unsigned c0 = (unsigned char)a->text[0];
            t->added_first[c0 >> 5] |= 1u << (c0 & 31);
        }
    }
    qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);
    st = scan_word_boundaries(t, err);
out:
    free(joined);
    return st;
}

void tok_destroy(g4_tokenizer *t) {
    if (!t) return;
    free(t->strings);
    free(t->span);
    free(t->type);
    free(t->byte_of);
    free(t->pieces.slot);
    free(t->merges.slot);
    free(t->merges.hot);
    free(t->merges.filter);
    free(t->added);
    free(t->glue_before_space);
    free(t->chat_template);
    free(t->source);
    memset(t, 0, sizeof *t);
}

