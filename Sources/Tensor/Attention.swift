import CBF16
import TensorAVX512

/// Fused attention of one head (flash-style, online softmax) on Swift SIMD, with a plain twin.
///
/// Why not two `cblas_sgemm` calls and a softmax: with d_head = 32 both products are skinny (k = 32,
/// then n = 32), and the score tile between them (rows × keys) leaves the caches at long n — at
/// n = 4096 a 128-row tile is 2 MB, written by one product, rewritten by the softmax and read by the
/// next. Here a group of four query rows meets a block of 512 keys: the products run in registers,
/// the block's scores and weights (8 KB) stay in L1, its keys and values (64 KB each at d_head 32)
/// in L2, and no rows × keys buffer exists (docs/performance.md: memory stays flat at n = 4096).
///
/// Layouts (one head): keys packed in panels of 16, `kp[⌈keys/16⌉][dHead][16]`; values
/// `vp[keys rounded up to 16][dPad]` with dPad = dHead rounded up to 8; both zero past their ends
/// (`packKeys`, `packValues`). The result depends only on the rows, keys and values given, never on
/// which thread runs it or what else is in the batch.
public enum Attention {
    public typealias V = SIMD8<Float>
    /// Keys per packed panel (two vectors of the score micro-kernel).
    public static let panel = 16
    /// Keys per block of the online softmax: long enough that each block's fixed work (row maxima,
    /// rescaling the outputs) is small beside its products (docs/performance.md, "Key blocks of 512").
    public static let keyBlock = 512
    /// Query rows per tile: K and V of a key block are read once per tile, from L1/L2.
    public static let rowTile = 64

    /// dHead rounded up to whole vectors.
    @inline(__always)
    public static func paddedHeadWidth(_ dHead: Int) -> Int { (dHead + 7) & ~7 }

    /// Floats of `kp` (and of `vp`) for `keys` keys.
    public static func packedKeyCount(keys: Int, dHead: Int) -> Int {
        let panels = (keys + panel - 1) / panel
        return max(1, panels * panel * max(dHead, paddedHeadWidth(dHead)))
    }

    /// Floats of the scratch `forward` needs.
    public static func scratchCount(dHead: Int) -> Int {
        4 * keyBlock + (rowTile + 4) * (2 + paddedHeadWidth(dHead))
    }

    /// kp[p][d][j] = k[16p + j, d] for the `keys` rows of k [keys, dHead] (row stride ldk); zero past `keys`.
    public static func packKeys(keys: Int, dHead: Int, k: UnsafePointer<Float>, ldk: Int,
                                into kp: UnsafeMutablePointer<Float>) {
        let panels = (keys + panel - 1) / panel
        for p in 0..<panels {
            let dst = kp + p * dHead * panel
            for j in 0..<panel {
                let key = p * panel + j
                if key < keys {
                    let src = k + key * ldk
                    for d in 0..<dHead { dst[d * panel + j] = src[d] }
                } else {
                    for d in 0..<dHead { dst[d * panel + j] = 0 }
                }
            }
        }
    }

    /// vp[j][d] = v[j, d] for the `keys` rows of v [keys, dHead] (row stride ldv), rows padded to
    /// dPad floats and to a whole panel of keys with zeros.
    public static func packValues(keys: Int, dHead: Int, v: UnsafePointer<Float>, ldv: Int,
                                  into vp: UnsafeMutablePointer<Float>) {
        let dPad = paddedHeadWidth(dHead)
        let rowsPadded = (keys + panel - 1) / panel * panel
        for j in 0..<rowsPadded {
            let dst = vp + j * dPad
            if j < keys {
                dst.update(from: v + j * ldv, count: dHead)
                for d in dHead..<dPad { dst[d] = 0 }
            } else {
                dst.initialize(repeating: 0, count: dPad)
            }
        }
    }

