/* test_dtype.c - storage types against the known answers of quant-formats.md: fp16 and
 * bf16 conversions, Q4_0 / Q8_0 blocks byte for byte (§12.1) and the layout probes (§11).
 * The whole-tensor hashes of §12.3, for every type, are in test_quants.c. Exact equality
 * everywhere: these are the formats llama.cpp reads, so "close" is wrong. */
#include "dtype.h"
#include "test.h"

#include <stdint.h>

static void test_fp16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_f32((uint16_t)h);
        if (f != f) continue; /* NaN payloads are not preserved by design */
        if (f32_to_fp16(f) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);
    CHECK(f32_to_fp16(65520.0f) == 0x7c00);       /* the tie rounds to even: Inf */
    CHECK(f32_to_fp16(65519.0f) == 0x7bff);
    CHECK(f32_to_fp16(-0.0f) == 0x8000);
    CHECK(f32_to_fp16(NAN) == 0x7e00);
    CHECK(f32_to_fp16(0x1p-24f) == 0x0001);       /* smallest subnormal */
    CHECK(f32_to_fp16(0x1p-25f) == 0x0000);       /* tie to even: zero */
    CHECK(f32_to_fp16(0x1.8p-25f) == 0x0001);
    CHECK(f32_to_fp16(1.0f + 0x1p-11f) == 0x3c00); /* tie to even */
    CHECK(f32_to_fp16(1.0f + 0x1.8p-10f) == 0x3c02); /* 1.5 ulp: tie to even */
    CHECK(f32_to_fp16(1.0f + 0x1.8p-11f) == 0x3c01); /* 0.75 ulp */
    CHECK(fp16_to_f32(0x3c00) == 1.0f && fp16_to_f32(0xc000) == -2.0f && fp16_to_f32(0x7bff) == 65504.0f);
}

static void test_bf16(void) {
    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);          /* tie to even */
    CHECK(f32_to_bf16(1.0f + 0x1.8p-7f) == 0x3f82);
    CHECK(f32_to_bf16(1.0f + 0x1.8p-8f) == 0x3f81);
    CHECK(f32_to_bf16(NAN) == (uint16_t)((0x7fc00000u >> 16) | 0x40));
    CHECK(bf16_to_f32(0x4049) == 3.140625f);
}

static void known_block(float *x) {
    for (int i = 0; i < 32; i++) x[i] = (float)(((11 * i) % 32) - 14) / 16.0f;
}

static void test_blocks(void) {
    float x[32], y[32];
    char h[200];
    known_block(x);
    block_q4_0 q4;
    quantize_row(G4_DTYPE_Q4_0, x, &q4, 32);
    test_hex(&q4, sizeof q4, h);
    CHECK_MSG(!strcmp(h, "40b07f29c47e19b46e18b36d08a35d08a25c"), "Q4_0 block %s", h);
    dequantize_row(G4_DTYPE_Q4_0, &q4, y, 32);
    CHECK(y[0] == -0.9296875f && y[16] == 0.1328125f && y[29] == 1.0625f);
    block_q8_0 q8;
    quantize_row(G4_DTYPE_Q8_0, x, &q8, 32);
    test_hex(&q8, sizeof q8, h);
    CHECK_MSG(!strcmp(h, "492097ea3c9ff143a6f94bae0052b5075abd0f61c41669cc1e70d32578db2d7fe234"), "Q8_0 block %s", h);
    dequantize_row(G4_DTYPE_Q8_0, &q8, y, 32);
    CHECK(y[0] == -0.878791809f && y[29] == 1.06291962f);

    float z[32] = {0};
    quantize_row(G4_DTYPE_Q4_0, z, &q4, 32);
    test_hex(&q4, sizeof q4, h);
    CHECK_MSG(!strcmp(h, "008088888888888888888888888888888888"), "Q4_0 zero block %s", h);
    quantize_row(G4_DTYPE_Q8_0, z, &q8, 32);
    uint8_t zeros[34] = {0};
    CHECK(!memcmp(&q8, zeros, 34));

    /* layout probes (§11): bytes (7k+3) mod 256, scale forced to 1.0 */
    uint8_t raw[34];
    for (int k = 0; k < 34; k++) raw[k] = (uint8_t)((7 * k + 3) % 256);
    raw[0] = 0x00; raw[1] = 0x3c;
    dequantize_row(G4_DTYPE_Q4_0, raw, y, 32);
    CHECK(y[0] == -7 && y[1] == 0 && y[7] == -6 && y[15] == 2 && y[16] == -7 && y[17] == -7 && y[30] == -1 && y[31] == -1);
    dequantize_row(G4_DTYPE_Q8_0, raw, y, 32);
    CHECK(y[0] == 17 && y[1] == 24 && y[7] == 66 && y[15] == 122 && y[16] == -127 && y[17] == -120 && y[30] == -29 && y[31] == -22);
}

static void test_traits(void) {
    uint64_t n;
    CHECK(dtype_row_bytes(G4_DTYPE_Q4_0, 64, &n) && n == 36);
    CHECK(!dtype_row_bytes(G4_DTYPE_Q4_0, 33, &n));
    CHECK(dtype_row_bytes(12 /* Q4_K */, 256, &n) && n == 144);
    CHECK(dtype_get(4) == NULL && dtype_get(-1) == NULL && dtype_get(1000) == NULL);
    CHECK(!strcmp(g4_dtype_name(G4_DTYPE_BF16), "BF16"));
}

int main(void) {
    test_fp16();
    test_bf16();
    test_blocks();
    test_traits();
    return test_report("test_dtype");
}
