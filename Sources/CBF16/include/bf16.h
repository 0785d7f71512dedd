#ifndef LLATTE_BF16_H
#define LLATTE_BF16_H
#include <stdint.h>

/// Linear-layer products with bf16 weights and activations and fp32 sums, on AVX-512 BF16
/// (`vdpbf16ps`). Only for CPUs where `llatte_bf16_supported` says yes.

/// 1 when the CPU and the OS support AVX-512 F, DQ, CD, BW and VL (zmm state enabled), else 0:
/// what code compiled for `skylake-avx512` may use in llatte's kernels.
int llatte_avx512_supported(void);

/// 1 when `llatte_avx512_supported` and the CPU has AVX-512 BF16, else 0.
int llatte_bf16_supported(void);

/// uint16 values `llatte_bf16_pack` writes for W [n, k]: ⌈n/32⌉ panels × ⌈k/2⌉ pairs × 32 × 2.
long llatte_bf16_packed_count(int n, int k);

/// Packs W [n, k] (row stride ldw) into panels of 32 output columns, each k pair interleaved:
/// out[p][kk/2][j][kk%2] = bf16(W[32p + j, kk]) rounded to nearest even, zero past n and k.
void llatte_bf16_pack(const float *w, int n, int k, int ldw, uint16_t *out);

/// c[m, n] = a[m, k] · Wᵀ (or c + a · Wᵀ when accumulate is 1), with a rounded to bf16 row by row
/// and each output one fp32 chain over the k pairs in order. a row stride lda, c row stride ldc.
void llatte_bf16_linear(int m, const float *a, int lda, const uint16_t *wp, int n, int k,
                        int accumulate, float *c, int ldc);

#endif
