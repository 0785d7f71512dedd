#if canImport(Glibc)
import Glibc
#endif
import Support

/// How the embeddings of one model version of a store differ from another's, user by user: what an
/// operator reads before readers switch versions (`llatte model compare`).
///
/// For each user with a row in both versions, interest k of V1 (`a_k`) and of V2 (`b_k`) are
/// dequantized (code × scale, in Double) and compared:
/// - aligned cosine cos(a_k, b_k);
/// - best-match cosine max over k′ of cos(a_k, b_k′), since a retrained model may permute interests;
/// - norm ratio |b_k| / |a_k|.
///
/// Conventions: the cosine of two all-zero vectors is 1 and of exactly one all-zero vector is 0;
/// cosines are clamped to [−1, 1]; a norm ratio with |a_k| = 0 is not counted unless |b_k| = 0 too
/// (then it is 1). Identical codes and scales give exactly 1 for both (see `cosine`). Quantiles are
/// nearest-rank, within 1e-4 for cosines and 0.07 % for ratios, and exact when all values are
/// equal (`BinnedDistribution`). The mean aligned cosine of a user is over its K interests.
public struct VersionComparison: Sendable {
    /// Users by the versions that hold a row for them.
    public struct Coverage: Sendable, Equatable {
        public var both: Int, onlyV1: Int, onlyV2: Int
        public init(both: Int = 0, onlyV1: Int = 0, onlyV2: Int = 0) { self.both = both; self.onlyV1 = onlyV1; self.onlyV2 = onlyV2 }
    }

    /// Plotting bins over the bulk of the values: `counts[i]` values lie in [edges[i], edges[i + 1])
    /// (the last bin is closed), `below` and `above` lie outside; empty when there are no values.
    /// Ratio bins are equal on a log scale (`logScale`).
    public struct Histogram: Sendable, Equatable {
        public var edges: [Double]
        public var counts: [Int]
        public var below: Int, above: Int
        public var logScale: Bool
    }

    /// One metric over many values: count, range, mean, nearest-rank percentiles (NaN when
    /// `count` is 0) and plotting bins.
    public struct Summary: Sendable {
        public var count: Int
        public var min: Double, max: Double, mean: Double
        public var p1: Double, p5: Double, p50: Double, p95: Double, p99: Double
        public var histogram: Histogram
    }

    /// The three metrics over one interest, or over all interests.
    public struct Metrics: Sendable {
        public var aligned: Summary
        public var bestMatch: Summary
        public var normRatio: Summary
    }

    /// One of the users that moved most: the lowest mean aligned cosine.
    public struct Mover: Sendable, Equatable {
        public var userID: UInt64
        public var meanAligned: Double
        /// Per interest.
        public var aligned: [Double]
        public var bestMatch: [Double]
    }

    public var storePath: String
    public var v1: ModelVersionInfo
    public var v2: ModelVersionInfo
    public var coverage: Coverage
    /// Indexed by interest k.
    public var perInterest: [Metrics]
    public var all: Metrics
    /// Of each user's mean aligned cosine over its K interests.
    public var userMeanAligned: Summary
    /// Ascending mean aligned cosine, ties by ascending user id; a user whose every aligned cosine
    /// is 1 did not move and is never one.
    public var topMovers: [Mover]

    public var interests: Int { v1.interests }
    public var interestDim: Int { v1.interestDim }
}

