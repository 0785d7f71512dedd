#if canImport(Glibc)
import Glibc
#endif
import Support

/// The thresholds of the promotion guard (pipeline keys `promote.min_coverage` and
/// `promote.max_failed_fraction`, or the `model promote` / `merge` options).
public struct PromotionPolicy: Sendable, Equatable {
    /// Share of the users the active version serves (or, with none active, of the candidates its
    /// backfill saw) that the new version must hold.
    public var minCoverage = 0.99
    /// Largest share of the backfill's candidates whose encoding may have failed.
    public var maxFailedFraction = 0.001
    public init() {}
}

/// One completed backfill of a version on a shard (`version_builds`); merges carry them over, so a
/// merged store knows which shards it holds.
public struct VersionBuild: Sendable, Equatable {
    public var version: String
    /// `k/n`; `0/1` for an unsharded backfill.
    public var shard: String
    public var runID: Int64
    /// Users the backfill considered (its shard's candidates).
    public var candidates: Int64
    /// Input files its ingest rejected.
    public var filesRejected: Int64
    public var completedAt: Int64

    public init(version: String, shard: String, runID: Int64, candidates: Int64, filesRejected: Int64, completedAt: Int64) {
        self.version = version
        self.shard = shard
        self.runID = runID
        self.candidates = candidates
        self.filesRejected = filesRejected
        self.completedAt = completedAt
    }
}

/// Users of a history store a version does not reflect yet: candidates with no row (and no
/// recorded failure), or whose latest conversion came after their row was computed.
public struct BehindCount: Sendable, Equatable {
    public var newUsers = 0
    public var converters = 0
    /// A few of them, for the message.
    public var examples: [UInt64] = []
    public var total: Int { newUsers + converters }
    public init() {}
}

/// What the promotion guard found for a version: the facts, and the problems that block it.
public struct PromotionCheck: Sendable {
    public var version: String
    /// Rows the version holds.
    public var rows: Int64 = 0
    /// Candidates its backfills saw (over a complete set of shards), when known.
    public var candidates: Int64?
    public var failedUsers: Int64 = 0
    /// The version serving now (if another one), and how many of its users the candidate holds
    /// with a row computed from at least as much history.
    public var active: String?
    public var activeRows: Int64 = 0
    public var activeUsersCovered: Int64 = 0
    /// Nil when no history store was given to check against.
    public var behind: BehindCount?
    /// Each problem in one sentence that says what to do; empty when the guard passes.
    public var problems: [String] = []

    public var passed: Bool { problems.isEmpty }
}

/// What `model drop` removed.
public struct DropReport: Sendable, Equatable {
    public var rows: Int64
    public var bytes: Int64
}

extension EmbeddingStore {
    // MARK: Lifecycle

