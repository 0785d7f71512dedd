import Tensor
import Testing

/// The packed-weight product against its plain twin (`Gemm.nt`, OpenBLAS), over row counts that
/// leave every micro-kernel height and a ragged row block, widths that leave a partial panel, and
/// strided operands; with and without the residual add.
@Suite struct PackedGemmTests {
    struct Case {
        let m, n, k, lda, ldw, ldc: Int
        var a, w, c0: [Float]

        init(m: Int, n: Int, k: Int, seed: UInt64) {
            self.m = m; self.n = n; self.k = k
            lda = k + 3; ldw = k + 1; ldc = n + 5   // operands inside wider matrices, as the encoder's are
            var r = KernelTwinTests.Rand(s: seed)
            a = (0..<(m * lda)).map { _ in r.next() }
            w = (0..<(n * ldw)).map { _ in r.next() }
            c0 = (0..<(m * ldc)).map { _ in r.next() }
        }

        func packed(accumulate: Bool, rows: Range<Int>? = nil) -> [Float] {
            let rows = rows ?? 0..<m
            var c = c0
            let pw = w.withUnsafeBufferPointer { PackedWeight($0.baseAddress!, n: n, k: k, ldw: ldw) }
            a.withUnsafeBufferPointer { ab in
                c.withUnsafeMutableBufferPointer { cb in
                    PackedGemm.linear(m: rows.count, a: ab.baseAddress! + rows.lowerBound * lda, lda: lda, w: pw,
                                      accumulate: accumulate, c: cb.baseAddress! + rows.lowerBound * ldc, ldc: ldc)
                }
            }
            return c
        }

        func plain(accumulate: Bool) -> [Float] {
            var c = c0
            Gemm.nt(m: m, n: n, k: k, a: a, lda: lda, b: w, ldb: ldw, beta: accumulate ? 1 : 0, c: &c, ldc: ldc)
            return c
        }
    }

    @Test(arguments: [false, true])
    func matchesItsTwin(accumulate: Bool) {
        var compared = 0
        for (m, n, k) in [(1, 16, 1), (2, 16, 3), (5, 24, 7), (6, 32, 64), (7, 40, 33), (13, 128, 129), (97, 48, 256),
                          (200, 256, 128), (103, 704, 256), (11, 1, 5)] {
            let c = Case(m: m, n: n, k: k, seed: UInt64(m * 10_000 + n * 100 + k))
            let fused = c.packed(accumulate: accumulate), plain = c.plain(accumulate: accumulate)
            for r in 0..<m {
                for j in 0..<c.ldc {
                    let i = r * c.ldc + j
                    if j < n {
                        // Each output sums k products of values in [−1, 1]: allow k ulps of the sum's scale.
                        let bound = Float(k) * 1.2e-7 * (Float(k) + abs(c.c0[i]))
                        #expect(abs(fused[i] - plain[i]) <= bound, "m \(m) n \(n) k \(k) row \(r) col \(j): \(fused[i]) vs \(plain[i])")
                        compared += 1
                    } else {
                        #expect(fused[i] == c.c0[i], "m \(m) n \(n) k \(k): row \(r) column \(j) past the output was written")
                    }
                }
            }
        }
        #expect(compared == 130_683)
    }

    @Test func aRowDoesNotDependOnTheRowsAroundIt() {
        // Same bits whether a row is computed in a full block, at a ragged edge or alone.
        let c = Case(m: 103, n: 40, k: 70, seed: 9)
        let all = c.packed(accumulate: true)
        for r in [0, 5, 6, 95, 96, 101, 102] {
            let alone = c.packed(accumulate: true, rows: r..<(r + 1))
            #expect(Array(all[(r * c.ldc)..<(r * c.ldc + c.n)]) == Array(alone[(r * c.ldc)..<(r * c.ldc + c.n)]), "row \(r)")
        }
    }
}
