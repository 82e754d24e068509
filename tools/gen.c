/* gen.c - generation shared by `g4 run` and `g4 chat` (see gen.h). */
#include "gen.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double gen_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool num(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

enum { S_TEMP = 1, S_TOPK = 2, S_TOPP = 4, S_MINP = 8, S_REP = 16, S_PRES = 32, S_FREQ = 64 };

void gen_opts_init(gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->sp = g4_sampler_default_params();
    o->user = o->sp;
    o->max_tokens = 512;
    o->n_ctx = 4096;
}

int gen_opts_parse(gen_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    double d = 0;
    bool ok = true, takes = true;
    if (!strcmp(a, "--think")) { o->think = true; takes = false; }
    else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) { o->verbose = true; takes = false; }
    else if (!strcmp(a, "--kv-f32")) { o->kv_type = G4_KV_F32; takes = false; }
    else if (!strcmp(a, "--ignore-eos")) { o->ignore_eos = true; takes = false; }
    else if (!v) return 0;
    else if (!strcmp(a, "--kv")) {
        if (!g4_kv_type_parse(v, &o->kv_type)) {
            fprintf(stderr, "g4 %s: bad value '%s' for --kv (f16, f32 or q8_0)\n", cmd, v);
            return -1;
        }
    }
    else if (!strcmp(a, "--max-tokens")) ok = num(v, 1, 1 << 24, &o->max_tokens);
    else if (!strcmp(a, "--ctx")) ok = num(v, 16, 1 << 24, &o->n_ctx);
    else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) ok = num(v, 0, 1024, &o->threads);
    else if (!strcmp(a, "--temp")) { ok = num(v, 0, 100, &d); o->user.temperature = (float)d; o->user_set |= S_TEMP; }
    else if (!strcmp(a, "--top-k")) { ok = num(v, 0, 1 << 24, &d); o->user.top_k = (int32_t)d; o->user_set |= S_TOPK; }
    else if (!strcmp(a, "--top-p")) { ok = num(v, 0, 1, &d); o->user.top_p = (float)d; o->user_set |= S_TOPP; }
    else if (!strcmp(a, "--min-p")) { ok = num(v, 0, 1, &d); o->user.min_p = (float)d; o->user_set |= S_MINP; }
    else if (!strcmp(a, "--repeat-penalty")) { ok = num(v, 0, 100, &d); o->user.repeat_penalty = (float)d; o->user_set |= S_REP; }
    else if (!strcmp(a, "--presence-penalty")) { ok = num(v, -100, 100, &d); o->user.presence_penalty = (float)d; o->user_set |= S_PRES; }
    else if (!strcmp(a, "--frequency-penalty")) { ok = num(v, -100, 100, &d); o->user.frequency_penalty = (float)d; o->user_set |= S_FREQ; }
    else if (!strcmp(a, "--seed")) { ok = num(v, 0, 18446744073709551615.0, &d); o->user.seed = (uint64_t)d; o->seed_set = true; }
    else return 0;
    if (!ok) {
        fprintf(stderr, "g4 %s: bad value '%s' for %s\n", cmd, v, a);
        return -1;
    }
    if (takes) (*i)++;
    return 1;
}

void gen_opts_finish(gen_opts *o, const g4_model *m) {
    o->sp = g4_model_sampler_params(m);
    const g4_sampler_params *u = &o->user;
    if (o->user_set & S_TEMP) o->sp.temperature = u->temperature;
    if (o->user_set & S_TOPK) o->sp.top_k = u->top_k;
    if (o->user_set & S_TOPP) o->sp.top_p = u->top_p;
    if (o->user_set & S_MINP) o->sp.min_p = u->min_p;
    if (o->user_set & S_REP) o->sp.repeat_penalty = u->repeat_penalty;
    if (o->user_set & S_PRES) o->sp.presence_penalty = u->presence_penalty;
    if (o->user_set & S_FREQ) o->sp.frequency_penalty = u->frequency_penalty;
    o->sp.seed = o->seed_set ? u->seed : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    const g4_model_info *info = g4_model_get_info(m);
    if (o->n_ctx > info->n_ctx_train) o->n_ctx = info->n_ctx_train;
    if (o->verbose)
        fprintf(stderr, "sampling: temp %g, top-k %d, top-p %g, min-p %g, repeat-penalty %g, seed %llu\n",
                (double)o->sp.temperature, o->sp.top_k, (double)o->sp.top_p, (double)o->sp.min_p,
                (double)o->sp.repeat_penalty, (unsigned long long)o->sp.seed);
}