    /// Whether this CPU runs `Attention16`, the same kernel on 16-lane vectors: AVX-512 F, CD, BW,
    /// DQ and VL with the OS saving their registers, in a build whose kernels target x86-64-v3.
    public static let runs16Lanes: Bool = {
        #if LLATTE_FMA && arch(x86_64)
        return llatte_avx512_supported() == 1
        #else
        return false
        #endif
    }()

    /// Whether `forward` runs heads of this width on 16-lane vectors here.
    public static func uses16Lanes(dHead: Int) -> Bool { runs16Lanes && Attention16.handles(dHead: dHead) }

    /// o[r, :] = Σ_j softmax_j(scale · q[r, :]·k[j, :]) · v[j, :] for `rows` query rows over keys
    /// [0, keys) (keys ≥ 1), from packed keys and values. q [rows, dHead] row stride ldq; o [rows, dHead]
    /// row stride ldo; scratch holds `scratchCount(dHead:)` floats. Where `runs16Lanes` and the head
    /// is one or two whole 16-lane vectors, each group of rows meets each key block in `Attention16`
    /// (the same bits in fewer instructions), unless `lanes16` is false.
    public static func forward(rows: Int, keys: Int, dHead: Int, scale: Float,
                               q: UnsafePointer<Float>, ldq: Int,
                               kp: UnsafePointer<Float>, vp: UnsafePointer<Float>,
                               o: UnsafeMutablePointer<Float>, ldo: Int,
                               scratch: UnsafeMutablePointer<Float>, lanes16: Bool = true) {
        precondition(keys >= 1 || rows == 0)
        let dPad = paddedHeadWidth(dHead)
        let wide = lanes16 && uses16Lanes(dHead: dHead)
        // e^(scale·x) = 2^(scale·log2 e·x): the exponentials below are powers of two.
        let scale2 = scale * 1.442_695_04
        let s = scratch                                  // [4][keyBlock] scores, then weights
        let m = scratch + 4 * keyBlock                   // [rowTile + 4] running row maxima
        let l = m + rowTile + 4                          // [rowTile + 4] running row sums
        let acc = l + rowTile + 4                        // [rowTile + 4][dPad] running outputs
        var tile = 0
        while tile < rows {
            let tileRows = min(rowTile, rows - tile)
            let groups = (tileRows + 3) / 4
            for r in 0..<(groups * 4) { m[r] = -.infinity; l[r] = 0 }
            acc.initialize(repeating: 0, count: groups * 4 * dPad)
            var kb = 0
            while kb < keys {
                let valid = min(keyBlock, keys - kb)
                let width = (valid + panel - 1) / panel * panel
                for g in 0..<groups {
                    // Rows past the tile repeat its first row; their results are never stored.
                    func row(_ i: Int) -> UnsafePointer<Float> {
                        let r = g * 4 + i
                        return q + (tile + (r < tileRows ? r : 0)) * ldq
                    }
                    if wide {
                        Attention16.block(q0: row(0), q1: row(1), q2: row(2), q3: row(3), dHead: dHead, scale: scale2,
                                          kp: kp + kb * dHead, vp: vp + kb * dPad, valid: valid, width: width,
                                          s: s, lds: keyBlock, m: m + g * 4, l: l + g * 4, o: acc + g * 4 * dPad)
                        continue
                    }
                    let maxima = scores(q0: row(0), q1: row(1), q2: row(2), q3: row(3), dHead: dHead, scale: scale2,
                                        kp: kp + kb * dHead, valid: valid, width: width, s: s)
                    let alpha = softmaxBlock4(s: s, width: width, maxima: maxima, m: m + g * 4, l: l + g * 4)
                    for pair in 0..<2 {
                        let r = g * 4 + 2 * pair
                        weightedValues(p0: s + 2 * pair * keyBlock, p1: s + (2 * pair + 1) * keyBlock,
                                       alpha0: alpha[2 * pair], alpha1: alpha[2 * pair + 1], width: width,
                                       vp: vp + kb * dPad, dPad: dPad,
                                       o0: acc + r * dPad, o1: acc + (r + 1) * dPad)
                    }
                }
                kb += keyBlock
            }
            for r in 0..<tileRows {
                let inv = 1 / l[r]
                let src = acc + r * dPad, dst = o + (tile + r) * ldo
                for d in 0..<dHead { dst[d] = src[d] * inv }
            }
            tile += rowTile
        }
    }

