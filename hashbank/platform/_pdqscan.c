/* The compiled scan of hashbank.platform.index: the same multi-index tables as the numpy
 * backend, searched and built in C. Optional: when this extension is not built, the index
 * answers the same queries with numpy (tests check that both give identical answers).
 *
 * Tables (all little-endian, C order, as hashbank.platform.index._NumpyTables holds them):
 *   offsets  int64  [16][65537]  bucket v of chunk c is entries offsets[c][v] .. offsets[c][v+1]
 *   rows     uint32 [16][n]      the stored row of each entry
 *   sketch   uint64 [16][n][2]   the half of the hash without chunk c (words 2,3 for chunks
 *                                0-7, words 0,1 for chunks 8-15)
 *   codes    uint8  [n][32]      the stored hashes
 *
 * search() answers a batch of queries exactly: every live row within `limit` bits, each once,
 * sorted by query, distance, row. A row is reported only from the first chunk in which it is
 * within `flips` bits of the query: it is in a probed bucket there (the probes are every value
 * within `flips` bits), so it is found exactly once without a set of rows seen.
 *
 * Only plain C, POSIX threads and the CPython buffer protocol: no numpy headers, so the build
 * needs nothing but a C compiler and Python's headers. The GIL is released while scanning and
 * building: queries from several Python threads run at once, a large batch is shared by this
 * module's own threads (scan_batch), and the Python side builds several chunks at once.
 * The scanning loops themselves are in _pdqscan_scan.h, compiled once per instruction set.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNKS 16
#define HALF (CHUNKS / 2)
#define CHUNK_VALUES 65536
#define OFFSETS_PER_CHUNK (CHUNK_VALUES + 1)
#define HASH_BYTES 32

#if defined(__unix__) || defined(__APPLE__)
#define HAVE_THREADS 1
#include <pthread.h>
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define X86_KERNELS 1
#include <immintrin.h>
#endif

#if defined(__GNUC__)
#ifndef PREFETCH_LOCALITY
#define PREFETCH_LOCALITY 3 /* into the first-level cache: measured 10-15% faster than 1 */
#endif
#define PREFETCH(p) __builtin_prefetch((const void *)(p), 0, PREFETCH_LOCALITY)
#define POPCOUNT(x) __builtin_popcountll(x)
#else
#define PREFETCH(p) ((void)0)
static int POPCOUNT(uint64_t x) {
    int n = 0;
    while (x) { x &= x - 1; n++; }
    return n;
}
#endif

typedef struct {
    const int64_t *offsets;
    const uint32_t *rows;
    const uint64_t *sketch;
    const uint64_t *codes; /* n rows of 4 words */
    const uint8_t *alive;  /* NULL: every row is alive */
    int64_t count;
} Tables;

/* A growing array of 64-bit keys (distance << 32 | row) for one query, and the output. */
typedef struct {
    uint64_t *data;
    size_t size, capacity;
} Keys;

