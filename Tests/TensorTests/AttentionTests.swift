import Tensor
import Testing

/// The fused attention against its plain twin, across head widths, row counts and key counts that
/// exercise partial row groups, partial panels and several key blocks.
@Suite struct AttentionTests {
    struct Case {
        let rows, keys, dHead, ld: Int
        var q, k, v: [Float]

        init(rows: Int, keys: Int, dHead: Int, seed: UInt64, spread: Float = 3) {
            self.rows = rows; self.keys = keys; self.dHead = dHead
            ld = dHead + 5   // rows strided inside a wider matrix, as the encoder's heads are
            var r = KernelTwinTests.Rand(s: seed)
            q = (0..<(rows * ld)).map { _ in r.next() * spread }
            k = (0..<(keys * ld)).map { _ in r.next() * spread }
            v = (0..<(keys * ld)).map { _ in r.next() }
        }

        /// o [rows, ld] by the fused kernel, on rows [from, from + count); `lanes16: false` keeps it
        /// on 8-lane vectors whatever the CPU.
        func fused(from: Int = 0, count: Int? = nil, lanes16: Bool = true) -> [Float] {
            let count = count ?? rows
            let kp = UnsafeMutablePointer<Float>.allocate(capacity: Attention.packedKeyCount(keys: keys, dHead: dHead))
            let vp = UnsafeMutablePointer<Float>.allocate(capacity: Attention.packedKeyCount(keys: keys, dHead: dHead))
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Attention.scratchCount(dHead: dHead))
            defer { kp.deallocate(); vp.deallocate(); scratch.deallocate() }
            Attention.packKeys(keys: keys, dHead: dHead, k: k, ldk: ld, into: kp)
            Attention.packValues(keys: keys, dHead: dHead, v: v, ldv: ld, into: vp)
            var o = [Float](repeating: -7, count: rows * ld)
            q.withUnsafeBufferPointer { qb in
                o.withUnsafeMutableBufferPointer { ob in
                    Attention.forward(rows: count, keys: keys, dHead: dHead, scale: 1 / Float(dHead).squareRoot(),
                                      q: qb.baseAddress! + from * ld, ldq: ld, kp: kp, vp: vp,
                                      o: ob.baseAddress! + from * ld, ldo: ld, scratch: scratch, lanes16: lanes16)
                }
            }
            return o
        }

        func plain() -> [Float] {
            var o = [Float](repeating: -7, count: rows * ld)
            Attention.forwardPlain(rows: rows, keys: keys, dHead: dHead, scale: 1 / Float(dHead).squareRoot(),
                                   q: q, ldq: ld, k: k, ldk: ld, v: v, ldv: ld, o: &o, ldo: ld)
            return o
        }
    }

    @Test(arguments: [4, 8, 12, 16, 32, 40])
    func matchesItsTwin(dHead: Int) {
        let block = Attention.keyBlock
        for (rows, keys) in [(1, 1), (3, 15), (4, 16), (5, 17), (64, 128), (67, 129), (130, 300),
                             (9, block), (11, block + 1), (6, 2 * block + 37)] {
            let c = Case(rows: rows, keys: keys, dHead: dHead, seed: UInt64(dHead * 1000 + keys))
            let fused = c.fused(), plain = c.plain()
            var worst: Float = 0
            for r in 0..<rows {
                for d in 0..<c.ld {
                    let i = r * c.ld + d
                    if d < dHead {
                        worst = max(worst, abs(fused[i] - plain[i]))
                    } else {
                        #expect(fused[i] == -7, "row \(r) column \(d) past the head was written")
                    }
                }
            }
            #expect(worst <= 2e-6, "dHead \(dHead) rows \(rows) keys \(keys): worst |fused − plain| \(worst)")
        }
    }

    @Test func sharpScoresStayExact() {
        // Scores spread over ±300: most weights underflow, the row maximum dominates, sums stay finite;
        // past one key block, a later block's larger maximum rescales the earlier blocks' sums. With
        // more keys more of them come near the maximum, and the plain twin's own float scores (a float
        // near ±300 is resolved to 3e-5) move their weights: hence the wider bound.
        for (keys, bound) in [(260, Float(2e-6)), (Attention.keyBlock + 260, 1e-5)] {
            let c = Case(rows: 9, keys: keys, dHead: 32, seed: 5, spread: 12)
            let fused = c.fused(), plain = c.plain()
            for i in fused.indices where i % c.ld < 32 {
                #expect(fused[i].isFinite)
                #expect(abs(fused[i] - plain[i]) <= bound, "keys \(keys) index \(i)")
            }
        }
    }

    @Test func aRowDoesNotDependOnTheRowsAroundIt() {
        // Same bits whether a row is computed in a full tile, at a ragged edge or alone.
        let c = Case(rows: 70, keys: Attention.keyBlock + 200, dHead: 32, seed: 11)
        let all = c.fused()
        for r in [0, 3, 4, 63, 64, 69] {
            let alone = c.fused(from: r, count: 1)
            #expect(Array(all[(r * c.ld)..<(r * c.ld + 32)]) == Array(alone[(r * c.ld)..<(r * c.ld + 32)]), "row \(r)")
        }
    }

    @Test func aNaNStaysInItsRow() {
        var c = Case(rows: 6, keys: 40, dHead: 16, seed: 3)
        c.q[2 * c.ld + 5] = .nan
        let o = c.fused()
        for r in 0..<6 {
            let row = o[(r * c.ld)..<(r * c.ld + 16)]
            if r == 2 { #expect(row.allSatisfy { $0.isNaN }) } else { #expect(row.allSatisfy { $0.isFinite }, "row \(r)") }
        }
    }
}
