import Store
import Support
import Testing
import TestSupport

/// `VersionComparison`: a hand-computed case, the streaming merge join against a plain twin that
/// loads everything, and a version compared with itself.
@Suite struct VersionComparisonTests {
    /// A store with versions built from `[user: (codes, scales)]`, K × D each.
    static func store(_ dir: TempDirectory, k: Int, d: Int, _ versions: [(String, [UInt64: ([Int8], [Float])])]) throws -> EmbeddingStore {
        let store = try EmbeddingStore(path: dir.file("embeddings.db"))
        for (name, rows) in versions {
            let v = try store.ensureVersion(name, identity: "identity-of-\(name)", interests: k, interestDim: d)
            // Ascending signed key, as upsert asks.
            let sorted = rows.sorted { Int64(bitPattern: $0.key) < Int64(bitPattern: $1.key) }.map {
                EmbeddingRow(userID: $0.key, codes: $0.value.0, scales: $0.value.1, nEvents: 1, asOf: 1, historyVersion: 1, computedAt: 1, runID: 1)
            }
            _ = try store.database.transaction { try store.upsert(sorted, into: v) }
        }
        return store
    }

    // MARK: - A hand-computed case

    @Test func aHandComputedCase() throws {
        let dir = TempDirectory()
        let high5: UInt64 = (1 << 63) + 5, high9: UInt64 = (1 << 63) + 9   // stored under negative keys
        // K = 2, D = 2: codes [a0.x, a0.y, a1.x, a1.y], scales [s0, s1].
        let v1: [UInt64: ([Int8], [Float])] = [
            1: ([3, 4, 1, 0], [1, 1]),
            2: ([1, 0, 0, 1], [1, 1]),
            high9: ([1, 0, 0, 1], [1, 1]),
            high5: ([0, 0, 2, 0], [0, 1]),
            4: ([0, 0, 1, 1], [0, 1]),
            8: ([7, -3, -127, 5], [0.1, 0.37]),
            5: ([1, 1, 1, 1], [1, 1]),
        ]
        let v2: [UInt64: ([Int8], [Float])] = [
            1: ([4, 3, 1, 0], [1, 2]),          // b1 = (1, 0) × 2 = (2, 0)
            2: ([0, 1, 1, 0], [1, 1]),          // interests swapped
            high9: ([0, 1, 1, 0], [1, 1]),      // the same, to tie with user 2
            high5: ([0, 0, 0, 0], [0, 0]),      // all zero
            4: ([1, 0, -1, -1], [1, 1]),
            8: ([7, -3, -127, 5], [0.1, 0.37]), // identical
            6: ([1, 1, 1, 1], [1, 1]), 7: ([1, 1, 1, 1], [1, 1]),
        ]
        let store = try Self.store(dir, k: 2, d: 2, [("v1", v1), ("v2", v2)])
        let c = try VersionComparison.compare(store, "v1", "v2", top: 3)
        #expect(c.coverage == VersionComparison.Coverage(both: 6, onlyV1: 1, onlyV2: 2))
        // Per user (aligned; best-match; norm ratio; mean aligned):
        //   1:      cos((3,4),(4,3)) = 24/25 = 0.96, cos((1,0),(2,0)) = 1; best 0.96 (vs (2,0): 6/10), 1;
        //           |b|/|a| = 5/5 = 1, 2/1 = 2; mean 0.98
        //   2, 2^63+9: swapped unit vectors: aligned 0, 0; best 1, 1; ratios 1, 1; mean 0
        //   2^63+5: a0 = b0 = 0 → 1, a1 = (2,0) vs b1 = 0 → 0; best 1 (b1 is zero too), 0; ratios 1, 0; mean 0.5
        //   4:      a0 = 0 vs (1,0) → 0, (1,1) vs (−1,−1) → −1; best 0, cos((1,1),(1,0)) = 1/√2;
        //           ratio of interest 0 not counted (|a0| = 0), √2/√2 = 1; mean −0.5
        //   8:      identical rows: 1, 1 exactly; best 1, 1; ratios 1, 1; mean 1
        let (i0, i1) = (c.perInterest[0], c.perInterest[1])
        expect(i0.aligned, count: 6, min: 0, max: 1, mean: 2.96 / 6, p50: 0)                // 0 0 0 .96 1 1
        expect(i1.aligned, count: 6, min: -1, max: 1, mean: 1.0 / 6, p50: 0)                // −1 0 0 0 1 1
        expect(c.all.aligned, count: 12, min: -1, max: 1, mean: 3.96 / 12, p50: 0)          // nearest rank 6 of 12 is a 0
        expect(i0.bestMatch, count: 6, min: 0, max: 1, mean: 4.96 / 6, p50: 1)              // 0 .96 1 1 1 1
        expect(i1.bestMatch, count: 6, min: 0, max: 1, mean: (4 + 0.5.squareRoot()) / 6, p50: 1)
        expect(i0.normRatio, count: 5, min: 1, max: 1, mean: 1, p50: 1)                     // user 4 not counted
        expect(i1.normRatio, count: 6, min: 0, max: 2, mean: 1, p50: 1)                     // 0 1 1 1 1 2
        expect(c.userMeanAligned, count: 6, min: -0.5, max: 1, mean: 1.98 / 6, p50: 0)     // −.5 0 0 .5 .98 1
        #expect(i0.aligned.p95 == 1 && i1.aligned.p5 == -1 && i1.normRatio.p99 == 2 && i0.normRatio.p1 == 1)
        #expect(c.all.normRatio.count == 11)
        // The three lowest means, the tie at 0 broken by the unsigned id (2 < 2^63 + 9).
        #expect(c.topMovers.map(\.userID) == [4, 2, high9])
        #expect(c.topMovers[0].meanAligned == -0.5 && c.topMovers[0].aligned == [0, -1])
        #expect(abs(c.topMovers[0].bestMatch[1] - 0.5.squareRoot()) < 1e-15 && c.topMovers[0].bestMatch[0] == 0)
        #expect(c.topMovers[1].aligned == [0, 0] && c.topMovers[1].bestMatch == [1, 1])
        // Plotting bins hold every value, and the interests share the bins of "all".
        for s in [i0.aligned, i1.aligned, c.all.aligned, i1.normRatio, c.userMeanAligned] {
            #expect(s.histogram.counts.reduce(0, +) + s.histogram.below + s.histogram.above == s.count)
        }
        #expect(i0.aligned.histogram.edges == c.all.aligned.histogram.edges && c.all.aligned.histogram.counts.count <= 40)
        // The read transaction ended: the same connection compares again.
        let again = try VersionComparison.compare(store, "v2", "v2")
        #expect(again.coverage == VersionComparison.Coverage(both: 8) && again.topMovers.isEmpty)
    }

