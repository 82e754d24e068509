/* bpe.c - text to token ids, exactly as Hugging Face's `tokenizers` does for Gemma 4.
 *
 * The reference pipeline (tokenizers' AddedVocabulary + BPE model, Gemma converter):
 *   1. cut added tokens out of the raw text: leftmost-longest matches over every added
 *      token; a control ("special") match is kept as text unless special parsing is on,
 *      a user-defined match always becomes its id;
 *   2. in each remaining segment replace ' ' by '▁' (the normalizer; nothing else);
 *   3. BPE over the whole segment (no pre-tokenizer): start from one symbol per UTF-8
 *      character (a character missing from the vocabulary becomes its <0xHH> byte
 *      tokens), then repeatedly join the adjacent pair with the lowest merge rank,
 *      leftmost first among equal ranks.
 *
 * Doing step 3 literally on a whole segment is correct but slow, so the segment is cut
 * into words at places no merge can ever cross; the result is the same because merges
 * on either side of such a place never interact. A merge can only produce a piece of
 * the vocabulary, so a place between characters x|y is safe when no piece contains xy.
 * vocab.c proves two such rules for the loaded vocabulary (tokenizer.h): before a '▁'
 * that follows a non-'▁' character outside a short list, and at newline/non-newline
 * transitions. Words repeat in real text, so each call keeps a cache from word bytes to
 * ids; that cache is what makes English prose encode at tens of MB/s.
 *
 * BPE on one word takes a short path for a few symbols (scan for the best pair; O(n^2)
 * with a tiny constant) and a binary heap over a linked list for long words (O(n log n),
 * so a megabyte of one repeated character is fine). Both give identical results. */
#include "tokenizer.h"

#include "utf8.h"

#include <string.h>

bool tok_ids_push(tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return false;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return true;
}

/* ---- per-call scratch ------------------------------------------------------------ */

/* Bound on cached words per call (the cache then stays below 64 MB for any input). */
#define CACHE_MAX_ENTRIES (1u << 19)
/* Words with at most this many symbols take the quadratic path. */
#define BPE_SMALL 48

/* One cached word in one cache line: the word's bytes and its ids are stored inline, so
 * a hit costs a single cache miss. Words that do not fit (longer than 26 bytes or more
 * than 8 tokens: rare in text, and rarely repeated) are not cached. */
#define CACHE_KEY_MAX 26
#define CACHE_IDS_MAX 8
typedef struct cache_entry {
    uint32_t hash; /* 0 = empty */
    uint8_t key_len, n_ids;
    char key[CACHE_KEY_MAX];
    int32_t ids[CACHE_IDS_MAX];
} cache_entry;
_Static_assert(sizeof(cache_entry) == 64, "a cache entry is one cache line");

typedef struct enc_ctx {
    const g4_tokenizer *t;
    tok_ids *out;
    g4_error *err;
    /* normalized segment */
    char *norm;
    size_t norm_cap;
    /* symbols of the word being merged */
    int32_t *id, *prev, *next;
    uint32_t *rank;
    int32_t *join;
    size_t sym_cap;
    uint64_t *heap;
    size_t heap_n, heap_cap;
    /* word cache */
    cache_entry *ce;
    uint32_t ce_mask, ce_n;
} enc_ctx;

static void ctx_free(enc_ctx *c) {
    free(c->norm);
    free(c->id);
    free(c->prev);
    free(c->next);
    free(c->rank);
    free(c->join);
    free(c->heap);
    free(c->ce);
}

static bool grow_syms(enc_ctx *c, size_t n) {
    if (n <= c->sym_cap) return true;
    size_t cap = G4_MAX(n, c->sym_cap * 2);
    int32_t *a = realloc(c->id, cap * sizeof *a);
    if (a) c->id = a;
    int32_t *b = realloc(c->prev, cap * sizeof *b);
    if (b) c->prev = b;
    int32_t *d = realloc(c->next, cap * sizeof *d);
    if (d) c->next = d;
    uint32_t *r = realloc(c->rank, cap * sizeof *r);
    if (r) c->rank = r;
    int32_t *j = realloc(c->join, cap * sizeof *j);
    if (j) c->join = j;
    if (!a || !b || !d || !r || !j) return false;
    c->sym_cap = cap;
    return true;
}

/* ---- BPE on one word --------------------------------------------------------------- */

