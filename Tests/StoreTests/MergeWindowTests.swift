import Store
import Support
import Testing
import TestSupport

/// `EmbeddingStore.merge(from:options:)` window by window against its plain twin: whatever the
/// window size, the merged store holds the source's rows but its forgotten users', its failed users
/// (also those whose keys fall between, before or after its rows, and above 2^63), and the
/// target's newer rows win.
@Suite struct MergeWindowTests {
    static let k = 2, d = 2

    static func row(_ user: UInt64, _ hv: Int64, run: Int64 = 1) -> EmbeddingRow {
        let c = Int8(truncatingIfNeeded: user % 251)
        return EmbeddingRow(userID: user, codes: [c, 2, -3, c &+ 1], scales: [Float(user % 7 + 1) / 8, 0.25], nEvents: Int(hv), asOf: 100 + hv,
                            historyVersion: hv, computedAt: 1_000 + run, runID: run)
    }

    /// The source: 40 rows over both halves of the key space (keys ≥ 2^63 are stored negative),
    /// one forgotten user, failures before, between and after the rows, and its shard's build.
    static func source(_ dir: TempDirectory) throws -> EmbeddingStore {
        let s = try EmbeddingStore(path: dir.file("source.db"))
        let v = try s.ensureVersion("v", identity: "id", interests: k, interestDim: d)
        let users = (0..<40).map { i -> UInt64 in i % 2 == 0 ? UInt64(i) * 1_000 + 5 : UInt64.max - UInt64(i) * 1_000 }
        let rows = users.map { row($0, Int64($0 % 5) + 1) }.sorted { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }
        _ = try s.database.transaction { try s.upsert(rows, into: v) }
        try s.forget(users[6])
        try s.recordFailures([(1, 3, "before"), (2_006, 4, "between"), (UInt64.max, 9, "last key"), (UInt64(1) << 63, 2, "first negative key"),
                              (users[10], 99, "has a row too")], version: "v")
        try s.recordBuild(VersionBuild(version: "v", shard: "0/1", runID: 1, candidates: 41, filesRejected: 0, completedAt: 5), by: "test")
        return s
    }

    /// The target before the merge: a newer row of one source user, an older one of another.
    static func target(_ path: String, _ source: EmbeddingStore) throws -> EmbeddingStore {
        let t = try EmbeddingStore(path: path)
        let v = try t.ensureVersion("v", identity: "id", interests: k, interestDim: d)
        let src = try source.rows(version: "v")
        let rows = [row(src[2].userID, src[2].historyVersion + 10, run: 7), row(src[30].userID, 0, run: 7)]
            .sorted { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }
        _ = try t.database.transaction { try t.upsert(rows, into: v) }
        return t
    }

    static func failures(_ s: EmbeddingStore) throws -> [String] {
        let q = try s.database.prepare("SELECT user_id, history_version, reason FROM failed_users WHERE version = 'v' ORDER BY user_id")
        var out: [String] = []
        while try q.step() { out.append("\(q.int64(0)) \(q.int64(1)) \(q.text(2))") }
        return out
    }

    @Test(arguments: [1, 2, 7, 4096]) func aWindowedMergeEqualsThePlainTwin(windowRows: Int) throws {
        let dir = TempDirectory()
        let source = try MergeWindowTests.source(dir)
        let target = try MergeWindowTests.target(dir.file("target.db"), source)
        let before = try target.rows(version: "v")
        var options = MergeOptions()
        options.windowRows = windowRows
        var hooked: [Int] = []
        options.beforeCommit = { hooked.append($0) }
        let counts = try target.merge(from: source, options: options)

        // The plain twin: every source row not forgotten, unless the target's is newer; the
        // target's other rows; the source's failures over the target's (none) — computed row by row.
        var expected: [Int64: EmbeddingRow] = [:]
        for r in before { expected[Int64(bitPattern: r.userID)] = r }
        for r in try source.rows(version: "v") where try !source.isTombstoned(r.userID) {
            let key = Int64(bitPattern: r.userID)
            if let mine = expected[key], mine.historyVersion > r.historyVersion { continue }
            expected[key] = r
        }
        let twin = expected.keys.sorted().map { expected[$0]! }
        #expect(try target.rows(version: "v") == twin)
        #expect(try MergeWindowTests.failures(target) == MergeWindowTests.failures(source))
        #expect(try target.isTombstoned(6_005) && expected[6_005] == nil)   // users[6], forgotten in the source
        #expect(counts.read == 39 && counts.written == 38)   // the newer target row is kept
        #expect(counts.windows == 39 / windowRows + 1 && hooked == Array(0..<counts.windows))
        #expect(try target.version("v")?.coverage == Int64(twin.count) && target.version("v")?.status == .ready)
        // Finished: a second merge of the unchanged source skips it until the progress is cleared.
        #expect(try target.merge(from: source, options: options).versionsAlreadyMerged == 1)
        try target.clearMergeProgress(sources: [source.path])
        let again = try target.merge(from: source, options: options)
        #expect(try again.read == 39 && again.versionsAlreadyMerged == 0 && target.rows(version: "v") == twin)
    }
}
