/* test_quants.c - the block formats of src/quant/ against the known answers of
 * shared/design/quant-formats.md (llama.cpp de3ff81): the layout probes of §11, the
 * worked blocks and super-blocks of §12.1-12.2, the whole-tensor SHA-256 hashes of §12.3
 * (quantized with and without an importance matrix, and dequantized), and the edge cases
 * of §13. Then properties no table covers: exhaustive dequantization over every nibble
 * or byte value and every fp16 scale, exact reproduction of representable blocks,
 * round-trip error bounds on random data, robustness on hostile inputs, and the
 * tensor-type rules of llama.cpp's quantize tool (§10).
 *
 * Exact equality everywhere a format is involved: these are the bytes llama.cpp reads
 * and writes, so "close" is wrong. Tolerances appear only in the error-bound tests. */
#include "dtype.h"
#include "quant/quant.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

/* ---- Helpers ----------------------------------------------------------------------- */

static size_t row_bytes(int32_t type, int64_t n) {
    uint64_t b = 0;
    if (!dtype_row_bytes(type, n, &b)) return 0;
    return (size_t)b;
}

/* Same value and, for zeros, the same sign (§1.1: the sign of a zero is part of the
 * documented product order). */
static bool same_float(float a, float b) { return a == b && signbit(a) == signbit(b); }

