/* cmd_chat.c - `g4 chat PATH`: an interactive, multi-turn conversation in the terminal.
 *
 * Why it is built this way:
 *   - The conversation is kept as OpenAI-style messages and rendered in full with the
 *     Gemma 4 chat format every turn (g4_chat_tokenize), exactly what the model was trained
 *     on; the session's KV cache then makes that cheap: g4_session_sync keeps the common
 *     prefix (every earlier turn, sliding-window layers included) and prefills only the new
 *     tokens. --verbose and /stats show how many were new and how many reused.
 *   - Line editing and history come from libedit (Debian's libedit), not hand-written code.
 *     When stdin is not a terminal, lines are read plainly, so scripts can pipe a chat in.
 *   - Ctrl-C during an answer stops it (the partial answer stays in the conversation) and
 *     returns to the prompt; Ctrl-C at the prompt clears the line; Ctrl-D or /bye leaves.
 *   - When a turn would not fit the context, the policy (--on-full) is "drop": the oldest
 *     turns are dropped (the system prompt stays) and the rest is prefilled once, or
 *     "refuse": the turn is refused with a message. A message that cannot fit even alone
 *     is refused either way. A context that fills up during an answer ends the answer.
 *   - /save FILE writes the session (g4_session_save: timeline + cache, fingerprinted)
 *     and FILE.json (the messages); /load FILE or --load FILE restores both, so a long
 *     document read once can be asked about later without prefilling it again. */
#include "commands.h"
#include "g4.h"
#include "gen.h"

#include <cjson/cJSON.h>
#include <editline/readline.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct chat {
    g4_model *m;
    g4_tokenizer *tok;
    g4_session *s;
    g4_sampler *smp;
    gen_opts o;
    cJSON *msgs;          /* the conversation; a system message, if any, is first */
    bool drop_on_full;    /* --on-full drop (default) or refuse */
    bool tty;
    gen_stats last;
    bool have_last;
    int turns;
} chat;

static const char *HELP =
    "  /reset            forget the conversation (keeps the system prompt)\n"
    "  /system TEXT      set the system prompt (empty: none); the conversation is kept\n"
    "  /think on|off     let the model think before answering (its thinking is shown apart)\n"
    "  /file PATH [Q]    send a text file as a message, followed by the question Q\n"
    "  /save FILE        save the conversation and its cache (FILE and FILE.json)\n"
    "  /load FILE        continue a saved conversation without prefilling it again\n"
    "  /stats            speed of the last answer and how full the context is\n"
    "  /help             this list;  /bye (or Ctrl-D) leaves;  Ctrl-C stops an answer\n"
    "  \"\"\"               starts and ends a message of several lines\n";

/* the usage on f: stdout when asked for (--help, status 0), stderr after a mistake (2) */
static int usage(FILE *f) {
    fprintf(f, "usage: g4 chat PATH [options]\n"
                    "  --system TEXT    system prompt                  --load FILE      continue a saved conversation\n"
                    "  --on-full drop|refuse   when a turn does not fit: drop the oldest turns (default) or refuse\n"
                    "  --no-history     do not read or write ~/.g4_history\n"
                    GEN_FLAGS_USAGE);
    return f == stdout ? 0 : 2;
}

/* ---- the conversation ------------------------------------------------------------ */

static bool has_system(const chat *c) {
    const cJSON *first = cJSON_GetArrayItem(c->msgs, 0);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(first, "role");
    return cJSON_IsString(role) && !strcmp(role->valuestring, "system");
}

static void add_message(chat *c, const char *role, const char *content) {
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", role);
    cJSON_AddStringToObject(msg, "content", content);
    cJSON_AddItemToArray(c->msgs, msg);
}

static void set_system(chat *c, const char *text) {
    if (has_system(c)) cJSON_DeleteItemFromArray(c->msgs, 0);
    if (text && *text) {
        cJSON *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", "system");
        cJSON_AddStringToObject(msg, "content", text);
        cJSON_InsertItemInArray(c->msgs, 0, msg);
    }
}

/* The conversation rendered canonically: with the opening of the model's turn at the end
 * (gen_prompt) or without (the history as the template writes it). */
