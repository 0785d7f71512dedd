/// Fused row kernels of the encoder (RMSNorm, SiLU gating, exp) on Swift SIMD, each with a
/// plain scalar twin that the tests compare it with. Shapes are in the names: `rows × width`,
/// row-major with a leading dimension.
public enum Kernels {
    public typealias V = SIMD8<Float>
    public static let rmsEpsilon: Float = 1e-6

    /// The CPU level these kernels were compiled for (`LLATTE_CPU` at build time).
    #if LLATTE_FMA
    public static let cpuLevel = "x86-64-v3"
    #else
    public static let cpuLevel = "portable"
    #endif

    // MARK: RMSNorm

    /// out[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + 1e-6) · g, for `rows` rows of `width` (in place allowed).
    @inline(__always)
    public static func rmsNorm(rows: Int, width: Int, x: UnsafePointer<Float>, ldx: Int,
                               gain g: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int) {
        let vw = width & ~7
        for r in 0..<rows {
            let xr = x + r * ldx, orow = out + r * ldo
            var acc0 = V(), acc1 = V()
            var j = 0
            while j + 16 <= vw {
                let a = load(xr + j), b = load(xr + j + 8)
                acc0 = fma(acc0, a, a)
                acc1 = fma(acc1, b, b)
                j += 16
            }
            if j < vw { let a = load(xr + j); acc0 = fma(acc0, a, a); j += 8 }
            var ss = (acc0 + acc1).sum()
            while j < width { ss += xr[j] * xr[j]; j += 1 }
            let inv = 1 / (ss / Float(width) + rmsEpsilon).squareRoot()
            let vinv = V(repeating: inv)
            j = 0
            while j < vw { store(load(xr + j) * vinv * load(g + j), orow + j); j += 8 }
            while j < width { orow[j] = xr[j] * inv * g[j]; j += 1 }
        }
    }

    /// Plain twin of `rmsNorm`.
    public static func rmsNormPlain(rows: Int, width: Int, x: UnsafePointer<Float>, ldx: Int,
                                    gain g: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int) {
        for r in 0..<rows {
            var ss: Float = 0
            for j in 0..<width { ss += x[r * ldx + j] * x[r * ldx + j] }
            let inv = 1 / (ss / Float(width) + rmsEpsilon).squareRoot()
            for j in 0..<width { out[r * ldo + j] = x[r * ldx + j] * inv * g[j] }
        }
    }

    // MARK: SiLU gating

    /// gate[i] = SiLU(gate[i]) · up[i] = gate / (1 + 2^(−gate·log2 e)) · up, over `count` contiguous values.
    @inline(__always)
    public static func siluGate(count: Int, gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>) {
        var i = 0
        let one = V(repeating: 1)
        let minusLog2e = V(repeating: -1.442_695_04)
        while i + 8 <= count {
            let g = load(gate + i)
            store(g / (one + exp2(g * minusLog2e)) * load(up + i), gate + i)
            i += 8
        }
        while i < count { gate[i] = gate[i] / (1 + exp2(V(repeating: gate[i]) * minusLog2e)[0]) * up[i]; i += 1 }
    }

    /// Plain twin of `siluGate` (libm's expf).
    public static func siluGatePlain(count: Int, gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>) {
        for i in 0..<count { gate[i] = gate[i] / (1 + libmExp(-gate[i])) * up[i] }
    }

    /// x[i] = SiLU(x[i]) over `count` contiguous values (the head's hidden layer).
    public static func silu(count: Int, x: UnsafeMutablePointer<Float>) {
        for i in 0..<count { x[i] = x[i] / (1 + expScalar(-x[i])) }
    }

    // MARK: Softmax

    /// Each of `rows` rows of `width` scores becomes softmax(row) in place, by powers of two:
    /// e^(x − m) = 2^((x − m)·log2 e).
    @inline(__always)
    public static func softmaxRows(rows: Int, width: Int, s: UnsafeMutablePointer<Float>, lds: Int) {
        let vw = width & ~7
        let log2e: Float = 1.442_695_04, vlog2e = V(repeating: log2e)
        for r in 0..<rows {
            let row = s + r * lds
            var vm = V(repeating: -.infinity)
            var j = 0
            while j < vw { vm = maximum(vm, load(row + j)); j += 8 }
            var m = horizontalMax(vm)
            while j < width { m = Swift.max(m, row[j]); j += 1 }
            let vmax = V(repeating: m)
            var vs = V()
            j = 0
            while j < vw { let e = exp2NonPositive((load(row + j) - vmax) * vlog2e); store(e, row + j); vs += e; j += 8 }
            var sum = vs.sum()
            while j < width { let e = exp2NonPositive(V(repeating: (row[j] - m) * log2e))[0]; row[j] = e; sum += e; j += 1 }
            let inv = V(repeating: 1 / sum)
            j = 0
            while j < vw { store(load(row + j) * inv, row + j); j += 8 }
            let sinv = 1 / sum
            while j < width { row[j] *= sinv; j += 1 }
        }
    }

    /// Plain twin of `softmaxRows`, and the plain attention's softmax (libm's expf, sequential
    /// sums).
    public static func softmaxRowsPlain(rows: Int, width: Int, s: UnsafeMutablePointer<Float>, lds: Int) {
        for r in 0..<rows {
            let row = s + r * lds
            var m = -Float.infinity
            for j in 0..<width { m = max(m, row[j]) }
            var sum: Float = 0
            for j in 0..<width { row[j] = libmExp(row[j] - m); sum += row[j] }
            for j in 0..<width { row[j] /= sum }
        }
    }

