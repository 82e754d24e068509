/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput on every file of the given
 * directories, without libFuzzer: the stored corpora (seeds and past findings) become
 * regression tests in `make test`, and under `make asan` they are checked by ASan/UBSan. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* With no arguments, replays tests/fuzz/seeds/TARGET and tests/fuzz/regressions/TARGET,
 * where the binary is named replay_TARGET. */
int main(int argc, char **argv) {
    int n = 0;
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    char defaults[2][512];
    char *dirs[3] = {argv[0], defaults[0], defaults[1]};
    if (argc < 2) {
        const char *target = strncmp(base, "replay_", 7) ? base : base + 7;
        snprintf(defaults[0], sizeof defaults[0], "tests/fuzz/seeds/%s", target);
        snprintf(defaults[1], sizeof defaults[1], "tests/fuzz/regressions/%s", target);
        argv = dirs;
        argc = 3;
    }
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) continue; /* a target may have no stored regressions */
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f) continue;
            fseek(f, 0, SEEK_END);
            long len = ftell(f);
            fseek(f, 0, SEEK_SET);
            uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
            if (buf && (len == 0 || fread(buf, 1, (size_t)len, f) == (size_t)len)) {
                LLVMFuzzerTestOneInput(buf, (size_t)len);
                n++;
            }
            free(buf);
            fclose(f);
        }
        closedir(d);
    }
    /* reaching here means no input crashed */
    printf("%s: %d passed, 0 failed\n", base, n);
    return 0;
}
