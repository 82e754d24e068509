/* mapfile.c - POSIX mmap of model files, plus a small bounded text-file reader for
 * configs. Mapping (not reading) keeps multi-gigabyte checkpoints out of the heap and
 * lets the OS page weights in and out. */
#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

g4_status mapfile_open(mapfile *mf, const char *path, g4_error *err) {
    memset(mf, 0, sizeof *mf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return g4_fail(err, G4_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return g4_fail(err, G4_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return g4_fail(err, G4_ERR_IO, "%s: not a regular file", path);
    }
    mf->size = (uint64_t)st.st_size;
    if (mf->size > 0) {
        void *p = mmap(NULL, (size_t)mf->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return g4_fail(err, G4_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        mf->data = p;
        /* Huge pages for the weights, where the kernel offers them for file mappings
         * (Linux with transparent huge pages; advice only, a refusal changes nothing):
         * the page cache then reads the file in 2 MiB folios, mapped by one page-table
         * entry each. Decode streams every weight once per token, and with 4 KiB entries
         * it missed the TLB every 4 KiB, a page walk that the hardware prefetcher, which
         * stops at page boundaries, does not hide (README, Speed). */
#ifdef MADV_HUGEPAGE
        (void)madvise(p, (size_t)mf->size, MADV_HUGEPAGE);
#endif
    }
    close(fd);
    mf->path = g4_strdup(path);
    if (!mf->path) {
        mapfile_close(mf);
        return g4_fail(err, G4_ERR_NOMEM, "%s: out of memory", path);
    }
    return G4_OK;
}

void mapfile_close(mapfile *mf) {
    if (mf->data) munmap((void *)mf->data, (size_t)mf->size);
    free(mf->path);
    memset(mf, 0, sizeof *mf);
}

g4_status read_text_file(const char *path, uint64_t max_bytes, char **out, g4_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return g4_fail(err, G4_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) { fclose(f); return g4_fail(err, G4_ERR_NOMEM, "%s: out of memory", path); }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(f);
                return g4_fail(err, G4_ERR_FORMAT, "%s: larger than %llu bytes", path,
                               (unsigned long long)max_bytes);
            }
            size_t nc = cap * 2;
            char *nb = realloc(buf, nc);
            if (!nb) { free(buf); fclose(f); return g4_fail(err, G4_ERR_NOMEM, "%s: out of memory", path); }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return g4_fail(err, G4_ERR_IO, "%s: read error", path); }
    buf[n] = 0;
    *out = buf;
    return G4_OK;
}
