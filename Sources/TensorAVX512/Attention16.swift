/// The fused attention's inner step (`Attention.forward`) on 16-lane vectors, for CPUs with
/// AVX-512: for every output the same products in the same order, the same exponential per lane and
/// the same order of sums as the 8-lane kernel, so its results are the same bits, in half the
/// instructions (docs/performance.md, "Attention on 16-lane vectors").
///
/// This module is compiled for AVX-512 in the x86-64-v3 build (Package.swift): call it only after
/// the CPU check (`Attention.forward` does), and only for the head widths `handles` accepts.
/// Layouts (one head): keys packed in panels of 16, `kp[⌈keys/16⌉][dHead][16]`; values
/// `vp[keys rounded up to 16][dPad]`, dPad = dHead rounded up to 8; both zero past their ends.
public enum Attention16 {
    public typealias V = SIMD16<Float>
    /// Keys per packed panel, as `Attention.panel`.
    public static let panel = 16

    /// Whether the kernel covers this head width: dPad of 16 or 32 (one or two vectors a row).
    public static func handles(dHead: Int) -> Bool {
        let dPad = (dHead + 7) & ~7
        return dPad == 16 || dPad == 32
    }

    /// One step of `Attention.forward`: four query rows q_i meet one key block — scores against
    /// `width` packed keys (a multiple of 16; the first `valid` are keys), the online softmax (m, l
    /// of the four rows advance) and the weighted values (o_i at o + i·dPad rescaled and added to),
    /// with the 8-lane kernel's arithmetic for every output. `scale` carries log2 e; `s` is the
    /// score scratch of four rows, `lds` ≥ width floats apart.
    @inline(never)
    public static func block(q0: UnsafePointer<Float>, q1: UnsafePointer<Float>, q2: UnsafePointer<Float>,
                             q3: UnsafePointer<Float>, dHead: Int, scale: Float,
                             kp: UnsafePointer<Float>, vp: UnsafePointer<Float>, valid: Int, width: Int,
                             s: UnsafeMutablePointer<Float>, lds: Int,
                             m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>) {
        let dPad = (dHead + 7) & ~7
        let maxima = scores(q0: q0, q1: q1, q2: q2, q3: q3, dHead: dHead, scale: scale, kp: kp, valid: valid, width: width,
                            s: s, lds: lds)
        softmaxAndValues4(vectors: dPad / 16, s: s, lds: lds, width: width, maxima: maxima, m: m, l: l, vp: vp, dPad: dPad, o: o)
    }

    /// s[i][0..<width] = scale · q_i · kpᵀ for four rows against `width` packed keys (a multiple of
    /// 16; the first `valid` are keys, the rest −∞), two panels (32 keys) a step while there are two;
    /// returns each row's lane-wise maxima.
    @inline(__always)
    static func scores(q0: UnsafePointer<Float>, q1: UnsafePointer<Float>, q2: UnsafePointer<Float>,
                       q3: UnsafePointer<Float>, dHead: Int, scale: Float,
                       kp: UnsafePointer<Float>, valid: Int, width: Int, s: UnsafeMutablePointer<Float>, lds: Int) -> (V, V, V, V) {
        let vs = V(repeating: scale)
        var m0 = V(repeating: -.infinity), m1 = m0, m2 = m0, m3 = m0
        let s1 = s + lds, s2 = s + 2 * lds, s3 = s + 3 * lds
        var j = 0
        while j &+ 2 &* panel <= width {
            var k0p = kp + j &* dHead
            var k1p = k0p + panel &* dHead
            var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()
            for d in 0..<dHead {
                let k0 = load(k0p), k1 = load(k1p)
                let x0 = V(repeating: q0[d]), x1 = V(repeating: q1[d])
                let x2 = V(repeating: q2[d]), x3 = V(repeating: q3[d])
                a0 = a0.addingProduct(x0, k0); b0 = b0.addingProduct(x0, k1)
                a1 = a1.addingProduct(x1, k0); b1 = b1.addingProduct(x1, k1)
                a2 = a2.addingProduct(x2, k0); b2 = b2.addingProduct(x2, k1)
                a3 = a3.addingProduct(x3, k0); b3 = b3.addingProduct(x3, k1)
                k0p += panel; k1p += panel
            }
            a0 *= vs; b0 *= vs; a1 *= vs; b1 *= vs; a2 *= vs; b2 *= vs; a3 *= vs; b3 *= vs
            if j &+ 2 &* panel > valid {
                let lo = pastKeys(j, valid), hi = pastKeys(j &+ panel, valid), ninf = V(repeating: -.infinity)
                a0.replace(with: ninf, where: lo); b0.replace(with: ninf, where: hi)
                a1.replace(with: ninf, where: lo); b1.replace(with: ninf, where: hi)
                a2.replace(with: ninf, where: lo); b2.replace(with: ninf, where: hi)
                a3.replace(with: ninf, where: lo); b3.replace(with: ninf, where: hi)
            }
            m0 = maximum(m0, maximum(a0, b0)); m1 = maximum(m1, maximum(a1, b1))
            m2 = maximum(m2, maximum(a2, b2)); m3 = maximum(m3, maximum(a3, b3))
            store(a0, s + j); store(b0, s + j + panel)
            store(a1, s1 + j); store(b1, s1 + j + panel)
            store(a2, s2 + j); store(b2, s2 + j + panel)
            store(a3, s3 + j); store(b3, s3 + j + panel)
            j &+= 2 &* panel
        }
        if j < width {
            var kd = kp + j &* dHead
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            for d in 0..<dHead {
                let k0 = load(kd)
                a0 = a0.addingProduct(V(repeating: q0[d]), k0); a1 = a1.addingProduct(V(repeating: q1[d]), k0)
                a2 = a2.addingProduct(V(repeating: q2[d]), k0); a3 = a3.addingProduct(V(repeating: q3[d]), k0)
                kd += panel
            }
            a0 *= vs; a1 *= vs; a2 *= vs; a3 *= vs
            if j &+ panel > valid {
                let lo = pastKeys(j, valid), ninf = V(repeating: -.infinity)
                a0.replace(with: ninf, where: lo); a1.replace(with: ninf, where: lo)
                a2.replace(with: ninf, where: lo); a3.replace(with: ninf, where: lo)
            }
            m0 = maximum(m0, a0); m1 = maximum(m1, a1); m2 = maximum(m2, a2); m3 = maximum(m3, a3)
            store(a0, s + j); store(a1, s1 + j); store(a2, s2 + j); store(a3, s3 + j)
        }
        return (m0, m1, m2, m3)
    }