    /// s[i][0..<width] = scale · q_i · kpᵀ for four query rows against `width` packed keys (a multiple
    /// of 16), of which the first `valid` are keys and the rest −∞; returns each row's lane-wise
    /// maxima over the block, so the softmax needs no pass of its own to find them.
    @inline(__always)
    static func scores(q0: UnsafePointer<Float>, q1: UnsafePointer<Float>, q2: UnsafePointer<Float>,
                       q3: UnsafePointer<Float>, dHead: Int, scale: Float,
                       kp: UnsafePointer<Float>, valid: Int, width: Int, s: UnsafeMutablePointer<Float>) -> (V, V, V, V) {
        let vs = V(repeating: scale)
        var m0 = V(repeating: -.infinity), m1 = m0, m2 = m0, m3 = m0
        var j = 0
        while j < width {
            let panelBase = kp + j &* dHead
            var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()
            var kd = panelBase
            for d in 0..<dHead {
                let k0 = Kernels.load(kd), k1 = Kernels.load(kd + 8)
                let x0 = V(repeating: q0[d]), x1 = V(repeating: q1[d])
                let x2 = V(repeating: q2[d]), x3 = V(repeating: q3[d])
                a0 = Kernels.fma(a0, x0, k0); b0 = Kernels.fma(b0, x0, k1)
                a1 = Kernels.fma(a1, x1, k0); b1 = Kernels.fma(b1, x1, k1)
                a2 = Kernels.fma(a2, x2, k0); b2 = Kernels.fma(b2, x2, k1)
                a3 = Kernels.fma(a3, x3, k0); b3 = Kernels.fma(b3, x3, k1)
                kd += panel
            }
            a0 *= vs; b0 *= vs; a1 *= vs; b1 *= vs; a2 *= vs; b2 *= vs; a3 *= vs; b3 *= vs
            if j &+ panel > valid {
                // The panel past the last key: its lanes are −∞, so they weigh 0.
                let lane = V(0, 1, 2, 3, 4, 5, 6, 7) + V(repeating: Float(j))
                let lo = lane .>= V(repeating: Float(valid)), hi = lane + V(repeating: 8) .>= V(repeating: Float(valid))
                let ninf = V(repeating: -.infinity)
                a0.replace(with: ninf, where: lo); b0.replace(with: ninf, where: hi)
                a1.replace(with: ninf, where: lo); b1.replace(with: ninf, where: hi)
                a2.replace(with: ninf, where: lo); b2.replace(with: ninf, where: hi)
                a3.replace(with: ninf, where: lo); b3.replace(with: ninf, where: hi)
            }
            m0 = Kernels.maximum(m0, Kernels.maximum(a0, b0)); m1 = Kernels.maximum(m1, Kernels.maximum(a1, b1))
            m2 = Kernels.maximum(m2, Kernels.maximum(a2, b2)); m3 = Kernels.maximum(m3, Kernels.maximum(a3, b3))
            Kernels.store(a0, s + j); Kernels.store(b0, s + j + 8)
            Kernels.store(a1, s + keyBlock + j); Kernels.store(b1, s + keyBlock + j + 8)
            Kernels.store(a2, s + 2 * keyBlock + j); Kernels.store(b2, s + 2 * keyBlock + j + 8)
            Kernels.store(a3, s + 3 * keyBlock + j); Kernels.store(b3, s + 3 * keyBlock + j + 8)
            j &+= panel
        }
        return (m0, m1, m2, m3)
    }

