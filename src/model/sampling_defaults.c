/* sampling_defaults.c - the sampling settings a checkpoint recommends, and carrying them
 * from a Hugging Face directory into the GGUF files g4 writes.
 *
 * Sources: a GGUF file's general.sampling.* keys (the names llama.cpp reads: temp,
 * top_k, top_p, min_p, penalty_repeat), or an HF directory's generation_config.json
 * (temperature, top_k, top_p, min_p, repetition_penalty; do_sample false means greedy).
 * Gemma 4 ships temperature 1.0, top-k 64, top-p 0.95, which are also the built-in
 * defaults (g4_sampler_default_params) for checkpoints that say nothing. */
#include "sampling_defaults.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned from_gguf(const gguf_file *g, g4_sampler_params *sp) {
    unsigned set = 0;
    float f;
    uint32_t u;
    g4_error ignore; /* a key of the wrong type is ignored: these are hints */
    if (gguf_get_f32(g, "general.sampling.temp", &f, &ignore) && f >= 0) { sp->temperature = f; set |= SAMPLING_TEMP; }
    if (gguf_get_u32(g, "general.sampling.top_k", &u, &ignore) && u < (1u << 24)) { sp->top_k = (int32_t)u; set |= SAMPLING_TOP_K; }
    if (gguf_get_f32(g, "general.sampling.top_p", &f, &ignore) && f >= 0 && f <= 1) { sp->top_p = f; set |= SAMPLING_TOP_P; }
    if (gguf_get_f32(g, "general.sampling.min_p", &f, &ignore) && f >= 0 && f <= 1) { sp->min_p = f; set |= SAMPLING_MIN_P; }
    if (gguf_get_f32(g, "general.sampling.penalty_repeat", &f, &ignore) && f > 0) { sp->repeat_penalty = f; set |= SAMPLING_REPEAT; }
    return set;
}

static unsigned from_hf(const char *dir, g4_sampler_params *sp) {
    char path[4096];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    unsigned set = 0;
    const cJSON *v;
#define NUM(key) ((v = cJSON_GetObjectItemCaseSensitive(j, key)) && cJSON_IsNumber(v))
    if (NUM("temperature") && v->valuedouble >= 0) { sp->temperature = (float)v->valuedouble; set |= SAMPLING_TEMP; }
    if (NUM("top_k") && v->valuedouble >= 0 && v->valuedouble < (1 << 24)) { sp->top_k = (int32_t)v->valuedouble; set |= SAMPLING_TOP_K; }
    if (NUM("top_p") && v->valuedouble >= 0 && v->valuedouble <= 1) { sp->top_p = (float)v->valuedouble; set |= SAMPLING_TOP_P; }
    if (NUM("min_p") && v->valuedouble >= 0 && v->valuedouble <= 1) { sp->min_p = (float)v->valuedouble; set |= SAMPLING_MIN_P; }
    if (NUM("repetition_penalty") && v->valuedouble > 0) { sp->repeat_penalty = (float)v->valuedouble; set |= SAMPLING_REPEAT; }
#undef NUM
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "do_sample")) && cJSON_IsFalse(v)) { sp->temperature = 0; set |= SAMPLING_TEMP; }
    cJSON_Delete(j);
    return set;
}

unsigned sampling_defaults_read(const g4_model *m, g4_sampler_params *sp) {
    return m->is_gguf ? from_gguf(&m->gguf, sp) : from_hf(m->path, sp);
}

bool sampling_defaults_write(gguf_writer *w, const g4_model *m) {
    g4_sampler_params sp = g4_sampler_default_params();
    const unsigned set = sampling_defaults_read(m, &sp);
    bool ok = true;
    if (set & SAMPLING_TEMP) ok = ok && gguf_set_f32(w, "general.sampling.temp", sp.temperature);
    if (set & SAMPLING_TOP_K) ok = ok && gguf_set_u32(w, "general.sampling.top_k", (uint32_t)sp.top_k);
    if (set & SAMPLING_TOP_P) ok = ok && gguf_set_f32(w, "general.sampling.top_p", sp.top_p);
    if (set & SAMPLING_MIN_P) ok = ok && gguf_set_f32(w, "general.sampling.min_p", sp.min_p);
    if (set & SAMPLING_REPEAT) ok = ok && gguf_set_f32(w, "general.sampling.penalty_repeat", sp.repeat_penalty);
    return ok;
}

g4_sampler_params g4_model_sampler_params(const g4_model *m) {
    g4_sampler_params sp = g4_sampler_default_params();
    if (m) sampling_defaults_read(m, &sp);
    return sp;
}