    // MARK: exp

    /// e^x for eight lanes: x = k·ln2 + r with |r| ≤ ln2/2 (Cody–Waite, two-part ln2), e^r by a
    /// degree-6 minimax polynomial, 2^k built in the exponent bits. Relative error ≤ 2 ulp over the
    /// normal range; below −87.3 the result is 0, above 88.7 it is +∞; NaN stays NaN.
    @inline(__always)
    public static func exp(_ x: V) -> V {
        let hi = V(repeating: 88.72283), lo = V(repeating: -87.33654)
        let xc = minimum(maximum(x, lo), hi)
        // k = round(x·log2 e) by the 1.5·2^23 trick: the sum's low mantissa bits hold k exactly
        // (|k| ≤ 128), so no per-lane float→int conversion is needed.
        let magic = V(repeating: 12_582_912)
        let shifted = xc * V(repeating: 1.442695041) + magic
        let k = shifted - magic
        var r = xc - k * V(repeating: 0.693359375)
        r = r + k * V(repeating: 2.12194440e-4)
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + V(repeating: 1.3981999507e-3)
        p = p * r + V(repeating: 8.3334519073e-3)
        p = p * r + V(repeating: 4.1665795894e-2)
        p = p * r + V(repeating: 1.6666665459e-1)
        p = p * r + V(repeating: 5.0000001201e-1)
        let er = p * (r * r) + r + V(repeating: 1)
        let ki = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((ki &+ 127) &<< 23, to: V.self)
        var out = er * scale
        out.replace(with: V(repeating: 0), where: x .< lo)
        out.replace(with: V(repeating: .infinity), where: x .> hi)
        out.replace(with: x, where: x .!= x)
        return out
    }

    /// 2^x for x ≤ 0 (the attention's softmax weights, with log2 e folded into the score scale).
    /// From −127 down (and at −∞) the result is 0; NaN stays NaN (the clamp keeps it).
    @inline(__always)
    public static func exp2NonPositive(_ x: V) -> V {
        exp2Reduced(maximum(x, V(repeating: -127)))
    }

    /// 2^x over the whole float range (SiLU's e^−x): as `exp2NonPositive`, and from 127.5 up +∞.
    @inline(__always)
    public static func exp2(_ x: V) -> V {
        exp2Reduced(minimum(maximum(x, V(repeating: -127)), V(repeating: 128)))
    }

    /// 2^xc for xc in [−127, 128]: k = round(xc), f = xc − k in [−½, ½], 2^f by a degree-5
    /// polynomial fitted for relative error (≤ 2.4e-7 over [−½, ½]), times 2^k built in the exponent
    /// bits. At k = −127 those bits are 0, so the result is 0 without a mask; at k = 128 they are
    /// +∞'s. Half the multiply work of `exp`: no two-part ln 2 reduction.
    @inline(__always)
    static func exp2Reduced(_ xc: V) -> V {
        // 1.5·2^23 + 127: the sum's low mantissa bits hold round(xc) + 127, the biased exponent of 2^k.
        let magic = V(repeating: 12_583_039)
        let shifted = xc + magic
        let f = xc - (shifted - magic)
        var p = fma(V(repeating: 0.009675542), V(repeating: 0.0013276458), f)
        p = fma(V(repeating: 0.055507135), p, f)
        p = fma(V(repeating: 0.2402212), p, f)
        p = fma(V(repeating: 0.69314694), p, f)
        p = fma(V(repeating: 1.0000001), p, f)
        return p * unsafeBitCast(unsafeBitCast(shifted, to: SIMD8<Int32>.self) &<< 23, to: V.self)
    }

    /// The scalar lane of `exp`, for row tails (same polynomial, so tails match the vector lanes).
    @inline(__always)
    public static func expScalar(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    /// libm's expf, for the plain twins.
    public static func libmExp(_ x: Float) -> Float { Float(_exp(Double(x))) }

    /// acc + a·b, fused where the build targets a CPU with FMA (arm64, or `LLATTE_FMA`: docs/performance.md);
    /// elsewhere `addingProduct` would be a libm call per lane.
    @inline(__always) static func fma(_ acc: V, _ a: V, _ b: V) -> V {
        #if LLATTE_FMA || arch(arm64)
        return acc.addingProduct(a, b)
        #else
        return acc + a * b
        #endif
    }

    /// Lane-wise max, NaN in `a` kept (one `maxps`; the generic `pointwiseMax` is not inlined across modules).
    @inline(__always) static func maximum(_ a: V, _ b: V) -> V { a.replacing(with: b, where: a .< b) }
    /// The largest of eight lanes, by halves in registers (the generic `SIMD.max()` is an out-of-line
    /// call); NaN lanes are passed over as `maximum` passes them. Exact, so the order does not matter.
    @inline(__always) static func horizontalMax(_ v: V) -> Float {
        let h = v.lowHalf.replacing(with: v.highHalf, where: v.lowHalf .< v.highHalf)
        let q = h.lowHalf.replacing(with: h.highHalf, where: h.lowHalf .< h.highHalf)
        return q[0] < q[1] ? q[1] : q[0]
    }
    /// Lane-wise min, NaN in `a` kept.
    @inline(__always) static func minimum(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .< a) }

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#else
import Darwin
@inline(__always) private func _exp(_ x: Double) -> Double { Darwin.exp(x) }
#endif
