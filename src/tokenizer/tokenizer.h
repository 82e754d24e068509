/* tokenizer.h - the Gemma 4 vocabulary inside the library: what a g4_tokenizer holds and
 * the internal entry points the loaders, the encoder and the chat code share.
 *
 * Gemma 4 tokenizes like Hugging Face's `tokenizers` BPE model configured by the Gemma
 * converter: the normalizer turns ' ' into U+2581 '▁', there is no pre-tokenizer (the
 * whole text between added tokens is one BPE "word"), merges are applied by rank over
 * token ids starting from single UTF-8 characters, a character missing from the
 * vocabulary falls back to its bytes `<0xHH>`, and added tokens (control and
 * user-defined) are cut out of the text before BPE. gemma4.md §5 and test-assets.md §1
 * give the sources.
 *
 * A g4_tokenizer is immutable once loaded, so any number of threads may encode and
 * decode with it at the same time. */
#ifndef G4_TOKENIZER_H
#define G4_TOKENIZER_H

#include "../base.h"

/* Token types, with GGUF's values (llama.cpp's llama_token_type). */
enum {
    TOK_NORMAL = 1,
    TOK_UNKNOWN = 2,
    TOK_CONTROL = 3,      /* special: matched in text only when special parsing is on */
    TOK_USER_DEFINED = 4, /* always matched in text, always rendered by decode */
    TOK_UNUSED = 5,
    TOK_BYTE = 6,         /* <0xHH> byte-fallback token */
};

/* Open-addressing map from a byte string to a token id (the vocabulary's text index).
 * A slot holds the upper 32 bits of the string's hash and id + 1 (0 = empty), so most
 * probes are decided without touching the string. */
typedef struct tok_strmap {
    uint64_t *slot; /* capacity is a power of two */
    uint32_t mask;
} tok_strmap;

/* Where a piece's bytes are in g4_tokenizer.strings. */
typedef struct tok_span {
    uint32_t off, len; /* a piece may hold a NUL byte, so the length is kept */
} tok_span;

/* Open-addressing map from an adjacent pair of ids to the merge that joins them. */
typedef struct tok_merge {
    uint64_t key;  /* (left << 32 | right) + 1; 0 = empty */
    uint32_t rank; /* position in the merge list: lower merges first */
    int32_t out;   /* id of the joined token */
} tok_merge;
typedef struct tok_mergemap {
    tok_merge *slot;   /* every merge */
    uint32_t mask;
    /* Most lookups are for frequent merges or for pairs that do not merge at all, yet the full
     * table (16 MB for Gemma 4) misses the cache on almost every probe. So the merges of
     * low rank also live in a small table that stays in cache, and a bit set over a
     * second hash of every merge's pair answers "no merge" without the big table. */
    tok_merge *hot;    /* merges of rank < TOK_HOT_RANKS */
    uint32_t hot_mask;
    uint64_t *filter;  /* bit (h2 & filter_mask) set for every merge */
    uint32_t filter_mask;
} tok_mergemap;

#define TOK_HOT_RANKS 32768

static inline uint64_t tok_pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
}
static inline uint32_t tok_merge_slot(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}
static inline uint32_t tok_merge_bit(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0xD6E8FEB86659FD93ull) >> 35) & mask;
}

/* The merge that joins ids a and b: its rank and the joined id. */
static inline bool tok_merge_get(const tok_mergemap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *out) {
    uint64_t key = tok_pair_key(a, b);
    for (uint32_t i = tok_merge_slot(key, m->hot_mask);; i = (i + 1) & m->hot_mask) {
        const tok_merge *e = &m->hot[i];
        if (e->key == key) { *rank = e->rank; *out = e->out; return true; }
        if (e->key == 0) break;
    }
    uint32_t bit = tok_merge_bit(key, m->filter_mask);
    if (!(m->filter[bit >> 6] >> (bit & 63) & 1)) return false;
    for (uint32_t i = tok_merge_slot(key, m->mask);; i = (i + 1) & m->mask) {
        const tok_merge *e = &m->slot[i];
        if (e->key == key) { *rank = e->rank; *out = e->out; return true; }
        if (e->key == 0) return false;
    }
}

/* An added token (control or user-defined) that is cut out of text before BPE. */
typedef struct tok_added {
    int32_t id;
    uint32_t len;
    const char *text;
    bool always; /* user-defined: matched even without special parsing */
} tok_added;

