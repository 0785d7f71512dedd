/// Writes rows into one model version's table under the upsert rule (docs/pipelines.md), its
/// statements prepared once: a pipeline window or a merge window per call to `write`.
final class VersionWriter {
    private let db: Database
    private let v: ModelVersionInfo
    private let up, tombstones, failures, old, clearFailure: Statement
    private var scaleBytes: [UInt8]
    private var codeBytes: [UInt8]

    init(_ db: Database, _ v: ModelVersionInfo) throws(StoreError) {
        self.db = db
        self.v = v
        up = try db.prepare("""
            INSERT INTO \(v.table)(user_id, codes, scales, n_events, as_of, history_version, computed_at, run_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(user_id) DO UPDATE SET codes = excluded.codes, scales = excluded.scales, n_events = excluded.n_events,
                as_of = excluded.as_of, history_version = excluded.history_version, computed_at = excluded.computed_at,
                run_id = excluded.run_id
            WHERE excluded.history_version >= \(v.table).history_version
            """)
        tombstones = try db.prepare("SELECT user_id FROM tombstones WHERE user_id BETWEEN ? AND ?")
        failures = try db.prepare("SELECT user_id FROM failed_users WHERE version = ? AND user_id BETWEEN ? AND ?")
        old = try db.prepare("SELECT user_id, codes, scales FROM \(v.table) WHERE user_id BETWEEN ? AND ?")
        clearFailure = try db.prepare("DELETE FROM failed_users WHERE version = ? AND user_id = ?")
        scaleBytes = [UInt8](repeating: 0, count: 4 * v.interests)
        codeBytes = [UInt8](repeating: 0, count: v.interests * v.interestDim)
    }

    /// Upserts rows (ascending signed key; the caller sorts), skipping forgotten users and clearing
    /// the recorded failure of each user written. Runs inside the caller's transaction when one is
    /// open.
    func write(_ rows: [EmbeddingRow]) throws(StoreError) -> WriteCounts {
        var counts = WriteCounts()
        guard !rows.isEmpty else { return counts }
        // Tombstones and recorded failures are rare: fetch those of this batch's key range once,
        // instead of a lookup per row.
        let keys = rows.map { Int64(bitPattern: $0.userID) }
        let lo = keys.min()!, hi = keys.max()!
        var forgotten = Set<Int64>(), failed = Set<Int64>()
        tombstones.reset()
        try tombstones.bind([.int(lo), .int(hi)])
        while try tombstones.step() { forgotten.insert(tombstones.int64(0)) }
        failures.reset()
        try failures.bind([.text(v.version), .int(lo), .int(hi)])
        while try failures.step() { failed.insert(failures.int64(0)) }
        // The rows about to be replaced, for the drift of re-encoding (one range read, in key order).
        var replaced: [Int64: (codes: [UInt8], scales: [UInt8])] = [:]
        old.reset()
        try old.bind([.int(lo), .int(hi)])
        let wanted = Set(keys)
        while try old.step() {
            if wanted.contains(old.int64(0)) { replaced[old.int64(0)] = (old.blobArray(1), old.blobArray(2)) }
        }
        old.reset()
        for (r, key) in zip(rows, keys) {
            precondition(r.codes.count == v.interests * v.interestDim && r.scales.count == v.interests)
            if forgotten.contains(key) { counts.tombstoned += 1; continue }
            for (k, s) in r.scales.enumerated() {
                let b = s.bitPattern
                scaleBytes[4 * k] = UInt8(truncatingIfNeeded: b); scaleBytes[4 * k + 1] = UInt8(truncatingIfNeeded: b >> 8)
                scaleBytes[4 * k + 2] = UInt8(truncatingIfNeeded: b >> 16); scaleBytes[4 * k + 3] = UInt8(truncatingIfNeeded: b >> 24)
            }
            for (j, c) in r.codes.enumerated() { codeBytes[j] = UInt8(bitPattern: c) }
            try up.bind(1, key)
            try up.bind(2, codeBytes)
            try up.bind(3, scaleBytes)
            try up.bind(4, Int64(r.nEvents))
            if let a = r.asOf { try up.bind(5, a) } else { try up.bindNull(5) }
            try up.bind(6, r.historyVersion)
            try up.bind(7, r.computedAt)
            try up.bind(8, r.runID)
            _ = try up.step()
            up.reset()
            if db.changes > 0 {
                counts.written += 1
                if let before = replaced[key] {
                    counts.replacedCosines.append(meanCosine(before.codes, before.scales, codeBytes, scaleBytes, v.interests, v.interestDim))
                }
                if failed.contains(key) { try clearFailure.run([.text(v.version), .int(key)]) }
            } else {
                counts.keptNewer += 1
            }
        }
        return counts
    }
}
