import Support

// Who the encode stages may select: users with events or a feature record, not forgotten.

extension HistoryStore {
    /// Every user with events or a feature record, ascending by unsigned value: who a backfill encodes.
    public func userIDsWithEventsOrFeatures() throws(StoreError) -> [UInt64] {
        let s = try db.prepare("SELECT user_id FROM users UNION SELECT user_id FROM user_features")
        var out: [UInt64] = []
        while try s.step() { out.append(s.int64(0).bitcastUnsigned) }
        return out.sorted()
    }
}

/// A user the encode stages may select: its versions in the history store (0 for a features-only user).
public struct Candidate: Sendable, Equatable {
    public var userID: UInt64
    public var historyVersion: Int64
    public var lastConversionVersion: Int64
    public init(userID: UInt64, historyVersion: Int64, lastConversionVersion: Int64) {
        self.userID = userID
        self.historyVersion = historyVersion
        self.lastConversionVersion = lastConversionVersion
    }
}

extension HistoryStore {
    /// Up to `limit` users with events or features whose id is ≥ `from`, in ascending unsigned id
    /// order (the store keys ids bit-cast to signed, so ids ≥ 2^63 come from a second key range).
    /// Forgotten users are not candidates.
    public func candidates(from: UInt64, limit: Int) throws(StoreError) -> [Candidate] {
        var out: [Candidate] = []
        // Each side is an ordered index scan cut at `limit` before the merge, so a window costs
        // O(limit) whatever the number of users after it (a plain UNION + GROUP BY would sort them all).
        let s = try db.prepare("""
            SELECT user_id, max(hv), max(lcv) FROM (
                SELECT * FROM (SELECT user_id, history_version AS hv, last_conversion_version AS lcv FROM users
                               WHERE user_id BETWEEN ?1 AND ?2 AND user_id NOT IN (SELECT user_id FROM tombstones)
                               ORDER BY user_id LIMIT ?3)
                UNION ALL
                SELECT * FROM (SELECT user_id, 0, 0 FROM user_features
                               WHERE user_id BETWEEN ?1 AND ?2 AND user_id NOT IN (SELECT user_id FROM tombstones)
                               ORDER BY user_id LIMIT ?3))
            GROUP BY user_id ORDER BY user_id LIMIT ?3
            """)
        for (a, b) in signedRanges(from, .max) where out.count < limit {
            try s.bind([.int(a), .int(b), .int(Int64(limit - out.count))])
            while try s.step() {
                out.append(Candidate(userID: s.int64(0).bitcastUnsigned, historyVersion: s.int64(1), lastConversionVersion: s.int64(2)))
            }
            s.reset()
        }
        return out
    }
}

extension HistoryStore {
    /// How many users have events or features (not forgotten): the denominator of progress displays.
    public func candidateCount() throws(StoreError) -> Int {
        Int(try db.scalarInt("""
            SELECT count(*) FROM (SELECT user_id FROM users UNION SELECT user_id FROM user_features)
            WHERE user_id NOT IN (SELECT user_id FROM tombstones)
            """) ?? 0)
    }
}

extension HistoryStore {
    /// Every candidate user id, ascending (benchmarks; pipelines walk windows instead).
    public func candidatesAll() throws(StoreError) -> [UInt64] {
        var out: [UInt64] = []
        var cursor: UInt64 = 0
        while true {
            let page = try candidates(from: cursor, limit: 4096)
            guard let last = page.last else { break }
            out += page.map(\.userID)
            if page.count < 4096 || last.userID == .max { break }
            cursor = last.userID + 1
        }
        return out
    }
}