static int keys_push(Keys *keys, uint64_t value) {
    if (keys->size == keys->capacity) {
        size_t capacity = keys->capacity ? 2 * keys->capacity : 256;
        uint64_t *data = realloc(keys->data, capacity * sizeof(uint64_t));
        if (!data) return -1;
        keys->data = data;
        keys->capacity = capacity;
    }
    keys->data[keys->size++] = value;
    return 0;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void sort_keys(uint64_t *data, size_t n) {
    if (n > 24) {
        qsort(data, n, sizeof(uint64_t), compare_u64);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint64_t value = data[i];
        size_t j = i;
        while (j > 0 && data[j - 1] > value) {
            data[j] = data[j - 1];
            j--;
        }
        data[j] = value;
    }
}

typedef struct {
    int64_t *query;
    int64_t *row;
    int32_t *distance;
    size_t size, capacity;
} Output;

static int output_reserve(Output *out, size_t extra) {
    if (out->size + extra <= out->capacity) return 0;
    size_t capacity = out->capacity ? out->capacity : 1024;
    while (capacity < out->size + extra) capacity *= 2;
    int64_t *query = realloc(out->query, capacity * sizeof(int64_t));
    if (!query) return -1;
    out->query = query;
    int64_t *row = realloc(out->row, capacity * sizeof(int64_t));
    if (!row) return -1;
    out->row = row;
    int32_t *distance = realloc(out->distance, capacity * sizeof(int32_t));
    if (!distance) return -1;
    out->distance = distance;
    out->capacity = capacity;
    return 0;
}

enum { SCAN_OK = 0, SCAN_NOMEM = -1, SCAN_CORRUPT = -2 };

/* How many probes ahead of the one being scanned its bucket bounds, and its bucket's cache
 * lines, are requested (measured on the development machine at 100,000 and 1,000,000). */
#ifndef OFFSETS_AHEAD
#define OFFSETS_AHEAD 24
#endif
#ifndef SKETCH_AHEAD
#define SKETCH_AHEAD 8
#endif

typedef struct {
    uint32_t query, row;
    int32_t distance;
} Hit;

typedef struct {
    Hit *data;
    size_t size, capacity;
} Hits;

static int hits_push(Hits *hits, uint32_t query, uint32_t row, int distance) {
    if (hits->size == hits->capacity) {
        size_t capacity = hits->capacity ? 2 * hits->capacity : 1024;
        Hit *data = realloc(hits->data, capacity * sizeof(Hit));
        if (!data) return -1;
        hits->data = data;
        hits->capacity = capacity;
    }
    hits->data[hits->size++] = (Hit){query, row, distance};
    return 0;
}

/* The scanning loops, once per instruction set (see _pdqscan_scan.h). */
#define SCAN_SUFFIX portable
#define SCAN_TARGET
#define SCAN_AVX512 0
#include "_pdqscan_scan.h"
#undef SCAN_SUFFIX
#undef SCAN_TARGET
#undef SCAN_AVX512

#ifdef X86_KERNELS
#define SCAN_SUFFIX popcnt
#define SCAN_TARGET __attribute__((target("popcnt")))
#define SCAN_AVX512 0
#include "_pdqscan_scan.h"
#undef SCAN_SUFFIX
#undef SCAN_TARGET
#undef SCAN_AVX512

#define SCAN_SUFFIX avx512
#define SCAN_TARGET __attribute__((target("popcnt,avx512f,avx512vpopcntdq")))
#define SCAN_AVX512 1
#include "_pdqscan_scan.h"
#undef SCAN_SUFFIX
#undef SCAN_TARGET
#undef SCAN_AVX512
#endif

typedef int (*scan_query_fn)(const Tables *, const uint64_t *, const uint16_t *, int, int, int, int64_t *, int64_t *,
                             const int64_t **, const uint64_t **, Keys *);
typedef int (*scan_batch_chunk_fn)(const Tables *, const uint64_t *, int64_t, const uint16_t *, int, int, int, int,
                                   uint32_t *, int64_t *, Hits *);

/* The loops in use, one of `variants` (chosen when the module is loaded; kernel() changes it). */
static const struct Variant {
    const char *name;
    scan_query_fn scan_query;
    scan_batch_chunk_fn scan_batch_chunk;
} variants[] = {
#ifdef X86_KERNELS
    {"avx512", scan_query_avx512, scan_batch_chunk_avx512},
    {"popcnt", scan_query_popcnt, scan_batch_chunk_popcnt},
#endif
    {"portable", scan_query_portable, scan_batch_chunk_portable},
};
static const struct Variant *active = &variants[sizeof(variants) / sizeof(variants[0]) - 1];

/* A batch shared by several threads chunk by chunk: each takes the next chunk not yet taken
 * (so a thread that the machine holds back does less, instead of being waited for), with its
 * own scratch and hits. Each hit is found in one chunk only, so the threads' hits together are
 * the answer, which is then sorted by query (a counting sort), distance and row. */
#define MAX_THREADS 16

typedef struct {
    const struct Variant *variant;
    const Tables *t;
    const uint64_t *queries;
    int64_t query_count;
    const uint16_t *masks;
    int mask_count, flips, limit;
    int next_chunk; /* taken with __atomic_fetch_add */
    int failed;     /* any thread's error stops the others at their next chunk */
} Batch;

typedef struct {
    Batch *batch;
    Hits hits;
    int status;
} Worker;

static void *batch_worker(void *arg) {
    Worker *worker = arg;
    Batch *batch = worker->batch;
    uint32_t *order = malloc(sizeof(uint32_t) * ((size_t)batch->query_count * (size_t)batch->mask_count + 1));
    int64_t *start = malloc(sizeof(int64_t) * (CHUNK_VALUES + 1));
    worker->status = order && start ? SCAN_OK : SCAN_NOMEM;
    while (worker->status == SCAN_OK && !__atomic_load_n(&batch->failed, __ATOMIC_RELAXED)) {
        const int c = __atomic_fetch_add(&batch->next_chunk, 1, __ATOMIC_RELAXED);
        if (c >= CHUNKS) break;
        worker->status = batch->variant->scan_batch_chunk(batch->t, batch->queries, batch->query_count, batch->masks,
                                                          batch->mask_count, batch->flips, batch->limit, c, order,
                                                          start, &worker->hits);
    }
    if (worker->status != SCAN_OK) __atomic_store_n(&batch->failed, 1, __ATOMIC_RELAXED);
    free(order);
    free(start);
    return NULL;
}

static int scan_batch(const Tables *t, const uint64_t *queries, int64_t query_count, const uint16_t *masks,
                      int mask_count, int flips, int limit, int64_t first_query, int threads, Output *out) {
    Batch batch = {active, t, queries, query_count, masks, mask_count, flips, limit, 0, 0};
    Worker workers[MAX_THREADS];
    memset(workers, 0, sizeof(workers));
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > CHUNKS) threads = CHUNKS;
    for (int i = 0; i < threads; i++) workers[i].batch = &batch;
#ifdef HAVE_THREADS
    pthread_t ids[MAX_THREADS];
    int started = 0;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&ids[i], NULL, batch_worker, &workers[i]) != 0) break;
        started = i;
    }
    batch_worker(&workers[0]); /* this thread works too */
    for (int i = 1; i <= started; i++) pthread_join(ids[i], NULL);
    threads = started + 1;