/* Appends the initial symbols of word s[0..n) to c->id; returns the count or -1. */
static int64_t initial_symbols(enc_ctx *c, const char *s, size_t n) {
    const g4_tokenizer *t = c->t;
    if (!grow_syms(c, n)) return -1; /* never more symbols than bytes */
    int64_t k = 0;
    bool last_unk = false;
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        int32_t id;
        size_t len;
        if (b < 0x80) {
            len = 1;
            id = t->ascii_id[b];
        } else {
            uint32_t cp;
            len = utf8_decode((const unsigned char *)s + i, n - i, &cp);
            if (len == 0) len = 1; /* a malformed byte stands alone and falls back below */
            id = len == 3 && cp == 0x2581 ? t->space_id : tok_find(t, s + i, len);
        }
        if (id >= 0) {
            c->id[k++] = id;
            last_unk = false;
        } else {
            bool all = t->byte_fallback;
            for (size_t j = 0; j < len && all; j++) all = t->byte_id[(unsigned char)s[i + j]] >= 0;
            if (all) {
                for (size_t j = 0; j < len; j++) c->id[k++] = t->byte_id[(unsigned char)s[i + j]];
                last_unk = false;
            } else if (!last_unk) { /* fuse_unk: a run of unknown characters is one <unk> */
                c->id[k++] = t->unk >= 0 ? t->unk : 0;
                last_unk = true;
            }
        }
        i += len;
    }
    return k;
}

static void bpe_small(enc_ctx *c, int64_t n, int64_t *n_out) {
    const tok_mergemap *m = &c->t->merges;
    int32_t *id = c->id, *join = c->join;
    uint32_t *rank = c->rank;
    for (int64_t i = 0; i + 1 < n; i++)
        if (!tok_merge_get(m, id[i], id[i + 1], &rank[i], &join[i])) rank[i] = UINT32_MAX;
    while (n > 1) {
        int64_t best = -1;
        uint32_t br = UINT32_MAX;
        for (int64_t i = 0; i + 1 < n; i++)
            if (rank[i] < br) { br = rank[i]; best = i; }
        if (best < 0) break;
        id[best] = join[best];
        int64_t tail = n - best - 2; /* symbols after best+1 */
        memmove(id + best + 1, id + best + 2, (size_t)tail * sizeof *id);
        memmove(rank + best + 1, rank + best + 2, (size_t)G4_MAX(tail - 1, 0) * sizeof *rank);
        memmove(join + best + 1, join + best + 2, (size_t)G4_MAX(tail - 1, 0) * sizeof *join);
        n--;
        if (best > 0 && !tok_merge_get(m, id[best - 1], id[best], &rank[best - 1], &join[best - 1]))
            rank[best - 1] = UINT32_MAX;
        if (best + 1 < n && !tok_merge_get(m, id[best], id[best + 1], &rank[best], &join[best]))
            rank[best] = UINT32_MAX;
    }
    *n_out = n;
}

static bool heap_push(enc_ctx *c, uint64_t key) {
    if (c->heap_n == c->heap_cap) {
        size_t cap = c->heap_cap ? c->heap_cap * 2 : 256;
        uint64_t *h = realloc(c->heap, cap * sizeof *h);
        if (!h) return false;
        c->heap = h;
        c->heap_cap = cap;
    }
    uint64_t *h = c->heap;
    size_t i = c->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= key) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = key;
    return true;
}

static uint64_t heap_pop(enc_ctx *c) {
    uint64_t *h = c->heap;
    uint64_t top = h[0], last = h[--c->heap_n];
    size_t n = c->heap_n, i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t s = l + 1 < n && h[l + 1] < h[l] ? l + 1 : l;
        if (h[s] >= last) break;
        h[i] = h[s];
        i = s;
    }
    if (n) h[i] = last;
    return top;
}

/* Heap entries order by (rank, position): lowest rank first, leftmost on ties, as the
 * reference's priority queue does. Stale entries are recognised when popped. */
static bool push_pair(enc_ctx *c, int32_t left) {
    int32_t right = c->next[left];
    uint32_t r;
    int32_t j;
    if (right < 0 || !tok_merge_get(&c->t->merges, c->id[left], c->id[right], &r, &j)) return true;
    return heap_push(c, (uint64_t)r << 32 | (uint32_t)left);
}

