/* safetensors.h - Hugging Face safetensors checkpoints: one file or a sharded set with
 * model.safetensors.index.json. Each file is mapped; the JSON header is parsed with cJSON
 * and every entry is checked (dtype, shape, byte range inside the file, size matching the
 * shape) before it enters the tensor table. */
#ifndef G4_SAFETENSORS_H
#define G4_SAFETENSORS_H

#include "mapfile.h"
#include "tensor_dir.h"

#define ST_MAX_SHARDS 256

typedef struct st_checkpoint {
    mapfile files[ST_MAX_SHARDS];
    int n_files;
    tensor_dir tensors;
} st_checkpoint;

/* Opens DIR/model.safetensors, or the shards listed by DIR/model.safetensors.index.json. */
g4_status st_open_dir(st_checkpoint *c, const char *dir, g4_error *err);
void st_close(st_checkpoint *c);

/* Adds the tensors of one safetensors image (already in memory) to dir. name is used in
 * messages and stored in the entries; it must outlive dir. Entries whose dtype g4 does
 * not compute with get type -1. */
g4_status st_parse(tensor_dir *dir, const uint8_t *data, uint64_t size, const char *name,
                   g4_error *err);

#endif