/* xorshift64: deterministic test data */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float unif(void) { return (float)((double)(rnd() >> 11) * 0x1p-53); }
static float gauss(void) {
    float u = unif() + 1e-12f, v = unif();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

/* Every type this file covers, with its name for messages. */
static const int32_t all_types[] = {
    QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q8_0, QT_Q8_1, QT_Q2_K, QT_Q3_K, QT_Q4_K,
    QT_Q5_K, QT_Q6_K, QT_Q8_K, QT_IQ4_NL, QT_IQ4_XS, QT_MXFP4,
};

/* ---- §11: dequantization probes ---------------------------------------------------- */

typedef struct { int e; float v; } probe;

/* Fills a block with bytes (7k+3) mod 256, writes the given little-endian scale bytes at
 * their offsets, dequantizes, and compares the probes. */
static void check_probes(int32_t type, const int *off, const uint8_t (*val)[2], int n_fields,
                         const probe *p, int n_probes) {
    const dtype_traits *tr = dtype_get(type);
    uint8_t raw[292];
    float y[256];
    for (int k = 0; k < tr->block_bytes; k++) raw[k] = (uint8_t)((7 * k + 3) % 256);
    for (int f = 0; f < n_fields; f++) {
        raw[off[f]] = val[f][0];
        if (val[f][1] != 0xff) raw[off[f] + 1] = val[f][1];
    }
    dequantize_row(type, raw, y, tr->block);
    int bad = 0;
    for (int i = 0; i < n_probes; i++)
        if (!same_float(y[p[i].e], p[i].v)) {
            if (bad++ < 3) fprintf(stderr, "  %s probe [%d] = %.9g, expected %.9g\n", tr->name, p[i].e, y[p[i].e], p[i].v);
        }
    CHECK_MSG(bad == 0, "%s: %d layout probes differ (§11)", tr->name, bad);
}

static void test_probes(void) {
    /* scale fields: d = 1.0 (00 3c), m/dmin = 0.5 (00 38); 0xff in [1] = one-byte field */
    static const uint8_t d1[1][2] = {{0x00, 0x3c}}, dm[2][2] = {{0x00, 0x3c}, {0x00, 0x38}}, e127[1][2] = {{127, 0xff}};
#define PROBES(...) (const probe[]){__VA_ARGS__}, (int)(sizeof((const probe[]){__VA_ARGS__}) / sizeof(probe))
    check_probes(QT_Q4_0, (const int[]){0}, d1, 1, PROBES({0, -7}, {1, 0}, {7, -6}, {15, 2}, {16, -7}, {17, -7}, {30, -1}, {31, -1}));
    check_probes(QT_Q4_1, (const int[]){0, 2}, dm, 2, PROBES({0, 15.5f}, {1, 6.5f}, {7, 0.5f}, {15, 8.5f}, {16, 1.5f}, {17, 2.5f}, {30, 8.5f}, {31, 8.5f}));
    check_probes(QT_Q5_0, (const int[]){0}, d1, 1, PROBES({0, 13}, {1, -12}, {7, -2}, {15, -10}, {16, 2}, {17, 3}, {30, -8}, {31, -7}));
    check_probes(QT_Q5_1, (const int[]){0, 2}, dm, 2, PROBES({0, 27.5f}, {1, 18.5f}, {7, 12.5f}, {15, 4.5f}, {16, 19.5f}, {17, 4.5f}, {30, 9.5f}, {31, 10.5f}));
    check_probes(QT_Q8_0, (const int[]){0}, d1, 1, PROBES({0, 17}, {1, 24}, {7, 66}, {15, 122}, {16, -127}, {17, -120}, {30, -29}, {31, -22}));
    check_probes(QT_IQ4_NL, (const int[]){0}, d1, 1, PROBES({0, -104}, {1, 1}, {7, -83}, {15, 25}, {16, -104}, {17, -104}, {30, -10}, {31, -10}));
    check_probes(QT_MXFP4, (const int[]){0}, e127, 1, PROBES({0, -1}, {1, 0.5f}, {7, -1.5f}, {15, 1.5f}, {16, 0}, {17, 0.5f}, {30, 4}, {31, 6}));
    check_probes(QT_Q2_K, (const int[]){80, 82}, dm, 2,
                 PROBES({0, 9}, {1, 6}, {15, 0}, {16, 30}, {31, 0}, {32, -0.5f}, {33, 1.5f}, {63, 23.5f}, {64, 44.5f}, {95, -1}, {96, 12},
                        {127, 2.5f}, {128, 31.5f}, {129, 20.5f}, {159, -2}, {160, -2}, {191, -2.5f}, {192, 4.5f}, {223, 25.5f}, {224, 2}, {254, -3}, {255, -3}));
    check_probes(QT_Q3_K, (const int[]){108}, d1, 1,
                 PROBES({0, 57}, {1, -38}, {15, -76}, {16, 30}, {31, -40}, {32, -0.0f}, {33, -30}, {63, 24}, {64, -30}, {95, -78}, {96, -13},
                        {127, -56}, {128, 6}, {129, 12}, {159, 0}, {160, -44}, {191, -27}, {192, -108}, {223, 28}, {224, -28}, {254, 58}, {255, 58}));
    check_probes(QT_Q4_K, (const int[]){0, 2}, dm, 2,
                 PROBES({0, 63.5f}, {1, 280.5f}, {15, 342.5f}, {16, 63.5f}, {31, 342.5f}, {32, 265}, {33, 265}, {63, 151}, {64, 130.5f}, {95, 535.5f},
                        {96, 252}, {127, 96}, {128, 18.5f}, {129, 67.5f}, {159, 81.5f}, {160, 31.5f}, {191, -10.5f}, {192, 4}, {223, 49}, {224, 1}, {254, 157}, {255, 157}));
    check_probes(QT_Q5_K, (const int[]){0, 2}, dm, 2,
                 PROBES({0, 559.5f}, {1, 280.5f}, {15, 342.5f}, {16, 559.5f}, {31, 342.5f}, {32, 797}, {33, 797}, {63, 75}, {64, 130.5f}, {95, 1255.5f},
                        {96, 148}, {127, 824}, {128, 130.5f}, {129, 179.5f}, {159, 81.5f}, {160, 227.5f}, {191, 185.5f}, {192, 84}, {223, 129}, {224, 169},
                        {254, 133}, {255, 133}));
    check_probes(QT_Q6_K, (const int[]){208}, d1, 1,
                 PROBES({0, 1273}, {1, 670}, {15, -1340}, {16, 1406}, {31, -1480}, {32, -2349}, {33, 810}, {63, 2464}, {64, -3040}, {95, -306},
                        {96, 1526}, {127, -580}, {128, 2337}, {129, 1230}, {159, 2520}, {160, 3451}, {191, -3136}, {192, -1260}, {223, -2450}, {224, 546},
                        {254, 2100}, {255, 2100}));
    check_probes(QT_IQ4_XS, (const int[]){0}, d1, 1,
                 PROBES({0, -38}, {1, 83}, {15, 49}, {16, 65}, {31, -25}, {32, -1178}, {33, 2573}, {63, 3224}, {64, -380}, {95, -10}, {96, -1140},
                        {127, -3390}, {128, -722}, {129, 1577}, {159, 418}, {160, 76}, {191, 138}, {192, -456}, {223, 588}, {224, -1102}, {254, -725},
                        {255, -1102}));
#undef PROBES
}

/* ---- §12.1: one 32-value block in every 32-element type ---------------------------- */

static void block32_input(float *x) {
    for (int i = 0; i < 32; i++) x[i] = (float)(((11 * i) % 32) - 14) / 16.0f;
}

static void test_block32(void) {
    static const struct {
        int32_t type;
        bool ref;          /* iq4_nl_quantize_row_ref instead of the tool's quantizer */
        const char *hex;
        float y0, y1, y16, y29;
    } cases[] = {
        {QT_Q4_0, false, "40b07f29c47e19b46e18b36d08a35d08a25c", -0.9296875f, NAN, 0.1328125f, 1.0625f},
        {QT_Q4_1, false, "223000bb80d53b80e63b91e64c91f74ca2f75da2", -0.875f, -0.229248047f, 0.158203125f, 1.06225586f},
        {QT_Q5_0, false, "40acdb962449ed4388dc3278cb2167ba1056a90f4598", -0.86328125f, -0.19921875f, 0.1328125f, 1.0625f},
        {QT_Q5_1, false, "002c00bb2449dbb600bb6611cc7722dd8833ee9944ffaa55", -0.875f, -0.1875f, 0.125f, 1.0625f},
        {QT_Q8_0, false, "492097ea3c9ff143a6f94bae0052b5075abd0f61c41669cc1e70d32578db2d7fe234", -0.878791809f, -0.184127808f, 0.125541687f, 1.06291962f},
        {QT_Q8_1, false, "4920024297ea3c9ff143a6f94bae0052b5075abd0f61c41669cc1e70d32578db2d7fe234", -0.878791809f, -0.184127808f, 0.125541687f, 1.06291962f},
        {QT_IQ4_NL, false, "08a07f1ad36f19c35e09c25e08b24e07b14d", -0.889709473f, -0.196838379f, 0.0787353516f, 0.999938965f},
        {QT_IQ4_NL, true, "3ea07f1ac36e19c35e19b25e08b24d07a24d", -0.936264038f, -0.207138062f, 0.0828552246f, 1.05226135f},
        {QT_MXFP4, false, "7d1d59c41d59b42d60b42d60a53c60a53c", -0.75f, -0.125f, 0.125f, 1.0f},
    };
    float x[32], y[32];
    uint8_t q[64];
    char h[160];
    block32_input(x);
    for (size_t c = 0; c < G4_ARRAY_LEN(cases); c++) {
        const dtype_traits *tr = dtype_get(cases[c].type);
        if (cases[c].ref) iq4_nl_quantize_row_ref(x, q, 32);
        else quantize_row(cases[c].type, x, q, 32);
        test_hex(q, (size_t)tr->block_bytes, h);
        CHECK_MSG(!strcmp(h, cases[c].hex), "%s%s block %s (§12.1)", tr->name, cases[c].ref ? " ref" : "", h);
        dequantize_row(cases[c].type, q, y, 32);
        CHECK_MSG(y[0] == cases[c].y0 && (isnan(cases[c].y1) || y[1] == cases[c].y1) && y[16] == cases[c].y16 &&
                      y[29] == cases[c].y29,
                  "%s dequantized %.9g %.9g %.9g %.9g", tr->name, y[0], y[1], y[16], y[29]);
    }
    /* Q5_1: the values sit on its 31-step grid, so the block reproduces the input */
    quantize_row(QT_Q5_1, x, q, 32);
    dequantize_row(QT_Q5_1, q, y, 32);
    CHECK(!memcmp(x, y, sizeof x));
    /* Q8_1's s field: fp16(sum(qs) * d) = 0x4202 = 3.00390625 */
    quantize_row(QT_Q8_1, x, q, 32);
    block_q8_1 b8;
    memcpy(&b8, q, sizeof b8);
    CHECK(b8.s == 0x4202 && fp16_to_f32(b8.s) == 3.00390625f);
}

/* ---- §12.1: zero blocks ------------------------------------------------------------ */

static void test_zero_blocks(void) {
    static const float z[256] = {0};
    uint8_t q[292];
    char h[600], want[600];
    for (size_t t = 0; t < G4_ARRAY_LEN(all_types); t++) {
        int32_t type = all_types[t];
        const dtype_traits *tr = dtype_get(type);
        memset(q, 0xA5, sizeof q); /* catch bytes left unwritten */
        quantize_row(type, z, q, tr->block);
        test_hex(q, (size_t)tr->block_bytes, h);
        /* default: all zero bytes (Q4_1, Q5_1, Q8_0, Q8_1, MXFP4 and the K-quants; Q8_K
         * with bsums zeroed where llama.cpp leaves them unwritten, §13) */
        memset(want, '0', 2 * (size_t)tr->block_bytes);
        want[2 * tr->block_bytes] = 0;
        if (type == QT_Q4_0 || type == QT_IQ4_NL) { /* d = -0.0 (Q4_0) or 0, every index 8 */
            for (int i = 4; i < 2 * tr->block_bytes; i++) want[i] = '8';
            if (type == QT_Q4_0) memcpy(want, "0080", 4);
        } else if (type == QT_Q5_0) {
            memcpy(want, "0080ffffffff", 12);
        } else if (type == QT_IQ4_XS) {
            memcpy(want, "0080aaaa00000000", 16);
            for (int i = 16; i < 2 * tr->block_bytes; i++) want[i] = '8';
        }
        CHECK_MSG(!strcmp(h, want), "%s zero block %s (§12.1)", tr->name, h);
    }
}

/* ---- §12.2: one 256-value super-block in every K-type ------------------------------ */

static void block256_input(float *x) {
    for (int i = 0; i < 256; i++) x[i] = (float)(((37 * i + 11) % 256) - 96) * (float)(1 + i / 32) / 256.0f;
}

static void test_block256(void) {
    static const struct {
        int32_t type;
        const char *hex;
        float probes[8]; /* y[0], y[1], y[16], y[31], y[32], y[127], y[128], y[255] */
        float sum;
    } cases[] = {
        {QT_Q2_K,
         "222234346656786779a9bbabbdadceffd8196d62728697d8196d62768797d8196d62b687c7d8196d62b687cbd819616262b687dbdc2d6176b68bdb1c2d6176b687d"
         "8191d6266b78bd81d6d62b6b7cbd800311132",
         {-0.379150391f, -0.0666503906f, -0.0666503906f, 0.245849609f, 0.681274414f, -0.0437011719f, 1.48547363f, 4.18762207f}, 160.234375f},
        {QT_Q3_K,
         "a529494a5296b4a529494ad296b4a529495ad296b42529495ad296a425294b5a1bb6601bc6b16c1bb5601bc6b16c0bb5601bc6b15c0ab56017c6a15c0ab568171bc2"
         "ad5806716c1bc2ad5886712c17c26c1bc6b168d6816c1bc6b12bd6816c1bdd1cd9b877660271051505051a29",
         {-0.358703613f, -0.239135742f, -0.0f, 0.159423828f, 0.557983398f, -0.0f, 0.757263184f, 3.9855957f}, 141.727783f},
        {QT_Q4_K,
         "3e20b1298791d5dd879297dcabb9d2ffa0c2e5274a6c8fa0c2e5274a6c8fa0c3e5284a6d8fa0c3e5284a6d8fb0d30528e407295c7ea0c2e5073a5c7fa0c2f5073a5c"
         "8fa0c3f5183a5d8fa0d3f5183a6d285a7caec2f406285a7caec2f406285a7ca0d2f406385a8ca0d2f406385a8ca06c8ea0d2f5274a6c8fb0d305274a6c9fb0d30528"
         "4a7c9fb0d305285a7d9fb1d3",
         {-0.311248779f, -0.195251465f, -0.0212554932f, 0.152740479f, 0.608184814f, 0.196685791f, 0.982727051f, 3.98460388f}, 145.314133f},
        {QT_Q5_K,
         "261ce8298790d5dd879097db87cac2ff5ad296b4a5294b5ad296b425294b5ad6b6a52d694b5ad6b6a52d694b5ad6b4a54095da3f74c90e5095ea3f84ca1f51a6eb40"
         "85da1f61a6eb4085da1f61a60c41da0f54a9fe4095da0f54a9fe4095ea1065ba0f4196eb1065ba0f51a6fb2065bb51a6fa4f94e80d51a6fb4f94f90d52b60b50a4f9"
         "1e62b70b50a5f91e62b70c61d81d60a5fa4f94d92e60b50a4f94d92e71b60b5095ea2f71b61b50a5ea3f72c7",
         {-0.322998047f, -0.18120575f, -0.0110549927f, 0.159095764f, 0.558105469f, 0.0464859009f, 0.840248108f, 4.23934937f}, 145.465576f},
        {QT_Q6_K,
         "54cb33aa0179e043ba22990168d042ba21a91149b130a820981039b120a810882029911f971f971018901e960f870f07810d850e871ff870fc850d860ee773fc9710"
         "08810d860e971ff8700d850e860fe178ff750c831ad167ee75fc8209d056ed64fb720ac155dc63ea7239c044db52aa226ad242ba22a91159c131b921990127d29289"
         "49742427d2928949742423d292894974242392924949742423929e494949342422929d49482424e2929d49482427d2929d49482427d2928d49482427f2f1e1e0d9d6"
         "c5c3b0bfaea896918093f414",
         {-0.338592529f, -0.186225891f, -0.0181388855f, 0.145111084f, 0.59979248f, 0.073764801f, 0.870666504f, 4.21789551f}, 144.929695f},
        {QT_IQ4_XS,
         "fa1456008416bd0683a5c7eafc3e5f83a5c7eafc3e5f83a503c2a07c5a381503c2a07c5a3715d3c14a2704e2c09e6c391604e2b09e6c3916b08d5b381603c2a08d5b"
         "381503c2a07d15e3c1907c4a2715d3c1907c4a2715d36c392604d2b08e6c391604d2b08d5b39c2a08d5b381503c1a07d5a381503c1a03715d3b1906c492715d3b19d"
         "6c492714",
         {-0.315895081f, -0.170097351f, 0.00485992432f, 0.121498108f, 0.631790161f, 0.182247162f, 0.807962418f, 4.04345703f}, 145.292297f},
    };
    static const int at[8] = {0, 1, 16, 31, 32, 127, 128, 255};
    float x[256], y[256];
    uint8_t q[300];
    char h[700];
    block256_input(x);
    CHECK(x[0] == -0.33203125f && x[1] == -0.1875f && x[4] == 0.24609375f);
    for (size_t c = 0; c < G4_ARRAY_LEN(cases); c++) {
        const dtype_traits *tr = dtype_get(cases[c].type);
        quantize_row(cases[c].type, x, q, 256);
        test_hex(q, (size_t)tr->block_bytes, h);
        CHECK_MSG(!strcmp(h, cases[c].hex), "%s super-block %s (§12.2)", tr->name, h);
        dequantize_row(cases[c].type, q, y, 256);
        int bad = 0;
        for (int k = 0; k < 8; k++) bad += !same_float(y[at[k]], cases[c].probes[k]);
        float sum = 0.0f;
        for (int e = 0; e < 256; e++) sum += y[e];
        CHECK_MSG(bad == 0, "%s: %d super-block probes differ (§12.2)", tr->name, bad);
        /* the sum is printed to 9 digits in §12.2: agree to that precision */
        CHECK_MSG(fabsf(sum - cases[c].sum) <= 1e-6f * fabsf(cases[c].sum), "%s sum %.9g", tr->name, sum);
    }
    /* Q8_K: d = -4.96875/127 (bytes 81 40 20 bd), negative because the signed max
     * x[228] = 4.96875 is positive; then qs and bsums */
    block_q8_K k8;
    quantize_row(QT_Q8_K, x, &k8, 256);
    test_hex(&k8, 4, h);
    CHECK_MSG(!strcmp(h, "814020bd"), "Q8_K d %s", h);
    test_hex(k8.qs, 8, h);
    CHECK_MSG(!strcmp(h, "080501fdfaf6f208"), "Q8_K qs %s", h);
    test_hex(&k8.bsums[14], 4, h);
    CHECK_MSG(!strcmp(h, "61fe61fe"), "Q8_K bsums %s", h);
    int bs_bad = 0;
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int i = 0; i < 16; i++) s += k8.qs[16 * g + i];
        bs_bad += s != k8.bsums[g];
    }
    CHECK(bs_bad == 0);
    dequantize_row(QT_Q8_K, &k8, y, 256);
    static const float k8p[8] = {-0.312992126f, -0.195620075f, -0.0f, 0.156496063f, 0.58686024f, 0.0782480314f, 0.821604311f, 4.18626976f};
    int bad = 0;
    for (int k = 0; k < 8; k++) bad += !same_float(y[at[k]], k8p[k]);
    CHECK_MSG(bad == 0, "Q8_K: %d probes differ", bad);
    CHECK(k8.qs[228] == -127);
}

