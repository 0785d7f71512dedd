// bf16 products on AVX-512 BF16 (vdpbf16ps): the kernel is compiled for those features through a
// target attribute, so the rest of llatte stays portable; callers check llatte_bf16_supported first.
// Also the check for llatte's other AVX-512 code (the 16-lane attention kernel).
#include "bf16.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__clang__)
#include <cpuid.h>
#include <immintrin.h>

int llatte_avx512_supported(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;          // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6) != 0xE6) return 0;                                             // xmm, ymm, zmm state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const unsigned need = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);  // F, DQ, CD, BW, VL
    return (b & need) == need ? 1 : 0;
}

int llatte_bf16_supported(void) {
    if (!llatte_avx512_supported()) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a & (1u << 5)) ? 1 : 0;                                                // AVX512_BF16
}

/// fp32 → bf16, round to nearest even (NaN kept a NaN).
static uint16_t to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

long llatte_bf16_packed_count(int n, int k) { return (long)((n + 31) / 32) * ((k + 1) / 2) * 64; }

void llatte_bf16_pack(const float *w, int n, int k, int ldw, uint16_t *out) {
    memset(out, 0, (size_t)llatte_bf16_packed_count(n, k) * 2);
    int pairs = (k + 1) / 2;
    for (int col = 0; col < n; col++) {
        uint16_t *panel = out + (size_t)(col / 32) * pairs * 64 + (col % 32) * 2;
        for (int kk = 0; kk < k; kk++) panel[(kk / 2) * 64 + kk % 2] = to_bf16(w[(size_t)col * ldw + kk]);
    }
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))), apply_to = function)

enum { ROW_BLOCK = 96 };

/// rows (1…6, a constant once inlined) rows of the bf16 block ab [rows][pairs·2] times one panel
/// [pairs][32][2], into the first cols columns of c.
static inline __attribute__((always_inline)) void micro(int rows, int pairs, const uint16_t *ab, int ldab,
                                                         const uint16_t *panel, int cols, int accumulate,
                                                         float *c, int ldc) {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_setzero_ps();
    for (int p = 0; p < pairs; p++) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(panel + p * 64);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(panel + p * 64 + 32);
        for (int i = 0; i < 6; i++) {
            if (i < rows) {
                int32_t pair;
                memcpy(&pair, ab + (size_t)i * ldab + 2 * p, 4);
                __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
                acc[2 * i] = _mm512_dpbf16_ps(acc[2 * i], x, w0);
                acc[2 * i + 1] = _mm512_dpbf16_ps(acc[2 * i + 1], x, w1);
            }
        }
    }
    __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xffff : (cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1));
    for (int i = 0; i < 6; i++) {
        if (i < rows) {
            float *cr = c + (size_t)i * ldc;
            __m512 v0 = acc[2 * i], v1 = acc[2 * i + 1];
            if (accumulate) {
                v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
                v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
            }
            _mm512_mask_storeu_ps(cr, m0, v0);
            _mm512_mask_storeu_ps(cr + 16, m1, v1);
        }
    }
}

void llatte_bf16_linear(int m, const float *a, int lda, const uint16_t *wp, int n, int k,
                        int accumulate, float *c, int ldc) {
    int pairs = (k + 1) / 2, ldab = pairs * 2;
    uint16_t *ab = aligned_alloc(64, ((size_t)ROW_BLOCK * ldab * 2 + 63) / 64 * 64);
    for (int block = 0; block < m; block += ROW_BLOCK) {
        int blockRows = m - block < ROW_BLOCK ? m - block : ROW_BLOCK;
        // The block's rows in bf16, zero past k.
        for (int r = 0; r < blockRows; r++) {
            const float *src = a + (size_t)(block + r) * lda;
            uint16_t *dst = ab + (size_t)r * ldab;
            for (int kk = 0; kk < ldab; kk += 32) {
                int left = k - kk;
                __mmask16 lo = left >= 16 ? 0xffff : (left <= 0 ? 0 : (__mmask16)((1u << left) - 1));
                __mmask16 hi = left >= 32 ? 0xffff : (left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1));
                __m512 x0 = _mm512_maskz_loadu_ps(lo, src + kk), x1 = _mm512_maskz_loadu_ps(hi, src + kk + 16);
                __m512bh b = _mm512_cvtne2ps_pbh(x1, x0);
                int room = ldab - kk;
                __mmask32 keep = room >= 32 ? 0xffffffffu : (__mmask32)((1u << room) - 1);
                _mm512_mask_storeu_epi16(dst + kk, keep, (__m512i)b);
            }
        }
        for (int p = 0; p < (n + 31) / 32; p++) {
            const uint16_t *panel = wp + (size_t)p * pairs * 64;
            int cols = n - 32 * p < 32 ? n - 32 * p : 32;
            for (int r = 0; r < blockRows; r += 6) {
                const uint16_t *ar = ab + (size_t)r * ldab;
                float *cr = c + (size_t)(block + r) * ldc + 32 * p;
                switch (blockRows - r < 6 ? blockRows - r : 6) {
                case 6: micro(6, pairs, ar, ldab, panel, cols, accumulate, cr, ldc); break;
                case 5: micro(5, pairs, ar, ldab, panel, cols, accumulate, cr, ldc); break;
                case 4: micro(4, pairs, ar, ldab, panel, cols, accumulate, cr, ldc); break;
                case 3: micro(3, pairs, ar, ldab, panel, cols, accumulate, cr, ldc); break;
                case 2: micro(2, pairs, ar, ldab, panel, cols, accumulate, cr, ldc); break;
                default: micro(1, pairs, ar, ldab, panel, cols, accumulate, cr, ldc); break;
                }
            }
        }
    }
    free(ab);
}

#pragma clang attribute pop

#else

int llatte_avx512_supported(void) { return 0; }
int llatte_bf16_supported(void) { return 0; }
long llatte_bf16_packed_count(int n, int k) { (void)n; (void)k; return 0; }
void llatte_bf16_pack(const float *w, int n, int k, int ldw, uint16_t *out) { (void)w; (void)n; (void)k; (void)ldw; (void)out; abort(); }
void llatte_bf16_linear(int m, const float *a, int lda, const uint16_t *wp, int n, int k, int accumulate, float *c, int ldc) {
    (void)m; (void)a; (void)lda; (void)wp; (void)n; (void)k; (void)accumulate; (void)c; (void)ldc; abort();
}

#endif
