/// How far a run's re-encoding moved the rows it replaced: quantiles of the per-row mean
/// cos(old, new) (`WriteCounts.replacedCosines`) in bounded memory, recorded in the run record
/// and the metrics file so a bad checkpoint or a broken feed shows up as a number.
public struct ReencodeDrift: Sendable {
    /// Allocated at the first value: a run that replaces nothing (a new version's backfill) pays nothing.
    private var cosines: BinnedDistribution?

    /// The percentiles recorded (p1, p5, p50, p95, p99).
    public static let percentiles = [1, 5, 50, 95, 99]

    public init() {}

    public mutating func add(_ values: [Double]) {
        guard !values.isEmpty else { return }
        if cosines == nil { cosines = .cosine() }
        for v in values { cosines!.add(v) }
    }

    /// Rows replaced so far.
    public var rows: Int { cosines?.count ?? 0 }

    /// The nearest-rank percentile of cos(old, new); nil before any row was replaced.
    public func percentile(_ p: Int) -> Double? { cosines.map { $0.percentile(p) } }
}