    /// Four rows' online-softmax step over a key block, in base 2 (scores carry log2 e): row i's
    /// scores s[i·keyBlock ..< +width] (−∞ past its keys), whose lane-wise maxima are `vm_i`, become
    /// weights 2^(s − m′); m and l advance, and the factors 2^(m − m′) that rescale the rows' running
    /// outputs are returned in lanes 0…3. The four rows are interleaved so their exponentials overlap.
    @inline(__always)
    static func softmaxBlock4(s: UnsafeMutablePointer<Float>, width: Int, maxima vm: (V, V, V, V),
                              m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>) -> V {
        var mOld = V(repeating: -.infinity), mNew = mOld
        mOld[0] = m[0]; mOld[1] = m[1]; mOld[2] = m[2]; mOld[3] = m[3]
        mNew[0] = Swift.max(m[0], Kernels.horizontalMax(vm.0)); mNew[1] = Swift.max(m[1], Kernels.horizontalMax(vm.1))
        mNew[2] = Swift.max(m[2], Kernels.horizontalMax(vm.2)); mNew[3] = Swift.max(m[3], Kernels.horizontalMax(vm.3))
        let alpha = Kernels.exp2NonPositive(mOld - mNew)
        let n0 = V(repeating: mNew[0]), n1 = V(repeating: mNew[1]), n2 = V(repeating: mNew[2]), n3 = V(repeating: mNew[3])
        let s0 = s, s1 = s + keyBlock, s2 = s + 2 * keyBlock, s3 = s + 3 * keyBlock
        var u0 = V(), w0 = V(), u1 = V(), w1 = V(), u2 = V(), w2 = V(), u3 = V(), w3 = V()
        var j = 0
        while j < width {
            let e0 = Kernels.exp2NonPositive(Kernels.load(s0 + j) - n0), f0 = Kernels.exp2NonPositive(Kernels.load(s0 + j + 8) - n0)
            let e1 = Kernels.exp2NonPositive(Kernels.load(s1 + j) - n1), f1 = Kernels.exp2NonPositive(Kernels.load(s1 + j + 8) - n1)
            let e2 = Kernels.exp2NonPositive(Kernels.load(s2 + j) - n2), f2 = Kernels.exp2NonPositive(Kernels.load(s2 + j + 8) - n2)
            let e3 = Kernels.exp2NonPositive(Kernels.load(s3 + j) - n3), f3 = Kernels.exp2NonPositive(Kernels.load(s3 + j + 8) - n3)
            Kernels.store(e0, s0 + j); Kernels.store(f0, s0 + j + 8)
            Kernels.store(e1, s1 + j); Kernels.store(f1, s1 + j + 8)
            Kernels.store(e2, s2 + j); Kernels.store(f2, s2 + j + 8)
            Kernels.store(e3, s3 + j); Kernels.store(f3, s3 + j + 8)
            u0 += e0; w0 += f0; u1 += e1; w1 += f1; u2 += e2; w2 += f2; u3 += e3; w3 += f3
            j &+= 16
        }
        l[0] = l[0] * alpha[0] + (u0 + w0).sum(); l[1] = l[1] * alpha[1] + (u1 + w1).sum()
        l[2] = l[2] * alpha[2] + (u2 + w2).sum(); l[3] = l[3] * alpha[3] + (u3 + w3).sum()
        m[0] = mNew[0]; m[1] = mNew[1]; m[2] = mNew[2]; m[3] = mNew[3]
        return alpha
    }

    /// o_i = alpha_i · o_i + Σ_j p_i[j] · vp[j, :] for two rows over `width` keys; dPad ≤ 32 per pass.
    @inline(__always)
    static func weightedValues(p0: UnsafePointer<Float>, p1: UnsafePointer<Float>,
                               alpha0: Float, alpha1: Float, width: Int,
                               vp: UnsafePointer<Float>, dPad: Int,
                               o0: UnsafeMutablePointer<Float>, o1: UnsafeMutablePointer<Float>) {
        var c = 0
        while c < dPad {
            switch (dPad - c) / 8 {
            case 1: weightedValuesChunk(vectors: 1, p0, p1, alpha0, alpha1, width, vp + c, dPad, o0 + c, o1 + c)
            case 2: weightedValuesChunk(vectors: 2, p0, p1, alpha0, alpha1, width, vp + c, dPad, o0 + c, o1 + c)
            case 3: weightedValuesChunk(vectors: 3, p0, p1, alpha0, alpha1, width, vp + c, dPad, o0 + c, o1 + c)
            default: weightedValuesChunk(vectors: 4, p0, p1, alpha0, alpha1, width, vp + c, dPad, o0 + c, o1 + c)
            }
            c += 32
        }
    }