/* ---- §12.3: whole-tensor hashes ---------------------------------------------------- */

/* The §12.3 generator: 8 rows x 2048 columns. */
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
    static float x[16384], y[16384], qw[2048];
    static uint8_t q[16384 * 4];
    char h[65];
    hash_input(x);
    test_sha256(x, sizeof x, h);
    if (!h[0]) { SKIP("sha256sum not available"); return; }
    CHECK_MSG(!strcmp(h, "0e688bddc03a7b21ecfc26a9dcf11ce33def73476cb4b5de962353ca48a1da33"), "generator input %s", h);
    for (int c = 0; c < 2048; c++) qw[c] = 1.0f + (float)(c % 7) * 0.25f;
    static const struct {
        int32_t type;
        const char *qhash, *imhash, *dqhash;
        float rms; /* RMS error against the input, as §12.3 lists it (3 digits) */
    } cases[] = {
        {QT_F16, "b1b1a7b5652b3fa7a8da0ad60be45067ce17347d150093dfed07526141b7a1e4", NULL, NULL, 0},
        {QT_BF16, "30b1d0902a4068f2cae47f9fcd5d1a6b1f5edeb20bb9115d28fd9d867942507a", NULL, NULL, 0},
        {QT_Q4_0, "d2eed2a203237fcc9349db424e6c20abffb5b81354604837550c834c153da879",
         "c6d5ef76b5ede3e08fa3d13e1c2ebbb3ae05f8bcf7f9db2a472b694bbefe0fd7",
         "1b2aa381b68f1f6ac9ec2961d590039bec5fe9a0c640d80dce37c15838b9fbe9", 0.0120f},
        {QT_Q4_1, "821ecbb3f762bdc2736bb33ff84fb22f4bc83b791769ca3861306881ff8a0491",
         "f9f67a37541fe12f9298e36b3b3ebe787270ce6188175fa7376eed592df0bece",
         "db712c385a63d6d7b2a45a0b14f25562551998d99833f0fa88811698b7074805", 0},
        {QT_Q5_0, "25a9c853b0135eb1a900a13335887f4ee1ab51d300a5648f7323710ad1e456ba",
         "5fcb27807ac416350a88a8f6036447c95540f52a38db0ce10fecc72911f89c29",
         "8e9e0f9ac7a9f0e8a7f87012fb9d87cd596fae414096ad48aae6dfb0a52b5635", 0},
        {QT_Q5_1, "dd7e6901f8133d6a6288b4ec74d8e0b520c817d56dcb425b7d6b942cb01f7203",
         "e29502d8ff69ef3fdca8c97a4408deaed0cd5c6ca453ba70cc32167eb63480be",
         "90f90929101b3250ac22b1ac51b5ade7a0f06fa7576e94a675b2e4b3c751a76b", 0},
        {QT_Q8_0, "a718d7ddab21359bbc491e0bb324ddcf970b1f16657dd1bcaf91a80a7de2f6a7", NULL,
         "60d2dd29c7c286116671a46e5227de65caf98362963a59d49da1a3645265c043", 0.00075f},
        {QT_Q8_1, "e7212d54a13ccb51aedbcb4bb4d11eda104221286b69af5b89da6601438f8ddd", NULL, NULL, 0},
        {QT_Q2_K, "90617b86113bb4961478b7ee9fa4f9e492219ff51e11008ea587278e9684dc66",
         "fc27110fb840bc1d5eace49e688991f80a6458f00abeb04f2d4901cacd096290",
         "9f5a757b5989fa515ab8d5fe06a205a48574df4a4a6aca1e5475c7ebe574044f", 0.0284f},
        {QT_Q3_K, "4a28d949c2a947bc3aca144452927bbfa1895653647c40bbd9f488164bae4db4",
         "385752939a7b5a1a2a1632e735900a0b86c7a5442935e45eceec357fb565aca9",
         "952fd5a881f1e01381fc3210cb533c958e8fbbb36a583718983f127a6b515456", 0.0172f},
        {QT_Q4_K, "bec5e28c75a9a3b784868dd9db924d55136afd75296d32676675707e63d1d985",
         "a522de572921bbb7abe033d6f4fdfe43b4e41cdb926f289b33cace8673e535b5",
         "0d9ef0b7aa157b06934defa7513392b88231c2dd4c38dd5fcc4ccf96405cb4ad", 0.0076f},
        {QT_Q5_K, "dffcbad980298ec3a64964f3f93be6ebf7d33eb8ce4f878dd9a4f2edadf57b9d",
         "6065af33cc36a9c0fc10c69ae0d537c96d7d06f20764437144317a47057e0045",
         "f4036c291f433329b731d6d2f0b3bd5102c640ca8cbd458021ba63819c76a73f", 0.0038f},
        {QT_Q6_K, "c562f5dd8e805b9e82b6f98956ff1519ba6677c8b0bf138bdaa40ba1e9b56a95",
         "506dd53ebd746a55316aab3594b09f2d267a73c3fa746c0caf29e2c0c5acb23b",
         "dffe321f1dc52f602f973dd622fa4aab55a005e3ad8e8118429f91b3e37447dd", 0.0022f},
        {QT_Q8_K, "38172c317db07992f1a2a7fc01df37a8de4a1218df99b5b8e69767ab2852a091", NULL,
         "58a1f67141c885aa35f1b86088476fd9844e4228b4bfa0fe10ebda522a61f840", 0},
        {QT_IQ4_NL, "65fd36dcd19f09a1856821468ba88b17da2454f422380d1df9c1a130891bbca7",
         "3c221a7c5f74e8820dcab3cdb296cbf7c7079b41a729f293def7630001639630",
         "f1c96d19de5f667f781ffb77f6d10862ebffc4b3271fee2539cd800135abf7ab", 0.0092f},
        {QT_IQ4_XS, "b4b857ce13d179b752cc50ee53b0ceea139177a825296acf2d9a3eefd3b743a4",
         "fbcdcb4ae10dbb16f0d8697d5611cf33d0caeebcb4cb3b5806b3f51e8b12d5a7",
         "e6a8aad9e6e95c7778ba8502f309b98786acf62e468fd70b9557780879a34601", 0.0094f},
        {QT_MXFP4, "7afad326a0eed5c71eb87af21a10845ae25035bcc59db09975cf1ef99d6866aa", NULL,
         "97d994f5f686cb002eaf626425e0b4222e56828fba75223bf06beb693d16e6e3", 0.0127f},
    };
    for (size_t c = 0; c < G4_ARRAY_LEN(cases); c++) {
        int32_t type = cases[c].type;
        const char *name = dtype_get(type)->name;
        size_t rb = row_bytes(type, 2048);
        for (int r = 0; r < 8; r++) quantize_row(type, x + r * 2048, q + r * rb, 2048);
        test_sha256(q, rb * 8, h);
        CHECK_MSG(!strcmp(h, cases[c].qhash), "%s quantized hash %s (§12.3)", name, h);
        if (cases[c].dqhash) {
            for (int r = 0; r < 8; r++) dequantize_row(type, q + r * rb, y + r * 2048, 2048);
            test_sha256(y, sizeof y, h);
            CHECK_MSG(!strcmp(h, cases[c].dqhash), "%s dequantized hash %s (§12.3)", name, h);
            if (cases[c].rms > 0) {
                double se = 0;
                for (int i = 0; i < 16384; i++) se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
                double rms = sqrt(se / 16384);
                /* §12.3 prints 2-3 significant digits: agree to within rounding of those */
                CHECK_MSG(fabs(rms - cases[c].rms) <= 0.05 * cases[c].rms + 5e-5, "%s RMS error %.5f, §12.3 says %.5f", name, rms, cases[c].rms);
            }
        }
        /* with imatrix (types that ignore it must give the no-imatrix bytes) */
        for (int r = 0; r < 8; r++) quantize_row_imatrix(type, x + r * 2048, q + r * rb, 2048, qw);
        test_sha256(q, rb * 8, h);
        const char *want = cases[c].imhash ? cases[c].imhash : cases[c].qhash;
        CHECK_MSG(!strcmp(h, want), "%s imatrix hash %s (§12.3)", name, h);
        CHECK(quant_uses_imatrix(type) == (cases[c].imhash != NULL));
    }
}

