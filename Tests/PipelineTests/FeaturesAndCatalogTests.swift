import Events
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// User-feature snapshots and the item catalog.
@Suite struct FeaturesAndCatalogTests {
    func ingest(_ dir: TempDirectory, features: [String]) throws -> IngestReport {
        var o = IngestOptions(historyStore: dir.file("history.db"), settings: IngestTests.settings, inputs: [], quarantineDirectory: dir.file("q"))
        o.featureFiles = features
        o.maxBadFraction = 0.5
        return try Ingestor(options: o).run()
    }

    @Test func snapshotsKeepTheLatestRecordPerUser() throws {
        let dir = TempDirectory()
        let f1 = dir.writeLines("f1.jsonl", [
            #"{"user_id": 1, "country": "US", "device": "ios", "log_account_age_days": 2.5}"#,
            #"{"user_id": 2, "country": "FR", "device": null}"#,
            #"{"user_id": 1, "country": "GB", "device": "web", "log_account_age_days": 3}"#,
        ])
        let r1 = try ingest(dir, features: [f1])
        #expect(r1.features.first?.snapshot == 1 && r1.features.first?.users == 2)
        let store = try HistoryStore(path: dir.file("history.db"), settings: nil)
        let u1 = try #require(try store.features(1))
        #expect(u1.snapshot == 1)
        #expect(u1.value("country") == .categorical(Array("GB".utf8)))   // the later line wins
        #expect(u1.value("log_account_age_days") == .dense(3))
        #expect(try store.features(2)?.value("device") == nil)            // null is absent
        // A second snapshot updates user 2 only; user 1 keeps its record.
        let f2 = dir.writeLines("f2.jsonl", [#"{"user_id": 2, "country": "DE"}"#])
        #expect(try ingest(dir, features: [f2]).features.first?.snapshot == 2)
        let again = try HistoryStore(path: dir.file("history.db"), settings: nil)
        #expect(try again.features(2)?.value("country") == .categorical(Array("DE".utf8)))
        #expect(try again.features(2)?.snapshot == 2)
        #expect(try again.features(1)?.snapshot == 1)
        // The same content again is a no-op.
        #expect(try ingest(dir, features: [f1]).features.first?.snapshot == nil)
        #expect(try again.stats().featureSnapshots == 2)
    }

    @Test func badFeatureRecordsAreQuarantinedWithReasonCodes() throws {
        let dir = TempDirectory()
        let f = dir.writeLines("f.jsonl", [
            #"{"user_id": 1, "country": "US"}"#,
            #"{"country": "US"}"#,
            #"{"user_id": -4}"#,
            #"{"user_id": 5, "tags": ["a"]}"#,
            #"{"user_id": 6, "age": 1e999}"#,
            #"{"user_id": 7, "a": 1, "a": 2}"#,
            "not json",
            #"{"user_id": 8, "c": "x"}"#, #"{"user_id": 9, "c": "y"}"#, #"{"user_id": 10, "c": "z"}"#,
            #"{"user_id": 11, "c": "x"}"#, #"{"user_id": 12, "c": "y"}"#, #"{"user_id": 13, "c": "z"}"#,
        ])
        let r = try ingest(dir, features: [f])
        let reasons = r.features.first?.rejections.map(\.reason) ?? []
        #expect(reasons == [.missingField, .integerOutOfRange, .wrongType, .badMetadata, .duplicateKey, .notJSONObject])
        #expect(r.features.first?.snapshot == 1 && r.features.first?.users == 7)
        #expect(try Files.list(dir.file("q")).count == 1)
    }

    @Test func tooManyBadFeatureRecordsRejectTheFile() throws {
        let dir = TempDirectory()
        let f = dir.writeLines("f.jsonl", [#"{"user_id": 1}"#, "x", "y", "z"])
        let r = try ingest(dir, features: [f])
        #expect(r.features.first?.rejected != nil && r.rejectedFiles == 1)
        #expect(try HistoryStore(path: dir.file("history.db"), settings: nil).features(1) == nil)
    }

    @Test func catalogImportGrowsOnlyFromTheSameSemanticModel() throws {
        let dir = TempDirectory()
        let items = dir.writeLines("items.jsonl", [
            #"{"item_id": 18446744073709551615, "text": "red shoes", "vector": [0.5, -1, 2e-3]}"#,
            #"{"item_id": 7, "text": null, "vector": [1, 2, 3]}"#,
        ])
        let path = dir.file("catalog.db")
        let w = try CatalogWriter(path: path, semanticModel: "m1", dSem: 3)
        try w.add(try CatalogImport.read(items, dSem: 3))
        try w.close()
        let c = try Catalog(path: path)
        let count = try c.count()
        #expect(c.semanticModel == "m1" && c.dSem == 3 && count == 2)
        #expect(try c.vector(for: .max) == [0.5, -1, 0.002])
        #expect(try c.vector(for: 8) == nil)
        let before = try c.contentHash()
        // Growing from the same model changes the content hash; another model is refused.
        let more = dir.writeLines("more.jsonl", [#"{"item_id": 8, "vector": [0, 0, 1]}"#])
        let w2 = try CatalogWriter(path: path, semanticModel: "m1", dSem: 3)
        try w2.add(try CatalogImport.read(more, dSem: 3))
        try w2.close()
        #expect(try Catalog(path: path).contentHash() != before)
        #expect(throws: StoreError.self) { try CatalogWriter(path: path, semanticModel: "m2", dSem: 3) }
        let wrongLength = dir.writeLines("bad.jsonl", [#"{"item_id": 9, "vector": [1, 2]}"#])
        #expect { try CatalogImport.read(wrongLength, dSem: 3) } throws: { "\($0)".contains("bad.jsonl:1") && "\($0)".contains("d_sem = 3") }
    }
}
