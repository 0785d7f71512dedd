import Support

/// How `EmbeddingStore.merge(from:options:)` proceeds.
public struct MergeOptions {
    /// Rows of the source per window; each window is one transaction of the merged store.
    public var windowRows = 4096
    /// Called inside each window's transaction, once its rows and progress are written and before
    /// its COMMIT, with the number of windows this merge committed before it (a crash test's hook).
    public var beforeCommit: ((Int) -> Void)?

    public init() {}
}

/// What a merge of one source store did.
public struct MergeCounts: Sendable, Equatable {
    /// Rows of the source read (from where an interrupted merge had got to, when it resumed).
    public var read = 0
    /// Rows inserted or replaced here.
    public var written = 0
    /// Windows committed.
    public var windows = 0
    /// Source versions an interrupted merge had finished, not merged again.
    public var versionsAlreadyMerged = 0
    /// Source versions continued from an interrupted merge's last committed window.
    public var versionsResumed = 0
    /// Source versions active here whose every row this store already holds as current or newer:
    /// nothing to merge.
    public var versionsActiveAndCurrent = 0
    /// Source versions active here of which the source holds newer rows: merged into the active
    /// version row by row, as a nightly run refreshes it.
    public var versionsActiveRefreshed = 0

    public init() {}

    /// The counts of a merge of several sources.
    public static func += (a: inout MergeCounts, b: MergeCounts) {
        a.read += b.read
        a.written += b.written
        a.windows += b.windows
        a.versionsAlreadyMerged += b.versionsAlreadyMerged
        a.versionsResumed += b.versionsResumed
        a.versionsActiveAndCurrent += b.versionsActiveAndCurrent
        a.versionsActiveRefreshed += b.versionsActiveRefreshed
    }
}

/// How far an interrupted merge of one source's version got (`merge_progress`).
struct MergeProgress {
    /// What the source looked like when the merge began (`EmbeddingStore.mergeFingerprint`).
    var fingerprint: String
    /// The merged store's table the rows went to.
    var table: String
    /// The smallest key not merged yet; nil once every row is.
    var nextKey: Int64?
    /// Coverage recounted and builds recorded: nothing left to do.
    var done: Bool
}

extension EmbeddingStore {
    /// Merges another store (a shard's) into this one (docs/store.md, "Merging shard stores"): its tombstones,
    /// then for each of its versions (same identity required) its rows under the upsert rule and
    /// its failed users, in windows of `options.windowRows` keys in ascending order, one
    /// transaction each with its `merge_progress` row, read from one snapshot of the source; then
    /// the version's coverage and the source's builds. Memory does not grow with the row count.
    ///
    /// Resumable: a merge of the same source (by absolute path) that was interrupted continues
    /// after its last committed window, and skips versions it finished, as long as the source is
    /// unchanged since (`mergeFingerprint`); otherwise it starts the source again, which the upsert
    /// rule makes give the same rows. Tombstones are read whole (they are few). `clearMergeProgress`
    /// forgets the progress once every source of a merge is in.
    ///
    /// Readers never see a new version half merged: a version that is not active here is written
    /// while it is `building` or `ready`, and a window finding it promoted meanwhile stops the
    /// merge. A version active here (a sharded nightly's) is refreshed as a nightly run refreshes
    /// it: the source's newer rows replace this store's window by window, each user's row whole;
    /// when the source holds none, the version is skipped without a write.
    public func merge(from other: EmbeddingStore, options: MergeOptions = MergeOptions()) throws -> MergeCounts {
        precondition(options.windowRows > 0)
        let source = (try? Files.absolutePath(other.path)) ?? other.path
        var counts = MergeCounts()
        try other.db.reading {
            var versions: [(version: ModelVersionInfo, active: Bool)] = []
            for v in try other.versions() {
                guard let mine = try version(v.version), mine.status == .active else { versions.append((v, false)); continue }
                if try rowsNewer(in: other, v, than: mine, windowRows: options.windowRows).count > 0 {
                    versions.append((v, true))
                    counts.versionsActiveRefreshed += 1
                } else {
                    counts.versionsActiveAndCurrent += 1
                }
            }
            // Its tombstones first: they remove those users here too, and the upserts below skip them.
            let tombs = try other.db.prepare("SELECT user_id, forgotten_at FROM tombstones")
            var forgotten: [(key: Int64, at: Int64)] = []
            while try tombs.step() { forgotten.append((tombs.int64(0), tombs.int64(1))) }
            if !forgotten.isEmpty { try db.transaction { try tombstone(forgotten) } }
            for (v, active) in versions { try merge(v, of: other, source: source, refreshingActive: active, options, &counts) }
        }
        return counts
    }