#else
    threads = 1;
    batch_worker(&workers[0]);
#endif
    int status = SCAN_OK;
    size_t total = 0;
    for (int i = 0; i < threads; i++) {
        if (workers[i].status != SCAN_OK && status == SCAN_OK) status = workers[i].status;
        total += workers[i].hits.size;
    }
    int64_t *per_query = NULL;
    uint64_t *keys = NULL;
    if (status != SCAN_OK || !total) goto done;
    per_query = calloc((size_t)query_count + 1, sizeof(int64_t));
    keys = malloc(sizeof(uint64_t) * total);
    if (!per_query || !keys || output_reserve(out, total) < 0) {
        status = SCAN_NOMEM;
        goto done;
    }
    for (int i = 0; i < threads; i++)
        for (size_t j = 0; j < workers[i].hits.size; j++) per_query[workers[i].hits.data[j].query + 1]++;
    for (int64_t q = 0; q < query_count; q++) per_query[q + 1] += per_query[q];
    for (int i = 0; i < threads; i++) {
        for (size_t j = 0; j < workers[i].hits.size; j++) {
            const Hit *hit = &workers[i].hits.data[j];
            /* per_query[q] walks from the start of q's slots to the start of q + 1's. */
            keys[per_query[hit->query]++] = ((uint64_t)(uint32_t)hit->distance << 32) | hit->row;
        }
    }
    for (int64_t q = 0, a = 0; q < query_count; q++) {
        const int64_t b = per_query[q];
        sort_keys(keys + a, (size_t)(b - a));
        for (int64_t i = a; i < b; i++) {
            out->query[out->size] = first_query + q;
            out->row[out->size] = (int64_t)(keys[i] & 0xFFFFFFFFu);
            out->distance[out->size] = (int32_t)(keys[i] >> 32);
            out->size++;
        }
        a = b;
    }
