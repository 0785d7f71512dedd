import Pipeline
import Store
import Support
import Testing
import TestSupport

/// An error about a path a pipeline file gave names the file and the key (docs/pipelines.md).
@Suite struct PipelinePathErrorTests {
    /// A backfill file in `dir` whose paths are the given ones (relative to `dir`).
    func write(_ dir: TempDirectory, checkpoint: String = "ck", events: String = "logs", catalog: String = "catalog.db",
               historyStore: String = "out/history.db") -> String {
        dir.write("backfill.yaml", text: """
            pipeline: backfill
            history_store: \(dir.file(historyStore))
            embedding_store: \(dir.file("out/embeddings.db"))
            checkpoint: \(dir.file(checkpoint))
            inputs: {events: [\(dir.file(events))], features: [\(dir.file("users.jsonl"))], catalog: \(dir.file(catalog))}
            history: {conversion_types: [purchase], min_ts: 0, max_ts: 10}
            """)
    }

    func runError(_ config: PipelineConfig) -> String? {
        do {
            _ = try PipelineRun(options: PipelineRunOptions(ingest: config.ingestOptions, encode: config.encodeOptions!)).run()
            return nil
        } catch {
            return config.message(for: error)
        }
    }

    @Test func theKeyOfAPathIsFoundForTheFileItselfAFileInsideItOrBesideIt() throws {
        let dir = TempDirectory()
        let c = try PipelineConfig.load(write(dir))
        #expect(c.key(concerning: dir.file("ck/config.json")) == "checkpoint")
        #expect(c.key(concerning: dir.file("ck")) == "checkpoint")
        #expect(c.key(concerning: dir.file("logs/day-1.jsonl")) == "inputs.events")
        #expect(c.key(concerning: dir.file("users.jsonl")) == "inputs.features")
        #expect(c.key(concerning: dir.file("catalog.db")) == "inputs.catalog")
        #expect(c.key(concerning: dir.file("out/history.db.lock")) == "history_store")
        #expect(c.key(concerning: dir.file("out/embeddings.db.backfill.lock")) == "embedding_store")
        #expect(c.key(concerning: dir.file("out/quarantine/.a.jsonl.1.quarantine.tmp")) == "ingest.quarantine_dir")
        // A directory on the way to several paths names each key it holds.
        #expect(c.key(concerning: dir.file("out")) == "history_store, embedding_store, ingest.quarantine_dir, metrics_file")
        #expect(c.key(concerning: dir.file("ckpt")) == nil)
        #expect(c.key(concerning: "/elsewhere") == nil)
    }

    @Test func anUnreadablePipelineFileIsNamedOnce() throws {
        let dir = TempDirectory()
        let missing = dir.file("nope.yaml")
        #expect { try PipelineConfig.load(missing) } throws: { "\($0)" == "\(missing): open failed: No such file or directory" }
        try Files.makeDirectories(dir.file("d.yaml"))
        #expect { try PipelineConfig.load(dir.file("d.yaml")) } throws: { "\($0)" == "\(dir.file("d.yaml")): is a directory, where a file is expected" }
    }

    @Test func aMissingCheckpointNamesTheFileAndKey() throws {
        let dir = TempDirectory()
        let yaml = write(dir)
        #expect(runError(try PipelineConfig.load(yaml)) == "\(yaml): checkpoint: \(dir.file("ck/config.json")): open failed: No such file or directory")
    }

    @Test func aCatalogThatIsADirectoryNamesTheFileAndKey() throws {
        let dir = TempDirectory()
        let yaml = write(dir, checkpoint: "ck", catalog: "cat")
        let ck = dir.file("ck")
        try Files.makeDirectories(ck)
        for name in ["config.json", "model.safetensors", "selftest.json"] {
            _ = dir.write("ck/" + name, try Files.readAll(Goldens.directory("small") + "/" + name))
        }
        try Files.makeDirectories(dir.file("cat"))
        #expect(runError(try PipelineConfig.load(yaml)) == "\(yaml): inputs.catalog: \(dir.file("cat")): not an item catalog: it is a directory")
    }

    @Test func aMissingEventInputNamesTheFileAndKey() throws {
        let dir = TempDirectory()
        let yaml = dir.write("ingest.yaml", text: """
            pipeline: nightly
            history_store: \(dir.file("out/history.db"))
            inputs: {events: [\(dir.file("logs"))]}
            history: {conversion_types: [purchase], min_ts: 0, max_ts: 10}
            """)
        let c = try PipelineConfig.load(yaml)
        do {
            _ = try Ingestor(options: c.ingestOptions).run()
            Issue.record("a missing input must stop the ingest")
        } catch {
            #expect(c.message(for: error) == "\(yaml): inputs.events: \(dir.file("logs")): open failed: No such file or directory")
        }
    }
}