    /// One version of the source, window by window; `refreshingActive`: the version is active here.
    private func merge(_ v: ModelVersionInfo, of other: EmbeddingStore, source: String, refreshingActive: Bool,
                       _ options: MergeOptions, _ counts: inout MergeCounts) throws {
        let mine = try ensureVersion(v.version, identity: v.identity, interests: v.interests, interestDim: v.interestDim,
                                     checkpointPath: v.checkpointPath)
        let fingerprint = try other.mergeFingerprint(v)
        var next: Int64? = Int64.min
        if let p = try mergeProgress(v.version, source: source), p.fingerprint == fingerprint, p.table == mine.table {
            if p.done { counts.versionsAlreadyMerged += 1; return }
            next = p.nextKey
            counts.versionsResumed += 1
        } else {
            try saveMergeProgress(v.version, source: source, MergeProgress(fingerprint: fingerprint, table: mine.table, nextKey: Int64.min, done: false))
        }
        let read = try other.db.prepare("""
            SELECT user_id, codes, scales, n_events, as_of, history_version, computed_at, run_id FROM \(v.table)
            WHERE user_id >= ? ORDER BY user_id LIMIT ?
            """)
        let failures = try other.db.prepare("SELECT user_id, history_version, reason FROM failed_users WHERE version = ? AND user_id BETWEEN ? AND ?")
        let recordFailure = try db.prepare("""
            INSERT INTO failed_users(version, user_id, history_version, reason, at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(version, user_id) DO UPDATE SET history_version = excluded.history_version, reason = excluded.reason, at = excluded.at
            """)
        let status = try db.prepare("SELECT status, table_name FROM model_versions WHERE version = ?")
        let progress = try db.prepare("UPDATE merge_progress SET next_key = ?, updated = ? WHERE version = ? AND source = ?")
        let writer = try VersionWriter(db, mine)
        var rows: [EmbeddingRow] = []
        rows.reserveCapacity(options.windowRows)
        while let from = next {
            // The window: the next windowRows rows of the source; it covers the keys [from, hi], up to
            // the last of them, or to the end of the key space when the source has no more.
            rows.removeAll(keepingCapacity: true)
            read.reset()
            try read.bind([.int(from), .int(Int64(options.windowRows))])
            while try read.step() { rows.append(try other.decodeRow(read, v)) }
            read.reset()
            let hi = rows.count == options.windowRows ? Int64(bitPattern: rows[rows.count - 1].userID) : Int64.max
            next = hi == Int64.max ? nil : hi + 1
            try db.transaction {
                status.reset()
                try status.bind([.text(v.version)])
                guard try status.step(), status.text(1) == mine.table else {
                    throw StoreError(path: path, message: "model version \(v.version) was dropped or recreated while it was being merged")
                }
                if !refreshingActive && status.text(0) == VersionStatus.active.rawValue { throw mergeIntoActive(v.version) }
                status.reset()
                counts.written += try writer.write(rows).written
                // The source's failures of the same keys, after its rows (as one whole-store write would).
                failures.reset()
                try failures.bind([.text(v.version), .int(from), .int(hi)])
                while try failures.step() {
                    try recordFailure.run([.text(v.version), .int(failures.int64(0)), .int(failures.int64(1)), .text(failures.text(2)),
                                           .int(wallClockSeconds())])
                }
                failures.reset()
                try progress.run([next.map { .int($0) } ?? .null, .int(wallClockSeconds()), .text(v.version), .text(source)])
                options.beforeCommit?(counts.windows)
            }
            counts.windows += 1
            counts.read += rows.count
        }
        try updateCoverage(v.version)
        // Its builds: the merged store knows which shards it holds (and becomes ready with all).
        for b in try other.builds(v.version) where try !builds(v.version).contains(where: { $0.shard == b.shard && $0.completedAt >= b.completedAt }) {
            try recordBuild(b, by: "llatte merge from \(other.path)")
        }
        try db.prepare("UPDATE merge_progress SET done = 1, updated = ? WHERE version = ? AND source = ?")
            .run([.int(wallClockSeconds()), .text(v.version), .text(source)])
    }

    private func mergeIntoActive(_ version: String) -> StoreError {
        StoreError(path: path, message: "model version \(version) was promoted while it was being merged: merged window by window, readers would see it half merged; stopped")
    }

