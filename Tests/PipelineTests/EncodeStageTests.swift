import Model
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// The select → encode → write stages and docs/pipelines.md's trigger policy, on the `small` golden checkpoint.
@Suite struct EncodeStageTests {
    static let settings = HistorySettings(conversionTypes: ["purchase"], minTs: 0, maxTs: 1 << 40, retentionCap: 1000)
    static let items: [UInt64] = [7, 8, 9]

    /// A fresh pair of stores with a catalog for the golden checkpoint's semantic model.
    struct World {
        let dir = TempDirectory()
        var day = 0

        init() throws {
            let w = try CatalogWriter(path: dir.file("catalog.db"), semanticModel: "golden-sem-v1", dSem: 8)
            try w.add(EncodeStageTests.items.map { id in CatalogItem(itemID: id, text: nil, vector: (0..<8).map { Float($0) / 8 - Float(id) / 20 }) })
            try w.close()
        }

        /// Ingests one day file of lines (and optionally features).
        mutating func ingest(_ lines: [String], features: [String] = []) throws {
            day += 1
            let log = dir.writeLines("logs/day\(day).jsonl", lines)
            var o = IngestOptions(historyStore: dir.file("history.db"), settings: EncodeStageTests.settings, inputs: lines.isEmpty ? [] : [log],
                                  quarantineDirectory: dir.file("q"))
            if !features.isEmpty { o.featureFiles = [dir.writeLines("features\(day).jsonl", features)] }
            let r = try Ingestor(options: o).run()
            #expect(r.rejectedFiles == 0 && r.quarantinedRecords == 0)
        }

        func options(_ kind: PipelineKind, stale: Int64 = 0) -> EncodeOptions {
            var o = EncodeOptions(kind: kind, historyStore: dir.file("history.db"), embeddingStore: dir.file("embeddings.db"),
                                  checkpoint: Goldens.directory("small"), catalog: dir.file("catalog.db"))
            o.windowUsers = 3   // several windows even on a few users
            o.staleAfterEvents = stale
            return o
        }

        func run(_ kind: PipelineKind, stale: Int64 = 0) throws -> EncodeReport {
            let r = try PipelineRun(options: PipelineRunOptions(ingest: nil, encode: options(kind, stale: stale))).run()
            #expect(r.status == .ok)
            return r.encode
        }
        func store() throws -> EmbeddingStore { try EmbeddingStore(path: dir.file("embeddings.db"), create: false) }
        func row(_ user: UInt64) throws -> EmbeddingRow? { try store().row(user, version: "golden-small") }
    }

    static func clicks(_ user: UInt64, from: Int, count: Int, ts: Int64 = 1_790_000_000) -> [String] {
        (from..<(from + count)).map { eventLine(user: user, id: String($0), ts: ts + Int64($0) * 60, item: items[$0 % 3]) }
    }

