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
        try writeFormatOneEmbeddingStore(path)
        let s = try EmbeddingStore(path: path)
        #expect(try s.database.scalarInt("SELECT CAST(value AS INTEGER) FROM store_meta WHERE key = 'format_version'") == 3)
        #expect(try s.activeVersion()?.version == "old" && s.activeVersion()?.table == "emb_2")
        // A new version gets a table name of its own (the old one's rowid was renumbered), and `ready` is allowed.
        let v = try s.ensureVersion("new", identity: "x", interests: 2, interestDim: 2)
        #expect(v.table != "emb_2")
        try s.setStatus("new", .ready, by: "t")
        #expect(try s.version("new")?.status == .ready)
        // The old run kept its record and its inputs text; new columns have their defaults.
        #expect(try s.runHistory(pipeline: nil, last: 5).map { "\($0.runID) \($0.status) \($0.filesIngested) \($0.seconds)" } == ["1 ok 0 1.5"])
        #expect(try s.database.scalarInt("SELECT count(*) FROM runs WHERE inputs = 'events\ta\t1\t2\tff\n' AND input_set IS NULL") == 1)
    }
}
