import Events
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// The committed sample data and pipeline files, as `make backfill` uses them.
@Suite struct SampleDataTests {
    /// The repository root, found from this file's path.
    static let root: String = {
        var p = #filePath
        for _ in 0..<3 { p = Files.parentDirectory(p) }
        return p
    }()

    func manifestCount(_ key: String) throws -> Int {
        let m = try JSONValue.parse(try Files.readAll(SampleDataTests.root + "/sample-data/manifest.json"))
        guard let v = m["counts"]?[key]?.numberValue?.int64 else { throw StoreError(path: "manifest.json", message: "no counts.\(key)") }
        return Int(v)
    }

    @Test(arguments: PipelineKind.allCases)
    func pipelineFilesLoad(_ kind: PipelineKind) throws {
        let c = try PipelineConfig.load(SampleDataTests.root + "/pipelines/\(kind.rawValue).yaml")
        #expect(c.kind == kind)
        #expect(c.settings.conversionTypes == ["app_install", "lead", "purchase"])
        #expect(c.eventInputs == ["sample-data/events"])
        // The backfill names the shipped checkpoint; nightly and refresh follow the active version.
        #expect(c.encode?.checkpoint == (kind == .backfill ? "sample-data/checkpoint" : nil) && c.encode?.embeddingStore == "out/embeddings.db")
        #expect(c.encode?.promote == .auto && c.encode?.promotion == PromotionPolicy())
    }

    /// What `make backfill` does, into a temp directory: every sample user gets an active int8
    /// embedding from the shipped checkpoint (whose self-test passes), and a refresh after it selects nobody.
    @Test func sampleBackfillWithTheShippedCheckpointEncodesEveryUser() throws {
        let dir = TempDirectory()
        let root = SampleDataTests.root
        let config = try PipelineConfig.load(root + "/pipelines/backfill.yaml")
        var ingest = config.ingestOptions
        ingest.historyStore = dir.file("history.db")
        ingest.quarantineDirectory = dir.file("q")
        ingest.inputs = [root + "/sample-data/events"]
        ingest.featureFiles = [root + "/sample-data/users.jsonl"]
        var encode = try #require(config.encodeOptions)
        encode.historyStore = ingest.historyStore
        encode.embeddingStore = dir.file("embeddings.db")
        encode.checkpoint = root + "/sample-data/checkpoint"
        encode.catalog = root + "/sample-data/catalog.db"
        let r = try PipelineRun(options: PipelineRunOptions(ingest: ingest, encode: encode)).run()
        #expect(r.status == .ok && r.written == 2000 && r.failed == 0)
        let store = try EmbeddingStore(path: encode.embeddingStore, create: false)
        let v = try #require(try store.version("sample-v1"))
        #expect(v.status == .active && v.coverage == 2000 && v.interests == 4 && v.interestDim == 16)
        let row = try #require(try store.row(100000000000712, version: "sample-v1"))
        #expect(row.nEvents == 15 && row.historyVersion == 15 && row.scales.allSatisfy { $0 > 0 })
        encode.kind = .refresh
        let again = try PipelineRun(options: PipelineRunOptions(ingest: nil, encode: encode)).run()
        #expect(again.status == .ok && again.selected == 0 && again.written == 0)
    }

    @Test func sampleDataIngestsAsTheManifestSays() throws {
        let dir = TempDirectory()
        let config = try PipelineConfig.load(SampleDataTests.root + "/pipelines/backfill.yaml")
        var o = config.ingestOptions
        o.historyStore = dir.file("history.db")
        o.quarantineDirectory = dir.file("q")
        o.inputs = [SampleDataTests.root + "/sample-data/events"]
        o.featureFiles = [SampleDataTests.root + "/sample-data/users.jsonl"]
        let r = try Ingestor(options: o).run()
        #expect(r.rejectedFiles == 0 && r.ingestedFiles == 30)
        #expect(r.newEvents == (try manifestCount("events")))
        #expect(r.duplicates == (try manifestCount("duplicates")))
        #expect(r.quarantinedRecords == (try manifestCount("bad_lines")))
        let s = try HistoryStore(path: o.historyStore, settings: nil).stats()
        #expect(s.featureUsers == 2000)
        #expect(s.maxHistoryVersion > 1024)
        // The catalog names its semantic model.
        let catalog = try Catalog(path: SampleDataTests.root + "/sample-data/catalog.db")
        #expect(catalog.semanticModel == "llatte-sample-sem-v1" && catalog.dSem == 64)
    }

    @Test func configErrorsNameFileKeyAndLine() throws {
        let dir = TempDirectory()
        let good = try String(decoding: Files.readAll(SampleDataTests.root + "/pipelines/backfill.yaml"), as: UTF8.self)
        let typo = dir.write("typo.yaml", text: good.replacingFirst("retention_cap:", with: "retension_cap:"))
        #expect {
            try PipelineConfig.load(typo)
        } throws: { e in
            let d = "\(e)"
            return d.hasPrefix(typo + ":") && d.contains("history.retension_cap") && d.contains("unknown key")
        }
        let missing = dir.write("missing.yaml", text: "pipeline: nightly\nhistory_store: x.db\n")
        #expect(throws: ConfigError.self) { try PipelineConfig.load(missing) }
        let badKind = dir.write("kind.yaml", text: good.replacingFirst("pipeline: backfill", with: "pipeline: weekly"))
        #expect { try PipelineConfig.load(badKind) } throws: { "\($0)".contains("must be one of backfill, nightly, refresh") }
    }
}

extension String {
    func replacingFirst(_ a: String, with b: String) -> String {
        guard let r = range(of: a) else { return self }
        return replacingCharacters(in: r, with: b)
    }
}