/* ---- §13: stale levels in skipped sub-blocks --------------------------------------- */

/* The §12.2 super-block with its first 32 values scaled by 2^-12: those sub-blocks get a
 * 4- or 6-bit scale of 0, so the reference keeps (and stores) the levels its search found.
 * The bytes are llama.cpp's (de3ff81 ggml-quants.c, x86-64, -O2 -ffp-contract=off). */
static void test_stale_levels(void) {
    static const struct { int32_t type; const char *hex; } cases[] = {
        {QT_Q2_K, "000034346656786779a9bbabbdadceffd8186d61728697d8196d62768797d8196d61b686c7d8186d62b686cbd819616262b687dbdc2d6176b68bdb1c2d6176b687"
                  "d8191d6266b78bd81d6d62b6b7cbd800311132"},
        {QT_Q3_K, "a529494a5296b4a529494ad296b4a529495ad296b42529495ad296a425294b5a1ab5601bc6b16c1ab5601bc6b16c0ab5601bc6b15c0ab56017c6a15c0ab568171b"
                  "c2ad5806716c1bc2ad5886712c17c26c1bc6b168d6816c1bc6b12bd6816c1bd010d9b877660271061605051a29"},
        {QT_Q4_K, "3e20b1298091d5dd809297dcabb9d2ffa0c2e5274a6c8fa0c3e5284a6c8fa0c3e5284a6d8fa1c3e5284a6d8fb1d30628e407295c7ea0c2e5073a5c7fa0c2f5073a"
                  "5c8fa0c3f5183a5d8fa0d3f5183a6d285a7caec2f406285a7caec2f406285a7ca0d2f406385a8ca0d2f406385a8ca06c8ea0d2f5274a6c8fb0d305274a6c9fb0d3"
                  "05284a7c9fb0d305285a7d9fb1d3"},
        {QT_Q5_K, "261ce8298090d5dd809097db87cac2ff5ad296b4a5294b5ad296b425294b5ad6b6a52d694b5ad6b6a52d694b5ad6b4a54095da3f74c90e5095ea3f84c91e51a6eb"
                  "4085da1f61a6eb4085da1f62a70c41da0f54a9fe4095da0f54a9fe4095ea1065ba0f4196eb1065ba0f51a6fb2065bb51a6fa4f94e80d51a6fb4f94f90d52b60b50"
                  "a4f91e62b70b50a5f91e62b70c61d81d60a5fa4f94d92e60b50a4f94d92e71b60b5095ea2f71b61b50a5ea3f72c7"},
        {QT_Q6_K, "53cb32aa0279e143ba22990169d042ba21a91149b131a920981038b020a810882029911f971f971018901e960f870f07810d850e871ff870fc850d860ee773fc97"
                  "1008810d860e971ff8700d850e860fe178ff750c831ad167ee75fc8209d056ed64fb720ac155dc63ea7239c044db52aa226ad242ba22a91159c131b921990127d2"
                  "928949742427d2928949742423d292894974242392924949742423929e494949342422929d49482424e2929d49482427d2929d49482427d2928d494824270000e1"
                  "e0d9d6c5c3b0bfaea896918093f414"},
    };
    float x[256], y[256];
    uint8_t q[300];
    char h[700];
    block256_input(x);
    for (int i = 0; i < 32; i++) x[i] *= 0x1p-12f;
    for (size_t c = 0; c < G4_ARRAY_LEN(cases); c++) {
        const dtype_traits *tr = dtype_get(cases[c].type);
        quantize_row(cases[c].type, x, q, 256);
        test_hex(q, (size_t)tr->block_bytes, h);
        CHECK_MSG(!strcmp(h, cases[c].hex), "%s stale-level block %s (§13)", tr->name, h);
        dequantize_row(cases[c].type, q, y, 256);
        bool zero = true;
        for (int e = 0; e < 32; e++) zero = zero && y[e] == 0.0f;
        CHECK_MSG(zero, "%s: the skipped sub-blocks decode to 0", tr->name);
        /* ... while the stored level bits are not all zero */
        if (cases[c].type == QT_Q4_K) {
            block_q4_K b;
            memcpy(&b, q, sizeof b);
            int nz = 0;
            for (int j = 0; j < 32; j++) nz += (b.qs[j] & 15) != 0;
            CHECK_MSG((b.scales[0] & 63) == 0 && nz > 0, "Q4_K stale levels: scale %d, %d non-zero", b.scales[0] & 63, nz);
        }
        if (cases[c].type == QT_Q6_K) {
            block_q6_K b;
            memcpy(&b, q, sizeof b);
            CHECK(b.scales[0] == 0 && b.scales[1] == 0 && (b.ql[0] | b.ql[1] | b.ql[2]) != 0);
        }
    }
}

/* ---- §13 and §14: other edge cases ------------------------------------------------- */

static void test_edges(void) {
    uint8_t q[300], q2[300];
    float x[256], y[256];

    /* Q4_0 rounds half up after the float addition: x*id = 0.49999997 gives t = 9.0 */
    memset(x, 0, sizeof x);
    x[0] = -8.0f; /* d = -8/-8 = 1 */
    x[1] = 0.49999997f;
    quantize_row(QT_Q4_0, x, q, 32);
    CHECK(q[0] == 0x00 && q[1] == 0x3c && q[2] == 0x80 && q[3] == 0x89); /* [0] -> level 0, [1] -> 9 */

    /* Q4_0's largest-magnitude value wins a tie by index: [-1, +1] gives d = 0.125 and +1
     * decodes as 0.875 (§14.2) */
    memset(x, 0, sizeof x);
    x[0] = -1.0f;
    x[1] = 1.0f;
    quantize_row(QT_Q4_0, x, q, 32);
    dequantize_row(QT_Q4_0, q, y, 32);
    CHECK(y[0] == -1.0f && y[1] == 0.875f);

    /* Q8_0/Q8_1 round ties away from zero; Q8_K ties to even */
    for (int i = 0; i < 32; i++) x[i] = 0.0f;
    x[0] = 127.0f; x[1] = 2.5f; x[2] = -2.5f; x[3] = 3.5f;
    quantize_row(QT_Q8_0, x, q, 32);
    CHECK((int8_t)q[3] == 3 && (int8_t)q[4] == -3 && (int8_t)q[5] == 4);
    quantize_row(QT_Q8_1, x, q, 32);
    CHECK((int8_t)q[5] == 3 && (int8_t)q[6] == -3 && (int8_t)q[7] == 4);
    memset(x, 0, sizeof x);
    x[0] = -127.0f; x[1] = 2.5f; x[2] = -2.5f; x[3] = 3.5f;
    block_q8_K k8;
    quantize_row(QT_Q8_K, x, &k8, 256);
    CHECK(k8.d == 1.0f && k8.qs[0] == -127 && k8.qs[1] == 2 && k8.qs[2] == -2 && k8.qs[3] == 4);

    /* MXFP4: log2f rounds 255.99998 up to 8, so e = 133, not 132 (§8) */
    memset(x, 0, sizeof x);
    x[5] = 255.99998f;
    quantize_row(QT_MXFP4, x, q, 32);
    CHECK(q[0] == 133);
    /* ties go to the smaller magnitude, zero is nibble 0 (never 8) */
    x[5] = 4.0f; /* e = 127, half-scale 0.5: codes are 0, .5, 1, 1.5, 2, 3, 4, 6 */
    x[6] = 2.5f; /* tie between 2 (code 4) and 3 (code 5): code 4 */
    x[7] = -0.0f;
    quantize_row(QT_MXFP4, x, q, 32);
    CHECK(q[0] == 127 && (q[1 + 6] & 15) == 4 && (q[1 + 7] & 15) == 0);

    /* IQ4_NL: a block holding every level (and -127 first, so the signed max is -127)
     * fits d = 1 exactly and comes back unchanged */
    memset(x, 0, sizeof x);
    x[0] = -127.0f;
    for (int i = 1; i < 32; i++) x[i] = (float)quant_iq4nl_values[i % 16];
    iq4_nl_quantize_row(x, q, 32, NULL);
    dequantize_row(QT_IQ4_NL, q, y, 32);
    CHECK(fp16_to_f32((uint16_t)(q[0] | q[1] << 8)) == 1.0f && !memcmp(x, y, 32 * sizeof(float)));

    /* Blocks so small that 1/d overflows (undefined in llama.cpp, §13): defined output,
     * finite dequantization, and no sanitizer trap (this test runs under UBSan too) */
    static const int32_t small_types[] = {QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q8_0, QT_Q8_1, QT_IQ4_NL, QT_MXFP4};
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) * 1e-39f; /* subnormal floats */
    for (size_t t = 0; t < G4_ARRAY_LEN(small_types); t++) {
        quantize_row(small_types[t], x, q, 32);
        quantize_row(small_types[t], x, q2, 32);
        dequantize_row(small_types[t], q, y, 32);
        bool finite = true;
        for (int i = 0; i < 32; i++) finite = finite && isfinite(y[i]) && fabsf(y[i]) < 1e-30f;
        CHECK_MSG(finite && !memcmp(q, q2, (size_t)dtype_get(small_types[t])->block_bytes), "%s tiny block",
                  dtype_get(small_types[t])->name);
    }

    /* Non-finite input: llama.cpp's validator rejects such rows; we only require that
     * the quantizers terminate without a sanitizer trap. */
    static float bad[256];
    for (int i = 0; i < 256; i++) bad[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -1e38f;
    static float w[256];
    for (int i = 0; i < 256; i++) w[i] = 1.0f;
    for (size_t t = 0; t < G4_ARRAY_LEN(all_types); t++) {
        int32_t type = all_types[t];
        quantize_row(type, bad, q, 256);
        quantize_row_imatrix(type, bad, q, 256, w);
    }
    CHECK(true);

    /* a constant block: Q4_1 stores d = 0, m = c and levels 0 */
    for (int i = 0; i < 32; i++) x[i] = 0.375f;
    quantize_row(QT_Q4_1, x, q, 32);
    block_q4_1 b41;
    memcpy(&b41, q, sizeof b41);
    CHECK(b41.d == 0 && fp16_to_f32(b41.m) == 0.375f && b41.qs[0] == 0 && b41.qs[15] == 0);

    /* the imatrix zero block of Q4_0 differs from the reference's (§5.4): d = +0, level 0 */
    memset(x, 0, sizeof x);
    q4_0_quantize_row_imatrix(x, q, 32, w);
    for (int i = 0; i < 18; i++) CHECK(q[i] == 0);
}

