/* chat.h - the Gemma 4 chat format inside the library: rendering a conversation into a
 * prompt (chat.c) and taking a model reply apart (chat_parse.c).
 *
 * The public entry points (g4_chat_render, g4_chat_parse) are declared in g4.h; this
 * header adds the form the server will use, over already-parsed cJSON trees. */
#ifndef G4_CHAT_H
#define G4_CHAT_H

#include "../base.h"

#include <cjson/cJSON.h>

/* Which revision of the official template to follow. Only one is implemented: the one
 * the vocabulary GGUF carries (test-assets.md §1); its generation prompt pre-fills an
 * empty thought channel when thinking is off. */
typedef struct chat_style {
    const char *bos;           /* "<bos>" */
    bool empty_thought_prefill;
} chat_style;

/* The style for a tokenizer's template (t may be NULL: the GGUF template's style). */
chat_style chat_style_for(const g4_tokenizer *t);

/* Renders messages (a JSON array) and tools (NULL or a JSON array) into *out
 * (allocates, caller frees). Numbers print as Python would print what json.loads made
 * of them; see pyjson.h. */
g4_status chat_render_json(const chat_style *style, const cJSON *messages, const cJSON *tools,
                           const g4_chat_params *params, char **out, g4_error *err);

/* The same, also returning which bytes of *out came from the request rather than from
 * the template: *n_ranges pairs [start, end) in *ranges (allocates, caller frees). */
g4_status chat_render_spans(const chat_style *style, const cJSON *messages, const cJSON *tools,
                            const g4_chat_params *params, char **out, size_t *out_len, size_t **ranges,
                            size_t *n_ranges, g4_error *err);

#endif