    func expect(_ s: VersionComparison.Summary, count: Int, min: Double, max: Double, mean: Double, p50: Double,
                sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(s.count == count, sourceLocation: sourceLocation)
        #expect(s.min == min && s.max == max && s.p50 == p50, "\(s)", sourceLocation: sourceLocation)
        #expect(abs(s.mean - mean) < 1e-12, "mean \(s.mean), expected \(mean)", sourceLocation: sourceLocation)
    }

    @Test func missingVersionsAndDifferentShapesAreRefused() throws {
        let dir = TempDirectory()
        let store = try Self.store(dir, k: 2, d: 2, [("a", [1: ([1, 2, 3, 4], [1, 1])])])
        _ = try store.ensureVersion("wide", identity: "w", interests: 2, interestDim: 3)
        for (x, y, says) in [("a", "nope", "no model version nope"), ("nope", "a", "no model version nope"), ("a", "wide", "different shapes")] {
            do {
                _ = try VersionComparison.compare(store, x, y)
                Issue.record("compare \(x) \(y) should fail")
            } catch {
                #expect(error.message.contains(says), "\(error)")
            }
        }
    }

    // MARK: - The streaming comparison against its plain twin

    /// A few hundred users over the whole id range, K = 3, D = 5: V2 drifts by user-dependent noise,
    /// permutes some users' interests, zeroes some interests, keeps some rows identical.
    static func randomStore(_ dir: TempDirectory) throws -> EmbeddingStore {
        var x: UInt64 = 42
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
        let (k, d) = (3, 5)
        var v1: [UInt64: ([Int8], [Float])] = [:], v2 = v1
        for _ in 0..<400 {
            let user = next() % 3 == 0 ? next() | (1 << 63) : next() % 1_000_000
            var codes = (0..<(k * d)).map { _ in Int8(Int(next() % 255) - 127) }
            var scales = (0..<k).map { _ in Float(0.001 + uniform() * 0.05) }
            if next() % 10 == 0 { let z = Int(next() % UInt64(k)); scales[z] = 0; for t in 0..<d { codes[z * d + t] = 0 } }
            if next() % 100 < 85 { v1[user] = (codes, scales) }
            guard next() % 100 < 85 else { continue }
            switch next() % 10 {
            case 0: break                                                      // identical
            case 1: codes = Array(codes[d...] + codes[..<d]); scales = Array(scales[1...] + scales[..<1])   // permuted
            case 2: let z = Int(next() % UInt64(k)); scales[z] = 0; for t in 0..<d { codes[z * d + t] = 0 }  // a zeroed interest
            default:
                let noise = [2.0, 10, 60][Int(next() % 3)]
                codes = codes.map { Int8(max(-127, min(127, Double($0) + (uniform() - 0.5) * noise)).rounded()) }
                scales = scales.map { $0 * Float(0.8 + 0.4 * uniform()) }
            }
            v2[user] = (codes, scales)
        }
        return try store(dir, k: k, d: d, [("v1", v1), ("v2", v2)])
    }