static bool bpe_heap(enc_ctx *c, int64_t n, int64_t *n_out) {
    int32_t *id = c->id, *prev = c->prev, *next = c->next;
    for (int64_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    c->heap_n = 0;
    for (int64_t i = 0; i + 1 < n; i++)
        if (!push_pair(c, (int32_t)i)) return false;
    while (c->heap_n) {
        uint64_t top = heap_pop(c);
        int32_t pos = (int32_t)(uint32_t)top;
        uint32_t want = (uint32_t)(top >> 32), r;
        int32_t q = next[pos], j;
        if (id[pos] < 0 || q < 0) continue;
        if (!tok_merge_get(&c->t->merges, id[pos], id[q], &r, &j) || r != want) continue; /* stale */
        id[pos] = j;
        id[q] = -1;
        next[pos] = next[q];
        if (next[q] >= 0) prev[next[q]] = pos;
        if (prev[pos] >= 0 && !push_pair(c, prev[pos])) return false;
        if (!push_pair(c, pos)) return false;
    }
    int64_t k = 0;
    for (int32_t i = 0; i >= 0 && n > 0; i = next[i]) id[k++] = id[i];
    *n_out = k;
    return true;
}

/* BPE of word s[0..n); the resulting ids are left in c->id[0..*n_out). */
static g4_status bpe_word(enc_ctx *c, const char *s, size_t n, int64_t *n_out) {
    int64_t k = initial_symbols(c, s, n);
    if (k < 0) return g4_fail(c->err, G4_ERR_NOMEM, "out of memory encoding a %zu-byte word", n);
    if (k <= BPE_SMALL) {
        bpe_small(c, k, n_out);
        return G4_OK;
    }
    if (!bpe_heap(c, k, n_out)) return g4_fail(c->err, G4_ERR_NOMEM, "out of memory encoding a %zu-byte word", n);
    return G4_OK;
}

/* ---- word cache -------------------------------------------------------------------- */

static cache_entry *cache_find(enc_ctx *c, const char *s, size_t n, uint32_t h) {
    uint32_t i = (h >> 7) & c->ce_mask;
    for (;;) {
        cache_entry *e = &c->ce[i];
        if (e->hash == 0) return e;
        if (e->hash == h && e->key_len == n && memcmp(e->key, s, n) == 0) return e;
        i = (i + 1) & c->ce_mask;
    }
}

static bool cache_grow(enc_ctx *c) {
    uint32_t cap = c->ce ? (c->ce_mask + 1) * 2 : 4096;
    void *mem = NULL;
    if (posix_memalign(&mem, 64, (size_t)cap * sizeof(cache_entry)) != 0) return false;
    cache_entry *ne = mem;
    memset(ne, 0, (size_t)cap * sizeof *ne);
    if (c->ce) {
        for (uint32_t i = 0; i <= c->ce_mask; i++) {
            const cache_entry *e = &c->ce[i];
            if (!e->hash) continue;
            uint32_t j = (e->hash >> 7) & (cap - 1);
            while (ne[j].hash) j = (j + 1) & (cap - 1);
            ne[j] = *e;
        }
        free(c->ce);
    }
    c->ce = ne;
    c->ce_mask = cap - 1;
    return true;
}

static g4_status encode_word(enc_ctx *c, const char *s, size_t n) {
    if (n == 0) return G4_OK;
    uint32_t h = 0;
    cache_entry *e = NULL;
    if (n <= CACHE_KEY_MAX && (c->ce || cache_grow(c))) {
        h = (uint32_t)tok_hash(s, n) | 1; /* never 0, which marks an empty slot */
        e = cache_find(c, s, n, h);
        if (e->hash) {
            for (uint32_t i = 0; i < e->n_ids; i++)
                if (!tok_ids_push(c->out, e->ids[i])) return g4_fail(c->err, G4_ERR_NOMEM, "out of memory");
            return G4_OK;
        }
    }
    int64_t k = 0; /* set by bpe_word; initialised for compilers that cannot see it */
    g4_status st = bpe_word(c, s, n, &k);
    if (st != G4_OK) return st;
    for (int64_t i = 0; i < k; i++)
        if (!tok_ids_push(c->out, c->id[i])) return g4_fail(c->err, G4_ERR_NOMEM, "out of memory");
    if (e && k <= CACHE_IDS_MAX && c->ce_n < CACHE_MAX_ENTRIES) {
        e->hash = h;
        e->key_len = (uint8_t)n;
        e->n_ids = (uint8_t)k;
        memcpy(e->key, s, n);
        memcpy(e->ids, c->id, (size_t)k * sizeof *e->ids);
        /* keep the load at most one half; a failed grow only means a fuller table */
        if (++c->ce_n * 2 > c->ce_mask + 1) cache_grow(c);
    }
    return G4_OK;
}

/* ---- segments ---------------------------------------------------------------------- */

static bool is_glue(const g4_tokenizer *t, uint32_t cp) {
    int32_t lo = 0, hi = t->n_glue - 1;
    while (lo <= hi) {
        int32_t mid = (lo + hi) / 2;
        uint32_t v = t->glue_before_space[mid];
        if (v == cp) return true;
        if (v < cp) lo = mid + 1; else hi = mid - 1;
    }
    return false;
}

/* The code point of the character that ends at s[end) (a malformed byte counts as one). */
static uint32_t char_before(const char *s, size_t start, size_t end) {
    size_t b = end - 1;
    for (int k = 0; k < 3 && b > start && ((unsigned char)s[b] & 0xC0) == 0x80; k++) b--;
    uint32_t cp;
    size_t len = utf8_decode((const unsigned char *)s + b, end - b, &cp);
    if (len != end - b) cp = (unsigned char)s[end - 1];
    return cp;
}

/* Normalizes text[0..len) (' ' -> '▁') and encodes it word by word. */
static g4_status encode_segment(enc_ctx *c, const char *text, size_t len) {
    if (len == 0) return G4_OK;
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t need = len + 2 * spaces;
    if (need > c->norm_cap) {
        char *b = realloc(c->norm, need);
        if (!b) return g4_fail(c->err, G4_ERR_NOMEM, "out of memory normalizing %zu bytes", len);
        c->norm = b;
        c->norm_cap = need;
    }
    char *s = c->norm;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(s + n, UTF8_SPACE_MARK, 3); n += 3; }
        else s[n++] = text[i];
    }
    const g4_tokenizer *t = c->t;
    size_t w = 0; /* start of the current word */
    for (size_t i = 1; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        bool cut = false;
        if (b == '\n' || s[i - 1] == '\n') {
            cut = t->split_newlines && (b == '\n') != (s[i - 1] == '\n');
        } else if (b == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x96 && (unsigned char)s[i + 2] == 0x81) {
            bool after_mark = i >= 3 && memcmp(s + i - 3, UTF8_SPACE_MARK, 3) == 0;
            if (!after_mark) cut = t->n_glue == 0 || !is_glue(t, char_before(s, w, i));
        }
        if (cut) {
            g4_status st = encode_word(c, s + w, i - w);
            if (st != G4_OK) return st;
            w = i;
        }
    }
    return encode_word(c, s + w, n - w);
}

