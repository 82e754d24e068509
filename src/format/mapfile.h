/* mapfile.h - read-only memory mapping of whole files. Weights are never copied: every
 * tensor the model uses is a pointer into one of these mappings. */
#ifndef G4_MAPFILE_H
#define G4_MAPFILE_H

#include "../base.h"

typedef struct mapfile {
    char *path;          /* owned copy, for messages */
    const uint8_t *data; /* NULL for an empty file */
    uint64_t size;
} mapfile;

/* Maps path read-only. On failure *mf is zeroed and err names the file. */
g4_status mapfile_open(mapfile *mf, const char *path, g4_error *err);
void mapfile_close(mapfile *mf);

/* Reads a whole (small) text file into a NUL-terminated buffer (allocates, caller frees).
 * Files larger than max_bytes are refused. */
g4_status read_text_file(const char *path, uint64_t max_bytes, char **out, g4_error *err);

#endif
