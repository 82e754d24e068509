/* pyjson.h - JSON values as the official chat template sees them.
 *
 * The Gemma 4 chat template runs in jinja2 over the Python objects that json.loads makes
 * of an OpenAI-style request. To render byte for byte what it renders, chat.c needs the
 * same value semantics: Python truthiness, str() of numbers (5 vs 5.0 vs 1e-05), of
 * True/None and of containers (repr), str.strip()'s idea of whitespace, jinja's
 * dictsort order (case-insensitive, stable), subscripts that yield "undefined" instead
 * of failing, and iteration over strings by character. This file provides them over
 * cJSON trees; a NULL cJSON pointer plays jinja's Undefined.
 *
 * Numbers keep their source text: json.loads("5") is the int 5 and prints "5", "5.0"
 * is a float and prints "5.0", and a 30-digit integer prints exactly, none of which a
 * double alone can tell. pyjson_parse records each number's lexeme in the node's
 * (otherwise unused) valuestring, which cJSON_Delete frees. */
#ifndef G4_PYJSON_H
#define G4_PYJSON_H

#include "../base.h"

#include <cjson/cJSON.h>

/* A growable byte buffer that records allocation failure instead of reporting it at
 * every call (check `failed` once at the end). */
typedef struct pybuf {
    char *s;
    size_t n, cap;
    bool failed;
} pybuf;

void pybuf_put(pybuf *b, const char *s, size_t n);
void pybuf_puts(pybuf *b, const char *s);
void pybuf_putc(pybuf *b, char c);

/* Parses JSON text (len bytes, need not be NUL-terminated), keeping number lexemes.
 * NULL with a message in err when the text is not JSON. */
cJSON *pyjson_parse(const char *text, size_t len, g4_error *err);

/* obj[key] for a JSON object (the last of duplicated keys, as json.loads keeps); NULL
 * (undefined) when obj is not an object or lacks the key. */
const cJSON *pyjson_get(const cJSON *obj, const char *key);

/* Python truthiness; undefined is false. */
bool pyjson_truthy(const cJSON *v);

/* Appends str(v) as Python prints it; undefined appends nothing. */
void pyjson_str(pybuf *b, const cJSON *v);

/* str(v).strip(): Python's str.strip() with its Unicode whitespace set. */
void pyjson_str_trimmed(pybuf *b, const cJSON *v);

/* Trims Python whitespace off both ends of s[0..n): returns the start, sets *out_n. */
const char *py_strip(const char *s, size_t n, size_t *out_n);

/* str(v).upper() (ASCII letters; type names are ASCII). */
void pyjson_upper(pybuf *b, const cJSON *v);

/* The members of an object in jinja's dictsort order: keys compared case-insensitively
 * (ASCII), equal keys in document order, one entry per distinct key with its last value.
 * *out gets an array of n pointers to the nodes holding the values (allocates, caller
 * frees). Returns false on allocation failure. */
bool pyjson_dictsort(const cJSON *obj, const cJSON ***out, size_t *n);

/* The items `for x in v` visits: an array's elements, an object's keys, a string's
 * characters. Strings and keys are returned as new string nodes in *tmp (caller
 * cJSON_Deletes it). false when v cannot be iterated (number, bool, null): the
 * template would fail there. Undefined iterates as empty. */
bool pyjson_iter(const cJSON *v, const cJSON ***out, size_t *n, cJSON **tmp);

#endif