/* ---- added tokens ------------------------------------------------------------------ */

/* The longest added token that starts at text[pos], or NULL. */
static const tok_added *added_at(const g4_tokenizer *t, const char *text, size_t len, size_t pos) {
    unsigned c0 = (unsigned char)text[pos];
    /* binary search for the first entry with this first byte */
    int32_t lo = 0, hi = t->n_added;
    while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        if ((unsigned char)t->added[mid].text[0] < c0) lo = mid + 1; else hi = mid;
    }
    for (int32_t i = lo; i < t->n_added && (unsigned char)t->added[i].text[0] == c0; i++) {
        const tok_added *a = &t->added[i];
        if (a->len <= len - pos && memcmp(text + pos, a->text, a->len) == 0) return a; /* longest first */
    }
    return NULL;
}

g4_status tok_encode(const g4_tokenizer *t, const char *text, size_t len, bool special,
                     const size_t *data_ranges, size_t n_data_ranges, tok_ids *out, g4_error *err) {
    enc_ctx c = {.t = t, .out = out, .err = err};
    g4_status st = G4_OK;
    size_t seg = 0, pos = 0, ri = 0;
    while (pos < len) {
        unsigned b = (unsigned char)text[pos];
        if (!(t->added_first[b >> 5] >> (b & 31) & 1)) { pos++; continue; }
        const tok_added *a = added_at(t, text, len, pos);
        if (!a) { pos++; continue; }
        bool in_data = false;
        if (special && !a->always && n_data_ranges) {
            while (ri < n_data_ranges && data_ranges[2 * ri + 1] <= pos) ri++;
            in_data = ri < n_data_ranges && data_ranges[2 * ri] < pos + a->len;
        }
        if ((!special || in_data) && !a->always) {
            /* a control token written as text stays text; like the reference's
             * non-overlapping match scan, nothing inside it is matched either */
            pos += a->len;
            continue;
        }
        if ((st = encode_segment(&c, text + seg, pos - seg)) != G4_OK) goto out;
        if (!tok_ids_push(out, a->id)) { st = g4_fail(err, G4_ERR_NOMEM, "out of memory"); goto out; }
        pos += a->len;
        seg = pos;
    }
    st = encode_segment(&c, text + seg, len - seg);
out:
    ctx_free(&c);
    return st;
}
