import Support

/// What readers get from the active version right now: how many users it holds against how many
/// have a history, and how old their embeddings are. Reported in the metrics file after each run.
public struct ServingHealth: Sendable, Equatable {
    public var version: String
    public var rows: Int64
    /// Users with events or features in the history store (of the run's shard).
    public var candidates: Int64
    /// now − as_of over rows with events: p50 and p99 in seconds (nil when no row has events),
    /// from every row up to 8,192 rows, else from a sample of 4,096 rows at random keys.
    public var ageP50: Double?, ageP99: Double?
    public var ageSample: Int

    /// rows / candidates (1 when there are no candidates).
    public var coverage: Double { candidates == 0 ? 1 : Double(rows) / Double(candidates) }
}

extension EmbeddingStore {
    /// The active version's health, or nil when none is active. `seed` fixes the sample's keys.
    public func servingHealth(candidates: Int64, now: Int64, seed: UInt64) throws(StoreError) -> ServingHealth? {
        guard let v = try activeVersion() else { return nil }
        let rows = try db.scalarInt("SELECT count(*) FROM \(v.table)") ?? 0
        var asOf: [Int64] = []
        if rows <= 8192 {
            let s = try db.prepare("SELECT as_of FROM \(v.table) WHERE as_of IS NOT NULL")
            while try s.step() { asOf.append(s.int64(0)) }
        } else {
            // User ids are spread over the key space, so the first row at or after a random key is
            // close to a uniform pick (a row after a wide gap is picked a little more often).
            let s = try db.prepare("SELECT as_of FROM \(v.table) WHERE user_id >= ? ORDER BY user_id LIMIT 1")
            var state = seed
            for _ in 0..<4096 {
                state &+= 0x9E37_79B9_7F4A_7C15
                try s.bind([.int(Int64(bitPattern: fmix64(state)))])
                if try s.step(), !s.isNull(0) { asOf.append(s.int64(0)) }
                s.reset()
            }
        }
        let ages = asOf.map { Double(max(0, now - $0)) }.sorted()
        func rank(_ p: Int) -> Double? { ages.isEmpty ? nil : ages[max(1, (p * ages.count + 99) / 100) - 1] }
        return ServingHealth(version: v.version, rows: rows, candidates: candidates, ageP50: rank(50), ageP99: rank(99), ageSample: ages.count)
    }
}
