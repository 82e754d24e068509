/* test_dtype.c - storage types against the known answers of quant-formats.md: fp16 and
 * bf16 conversions, Q4_0 / Q8_0 blocks byte for byte (§12.1), the layout probes (§11)
 * and SHA-256 hashes of a 16384-value tensor (§12.3) quantized and dequantized. Exact
 * equality everywhere: these are the formats llama.cpp reads, so "close" is wrong. */
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

/* §12.3 generator: 8 rows x 2048 columns. */
static void hash_input(float *x) {
    uint32_t s = 0x12345678u;
#define NEXT() (s = s * 1664525u + 1013904223u)
#define R24() ((int32_t)(NEXT() >> 8) - 8388608)
    for (int i = 0; i < 16384; i++) {
        int32_t a = R24();
        a += R24();
        a += R24();
        a += R24();
        float v = (float)a * 0x1p-27f;
        if (i % 97 == 0) v = v * 8;
        if ((i / 32) % 7 == 2) v = fabsf(v) + 0x1p-8f;
        if ((i / 32) % 29 == 3) v = 0;
        x[i] = v;
    }
#undef NEXT
#undef R24
}

static void test_hashes(void) {
    static float x[16384], y[16384];
    static uint8_t q[16384 * 4];
    char h[65];
    hash_input(x);
    test_sha256(x, sizeof x, h);
    if (!h[0]) { SKIP("sha256sum not available"); return; }
    CHECK_MSG(!strcmp(h, "0e688bddc03a7b21ecfc26a9dcf11ce33def73476cb4b5de962353ca48a1da33"), "generator input %s", h);
    static const struct { int32_t type; const char *qhash, *dqhash; } cases[] = {
        {G4_DTYPE_F16, "b1b1a7b5652b3fa7a8da0ad60be45067ce17347d150093dfed07526141b7a1e4", NULL},
        {G4_DTYPE_BF16, "30b1d0902a4068f2cae47f9fcd5d1a6b1f5edeb20bb9115d28fd9d867942507a", NULL},
        {G4_DTYPE_Q4_0, "d2eed2a203237fcc9349db424e6c20abffb5b81354604837550c834c153da879",
         "1b2aa381b68f1f6ac9ec2961d590039bec5fe9a0c640d80dce37c15838b9fbe9"},
        {G4_DTYPE_Q8_0, "a718d7ddab21359bbc491e0bb324ddcf970b1f16657dd1bcaf91a80a7de2f6a7",
         "60d2dd29c7c286116671a46e5227de65caf98362963a59d49da1a3645265c043"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t rb = 0;
        CHECK(dtype_row_bytes(cases[c].type, 2048, &rb));
        for (int r = 0; r < 8; r++) quantize_row(cases[c].type, x + r * 2048, q + r * rb, 2048);
        test_sha256(q, rb * 8, h);
        CHECK_MSG(!strcmp(h, cases[c].qhash), "%s quantized hash %s", g4_dtype_name(cases[c].type), h);
        if (!cases[c].dqhash) continue;
        for (int r = 0; r < 8; r++) dequantize_row(cases[c].type, q + r * rb, y + r * 2048, 2048);
        test_sha256(y, sizeof y, h);
        CHECK_MSG(!strcmp(h, cases[c].dqhash), "%s dequantized hash %s", g4_dtype_name(cases[c].type), h);
    }
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
    test_hashes();
    test_traits();
    return test_report("test_dtype");
}
