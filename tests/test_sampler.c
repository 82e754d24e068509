/* test_sampler.c - the sampler against what each option must do: greedy ties, top-k,
 * top-p, min-p, penalties, seeded reproducibility, and the empirical distribution of
 * plain sampling (20,000 draws within 0.015 of the softmax probabilities). */
#include "g4.h"
#include "test.h"

static void counts(g4_sampler *s, const float *lg, int n, int draws, int *c) {
    memset(c, 0, sizeof(int) * (size_t)n);
    for (int i = 0; i < draws; i++) {
        int t = g4_sampler_sample(s, lg);
        if (t >= 0 && t < n) c[t]++;
    }
}

int main(void) {
    g4_error err;
    g4_sampler *s;
    const float lg[4] = {logf(0.1f), logf(0.2f), logf(0.3f), logf(0.4f)};
    int c[4];

    g4_sampler_params p = {.temperature = 0};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_OK);
    CHECK(g4_sampler_sample(s, lg) == 3);
    const float tie[4] = {1, 5, 5, 2};
    CHECK(g4_sampler_sample(s, tie) == 1); /* ties go to the lowest id */
    g4_sampler_free(s);

    p = (g4_sampler_params){.temperature = 1.0f, .top_k = 1, .seed = 7};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_OK);
    counts(s, lg, 4, 200, c);
    CHECK(c[3] == 200);
    g4_sampler_free(s);

    p = (g4_sampler_params){.temperature = 1.0f, .seed = 11};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_OK);
    counts(s, lg, 4, 20000, c);
    for (int i = 0; i < 4; i++) CHECK_MSG(fabs(c[i] / 20000.0 - 0.1 * (i + 1)) < 0.015, "token %d drawn %d times", i, c[i]);
    g4_sampler_free(s);

    p = (g4_sampler_params){.temperature = 1.0f, .top_p = 0.5f, .seed = 3};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_OK);
    counts(s, lg, 4, 2000, c);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] > 0 && c[3] > 0); /* 0.4 + 0.3 reaches 0.5 */
    g4_sampler_free(s);

    p = (g4_sampler_params){.temperature = 1.0f, .min_p = 0.6f, .seed = 3};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_OK);
    counts(s, lg, 4, 2000, c);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] > 0 && c[3] > 0); /* 0.3 >= 0.6 x 0.4 > 0.2 */
    g4_sampler_free(s);

    p = (g4_sampler_params){.temperature = 0, .repeat_penalty = 2.0f};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_OK);
    const float pos[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    g4_sampler_accept(s, 3);
    CHECK(g4_sampler_sample(s, pos) == 2); /* 4/2 = 2 < 3 */
    g4_sampler_free(s);

    p = (g4_sampler_params){.temperature = 0, .presence_penalty = 1.5f, .frequency_penalty = 0.5f};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_OK);
    g4_sampler_accept(s, 3);
    CHECK(g4_sampler_sample(s, pos) == 2); /* token 3: 4 - 1.5 - 0.5 = 2, below token 2's 3 */
    g4_sampler_free(s);

    /* same seed, same tokens; another seed, another sequence (over a wide distribution) */
    float wide[256];
    for (int i = 0; i < 256; i++) wide[i] = (float)(i % 17) * 0.1f;
    int a[64], b[64], d[64];
    for (int run = 0; run < 3; run++) {
        p = (g4_sampler_params){.temperature = 1.0f, .top_k = 200, .seed = run == 2 ? 99 : 5};
        CHECK(g4_sampler_create(&s, &p, 256, &err) == G4_OK);
        for (int i = 0; i < 64; i++) (run == 0 ? a : run == 1 ? b : d)[i] = g4_sampler_sample(s, wide);
        g4_sampler_free(s);
    }
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(memcmp(a, d, sizeof a) != 0);

    /* top-k over a large vocabulary with many ties: at a high temperature every one of
     * the k best (value descending, then lower id) is drawn, and nothing else is */
    enum { BV = 50000, BK = 64 };
    static float big[BV];
    static int bc[BV];
    uint32_t r = 1;
    for (int i = 0; i < BV; i++) { r = r * 1664525u + 1013904223u; big[i] = (float)(r >> 20) * 0.25f; } /* 4096 levels */
    static int hist[4096];
    for (int i = 0; i < BV; i++) hist[(int)(big[i] * 4)]++;
    int above = 0, lv = 4095; /* the k-th best value's level, and how many ids rank above it */
    for (; lv >= 0 && above + hist[lv] < BK; lv--) above += hist[lv];
    const float kth = (float)lv * 0.25f;
    p = (g4_sampler_params){.temperature = 1e6f, .top_k = BK, .seed = 17};
    CHECK(g4_sampler_create(&s, &p, BV, &err) == G4_OK);
    memset(bc, 0, sizeof bc);
    for (int i = 0; i < 5000; i++) {
        int t = g4_sampler_sample(s, big);
        if (t >= 0 && t < BV) bc[t]++;
    }
    g4_sampler_free(s);
    int in_set = 0, drawn_outside = 0, missing = 0, at_kth = 0;
    for (int i = 0; i < BV; i++) {
        int want = big[i] > kth || (big[i] == kth && at_kth++ < BK - above);
        in_set += want;
        if (want && bc[i] == 0) missing++;
        if (!want && bc[i] > 0) drawn_outside++;
    }
    CHECK_MSG(in_set == BK && missing == 0 && drawn_outside == 0, "top-k set: %d ids, %d never drawn, %d drawn from outside",
              in_set, missing, drawn_outside);

    /* NaN logits rank last and never empty the candidates (top_k 0 once read idx[-1]);
     * all-NaN or +inf logits still give a token */
    const float nanl[5] = {NAN, 1.0f, 5.0f, NAN, 2.0f}, alln[3] = {NAN, NAN, NAN}, inf[3] = {1.0f, INFINITY, 2.0f};
    for (int kk = 0; kk < 3; kk++) {
        p = (g4_sampler_params){.temperature = 0.001f, .top_k = kk == 0 ? 0 : kk == 1 ? 2 : 5, .seed = 5};
        CHECK(g4_sampler_create(&s, &p, 5, &err) == G4_OK);
        CHECK_MSG(g4_sampler_sample(s, nanl) == 2, "top_k %d with NaN logits", p.top_k);
        g4_sampler_free(s);
        CHECK(g4_sampler_create(&s, &p, 3, &err) == G4_OK);
        const int t = g4_sampler_sample(s, alln);
        CHECK(t >= 0 && t < 3);
        CHECK(g4_sampler_sample(s, inf) == 1);
        g4_sampler_free(s);
    }

    p = (g4_sampler_params){.temperature = -1};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_ERR_ARG);
    p = (g4_sampler_params){.top_p = 2};
    CHECK(g4_sampler_create(&s, &p, 4, &err) == G4_ERR_ARG);
    CHECK(g4_sampler_create(&s, NULL, 0, &err) == G4_ERR_ARG);
    g4_sampler_params dp = g4_sampler_default_params();
    CHECK(dp.temperature == 1.0f && dp.top_k == 64 && dp.top_p == 0.95f);
    return test_report("test_sampler");
}