/* ---- Exhaustive dequantization ----------------------------------------------------- */

/* Every nibble value in every position of Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4 blocks
 * (all 256 values of each qs byte, and each qh bit): the decoded level is checked against
 * an independent formula. */
static void test_exhaustive_nibbles(void) {
    int bad = 0;
    for (int v = 0; v < 256; v++) {
        for (int hb = 0; hb < 2; hb++) {
            uint8_t raw[24];
            float y[32];
            uint32_t qh = hb ? 0xffffffffu : 0;
            int lo = v & 15, hi = v >> 4;
            /* Q4_0: d = 1 */
            memset(raw, v, sizeof raw); raw[0] = 0x00; raw[1] = 0x3c;
            dequantize_row(QT_Q4_0, raw, y, 32);
            for (int e = 0; e < 32; e++) bad += y[e] != (float)((e < 16 ? lo : hi) - 8);
            /* IQ4_NL: d = 1 */
            dequantize_row(QT_IQ4_NL, raw, y, 32);
            for (int e = 0; e < 32; e++) bad += y[e] != (float)quant_iq4nl_values[e < 16 ? lo : hi];
            /* Q4_1: d = 1, m = 0.5 */
            raw[2] = 0x00; raw[3] = 0x38;
            dequantize_row(QT_Q4_1, raw, y, 32);
            for (int e = 0; e < 32; e++) bad += y[e] != (float)(e < 16 ? lo : hi) + 0.5f;
            /* Q5_0: d = 1, qh all set or all clear */
            memset(raw, v, sizeof raw); raw[0] = 0x00; raw[1] = 0x3c;
            memcpy(raw + 2, &qh, 4);
            dequantize_row(QT_Q5_0, raw, y, 32);
            for (int e = 0; e < 32; e++) bad += y[e] != (float)((e < 16 ? lo : hi) + 16 * hb - 16);
            /* Q5_1: d = 1, m = -0.5 */
            memset(raw, v, sizeof raw); raw[0] = 0x00; raw[1] = 0x3c; raw[2] = 0x00; raw[3] = 0xb8;
            memcpy(raw + 4, &qh, 4);
            dequantize_row(QT_Q5_1, raw, y, 32);
            for (int e = 0; e < 32; e++) bad += y[e] != (float)((e < 16 ? lo : hi) + 16 * hb) - 0.5f;
        }
        /* MXFP4 with e = 128 (half-scale 1): value = doubled E2M1 code */
        uint8_t m[17];
        float y[32];
        static const float e2m1x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
        memset(m, v, sizeof m); m[0] = 128;
        dequantize_row(QT_MXFP4, m, y, 32);
        for (int e = 0; e < 32; e++) bad += y[e] != e2m1x2[e < 16 ? (v & 15) : (v >> 4)];
    }
    CHECK_MSG(bad == 0, "%d nibble values decode wrongly", bad);
}

/* Every fp16 bit pattern as the scale of a Q4_0, Q8_0, IQ4_NL and Q4_K block: the product
 * of an fp16 value and a small integer is exact in binary32 (§1.1), so the decoded value
 * must equal the double-precision product rounded once. Inf/NaN scales must propagate. */
static void test_exhaustive_scales(void) {
    int bad = 0;
    uint8_t raw[144];
    float y[256];
    for (uint32_t hbits = 0; hbits < 65536; hbits++) {
        double d = fp16_to_f32((uint16_t)hbits);
        bool fin = isfinite(d);
        /* Q4_0: qs bytes 0x0f: levels 15-8 = 7 (low) and 0-8 = -8 (high) */
        memset(raw, 0x0f, 18); raw[0] = (uint8_t)hbits; raw[1] = (uint8_t)(hbits >> 8);
        dequantize_row(QT_Q4_0, raw, y, 32);
        if (fin) bad += y[0] != (float)(d * 7) || y[16] != (float)(d * -8);
        else bad += isfinite(y[0]);
        /* Q8_0: qs = -128, 127 alternating */
        for (int k = 2; k < 34; k++) raw[k] = k % 2 ? 0x7f : 0x80;
        dequantize_row(QT_Q8_0, raw, y, 32);
        if (fin) bad += y[0] != (float)(d * -128) || y[1] != (float)(d * 127);
        /* IQ4_NL: index 0 and 15 */
        memset(raw + 2, 0xf0, 16);
        dequantize_row(QT_IQ4_NL, raw, y, 32);
        if (fin) bad += y[0] != (float)(d * -127) || y[16] != (float)(d * 113);
        /* Q4_K: this d, dmin = the same bits; scale 63, min 63 for sub-block 0 (S0 = S4 =
         * 63); every level 15: y = d*63*15 - dmin*63 rounds once */
        memset(raw, 0, 144);
        raw[0] = raw[2] = (uint8_t)hbits; raw[1] = raw[3] = (uint8_t)(hbits >> 8);
        raw[4] = 63; raw[8] = 63;
        memset(raw + 16, 0xff, 128);
        dequantize_row(QT_Q4_K, raw, y, 256);
        if (fin) bad += y[0] != (float)(d * 63 * 15 - d * 63);
    }
    CHECK_MSG(bad == 0, "%d fp16 scale values decode wrongly", bad);
}

/* Each K-quant's levels and sub-block scales across their full range: every byte value
 * in every position, against the §6.0 formulas written out independently here. */
static void test_exhaustive_kquant_bytes(void) {
    int bad = 0;
    uint8_t raw[292];
    float y[256];
    for (int v = 0; v < 256; v++) {
        /* Q6_K with d = 1, all scales 1: ql = v, qh = v */
        memset(raw, v, 210);
        memset(raw + 192, 1, 16);
        raw[208] = 0x00; raw[209] = 0x3c;
        dequantize_row(QT_Q6_K, raw, y, 256);
        for (int e = 0; e < 256; e++) {
            int k = (e % 128) / 32;
            int q = (((k < 2 ? v : v >> 4) & 15) | ((v >> (2 * k)) & 3) << 4) - 32;
            bad += y[e] != (float)q;
        }
        /* Q3_K with d = 1: hmask = qs = scales = v */
        memset(raw, v, 110);
        raw[108] = 0x00; raw[109] = 0x3c;
        dequantize_row(QT_Q3_K, raw, y, 256);
        for (int e = 0; e < 256; e++) {
            int j = e / 16;
            int s = ((j < 8 ? v & 15 : v >> 4) | ((v >> (2 * (j / 4))) & 3) << 4) - 32;
            int q = ((v >> (2 * ((e / 32) % 4))) & 3) - (((v >> (e / 32)) & 1) ? 0 : 4);
            bad += y[e] != (float)s * (float)q;
        }
        /* Q2_K with d = 1, dmin = 1: scales = qs = v */
        memset(raw, v, 84);
        raw[80] = 0x00; raw[81] = 0x3c; raw[82] = 0x00; raw[83] = 0x3c;
        dequantize_row(QT_Q2_K, raw, y, 256);
        for (int e = 0; e < 256; e++) bad += y[e] != (float)((v & 15) * ((v >> (2 * ((e / 32) % 4))) & 3) - (v >> 4));
        /* Q5_K with d = dmin = 1: scales = qh = qs = v */
        memset(raw, v, 176);
        raw[0] = 0x00; raw[1] = 0x3c; raw[2] = 0x00; raw[3] = 0x3c;
        dequantize_row(QT_Q5_K, raw, y, 256);
        for (int e = 0; e < 256; e++) {
            int j = e / 32, sc, m;
            if (j < 4) { sc = v & 63; m = v & 63; }
            else { sc = (v & 15) | (v >> 6) << 4; m = (v >> 4) | (v >> 6) << 4; }
            int q = ((v >> (4 * ((e / 32) % 2))) & 15) + 16 * ((v >> (e / 32)) & 1);
            bad += y[e] != (float)(sc * q - m);
        }
        /* IQ4_XS with d = 1: scales_h = v v, scales_l = qs = v */
        memset(raw, v, 136);
        raw[0] = 0x00; raw[1] = 0x3c;
        dequantize_row(QT_IQ4_XS, raw, y, 256);
        for (int e = 0; e < 256; e++) {
            int s = e / 32, r = e % 32;
            int ls = ((v >> (4 * (s % 2))) & 15) | (((v | v << 8) >> (2 * s)) & 3) << 4;
            bad += y[e] != (float)(ls - 32) * (float)quant_iq4nl_values[r < 16 ? v & 15 : v >> 4];
        }
        /* Q8_K with d = 0.5 */
        memset(raw, v, 292);
        float half = 0.5f;
        memcpy(raw, &half, 4);
        dequantize_row(QT_Q8_K, raw, y, 256);
        for (int e = 0; e < 256; e++) bad += y[e] != 0.5f * (float)(int8_t)v;
    }
    CHECK_MSG(bad == 0, "%d K-quant byte values decode wrongly", bad);
}

/* ---- Quantizer properties ---------------------------------------------------------- */

