import CBF16

/// A linear layer's weight W [n, k] rounded to bf16 and packed once for `BF16Gemm.linear`.
public final class BF16Weight: @unchecked Sendable {
    /// Output and input widths of the layer.
    public let n: Int, k: Int
    let packed: UnsafeMutablePointer<UInt16>

    /// Packs w [n, k] (row stride ldw); only where `BF16Gemm.isSupported`.
    public init(_ w: UnsafePointer<Float>, n: Int, k: Int, ldw: Int) {
        precondition(BF16Gemm.isSupported && n >= 1 && k >= 1 && ldw >= k)
        self.n = n
        self.k = k
        packed = .allocate(capacity: llatte_bf16_packed_count(Int32(n), Int32(k)))
        llatte_bf16_pack(w, Int32(n), Int32(k), Int32(ldw), packed)
    }

    deinit { packed.deallocate() }
}

/// Linear-layer products in bf16 with fp32 sums (`vdpbf16ps`, AVX-512 BF16): c = bf16(a)·bf16(W)ᵀ.
/// About twice the fp32 kernel's rate on a CPU that has the instructions, at bf16's 8-bit mantissa
/// (docs/performance.md); the encoder uses it only when asked (`Encoder.Precision.bf16`).
public enum BF16Gemm {
    /// Whether this CPU and OS run AVX-512 F, CD, BW, DQ, VL and BF16.
    public static let isSupported: Bool = llatte_bf16_supported() == 1

    /// c[m, n] = bf16(a[m, k]) · bf16(W)ᵀ, or c + that when `accumulate`; a row stride lda, c row stride ldc.
    public static func linear(m: Int, a: UnsafePointer<Float>, lda: Int, w: BF16Weight, accumulate: Bool,
                              c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0 else { return }
        llatte_bf16_linear(Int32(m), a, Int32(lda), w.packed, Int32(w.n), Int32(w.k), accumulate ? 1 : 0, c, Int32(ldc))
    }

    /// The value bf16 rounding (to nearest even) makes of x, as a float: the plain twin's inputs.
    public static func rounded(_ x: Float) -> Float {
        let b = x.bitPattern
        if x.isNaN { return x }
        return Float(bitPattern: (b &+ 0x7FFF &+ ((b >> 16) & 1)) & 0xFFFF_0000)
    }
}