    /// The plain twin: every row in memory, each metric's values in arrays, exact nearest ranks.
    struct Plain {
        var coverage = VersionComparison.Coverage()
        var aligned: [[Double]], bestMatch: [[Double]], normRatio: [[Double]]
        var movers: [(userID: UInt64, meanAligned: Double, aligned: [Double], bestMatch: [Double])] = []

        init(_ store: EmbeddingStore, _ version1: String, _ version2: String, k: Int, d: Int) throws {
            aligned = Array(repeating: [], count: k); bestMatch = aligned; normRatio = aligned
            let r1 = Dictionary(uniqueKeysWithValues: try store.rows(version: version1).map { ($0.userID, $0) })
            let r2 = Dictionary(uniqueKeysWithValues: try store.rows(version: version2).map { ($0.userID, $0) })
            coverage.onlyV1 = r1.keys.filter { r2[$0] == nil }.count
            coverage.onlyV2 = r2.keys.filter { r1[$0] == nil }.count
            func vectors(_ r: EmbeddingRow) -> [[Double]] { (0..<k).map { i in (0..<d).map { Double(r.codes[i * d + $0]) * Double(r.scales[i]) } } }
            func norm(_ v: [Double]) -> Double { v.map { $0 * $0 }.reduce(0, +).squareRoot() }
            func cosine(_ a: [Double], _ b: [Double]) -> Double {
                let (na, nb) = (norm(a), norm(b))
                if na == 0 && nb == 0 { return 1 }
                if na == 0 || nb == 0 { return 0 }
                return min(1, max(-1, zip(a, b).map { $0 * $1 }.reduce(0, +) / (na * nb)))
            }
            for user in r1.keys.sorted() where r2[user] != nil {
                coverage.both += 1
                let (a, b) = (vectors(r1[user]!), vectors(r2[user]!))
                let al = (0..<k).map { cosine(a[$0], b[$0]) }, best = (0..<k).map { i in b.map { cosine(a[i], $0) }.max()! }
                for i in 0..<k {
                    aligned[i].append(al[i]); bestMatch[i].append(best[i])
                    if norm(a[i]) > 0 { normRatio[i].append(norm(b[i]) / norm(a[i])) } else if norm(b[i]) == 0 { normRatio[i].append(1) }
                }
                movers.append((user, al.reduce(0, +) / Double(k), al, best))
            }
            movers.sort { ($0.meanAligned, $0.userID) < ($1.meanAligned, $1.userID) }
        }

        /// The nearest-rank percentile: the value of rank ⌈p·n/100⌉.
        static func percentile(_ values: [Double], _ p: Int) -> Double {
            let s = values.sorted()
            return s[max(1, (p * s.count + 99) / 100) - 1]
        }
    }