    /// Appends a status change to `version_log` (inside the caller's transaction, if any).
    func logTransition(_ version: String, from: VersionStatus?, to: String, forced: Bool, by: String, reason: String?) throws(StoreError) {
        try db.prepare("INSERT INTO version_log(version, from_status, to_status, at, forced, by, reason) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .run([.text(version), from.map { .text($0.rawValue) } ?? .null, .text(to), .int(wallClockSeconds()),
                  .int(forced ? 1 : 0), .text(by), reason.map { .text($0) } ?? .null])
    }

    /// Sets a version's status, logging the change (no-op when it already has it).
    public func setStatus(_ version: String, _ status: VersionStatus, by: String, reason: String? = nil) throws {
        try db.transaction {
            guard let v = try self.version(version) else { throw StoreError(path: path, message: "no model version \(version)") }
            guard v.status != status else { return }
            try db.prepare("UPDATE model_versions SET status = ?, updated = ? WHERE version = ?")
                .run([.text(status.rawValue), .int(wallClockSeconds()), .text(version)])
            try logTransition(version, from: v.status, to: status.rawValue, forced: false, by: by, reason: reason)
        }
    }

    /// The status changes of a version (or of all), oldest first.
    public func statusLog(version: String? = nil) throws(StoreError) -> [(version: String, from: String?, to: String, at: Int64, forced: Bool, by: String, reason: String?)] {
        guard format >= 2 else { return [] }   // a format-1 store, read as it is, kept no log
        let s = try db.prepare("SELECT version, from_status, to_status, at, forced, by, reason FROM version_log \(version == nil ? "" : "WHERE version = ?") ORDER BY seq")
        if let version { try s.bind([.text(version)]) }
        var out: [(String, String?, String, Int64, Bool, String, String?)] = []
        while try s.step() {
            out.append((s.text(0), s.isNull(1) ? nil : s.text(1), s.text(2), s.int64(3), s.int64(4) != 0, s.text(5), s.isNull(6) ? nil : s.text(6)))
        }
        return out
    }

    /// Records a completed backfill of a version on a shard (replacing that shard's earlier one);
    /// a version whose builds now cover every shard becomes `ready` unless it is active.
    public func recordBuild(_ b: VersionBuild, by: String) throws {
        try db.transaction {
            try db.prepare("""
                INSERT INTO version_builds(version, shard, run_id, candidates, files_rejected, completed_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(version, shard) DO UPDATE SET run_id = excluded.run_id, candidates = excluded.candidates,
                    files_rejected = excluded.files_rejected, completed_at = excluded.completed_at
                """).run([.text(b.version), .text(b.shard), .int(b.runID), .int(b.candidates), .int(b.filesRejected), .int(b.completedAt)])
        }
        try settleStatus(b.version, by: by)
    }

    /// `ready` when the builds cover every shard, else `building`; an active version keeps its status.
    func settleStatus(_ version: String, by: String) throws {
        guard let v = try self.version(version), v.status != .active else { return }
        let target: VersionStatus = try completeBuilds(version) != nil ? .ready : .building
        if v.status != target { try setStatus(version, target, by: by) }
    }

    /// The builds of a version.
    public func builds(_ version: String) throws(StoreError) -> [VersionBuild] {
        guard format >= 2 else { return [] }   // a format-1 store, read as it is, recorded no builds
        let s = try db.prepare("SELECT version, shard, run_id, candidates, files_rejected, completed_at FROM version_builds WHERE version = ? ORDER BY shard")
        try s.bind([.text(version)])
        var out: [VersionBuild] = []
        while try s.step() {
            out.append(VersionBuild(version: s.text(0), shard: s.text(1), runID: s.int64(2), candidates: s.int64(3), filesRejected: s.int64(4), completedAt: s.int64(5)))
        }
        return out
    }

    /// The builds of one complete set of shards (all k of some n; an unsharded build first), or nil.
    public func completeBuilds(_ version: String) throws(StoreError) -> [VersionBuild]? {
        var byCount: [Int: [Int: VersionBuild]] = [:]
        for b in try builds(version) {
            let p = b.shard.split(separator: "/")
            guard p.count == 2, let k = Int(p[0]), let n = Int(p[1]), n >= 1, k >= 0, k < n else { continue }
            byCount[n, default: [:]][k] = b
        }
        for n in byCount.keys.sorted() where byCount[n]!.count == n {
            return (0..<n).map { byCount[n]![$0]! }
        }
        return nil
    }

    /// Users of `history` that `version` does not reflect yet (see `BehindCount`), in one pass over
    /// the candidates' counters. Call it holding the history store's lock to get an answer that
    /// no ingest can change before a promotion commits.
    public func behind(_ version: ModelVersionInfo, history: HistoryStore) throws(StoreError) -> BehindCount {
        var out = BehindCount()
        var cursor: UInt64 = 0
        while true {
            let window = try history.candidates(from: cursor, limit: 4096)
            guard let first = window.first, let last = window.last else { break }
            let stored = try storedVersions(version: version, from: first.userID, through: last.userID)
            for c in window {
                let isNew = stored[c.userID] == nil
                let converted = stored[c.userID].map { !$0.failed && c.lastConversionVersion > $0.historyVersion } ?? false
                if isNew { out.newUsers += 1 } else if converted { out.converters += 1 } else { continue }
                if out.examples.count < 5 { out.examples.append(c.userID) }
            }
            if window.count < 4096 || last.userID == .max { break }
            cursor = last.userID + 1
        }
        return out
    }

    /// The promotion guard (docs/operations.md): every shard's backfill completed, no input file
    /// rejected, failed users within the policy, coverage of the active version's users (or of the
    /// candidates) at least `minCoverage`, and — when history stores are given — nobody in them
    /// that the version does not reflect yet. Pass every history store the version was built from
    /// (one per shard); with none, that last condition cannot be checked and is reported.
    public func promotionCheck(_ name: String, policy: PromotionPolicy, history: [HistoryStore]) throws -> PromotionCheck {
        guard let v = try version(name) else { throw StoreError(path: path, message: "no model version \(name)") }
        var c = PromotionCheck(version: name)
        c.rows = try db.scalarInt("SELECT count(*) FROM \(v.table)") ?? 0
        c.failedUsers = try db.scalarInt("SELECT count(*) FROM failed_users WHERE version = ?", [.text(name)]) ?? 0
        if let complete = try completeBuilds(name) {
            c.candidates = complete.reduce(0) { $0 + $1.candidates }
            let rejected = complete.reduce(0) { $0 + $1.filesRejected }
            if rejected > 0 {
                let runs = complete.filter { $0.filesRejected > 0 }.map { "run \($0.runID)" }.joined(separator: ", ")
                c.problems.append("its backfill rejected \(rejected) input file\(rejected == 1 ? "" : "s") (\(runs)): fix or remove them and rerun the backfill")
            }
        } else {
            let have = try builds(name).map(\.shard)
            c.problems.append(have.isEmpty
                ? "no completed backfill of \(name) is recorded: run its backfill to the end (or merge every shard's store)"
                : "its backfill is incomplete: shards \(have.joined(separator: ", ")) completed, not a whole set; merge every shard's store")
        }
        if let n = c.candidates, n > 0, Double(c.failedUsers) > policy.maxFailedFraction * Double(n) {
            c.problems.append("\(c.failedUsers) of \(n) users failed to encode (more than max_failed_fraction \(policy.maxFailedFraction)): see failed_users")
        }
        if let a = try activeVersion(), a.version != name {
            c.active = a.version
            c.activeRows = try db.scalarInt("SELECT count(*) FROM \(a.table)") ?? 0
            // A user counts as covered when the candidate's row was computed from at least as much
            // history as the one readers get now: a version built from another (or an older)
            // history store does not pass for complete.
            c.activeUsersCovered = try db.scalarInt("""
                SELECT count(*) FROM \(a.table) AS a JOIN \(v.table) AS v USING (user_id) WHERE v.history_version >= a.history_version
                """) ?? 0
            if Double(c.activeUsersCovered) < policy.minCoverage * Double(c.activeRows) {
                c.problems.append("it holds rows as current as \(a.version)'s for \(c.activeUsersCovered) of the \(c.activeRows) users \(a.version) serves (\(percent(c.activeUsersCovered, c.activeRows)) < min_coverage \(percent(policy.minCoverage)))")
            }
        } else if let n = c.candidates, Double(c.rows) < policy.minCoverage * Double(n) {
            c.problems.append("it holds \(c.rows) rows for \(n) candidate users (\(percent(c.rows, n)) < min_coverage \(percent(policy.minCoverage)))")
        }
        if c.rows == 0 && c.activeRows == 0 && !c.problems.contains(where: { $0.hasPrefix("it holds") }) {
            c.problems.append("it holds no rows")
        }
        if history.isEmpty {
            c.problems.append("cannot check that it holds every conversion ingested since its backfill: give the history store(s) it was built from")
        } else {
            var b = BehindCount()
            for h in history {
                let one = try behind(v, history: h)
                b.newUsers += one.newUsers
                b.converters += one.converters
                b.examples += one.examples.prefix(5 - min(5, b.examples.count))
            }
            c.behind = b
            if b.total > 0 {
                // A merged store's version was built by shards: they catch up, the merge carries it over.
                let sharded = try builds(name).contains { $0.shard != "0/1" }
                let remedy = sharded ? "rerun the shards' backfills and merge their stores again with --promote"
                                     : "rerun its backfill with --promote, which catches up and promotes"
                c.problems.append("it is behind the history store\(history.count > 1 ? "s" : "") for \(b.total) users (\(b.converters) converted since their row, \(b.newUsers) without a row; e.g. \(b.examples.map(String.init).joined(separator: ", "))): \(remedy)")
            }
        }
        return c
    }

    /// Makes a version `active` and the previously active one `retired` in one transaction (a
    /// reader sees one or the other, never none), recounting its coverage and logging the change
    /// with `forced` and the guard's problems when it was forced past them.
    public func activate(_ name: String, forced: Bool, by: String, reason: String?) throws {
        try db.transaction {
            guard let v = try self.version(name) else { throw StoreError(path: path, message: "no model version \(name)") }
            let now = wallClockSeconds()
            if let a = try activeVersion(), a.version != name {
                try db.prepare("UPDATE model_versions SET status = 'retired', updated = ? WHERE version = ?").run([.int(now), .text(a.version)])
                try logTransition(a.version, from: .active, to: VersionStatus.retired.rawValue, forced: forced, by: by, reason: "\(name) promoted")
            }
            let rows = try db.scalarInt("SELECT count(*) FROM \(v.table)") ?? 0
            try db.prepare("UPDATE model_versions SET status = 'active', coverage = ?, updated = ? WHERE version = ?")
                .run([.int(rows), .int(now), .text(name)])
            if v.status != .active { try logTransition(name, from: v.status, to: VersionStatus.active.rawValue, forced: forced, by: by, reason: reason) }
        }
    }

    /// Why dropping a version would hurt, one sentence each: it is active, a run writing it is
    /// alive, or the latest nightly/refresh run wrote it (its pipeline file still names it).
    public func dropRefusals(_ name: String) throws -> [String] {
        guard let v = try version(name) else { throw StoreError(path: path, message: "no model version \(name)") }
        var out: [String] = []
        if v.status == .active {
            out.append("\(name) is the active version: readers use it; promote another version first")
        }
        let running = try db.prepare("SELECT run_id, pipeline, host, pid FROM runs WHERE model_version = ? AND status = 'running'")
        try running.bind([.text(name)])
        while try running.step() {
            let host = running.text(2), pid = pid_t(truncatingIfNeeded: running.int64(3))
            if host == LockHolder.hostName() && kill(pid, 0) == 0 {
                out.append("run \(running.int64(0)) (\(running.text(1)), pid \(pid)) is writing \(name) now")
            }
        }
        for pipeline in ["nightly", "refresh"] where v.status != .active {
            let s = try db.prepare("SELECT run_id, model_version FROM runs WHERE pipeline = ? ORDER BY run_id DESC LIMIT 1")
            try s.bind([.text(pipeline)])
            if try s.step(), s.text(1) == name {
                out.append("the latest \(pipeline) run (run \(s.int64(0))) wrote \(name): a \(pipeline) pipeline file may still name its checkpoint; drop it once \(pipeline) has run on the active version")
            }
        }
        return out
    }

    /// Drops a version: its table, its `model_versions` row, its builds, failed users and merge
    /// progress (the status log keeps its history). Returns the rows and bytes it held.
    public func drop(_ name: String, by: String, forced: Bool) throws -> DropReport {
        try db.transaction {
            guard let v = try self.version(name) else { throw StoreError(path: path, message: "no model version \(name)") }
            let rows = try db.scalarInt("SELECT count(*) FROM \(v.table)") ?? 0
            let bytes = try db.scalarInt("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?", [.text(v.table)]) ?? 0
            try db.execute("DROP TABLE IF EXISTS \(v.table)")
            try db.prepare("DELETE FROM model_versions WHERE version = ?").run([.text(name)])
            try db.prepare("DELETE FROM failed_users WHERE version = ?").run([.text(name)])
            try db.prepare("DELETE FROM version_builds WHERE version = ?").run([.text(name)])
            try db.prepare("DELETE FROM merge_progress WHERE version = ?").run([.text(name)])
            try logTransition(name, from: v.status, to: "dropped", forced: forced, by: by, reason: "\(rows) rows, \(bytes) bytes")
            return DropReport(rows: rows, bytes: bytes)
        }
    }
}

private func percent(_ a: Int64, _ b: Int64) -> String { b == 0 ? "n/a" : percent(Double(a) / Double(b)) }
private func percent(_ x: Double) -> String {
    let p = (x * 1000).rounded(.down) / 10
    return "\(p == p.rounded() ? String(Int(p)) : String(p))%"
}