/* MemAvailable of /proc/meminfo in bytes; 0 if unknown. */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static void load_progress(void *user, int64_t done, int64_t total) {
    (void)user;
    if (done % 256 == 0 || done == total) /* every 256 MiB */
        fprintf(stderr, "\rloading weights: %3d%% (%.1f of %.1f GB)", total ? (int)(100 * done / total) : 100,
                done / 1024.0, total / 1024.0);
}

int gen_load(const char *cmd, const char *path, g4_model **m, g4_tokenizer **tok, bool verbose) {
    *m = NULL;
    *tok = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "g4 %s: %s: %s (give a Gemma 4 GGUF file or Hugging Face directory, e.g. models/demo.gguf; "
                        "README.md says where to get Gemma 4 weights)\n", cmd, path, strerror(errno));
        return 1;
    }
    g4_error err;
    const double t0 = gen_now();
    if (g4_model_open(m, path, NULL, &err) != G4_OK) {
        const char *hint = "";
        if (err.status == G4_ERR_FORMAT && S_ISREG(sb.st_mode))
            hint = " (the file may be truncated or damaged, e.g. by an interrupted download: fetch it again)";
        else if (err.status == G4_ERR_UNSUPPORTED) hint = " (g4 runs Gemma 4 checkpoints: E2B, E4B, 26B-A4B, 31B)";
        fprintf(stderr, "g4 %s: %s%s\n", cmd, err.msg, hint);
        return 1;
    }
    if (g4_tokenizer_open(tok, path, &err) != G4_OK) {
        fprintf(stderr, "g4 %s: %s\n", cmd, err.msg);
        g4_model_free(*m);
        *m = NULL;
        return 1;
    }
    const g4_model_info *info = g4_model_get_info(*m);
    if (g4_tokenizer_n_vocab(*tok) > info->n_vocab) {
        fprintf(stderr, "g4 %s: %s: the vocabulary (%d) is larger than the model's (%d)\n", cmd, path,
                g4_tokenizer_n_vocab(*tok), info->n_vocab);
        g4_tokenizer_free(*tok);
        g4_model_free(*m);
        *tok = NULL;
        *m = NULL;
        return 1;
    }
    /* a model of more than 1 GB is read in now, with progress, if it fits in memory */
    const uint64_t avail = mem_available();
    if (info->weight_bytes > (1ull << 30) && avail) {
        if (info->weight_bytes < avail) {
            const bool show = isatty(STDERR_FILENO) || verbose;
            g4_model_prefetch(*m, show ? load_progress : NULL, NULL, &err);
            if (show) fputc('\n', stderr);
        } else
            fprintf(stderr, "g4 %s: note: the weights (%.1f GB) exceed the free memory (%.1f GB); they will be read from "
                            "disk as needed, slowly\n", cmd, info->weight_bytes / 1e9, avail / 1e9);
    }
    if (verbose)
        fprintf(stderr, "loaded %s: Gemma 4 %s, %d layers, %.2f G parameters, %.2f GB of weights (%s) in %.0f ms\n", path,
                info->variant, info->n_layer, info->n_params / 1e9, info->weight_bytes / 1e9, info->source,
                (gen_now() - t0) * 1e3);
    return 0;
}

int gen_session(const char *cmd, g4_model *m, const gen_opts *o, g4_session **s) {
    g4_session_params p = {.n_ctx = (int32_t)o->n_ctx, .n_threads = (int32_t)o->threads, .kv_type = o->kv_type};
    g4_error err;
    const uint64_t need = g4_session_kv_bytes(m, &p), avail = mem_available();
    if (avail && need > avail) {
        fprintf(stderr, "g4 %s: not enough memory for a %d-token context: its %s KV cache needs %.1f GB, %.1f GB are "
                        "free (try a smaller --ctx%s)\n", cmd, p.n_ctx, g4_kv_type_name(p.kv_type), need / 1e9, avail / 1e9,
                o->kv_type == G4_KV_Q8_0 ? "" : " or --kv q8_0");
        return 1;
    }
    if (g4_session_create(s, m, &p, &err) == G4_OK) return 0;
    fprintf(stderr, "g4 %s: %s%s\n", cmd, err.msg, err.status == G4_ERR_NOMEM ? " (try a smaller --ctx)" : "");
    return 1;
}