    /// The streaming summary matches the plain values: count and range, mean, and each percentile
    /// within `tolerance` (the bin width: absolute for cosines, relative for ratios).
    func matches(_ s: VersionComparison.Summary, _ values: [Double], tolerance: Double, relative: Bool = false, _ what: String) {
        #expect(s.count == values.count, "\(what)")
        #expect(abs(s.min - values.min()!) < 1e-12 && abs(s.max - values.max()!) < 1e-12, "\(what)")
        #expect(abs(s.mean - values.reduce(0, +) / Double(values.count)) < 1e-12, "\(what)")
        for (p, got) in [(1, s.p1), (5, s.p5), (50, s.p50), (95, s.p95), (99, s.p99)] {
            let want = Plain.percentile(values, p)
            #expect(abs(got - want) <= tolerance * (relative ? want : 1) + 1e-12, "\(what) p\(p): \(got) vs \(want)")
        }
        let h = s.histogram
        #expect(h.counts.reduce(0, +) + h.below + h.above == values.count, "\(what)")
        if !relative { #expect(h.below == values.filter { $0 < h.edges.first! }.count, "\(what)") }   // ratios beyond 2^±10 sit in the end bins
    }

    @Test func theStreamingComparisonMatchesItsPlainTwin() throws {
        let dir = TempDirectory()
        let store = try Self.randomStore(dir)
        let c = try VersionComparison.compare(store, "v1", "v2", top: 25)
        let plain = try Plain(store, "v1", "v2", k: 3, d: 5)
        #expect(c.coverage == plain.coverage)
        #expect(c.coverage.both >= 200 && c.coverage.onlyV1 > 0 && c.coverage.onlyV2 > 0, "\(c.coverage)")
        for i in 0..<3 {
            matches(c.perInterest[i].aligned, plain.aligned[i], tolerance: 1e-4, "aligned \(i)")
            matches(c.perInterest[i].bestMatch, plain.bestMatch[i], tolerance: 1e-4, "best-match \(i)")
            matches(c.perInterest[i].normRatio, plain.normRatio[i], tolerance: 7e-4, relative: true, "norm ratio \(i)")
        }
        matches(c.all.aligned, plain.aligned.flatMap { $0 }, tolerance: 1e-4, "aligned")
        matches(c.all.bestMatch, plain.bestMatch.flatMap { $0 }, tolerance: 1e-4, "best-match")
        matches(c.all.normRatio, plain.normRatio.flatMap { $0 }, tolerance: 7e-4, relative: true, "norm ratio")
        matches(c.userMeanAligned, plain.movers.map(\.meanAligned), tolerance: 1e-4, "user mean")
        // The drift spans the range: permuted users move far, identical ones not at all.
        #expect(c.all.aligned.min < 0.5 && c.all.aligned.max == 1 && c.all.bestMatch.p50 > c.all.aligned.p5)
        #expect(c.topMovers.map(\.userID) == plain.movers.prefix(25).map(\.userID))
        for (m, p) in zip(c.topMovers, plain.movers) {
            #expect(abs(m.meanAligned - p.meanAligned) < 1e-12)
            #expect(zip(m.aligned + m.bestMatch, p.aligned + p.bestMatch).allSatisfy { abs($0 - $1) < 1e-12 })
        }
    }

    @Test func aVersionComparedWithItselfIsExactlyIdentical() throws {
        let dir = TempDirectory()
        let store = try Self.randomStore(dir)
        let c = try VersionComparison.compare(store, "v1", "v1")
        #expect(c.coverage.both >= 200 && c.coverage.onlyV1 == 0 && c.coverage.onlyV2 == 0)
        let summaries = c.perInterest.flatMap { [$0.aligned, $0.bestMatch, $0.normRatio] } + [c.all.aligned, c.all.bestMatch, c.all.normRatio, c.userMeanAligned]
        for s in summaries {
            #expect([s.min, s.max, s.mean, s.p1, s.p5, s.p50, s.p95, s.p99].allSatisfy { $0 == 1.0 }, "\(s)")
            #expect(s.histogram.counts == [s.count] && s.histogram.below == 0 && s.histogram.above == 0)
        }
        #expect(c.topMovers.isEmpty)
    }
}
