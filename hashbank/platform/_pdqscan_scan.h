/* The scanning loops of _pdqscan.c, compiled once per instruction set: that file includes this
 * one three times with SCAN_SUFFIX (the name's ending), SCAN_TARGET (a function attribute) and
 * SCAN_AVX512 set, so that the inner loop is inlined into the scan and the popcount is the
 * processor's own instruction where it has one. Not a header to include anywhere else. */

#define SCAN_PASTE2(a, b) a##_##b
#define SCAN_PASTE(a, b) SCAN_PASTE2(a, b)
#define SCAN_FN(name) SCAN_PASTE(name, SCAN_SUFFIX)

/* Which of up to 64 consecutive entries of a chunk's sketch are within `limit` bits of the
 * query's sketch (s0, s1), as a bit mask. */
SCAN_TARGET static inline uint64_t SCAN_FN(filter)(const uint64_t *entries, int n, uint64_t s0, uint64_t s1,
                                                     int limit) {
    uint64_t mask = 0;
    int i = 0;
#if SCAN_AVX512
    /* Four entries per instruction: 64-bit popcounts of the XOR with the query, the two words
     * of each entry added, compared with the limit. */
    const __m512i query = _mm512_set_epi64((long long)s1, (long long)s0, (long long)s1, (long long)s0,
                                           (long long)s1, (long long)s0, (long long)s1, (long long)s0);
    const __m512i bound = _mm512_set1_epi64(limit);
    for (; i + 4 <= n; i += 4) {
        const __m512i bits = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(entries + 2 * i), query));
        const __m512i sums = _mm512_add_epi64(bits, _mm512_shuffle_epi32(bits, (_MM_PERM_ENUM)0x4E));
        const unsigned ok = _mm512_mask_cmple_epu64_mask(0x55, sums, bound);
        mask |= (uint64_t)((ok & 1u) | ((ok >> 1) & 2u) | ((ok >> 2) & 4u) | ((ok >> 3) & 8u)) << i;
    }
    /* The last one to three entries one by one (a masked vector load costs more for so few). */
#endif
    for (; i < n; i++)
        if (POPCOUNT(entries[2 * i] ^ s0) + POPCOUNT(entries[2 * i + 1] ^ s1) <= limit) mask |= (uint64_t)1 << i;
    return mask;
}

/* A candidate whose sketch passed: its full distance, and whether this chunk is the first in
 * which it is within `flips` bits (only then is it reported). Returns the distance, or -1. */
SCAN_TARGET static inline int SCAN_FN(check_candidate)(const Tables *t, const uint64_t *query, uint32_t row, int chunk, int flips,
                                  int limit, int *status) {
    if ((int64_t)row >= t->count) {
        *status = SCAN_CORRUPT;
        return -1;
    }
    if (t->alive && !t->alive[row]) return -1;
    const uint64_t *code = t->codes + 4 * (size_t)row;
    const uint64_t diff[4] = {code[0] ^ query[0], code[1] ^ query[1], code[2] ^ query[2], code[3] ^ query[3]};
    const int distance = POPCOUNT(diff[0]) + POPCOUNT(diff[1]) + POPCOUNT(diff[2]) + POPCOUNT(diff[3]);
    if (distance > limit) return -1;
    for (int c = 0; c < chunk; c++)
        if (POPCOUNT((diff[c / 4] >> (16 * (c % 4))) & 0xFFFFu) <= flips) return -1;
    return distance;
}

SCAN_TARGET static inline void SCAN_FN(prefetch_range)(const uint64_t *sketch, int64_t start, int64_t end) {
    /* The first four lines at most: past those the processor's own prefetcher follows the run. */
    const char *line = (const char *)(sketch + 2 * start);
    const char *last = (const char *)(sketch + 2 * end);
    if (last > line + 256) last = line + 256;
    for (; line < last; line += 64) PREFETCH(line);
}

/* One query, in a pipeline over its probes (272 at t = 31): the bucket bounds of the probe
 * OFFSETS_AHEAD places ahead are requested, those of the probe SKETCH_AHEAD places ahead are
 * read and their bucket's cache lines requested, and the current probe's bucket is scanned, so
 * that the memory system always has a steady number of independent misses to work on. */
