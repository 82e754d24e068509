/* pyjson.c - Python/jinja2 value semantics over cJSON trees (see pyjson.h). */
#include "pyjson.h"

#include "utf8.h"

#include <math.h>
#include <string.h>

/* ---- buffer ---------------------------------------------------------------------- */

void pybuf_put(pybuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = G4_MAX(b->cap * 2, b->n + n + 256);
        char *p = realloc(b->s, cap);
        if (!p) { b->failed = true; return; }
        b->s = p;
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
void pybuf_puts(pybuf *b, const char *s) { pybuf_put(b, s, strlen(s)); }
void pybuf_putc(pybuf *b, char c) { pybuf_put(b, &c, 1); }

/* ---- parsing with number lexemes ---------------------------------------------------- */

/* The characters cJSON's number parser gathers before handing them to strtod. */
static bool numchar(char c) { return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.'; }

/* Walks the tree in document order, giving the k-th number node the k-th lexeme. */
static bool attach_lexemes(cJSON *v, const char *text, size_t len, size_t *pos) {
    for (; v; v = v->next) {
        if (cJSON_IsNumber(v)) {
            /* find the next number lexeme in the text: skip strings and punctuation */
            size_t i = *pos;
            while (i < len) {
                char c = text[i];
                if (c == '"') {
                    for (i++; i < len && text[i] != '"'; i++)
                        if (text[i] == '\\') i++;
                    i++;
                    continue;
                }
                if (c == '-' || (c >= '0' && c <= '9')) break;
                i++;
            }
            if (i >= len) return false;
            char tmp[80];
            size_t k = 0;
            while (i + k < len && k < sizeof tmp - 1 && numchar(text[i + k])) { tmp[k] = text[i + k]; k++; }
            tmp[k] = 0;
            char *end;
            strtod(tmp, &end); /* cJSON consumes exactly what strtod accepts */
            size_t used = (size_t)(end - tmp);
            if (used == 0) return false;
            char *lex = malloc(used + 1);
            if (!lex) return false;
            memcpy(lex, tmp, used);
            lex[used] = 0;
            v->valuestring = lex;
            *pos = i + used;
        }
        if (v->child && !attach_lexemes(v->child, text, len, pos)) return false;
    }
    return true;
}

cJSON *pyjson_parse(const char *text, size_t len, g4_error *err) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!j) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        g4_fail(err, G4_ERR_ARG, "invalid JSON near byte %zu", at);
        return NULL;
    }
    size_t pos = 0;
    /* only running out of memory stops this; numbers left without a lexeme print from
     * their double (put_number), which is right for every integer below 2^53 */
    (void)attach_lexemes(j, text, len, &pos);
    return j;
}

/* ---- lookups and truthiness ---------------------------------------------------------- */

const cJSON *pyjson_get(const cJSON *obj, const char *key) {
    if (!cJSON_IsObject(obj)) return NULL;
    const cJSON *found = NULL, *c;
    cJSON_ArrayForEach(c, obj)
        if (c->string && strcmp(c->string, key) == 0) found = c;
    return found;
}

bool pyjson_truthy(const cJSON *v) {
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return false;
    if (cJSON_IsTrue(v)) return true;
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    if (cJSON_IsString(v)) return v->valuestring && v->valuestring[0];
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) return v->child != NULL;
    return false;
}

/* ---- str() and repr() ---------------------------------------------------------------- */

static bool lexeme_is_int(const char *s) {
    for (; *s; s++)
        if (*s == '.' || *s == 'e' || *s == 'E') return false;
    return true;
}

/* Python's repr(float): the shortest digits that read back to x, in fixed notation when
 * the decimal exponent is in (-4, 16], else d.ddde+XX. */
