/* tokenizer.c - the public tokenizer API of g4.h: opening a vocabulary, encoding,
 * decoding and the streaming decoder.
 *
 * Decoding follows Hugging Face's Gemma decoder (Replace '▁' -> ' ', ByteFallback,
 * Fuse) with one deliberate difference: byte tokens become their raw bytes even when
 * they do not form valid UTF-8, so decode(encode(x)) == x for every byte string x. The
 * streaming decoder is the one that guarantees valid UTF-8: it holds back the bytes of
 * an unfinished character and turns malformed bytes into U+FFFD, one per byte, as the
 * reference's ByteFallback does. */
#include "tokenizer.h"

#include "utf8.h"

#include <string.h>
#include <sys/stat.h>

g4_status g4_tokenizer_open(g4_tokenizer **out, const char *path, g4_error *err) {
    *out = NULL;
    if (!path) return g4_fail(err, G4_ERR_ARG, "no tokenizer path given");
    g4_tokenizer *t = g4_calloc(1, sizeof *t);
    if (!t) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    struct stat st;
    g4_status s;
    if (stat(path, &st) != 0) {
        s = g4_fail(err, G4_ERR_IO, "%s: no such file or directory", path);
    } else if (S_ISDIR(st.st_mode)) {
        s = tok_load_hf(t, path, err);
    } else {
        s = tok_load_gguf(t, path, err);
    }
    if (s != G4_OK) {
        tok_destroy(t);
        free(t);
        return s;
    }
    t->special.add_bos = t->add_bos;
    *out = t;
    return G4_OK;
}

void g4_tokenizer_free(g4_tokenizer *t) {
    if (!t) return;
    tok_destroy(t);
    free(t);
}

int32_t g4_tokenizer_n_vocab(const g4_tokenizer *t) { return t->n_vocab; }

const g4_special_tokens *g4_tokenizer_special(const g4_tokenizer *t) { return &t->special; }

const char *g4_tokenizer_piece(const g4_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    return t->strings + t->span[id].off;
}

int32_t g4_tokenizer_find(const g4_tokenizer *t, const char *piece) {
    return piece ? tok_find(t, piece, strlen(piece)) : -1;
}

bool g4_tokenizer_is_control(const g4_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->type[id] == TOK_CONTROL || t->type[id] == TOK_UNKNOWN);
}

bool g4_tokenizer_is_end_of_turn(const g4_tokenizer *t, int32_t id) {
    /* the generation config's eos list: <eos>, <turn|>, and <|tool_response> (the model
     * hands over to the host to run a tool) */
    return id >= 0 && (id == t->eos || id == t->eot || id == t->special.tool_response_start);
}

const char *g4_tokenizer_chat_template(const g4_tokenizer *t) { return t->chat_template; }

g4_status g4_tokenize(const g4_tokenizer *t, const char *text, size_t len, uint32_t flags, int32_t **ids,
                      size_t *n_ids, g4_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!text && len) return g4_fail(err, G4_ERR_ARG, "NULL text");
    tok_ids out = {0};
    g4_status st = G4_OK;
    if ((flags & G4_TOKENIZE_ADD_BOS) && t->bos >= 0 && !tok_ids_push(&out, t->bos))
        st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
    if (st == G4_OK && len) st = tok_encode(t, text, len, (flags & G4_TOKENIZE_SPECIAL) != 0, NULL, 0, &out, err);
    if (st == G4_OK && !out.v) {
        out.v = g4_malloc(sizeof(int32_t)); /* an empty result is still a valid allocation */
        if (!out.v) st = g4_fail(err, G4_ERR_NOMEM, "out of memory");
    }
    if (st != G4_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n_ids = out.n;
    return G4_OK;
}

/* ---- decoding -------------------------------------------------------------------- */

typedef struct strbuf {
    char *s;
    size_t n, cap;
} strbuf;

static bool sb_put(strbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = G4_MAX(b->cap * 2, b->n + n + 64);
        char *p = realloc(b->s, cap);
        if (!p) return false;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return true;
}

/* Appends the text of one token: its bytes with each '▁' as ' '. */
static bool put_token(const g4_tokenizer *t, int32_t id, uint32_t flags, strbuf *b) {
    uint8_t ty = t->type[id];
    if ((flags & G4_DETOKENIZE_SKIP_SPECIAL) && (ty == TOK_CONTROL || ty == TOK_UNKNOWN)) return true;
    if (t->byte_of[id] >= 0) {
        char c = (char)t->byte_of[id];
        return sb_put(b, &c, 1);
    }
    uint32_t n;
    const char *s = tok_piece(t, id, &n);
    size_t run = 0;
    for (uint32_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, UTF8_SPACE_MARK, 3) == 0) {
            if (!sb_put(b, s + i - run, run) || !sb_put(b, " ", 1)) return false;
            run = 0;
            i += 3;
        } else {
            run++;
            i++;
        }
    }
    return sb_put(b, s + n - run, run);
}