extension VersionComparison {
    /// Compares two versions of a store by streaming both tables in key order (a merge join), in
    /// memory that does not grow with the number of users. Both versions must exist and have the
    /// same K × D; `top` bounds the movers kept.
    public static func compare(_ store: EmbeddingStore, _ version1: String, _ version2: String, top: Int = 20) throws(StoreError) -> VersionComparison {
        precondition(top >= 0)
        let db = store.db
        // One read transaction: both statements see the same snapshot while a writer commits.
        try db.execute("BEGIN")
        defer { try? db.execute("COMMIT") }
        guard let v1 = try store.version(version1) else { throw StoreError(path: store.path, message: "no model version \(version1)") }
        guard let v2 = try store.version(version2) else { throw StoreError(path: store.path, message: "no model version \(version2)") }
        guard v1.interests == v2.interests, v1.interestDim == v2.interestDim else {
            throw StoreError(path: store.path, message: "model versions \(version1) (\(v1.interests)×\(v1.interestDim)) and \(version2) (\(v2.interests)×\(v2.interestDim)) have different shapes; only versions with the same K interests × D dimensions can be compared")
        }
        let k = v1.interests, d = v1.interestDim
        let s1 = try db.prepare("SELECT user_id, codes, scales FROM \(v1.table) ORDER BY user_id")
        let s2 = try db.prepare("SELECT user_id, codes, scales FROM \(v2.table) ORDER BY user_id")
        var coverage = Coverage()
        var aligned = (0..<k).map { _ in BinnedDistribution.cosine() }, best = aligned
        var ratio = (0..<k).map { _ in BinnedDistribution.ratio() }
        var alignedAll = BinnedDistribution.cosine(), bestAll = alignedAll, ratioAll = BinnedDistribution.ratio()
        var userMean = BinnedDistribution.cosine()
        var movers = MoverHeap(capacity: top)
        // Per-user work buffers, reused: a, b [K·D] dequantized; their squared norms [K].
        var a = [Double](repeating: 0, count: k * d), b = a
        var na = [Double](repeating: 0, count: k), nb = na, rowAligned = na, rowBest = na
        var more1 = try s1.step(), more2 = try s2.step()
        while more1 || more2 {
            let key1 = more1 ? s1.int64(0) : .max, key2 = more2 ? s2.int64(0) : .max
            if more1 && (!more2 || key1 < key2) { coverage.onlyV1 += 1; more1 = try s1.step(); continue }
            if more2 && (!more1 || key2 < key1) { coverage.onlyV2 += 1; more2 = try s2.step(); continue }
            coverage.both += 1
            try dequantize(s1, v1, store.path, into: &a)
            try dequantize(s2, v2, store.path, into: &b)
            for i in 0..<k { na[i] = dot(a, i, a, i, d); nb[i] = dot(b, i, b, i, d) }
            for i in 0..<k {
                rowAligned[i] = cosine(dot(a, i, b, i, d), na[i], nb[i])
                rowBest[i] = (0..<k).reduce(-1) { Swift.max($0, cosine(dot(a, i, b, $1, d), na[i], nb[$1])) }
                aligned[i].add(rowAligned[i]); alignedAll.add(rowAligned[i])
                best[i].add(rowBest[i]); bestAll.add(rowBest[i])
                if let r = normRatio(na[i], nb[i]) { ratio[i].add(r); ratioAll.add(r) }
            }
            let mean = rowAligned.reduce(0, +) / Double(k)
            userMean.add(mean)
            if mean < 1 { movers.offer(UInt64(bitPattern: key1), mean, rowAligned, rowBest) }
            more1 = try s1.step(); more2 = try s2.step()
        }
        // Plotting bins shared by the interests and "all", so small multiples are comparable.
        let ranges = (alignedAll.plottingRange, bestAll.plottingRange, ratioAll.plottingRange)
        func metrics(_ a: BinnedDistribution, _ b: BinnedDistribution, _ r: BinnedDistribution) -> Metrics {
            Metrics(aligned: a.summary(plotting: ranges.0), bestMatch: b.summary(plotting: ranges.1), normRatio: r.summary(plotting: ranges.2))
        }
        return VersionComparison(storePath: store.path, v1: v1, v2: v2, coverage: coverage,
                                 perInterest: (0..<k).map { metrics(aligned[$0], best[$0], ratio[$0]) },
                                 all: metrics(alignedAll, bestAll, ratioAll), userMeanAligned: userMean.summary(),
                                 topMovers: movers.sorted())
    }

    /// The cosine of two vectors from their dot product and squared norms, under the conventions
    /// above. `dot` computes both, so identical vectors give dot = |a|² = |b|² to the bit, and
    /// dot / √(dot · dot) is exactly 1 (in binary floating point, √(x²) = x).
    static func cosine(_ dot: Double, _ na: Double, _ nb: Double) -> Double {
        if na == 0 || nb == 0 { return na == nb ? 1 : 0 }
        return Swift.min(1, Swift.max(-1, dot / (na * nb).squareRoot()))
    }

