/* The ``fused`` method's strip loop (deconv_cli/engine/methods/fused.py): the ``terms``
 * method's arithmetic, operation for operation, one output row at a time.
 *
 * ``terms`` runs its passes over whole strips in numpy: the repeated block, one product per
 * weight row, their sums, the vertical weights, the output rows, each a pass over memory the
 * size of the strip. Here every input row is repeated, weighed and summed once into a few
 * rows that stay in the cache (a ring of the rows the next output rows need), and each output
 * row is written once. The order of the operations, and their rounding to the computation's
 * type, are those of ``terms``: the module is compiled without contracting a multiply and an
 * add into one (-ffp-contract=off), so the two methods give the same bits.
 *
 * No numpy C API: the arrays come as buffers (C-contiguous, checked by the caller and here by
 * size). The loop runs without the GIL.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    Py_ssize_t rows, L, ni, nj, C, s, chunk, chunks, off0, nterms, K, R, Rrep;
} Shape;

/* Elements a pass handles at a time: the rows being summed stay in the first-level cache. */
#define BLOCK 2048

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

/* dst[x] = a0[x]*w0[x] (+ a1[x]*w1[x] ...): the first product stored, each next one added,
 * block by block. ``wstep`` 0: each weight is one number (w[n][0]); 1: a row of weights. */