/* a growing string */
typedef struct sbuf { char *p; size_t n, cap; bool oom; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (!b->p || b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

g4_status gen_reply(g4_session *s, const g4_tokenizer *tok, g4_sampler *smp, const int32_t *ids, size_t n_ids,
                    int32_t max_tokens, bool ignore_eos, FILE *out, FILE *thought, volatile sig_atomic_t *interrupt, char **answer,
                    gen_stats *st, g4_error *err) {
    memset(st, 0, sizeof *st);
    if (answer) *answer = NULL;
    g4_detok *dt = NULL;
    sbuf ans = {0};
    sb_add(&ans, "", 0);
    g4_status rc = g4_detok_create(&dt, tok, G4_DETOKENIZE_SKIP_SPECIAL, err);
    if (rc != G4_OK) return rc;
    g4_sampler_reset(smp);
    for (size_t i = 0; i < n_ids; i++) g4_sampler_accept(smp, ids[i]);
    const int32_t ch_open = g4_tokenizer_find(tok, "<|channel>"), ch_close = g4_tokenizer_find(tok, "<channel|>");
    st->n_prompt = (int32_t)n_ids;
    const double t0 = gen_now();
    rc = g4_session_sync(s, ids, (int32_t)n_ids, &st->n_reused, err);
    const double t1 = gen_now();
    st->t_prefill = t1 - t0;
    bool in_thought = false;
    while (rc == G4_OK && st->n_gen < max_tokens) {
        if (interrupt && *interrupt) { st->stopped = true; break; }
        int32_t id = g4_sampler_sample(smp, g4_session_logits(s, -1));
        st->n_gen++;
        if (g4_tokenizer_is_end_of_turn(tok, id) && !ignore_eos) break;
        g4_sampler_accept(smp, id);
        if (id >= 0 && id == ch_open) {
            in_thought = st->thought = true;
            if (thought) fputs("[thinking]\n", thought);
        } else if (id >= 0 && id == ch_close) {
            in_thought = false;
            if (thought) fputs("\n[/thinking]\n", thought);
        } else {
            const char *text;
            size_t len;
            if ((rc = g4_detok_push(dt, id, &text, &len, err)) != G4_OK) break;
            if (len) {
                FILE *to = in_thought ? thought : out;
                if (to) { fwrite(text, 1, len, to); fflush(to); }
                if (!in_thought) sb_add(&ans, text, len);
            }
        }
        if (g4_session_n_past(s) >= g4_session_n_ctx(s)) { st->ctx_full = true; break; }
        rc = g4_session_eval(s, &id, 1, err);
    }
    size_t len;
    const char *rest = g4_detok_flush(dt, &len);
    if (len && !in_thought) {
        if (out) fwrite(rest, 1, len, out);
        sb_add(&ans, rest, len);
    }
    st->t_decode = gen_now() - t1;
    g4_detok_free(dt);
    if (rc == G4_OK && answer) {
        *answer = ans.p && !ans.oom ? ans.p : NULL;
        if (*answer) ans.p = NULL;
        else {
            rc = err->status = G4_ERR_NOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory for the answer");
        }
    }
    free(ans.p);
    return rc;
}

void gen_print_stats(FILE *f, const gen_stats *st) {
    const int32_t fresh = st->n_prompt - st->n_reused;
    fprintf(f, "prompt %d tokens (%d new, %d reused), time to first token %.0f ms, prefill %.1f tok/s, "
               "decode %.1f tok/s (%d tokens)\n",
            st->n_prompt, fresh, st->n_reused, st->t_prefill * 1e3, st->t_prefill > 0 ? fresh / st->t_prefill : 0.0,
            st->n_gen > 1 && st->t_decode > 0 ? (st->n_gen - 1) / st->t_decode : 0.0, st->n_gen);
}
