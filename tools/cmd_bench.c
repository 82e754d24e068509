/* cmd_bench.c - `g4 bench` and `g4 synth`.
 *
 * g4 bench PATH measures, in the style of llama-bench: pp512 (prefill of a 512-token
 * prompt), tg128 (decoding 128 tokens one at a time) and the time to first token of a
 * 32-token prompt, each repeated (median and min..max), plus peak RSS. In the same run it
 * measures the machine's memory read bandwidth and int8 multiply-add peak and reports
 * decode as (weight bytes read per token x tok/s) / bandwidth and prefill as
 * (operations per token x tok/s) / int8 peak. The limits are measured again right before
 * each rep's prefill and decode (and the bandwidth right after the decode too, the faster
 * of the two counting), and each rep is divided by its own (the median of those fractions
 * is reported, and beside it the median speed over the best probe of the run):
 * on a shared machine the bandwidth one can get moves by 1.6x within minutes (34 to
 * 56 GB/s on the 2-vCPU Zen 4 VM), so a fraction of a limit measured once at the start
 * said more about the neighbours than about g4. The session is sized for 4096 tokens (or
 * the model's maximum, if smaller) unless -c says otherwise; cache rows that are never
 * written stay unallocated pages, so peak RSS counts the cache the timed prompts fill
 * (E2B's whole 4K cache is 42 MiB at F16). Token ids are random (fixed seed): speed
 * does not depend on them. */
#include "commands.h"
#include "g4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stat3 { double median, lo, hi; } stat3;

static stat3 stats(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return (stat3){n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
}

static bool parse_int(const char *s, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1 << 30) return false;
    *out = (int32_t)v;
    return true;
}

/* The share of the model's resident mapped bytes that the kernel maps in 2 MiB entries
 * (FilePmdMapped over Rss of the mappings of PATH, a file or a directory's files, in
 * /proc/self/smaps); -1 where that cannot be read (not Linux). Decode streams the weights
 * once per token, and in 4 KiB entries it takes a TLB miss every 4 KiB: on the Zen 4 VM
 * 1.03-1.10x slower (README, Speed). g4 advises huge pages (mapfile.c), but a file the
 * page cache already held in small folios stays in them until evicted. */
static double huge_fraction(const char *path, double *rss_bytes) {
    char line[4096], *real = realpath(path, NULL);
    FILE *f = real ? fopen("/proc/self/smaps", "r") : NULL;
    if (!f) { free(real); return -1; }
    const size_t n = strlen(real);
    bool in = false;
    double rss = 0, pmd = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) { /* a mapping's header: "lo-hi perms ... path" */
            const char *slash = strchr(line, '/');
            in = slash && strncmp(slash, real, n) == 0 && (slash[n] == '\n' || slash[n] == '/');
        } else if (in && sscanf(line, "Rss: %llu kB", &kb) == 1) rss += (double)kb;
        else if (in && sscanf(line, "FilePmdMapped: %llu kB", &kb) == 1) pmd += (double)kb;
    }
    fclose(f);
    free(real);
    *rss_bytes = rss * 1024;
    return rss > 0 ? pmd / rss : -1;
}

/* whether the kernel offers transparent huge pages at all (not "[never]") */
static bool thp_available(void) {
    char line[256] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return false;
    const bool ok = fgets(line, sizeof line, f) && !strstr(line, "[never]");
    fclose(f);
    return ok;
}

/* The machine's limits into *lim. A probe that fails after an earlier one succeeded (its
 * 1 GiB buffer did not fit beside the model, say) leaves *lim as it was, with a warning,
 * rather than ending the run; false only when there is nothing to fall back on. */
static bool probe(int32_t threads, g4_machine_limits *lim, bool *have, g4_error *err) {
    g4_machine_limits got;
    if (g4_machine_probe(threads, &got, err) == G4_OK) {
        *lim = got;
        *have = true;
        return true;
    }
    if (!*have) return false;
    fprintf(stderr, "g4 bench: %s; keeping the previous probe's limits\n", err->msg);
    return true;
}