done:
    for (int i = 0; i < MAX_THREADS; i++) free(workers[i].hits.data);
    free(per_query);
    free(keys);
    return status;
}

/* A C-contiguous buffer of `expected` bytes (any size when negative), aligned to 8 bytes so
 * that it can be read as 64-bit words (numpy's arrays and .npy files always are). */
static int get_buffer(PyObject *object, Py_buffer *view, Py_ssize_t expected, const char *what) {
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (expected >= 0 && view->len != expected) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", what, view->len, expected);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    if ((uintptr_t)view->buf % 8) {
        PyErr_Format(PyExc_ValueError, "%s is not aligned to 8 bytes", what);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static PyObject *bytes_of(const void *data, size_t size) {
    return PyByteArray_FromStringAndSize(data ? (const char *)data : "", (Py_ssize_t)size);
}

/* The four tables, held by a capsule between calls (their buffers are acquired once, not per
 * query: a single query is a few microseconds of work at 10,000 hashes). */
typedef struct {
    Py_buffer offsets, rows, sketch, codes;
    Tables tables;
} Prepared;

static const char *const PREPARED = "hashbank.platform._pdqscan.tables";

static void release_prepared(Prepared *prepared) {
    if (prepared->offsets.obj) PyBuffer_Release(&prepared->offsets);
    if (prepared->rows.obj) PyBuffer_Release(&prepared->rows);
    if (prepared->sketch.obj) PyBuffer_Release(&prepared->sketch);
    if (prepared->codes.obj) PyBuffer_Release(&prepared->codes);
    free(prepared);
}

static void prepared_destructor(PyObject *capsule) {
    Prepared *prepared = PyCapsule_GetPointer(capsule, PREPARED);
    if (prepared) release_prepared(prepared);
}

PyDoc_STRVAR(tables_doc,
             "tables(offsets, rows, sketch, codes) -> an opaque handle for search()\n\n"
             "`offsets` int64 [16][65537], `rows` uint32 [16][n], `sketch` uint64 [16][n][2], `codes`\n"
             "uint8 [n][32], C-contiguous and aligned; the handle keeps them alive.");

static PyObject *make_tables(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *offsets_obj, *rows_obj, *sketch_obj, *codes_obj;
    if (!PyArg_ParseTuple(args, "OOOO", &offsets_obj, &rows_obj, &sketch_obj, &codes_obj)) return NULL;
    Prepared *prepared = calloc(1, sizeof(Prepared));
    if (!prepared) return PyErr_NoMemory();
    if (get_buffer(codes_obj, &prepared->codes, -1, "codes") < 0) goto fail;
    if (prepared->codes.len % HASH_BYTES) {
        PyErr_SetString(PyExc_ValueError, "codes is not a whole number of hashes");
        goto fail;
    }
    const int64_t count = prepared->codes.len / HASH_BYTES;
    if (count >= ((int64_t)1 << 32)) {
        PyErr_SetString(PyExc_ValueError, "an index holds fewer than 2**32 hashes");
        goto fail;
    }
    if (get_buffer(offsets_obj, &prepared->offsets, (Py_ssize_t)(CHUNKS * OFFSETS_PER_CHUNK * sizeof(int64_t)),
                   "offsets") < 0)
        goto fail;
    if (get_buffer(rows_obj, &prepared->rows, (Py_ssize_t)(CHUNKS * count * sizeof(uint32_t)), "rows") < 0) goto fail;
    if (get_buffer(sketch_obj, &prepared->sketch, (Py_ssize_t)(CHUNKS * count * 2 * sizeof(uint64_t)), "sketch") < 0)
        goto fail;
    prepared->tables = (Tables){
        .offsets = prepared->offsets.buf,
        .rows = prepared->rows.buf,
        .sketch = prepared->sketch.buf,
        .codes = prepared->codes.buf,
        .alive = NULL,
        .count = count,
    };
    PyObject *capsule = PyCapsule_New(prepared, PREPARED, prepared_destructor);
    if (!capsule) goto fail;
    return capsule;
fail:
    release_prepared(prepared);
    return NULL;
}

PyDoc_STRVAR(search_doc,
             "search(tables, alive, queries, masks, flips, limit, first_query, batch_from, threads=1)\n"
             "-> None, or (query int64 bytes, row int64 bytes, distance int32 bytes)\n\n"
             "Every live stored row within `limit` bits of each query, once, sorted by query, distance\n"
             "and row (None when there is none). `tables` comes from tables(); `alive` is a uint8 per\n"
             "row or None (all alive); `masks` every uint16 with at most `flips` bits set; query numbers\n"
             "start at `first_query`. From `batch_from` queries on, the queries are answered together,\n"
             "chunk by chunk in bucket order (one sweep of each table), on up to `threads` threads that\n"
             "take the 16 chunks in turn; below, one at a time on this thread.");

static PyObject *search(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *tables_obj, *alive_obj, *queries_obj, *masks_obj;
    int flips, limit, threads = 1;
    long long first_query, batch_from;
    if (!PyArg_ParseTuple(args, "OOOOiiLL|i", &tables_obj, &alive_obj, &queries_obj, &masks_obj, &flips, &limit,
                          &first_query, &batch_from, &threads))
        return NULL;
    Prepared *prepared = PyCapsule_GetPointer(tables_obj, PREPARED);
    if (!prepared) return NULL;
    if (flips < 0 || flips > 16 || limit < 0 || limit > 256) {
        PyErr_SetString(PyExc_ValueError, "flips or limit out of range");
        return NULL;
    }
    Py_buffer alive = {0}, queries = {0}, masks = {0};
    PyObject *result = NULL;
    int64_t *lo = NULL, *hi = NULL;
    const int64_t **where = NULL;
    const uint64_t **bases = NULL;
    Keys found = {0};
    Output out = {0};
    int status = SCAN_OK;
    Tables tables = prepared->tables;
    const int64_t count = tables.count;

    if (alive_obj != Py_None) {
        if (get_buffer(alive_obj, &alive, (Py_ssize_t)count, "alive") < 0) goto done;
        tables.alive = alive.buf;
    }
    if (get_buffer(queries_obj, &queries, -1, "queries") < 0) goto done;
    if (queries.len % HASH_BYTES) {
        PyErr_SetString(PyExc_ValueError, "queries is not a whole number of hashes");
        goto done;
    }
    if (get_buffer(masks_obj, &masks, -1, "masks") < 0) goto done;
    const int mask_count = (int)(masks.len / (Py_ssize_t)sizeof(uint16_t));
    if (mask_count < 1 || masks.len % (Py_ssize_t)sizeof(uint16_t)) {
        PyErr_SetString(PyExc_ValueError, "masks must be a non-empty uint16 array");
        goto done;
    }
    for (int m = 0; m < mask_count; m++) {
        if (POPCOUNT(((const uint16_t *)masks.buf)[m]) > flips) {
            PyErr_SetString(PyExc_ValueError, "a mask has more bits set than flips");
            goto done;
        }
    }

    const Py_ssize_t query_count = queries.len / HASH_BYTES;
    const int probes = CHUNKS * mask_count;
    lo = malloc(sizeof(int64_t) * probes);
    hi = malloc(sizeof(int64_t) * probes);
    where = malloc(sizeof(int64_t *) * probes);
    bases = malloc(sizeof(uint64_t *) * probes);
    if (!lo || !hi || !where || !bases) {
        PyErr_NoMemory();
        goto done;
    }
    if (count > 0 && query_count >= batch_from) {
        Py_BEGIN_ALLOW_THREADS
        status = scan_batch(&tables, queries.buf, query_count, masks.buf, mask_count, flips, limit, first_query, threads,
                            &out);
        Py_END_ALLOW_THREADS
    } else if (count > 0) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t q = 0; q < query_count && status == SCAN_OK; q++) {
            const uint64_t *query = (const uint64_t *)queries.buf + 4 * q;
            status = active->scan_query(&tables, query, masks.buf, mask_count, flips, limit, lo, hi, where, bases, &found);
            if (status == SCAN_OK && found.size) {
                if (output_reserve(&out, found.size) < 0) {
                    status = SCAN_NOMEM;
                    break;
                }
                for (size_t i = 0; i < found.size; i++) {
                    out.query[out.size] = first_query + q;
                    out.row[out.size] = (int64_t)(found.data[i] & 0xFFFFFFFFu);
                    out.distance[out.size] = (int32_t)(found.data[i] >> 32);
                    out.size++;
                }
            }
        }
        Py_END_ALLOW_THREADS
    }
    if (status == SCAN_NOMEM) {
        PyErr_NoMemory();
        goto done;
    }
    if (status == SCAN_CORRUPT) {
        PyErr_SetString(PyExc_ValueError, "corrupt index tables: a bucket or row is out of range");
        goto done;
    }
    if (!out.size) {
        result = Py_NewRef(Py_None);
    } else {
        PyObject *q = bytes_of(out.query, out.size * sizeof(int64_t));
        PyObject *r = bytes_of(out.row, out.size * sizeof(int64_t));
        PyObject *d = bytes_of(out.distance, out.size * sizeof(int32_t));
        if (q && r && d) result = PyTuple_Pack(3, q, r, d);
        Py_XDECREF(q);
        Py_XDECREF(r);
        Py_XDECREF(d);
    }

