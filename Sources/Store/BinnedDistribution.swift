#if canImport(Glibc)
import Glibc
#endif

/// Quantiles of a stream of values in bounded memory: `bins` fixed bins over [lower, upper] (of
/// log2 of the value when `logScale`; values beyond go to the end bins), each keeping its count
/// and the least and greatest value it saw.
///
/// Quantiles are nearest-rank: the p-th percentile of n values is the value of rank ⌈p·n/100⌉
/// (at least 1) in ascending order. The bin holding that rank is found from the counts, and the
/// value reported is interpolated by rank between the bin's least and greatest value, so it lies
/// in the observed range of the bin that holds the true value: the error is below one bin's width,
/// and zero when that bin saw a single distinct value (all values equal, or an end of the data).
struct BinnedDistribution {
    let lower: Double, upper: Double, bins: Int, logScale: Bool
    private var counts: [Int], least: [Double], greatest: [Double]
    private(set) var count = 0
    private(set) var sum = 0.0
    private(set) var min = Double.infinity, max = -Double.infinity

    init(lower: Double, upper: Double, bins: Int, logScale: Bool) {
        precondition(lower < upper && bins > 0)
        self.lower = lower; self.upper = upper; self.bins = bins; self.logScale = logScale
        counts = Array(repeating: 0, count: bins)
        least = Array(repeating: .infinity, count: bins)
        greatest = Array(repeating: -.infinity, count: bins)
    }

    /// Cosines: [−1, 1] in 20,000 bins of width 1e-4.
    static func cosine() -> BinnedDistribution { BinnedDistribution(lower: -1, upper: 1, bins: 20_000, logScale: false) }

    /// Ratios: log2 over [−10, 10] (1/1024 to 1024) in 20,000 bins, each 0.07 % wide; 0 goes to the first.
    static func ratio() -> BinnedDistribution { BinnedDistribution(lower: -10, upper: 10, bins: 20_000, logScale: true) }

    /// The bin of a value: monotone in the value, so bins keep the values' order.
    func bin(_ x: Double) -> Int {
        let t = logScale ? (x > 0 ? log2(x) : -Double.infinity) : x
        let f = ((t - lower) / (upper - lower) * Double(bins)).rounded(.down)
        return f <= 0 ? 0 : (f >= Double(bins - 1) ? bins - 1 : Int(f))
    }

    /// The lower edge of bin `i` (`bins` gives the upper end), as a value.
    func edge(_ i: Int) -> Double {
        let t = lower + (upper - lower) * Double(i) / Double(bins)
        return logScale ? exp2(t) : t
    }

    mutating func add(_ x: Double) {
        precondition(x.isFinite && (!logScale || x >= 0))
        let i = bin(x)
        counts[i] += 1
        least[i] = Swift.min(least[i], x); greatest[i] = Swift.max(greatest[i], x)
        count += 1; sum += x
        min = Swift.min(min, x); max = Swift.max(max, x)
    }

    /// The nearest-rank percentile (1...100); NaN when empty.
    func percentile(_ p: Int) -> Double {
        precondition((1...100).contains(p))
        guard count > 0 else { return .nan }
        let rank = Swift.max(1, (p * count + 99) / 100)   // ⌈p·n/100⌉ in integers: no rounding at the boundaries
        var below = 0
        for i in 0..<bins where counts[i] > 0 {
            if below + counts[i] >= rank {
                let c = counts[i], r = rank - below
                return c == 1 ? least[i] : least[i] + (greatest[i] - least[i]) * Double(r - 1) / Double(c - 1)
            }
            below += counts[i]
        }
        preconditionFailure("rank \(rank) beyond \(count) values")
    }

    /// The bins worth plotting, nil when empty: the bulk of the values, from p1 less its distance to
    /// the median up to the greatest value (ratios: the same on a log scale, on both sides), so a few
    /// outliers do not squeeze the rest into one bar.
    var plottingRange: ClosedRange<Int>? {
        guard count > 0 else { return nil }
        let p1 = percentile(1), p50 = percentile(50), p99 = percentile(99)
        if logScale {
            return bin(p50 > 0 ? Swift.max(min, p1 * p1 / p50) : min)...bin(p50 > 0 ? Swift.min(max, p99 * p99 / p50) : max)
        }
        return bin(Swift.max(min, p1 - (p50 - p1)))...bin(max)
    }

    /// At most `maxBins` plotting bins over the fine bins `range`, each a whole number of fine bins
    /// (so no value is split between two), ending with the range; values outside it are counted in
    /// `below` and `above`.
    func histogram(over range: ClosedRange<Int>?, maxBins: Int = 40) -> VersionComparison.Histogram {
        guard let range else { return VersionComparison.Histogram(edges: [], counts: [], below: 0, above: 0, logScale: logScale) }
        let group = (range.count + maxBins - 1) / maxBins, n = (range.count + group - 1) / group
        let start = Swift.max(0, range.upperBound + 1 - n * group), end = Swift.min(bins, start + n * group)
        var out = [Int](repeating: 0, count: n)
        for i in start..<end { out[(i - start) / group] += counts[i] }
        let edges = (0...n).map { edge(Swift.min(bins, start + $0 * group)) }
        return VersionComparison.Histogram(edges: edges, counts: out, below: counts[..<start].reduce(0, +), above: counts[end...].reduce(0, +),
                                           logScale: logScale)
    }

    /// The summary, with plotting bins over `range` (default: its own `plottingRange`).
    func summary(plotting range: ClosedRange<Int>? = nil) -> VersionComparison.Summary {
        VersionComparison.Summary(count: count, min: count > 0 ? min : .nan, max: count > 0 ? max : .nan,
                                  mean: count > 0 ? sum / Double(count) : .nan,
                                  p1: percentile(1), p5: percentile(5), p50: percentile(50), p95: percentile(95), p99: percentile(99),
                                  histogram: histogram(over: range ?? plottingRange))
    }
}