static void put_float(pybuf *b, double x) {
    if (isnan(x)) { pybuf_puts(b, "nan"); return; }
    if (isinf(x)) { pybuf_puts(b, x < 0 ? "-inf" : "inf"); return; }
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e is [-]d[.ddd]e[+-]XX */
    const char *s = e;
    bool neg = *s == '-';
    if (neg) s++;
    char digits[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = exp10 + 1;
    if (neg) pybuf_putc(b, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            pybuf_puts(b, "0.");
            for (int i = 0; i < -decpt; i++) pybuf_putc(b, '0');
            pybuf_put(b, digits, (size_t)nd);
        } else if (decpt >= nd) {
            pybuf_put(b, digits, (size_t)nd);
            for (int i = nd; i < decpt; i++) pybuf_putc(b, '0');
            pybuf_puts(b, ".0");
        } else {
            pybuf_put(b, digits, (size_t)decpt);
            pybuf_putc(b, '.');
            pybuf_put(b, digits + decpt, (size_t)(nd - decpt));
        }
    } else {
        pybuf_putc(b, digits[0]);
        if (nd > 1) {
            pybuf_putc(b, '.');
            pybuf_put(b, digits + 1, (size_t)(nd - 1));
        }
        char t[16];
        int ex = decpt - 1;
        snprintf(t, sizeof t, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
        pybuf_puts(b, t);
    }
}

static void put_number(pybuf *b, const cJSON *v) {
    const char *lex = v->valuestring;
    if (lex && lexeme_is_int(lex)) {
        /* Python int: exact digits, no leading zeros, no "-0" */
        bool neg = lex[0] == '-';
        const char *d = lex + (neg || lex[0] == '+');
        while (d[0] == '0' && d[1]) d++;
        if (neg && strcmp(d, "0") != 0) pybuf_putc(b, '-');
        pybuf_puts(b, d);
        return;
    }
    if (lex) { put_float(b, strtod(lex, NULL)); return; }
    /* built without a lexeme: integral doubles print as ints (json.dumps'd ints) */
    double x = v->valuedouble;
    if (x == floor(x) && fabs(x) < 9007199254740992.0) {
        char t[32];
        snprintf(t, sizeof t, "%.0f", x == 0 ? 0.0 : x);
        pybuf_puts(b, t);
    } else {
        put_float(b, x);
    }
}

/* Python's str.isprintable() for a code point, closely enough for repr(): control,
 * format, separator (other than ' '), surrogate and private-use characters are not. */
static bool py_printable(uint32_t c) {
    if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) return false;
    if (c >= 0x600 && c <= 0x605) return false;
    if (c == 0x61c || c == 0x6dd || c == 0x70f || c == 0x8e2 || c == 0x180e || c == 0x1680) return false;
    if ((c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f)) return false;
    if (c == 0x3000 || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) || c == 0xfffe || c == 0xffff) return false;
    if ((c >= 0xd800 && c <= 0xf8ff) || c >= 0xf0000) return false;
    if (c == 0x110bd || (c >= 0x1d173 && c <= 0x1d17a) || (c >= 0xe0000 && c <= 0xe0fff)) return false;
    return true;
}

static void put_repr_string(pybuf *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    pybuf_putc(b, q);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (k == 0) { pybuf_putc(b, s[i]); i++; continue; } /* not text Python could hold */
        char t[16];
        if (cp == (uint32_t)q || cp == '\\') { pybuf_putc(b, '\\'); pybuf_putc(b, (char)cp); }
        else if (cp == '\t') pybuf_puts(b, "\\t");
        else if (cp == '\n') pybuf_puts(b, "\\n");
        else if (cp == '\r') pybuf_puts(b, "\\r");
        else if (cp < 0x80 && cp >= 0x20 && cp != 0x7f) pybuf_putc(b, (char)cp);
        else if (!py_printable(cp)) {
            if (cp < 0x100) snprintf(t, sizeof t, "\\x%02x", cp);
            else if (cp < 0x10000) snprintf(t, sizeof t, "\\u%04x", cp);
            else snprintf(t, sizeof t, "\\U%08x", cp);
            pybuf_puts(b, t);
        } else pybuf_put(b, s + i, k);
        i += k;
    }
    pybuf_putc(b, q);
}

static void put_repr(pybuf *b, const cJSON *v, int depth);

/* The members of an object in insertion order, one per distinct key (the last value at
 * the first key's place, as a Python dict built by json.loads). */
static bool distinct_members(const cJSON *obj, const cJSON ***out, size_t *n) {
    size_t cnt = 0, k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, obj) cnt++;
    const cJSON **m = g4_malloc(cnt * sizeof *m);
    if (!m) return false;
    cJSON_ArrayForEach(c, obj) {
        bool dup = false;
        for (size_t i = 0; i < k && !dup; i++)
            if (strcmp(m[i]->string, c->string) == 0) { m[i] = c; dup = true; }
        if (!dup) m[k++] = c;
    }
    *out = m;
    *n = k;
    return true;
}

static void put_repr(pybuf *b, const cJSON *v, int depth) {
    if (depth > 200) { b->failed = true; return; } /* deeper than Python's repr would go */
    if (!v) return;
    if (cJSON_IsString(v)) put_repr_string(b, v->valuestring, strlen(v->valuestring));
    else if (cJSON_IsArray(v)) {
        pybuf_putc(b, '[');
        const cJSON *c;
        bool first = true;
        cJSON_ArrayForEach(c, v) {
            if (!first) pybuf_puts(b, ", ");
            first = false;
            put_repr(b, c, depth + 1);
        }
        pybuf_putc(b, ']');
    } else if (cJSON_IsObject(v)) {
        const cJSON **m;
        size_t n;
        if (!distinct_members(v, &m, &n)) { b->failed = true; return; }
        pybuf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i) pybuf_puts(b, ", ");
            put_repr_string(b, m[i]->string, strlen(m[i]->string));
            pybuf_puts(b, ": ");
            put_repr(b, m[i], depth + 1);
        }
        pybuf_putc(b, '}');
        free(m);
    } else {
        pyjson_str(b, v);
    }
}