static g4_status render(chat *c, bool gen_prompt, int32_t **ids, size_t *n, g4_error *err) {
    char *json = cJSON_PrintUnformatted(c->msgs);
    if (!json) {
        err->status = G4_ERR_NOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return G4_ERR_NOMEM;
    }
    g4_chat_params cp = {.enable_thinking = c->o.think, .no_generation_prompt = !gen_prompt};
    g4_status st = g4_chat_tokenize(c->tok, json, NULL, &cp, ids, n, err);
    free(json);
    return st;
}

/* The prompt for the next answer (the last message is the new user message).
 *
 * The session's timeline already holds the conversation so far exactly as the model saw
 * and wrote it (each turn closed). The new tokens are what the canonical rendering adds
 * for the new message: render(all) minus render(all but the new message). Appending
 * them to the timeline means a turn prefills only its own tokens; re-rendering the whole
 * conversation would not, because the template writes the model's turn opener
 * differently in the history than in the generation prompt. When the timeline is empty
 * or `canonical` is set, the canonical rendering is used as is. */
static g4_status next_prompt(chat *c, bool canonical, int32_t **ids, size_t *n, g4_error *err) {
    int32_t *full = NULL, *prev = NULL;
    size_t n_full = 0, n_prev = 0;
    g4_status st = render(c, true, &full, &n_full, err);
    const int32_t n_past = g4_session_n_past(c->s);
    if (st != G4_OK || canonical || n_past == 0) {
        *ids = full;
        *n = n_full;
        return st;
    }
    cJSON *last = cJSON_DetachItemFromArray(c->msgs, cJSON_GetArraySize(c->msgs) - 1);
    st = render(c, false, &prev, &n_prev, err);
    cJSON_AddItemToArray(c->msgs, last);
    if (st != G4_OK || n_prev > n_full || memcmp(full, prev, n_prev * sizeof *prev) != 0) {
        free(prev); /* the template does not extend its history: render canonically */
        *ids = full;
        *n = n_full;
        return st;
    }
    const size_t add = n_full - n_prev;
    *ids = malloc(((size_t)n_past + add) * sizeof **ids);
    if (!*ids) {
        free(full);
        free(prev);
        err->status = G4_ERR_NOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return G4_ERR_NOMEM;
    }
    memcpy(*ids, g4_session_tokens(c->s), (size_t)n_past * sizeof **ids);
    memcpy(*ids + n_past, full + n_prev, add * sizeof **ids);
    *n = (size_t)n_past + add;
    free(full);
    free(prev);
    return G4_OK;
}

/* Builds the prompt so that it fits with room for an answer, applying the overflow
 * policy. Returns false (message printed, the new user message removed) if it cannot. */
static bool fit(chat *c, int32_t **ids, size_t *n) {
    const int32_t n_ctx = g4_session_n_ctx(c->s);
    /* room for an answer: what --max-tokens asks, but at most a quarter of the context */
    const size_t room = (size_t)(c->o.max_tokens < n_ctx / 4 ? c->o.max_tokens : n_ctx / 4);
    int dropped = 0;
    for (;;) {
        g4_error err;
        if (next_prompt(c, dropped > 0, ids, n, &err) != G4_OK) {
            fprintf(stderr, "g4 chat: %s\n", err.msg);
            break;
        }
        if (*n + room <= (size_t)n_ctx) {
            if (dropped)
                fprintf(stderr, "[the context was full: dropped the %d oldest message%s; %zu tokens to prefill]\n",
                        dropped, dropped > 1 ? "s" : "", *n);
            return true;
        }
        free(*ids);
        *ids = NULL;
        const int first = has_system(c) ? 1 : 0, count = cJSON_GetArraySize(c->msgs);
        if (!c->drop_on_full || count - first <= 1) {
            if (count - first <= 1)
                fprintf(stderr, "[this message needs %zu tokens, more than the %d-token context leaves room for "
                                "(--ctx); it was not sent]\n", *n + room, n_ctx);
            else
                fprintf(stderr, "[the context (%d tokens) is full: /reset, /save, or restart with --on-full drop or "
                                "a larger --ctx; the message was not sent]\n", n_ctx);
            break;
        }
        /* drop the oldest turn: its user message and whatever followed up to the next user message */
        do {
            cJSON_DeleteItemFromArray(c->msgs, first);
            dropped++;
            const cJSON *next = cJSON_GetArrayItem(c->msgs, first);
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(next, "role");
            if (!cJSON_IsString(role) || !strcmp(role->valuestring, "user")) break;
        } while (cJSON_GetArraySize(c->msgs) - first > 1);
    }
    cJSON_DeleteItemFromArray(c->msgs, cJSON_GetArraySize(c->msgs) - 1); /* the unsent message */
    return false;
}