done:
    free(lo);
    free(hi);
    free(where);
    free(bases);
    free(found.data);
    free(out.query);
    free(out.row);
    free(out.distance);
    if (alive.obj) PyBuffer_Release(&alive);
    if (queries.obj) PyBuffer_Release(&queries);
    if (masks.obj) PyBuffer_Release(&masks);
    return result;
}

PyDoc_STRVAR(build_chunk_doc,
             "build_chunk(codes, chunk, offsets, rows, sketch)\n\n"
             "Fill one chunk's tables from `codes` (n x 32 bytes): `offsets` (65537 int64), `rows`\n"
             "(n uint32) and `sketch` (n x 2 uint64), writable. A stable counting sort: the same\n"
             "order as numpy's stable argsort of the chunk's values.");

static PyObject *build_chunk(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *codes_obj, *offsets_obj, *rows_obj, *sketch_obj;
    int chunk;
    if (!PyArg_ParseTuple(args, "OiOOO", &codes_obj, &chunk, &offsets_obj, &rows_obj, &sketch_obj)) return NULL;
    if (chunk < 0 || chunk >= CHUNKS) {
        PyErr_SetString(PyExc_ValueError, "chunk out of range");
        return NULL;
    }
    Py_buffer codes = {0}, offsets = {0}, rows = {0}, sketch = {0};
    PyObject *result = NULL;
    int64_t *cursor = NULL;
    if (get_buffer(codes_obj, &codes, -1, "codes") < 0) goto done;
    if (codes.len % HASH_BYTES) {
        PyErr_SetString(PyExc_ValueError, "codes is not a whole number of hashes");
        goto done;
    }
    const int64_t count = codes.len / HASH_BYTES;
    if (count >= ((int64_t)1 << 32)) {
        PyErr_SetString(PyExc_ValueError, "an index holds fewer than 2**32 hashes");
        goto done;
    }
    if (PyObject_GetBuffer(offsets_obj, &offsets, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) goto done;
    if (PyObject_GetBuffer(rows_obj, &rows, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) goto done;
    if (PyObject_GetBuffer(sketch_obj, &sketch, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) goto done;
    if ((uintptr_t)offsets.buf % 8 || (uintptr_t)rows.buf % 4 || (uintptr_t)sketch.buf % 8) {
        PyErr_SetString(PyExc_ValueError, "table buffers are not aligned");
        goto done;
    }
    if (offsets.len != (Py_ssize_t)(OFFSETS_PER_CHUNK * sizeof(int64_t)) ||
        rows.len != (Py_ssize_t)(count * sizeof(uint32_t)) || sketch.len != (Py_ssize_t)(count * 2 * sizeof(uint64_t))) {
        PyErr_SetString(PyExc_ValueError, "table buffers do not fit the hashes");
        goto done;
    }
    cursor = malloc(sizeof(int64_t) * CHUNK_VALUES);
    if (!cursor) {
        PyErr_NoMemory();
        goto done;
    }
    {
        const uint8_t *data = codes.buf;
        int64_t *bounds = offsets.buf;
        uint32_t *row_out = rows.buf;
        uint64_t *sketch_out = sketch.buf;
        const int first_word = chunk < HALF ? 2 : 0;
        Py_BEGIN_ALLOW_THREADS
        memset(cursor, 0, sizeof(int64_t) * CHUNK_VALUES);
        for (int64_t i = 0; i < count; i++) {
            uint16_t value;
            memcpy(&value, data + i * HASH_BYTES + 2 * chunk, 2);
            cursor[value]++;
        }
        bounds[0] = 0;
        for (int v = 0; v < CHUNK_VALUES; v++) {
            bounds[v + 1] = bounds[v] + cursor[v];
            cursor[v] = bounds[v];
        }
        for (int64_t i = 0; i < count; i++) {
            const uint8_t *code = data + i * HASH_BYTES;
            uint16_t value;
            uint64_t words[2];
            memcpy(&value, code + 2 * chunk, 2);
            memcpy(words, code + 8 * first_word, 16);
            const int64_t position = cursor[value]++;
            row_out[position] = (uint32_t)i;
            sketch_out[2 * position] = words[0];
            sketch_out[2 * position + 1] = words[1];
        }
        Py_END_ALLOW_THREADS
    }
    result = Py_NewRef(Py_None);

done:
    free(cursor);
    if (codes.obj) PyBuffer_Release(&codes);
    if (offsets.obj) PyBuffer_Release(&offsets);
    if (rows.obj) PyBuffer_Release(&rows);
    if (sketch.obj) PyBuffer_Release(&sketch);
    return result;
}

static int filter_supported(const char *name) {
#ifdef X86_KERNELS
    __builtin_cpu_init();
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
    if (!strcmp(name, "popcnt")) return __builtin_cpu_supports("popcnt");
#endif
    return !strcmp(name, "portable");
}

PyDoc_STRVAR(kernels_doc, "kernels() -> the scanning loops this processor runs, fastest first");

static PyObject *kernels(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    PyObject *names = PyList_New(0);
    if (!names) return NULL;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        if (!filter_supported(variants[i].name)) continue;
        PyObject *name = PyUnicode_FromString(variants[i].name);
        if (!name || PyList_Append(names, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(names);
            return NULL;
        }
        Py_DECREF(name);
    }
    return names;
}

PyDoc_STRVAR(kernel_doc,
             "kernel(name=None) -> the inner loop in use; with a name from kernels(), use that one\n"
             "instead (for tests and benchmarks: every one gives the same answers).");

static PyObject *kernel(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "|z", &name)) return NULL;
    if (name) {
        size_t i = 0;
        while (i < sizeof(variants) / sizeof(variants[0]) && strcmp(variants[i].name, name)) i++;
        if (i == sizeof(variants) / sizeof(variants[0]) || !filter_supported(name)) {
            PyErr_Format(PyExc_ValueError, "no %s kernel on this processor", name);
            return NULL;
        }
        active = &variants[i];
    }
    return PyUnicode_FromString(active->name);
}

static PyMethodDef methods[] = {
    {"tables", make_tables, METH_VARARGS, tables_doc},
    {"search", search, METH_VARARGS, search_doc},
    {"build_chunk", build_chunk, METH_VARARGS, build_chunk_doc},
    {"kernels", kernels, METH_NOARGS, kernels_doc},
    {"kernel", kernel, METH_VARARGS, kernel_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pdqscan", "The compiled scan of hashbank.platform.index.", -1, methods,
};

PyMODINIT_FUNC PyInit__pdqscan(void) {
    if (PY_LITTLE_ENDIAN == 0) {
        PyErr_SetString(PyExc_ImportError, "the compiled PDQ scan assumes a little-endian machine");
        return NULL;
    }
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        if (filter_supported(variants[i].name)) {
            active = &variants[i];
            break;
        }
    }
    return PyModule_Create(&module);
}