    /// How many rows of a source's version a merge would write into `mine` (its history_version is
    /// larger, or `mine` has no row and the user is not forgotten here), and one of their users; a
    /// window of the source at a time.
    private func rowsNewer(in other: EmbeddingStore, _ v: ModelVersionInfo, than mine: ModelVersionInfo,
                           windowRows: Int) throws -> (count: Int, example: UInt64?) {
        let read = try other.db.prepare("SELECT user_id, history_version FROM \(v.table) WHERE user_id >= ? ORDER BY user_id LIMIT ?")
        let here = try db.prepare("SELECT history_version FROM \(mine.table) WHERE user_id = ?")
        let forgotten = try db.prepare("SELECT 1 FROM tombstones WHERE user_id = ?")
        var count = 0, example: UInt64?
        var next: Int64? = Int64.min
        try db.reading {
            defer { read.reset(); here.reset(); forgotten.reset() }
            while let from = next {
                read.reset()
                try read.bind([.int(from), .int(Int64(windowRows))])
                var n = 0, last = from
                while try read.step() {
                    n += 1
                    last = read.int64(0)
                    here.reset()
                    try here.bind([.int(last)])
                    let newer: Bool
                    if try here.step() {
                        newer = read.int64(1) > here.int64(0)
                    } else {
                        forgotten.reset()
                        try forgotten.bind([.int(last)])
                        newer = try !forgotten.step()
                    }
                    if newer { count += 1; example = example ?? UInt64(bitPattern: last) }
                }
                next = n == windowRows && last < Int64.max ? last + 1 : nil
            }
        }
        return (count, example)
    }

    /// What identifies the state of a source's version for resuming a merge of it: its rows (their
    /// count, and the sums of their keys, history versions, computation times and run ids: one scan),
    /// its status, the store's runs and committed batches, tombstones and failures. A row written
    /// again (a new history version, or another run or time) or removed changes it.
    func mergeFingerprint(_ v: ModelVersionInfo) throws(StoreError) -> String {
        func count(_ sql: String, _ args: [SQLValue] = []) throws(StoreError) -> Int64 { try db.scalarInt(sql, args) ?? 0 }
        var parts = ["updated=\(v.updated)", "coverage=\(v.coverage)", "status=\(v.status.rawValue)", "identity=\(v.identity)",
                     "tombstones=\(try count("SELECT count(*) FROM tombstones"))",
                     "failed=\(try count("SELECT count(*) FROM failed_users WHERE version = ?", [.text(v.version)]))"]
        // Keys are summed in two halves (a sum of 64-bit keys would overflow).
        for (table, columns) in [(v.table, "count(*), sum(user_id >> 32), sum(user_id & 4294967295), sum(history_version), sum(computed_at), sum(run_id)"),
                                 ("runs", "max(run_id), count(*), sum(written)"), ("run_progress", "count(*), max(committed_at)"),
                                 ("merge_progress", "count(*), max(updated)")] where try db.tableExists(table) {
            let s = try db.prepare("SELECT \(columns) FROM \(table)")
            guard try s.step() else { continue }
            parts.append("\(table)=" + (0..<Int32(columns.split(separator: ",").count)).map { s.isNull($0) ? "-" : String(s.int64($0)) }.joined(separator: "/"))
        }
        return parts.joined(separator: " ")
    }

    func mergeProgress(_ version: String, source: String) throws(StoreError) -> MergeProgress? {
        let s = try db.prepare("SELECT fingerprint, target_table, next_key, done FROM merge_progress WHERE version = ? AND source = ?")
        try s.bind([.text(version), .text(source)])
        guard try s.step() else { return nil }
        return MergeProgress(fingerprint: s.text(0), table: s.text(1), nextKey: s.isNull(2) ? nil : s.int64(2), done: s.int64(3) != 0)
    }

    private func saveMergeProgress(_ version: String, source: String, _ p: MergeProgress) throws(StoreError) {
        try db.prepare("""
            INSERT INTO merge_progress(version, source, fingerprint, target_table, next_key, done, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(version, source) DO UPDATE SET fingerprint = excluded.fingerprint, target_table = excluded.target_table,
                next_key = excluded.next_key, done = excluded.done, updated = excluded.updated
            """).run([.text(version), .text(source), .text(p.fingerprint), .text(p.table), p.nextKey.map { .int($0) } ?? .null,
                      .int(p.done ? 1 : 0), .int(wallClockSeconds())])
    }

    /// Forgets the progress of merges from these sources (as given to `merge(from:)`): called once a
    /// merge of all of them completed, so that merging them again merges them again.
    public func clearMergeProgress(sources: [String]) throws {
        let s = try db.prepare("DELETE FROM merge_progress WHERE source = ?")
        try db.transaction {
            for p in sources { try s.run([.text((try? Files.absolutePath(p)) ?? p)]) }
        }
    }

}
