import Store
import Support
import Testing
import TestSupport

/// Model-version lifecycle in the store: builds, the guard's coverage rule, one active version,
/// the status log, and the migration of a format-1 store.
@Suite struct VersionLifecycleTests {
    func row(_ user: UInt64, _ hv: Int64) -> EmbeddingRow {
        EmbeddingRow(userID: user, codes: [1, 2, 3, 4], scales: [0.5, 0.25], nEvents: 1, asOf: 1, historyVersion: hv, computedAt: 0, runID: 1)
    }

    func version(_ s: EmbeddingStore, _ name: String, rows: [EmbeddingRow]) throws -> ModelVersionInfo {
        let v = try s.ensureVersion(name, identity: name, interests: 2, interestDim: 2)
        _ = try s.database.transaction { try s.upsert(rows, into: v) }
        return v
    }

    @Test func buildsOfEveryShardMakeAVersionReady() throws {
        let dir = TempDirectory()
        let s = try EmbeddingStore(path: dir.file("e.db"))
        _ = try version(s, "v", rows: [row(1, 1)])
        try s.recordBuild(VersionBuild(version: "v", shard: "0/3", runID: 1, candidates: 1, filesRejected: 0, completedAt: 1), by: "t")
        try s.recordBuild(VersionBuild(version: "v", shard: "2/3", runID: 2, candidates: 1, filesRejected: 0, completedAt: 1), by: "t")
        #expect(try s.version("v")?.status == .building && s.completeBuilds("v") == nil)
        try s.recordBuild(VersionBuild(version: "v", shard: "1/3", runID: 3, candidates: 1, filesRejected: 0, completedAt: 1), by: "t")
        #expect(try s.version("v")?.status == .ready && s.completeBuilds("v")?.map(\.runID) == [1, 3, 2])
    }

    @Test func coverageCountsOnlyRowsAsCurrentAsTheActiveVersions() throws {
        let dir = TempDirectory()
        let s = try EmbeddingStore(path: dir.file("e.db"))
        _ = try version(s, "v1", rows: (1...100).map { row($0, 10) })
        try s.activate("v1", forced: false, by: "t", reason: nil)
        // v2 holds all 100 users, but 2 of them from an older history: 98% < 99%.
        _ = try version(s, "v2", rows: (1...100).map { row($0, $0 <= 2 ? 9 : 10) })
        try s.recordBuild(VersionBuild(version: "v2", shard: "0/1", runID: 2, candidates: 100, filesRejected: 0, completedAt: 1), by: "t")
        let check = try s.promotionCheck("v2", policy: PromotionPolicy(), history: [])
        #expect(check.activeRows == 100 && check.activeUsersCovered == 98)
        #expect(check.problems.contains { $0.contains("98 of the 100 users v1 serves (98% < min_coverage 99%)") }, "\(check.problems)")
        var lax = PromotionPolicy()
        lax.minCoverage = 0.98
        #expect(!(try s.promotionCheck("v2", policy: lax, history: [])).problems.contains { $0.contains("users v1 serves") })
    }

    @Test func activationRetiresThePreviousOneAndIsLogged() throws {
        let dir = TempDirectory()
        let s = try EmbeddingStore(path: dir.file("e.db"))
        _ = try version(s, "a", rows: [row(1, 1)])
        _ = try version(s, "b", rows: [row(1, 1)])
        try s.activate("a", forced: false, by: "t", reason: nil)
        try s.activate("b", forced: true, by: "t", reason: "why")
        #expect(try s.versions().filter { $0.status == .active }.map(\.version) == ["b"])
        #expect(try s.version("a")?.status == .retired)
        let log = try s.statusLog()
        #expect(log.map { "\($0.version):\($0.from ?? "-")>\($0.to)" } == ["a:->building", "b:->building", "a:building>active", "a:active>retired", "b:building>active"])
        #expect(log.last?.forced == true && log.last?.reason == "why")
        #expect(try s.dropRefusals("b").contains { $0.contains("is the active version") } && s.dropRefusals("a").isEmpty)
        let dropped = try s.drop("a", by: "t", forced: false)
        #expect(dropped.rows == 1 && dropped.bytes > 0)
    }

    @Test func aFormatOneStoreIsMigratedWhenOpened() throws {
        let dir = TempDirectory()
        let path = dir.file("e.db")
        do {   // the format-1 schema, as llatte wrote it before
            let db = try Database(path: path)
            try db.execute("""
                CREATE TABLE store_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                INSERT INTO store_meta VALUES ('format_version', '1');
                CREATE TABLE model_versions(version TEXT PRIMARY KEY, identity TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('building', 'active', 'retired')), table_name TEXT NOT NULL UNIQUE,
                    interests INTEGER NOT NULL, interest_dim INTEGER NOT NULL, coverage INTEGER NOT NULL DEFAULT 0,
                    created INTEGER NOT NULL, updated INTEGER NOT NULL);
                INSERT INTO model_versions VALUES ('old', 'id', 'active', 'emb_2', 2, 2, 1, 5, 5);
                CREATE TABLE emb_2(user_id INTEGER PRIMARY KEY, codes BLOB NOT NULL, scales BLOB NOT NULL, n_events INTEGER NOT NULL,
                    as_of INTEGER, history_version INTEGER NOT NULL, computed_at INTEGER NOT NULL, run_id INTEGER NOT NULL);
                CREATE TABLE runs(run_id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, shard TEXT NOT NULL, model_version TEXT NOT NULL,
                    checkpoint_identity TEXT NOT NULL, inputs TEXT NOT NULL, catalog_sha256 TEXT NOT NULL, cpu_kernel TEXT NOT NULL,
                    status TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, started INTEGER NOT NULL, finished INTEGER,
                    selected INTEGER NOT NULL DEFAULT 0, written INTEGER NOT NULL DEFAULT 0, failed_users INTEGER NOT NULL DEFAULT 0,
                    files_rejected INTEGER NOT NULL DEFAULT 0, records_quarantined INTEGER NOT NULL DEFAULT 0,
                    seconds REAL NOT NULL DEFAULT 0, message TEXT);
                """)
        }
        let s = try EmbeddingStore(path: path)
        #expect(try s.database.scalarInt("SELECT CAST(value AS INTEGER) FROM store_meta WHERE key = 'format_version'") == 2)
        #expect(try s.activeVersion()?.version == "old" && s.activeVersion()?.table == "emb_2")
        // A new version gets a table name of its own (the old one's rowid was renumbered), and `ready` is allowed.
        let v = try s.ensureVersion("new", identity: "x", interests: 2, interestDim: 2)
        #expect(v.table != "emb_2")
        try s.setStatus("new", .ready, by: "t")
        #expect(try s.version("new")?.status == .ready)
        #expect(try s.database.scalarInt("SELECT count(*) FROM runs WHERE cos_p50 IS NULL") == 0)
    }
}