/* Blocks whose values sit exactly on a format's grid come back unchanged. */
static void test_exact_reproduction(void) {
    float x[256], y[256];
    uint8_t q[300];
    /* IQ4_NL: each of the 16 levels, twice, times powers of two */
    for (int p = -10; p <= 10; p += 5) {
        for (int i = 0; i < 32; i++) x[i] = ldexpf((float)quant_iq4nl_values[(i * 7) % 16], p);
        iq4_nl_quantize_row(x, q, 32, NULL);
        dequantize_row(QT_IQ4_NL, q, y, 32);
        CHECK_MSG(!memcmp(x, y, 32 * sizeof(float)), "IQ4_NL grid block, scale 2^%d", p);
    }
    /* Q8_0: integers -127..127 */
    for (int i = 0; i < 32; i++) x[i] = (float)(i * 8 - 127);
    x[31] = 127.0f;
    quantize_row(QT_Q8_0, x, q, 32);
    dequantize_row(QT_Q8_0, q, y, 32);
    CHECK(!memcmp(x, y, 32 * sizeof(float)));
    /* Q4_0: levels -8..7 times 0.25, the -8 present */
    for (int i = 0; i < 32; i++) x[i] = (float)((i % 16) - 8) * 0.25f;
    quantize_row(QT_Q4_0, x, q, 32);
    dequantize_row(QT_Q4_0, q, y, 32);
    CHECK(!memcmp(x, y, 32 * sizeof(float)));
    /* Q8_K: integers with -127 present */
    for (int i = 0; i < 256; i++) x[i] = (float)((i * 37) % 255 - 127);
    quantize_row(QT_Q8_K, x, q, 256);
    dequantize_row(QT_Q8_K, q, y, 256);
    CHECK(!memcmp(x, y, 256 * sizeof(float)));
}

/* Round-trip error on Gaussian and uniform data, as a fraction of the data's RMS. The
 * bounds sit 15% above what the quantizers (byte-identical to llama.cpp's) achieve on this
 * data (one row of 4096 values each), so they catch a broken search or a lost bit without
 * pinning the exact figure; the hashes above pin the bytes. */
static void test_error_bounds(void) {
    static const struct { int32_t type; double gauss, unif; } bounds[] = {
        /* type      Gaussian  uniform(-1,1) */
        {QT_Q8_0, 0.0062, 0.0043},  {QT_Q8_1, 0.0062, 0.0043},  {QT_Q8_K, 0.0080, 0.0045},
        {QT_Q6_K, 0.021, 0.015},    {QT_Q5_0, 0.049, 0.036},    {QT_Q5_1, 0.044, 0.034},
        {QT_Q5_K, 0.041, 0.032},    {QT_Q4_0, 0.098, 0.075},    {QT_Q4_1, 0.089, 0.069},
        {QT_Q4_K, 0.081, 0.063},    {QT_IQ4_NL, 0.088, 0.074},  {QT_IQ4_XS, 0.088, 0.075},
        {QT_MXFP4, 0.135, 0.167},   {QT_Q3_K, 0.172, 0.143},    {QT_Q2_K, 0.34, 0.27},
    };
    enum { N = 4096 };
    static float xg[N], xu[N], y[N], w[N];
    static uint8_t q[N * 4];
    rng_state = 0x243F6A8885A308D3ull;
    double sg = 0, su = 0;
    for (int i = 0; i < N; i++) {
        xg[i] = gauss();
        xu[i] = unif() * 2.0f - 1.0f;
        w[i] = 0.5f + unif();
        sg += (double)xg[i] * xg[i];
        su += (double)xu[i] * xu[i];
    }
    for (size_t t = 0; t < G4_ARRAY_LEN(bounds); t++) {
        int32_t type = bounds[t].type;
        for (int pass = 0; pass < 4; pass++) {
            const float *x = pass % 2 ? xu : xg;
            double ref = pass % 2 ? su : sg, bound = pass % 2 ? bounds[t].unif : bounds[t].gauss;
            /* passes 2, 3: with an imatrix of uniform-ish weights the error must stay
             * within the same bound (it optimises a weighted error instead) */
            if (pass < 2) quantize_row(type, x, q, N);
            else quantize_row_imatrix(type, x, q, N, w);
            dequantize_row(type, q, y, N);
            double se = 0;
            for (int i = 0; i < N; i++) se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
            double rel = sqrt(se / ref);
            CHECK_MSG(rel <= bound * (pass < 2 ? 1.0 : 1.1), "%s %s%s: relative RMS error %.4f > %.4f",
                      dtype_get(type)->name, pass % 2 ? "uniform" : "gaussian", pass < 2 ? "" : " imatrix", rel, bound);
        }
    }
}

/* Larger bit widths must not be worse than smaller ones of the same family, and a row
 * quantized in pieces equals the row quantized at once (blocks are independent; for the
 * imatrix types the row statistic makes that true only per whole row). */
static void test_consistency(void) {
    enum { N = 1024 };
    static float x[N];
    static uint8_t a[N * 2], b[N * 2];
    rng_state = 0x13198A2E03707344ull;
    for (int i = 0; i < N; i++) x[i] = gauss() * (i % 97 == 0 ? 6.0f : 1.0f);
    for (size_t t = 0; t < G4_ARRAY_LEN(all_types); t++) {
        int32_t type = all_types[t];
        size_t rb = row_bytes(type, N), half = rb / 2;
        quantize_row(type, x, a, N);
        quantize_row(type, x, b, N / 2);
        quantize_row(type, x + N / 2, b + half, N / 2);
        CHECK_MSG(!memcmp(a, b, rb), "%s: blocks are not independent", dtype_get(type)->name);
    }
}

/* ---- §10: tensor-type choice ------------------------------------------------------- */

/* A Gemma-4-shaped model's tensor list: n_layer blocks, attn_v absent where `no_v`
 * says (KV-shared layers), optional per-layer embeddings and MoE tensors. */
typedef struct {
    quant_mix_tensor t[1024];
    char names[1024][64];
    int n;
} model_list;

static void add(model_list *m, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2) {
    G4_ASSERT(m->n < 1024);
    snprintf(m->names[m->n], 64, "%s", name);
    quant_mix_tensor *t = &m->t[m->n];
    t->name = m->names[m->n];
    t->n_dims = n_dims;
    t->ne[0] = ne0; t->ne[1] = ne1; t->ne[2] = ne2; t->ne[3] = 1;
    t->src_type = QT_BF16;
    t->type = -1;
    m->n++;
}

static void gemma_like(model_list *m, int n_layer, int first_shared, bool ple, bool moe, int64_t H, int64_t F) {
    char s[64];
    m->n = 0;
    add(m, "token_embd.weight", 2, H, 262144, 1);
    add(m, "output_norm.weight", 1, H, 1, 1);
    if (ple) {
        add(m, "per_layer_token_embd.weight", 2, 256 * n_layer, 262144, 1);
        add(m, "per_layer_model_proj.weight", 2, H, 256 * n_layer, 1);
        add(m, "per_layer_proj_norm.weight", 1, 256, 1, 1);
    }
    for (int l = 0; l < n_layer; l++) {
        static const char *const mats[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        for (size_t k = 0; k < G4_ARRAY_LEN(mats); k++) {
            if ((k == 1 || k == 2) && l >= first_shared) continue; /* KV-shared layer */
            snprintf(s, sizeof s, "blk.%d.%s.weight", l, mats[k]);
            add(m, s, 2, k == 3 ? 2048 : k == 6 ? F : H, k == 6 ? H : 1024, 1);
        }
        snprintf(s, sizeof s, "blk.%d.attn_norm.weight", l);
        add(m, s, 1, H, 1, 1);
        snprintf(s, sizeof s, "blk.%d.layer_output_scale.weight", l);
        add(m, s, 1, 1, 1, 1);
        if (ple) {
            snprintf(s, sizeof s, "blk.%d.inp_gate.weight", l);
            add(m, s, 2, H, 256, 1);
            snprintf(s, sizeof s, "blk.%d.proj.weight", l);
            add(m, s, 2, 256, H, 1);
        }
        if (moe) {
            snprintf(s, sizeof s, "blk.%d.ffn_gate_inp.weight", l);
            add(m, s, 2, H, 128, 1);
            snprintf(s, sizeof s, "blk.%d.ffn_gate_up_exps.weight", l);
            add(m, s, 3, H, 1408, 128);
            snprintf(s, sizeof s, "blk.%d.ffn_down_exps.weight", l);
            add(m, s, 3, 704, H, 128);
            snprintf(s, sizeof s, "blk.%d.ffn_down_exps.scale", l);
            add(m, s, 1, 128, 1, 1);
        }
    }
}

static int32_t type_of(const model_list *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name)) return m->t[i].type;
    return -2;
}

static void test_use_more_bits_tables(void) {
    /* §10.2: use_more_bits(i, n) for the listed n, observed through Q4_K_M's ffn_down in
     * a dense model (where i is the layer) */
    static const struct { int n; const char *layers; } rows[] = {
        {26, "0 1 2 5 8 11 14 17 20 22 23 24 25"},
        {32, "0 1 2 3 6 9 12 15 18 21 24 27 28 29 30 31"},
        {35, "0 1 2 3 6 9 12 15 18 21 24 27 30 31 32 33 34"},
        {48, "0 1 2 3 4 5 8 11 14 17 20 23 26 29 32 35 38 41 42 43 44 45 46 47"},
        {62, "0 1 2 3 4 5 6 9 12 15 18 21 24 27 30 33 36 39 42 45 48 51 54 55 56 57 58 59 60 61"},
    };
    static model_list m;
    for (size_t r = 0; r < G4_ARRAY_LEN(rows); r++) {
        gemma_like(&m, rows[r].n, 1000, false, false, 1536, 6144);
        quant_mix_params p = {.ftype = FTYPE_Q4_K_M, .n_layer = rows[r].n};
        CHECK(quant_mix_plan(&p, m.t, m.n));
        char got[256] = "", s[64];
        for (int l = 0; l < rows[r].n; l++) {
            snprintf(s, sizeof s, "blk.%d.ffn_down.weight", l);
            if (type_of(&m, s) == QT_Q6_K) {
                snprintf(s, sizeof s, "%s%d", got[0] ? " " : "", l);
                strcat(got, s);
            }
        }
        CHECK_MSG(!strcmp(got, rows[r].layers), "use_more_bits n=%d: %s", rows[r].n, got);
    }
}