    /// The lanes of the panel starting at key `j` that lie past the last key.
    @inline(__always)
    static func pastKeys(_ j: Int, _ valid: Int) -> SIMDMask<SIMD16<Int32>> {
        let lane = V(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) + V(repeating: Float(j))
        return lane .>= V(repeating: Float(valid))
    }

    /// Four rows' online-softmax step and weighted values over a key block, in one pass: as
    /// `Attention.softmaxBlock4` then `weightedValues` for each pair of rows. Scores s_i (at
    /// s + i·lds, −∞ past the keys; lane-wise maxima `vm_i`) become weights 2^(s − m′), m and l
    /// advance, and o_i (at o + i·dPad) = 2^(m − m′)·o_i + Σ_j weight_i[j]·vp[j, :]. The weights of
    /// each 16 keys are computed while the products of the 16 before run, so the exponential's
    /// non-FMA work overlaps them. A row's sum keeps keys j…j+7 and j+8…j+15 of each 16 in separate
    /// halves, added at the end, as the 8-lane kernel's two sums; `vectors` (1 or 2) = dPad / 16.
    @inline(__always)
    static func softmaxAndValues4(vectors: Int, s: UnsafeMutablePointer<Float>, lds: Int, width: Int, maxima vm: (V, V, V, V),
                                  m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>,
                                  vp: UnsafePointer<Float>, dPad: Int, o: UnsafeMutablePointer<Float>) {
        var mOld = V(repeating: -.infinity), mNew = mOld
        mOld[0] = m[0]; mOld[1] = m[1]; mOld[2] = m[2]; mOld[3] = m[3]
        mNew[0] = Swift.max(m[0], horizontalMax(vm.0)); mNew[1] = Swift.max(m[1], horizontalMax(vm.1))
        mNew[2] = Swift.max(m[2], horizontalMax(vm.2)); mNew[3] = Swift.max(m[3], horizontalMax(vm.3))
        let alpha = exp2NonPositive(mOld - mNew)
        let n0 = V(repeating: mNew[0]), n1 = V(repeating: mNew[1]), n2 = V(repeating: mNew[2]), n3 = V(repeating: mNew[3])
        let p0 = s, p1 = s + lds, p2 = s + 2 * lds, p3 = s + 3 * lds
        var u0 = V(), u1 = V(), u2 = V(), u3 = V()
        let o0 = o, o1 = o + dPad, o2 = o + 2 * dPad, o3 = o + 3 * dPad
        let va0 = V(repeating: alpha[0]), va1 = V(repeating: alpha[1]), va2 = V(repeating: alpha[2]), va3 = V(repeating: alpha[3])
        var r00 = load(o0) * va0, r10 = load(o1) * va1, r20 = load(o2) * va2, r30 = load(o3) * va3
        var r01 = V(), r11 = V(), r21 = V(), r31 = V()
        if vectors > 1 {
            r01 = load(o0 + 16) * va0; r11 = load(o1 + 16) * va1; r21 = load(o2 + 16) * va2; r31 = load(o3 + 16) * va3
        }
        // Step t computes the weights of keys t..<t+16 (in place of their scores, added to the
        // rows' sums) while the products of the 16 keys before them run.
        var row = vp
        var t = 0
        while t <= width {
            if t < width {
                let e0 = exp2NonPositive(load(p0 + t) - n0), e1 = exp2NonPositive(load(p1 + t) - n1)
                let e2 = exp2NonPositive(load(p2 + t) - n2), e3 = exp2NonPositive(load(p3 + t) - n3)
                store(e0, p0 + t); store(e1, p1 + t); store(e2, p2 + t); store(e3, p3 + t)
                u0 += e0; u1 += e1; u2 += e2; u3 += e3
            }
            if t > 0 {
                for j in (t &- panel)..<t {
                    let v0 = load(row)
                    let w0 = V(repeating: p0[j]), w1 = V(repeating: p1[j]), w2 = V(repeating: p2[j]), w3 = V(repeating: p3[j])
                    r00 = r00.addingProduct(w0, v0); r10 = r10.addingProduct(w1, v0)
                    r20 = r20.addingProduct(w2, v0); r30 = r30.addingProduct(w3, v0)
                    if vectors > 1 {
                        let v1 = load(row + 16)
                        r01 = r01.addingProduct(w0, v1); r11 = r11.addingProduct(w1, v1)
                        r21 = r21.addingProduct(w2, v1); r31 = r31.addingProduct(w3, v1)
                    }
                    row += dPad
                }
            }
            t &+= panel
        }
        store(r00, o0); store(r10, o1); store(r20, o2); store(r30, o3)
        if vectors > 1 { store(r01, o0 + 16); store(r11, o1 + 16); store(r21, o2 + 16); store(r31, o3 + 16) }
        l[0] = l[0] * alpha[0] + (u0.lowHalf + u0.highHalf).sum(); l[1] = l[1] * alpha[1] + (u1.lowHalf + u1.highHalf).sum()
        l[2] = l[2] * alpha[2] + (u2.lowHalf + u2.highHalf).sum(); l[3] = l[3] * alpha[3] + (u3.lowHalf + u3.highHalf).sum()
        m[0] = mNew[0]; m[1] = mNew[1]; m[2] = mNew[2]; m[3] = mNew[3]
    }