/* major page faults in the timed runs above which the weights were being re-read from
 * disk (a few come from anything the process touches for the first time) */
#define BENCH_MAJFLT_WARN 64

int cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    int32_t threads = 0, reps = 3, n_pp = 512, n_tg = 128, n_ttft = 32, depth = 0, n_ctx = 0;
    bool json = false;
    g4_kv_type kv = G4_KV_F16;
    for (int i = 0; i < argc; i++) {
        int32_t *dst = !strcmp(argv[i], "-t") || !strcmp(argv[i], "--threads") ? &threads
                     : !strcmp(argv[i], "-r") || !strcmp(argv[i], "--reps") ? &reps
                     : !strcmp(argv[i], "-p") || !strcmp(argv[i], "--pp") ? &n_pp
                     : !strcmp(argv[i], "-n") || !strcmp(argv[i], "--tg") ? &n_tg
                     : !strcmp(argv[i], "-d") || !strcmp(argv[i], "--depth") ? &depth
                     : !strcmp(argv[i], "-c") || !strcmp(argv[i], "--ctx") ? &n_ctx : NULL;
        if (dst) {
            if (i + 1 >= argc || !parse_int(argv[++i], dst)) { fprintf(stderr, "g4 bench: %s needs a number\n", argv[i - 1]); return 2; }
        } else if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--kv-f32")) kv = G4_KV_F32;
        else if (!strcmp(argv[i], "--kv")) {
            if (i + 1 >= argc || !g4_kv_type_parse(argv[++i], &kv)) {
                fprintf(stderr, "g4 bench: --kv needs f16, f32 or q8_0\n");
                return 2;
            }
        }
        else if (!path && argv[i][0] != '-') path = argv[i];
        else { fprintf(stderr, "g4 bench: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    /* -p 0 / -n 0 leave that test out, as in llama-bench (time to first token stays) */
    if (!path || reps < 1 || (n_pp == 0 && n_tg == 0) || (depth && !n_tg)) { /* parse_int refuses negatives */
        fprintf(stderr, "usage: g4 bench PATH [-t THREADS] [-r REPS] [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-d DEPTH]"
                        " [-c CONTEXT] [--kv f16|f32|q8_0] [--json]\n"
                        "  (-p 0 or -n 0 leaves prefill or decode out, not both; -d needs decode)\n");
        return 2;
    }
    g4_error err;
    g4_machine_limits lim; /* measured in every rep, below */
    bool have_lim = false;
    g4_model *m;
    double t0 = now();
    if (g4_model_open(&m, path, NULL, &err) != G4_OK) { fprintf(stderr, "g4 bench: %s\n", err.msg); return 1; }
    const double t_load = now() - t0;
    const g4_model_info *info = g4_model_get_info(m);
    g4_session *s;
    /* depth: decode is timed after that many tokens are in the cache (attention then reads
     * them at every step, as in a long conversation or document) */
    const int32_t n_prompt = n_pp > n_ttft ? n_pp : n_ttft; /* the longest prompt timed: pp or ttft's */
    const int32_t need = n_prompt + n_tg + depth + 8;
    if (!n_ctx) /* 4096, or the model's maximum when that is smaller (the demo model: 2048) */
        n_ctx = info->n_ctx_train > 0 && info->n_ctx_train < 4096 ? info->n_ctx_train : 4096;
    /* prefill's batch: the pp prompt, and the first-token one, each in one piece */
    const int32_t n_ubatch = !n_pp ? 512 : n_pp > n_ttft ? n_pp : n_ttft;
    g4_session_params sp = {.n_ctx = n_ctx > need ? n_ctx : need, .n_threads = threads, .n_ubatch = n_ubatch, .kv_type = kv};
    if (g4_session_create(&s, m, &sp, &err) != G4_OK) { fprintf(stderr, "g4 bench: %s\n", err.msg); g4_model_free(m); return 1; }
    int32_t n_toks = n_pp > n_tg ? (n_pp > n_ttft ? n_pp : n_ttft) : (n_tg > n_ttft ? n_tg : n_ttft);
    if (depth + 1 > n_toks) n_toks = depth + 1;
    int32_t *toks = malloc(sizeof *toks * (size_t)n_toks);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg), *ttft = calloc((size_t)reps, sizeof *ttft);
    /* each rep's prefill and decode against the limits measured just before them */
    double *pk = calloc((size_t)reps, sizeof *pk), *bw = calloc((size_t)reps, sizeof *bw);
    double *pk_frac = calloc((size_t)reps, sizeof *pk_frac), *bw_frac = calloc((size_t)reps, sizeof *bw_frac);
    int rc = 0;
    if (!toks || !pp || !tg || !ttft || !pk || !bw || !pk_frac || !bw_frac) {
        fprintf(stderr, "g4 bench: out of memory\n");
        rc = 1;
        goto done;
    }
    uint32_t seed = 42;
    for (int32_t i = 0; i < n_toks; i++) {
        seed = seed * 1664525u + 1013904223u;
        toks[i] = 4 + (int32_t)((seed >> 8) % (uint32_t)(info->n_vocab - 4));
    }
    /* warm-up, as llama-bench does: page in the weights, wake the threads, and touch the
     * session's buffers and KV cache at the longest prompt's size (left to the first timed
     * rep, zeroing those pages was 5% of a 26B-A4B pp256 profile) */
    if (g4_session_eval(s, toks, n_prompt, &err) != G4_OK) goto fail;
    /* Major page faults during the timed runs mean the mapped weights did not stay in
     * memory and were read from disk again: a 16.8 GB 26B-A4B on this 24 GB machine, with
     * 19 GB of other files just read, prefilled at 22.9 tok/s and took 3.9 s to the first
     * token, against 46.5 and 1.3 s once its file was cached. Said, so that no one
     * mistakes disk time for the kernels'. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const long majflt0 = ru.ru_majflt;
    for (int r = 0; r < reps; r++) {
        if (!probe(threads, &lim, &have_lim, &err)) goto fail;
        pk[r] = lim.int8_ops_per_s;
        bw[r] = lim.read_bandwidth; /* decode's own probe replaces it, below */
        if (n_pp) {
            g4_session_reset(s);
            t0 = now();
            if (g4_session_eval(s, toks, n_pp, &err) != G4_OK) goto fail;
            pp[r] = n_pp / (now() - t0);
            pk_frac[r] = info->prefill_ops * pp[r] / pk[r];
        }
        g4_session_reset(s);
        t0 = now();
        if (g4_session_eval(s, toks, n_ttft, &err) != G4_OK) goto fail;
        ttft[r] = now() - t0;
        if (n_tg) {
            g4_session_reset(s);
            for (int32_t d = 0; d < depth + 1; d += n_ubatch) /* the cached context, n_ubatch at a time */
                if (g4_session_eval(s, toks + d, depth + 1 - d < n_ubatch ? depth + 1 - d : n_ubatch, &err) != G4_OK) goto fail;
            if (!probe(threads, &lim, &have_lim, &err)) goto fail;
            bw[r] = lim.read_bandwidth;
            t0 = now();
            for (int32_t i = 0; i < n_tg; i++)
                if (g4_session_eval(s, &toks[i], 1, &err) != G4_OK) goto fail;
            tg[r] = n_tg / (now() - t0);
            /* and right after: divided by the faster of the two, a rep during which the
             * memory sped up is not credited with more than the memory gave (E4B once
             * read 110.6% of the probe before its rep) */
            g4_machine_limits after;
            if (g4_machine_probe(threads, &after, &err) == G4_OK) {
                if (after.read_bandwidth > bw[r]) bw[r] = after.read_bandwidth;
            } else
                fprintf(stderr, "g4 bench: %s; the decode rep keeps the probe before it\n", err.msg);
            bw_frac[r] = (double)info->decode_bytes * tg[r] / bw[r];
        }
        if (!json) {
            char pps[96] = "", tgs[96] = "", bws[64] = ""; /* at a depth the cache's reads add to the weights': no fraction */
            if (n_pp) snprintf(pps, sizeof pps, "pp%d %.2f tok/s (%.1f%% of %.0f G ops/s), ", n_pp, pp[r], 100 * pk_frac[r], pk[r] / 1e9);
            if (n_tg && !depth) snprintf(bws, sizeof bws, " (%.1f%% of %.1f GB/s)", 100 * bw_frac[r], bw[r] / 1e9);
            if (n_tg) snprintf(tgs, sizeof tgs, "tg%d %.2f tok/s%s, ", n_tg, tg[r], bws);
            fprintf(stderr, "rep %d: %s%sttft%d %.0f ms\n", r + 1, pps, tgs, n_ttft, ttft[r] * 1e3);
        }
    }
    getrusage(RUSAGE_SELF, &ru);
    const long majflt = ru.ru_majflt - majflt0;
    double huge_rss = 0;
    const double huge = huge_fraction(path, &huge_rss);
    if (majflt > BENCH_MAJFLT_WARN)
        fprintf(stderr, "g4 bench: warning: %ld major page faults during the timed runs: the weights (%.2f GB) did not "
                        "stay in memory and were read from disk again, so these figures include disk time\n",
                majflt, info->weight_bytes / 1e9);
    const double rss_gb = ru.ru_maxrss / 1048576.0; /* ru_maxrss is in KiB on Linux */
    stat3 spp = stats(pp, reps), stg = stats(tg, reps), sft = stats(ttft, reps);
    const stat3 sbw = stats(bw, reps), spk = stats(pk, reps), sbwf = stats(bw_frac, reps), spkf = stats(pk_frac, reps);
    /* and against the best probe of the run: when a probe lands on a moment the VM's
     * other tenants hold a core or the memory bus, its rep's fraction looks too good */
    const double bw_best = (double)info->decode_bytes * stg.median / sbw.hi, pk_best = info->prefill_ops * spp.median / spk.hi;
    char huge_json[16] = "null"; /* null: not known (not Linux) */
    if (huge >= 0) snprintf(huge_json, sizeof huge_json, "%.3f", huge);
    if (json) {
        char bw_json[64] = "null,\"frac_bandwidth_best\":null"; /* with a cache to read, the weights are not all it reads */
        if (!depth) snprintf(bw_json, sizeof bw_json, "%.4f,\"frac_bandwidth_best\":%.4f", sbwf.median, bw_best);
        char pp_json[192] = "null", tg_json[192] = "null"; /* null: left out (-p 0 / -n 0) */
        if (n_pp)
            snprintf(pp_json, sizeof pp_json,
                     "{\"n\":%d,\"tok_s\":%.3f,\"min\":%.3f,\"max\":%.3f,\"frac_int8_peak\":%.4f,\"frac_int8_peak_best\":%.4f}",
                     n_pp, spp.median, spp.lo, spp.hi, spkf.median, pk_best);
        if (n_tg)
            snprintf(tg_json, sizeof tg_json, "{\"n\":%d,\"depth\":%d,\"tok_s\":%.3f,\"min\":%.3f,\"max\":%.3f,\"frac_bandwidth\":%s}",
                     n_tg, depth, stg.median, stg.lo, stg.hi, bw_json);
        printf("{\"model\":\"%s\",\"variant\":\"%s\",\"threads\":%d,\"isa\":\"%s\",\"kv\":\"%s\",\"reps\":%d,"
               "\"pp\":%s,\"tg\":%s,"
               "\"ttft\":{\"n\":%d,\"s\":%.4f,\"min\":%.4f,\"max\":%.4f},"
               "\"machine\":{\"read_gb_s\":%.2f,\"read_gb_s_min\":%.2f,\"read_gb_s_max\":%.2f,\"int8_gops\":%.1f},"
               "\"n_ctx\":%d,\"decode_bytes_per_token\":%llu,"
               "\"prefill_ops_per_token\":%.4g,\"load_s\":%.3f,\"peak_rss_gb\":%.3f,\"major_page_faults\":%ld,"
               "\"weights_in_2m_pages\":%s}\n",
               path, info->variant, threads, lim.isa, g4_kv_type_name(kv), reps, pp_json, tg_json, n_ttft, sft.median, sft.lo, sft.hi, sbw.median / 1e9, sbw.lo / 1e9,
               sbw.hi / 1e9, spk.median / 1e9, sp.n_ctx, (unsigned long long)info->decode_bytes, info->prefill_ops, t_load, rss_gb, majflt,
               huge_json);
    } else {
        printf("model      %s (%s), %.2f GB of weights, load %.2f s, %s KV cache, %d-token context\n", path,
               info->variant, info->weight_bytes / 1e9, t_load, g4_kv_type_name(kv), sp.n_ctx);
        char tdesc[32];
        if (threads) snprintf(tdesc, sizeof tdesc, "%d", threads);
        else snprintf(tdesc, sizeof tdesc, "all");
        printf("machine    %s kernels, memory read %.1f GB/s (%.1f..%.1f), int8 peak %.0f G ops/s (%s threads)\n", lim.isa,
               sbw.median / 1e9, sbw.lo / 1e9, sbw.hi / 1e9, spk.median / 1e9, tdesc);
        if (n_pp)
            printf("pp%-4d     %8.2f tok/s  (%.2f..%.2f)  %.3g G ops/token -> %.1f%% of int8 peak (%.1f%% of the best probe)\n",
                   n_pp, spp.median, spp.lo, spp.hi, info->prefill_ops / 1e9, 100 * spkf.median, 100 * pk_best);
        if (n_tg && depth) /* the cache's reads come on top of the weights': no bandwidth fraction */
            printf("tg%-4d @ d%-6d %8.2f tok/s  (%.2f..%.2f)\n", n_tg, depth, stg.median, stg.lo, stg.hi);
        else if (n_tg)
            printf("tg%-4d     %8.2f tok/s  (%.2f..%.2f)  %.3f GB read/token -> %.1f%% of read bandwidth (%.1f%% of the best "
                   "probe)\n", n_tg, stg.median, stg.lo, stg.hi, info->decode_bytes / 1e9, 100 * sbwf.median, 100 * bw_best);
        printf("ttft%-4d   %8.0f ms     (%.0f..%.0f)\n", n_ttft, sft.median * 1e3, sft.lo * 1e3, sft.hi * 1e3);
        printf("peak RSS   %.2f GB\n", rss_gb);
        if (huge >= 0)
            printf("weights    %.0f%% of the resident model mapped in 2 MiB pages%s\n", 100 * huge,
                   huge < 0.5 && huge_rss > 64e6 && thp_available() ? " (a file the page cache held before g4 asked for huge pages keeps "
                                                   "small ones until it leaves the cache; decode then takes a TLB "
                                                   "miss every 4 KiB)" : "");
    }
    goto done;
fail:
    fprintf(stderr, "g4 bench: %s\n", err.msg);
    rc = 1;
done:
    free(toks);
    free(pk);
    free(bw);
    free(pk_frac);
    free(bw_frac);
    free(pp);
    free(tg);
    free(ttft);
    g4_session_free(s);
    g4_model_free(m);
    return rc;
}

int cmd_synth(int argc, char **argv) {
    const char *variant = NULL, *out = NULL, *type = "q4_0";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) type = argv[++i];
        else if (argv[i][0] != '-' && !variant) variant = argv[i];
        else if (argv[i][0] != '-' && !out) out = argv[i];
        else { fprintf(stderr, "g4 synth: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!variant || !out) {
        fprintf(stderr, "usage: g4 synth e2b|e4b|26b-a4b|31b OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k_m|q4_k|...]\n");
        return 2;
    }
    g4_error err;
    g4_status st = g4_synth_gguf_as(variant, out, type, write_progress, NULL, &err);
    if (st != G4_OK) {
        fprintf(stderr, "g4 synth: %s\n", err.msg);
        return st == G4_ERR_ARG ? 2 : 1;
    }
    fprintf(stderr, "wrote %s (%s, %s, random weights)\n", out, variant, type);
    return 0;
}
