/* sampling_defaults.h - a checkpoint's recommended sampling settings (see the .c file). */
#ifndef G4_SAMPLING_DEFAULTS_H
#define G4_SAMPLING_DEFAULTS_H

#include "model.h"

enum { SAMPLING_TEMP = 1, SAMPLING_TOP_K = 2, SAMPLING_TOP_P = 4, SAMPLING_MIN_P = 8, SAMPLING_REPEAT = 16 };

/* Overwrites the fields of *sp the checkpoint states; returns which (SAMPLING_* bits). */
unsigned sampling_defaults_read(const g4_model *m, g4_sampler_params *sp);
/* Writes the general.sampling.* keys for what the source checkpoint states. */
bool sampling_defaults_write(gguf_writer *w, const g4_model *m);

#endif
