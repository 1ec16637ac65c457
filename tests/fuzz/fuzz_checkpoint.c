/* libFuzzer target: model folders (src/prior/checkpoint.c): config.json and
 * model.safetensors. Input: CONFIG.JSON %% MODEL.SAFETENSORS (see fuzz.h).
 * A model that loads is saved and loaded again: the copy must be bit-identical. */
#include "fuzz.h"
#include "posterior/prior.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_parts p = fuzz_split(data, size);
    fuzz_part_file(&p, 0, "config.json");
    fuzz_part_file(&p, 1, "model.safetensors");
    pst_gpt2 m, again;
    pst_error err;
    if (pst_gpt2_load(&m, fuzz_dir(), &err) == 0) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s/copy", fuzz_dir());
        if (pst_gpt2_save(&m, copy, &err) || pst_gpt2_load(&again, copy, &err) ||
            pst_gpt2_checksum(&again) != pst_gpt2_checksum(&m)) {
            fprintf(stderr, "saved model does not load back the same: %s\n", err.msg);
            abort();
        }
        pst_gpt2_free(&again);
        pst_gpt2_free(&m);
    } else
        fuzz_note("load", err.msg);
    return 0;
}