struct g4_tokenizer {
    int32_t n_vocab;
    char *strings;          /* every piece, NUL-terminated, back to back */
    tok_span *span;         /* n_vocab: each piece's place in strings */
    uint8_t *type;          /* n_vocab TOK_* values */
    int16_t *byte_of;       /* n_vocab: the byte a TOK_BYTE token stands for, else -1 */
    int32_t byte_id[256];   /* id of <0xHH>, or -1 */
    int32_t ascii_id[128];  /* id of each one-byte piece, or -1 (a fast path of `pieces`) */
    int32_t space_id;       /* id of "▁" alone, or -1 */

    tok_strmap pieces;
    tok_mergemap merges;
    int64_t n_merges;

    tok_added *added;       /* sorted by first byte, then longest first */
    int32_t n_added;
    uint32_t added_first[8];/* bitmap of the first bytes of added tokens (any kind) */

    /* Where the text may be cut into independent BPE words without changing the result
     * (see bpe.c): before a '▁' whose previous character is not '▁' unless that
     * character is listed here, and between newline and non-newline characters when no
     * piece mixes the two. */
    uint32_t *glue_before_space; /* sorted code points c such that some piece holds c▁ */
    int32_t n_glue;
    bool split_newlines;

    bool byte_fallback;
    bool add_bos;
    int32_t bos, eos, unk, pad, mask;
    int32_t eot;            /* <turn|>, -1 if absent */
    g4_special_tokens special; /* the public view of the ids above and the chat tokens */
    char *chat_template;    /* as carried by the file, or NULL */
    char *source;           /* "gguf" or "hf", for messages */
};

/* ---- building (vocab.c) and loading (vocab_load.c) ----------------------------- */

/* A list of strings handed to tok_build_vocab: arrays of pointers and lengths, or a
 * GGUF string array read in place (u64 little-endian length + bytes, repeated; the GGUF
 * parser has checked that it lies inside the file). Walking the GGUF array directly
 * avoids building a pointer array for 777k strings, which matters for load time. */
typedef struct tok_strlist {
    const char *const *ptrs; /* arrays, or NULL */
    const uint32_t *lens;
    const uint8_t *gguf;     /* GGUF array data when ptrs is NULL */
} tok_strlist;

/* Fills a zeroed tokenizer: n_vocab pieces with their types (NULL: all normal, <0xHH>
 * pieces as byte tokens), and the merges in rank order, as "LEFT RIGHT" strings or, with
 * merge_pairs, as 2*n_merges halves. Builds every index. */
typedef struct tok_build {
    int32_t n_vocab;
    tok_strlist pieces;
    const uint8_t *types;
    int64_t n_merges;
    tok_strlist merges;
    bool merge_pairs;
    bool byte_fallback;
} tok_build;
g4_status tok_build_vocab(g4_tokenizer *t, const tok_build *b, g4_error *err);

/* Loaders: fill a zeroed tokenizer. On failure it is left for tok_destroy. */
g4_status tok_load_gguf(g4_tokenizer *t, const char *path, g4_error *err);
g4_status tok_load_hf(g4_tokenizer *t, const char *dir, g4_error *err);
/* The same from the files' text (config_json and template_text may be NULL). */
g4_status tok_parse_hf(g4_tokenizer *t, const char *json, const char *config_json, const char *template_text,
                       g4_error *err);
void tok_destroy(g4_tokenizer *t);

/* The byte a "<0xHH>" piece stands for (either hex case, as Hugging Face's ByteFallback
 * decoder accepts), or -1. */
int tok_byte_piece(const char *s, uint32_t n);

/* Looks up a piece by its exact bytes; -1 if absent. */
int32_t tok_find(const g4_tokenizer *t, const char *s, size_t n);

static inline const char *tok_piece(const g4_tokenizer *t, int32_t id, uint32_t *len) {
    *len = t->span[id].len;
    return t->strings + t->span[id].off;
}

/* ---- encoding (bpe.c) -------------------------------------------------------- */

/* A growable id array. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
bool tok_ids_push(tok_ids *a, int32_t id);

/* Appends the ids of text[0..len) to out. special: control tokens written in the text
 * become their ids (otherwise they are plain text); user-defined tokens are always
 * matched, as in the reference. data_ranges (n pairs [start, end), sorted; may be NULL)
 * are parts of the text that came from a user: a control token overlapping one stays
 * text even with special parsing (g4_chat_tokenize). */
g4_status tok_encode(const g4_tokenizer *t, const char *text, size_t len, bool special,
                     const size_t *data_ranges, size_t n_data_ranges, tok_ids *out, g4_error *err);

#endif