/* Closes the model's turn in the timeline so that it ends where the next turn's tokens
 * begin: "<turn|>\n" after a plain answer; after an answer with thinking (which the
 * template drops from the history) or a cut-short one, the canonical history. */
static void close_turn(chat *c, const gen_stats *st) {
    g4_error err;
    int32_t *ids = NULL;
    size_t n = 0;
    g4_status rc;
    if (st->thought || st->ctx_full) {
        rc = render(c, false, &ids, &n, &err);
        if (rc == G4_OK) rc = n <= (size_t)g4_session_n_ctx(c->s) ? g4_session_sync(c->s, ids, (int32_t)n, NULL, &err) : G4_OK;
    } else {
        static const char close[] = "<turn|>\n";
        rc = g4_tokenize(c->tok, close, sizeof close - 1, G4_TOKENIZE_SPECIAL, &ids, &n, &err);
        if (rc == G4_OK && n > 0 && g4_session_n_past(c->s) + (int64_t)n <= g4_session_n_ctx(c->s))
            rc = g4_session_eval(c->s, ids, (int32_t)n, &err);
    }
    free(ids);
    if (rc != G4_OK) {
        fprintf(stderr, "g4 chat: %s\n", err.msg);
        g4_session_reset(c->s); /* the next turn renders the conversation afresh */
    }
}

static void turn(chat *c, const char *text) {
    add_message(c, "user", text);
    int32_t *ids = NULL;
    size_t n = 0;
    if (!fit(c, &ids, &n)) return;
    g4_error err;
    char *answer = NULL;
    interrupted = 0;
    gen_stats st;
    g4_status rc = gen_reply(c->s, c->tok, c->smp, ids, n, (int32_t)c->o.max_tokens, c->o.ignore_eos, stdout,
                             c->o.think ? stdout : NULL, &interrupted, &answer, &st, &err);
    free(ids);
    fputc('\n', stdout);
    fflush(stdout);
    if (rc != G4_OK) {
        fprintf(stderr, "g4 chat: %s\n", err.msg);
        cJSON_DeleteItemFromArray(c->msgs, cJSON_GetArraySize(c->msgs) - 1);
        g4_session_reset(c->s); /* the cache may be part-written: start clean next turn */
        return;
    }
    if (st.stopped) fprintf(stderr, "[stopped]\n");
    if (st.ctx_full) fprintf(stderr, "[the context is full: the answer was cut short]\n");
    add_message(c, "assistant", answer); /* a stopped answer stays, as the model said it */
    free(answer);
    close_turn(c, &st);
    c->last = st;
    c->have_last = true;
    c->turns++;
    if (c->o.verbose) gen_print_stats(stderr, &st);
}

/* ---- saving ------------------------------------------------------------------------ */

static char *json_path(const char *path) {
    size_t n = strlen(path);
    char *p = malloc(n + 6);
    if (p) {
        memcpy(p, path, n);
        memcpy(p + n, ".json", 6);
    }
    return p;
}

static void save(chat *c, const char *path) {
    g4_error err;
    char *jp = json_path(path), *json = cJSON_Print(c->msgs);
    FILE *f = jp && json ? fopen(jp, "wb") : NULL;
    bool ok = f && fputs(json, f) >= 0;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "g4 chat: cannot write %s: %s\n", jp ? jp : path, strerror(errno));
    else if (g4_session_save(c->s, path, &err) != G4_OK) fprintf(stderr, "g4 chat: %s\n", err.msg);
    else fprintf(stderr, "[saved %d tokens to %s and the conversation to %s]\n", g4_session_n_past(c->s), path, jp);
    free(jp);
    free(json);
}

