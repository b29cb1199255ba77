/* Colour loops numpy runs as many passes: one band of display planes -> its light levels and
 * narrow-range 4:2:0 Y'CbCr codes in one pass (ycbcr_levels_16, _8), and floats -> half floats
 * (half_from_float).
 *
 * Codes and light levels:
 * The same float32 operations, in the same order, as pipelines.master.convert's numpy path
 * (_Band._measure, then pq.ycbcr420_into): built with -ffp-contract=off and without fast-math, so
 * no multiply-add is fused and nothing is reassociated, and the codes are the same bit for bit.
 * The light-level sum adds table entries that are whole multiples of 2^-14 cd/m^2: exact in any
 * order (pq.MEAN_QUANTUM).
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

static float clipped(float v, float top) {
    /* np.clip(v, 0, top): maximum, then minimum */
    v = v < 0.0f ? 0.0f : v;
    return v > top ? top : v;
}

static float rounded(float v) {
    /* np.rint (to nearest, ties to even) of 0 <= v < 2^23: adding 2^23 leaves no fraction bits, so the
     * sum is v rounded in the default rounding mode, and subtracting it back is exact. No libm call,
     * so the loops vectorise; kept as written without fast-math. */
    return (v + 8388608.0f) - 8388608.0f;
}

static float weighted(float a, float b, float c, const float *w, float offset) {
    float out = a * w[0];
    out = out + b * w[1];
    out = out + c * w[2];
    return out + offset;
}

/* ycbcr_levels_16 and ycbcr_levels_8, for 16- and 8-bit code planes. Rows r, g, b are `stride`
 * floats apart; y rows `y_stride` codes apart, cb and cr rows `c_stride`. `rows` and `width` are even. Light levels only where `table` is given: the band's largest
 * max(R, G, B) signal goes to *peak, the sum of its cd/m^2 to *total. */
#define YCBCR_LEVELS(NAME, CODE) \
void ycbcr_levels_##NAME(const float *r, const float *g, const float *b, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t stride, \
                  CODE *y, ptrdiff_t y_stride, CODE *cb, CODE *cr, ptrdiff_t c_stride, \
                  const float *w_luma, const float *w_cb, const float *w_cr, float luma_offset, float chroma_offset, \
                  float top, const double *table, float steps, float *peak, double *total) { \
    float high = 0.0f; \
    double sum = 0.0; \
    if (table != NULL) { \
        for (ptrdiff_t i = 0; i < rows; i++) { \
            const float *pr = r + i * stride, *pg = g + i * stride, *pb = b + i * stride; \
            for (ptrdiff_t x = 0; x < width; x++) { \
                float m = pg[x] > pr[x] ? pg[x] : pr[x]; \
                m = pb[x] > m ? pb[x] : m; \
                high = m > high ? m : high; \
                sum += table[(uint16_t)rounded(m * steps)]; \
            } \
        } \
        *peak = high; \
        *total = sum; \
    } \
    for (ptrdiff_t i = 0; i < rows; i++) { \
        const float *pr = r + i * stride, *pg = g + i * stride, *pb = b + i * stride; \
        CODE *py = y + i * y_stride; \
        for (ptrdiff_t x = 0; x < width; x++) \
            py[x] = (CODE)rounded(clipped(weighted(pr[x], pg[x], pb[x], w_luma, luma_offset), top)); \
    } \
    for (ptrdiff_t i = 0; i < rows / 2; i++) { \
        const float *r0 = r + 2 * i * stride, *g0 = g + 2 * i * stride, *b0 = b + 2 * i * stride; \
        CODE *pcb = cb + i * c_stride, *pcr = cr + i * c_stride; \
        float odd_before[3] = {0.0f, 0.0f, 0.0f}; \
        for (ptrdiff_t j = 0; j < width / 2; j++) { \
            const float *planes[3] = {r0, g0, b0}; \
            float f[3]; \
            for (int c = 0; c < 3; c++) { \
                /* rows summed in pairs; then [1 2 1] at even columns, the left edge replicated */ \
                const float *p = planes[c]; \
                float even = p[2 * j] + p[stride + 2 * j]; \
                float odd = p[2 * j + 1] + p[stride + 2 * j + 1]; \
                float v = even * 2.0f; \
                v = v + odd; \
                v = v + (j > 0 ? odd_before[c] : even); \
                odd_before[c] = odd; \
                f[c] = v; \
            } \
            pcb[j] = (CODE)rounded(clipped(weighted(f[0], f[1], f[2], w_cb, chroma_offset), top)); \
            pcr[j] = (CODE)rounded(clipped(weighted(f[0], f[1], f[2], w_cr, chroma_offset), top)); \
        } \
    } \
}

YCBCR_LEVELS(16, uint16_t)
YCBCR_LEVELS(8, uint8_t)

/* Half floats of n floats, rounded to nearest even as numpy's astype(float16) rounds, 8 at a time
 * with the F16C conversion instruction. Only where the CPU has it (has_f16c). */
__attribute__((target("avx,f16c"))) void half_from_float(const float *src, uint16_t *dst, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(src[i]), _MM_FROUND_TO_NEAREST_INT), 0);
}

int has_f16c(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
}