    /// cos(a_i, b_j) of interest-major [K·D] vectors, under the same conventions.
    static func cosine(_ a: [Double], _ i: Int, _ b: [Double], _ j: Int, _ d: Int) -> Double {
        cosine(dot(a, i, b, j, d), dot(a, i, a, i, d), dot(b, j, b, j, d))
    }

    /// |b| / |a| from squared norms: 1 when both are zero, nil (not counted) when only |a| is.
    static func normRatio(_ na: Double, _ nb: Double) -> Double? {
        if na == 0 { return nb == 0 ? 1 : nil }
        return (nb / na).squareRoot()
    }

    /// Σ_t x[i·D + t] · y[j·D + t].
    static func dot(_ x: [Double], _ i: Int, _ y: [Double], _ j: Int, _ d: Int) -> Double {
        var s = 0.0
        for t in 0..<d { s += x[i * d + t] * y[j * d + t] }
        return s
    }

    /// The current row's codes × scales into `out` [K·D], after checking the blobs' sizes and scales.
    private static func dequantize(_ s: Statement, _ v: ModelVersionInfo, _ path: String, into out: inout [Double]) throws(StoreError) {
        let codes = s.blob(1), scales = s.blob(2)
        let user = UInt64(bitPattern: s.int64(0))
        guard codes.count == v.interests * v.interestDim, scales.count == 4 * v.interests else {
            throw StoreError(path: path, message: "user \(user) in model version \(v.version): blob sizes \(codes.count)/\(scales.count) do not match \(v.interests)×\(v.interestDim)")
        }
        if let i = dequantize(codes: codes, scales: scales, interests: v.interests, interestDim: v.interestDim, into: &out) {
            throw StoreError(path: path, message: "user \(user) in model version \(v.version): scale of interest \(i) is not finite")
        }
    }

    /// A stored row's codes [K·D] (int8, interest-major) × scales [K] (little-endian f32) into
    /// `out` [K·D], in Double; returns the first interest whose scale is not finite, if any.
    static func dequantize(codes: UnsafeRawBufferPointer, scales: UnsafeRawBufferPointer, interests k: Int, interestDim d: Int,
                           into out: inout [Double]) -> Int? {
        for i in 0..<k {
            let scale = Double(Float(bitPattern: UInt32(littleEndian: scales.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
            guard scale.isFinite else { return i }
            for t in 0..<d { out[i * d + t] = Double(Int8(bitPattern: codes[i * d + t])) * scale }
        }
        return nil
    }
}

/// The `capacity` users with the lowest (mean aligned cosine, user id): a heap whose root is the
/// kept user that moved least, evicted first, so memory stays at `capacity` movers.
private struct MoverHeap {
    let capacity: Int
    private var heap: [VersionComparison.Mover] = []

    init(capacity: Int) { self.capacity = capacity }

    /// Whether `x` moved less than `y`: it sits nearer the root and is evicted first.
    private static func above(_ x: VersionComparison.Mover, _ y: VersionComparison.Mover) -> Bool {
        x.meanAligned != y.meanAligned ? x.meanAligned > y.meanAligned : x.userID > y.userID
    }

    mutating func offer(_ user: UInt64, _ mean: Double, _ aligned: [Double], _ best: [Double]) {
        guard capacity > 0 else { return }
        let m = VersionComparison.Mover(userID: user, meanAligned: mean, aligned: aligned, bestMatch: best)
        if heap.count < capacity {
            heap.append(m)
            var c = heap.count - 1
            while c > 0, MoverHeap.above(heap[c], heap[(c - 1) / 2]) { heap.swapAt(c, (c - 1) / 2); c = (c - 1) / 2 }
            return
        }
        guard MoverHeap.above(heap[0], m) else { return }
        heap[0] = m
        var p = 0
        while true {
            var top = p
            for c in [2 * p + 1, 2 * p + 2] where c < heap.count && MoverHeap.above(heap[c], heap[top]) { top = c }
            if top == p { return }
            heap.swapAt(p, top); p = top
        }
    }

    /// The movers, most moved first.
    func sorted() -> [VersionComparison.Mover] { heap.sorted { MoverHeap.above($1, $0) } }
}