static bool load(chat *c, const char *path) {
    g4_error err;
    char *jp = json_path(path);
    char *text = NULL;
    FILE *f = jp ? fopen(jp, "rb") : NULL;
    if (f) {
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        text = len >= 0 && len < (64L << 20) ? calloc(1, (size_t)len + 1) : NULL;
        if (text && fread(text, 1, (size_t)len, f) != (size_t)len) { free(text); text = NULL; }
        fclose(f);
    }
    cJSON *msgs = text ? cJSON_Parse(text) : NULL;
    free(text);
    bool ok = false;
    if (!cJSON_IsArray(msgs)) fprintf(stderr, "g4 chat: %s: missing or not a list of messages\n", jp ? jp : path);
    else if (g4_session_load(c->s, path, &err) != G4_OK) fprintf(stderr, "g4 chat: %s\n", err.msg);
    else {
        cJSON_Delete(c->msgs);
        c->msgs = msgs;
        msgs = NULL;
        ok = true;
        fprintf(stderr, "[loaded %d tokens and %d messages from %s]\n", g4_session_n_past(c->s),
                cJSON_GetArraySize(c->msgs), path);
    }
    cJSON_Delete(msgs);
    free(jp);
    return ok;
}

/* ---- commands ---------------------------------------------------------------------- */

static void stats(const chat *c) {
    fprintf(stderr, "context: %d of %d tokens used, %d turns, thinking %s\n", g4_session_n_past(c->s),
            g4_session_n_ctx(c->s), c->turns, c->o.think ? "on" : "off");
    if (c->have_last) gen_print_stats(stderr, &c->last);
}