g4_status g4_detokenize(const g4_tokenizer *t, const int32_t *ids, size_t n_ids, uint32_t flags, char **text,
                        size_t *len, g4_error *err) {
    *text = NULL;
    if (len) *len = 0;
    strbuf b = {0};
    if (!sb_put(&b, "", 0)) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            free(b.s);
            return g4_fail(err, G4_ERR_ARG, "token id %d at position %zu is outside the vocabulary (%d)", ids[i], i,
                           t->n_vocab);
        }
        if (!put_token(t, ids[i], flags, &b)) {
            free(b.s);
            return g4_fail(err, G4_ERR_NOMEM, "out of memory");
        }
    }
    *text = b.s;
    if (len) *len = b.n;
    return G4_OK;
}

/* ---- streaming --------------------------------------------------------------------- */

struct g4_detok {
    const g4_tokenizer *t;
    uint32_t flags;
    unsigned char pend[4]; /* bytes of a character not yet complete */
    int n_pend;
    strbuf raw;            /* the current token's bytes */
    strbuf out;            /* what the last call returns */
};

g4_status g4_detok_create(g4_detok **out, const g4_tokenizer *t, uint32_t flags, g4_error *err) {
    *out = g4_calloc(1, sizeof **out);
    if (!*out) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    (*out)->t = t;
    (*out)->flags = flags;
    return G4_OK;
}

void g4_detok_free(g4_detok *d) {
    if (!d) return;
    free(d->raw.s);
    free(d->out.s);
    free(d);
}

#define REPLACEMENT_CHAR "\xEF\xBF\xBD"

/* Moves complete characters from pend+src to d->out; keeps an unfinished tail. */
static bool stream_bytes(g4_detok *d, const unsigned char *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = src[i];
        if (d->n_pend == 0) {
            if (c < 0x80) {
                /* runs of ASCII are the common case: copy them in one go */
                size_t j = i;
                while (j < n && src[j] < 0x80) j++;
                if (!sb_put(&d->out, (const char *)src + i, j - i)) return false;
                i = j - 1;
                continue;
            }
            if (utf8_claimed_len(c) == 1) { /* a byte that cannot start a character */
                if (!sb_put(&d->out, REPLACEMENT_CHAR, 3)) return false;
                continue;
            }
            d->pend[d->n_pend++] = c;
            continue;
        }
        d->pend[d->n_pend++] = c;
        size_t want = utf8_claimed_len(d->pend[0]);
        uint32_t cp;
        /* check the prefix so far: a wrong continuation ends the character early */
        bool ok = (c & 0xC0) == 0x80;
        if (ok && d->n_pend == 2) { /* the second byte also rules out overlongs/surrogates */
            unsigned l = d->pend[0];
            ok = !(l == 0xE0 && c < 0xA0) && !(l == 0xED && c > 0x9F) && !(l == 0xF0 && c < 0x90) &&
                 !(l == 0xF4 && c > 0x8F);
        }
        if (!ok) {
            /* every held byte is malformed; the new byte starts afresh */
            for (int k = 0; k < d->n_pend - 1; k++)
                if (!sb_put(&d->out, REPLACEMENT_CHAR, 3)) return false;
            d->n_pend = 0;
            i--; /* reprocess c as a fresh byte */
            continue;
        }
        if ((size_t)d->n_pend == want) {
            if (utf8_decode(d->pend, want, &cp) == want) {
                if (!sb_put(&d->out, (const char *)d->pend, want)) return false;
            } else {
                for (size_t k = 0; k < want; k++)
                    if (!sb_put(&d->out, REPLACEMENT_CHAR, 3)) return false;
            }
            d->n_pend = 0;
        }
    }
    return true;
}

g4_status g4_detok_push(g4_detok *d, int32_t id, const char **text, size_t *len, g4_error *err) {
    d->out.n = 0;
    if (!sb_put(&d->out, "", 0)) return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    *text = d->out.s;
    *len = 0;
    if (id < 0 || id >= d->t->n_vocab)
        return g4_fail(err, G4_ERR_ARG, "token id %d is outside the vocabulary (%d)", id, d->t->n_vocab);
    d->raw.n = 0;
    if (!sb_put(&d->raw, "", 0) || !put_token(d->t, id, d->flags, &d->raw) ||
        !stream_bytes(d, (const unsigned char *)d->raw.s, d->raw.n))
        return g4_fail(err, G4_ERR_NOMEM, "out of memory");
    *text = d->out.s;
    *len = d->out.n;
    return G4_OK;
}

const char *g4_detok_flush(g4_detok *d, size_t *len) {
    d->out.n = 0;
    bool ok = sb_put(&d->out, "", 0);
    for (int k = 0; ok && k < d->n_pend; k++) ok = sb_put(&d->out, REPLACEMENT_CHAR, 3);
    d->n_pend = 0;
    if (len) *len = ok ? d->out.n : 0;
    return ok ? d->out.s : "";
}