static void test_mix_gemma_e2b(void) {
    /* §10.3 example: E2B shape (35 blocks, tied embeddings, per-layer embeddings, the
     * last 20 layers KV-shared so attn_v exists in 15 of them) at Q4_K_M */
    static model_list m;
    gemma_like(&m, 35, 15, true, false, 1536, 6144);
    quant_mix_params p = {.ftype = FTYPE_Q4_K_M, .n_layer = 35, .n_gqa = 8};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "token_embd.weight") == QT_Q6_K);
    CHECK(type_of(&m, "per_layer_token_embd.weight") == QT_Q6_K);
    CHECK(type_of(&m, "per_layer_model_proj.weight") == QT_BF16); /* copied unchanged */
    CHECK(type_of(&m, "output_norm.weight") == QT_BF16);
    CHECK(type_of(&m, "blk.0.attn_norm.weight") == QT_BF16);
    CHECK(type_of(&m, "blk.3.layer_output_scale.weight") == QT_BF16);
    char s[64];
    int bad = 0;
    for (int l = 0; l < 35; l++) {
        bool more = l < 4 || l >= 30 || (l - 4) % 3 == 2; /* 0-3, 6, 9, ..., 27, 30-34 */
        snprintf(s, sizeof s, "blk.%d.ffn_down.weight", l);
        bad += type_of(&m, s) != (more ? QT_Q6_K : QT_Q4_K);
        /* attn_v: i counts the 15 attn_v tensors; use_more_bits(i, 15): i < 1, i >= 13,
         * (i-1) % 3 == 2 -> layers 0, 3, 6, 9, 12, 13, 14 */
        snprintf(s, sizeof s, "blk.%d.attn_v.weight", l);
        if (l < 15) bad += type_of(&m, s) != ((l == 0 || l == 3 || l == 6 || l == 9 || l >= 12) ? QT_Q6_K : QT_Q4_K);
        else bad += type_of(&m, s) != -2;
        static const char *const rest[] = {"attn_q", "attn_output", "ffn_gate", "ffn_up", "inp_gate", "proj"};
        for (size_t k = 0; k < G4_ARRAY_LEN(rest); k++) {
            snprintf(s, sizeof s, "blk.%d.%s.weight", l, rest[k]);
            bad += type_of(&m, s) != QT_Q4_K;
        }
        snprintf(s, sizeof s, "blk.%d.attn_k.weight", l);
        if (l < 15) bad += type_of(&m, s) != QT_Q4_K;
    }
    CHECK_MSG(bad == 0, "%d E2B Q4_K_M tensor types differ from §10.3", bad);
}

/* §10.3's table: default, attn_v, ffn_down, attn_output per file type, on a 32-layer
 * dense model with every layer's attn_v present and GQA 8. */
static void test_mix_table(void) {
    static model_list m;
    gemma_like(&m, 32, 1000, false, false, 2048, 8192);
    char s[64];
    static const struct {
        int32_t ftype, deflt;
        int32_t v_first, v_mid;     /* attn_v of layer 0 and of layer 4 */
        int32_t down_0, down_4;     /* ffn_down of layers 0 and 4 */
        int32_t out;                /* attn_output */
    } rows[] = {
        {FTYPE_Q2_K, QT_Q2_K, QT_Q4_K, QT_Q4_K, QT_Q3_K, QT_Q3_K, QT_Q3_K},
        {FTYPE_Q3_K_S, QT_Q3_K, QT_Q3_K, QT_Q3_K, QT_Q3_K, QT_Q3_K, QT_Q3_K},
        {FTYPE_Q3_K_M, QT_Q3_K, QT_Q5_K, QT_Q4_K, QT_Q5_K, QT_Q4_K, QT_Q4_K},
        {FTYPE_Q3_K_L, QT_Q3_K, QT_Q5_K, QT_Q5_K, QT_Q5_K, QT_Q5_K, QT_Q5_K},
        {FTYPE_Q4_K_S, QT_Q4_K, QT_Q5_K, QT_Q4_K, QT_Q5_K, QT_Q4_K, QT_Q4_K},
        {FTYPE_Q4_K_M, QT_Q4_K, QT_Q6_K, QT_Q4_K, QT_Q6_K, QT_Q4_K, QT_Q4_K},
        {FTYPE_Q5_K_S, QT_Q5_K, QT_Q5_K, QT_Q5_K, QT_Q5_K, QT_Q5_K, QT_Q5_K},
        {FTYPE_Q5_K_M, QT_Q5_K, QT_Q6_K, QT_Q5_K, QT_Q6_K, QT_Q5_K, QT_Q5_K},
        {FTYPE_Q6_K, QT_Q6_K, QT_Q6_K, QT_Q6_K, QT_Q6_K, QT_Q6_K, QT_Q6_K},
        {FTYPE_Q8_0, QT_Q8_0, QT_Q8_0, QT_Q8_0, QT_Q8_0, QT_Q8_0, QT_Q8_0},
        {FTYPE_Q4_0, QT_Q4_0, QT_Q4_0, QT_Q4_0, QT_Q4_0, QT_Q4_0, QT_Q4_0},
        {FTYPE_Q5_1, QT_Q5_1, QT_Q5_1, QT_Q5_1, QT_Q5_1, QT_Q5_1, QT_Q5_1},
        {FTYPE_IQ4_XS, QT_IQ4_XS, QT_Q5_K, QT_Q5_K, QT_Q5_K, QT_IQ4_XS, QT_IQ4_XS},
        {FTYPE_IQ4_NL, QT_IQ4_NL, QT_Q5_K, QT_Q5_K, QT_Q5_K, QT_IQ4_NL, QT_IQ4_NL},
    };
    for (size_t r = 0; r < G4_ARRAY_LEN(rows); r++) {
        quant_mix_params p = {.ftype = rows[r].ftype, .n_layer = 32, .n_gqa = 8};
        CHECK(quant_mix_plan(&p, m.t, m.n));
        const char *fn = quant_ftype_name(rows[r].ftype);
        int32_t emb = rows[r].deflt == QT_Q8_0 ? QT_Q8_0 : QT_Q6_K; /* rule 1, tied */
        CHECK_MSG(type_of(&m, "token_embd.weight") == emb, "%s token_embd", fn);
        CHECK_MSG(type_of(&m, "blk.0.attn_v.weight") == rows[r].v_first, "%s attn_v[0] %d", fn, type_of(&m, "blk.0.attn_v.weight"));
        CHECK_MSG(type_of(&m, "blk.4.attn_v.weight") == rows[r].v_mid, "%s attn_v[4]", fn);
        CHECK_MSG(type_of(&m, "blk.0.ffn_down.weight") == rows[r].down_0, "%s ffn_down[0]", fn);
        CHECK_MSG(type_of(&m, "blk.4.ffn_down.weight") == rows[r].down_4, "%s ffn_down[4]", fn);
        CHECK_MSG(type_of(&m, "blk.4.attn_output.weight") == rows[r].out, "%s attn_output", fn);
        int others = 0;
        for (int l = 0; l < 32; l++) {
            static const char *const keep[] = {"attn_q", "attn_k", "ffn_gate", "ffn_up"};
            for (size_t k = 0; k < G4_ARRAY_LEN(keep); k++) {
                snprintf(s, sizeof s, "blk.%d.%s.weight", l, keep[k]);
                others += type_of(&m, s) != rows[r].deflt;
            }
        }
        CHECK_MSG(others == 0, "%s: %d q/k/gate/up tensors off the default", fn, others);
    }
    /* Q3_K_M ffn_down: Q5_K for layers < n/16 (0, 1 of 32), Q4_K for all the rest */
    quant_mix_params p = {.ftype = FTYPE_Q3_K_M, .n_layer = 32, .n_gqa = 8};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "blk.1.ffn_down.weight") == QT_Q5_K && type_of(&m, "blk.2.ffn_down.weight") == QT_Q4_K &&
          type_of(&m, "blk.31.ffn_down.weight") == QT_Q4_K);
    CHECK(type_of(&m, "blk.1.attn_v.weight") == QT_Q5_K && type_of(&m, "blk.2.attn_v.weight") == QT_Q4_K);
    /* Q4_K_S: Q5_K for the first four attn_v and for ffn_down of layers < n/8 (0-3) */
    p.ftype = FTYPE_Q4_K_S;
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "blk.3.attn_v.weight") == QT_Q5_K && type_of(&m, "blk.4.attn_v.weight") == QT_Q4_K);
    CHECK(type_of(&m, "blk.3.ffn_down.weight") == QT_Q5_K && type_of(&m, "blk.4.ffn_down.weight") == QT_Q4_K);
    /* Q2_K with GQA < 4: attn_v Q3_K */
    p.ftype = FTYPE_Q2_K;
    p.n_gqa = 2;
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "blk.9.attn_v.weight") == QT_Q3_K);
    /* an imatrix raises Q4_0's first n/8 ffn_down layers to Q4_1 */
    p = (quant_mix_params){.ftype = FTYPE_Q4_0, .n_layer = 32, .has_imatrix = true};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "blk.3.ffn_down.weight") == QT_Q4_1 && type_of(&m, "blk.4.ffn_down.weight") == QT_Q4_0);
    /* IQ4_XS without imatrix: first n/8 ffn_down at Q5_K */
    p = (quant_mix_params){.ftype = FTYPE_IQ4_XS, .n_layer = 32};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "blk.3.ffn_down.weight") == QT_Q5_K && type_of(&m, "blk.3.attn_v.weight") == QT_IQ4_XS);
    /* --pure: only the fallback; the output rule is off too */
    p = (quant_mix_params){.ftype = FTYPE_Q4_K_M, .n_layer = 32, .pure = true};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "token_embd.weight") == QT_Q4_K && type_of(&m, "blk.0.ffn_down.weight") == QT_Q4_K);
    /* float file types: every quantizable tensor takes the type, the rest is copied */
    p = (quant_mix_params){.ftype = FTYPE_F16, .n_layer = 32};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "token_embd.weight") == QT_F16 && type_of(&m, "blk.0.attn_v.weight") == QT_F16 &&
          type_of(&m, "output_norm.weight") == QT_BF16);
}