    @Test func backfillEncodesEveryUserWithEventsOrFeaturesAndActivatesTheVersion() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 5) + EncodeStageTests.clicks(2, from: 0, count: 9) + EncodeStageTests.clicks(1 << 63 + 5, from: 0, count: 2),
                     features: ["{\"user_id\":3,\"country\":\"US\"}"])
        let r = try w.run(.backfill)
        #expect(r.selected == 4 && r.encoded == 4 && r.counts.written == 4 && r.failed == 0)
        #expect(r.status == .active)
        let v = try w.store().version("golden-small")!
        #expect(v.status == .active && v.coverage == 4)
        #expect(try w.row(3)?.nEvents == 0 && w.row(3)?.asOf == nil && w.row(3)?.historyVersion == 0)
        #expect(try w.row(2)?.historyVersion == 9 && w.row(1 << 63 + 5)?.nEvents == 2)

        // The stored row is exactly what the encoder gives for that user alone.
        let ck = try Checkpoint(directory: Goldens.directory("small"))
        let history = try HistoryStore(path: w.dir.file("history.db"), settings: nil)
        let tok = try Tokenizer(config: ck.config, store: history, catalog: try Catalog(path: w.dir.file("catalog.db")))
        let z = Encoder(checkpoint: ck).encode([try tok.tokenize(userID: 2, store: history).tokens])[0]
        let q = try quantize(z, interests: ck.config.interests, interestDim: ck.config.interestDim)
        #expect(try w.row(2)?.codes == q.codes && w.row(2)?.scales == q.scales)

        // A second backfill on unchanged inputs selects nobody.
        let again = try w.run(.backfill)
        #expect(again.selected == 0 && again.counts.written == 0)
    }

    @Test func refreshReencodesConvertersAndNewUsersOnly() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 4) + EncodeStageTests.clicks(2, from: 0, count: 4))
        _ = try w.run(.backfill)
        let before1 = try w.row(1)!, before2 = try w.row(2)!
        // User 1 converts, user 2 only clicks more, user 4 is new.
        try w.ingest([eventLine(user: 1, id: "100", ts: 1_790_100_000, item: 8, type: "purchase")]
                     + EncodeStageTests.clicks(2, from: 10, count: 3) + EncodeStageTests.clicks(4, from: 0, count: 2))
        let r = try w.run(.refresh)
        #expect(r.selected == 2 && r.counts.written == 2)
        #expect(try w.row(1)!.historyVersion == 5 && !w.row(1)!.sameContent(as: before1))
        #expect(try w.row(2)!.sameContent(as: before2))        // not a converter: untouched
        #expect(try w.row(4)?.historyVersion == 2)
        // Nothing new: a refresh selects nobody.
        #expect(try w.run(.refresh).selected == 0)
    }

    @Test func aLateConversionTriggersARefresh() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 6, ts: 1_790_500_000))
        _ = try w.run(.backfill)
        // A purchase from long before the user's latest event, delivered in a new file.
        try w.ingest([eventLine(user: 1, id: "900", ts: 1_700_000_000, item: 7, type: "purchase")])
        let r = try w.run(.refresh)
        #expect(r.selected == 1 && r.counts.written == 1)
        let row = try w.row(1)!
        #expect(row.historyVersion == 7 && row.asOf == 1_790_500_000 + 5 * 60)
    }

    @Test func nightlyAddsStaleUsersAndASecondNightlyOnUnchangedInputsWritesNothing() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 3) + EncodeStageTests.clicks(2, from: 0, count: 3))
        _ = try w.run(.backfill)
        try w.ingest(EncodeStageTests.clicks(1, from: 10, count: 5) + EncodeStageTests.clicks(2, from: 10, count: 1))
        #expect(try w.run(.nightly).selected == 0)                    // no conversions, staleness off
        let r = try w.run(.nightly, stale: 4)
        #expect(r.selected == 1 && r.counts.written == 1)             // user 1 grew by 5, user 2 by 1
        #expect(try w.row(1)?.historyVersion == 8 && w.row(2)?.historyVersion == 3)
        let again = try w.run(.nightly, stale: 4)
        #expect(again.selected == 0 && again.counts.written == 0)
    }

    @Test func nightlyAndRefreshRefuseAVersionThatIsNotActive() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 3))
        #expect(throws: PipelineRunError.self) { try w.run(.refresh) }    // no version yet
        _ = try w.run(.backfill)
        try w.store().database.execute("UPDATE model_versions SET status = 'building'")
        do {
            _ = try w.run(.nightly)
            Issue.record("nightly must refuse a building version")
        } catch {
            #expect("\(error)".contains("not active"))
        }
    }

    @Test func anOlderEncodingNeverReplacesANewerOne() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 3))
        _ = try w.run(.backfill)
        let store = try w.store()
        let v = try store.version("golden-small")!
        let current = try w.row(1)!
        var older = current
        older.historyVersion -= 1
        older.codes = older.codes.map { _ in 1 }
        let counts = try store.database.transaction { try store.upsert([older], into: v) }
        #expect(counts.written == 0 && counts.keptNewer == 1)
        #expect(try w.row(1) == current)
        var newer = current
        newer.historyVersion += 1
        #expect(try store.database.transaction { try store.upsert([newer], into: v) }.written == 1)
        #expect(try w.row(1)?.historyVersion == current.historyVersion + 1)
    }

    @Test func aForgottenUserIsNeverWrittenAgain() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 3) + EncodeStageTests.clicks(2, from: 0, count: 3))
        _ = try w.run(.backfill)
        try w.store().forget(1)
        #expect(try w.row(1) == nil)
        try w.ingest([eventLine(user: 1, id: "77", ts: 1_790_900_000, item: 9, type: "purchase")])
        let r = try w.run(.refresh)
        #expect(r.counts.tombstoned == 1 && r.counts.written == 0)
        #expect(try w.row(1) == nil)
    }

    @Test func mergingAStoreThatForgotAUserRemovesItsRowsHere() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 3) + EncodeStageTests.clicks(2, from: 0, count: 3))
        _ = try w.run(.backfill)
        let other = try EmbeddingStore(path: w.dir.file("other.db"))
        try other.forget(1)   // a store with no model version, only the tombstone
        #expect(try w.store().merge(from: other).written == 0)
        #expect(try w.row(1) == nil && w.row(2) != nil)
        #expect(try w.store().isTombstoned(1))
    }

    @Test func aSecondRunOfTheSamePipelineIsRefusedNamingTheHolder() throws {
        var w = try World()
        try w.ingest(EncodeStageTests.clicks(1, from: 0, count: 3))
        _ = try w.run(.backfill)
        let held = try FileLock.acquire(path: w.dir.file("embeddings.db.refresh.lock"), holder: LockHolder(pipeline: "refresh"), timeout: 0)
        do {
            _ = try w.run(.refresh)
            Issue.record("expected the lock to refuse")
        } catch let e as PipelineRunError {
            #expect(e.isLocked, "\(e)")
            #expect("\(e)".contains("pipeline=refresh"))
        }
        // Another pipeline may overlap.
        #expect(try w.run(.nightly).selected == 0)
        withExtendedLifetime(held) {}
    }

    @Test func shardingPicksEachUserExactlyOnce() {
        let shards = (0..<4).map { Shard(index: $0, count: 4) }
        for u in [0, 1, 2, 12_345, UInt64.max, 1 << 63] as [UInt64] {
            #expect(shards.filter { $0.owns(u) }.count == 1)
        }
        #expect(Shard("2/4") == Shard(index: 2, count: 4) && Shard("4/4") == nil && Shard("x") == nil)
    }
}