static char *read_text_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (n + 1 == cap) {
            char *nb = n < (256u << 20) ? realloc(buf, cap *= 2) : NULL;
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

/* Runs a /command; returns false for /bye. */
static bool command(chat *c, char *line) {
    char *arg = line + strcspn(line, " \t");
    if (*arg) *arg++ = 0;
    arg += strspn(arg, " \t");
    if (!strcmp(line, "/bye") || !strcmp(line, "/exit") || !strcmp(line, "/quit")) return false;
    if (!strcmp(line, "/help") || !strcmp(line, "/?")) fputs(HELP, stderr);
    else if (!strcmp(line, "/reset")) {
        const cJSON *sys = has_system(c) ? cJSON_GetArrayItem(c->msgs, 0) : NULL;
        cJSON *keep = sys ? cJSON_Duplicate(sys, 1) : NULL;
        cJSON_Delete(c->msgs);
        c->msgs = cJSON_CreateArray();
        if (keep) cJSON_AddItemToArray(c->msgs, keep);
        g4_session_reset(c->s);
        c->turns = 0;
        fprintf(stderr, "[the conversation was reset]\n");
    } else if (!strcmp(line, "/system")) {
        set_system(c, arg);
        g4_session_reset(c->s); /* the conversation now starts differently */
        fprintf(stderr, *arg ? "[system prompt set]\n" : "[no system prompt]\n");
    } else if (!strcmp(line, "/think")) {
        if (!strcmp(arg, "on")) c->o.think = true;
        else if (!strcmp(arg, "off")) c->o.think = false;
        else fprintf(stderr, "usage: /think on|off\n");
        g4_session_reset(c->s); /* the system turn changes (<|think|>) */
        fprintf(stderr, "[thinking %s]\n", c->o.think ? "on" : "off");
    } else if (!strcmp(line, "/save") && *arg) save(c, arg);
    else if (!strcmp(line, "/load") && *arg) load(c, arg);
    else if (!strcmp(line, "/stats")) stats(c);
    else if (!strcmp(line, "/file") && *arg) {
        char *path = arg, *question = arg + strcspn(arg, " \t");
        if (*question) *question++ = 0;
        char *text = read_text_file(path);
        if (!text) fprintf(stderr, "g4 chat: %s: %s\n", path, strerror(errno));
        else {
            size_t n = strlen(text) + strlen(question) + 3;
            char *msg = malloc(n);
            if (msg) {
                snprintf(msg, n, "%s%s%s", text, *question ? "\n\n" : "", question);
                turn(c, msg);
            }
            free(msg);
            free(text);
        }
    } else fprintf(stderr, "unknown command %s (/help lists them)\n", line);
    return true;
}

/* ---- input --------------------------------------------------------------------------- */

/* One line from the user: libedit on a terminal, plain reads otherwise. NULL at the end
 * of input; "" (allocated) when Ctrl-C cleared the line. */
static char *read_line(const chat *c, const char *prompt) {
    if (c->tty) {
        interrupted = 0;
        char *l = readline(prompt);
        if (!l && interrupted) return strdup("");
        return l;
    }
    char *l = NULL;
    size_t cap = 0;
    ssize_t n = getline(&l, &cap, stdin);
    if (n < 0) { free(l); return NULL; }
    if (n > 0 && l[n - 1] == '\n') l[n - 1] = 0;
    return l;
}

/* A message of several lines between two """ lines. */
static char *read_block(const chat *c) {
    size_t n = 0;
    char *buf = calloc(1, 1);
    for (char *l; buf && (l = read_line(c, "... "));) {
        if (!strcmp(l, "\"\"\"")) { free(l); return buf; }
        size_t k = strlen(l);
        char *nb = realloc(buf, n + k + 2);
        if (!nb) { free(l); break; }
        buf = nb;
        memcpy(buf + n, l, k);
        n += k;
        buf[n++] = '\n';
        buf[n] = 0;
        free(l);
    }
    return buf; /* end of input inside the block: send what there is */
}

int cmd_chat(int argc, char **argv) {
    const char *path = NULL, *system = NULL, *load_path = NULL;
    bool history = true;
    chat c = {0};
    c.drop_on_full = true;
    gen_opts_init(&c.o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int r = gen_opts_parse(&c.o, "chat", argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(a, "--system") && i + 1 < argc) system = argv[++i];
        else if (!strcmp(a, "--load") && i + 1 < argc) load_path = argv[++i];
        else if (!strcmp(a, "--no-history")) history = false;
        else if (!strcmp(a, "--on-full") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "drop")) c.drop_on_full = true;
            else if (!strcmp(v, "refuse")) c.drop_on_full = false;
            else { fprintf(stderr, "g4 chat: --on-full takes drop or refuse\n"); return 2; }
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        else if (a[0] != '-' && !path) path = a;
        else { fprintf(stderr, "g4 chat: unexpected argument '%s'\n", a); return usage(stderr); }
    }
    if (!path) return usage(stderr);
    if (gen_load("chat", path, &c.m, &c.tok, c.o.verbose) != 0) return 1;
    gen_opts_finish(&c.o, c.m);
    int rc = 1;
    g4_error err;
    c.msgs = cJSON_CreateArray();
    if (gen_session("chat", c.m, &c.o, &c.s) != 0) goto done;
    if (g4_sampler_create(&c.smp, &c.o.sp, g4_model_get_info(c.m)->n_vocab, &err) != G4_OK) {
        fprintf(stderr, "g4 chat: %s\n", err.msg);
        goto done;
    }
    if (system) set_system(&c, system);
    if (load_path && !load(&c, load_path)) goto done;

    struct sigaction sa = {0};
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read at the prompt returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    c.tty = isatty(STDIN_FILENO);
    char hist[4096] = "";
    if (c.tty) {
        const char *home = getenv("HOME");
        if (history && home && *home) {
            snprintf(hist, sizeof hist, "%s/.g4_history", home);
            read_history(hist);
        }
        fprintf(stderr, "g4 chat: %s (context %d tokens). /help for commands, Ctrl-D to leave.\n", path,
                g4_session_n_ctx(c.s));
    }
    for (char *line; (line = read_line(&c, ">>> "));) {
        if (c.tty && *line) add_history(line);
        if (!strcmp(line, "\"\"\"")) {
            free(line);
            line = read_block(&c);
            if (!line) break;
            if (*line) turn(&c, line);
        } else if (line[0] == '/') {
            bool go_on = command(&c, line);
            free(line);
            if (!go_on) break;
            continue;
        } else if (*line) turn(&c, line);
        else if (c.tty && interrupted) fprintf(stderr, "(Ctrl-D or /bye leaves)\n");
        free(line);
    }
    if (hist[0]) write_history(hist);
    rc = 0;
done:
    cJSON_Delete(c.msgs);
    g4_sampler_free(c.smp);
    g4_session_free(c.s);
    g4_tokenizer_free(c.tok);
    g4_model_free(c.m);
    return rc;
}
