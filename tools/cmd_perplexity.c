/* cmd_perplexity.c - `g4 perplexity PATH FILE`: how well a model predicts a text.
 *
 * The file is tokenized as plain text (no control tokens) and scored in windows of --ctx
 * tokens, each starting with <bos>; consecutive windows advance by --stride tokens and
 * score only the tokens the previous window did not, so every token is predicted once,
 * with at least ctx - stride tokens of context after the first window. Reports
 * exp(mean negative log-likelihood). With --kl-base PATH2, a second model is run on the
 * same windows and the mean KL(base || model) and the top-1 agreement are reported: the
 * measure of what quantization costs. --kv and --kl-base-kv pick each model's KV cache type
 * (f16 by default), so the same model against itself measures what a cache type costs:
 * `g4 perplexity M FILE --kv q8_0 --kl-base M --kl-base-kv f32`. Progress goes to stderr. */
#include "commands.h"
#include "g4.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool parse_int(const char *s, int32_t lo, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > 1 << 24) return false;
    *out = (int32_t)v;
    return true;
}

/* log-softmax of row at index `tok`, and the row's log-sum-exp */
static double log_prob(const float *lg, int32_t V, int32_t tok, double *lse_out) {
    float mx = lg[0];
    for (int32_t i = 1; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    double sum = 0;
    for (int32_t i = 0; i < V; i++) sum += exp((double)lg[i] - mx);
    const double lse = mx + log(sum);
    if (lse_out) *lse_out = lse;
    return lg[tok] - lse;
}

int cmd_perplexity(int argc, char **argv) {
    const char *path = NULL, *file = NULL, *base_path = NULL;
    int32_t ctx = 512, stride = 0, threads = 0;
    g4_kv_type kv = G4_KV_F16, base_kv = G4_KV_F16;
    for (int i = 0; i < argc; i++) {
        bool ok = true;
        if (!strcmp(argv[i], "--ctx") && i + 1 < argc) ok = parse_int(argv[++i], 8, &ctx);
        else if (!strcmp(argv[i], "--stride") && i + 1 < argc) ok = parse_int(argv[++i], 1, &stride);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) ok = parse_int(argv[++i], 0, &threads);
        else if (!strcmp(argv[i], "--kl-base") && i + 1 < argc) base_path = argv[++i];
        else if (!strcmp(argv[i], "--kv") && i + 1 < argc) ok = g4_kv_type_parse(argv[++i], &kv);
        else if (!strcmp(argv[i], "--kl-base-kv") && i + 1 < argc) ok = g4_kv_type_parse(argv[++i], &base_kv);
        else if (!strcmp(argv[i], "--kv-f32")) kv = G4_KV_F32; /* exact cache; the default is F16 */
        else if (!strcmp(argv[i], "--kl-base-kv-f32")) base_kv = G4_KV_F32;
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else if (argv[i][0] != '-' && !file) file = argv[i];
        else ok = false;
        if (!ok) { fprintf(stderr, "g4 perplexity: bad argument '%s'\n", argv[i]); return 2; }
    }
    if (!path || !file) {
        fprintf(stderr, "usage: g4 perplexity PATH FILE [--ctx 512] [--stride CTX/2] [--kl-base PATH2]\n"
                        "       [--kv f16|f32|q8_0] [--kl-base-kv f16|f32|q8_0] [--threads N]   (--kv-f32, --kl-base-kv-f32: f32)\n");
        return 2;
    }
    if (stride == 0) stride = ctx / 2;
    if (stride >= ctx) { fprintf(stderr, "g4 perplexity: --stride must be smaller than --ctx\n"); return 2; }
    g4_error err;
    g4_model *m = NULL, *mb = NULL;
    g4_tokenizer *tok = NULL;
    g4_session *s = NULL, *sb = NULL;
    int32_t *ids = NULL, *win = NULL;
    size_t n_ids = 0;
    char *text = NULL;
    int rc = 1;
    FILE *f = fopen(file, "rb");
    if (!f) { fprintf(stderr, "g4 perplexity: %s: %s\n", file, strerror(errno)); return 1; }
    size_t cap = 1 << 16, len = 0;
    text = malloc(cap);
    for (size_t got; text && (got = fread(text + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) { char *nt = realloc(text, cap *= 2); if (!nt) { free(text); text = NULL; } else text = nt; }
    }
    fclose(f);
    if (!text) { fprintf(stderr, "g4 perplexity: out of memory reading %s\n", file); return 1; }
    if (g4_model_open(&m, path, NULL, &err) != G4_OK || g4_tokenizer_open(&tok, path, &err) != G4_OK ||
        g4_tokenize(tok, text, len, 0, &ids, &n_ids, &err) != G4_OK)
        goto fail;
    if (base_path && g4_model_open(&mb, base_path, NULL, &err) != G4_OK) goto fail;
    const int32_t V = g4_model_get_info(m)->n_vocab;
    if (mb && g4_model_get_info(mb)->n_vocab != V) {
        fprintf(stderr, "g4 perplexity: %s and %s have different vocabularies\n", path, base_path);
        goto done;
    }
    if (n_ids < 2) { fprintf(stderr, "g4 perplexity: %s holds fewer than 2 tokens\n", file); goto done; }
    const int32_t bos = g4_tokenizer_special(tok)->bos;
    g4_session_params sp = {.n_ctx = ctx + 1, .n_threads = threads, .all_logits = true, .kv_type = base_kv};
    g4_session_params spm = sp;
    spm.kv_type = kv;
    if (g4_session_create(&s, m, &spm, &err) != G4_OK || (mb && g4_session_create(&sb, mb, &sp, &err) != G4_OK)) goto fail;
    win = malloc(sizeof *win * (size_t)(ctx + 1));
    if (!win) { fprintf(stderr, "g4 perplexity: out of memory\n"); goto done; }
    double nll = 0, kl = 0;
    int64_t scored = 0, agree = 0;
    size_t start = 0;
    const bool tty = isatty(fileno(stderr)); /* progress only where someone watches */
    for (int w = 0;; w++) {
        const size_t n = n_ids - start < (size_t)ctx ? n_ids - start : (size_t)ctx;
        win[0] = bos;
        memcpy(win + 1, ids + start, n * sizeof *win);
        g4_session_reset(s);
        if (g4_session_eval(s, win, (int32_t)n + 1, &err) != G4_OK) goto fail;
        if (sb) {
            g4_session_reset(sb);
            if (g4_session_eval(sb, win, (int32_t)n + 1, &err) != G4_OK) goto fail;
        }
        /* row i predicts win[i + 1] = ids[start + i]; score rows not scored before */
        const size_t first = w == 0 ? 0 : (size_t)(ctx - stride);
        for (size_t i = first; i < n; i++) {
            const float *lg = g4_session_logits(s, (int32_t)i);
            nll -= log_prob(lg, V, win[i + 1], NULL);
            if (sb) {
                const float *lb = g4_session_logits(sb, (int32_t)i);
                double lse_a, lse_b;
                log_prob(lg, V, 0, &lse_a);
                log_prob(lb, V, 0, &lse_b);
                double k = 0;
                int32_t ta = 0, tb = 0;
                for (int32_t v = 0; v < V; v++) {
                    const double pb = exp((double)lb[v] - lse_b);
                    k += pb * (((double)lb[v] - lse_b) - ((double)lg[v] - lse_a));
                    if (lg[v] > lg[ta]) ta = v;
                    if (lb[v] > lb[tb]) tb = v;
                }
                kl += k;
                agree += ta == tb;
            }
            scored++;
        }
        if (tty) fprintf(stderr, "\r[window %d] %zu/%zu tokens, perplexity so far %.4f", w + 1, start + n, n_ids, exp(nll / scored));
        if (start + n >= n_ids) break;
        start += (size_t)stride;
    }
    if (tty) fputc('\n', stderr);
    printf("perplexity: %.4f over %lld tokens (ctx %d, stride %d, %s KV cache)\n", exp(nll / scored), (long long)scored,
           ctx, stride, g4_kv_type_name(kv));
    if (sb) { /* at least 6 decimals and 3 significant digits: a KV cache type's KL is ~1e-5 */
        const double mkl = kl / scored;
        const int digits = mkl > 0 && mkl < 1e-3 ? (int)ceil(-log10(mkl)) + 2 : 6;
        printf("KL divergence vs %s: %.*f nats/token, top-1 agreement %.2f%% (base: %s KV cache)\n", base_path,
               digits, mkl, 100.0 * agree / scored, g4_kv_type_name(base_kv));
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "g4 perplexity: %s\n", err.msg);
done:
    free(text);
    free(ids);
    free(win);
    g4_session_free(s);
    g4_session_free(sb);
    g4_tokenizer_free(tok);
    g4_model_free(m);
    g4_model_free(mb);
    return rc;
}