SCAN_TARGET static int SCAN_FN(scan_query)(const Tables *t, const uint64_t *query, const uint16_t *masks, int mask_count,
                                           int flips, int limit, int64_t *lo, int64_t *hi, const int64_t **where,
                                           const uint64_t **bases, Keys *found) {
    const uint16_t *chunks = (const uint16_t *)query;
    const int probes = CHUNKS * mask_count;
    int status = SCAN_OK;
    found->size = 0;

    for (int c = 0, p = 0; c < CHUNKS; c++) {
        const int64_t *offsets = t->offsets + (size_t)c * OFFSETS_PER_CHUNK;
        const uint64_t *sketch = t->sketch + (size_t)c * (size_t)t->count * 2;
        for (int m = 0; m < mask_count; m++, p++) {
            where[p] = offsets + (uint16_t)(chunks[c] ^ masks[m]);
            bases[p] = sketch;
        }
    }
#define READ_BOUNDS(p)                                                                      \
    do {                                                                                    \
        lo[p] = where[p][0];                                                                \
        hi[p] = where[p][1];                                                                \
        if (lo[p] < 0 || hi[p] > t->count || lo[p] > hi[p]) return SCAN_CORRUPT;           \
        SCAN_FN(prefetch_range)(bases[p], lo[p], hi[p]);                                         \
    } while (0)
    for (int p = 0; p < probes && p < OFFSETS_AHEAD; p++) PREFETCH(where[p]);
    for (int p = 0; p < probes && p < SKETCH_AHEAD; p++) READ_BOUNDS(p);
    for (int c = 0, p = 0; c < CHUNKS; c++) {
        const uint64_t *sketch = t->sketch + (size_t)c * (size_t)t->count * 2;
        const uint32_t *rows = t->rows + (size_t)c * (size_t)t->count;
        const uint64_t s0 = c < HALF ? query[2] : query[0];
        const uint64_t s1 = c < HALF ? query[3] : query[1];
        for (int m = 0; m < mask_count; m++, p++) {
            if (p + OFFSETS_AHEAD < probes) PREFETCH(where[p + OFFSETS_AHEAD]);
            if (p + SKETCH_AHEAD < probes) READ_BOUNDS(p + SKETCH_AHEAD);
            const int64_t end = hi[p];
            for (int64_t block = lo[p]; block < end; block += 64) {
                const int n = end - block < 64 ? (int)(end - block) : 64;
                for (uint64_t passed = SCAN_FN(filter)(sketch + 2 * block, n, s0, s1, limit); passed; passed &= passed - 1) {
                    const uint32_t row = rows[block + __builtin_ctzll(passed)];
                    const int distance = SCAN_FN(check_candidate)(t, query, row, c, flips, limit, &status);
                    if (status != SCAN_OK) return status;
                    if (distance < 0) continue;
                    if (keys_push(found, ((uint64_t)distance << 32) | row) < 0) return SCAN_NOMEM;
                }
            }
        }
    }
#undef READ_BOUNDS
    sort_keys(found->data, found->size);
    return SCAN_OK;
}

/* Many queries, one chunk: every (query, probe) pair is sorted by bucket (a counting sort),
 * and the chunk's table is then read in address order, each bucket once for all the queries
 * that probe it. At 10,000 queries the chunk's table is swept about once, front to back,
 * instead of being read in 170,000 random places. `order` holds query_count * mask_count
 * entries and `start` 65,537; hits are appended to `hits`. */
SCAN_TARGET static int SCAN_FN(scan_batch_chunk)(const Tables *t, const uint64_t *queries, int64_t query_count,
                                                 const uint16_t *masks, int mask_count, int flips, int limit, int c,
                                                 uint32_t *order, int64_t *start, Hits *hits) {
    int status = SCAN_OK;
    const int64_t *offsets = t->offsets + (size_t)c * OFFSETS_PER_CHUNK;
    const uint64_t *sketch = t->sketch + (size_t)c * (size_t)t->count * 2;
    const uint32_t *rows = t->rows + (size_t)c * (size_t)t->count;
    const int s = c < HALF ? 2 : 0;
    memset(start, 0, sizeof(int64_t) * (CHUNK_VALUES + 1));
    for (int64_t q = 0; q < query_count; q++) {
        const uint16_t value = ((const uint16_t *)(queries + 4 * q))[c];
        for (int m = 0; m < mask_count; m++) start[(uint16_t)(value ^ masks[m]) + 1]++;
    }
    for (int v = 0; v < CHUNK_VALUES; v++) start[v + 1] += start[v];
    for (int64_t q = 0; q < query_count; q++) {
        const uint16_t value = ((const uint16_t *)(queries + 4 * q))[c];
        for (int m = 0; m < mask_count; m++) order[start[(uint16_t)(value ^ masks[m])]++] = (uint32_t)q;
    }
    /* start[v] is now the end of bucket v's pairs (the start of v + 1's). */
    int64_t k = 0;
    for (int v = 0; v < CHUNK_VALUES; v++) {
        const int64_t end_k = start[v];
        if (k == end_k) continue;
        const int64_t lo = offsets[v], hi = offsets[v + 1];
        if (lo < 0 || hi > t->count || lo > hi) return SCAN_CORRUPT;
        for (; k < end_k; k++) {
            const uint32_t q = order[k];
            const uint64_t *query = queries + 4 * (size_t)q;
            const uint64_t s0 = query[s], s1 = query[s + 1];
            for (int64_t block = lo; block < hi; block += 64) {
                const int n = hi - block < 64 ? (int)(hi - block) : 64;
                uint64_t passed = SCAN_FN(filter)(sketch + 2 * block, n, s0, s1, limit);
                for (; passed; passed &= passed - 1) {
                    const uint32_t row = rows[block + __builtin_ctzll(passed)];
                    const int distance = SCAN_FN(check_candidate)(t, query, row, c, flips, limit, &status);
                    if (status != SCAN_OK) return status;
                    if (distance < 0) continue;
                    if (hits_push(hits, q, row, distance) < 0) return SCAN_NOMEM;
                }
            }
        }
    }
    return SCAN_OK;
}