    /// 12 independent chains of 16-wide fused multiply-adds, `reps` steps each, registers only: the
    /// loop of `KernelBench.fmaPeak` on 16-lane vectors. Returns their sum, so they are kept.
    @inline(never)
    public static func fmaChains(_ reps: Int) -> Float {
        let x = V(repeating: 0.999_999), y = V(repeating: 1e-7)
        var a0 = V(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
        var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
        for _ in 0..<reps {
            a0 = y.addingProduct(a0, x); a1 = y.addingProduct(a1, x); a2 = y.addingProduct(a2, x); a3 = y.addingProduct(a3, x)
            a4 = y.addingProduct(a4, x); a5 = y.addingProduct(a5, x); a6 = y.addingProduct(a6, x); a7 = y.addingProduct(a7, x)
            a8 = y.addingProduct(a8, x); a9 = y.addingProduct(a9, x); a10 = y.addingProduct(a10, x); a11 = y.addingProduct(a11, x)
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
    }

    // MARK: lane kernels, as `Kernels`' 8-lane ones

    /// 2^x for x ≤ 0, as `Kernels.exp2NonPositive` lane for lane.
    @inline(__always)
    static func exp2NonPositive(_ x: V) -> V {
        let xc = maximum(x, V(repeating: -127))
        let magic = V(repeating: 12_583_039)
        let shifted = xc + magic
        let f = xc - (shifted - magic)
        var p = V(repeating: 0.009675542).addingProduct(V(repeating: 0.0013276458), f)
        p = V(repeating: 0.055507135).addingProduct(p, f)
        p = V(repeating: 0.2402212).addingProduct(p, f)
        p = V(repeating: 0.69314694).addingProduct(p, f)
        p = V(repeating: 1.0000001).addingProduct(p, f)
        return p * unsafeBitCast(unsafeBitCast(shifted, to: SIMD16<Int32>.self) &<< 23, to: V.self)
    }

    /// Lane-wise max, NaN in `a` kept (as `Kernels.maximum`).
    @inline(__always) static func maximum(_ a: V, _ b: V) -> V { a.replacing(with: b, where: a .< b) }

    /// The largest of sixteen lanes (exact, so the order does not matter).
    @inline(__always) static func horizontalMax(_ v: V) -> Float {
        let e = v.lowHalf.replacing(with: v.highHalf, where: v.lowHalf .< v.highHalf)   // 8 lanes, then as Kernels.horizontalMax
        let h = e.lowHalf.replacing(with: e.highHalf, where: e.lowHalf .< e.highHalf)
        let q = h.lowHalf.replacing(with: h.highHalf, where: h.lowHalf .< h.highHalf)
        return q[0] < q[1] ? q[1] : q[0]
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }
}
