/// Walker/Vose alias table: draws index i with probability weights[i] / Σ weights in O(1).
///
/// Used for item popularity (Zipf-like over up to millions of items), where a linear or binary search
/// per impression would dominate generation time. Construction is deterministic: the small and large
/// work lists are processed in index order.
struct AliasTable: Sendable {
    /// Per slot: the probability of keeping the slot's own index.
    private let keep: [Double]
    private let alias: [Int32]

    var count: Int { keep.count }

    init(weights: [Double]) {
        let n = weights.count
        precondition(n > 0 && n < Int(Int32.max), "alias table needs 1..<2^31 weights")
        let total = weights.reduce(0, +)
        precondition(total > 0 && total.isFinite, "alias table weights must have a positive finite sum")
        var scaled = weights.map { $0 * Double(n) / total }
        var keep = [Double](repeating: 1, count: n)
        var alias = [Int32](repeating: 0, count: n)
        var small: [Int32] = [], large: [Int32] = []
        for i in 0..<n {
            alias[i] = Int32(i)
            if scaled[i] < 1 { small.append(Int32(i)) } else { large.append(Int32(i)) }
        }
        while let s = small.popLast() {
            guard let l = large.last else { break }
            keep[Int(s)] = scaled[Int(s)]
            alias[Int(s)] = l
            scaled[Int(l)] -= 1 - scaled[Int(s)]
            if scaled[Int(l)] < 1 {
                large.removeLast()
                small.append(l)
            }
        }
        // Whatever is left (rounding) keeps its own index with probability 1.
        self.keep = keep
        self.alias = alias
    }

    @inline(__always)
    func sample(_ rng: inout SampleRandom) -> Int {
        let u = rng.uniform() * Double(keep.count)
        let i = min(Int(u), keep.count - 1)
        return u - Double(i) < keep[i] ? i : Int(alias[i])
    }
}