#define DEFINE_SUM(T, NAME)                                                                      \
    CLONES static void NAME(T *restrict dst, Py_ssize_t n, const T *const *src, const T *const *w, \
                            Py_ssize_t count, int wstep) {                                       \
        for (Py_ssize_t x0 = 0; x0 < n; x0 += BLOCK) {                                           \
            const Py_ssize_t m = n - x0 < BLOCK ? n - x0 : BLOCK;                                \
            T *restrict o = dst + x0;                                                            \
            for (Py_ssize_t k = 0; k < count; k++) {                                             \
                const T *restrict a = src[k] + x0;                                               \
                if (wstep) {                                                                     \
                    const T *restrict b = w[k] + x0;                                             \
                    if (k == 0)                                                                  \
                        for (Py_ssize_t x = 0; x < m; x++) o[x] = a[x] * b[x];                   \
                    else                                                                         \
                        for (Py_ssize_t x = 0; x < m; x++) {                                     \
                            T p = a[x] * b[x];                                                   \
                            o[x] = o[x] + p;                                                     \
                        }                                                                        \
                } else {                                                                         \
                    const T b = w[k][0];                                                         \
                    if (k == 0)                                                                  \
                        for (Py_ssize_t x = 0; x < m; x++) o[x] = a[x] * b;                      \
                    else                                                                         \
                        for (Py_ssize_t x = 0; x < m; x++) {                                     \
                            T p = a[x] * b;                                                      \
                            o[x] = o[x] + p;                                                     \
                        }                                                                        \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

/* One block row with each pixel repeated s times (the layout ``terms`` reads): unrolled for the
 * common channel counts, so that it costs about a store per element. */
#define DEFINE_REPEAT(T, NAME)                                                                   \
    static void NAME(T *restrict d, const T *restrict a, Py_ssize_t nj, Py_ssize_t s, Py_ssize_t C) { \
        if (s == 1) {                                                                            \
            memcpy(d, a, (size_t)(nj * C) * sizeof(T));                                          \
        } else if (C == 3 && s == 2) {                                                           \
            for (Py_ssize_t j = 0; j < nj; j++, a += 3, d += 6) {                                \
                const T r = a[0], g = a[1], b = a[2];                                            \
                d[0] = r, d[1] = g, d[2] = b, d[3] = r, d[4] = g, d[5] = b;                      \
            }                                                                                    \
        } else if (C == 1 && s == 2) {                                                           \
            for (Py_ssize_t j = 0; j < nj; j++, d += 2) d[0] = d[1] = a[j];                      \
        } else if (C == 1) {                                                                     \
            for (Py_ssize_t j = 0; j < nj; j++)                                                  \
                for (Py_ssize_t r = 0; r < s; r++) *d++ = a[j];                                  \
        } else if (C == 3) {                                                                     \
            for (Py_ssize_t j = 0; j < nj; j++, a += 3)                                          \
                for (Py_ssize_t r = 0; r < s; r++, d += 3) d[0] = a[0], d[1] = a[1], d[2] = a[2]; \
        } else if (C == 4) {                                                                     \
            for (Py_ssize_t j = 0; j < nj; j++, a += 4)                                          \
                for (Py_ssize_t r = 0; r < s; r++, d += 4)                                       \
                    d[0] = a[0], d[1] = a[1], d[2] = a[2], d[3] = a[3];                          \
        } else {                                                                                 \
            for (Py_ssize_t j = 0; j < nj; j++, a += C)                                          \
                for (Py_ssize_t r = 0; r < s; r++, d += C) memcpy(d, a, (size_t)C * sizeof(T));  \
        }                                                                                        \
    }

/* The strip: per output row, its horizontal-sum rows (computed once per block row and term,
 * kept in the ring), then the row as the sum of them times their vertical weights. */
#define DEFINE_STRIP(T, NAME, SUM, REPEAT)                                                       \
    static void NAME(const Shape *g, T *dst, const T *blk, const T *wts, const int64_t *woff,    \
                     const int64_t *wterm, const int64_t *vidx, const T *vwt, T *rep, T *ring,   \
                     int64_t *tags, int64_t *reptags, const T **src, const T **wp, const T **hsrc, \
                     const T **hw) {                                                             \
        const Py_ssize_t width = g->chunks * g->chunk;                                           \
        const Py_ssize_t replen = g->nj * g->s * g->C;                                           \
        for (Py_ssize_t i = 0; i < g->Rrep; i++) reptags[i] = -1; /* the block rows in rep */    \
        for (Py_ssize_t i = 0; i < g->nterms * g->R; i++) tags[i] = -1;                          \
        for (Py_ssize_t row = 0; row < g->rows; row++) {                                         \
            Py_ssize_t count = 0;                                                                \
            for (Py_ssize_t t = 0; t < g->nterms; t++) {                                         \
                for (Py_ssize_t k = 0; k < g->K; k++) {                                          \
                    const Py_ssize_t at = (row * g->nterms + t) * g->K + k;                      \
                    const int64_t i = vidx[at];                                                  \
                    if (i < 0) break;                                                            \
                    const Py_ssize_t slot = t * g->R + (Py_ssize_t)(i % g->R);                   \
                    T *h = ring + slot * width;                                                  \
                    if (tags[slot] != i) {                                                       \
                        T *rrow = rep + (i % g->Rrep) * replen;                                  \
                        if (reptags[i % g->Rrep] != i) {                                         \
                            REPEAT(rrow, blk + i * g->nj * g->C, g->nj, g->s, g->C);             \
                            reptags[i % g->Rrep] = i;                                            \
                        }                                                                        \
                        for (Py_ssize_t q = 0; q < g->chunks; q++) {                             \
                            Py_ssize_t nw = 0;                                                   \
                            for (int64_t n = wterm[t]; n < wterm[t + 1]; n++, nw++) {            \
                                hsrc[nw] = rrow + woff[n] + q * g->chunk;                        \
                                hw[nw] = wts + n * g->chunk;                                     \
                            }                                                                    \
                            SUM(h + q * g->chunk, g->chunk, hsrc, hw, nw, 1);                    \
                        }                                                                        \
                        tags[slot] = i;                                                          \
                    }                                                                            \
                    src[count] = h + g->off0;                                                    \
                    wp[count] = vwt + at;                                                        \
                    count++;                                                                     \
                }                                                                                \
            }                                                                                    \
            T *out = dst + row * g->L;                                                           \
            if (count)                                                                           \
                SUM(out, g->L, src, wp, count, 0);                                               \
            else                                                                                 \
                memset(out, 0, (size_t)g->L * sizeof(T));                                        \
        }                                                                                        \
    }

DEFINE_SUM(float, sum_f32)
DEFINE_SUM(double, sum_f64)
DEFINE_REPEAT(float, repeat_f32)
DEFINE_REPEAT(double, repeat_f64)
DEFINE_STRIP(float, strip_f32, sum_f32, repeat_f32)
DEFINE_STRIP(double, strip_f64, sum_f64, repeat_f64)

static int
need(Py_buffer *b, double n, Py_ssize_t item, const char *what) {
    /* in double: a product of hostile sizes cannot wrap around */
    if ((double)b->len < n * (double)item) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, fewer than its shape needs", what, b->len);
        return 0;
    }
    return 1;
}

static PyObject *
strip(PyObject *self, PyObject *args) {
    Shape g;
    int dbl;
    Py_buffer dst, blk, wts, woff, wterm, vidx, vwt, rep, ring, tags;
    if (!PyArg_ParseTuple(args, "(nnnnnnnnnnnnn)pw*y*y*y*y*y*y*w*w*w*", &g.rows, &g.L, &g.ni, &g.nj, &g.C,
                          &g.s, &g.chunk, &g.chunks, &g.off0, &g.nterms, &g.K, &g.R, &g.Rrep, &dbl, &dst, &blk,
                          &wts, &woff, &wterm, &vidx, &vwt, &rep, &ring, &tags))
        return NULL;
    const Py_ssize_t item = dbl ? 8 : 4;
    const Py_ssize_t width = g.chunks * g.chunk;
    Py_ssize_t nw = wterm.len / 8 ? ((const int64_t *)wterm.buf)[wterm.len / 8 - 1] : 0;
    int ok = g.rows >= 0 && g.L >= 0 && g.ni >= 0 && g.nj >= 0 && g.C > 0 && g.s > 0 && g.chunk > 0 &&
             g.chunks >= 0 && g.off0 >= 0 && g.nterms >= 0 && g.K >= 0 && g.R > 0 && g.Rrep > 0 && nw >= 0 &&
             wterm.len / 8 == g.nterms + 1 && (double)g.chunks * g.chunk < 9e15;
    if (!ok) PyErr_SetString(PyExc_ValueError, "an index lies outside its buffer (the shape or the term starts)");
    ok = ok && need(&dst, (double)g.rows * g.L, item, "dst") && need(&blk, (double)g.ni * g.nj * g.C, item, "blk") &&
         need(&rep, (double)g.Rrep * g.nj * g.s * g.C, item, "rep") &&
         need(&wts, (double)nw * g.chunk, item, "weights") && need(&woff, (double)nw, 8, "offsets") &&
         need(&vidx, (double)g.rows * g.nterms * g.K, 8, "vertical rows") &&
         need(&vwt, (double)g.rows * g.nterms * g.K, item, "vertical weights") &&
         need(&ring, (double)g.nterms * g.R * width, item, "ring") &&
         need(&tags, (double)(g.nterms * g.R + g.Rrep), 8, "tags");
    if (ok) {
        /* every index the loop takes must lie in its buffer */
        const int64_t *vi = vidx.buf, *wo = woff.buf, *wt = wterm.buf;
        for (Py_ssize_t n = 0; ok && n < g.rows * g.nterms * g.K; n++) ok = vi[n] < g.ni;
        for (Py_ssize_t n = 0; ok && n < nw; n++) ok = wo[n] >= 0 && wo[n] + width <= g.nj * g.s * g.C;
        for (Py_ssize_t n = 0; ok && n < g.nterms; n++) ok = wt[n] >= 0 && wt[n] <= wt[n + 1];
        ok = ok && g.off0 + g.L <= width;
        if (!ok && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "an index lies outside its buffer");
    }
    /* the sources of one sum: the weight rows of a term, or the vertical taps of every term */
    Py_ssize_t most = 1;
    for (Py_ssize_t n = 0; ok && n < g.nterms; n++) {
        const int64_t *wt = wterm.buf;
        if (wt[n + 1] - wt[n] > most) most = (Py_ssize_t)(wt[n + 1] - wt[n]);
    }
    if (g.nterms * g.K > most) most = g.nterms * g.K;
    void **ptrs = ok ? PyMem_Malloc(4 * (size_t)most * sizeof(void *)) : NULL;
    if (ok && ptrs == NULL) {
        PyErr_NoMemory();
        ok = 0;
    }
    if (ok) {
        int64_t *ring_tags = tags.buf, *rep_tags = ring_tags + g.nterms * g.R;
        Py_BEGIN_ALLOW_THREADS
        if (dbl) {
            const double **p = (const double **)ptrs;
            strip_f64(&g, dst.buf, blk.buf, wts.buf, woff.buf, wterm.buf, vidx.buf, vwt.buf, rep.buf, ring.buf,
                      ring_tags, rep_tags, p, p + most, p + 2 * most, p + 3 * most);
        } else {
            const float **p = (const float **)ptrs;
            strip_f32(&g, dst.buf, blk.buf, wts.buf, woff.buf, wterm.buf, vidx.buf, vwt.buf, rep.buf, ring.buf,
                      ring_tags, rep_tags, p, p + most, p + 2 * most, p + 3 * most);
        }
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(ptrs);
    Py_buffer *all[] = {&dst, &blk, &wts, &woff, &wterm, &vidx, &vwt, &rep, &ring, &tags};
    for (size_t n = 0; n < sizeof all / sizeof *all; n++) PyBuffer_Release(all[n]);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"strip", strip, METH_VARARGS, "Fill one strip of output rows (see deconv_cli.engine.methods.fused)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fused", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__fused(void) {
    return PyModule_Create(&module);
}
