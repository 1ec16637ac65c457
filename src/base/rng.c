/* xoshiro256** (Blackman & Vigna), seeded with splitmix64. */
#include "posterior/base.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void pst_rng_seed(pst_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

uint64_t pst_rng_u64(pst_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double pst_rng_uniform(pst_rng *rng) { return (pst_rng_u64(rng) >> 11) * 0x1.0p-53; }

double pst_rng_normal(pst_rng *rng) {
    /* Box–Muller; u1 in (0, 1] so log is finite. */
    double u1 = 1.0 - pst_rng_uniform(rng), u2 = pst_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t pst_rng_below(pst_rng *rng, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t x;
    do x = pst_rng_u64(rng);
    while (x >= limit);
    return x % n;
}

pst_rng pst_rng_split(const pst_rng *rng, uint64_t label) {
    uint64_t x = rng->s[0] ^ rotl(rng->s[1], 13) ^ rotl(rng->s[2], 29) ^ rotl(rng->s[3], 43) ^
                 (label * 0xd1342543de82ef95ULL);
    pst_rng out;
    for (int i = 0; i < 4; i++) out.s[i] = splitmix64(&x);
    return out;
}
