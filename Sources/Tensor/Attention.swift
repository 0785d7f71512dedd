/// Fused attention of one head (flash-style, online softmax) on Swift SIMD, with a plain twin.
///
/// Why not two `cblas_sgemm` calls and a softmax: with d_head = 32 both products are skinny (k = 32,
/// then n = 32), and the score tile between them (rows × keys) leaves the caches at long n — at
/// n = 4096 a 128-row tile is 2 MB, written by one product, rewritten by the softmax and read by the
/// next. Here a group of four query rows meets a block of 128 keys in registers and L1: scores,
/// their exponentials and the weighted values never leave the core, and no rows × keys buffer exists
/// (docs/performance.md: memory stays flat at n = 4096).
///
/// Layouts (one head): keys packed in panels of 16, `kp[⌈keys/16⌉][dHead][16]`; values
/// `vp[keys rounded up to 16][dPad]` with dPad = dHead rounded up to 8; both zero past their ends
/// (`packKeys`, `packValues`). The result depends only on the rows, keys and values given, never on
/// which thread runs it or what else is in the batch.
public enum Attention {
    public typealias V = SIMD8<Float>
    /// Keys per packed panel (two vectors of the score micro-kernel).
    public static let panel = 16
    /// Keys per block of the online softmax.
    public static let keyBlock = 128
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

    /// o[r, :] = Σ_j softmax_j(scale · q[r, :]·k[j, :]) · v[j, :] for `rows` query rows over keys
    /// [0, keys) (keys ≥ 1), from packed keys and values. q [rows, dHead] row stride ldq; o [rows, dHead]
    /// row stride ldo; scratch holds `scratchCount(dHead:)` floats.
    public static func forward(rows: Int, keys: Int, dHead: Int, scale: Float,
                               q: UnsafePointer<Float>, ldq: Int,
                               kp: UnsafePointer<Float>, vp: UnsafePointer<Float>,
                               o: UnsafeMutablePointer<Float>, ldo: Int,
                               scratch: UnsafeMutablePointer<Float>) {
        precondition(keys >= 1 || rows == 0)
        let dPad = paddedHeadWidth(dHead)
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
                    scores(q0: row(0), q1: row(1), q2: row(2), q3: row(3), dHead: dHead, scale: scale2,
                           kp: kp + kb * dHead, width: width, s: s)
                    var alpha = V()
                    for i in 0..<4 {
                        alpha[i] = softmaxBlock(s: s + i * keyBlock, valid: valid, width: width,
                                                m: &m[g * 4 + i], l: &l[g * 4 + i])
                    }
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

    /// s[i][0..<width] = scale · q_i · kpᵀ for four query rows against `width` packed keys (a multiple of 16).
    @inline(__always)
    static func scores(q0: UnsafePointer<Float>, q1: UnsafePointer<Float>, q2: UnsafePointer<Float>,
                       q3: UnsafePointer<Float>, dHead: Int, scale: Float,
                       kp: UnsafePointer<Float>, width: Int, s: UnsafeMutablePointer<Float>) {
        let vs = V(repeating: scale)
        var j = 0
        while j < width {
            let panelBase = kp + j * dHead
            var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()
            for d in 0..<dHead {
                let k0 = Kernels.load(panelBase + d * panel), k1 = Kernels.load(panelBase + d * panel + 8)
                let x0 = V(repeating: q0[d]), x1 = V(repeating: q1[d])
                let x2 = V(repeating: q2[d]), x3 = V(repeating: q3[d])
                a0 = Kernels.fma(a0, x0, k0); b0 = Kernels.fma(b0, x0, k1)
                a1 = Kernels.fma(a1, x1, k0); b1 = Kernels.fma(b1, x1, k1)
                a2 = Kernels.fma(a2, x2, k0); b2 = Kernels.fma(b2, x2, k1)
                a3 = Kernels.fma(a3, x3, k0); b3 = Kernels.fma(b3, x3, k1)
            }
            Kernels.store(a0 * vs, s + j); Kernels.store(b0 * vs, s + j + 8)
            Kernels.store(a1 * vs, s + keyBlock + j); Kernels.store(b1 * vs, s + keyBlock + j + 8)
            Kernels.store(a2 * vs, s + 2 * keyBlock + j); Kernels.store(b2 * vs, s + 2 * keyBlock + j + 8)
            Kernels.store(a3 * vs, s + 3 * keyBlock + j); Kernels.store(b3 * vs, s + 3 * keyBlock + j + 8)
            j += panel
        }
    }

    /// One row's online-softmax step over a key block, in base 2 (scores carry log2 e): the scores
    /// s[0..<valid] become weights 2^(s − m′) (zero up to `width`), m and l advance, and the factor
    /// 2^(m − m′) that rescales the row's running output is returned.
    @inline(__always)
    static func softmaxBlock(s: UnsafeMutablePointer<Float>, valid: Int, width: Int,
                             m: inout Float, l: inout Float) -> Float {
        for j in valid..<width { s[j] = -.infinity }
        var vm = V(repeating: -.infinity)
        var j = 0
        while j < width { vm = Kernels.maximum(vm, Kernels.load(s + j)); j += 8 }
        let blockMax = vm.max()
        let mNew = Swift.max(m, blockMax)
        let alpha = Kernels.exp2NonPositive(V(repeating: m - mNew))[0]
        let vmNew = V(repeating: mNew)
        var sum0 = V(), sum1 = V()
        j = 0
        while j < width {
            let e0 = Kernels.exp2NonPositive(Kernels.load(s + j) - vmNew)
            let e1 = Kernels.exp2NonPositive(Kernels.load(s + j + 8) - vmNew)
            Kernels.store(e0, s + j); Kernels.store(e1, s + j + 8)
            sum0 += e0; sum1 += e1
            j += 16
        }
        l = l * alpha + (sum0 + sum1).sum()
        m = mNew
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
        for j in 0..<width {
            let row = vp + j * ldv
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
