import COpenBLAS

/// Row-major single-precision products on OpenBLAS, in the layout PyTorch stores linear weights.
public enum Gemm {
    /// C[m, n] = alpha · A[m, k] · B[n, k]ᵀ + beta · C, all row-major with leading dimensions.
    /// A linear layer `y = x·Wᵀ` is `nt(x, W)` with W as stored, `[out, in]`.
    @inline(__always)
    public static func nt(m: Int, n: Int, k: Int, alpha: Float = 1,
                          a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C[m, n] = A[m, k] · B[k, n] + beta · C, row-major (attention weights times values).
    @inline(__always)
    public static func nn(m: Int, n: Int, k: Int,
                          a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// The OpenBLAS thread pool size. llatte parallelizes across users with one OpenBLAS thread per
/// worker, so workers and BLAS never oversubscribe the cores.
public enum BLASThreads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var current: Int { Int(openblas_get_num_threads()) }
    /// The CPU core OpenBLAS selected its kernels for (e.g. "Zen"): it decides the bits of every product.
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
}