void pyjson_str(pybuf *b, const cJSON *v) {
    if (!v) return;
    if (cJSON_IsString(v)) pybuf_puts(b, v->valuestring);
    else if (cJSON_IsNumber(v)) put_number(b, v);
    else if (cJSON_IsTrue(v)) pybuf_puts(b, "True");
    else if (cJSON_IsFalse(v)) pybuf_puts(b, "False");
    else if (cJSON_IsNull(v)) pybuf_puts(b, "None");
    else put_repr(b, v, 0);
}

/* ---- strip / upper -------------------------------------------------------------------- */

static bool py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

const char *py_strip(const char *s, size_t n, size_t *out_n) {
    size_t a = 0, z = n;
    while (a < z) {
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + a, z - a, &cp);
        if (k == 0 || !py_space(cp)) break;
        a += k;
    }
    while (z > a) {
        size_t st = z - 1;
        while (st > a && ((unsigned char)s[st] & 0xC0) == 0x80 && z - st < 4) st--;
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + st, z - st, &cp);
        if (k != z - st || !py_space(cp)) break;
        z = st;
    }
    *out_n = z - a;
    return s + a;
}

void pyjson_str_trimmed(pybuf *b, const cJSON *v) {
    if (cJSON_IsString(v)) {
        size_t n;
        const char *s = py_strip(v->valuestring, strlen(v->valuestring), &n);
        pybuf_put(b, s, n);
        return;
    }
    pybuf t = {0};
    pyjson_str(&t, v);
    if (t.failed) b->failed = true;
    else if (t.s) {
        size_t n;
        const char *s = py_strip(t.s, t.n, &n);
        pybuf_put(b, s, n);
    }
    free(t.s);
}

void pyjson_upper(pybuf *b, const cJSON *v) {
    size_t start = b->n;
    pyjson_str(b, v);
    if (b->failed) return;
    for (size_t i = start; i < b->n; i++)
        if (b->s[i] >= 'a' && b->s[i] <= 'z') b->s[i] = (char)(b->s[i] - 32);
}

/* ---- dictsort and iteration ------------------------------------------------------------- */

static int cmp_nocase(const char *a, const char *b) {
    for (;; a++, b++) {
        unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z') ca += 32;
        if (cb >= 'A' && cb <= 'Z') cb += 32;
        if (ca != cb || !ca) return (int)ca - (int)cb;
    }
}

bool pyjson_dictsort(const cJSON *obj, const cJSON ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!cJSON_IsObject(obj)) return true;
    const cJSON **m;
    size_t k;
    if (!distinct_members(obj, &m, &k)) return false;
    /* insertion sort keeps equal keys in order (Python's sort is stable); objects in
     * chat requests are small */
    for (size_t i = 1; i < k; i++) {
        const cJSON *x = m[i];
        size_t j = i;
        while (j > 0 && cmp_nocase(m[j - 1]->string, x->string) > 0) { m[j] = m[j - 1]; j--; }
        m[j] = x;
    }
    *out = m;
    *n = k;
    return true;
}

bool pyjson_iter(const cJSON *v, const cJSON ***out, size_t *n, cJSON **tmp) {
    *out = NULL;
    *n = 0;
    *tmp = NULL;
    if (!v) return true;
    if (cJSON_IsArray(v)) {
        size_t cnt = (size_t)cJSON_GetArraySize(v), k = 0;
        const cJSON **m = g4_malloc(cnt * sizeof *m);
        if (!m) return false;
        const cJSON *c;
        cJSON_ArrayForEach(c, v) m[k++] = c;
        *out = m;
        *n = k;
        return true;
    }
    if (cJSON_IsString(v) || cJSON_IsObject(v)) {
        cJSON *arr = cJSON_CreateArray();
        if (!arr) return false;
        if (cJSON_IsString(v)) {
            const char *s = v->valuestring;
            size_t len = strlen(s);
            for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
                if (k == 0) k = 1;
                char ch[8];
                memcpy(ch, s + i, k);
                ch[k] = 0;
                cJSON_AddItemToArray(arr, cJSON_CreateString(ch));
                i += k;
            }
        } else {
            const cJSON **m;
            size_t k;
            if (!distinct_members(v, &m, &k)) { cJSON_Delete(arr); return false; }
            for (size_t i = 0; i < k; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(m[i]->string));
            free(m);
        }
        *tmp = arr;
        return pyjson_iter(arr, out, n, &(cJSON *){NULL});
    }
    return false; /* numbers, booleans, null: not iterable */
}