static void test_mix_misc(void) {
    static model_list m;
    /* MoE (26B-A4B shape: 30 layers, H 2816, dense MLP 2112, 128 experts of width 704):
     * the ffn_down layers come from the names, and both the dense ffn_down and the expert
     * stack want Q6_K at use_more_bits(layer, 30), Q4_K elsewhere. But neither 2112 nor
     * 704 is a multiple of 256, so rule 4 turns those into Q8_0 and Q5_0: a llama.cpp
     * Q4_K_M file of this model has no K-quant ffn_down at all. */
    gemma_like(&m, 30, 1000, false, true, 2816, 2112);
    quant_mix_params p = {.ftype = FTYPE_Q4_K_M, .n_layer = 30, .n_expert = 128, .n_gqa = 2};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    char s[64];
    int bad = 0;
    for (int l = 0; l < 30; l++) {
        bool more = l < 3 || l >= 26 || (l - 3) % 3 == 2;
        snprintf(s, sizeof s, "blk.%d.ffn_down_exps.weight", l);
        bad += type_of(&m, s) != (more ? QT_Q8_0 : QT_Q5_0);
        snprintf(s, sizeof s, "blk.%d.ffn_down.weight", l);
        bad += type_of(&m, s) != (more ? QT_Q8_0 : QT_Q5_0);
        snprintf(s, sizeof s, "blk.%d.ffn_gate_up_exps.weight", l);
        bad += type_of(&m, s) != QT_Q4_K;
        snprintf(s, sizeof s, "blk.%d.ffn_gate_inp.weight", l); /* the router: never */
        bad += type_of(&m, s) != QT_BF16;
        snprintf(s, sizeof s, "blk.%d.ffn_down_exps.scale", l);
        bad += type_of(&m, s) != QT_BF16;
    }
    CHECK_MSG(bad == 0, "%d MoE tensor types differ", bad);
    /* MXFP4_MOE: expert stacks MXFP4, other matrices Q8_0, embeddings Q8_0 */
    p.ftype = FTYPE_MXFP4_MOE;
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "blk.0.ffn_down_exps.weight") == QT_MXFP4 && type_of(&m, "blk.0.attn_q.weight") == QT_Q8_0 &&
          type_of(&m, "token_embd.weight") == QT_Q8_0);
    /* 8 experts (Mixtral-style): attn_v and attn_k at Q8_0, attn_output Q5_K */
    p = (quant_mix_params){.ftype = FTYPE_Q4_K_M, .n_layer = 30, .n_expert = 8};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "blk.5.attn_v.weight") == QT_Q8_0 && type_of(&m, "blk.5.attn_k.weight") == QT_Q8_0 &&
          type_of(&m, "blk.5.attn_output.weight") == QT_Q5_K);

    /* Fallback (rule 4) for rows not divisible by 256, on single tensors */
    quant_mix_state st;
    const char *names[] = {"blk.0.attn_q.weight"};
    static const struct { int32_t ftype; int64_t ne0; int32_t want; } fb[] = {
        {FTYPE_Q4_K_M, 2880, QT_Q5_0}, {FTYPE_Q5_K_M, 2880, QT_Q5_1}, {FTYPE_Q6_K, 2880, QT_Q8_0},
        {FTYPE_Q3_K_M, 2880, QT_Q4_0}, {FTYPE_Q2_K, 2880, QT_Q4_0},   {FTYPE_IQ4_XS, 2880, QT_IQ4_NL},
        {FTYPE_Q4_K_M, 100, QT_F16},   {FTYPE_Q4_0, 100, QT_F16},     {FTYPE_Q4_K_M, 2816, QT_Q4_K},
        {FTYPE_Q8_0, 48, QT_F16},      {FTYPE_Q8_0, 96, QT_Q8_0},
    };
    for (size_t i = 0; i < G4_ARRAY_LEN(fb); i++) {
        quant_mix_params fp = {.ftype = fb[i].ftype, .n_layer = 32};
        quant_mix_begin(&st, &fp, names, 1);
        int64_t ne[4] = {fb[i].ne0, 64, 1, 1};
        int32_t got = quant_mix_type(&st, names[0], 2, ne, QT_BF16);
        CHECK_MSG(got == fb[i].want, "fallback %s ne0=%lld: %d", quant_ftype_name(fb[i].ftype), (long long)fb[i].ne0, got);
    }
    /* output rule with a row not divisible by the default's block: Q8_0 */
    const char *tn[] = {"token_embd.weight"};
    quant_mix_params fp = {.ftype = FTYPE_Q4_K_M, .n_layer = 32};
    quant_mix_begin(&st, &fp, tn, 1);
    int64_t ne[4] = {2880, 1000, 1, 1};
    CHECK(quant_mix_type(&st, tn[0], 2, ne, QT_F16) == QT_Q8_0);
    /* untied: token_embd keeps the default, output.weight gets Q6_K */
    const char *un[] = {"output.weight", "token_embd.weight"};
    quant_mix_begin(&st, &fp, un, 2);
    ne[0] = 2048;
    CHECK(quant_mix_type(&st, un[0], 2, ne, QT_F16) == QT_Q6_K);
    CHECK(quant_mix_type(&st, un[1], 2, ne, QT_F16) == QT_Q4_K);

    /* which tensors are quantized at all (§10.1) */
    CHECK(quant_mix_quantizable("blk.0.attn_q.weight", 2));
    CHECK(!quant_mix_quantizable("blk.0.attn_q.weight", 1));
    CHECK(!quant_mix_quantizable("blk.0.attn_q_norm.weight", 2));
    CHECK(!quant_mix_quantizable("blk.0.ffn_gate_inp.weight", 2));
    CHECK(!quant_mix_quantizable("per_layer_model_proj.weight", 2));
    CHECK(!quant_mix_quantizable("blk.0.altup_proj.weight", 2));
    CHECK(!quant_mix_quantizable("blk.0.laurel_l.weight", 2));
    CHECK(!quant_mix_quantizable("blk.0.ffn_down_exps.scale", 2));
    CHECK(quant_mix_quantizable("blk.0.ffn_down_exps.weight", 3));

    /* order: non-blk names first, then by layer number (not text), then by name */
    CHECK(quant_mix_order("token_embd.weight", "blk.0.attn_q.weight") < 0);
    CHECK(quant_mix_order("blk.2.ffn_up.weight", "blk.10.attn_q.weight") < 0);
    CHECK(quant_mix_order("blk.3.attn_v.weight", "blk.3.attn_k.weight") > 0);

    /* file-type names */
    CHECK(quant_ftype_from_name("q4_k_m") == FTYPE_Q4_K_M && quant_ftype_from_name("Q8_0") == FTYPE_Q8_0);
    CHECK(quant_ftype_from_name("bf16") == FTYPE_BF16 && quant_ftype_from_name("q4_k") == -1);
    CHECK(quant_ftype_from_name("q4_k_mm") == -1 && quant_ftype_from_name("") == -1);
    CHECK(!strcmp(quant_ftype_name(FTYPE_Q5_K_S), "Q5_K_S") && quant_ftype_name(99) == NULL);
    CHECK(quant_ftype_default_type(FTYPE_Q3_K_L) == QT_Q3_K && quant_ftype_default_type(FTYPE_IQ2_S) == QT_IQ2_XS);
    /* Q4_0 files carry Q6_K tied embeddings (§14.8) */
    gemma_like(&m, 35, 15, true, false, 1536, 6144);
    p = (quant_mix_params){.ftype = FTYPE_Q4_0, .n_layer = 35};
    CHECK(quant_mix_plan(&p, m.t, m.n));
    CHECK(type_of(&m, "token_embd.weight") == QT_Q6_K && type_of(&m, "per_layer_token_embd.weight") == QT_Q6_K &&
          type_of(&m, "blk.0.attn_v.weight") == QT_Q4_0);
}

static void test_traits(void) {
    static const struct { int32_t type; int block, bytes; } t[] = {
        {QT_Q4_1, 32, 20}, {QT_Q5_0, 32, 22}, {QT_Q5_1, 32, 24}, {QT_Q8_1, 32, 36}, {QT_Q2_K, 256, 84},
        {QT_Q3_K, 256, 110}, {QT_Q4_K, 256, 144}, {QT_Q5_K, 256, 176}, {QT_Q6_K, 256, 210}, {QT_Q8_K, 256, 292},
        {QT_IQ4_NL, 32, 18}, {QT_IQ4_XS, 256, 136}, {QT_MXFP4, 32, 17},
    };
    for (size_t i = 0; i < G4_ARRAY_LEN(t); i++) {
        const dtype_traits *tr = dtype_get(t[i].type);
        CHECK(tr && tr->computable && tr->block == t[i].block && tr->block_bytes == t[i].bytes);
    }
}

int main(void) {
    test_traits();
    test_probes();
    test_block32();
    test_zero_blocks();
    test_block256();
    test_hashes();
    test_stale_levels();
    test_edges();
    test_exhaustive_nibbles();
    test_exhaustive_scales();
    test_exhaustive_kquant_bytes();
    test_exact_reproduction();
    test_error_bounds();
    test_consistency();
    test_use_more_bits_tables();
    test_mix_gemma_e2b();
    test_mix_table();
    test_mix_misc();
    return test_report("test_quants");
}
