/// A linear layer's weight W [n, k] (PyTorch's `[out, in]`) packed once, when the model is loaded,
/// into panels of 16 output columns for `PackedGemm.linear`: `panels[p][kk][j] = W[16p + j, kk]`,
/// zero past the last column. Packing the weights once is what OpenBLAS cannot do: it repacks them
/// on every call, a copy of every weight per user (docs/performance.md).
public final class PackedWeight: @unchecked Sendable {
    /// Output and input widths of the layer.
    public let n: Int, k: Int
    /// ⌈n / 16⌉ panels of [k][16] floats.
    let panels: UnsafeMutablePointer<Float>

    /// Packs w [n, k] (row stride ldw).
    public init(_ w: UnsafePointer<Float>, n: Int, k: Int, ldw: Int) {
        precondition(n >= 1 && k >= 1 && ldw >= k)
        self.n = n
        self.k = k
        let count = PackedGemm.panelCount(n) * k * PackedGemm.panel
        panels = .allocate(capacity: count)
        panels.initialize(repeating: 0, count: count)
        for col in 0..<n {
            let dst = panels + (col / PackedGemm.panel) * k * PackedGemm.panel + col % PackedGemm.panel
            let src = w + col * ldw
            for kk in 0..<k { dst[kk * PackedGemm.panel] = src[kk] }
        }
    }

    deinit { panels.deallocate() }
}

/// Row-major products with packed weights, c = a·Wᵀ, on Swift SIMD; `Gemm.nt` (OpenBLAS) is the plain twin.
///
/// Micro-kernel: 6 rows × 16 columns in 12 accumulators (two FMA pipes of 4-cycle latency need 8
/// chains; 12 leave room), each k step two loads of the panel and six broadcasts of `a`. Rows go
/// in blocks of `rowBlock` so a block of `a` stays in L2 while every panel passes over it. Each
/// output is one FMA chain over k in order, so its bits depend only on its own row of `a` and on
/// W — never on m, the row block, or the thread.
public enum PackedGemm {
    typealias V = SIMD8<Float>
    /// Output columns per panel (two vectors).
    public static let panel = 16
    /// Whether this build's micro-kernel has fused multiply-adds (x86-64-v3, arm64). The portable
    /// x86-64 build has not, and there OpenBLAS, which picks its kernels for the CPU it runs on, is faster.
    #if LLATTE_FMA || arch(arm64)
    public static let hasFusedMultiplyAdd = true
    #else
    public static let hasFusedMultiplyAdd = false
    #endif
    /// Rows of `a` per block (a multiple of the micro-kernel's 6).
    static let rowBlock = 96

    static func panelCount(_ n: Int) -> Int { (n + panel - 1) / panel }

    /// c[m, n] = a[m, k] · Wᵀ, or c + a · Wᵀ when `accumulate` (a residual add), with a [m, k]
    /// row stride lda and c [m, n] row stride ldc.
    public static func linear(m: Int, a: UnsafePointer<Float>, lda: Int, w: PackedWeight, accumulate: Bool,
                              c: UnsafeMutablePointer<Float>, ldc: Int) {
        let k = w.k
        var block = 0
        while block < m {
            let blockEnd = min(block + rowBlock, m)
            for p in 0..<panelCount(w.n) {
                let wp = UnsafePointer(w.panels + p * k * panel)
                let cols = min(panel, w.n - p * panel)
                var r = block
                while r < blockEnd {
                    let ar = a + r * lda, cr = c + r * ldc + p * panel
                    switch min(6, blockEnd - r) {
                    case 6: micro(rows: 6, k, ar, lda, wp, cols, accumulate, cr, ldc)
                    case 5: micro(rows: 5, k, ar, lda, wp, cols, accumulate, cr, ldc)
                    case 4: micro(rows: 4, k, ar, lda, wp, cols, accumulate, cr, ldc)
                    case 3: micro(rows: 3, k, ar, lda, wp, cols, accumulate, cr, ldc)
                    case 2: micro(rows: 2, k, ar, lda, wp, cols, accumulate, cr, ldc)
                    default: micro(rows: 1, k, ar, lda, wp, cols, accumulate, cr, ldc)
                    }
                    r += 6
                }
            }
            block = blockEnd
        }
    }

    /// `rows` (1…6, a constant once inlined) rows of a [rows, k] times one panel [k][16], into the
    /// first `cols` columns of c [rows, 16].
    @inline(__always)
    static func micro(rows: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ wp: UnsafePointer<Float>,
                      _ cols: Int, _ accumulate: Bool, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
        var w = wp
        for kk in 0..<k {
            let w0 = Kernels.load(w), w1 = Kernels.load(w + 8)
            let x0 = V(repeating: a0[kk])
            c00 = Kernels.fma(c00, x0, w0); c01 = Kernels.fma(c01, x0, w1)
            if rows > 1 { let x = V(repeating: a1[kk]); c10 = Kernels.fma(c10, x, w0); c11 = Kernels.fma(c11, x, w1) }
            if rows > 2 { let x = V(repeating: a2[kk]); c20 = Kernels.fma(c20, x, w0); c21 = Kernels.fma(c21, x, w1) }
            if rows > 3 { let x = V(repeating: a3[kk]); c30 = Kernels.fma(c30, x, w0); c31 = Kernels.fma(c31, x, w1) }
            if rows > 4 { let x = V(repeating: a4[kk]); c40 = Kernels.fma(c40, x, w0); c41 = Kernels.fma(c41, x, w1) }
            if rows > 5 { let x = V(repeating: a5[kk]); c50 = Kernels.fma(c50, x, w0); c51 = Kernels.fma(c51, x, w1) }
            w += panel
        }
        put(c00, c01, c, cols, accumulate)
        if rows > 1 { put(c10, c11, c + ldc, cols, accumulate) }
        if rows > 2 { put(c20, c21, c + 2 * ldc, cols, accumulate) }
        if rows > 3 { put(c30, c31, c + 3 * ldc, cols, accumulate) }
        if rows > 4 { put(c40, c41, c + 4 * ldc, cols, accumulate) }
        if rows > 5 { put(c50, c51, c + 5 * ldc, cols, accumulate) }
    }

    /// Writes (or adds) one row's 16 results to c, only its first `cols` columns.
    @inline(__always)
    static func put(_ v0: V, _ v1: V, _ c: UnsafeMutablePointer<Float>, _ cols: Int, _ accumulate: Bool) {
        if cols == panel {
            if accumulate {
                Kernels.store(Kernels.load(c) + v0, c)
                Kernels.store(Kernels.load(c + 8) + v1, c + 8)
            } else {
                Kernels.store(v0, c)
                Kernels.store(v1, c + 8)
            }
        } else {
            for j in 0..<cols {
                let x = j < 8 ? v0[j] : v1[j - 8]
                c[j] = accumulate ? c[j] + x : x
            }
        }
    }
}
