/* pty_expect.c - drives an interactive program through a pseudo-terminal, for the tests
 * of `g4 chat` (line editing, Ctrl-C and Ctrl-D only behave like a user's terminal on a
 * real tty). A small expect(1): it runs CMD on a new pty and follows a script from stdin.
 *
 *   usage: pty_expect LOG -- CMD [ARGS...] < SCRIPT
 *
 * Script lines (blank lines and lines starting with # are skipped):
 *   expect SECONDS REGEX   wait until the output since the last match matches REGEX
 *                          (POSIX extended); fail on timeout or end of output
 *   send TEXT              type TEXT and Enter
 *   ctrl X                 type Ctrl-X (ctrl C, ctrl D)
 *   sleep SECONDS          let the program run (its output is still collected)
 *   mark                   start recording output here
 *   save FILE              write the output recorded since the last mark to FILE
 *   exit SECONDS STATUS    wait for the program to exit with STATUS
 * Everything the program wrote goes to LOG. Exit status 0 when the script completes, 1
 * with a message naming the failing line otherwise. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *out;         /* everything read so far */
static size_t n_out, cap_out;
static size_t match_from; /* where the next expect starts looking */
static size_t mark_at;
static int master = -1;
static FILE *logf;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reads what is available within timeout seconds: 1 if something came, 0 if nothing
 * did, -1 at the end of output. */
static int pump(double timeout) {
    struct pollfd p = {master, POLLIN, 0};
    int r = poll(&p, 1, (int)(timeout * 1000));
    if (r <= 0) return r == 0 ? 0 : -1;
    char buf[4096];
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) return -1; /* EIO: the program closed the terminal */
    if (n_out + (size_t)n + 1 > cap_out) {
        cap_out = (cap_out + (size_t)n) * 2;
        out = realloc(out, cap_out);
        if (!out) { perror("pty_expect"); exit(1); }
    }
    memcpy(out + n_out, buf, (size_t)n);
    n_out += (size_t)n;
    out[n_out] = 0;
    fwrite(buf, 1, (size_t)n, logf);
    fflush(logf);
    return 1;
}

static bool expect(double seconds, const char *re_text) {
    regex_t re;
    if (regcomp(&re, re_text, REG_EXTENDED | REG_NEWLINE) != 0) {
        fprintf(stderr, "pty_expect: bad regex '%s'\n", re_text);
        return false;
    }
    const double end = now() + seconds;
    bool ok = false, alive = true;
    for (;;) {
        regmatch_t m;
        /* NUL bytes in the output would hide the rest from regexec: match from the last one */
        size_t from = match_from;
        for (size_t i = match_from; i < n_out; i++)
            if (!out[i]) from = i + 1;
        if (n_out > from && regexec(&re, out + from, 1, &m, 0) == 0) {
            match_from = from + (size_t)m.rm_eo;
            ok = true;
            break;
        }
        const double left = end - now();
        if (left <= 0 || !alive) break;
        alive = pump(left < 0.2 ? left : 0.2) >= 0;
    }
    regfree(&re);
    return ok;
}

static void type(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(master, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--")) {
        fprintf(stderr, "usage: pty_expect LOG -- CMD [ARGS...] < SCRIPT\n");
        return 2;
    }
    logf = fopen(argv[1], "wb");
    if (!logf) { perror(argv[1]); return 2; }
    struct winsize ws = {.ws_row = 50, .ws_col = 200};
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    if (pid < 0) { perror("forkpty"); return 2; }
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        perror(argv[3]);
        _exit(127);
    }
    out = calloc(1, 1);
    cap_out = 1;
    char line[8192];
    int lineno = 0, status = -1;
    bool exited = false;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        bool ok = true;
        double secs = 0;
        int n = 0;
        if (!strncmp(line, "expect ", 7) && sscanf(line + 7, "%lf %n", &secs, &n) == 1) ok = expect(secs, line + 7 + n);
        else if (!strncmp(line, "send ", 5)) {
            type(line + 5, strlen(line + 5));
            type("\r", 1);
        } else if (!strncmp(line, "ctrl ", 5) && line[5]) {
            char ch = (char)(line[5] & 0x1f);
            type(&ch, 1);
        } else if (!strncmp(line, "sleep ", 6) && sscanf(line + 6, "%lf", &secs) == 1) {
            const double end = now() + secs;
            while (now() < end) pump(end - now());
        } else if (!strcmp(line, "mark")) {
            while (pump(0.05) > 0) {}
            mark_at = n_out;
        } else if (!strncmp(line, "save ", 5)) {
            FILE *f = fopen(line + 5, "wb");
            ok = f && fwrite(out + mark_at, 1, n_out - mark_at, f) == n_out - mark_at;
            if (f) fclose(f);
        } else if (!strncmp(line, "exit ", 5) && sscanf(line + 5, "%lf %d", &secs, &n) == 2) {
            const double end = now() + secs;
            int st;
            while (!exited && now() < end) {
                pump(0.1);
                if (waitpid(pid, &st, WNOHANG) == pid) { exited = true; status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }
            }
            ok = exited && status == n;
        } else {
            fprintf(stderr, "pty_expect: line %d: cannot parse '%s'\n", lineno, line);
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "pty_expect: line %d failed: %s (exit status %d)\n", lineno, line, status);
            if (!exited) kill(pid, SIGKILL);
            return 1;
        }
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    fclose(logf);
    return 0;
}