    /// The micro-kernel of `weightedValues`: `vectors` (1…4, a constant once inlined) vectors of two
    /// output rows stay in registers across all `width` keys.
    @inline(__always)
    static func weightedValuesChunk(vectors: Int, _ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>,
                                    _ alpha0: Float, _ alpha1: Float, _ width: Int,
                                    _ vp: UnsafePointer<Float>, _ ldv: Int,
                                    _ o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>) {
        let va0 = V(repeating: alpha0), va1 = V(repeating: alpha1)
        var r00 = Kernels.load(o0) * va0, r10 = Kernels.load(o1) * va1
        var r01 = V(), r11 = V(), r02 = V(), r12 = V(), r03 = V(), r13 = V()
        if vectors > 1 { r01 = Kernels.load(o0 + 8) * va0; r11 = Kernels.load(o1 + 8) * va1 }
        if vectors > 2 { r02 = Kernels.load(o0 + 16) * va0; r12 = Kernels.load(o1 + 16) * va1 }
        if vectors > 3 { r03 = Kernels.load(o0 + 24) * va0; r13 = Kernels.load(o1 + 24) * va1 }
        var row = vp
        for j in 0..<width {
            let w0 = V(repeating: p0[j]), w1 = V(repeating: p1[j])
            let v0 = Kernels.load(row)
            r00 = Kernels.fma(r00, w0, v0); r10 = Kernels.fma(r10, w1, v0)
            if vectors > 1 {
                let v1 = Kernels.load(row + 8)
                r01 = Kernels.fma(r01, w0, v1); r11 = Kernels.fma(r11, w1, v1)
            }
            if vectors > 2 {
                let v2 = Kernels.load(row + 16)
                r02 = Kernels.fma(r02, w0, v2); r12 = Kernels.fma(r12, w1, v2)
            }
            if vectors > 3 {
                let v3 = Kernels.load(row + 24)
                r03 = Kernels.fma(r03, w0, v3); r13 = Kernels.fma(r13, w1, v3)
            }
            row += ldv
        }
        Kernels.store(r00, o0); Kernels.store(r10, o1)
        if vectors > 1 { Kernels.store(r01, o0 + 8); Kernels.store(r11, o1 + 8) }
        if vectors > 2 { Kernels.store(r02, o0 + 16); Kernels.store(r12, o1 + 16) }
        if vectors > 3 { Kernels.store(r03, o0 + 24); Kernels.store(r13, o1 + 24) }
    }

    /// Plain twin of `forward`, on unpacked k [keys, dHead] and v [keys, dHead]: each row's scores,
    /// a two-pass softmax with libm's expf, then the weighted sum.
    public static func forwardPlain(rows: Int, keys: Int, dHead: Int, scale: Float,
                                    q: UnsafePointer<Float>, ldq: Int,
                                    k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
                                    o: UnsafeMutablePointer<Float>, ldo: Int) {
        var p = [Float](repeating: 0, count: keys)
        for r in 0..<rows {
            var mx = -Float.infinity
            for j in 0..<keys {
                var dot: Float = 0
                for d in 0..<dHead { dot += q[r * ldq + d] * k[j * ldk + d] }
                p[j] = dot * scale
                mx = Swift.max(mx, p[j])
            }
            var sum: Float = 0
            for j in 0..<keys { p[j] = Kernels.libmExp(p[j] - mx); sum += p[j] }
            for d in 0..<dHead {
                var out: Float = 0
                for j in 0..<keys { out += p[j] * v[j * ldv + d] }
                o[r * ldo + d] = out / sum
            }
        }
    }
}
