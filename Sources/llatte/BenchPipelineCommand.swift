#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Model
import Pipeline
import Store
import Support

extension BenchCommand {
    /// The backfill end to end next to its two bounds: encoding alone, and a raw SQLite insert.
    struct PipelineStages: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pipeline",
            abstract: "Time a backfill of a history store's users (bench config, random weights) next to encode-only and a raw SQLite insert of the same rows.")

        @Option(name: .customLong("history-store"), help: "An ingested history store.") var historyStore: String
        @Option(name: .customLong("catalog"), help: "Its item catalog.") var catalog: String
        @Option(name: .customLong("work"), help: "Directory for the embedding stores written.") var work: String
        @Option(name: .customLong("n-max"), help: "n_max of the bench config.") var nMax = 256
        @Option(name: .customLong("threads"), help: "Worker threads.") var threads = 2
        @Option(name: .customLong("window-users"), help: "Users per window (one transaction).") var windowUsers = 512

        func run() throws {
            try Files.makeDirectories(work)
            let cat = try Catalog(path: catalog)
            var config = EncoderBench.config(nMax: nMax)
            config.semanticModel = cat.semanticModel
            let checkpoint = EncoderBench.randomCheckpoint(config, seed: 7)
            let model = PreparedModel(checkpoint: checkpoint, catalog: cat, catalogSHA256: "bench")
            let history = try HistoryStore(path: historyStore, settings: nil)
            let users = try history.candidatesAll()
            print("bench pipeline: \(users.count) users, bench config at n_max \(nMax), \(threads) threads, windows of \(windowUsers) users")

            // (a) Encode only: the same users tokenized in memory first (not timed).
            let tokenizer = try Tokenizer(config: config, store: history, catalog: cat)
            let tokens = try users.map { try tokenizer.tokenize(userID: $0, store: history).tokens }
            let meanN = Double(tokens.reduce(0) { $0 + $1.n }) / Double(max(1, tokens.count))
            let encoder = Encoder(checkpoint: checkpoint)
            var t0 = monotonicSeconds()
            for start in stride(from: 0, to: tokens.count, by: windowUsers) {
                let zs = encoder.encode(Array(tokens[start..<min(tokens.count, start + windowUsers)]), threads: threads)
                for z in zs { _ = try quantize(z, interests: config.interests, interestDim: config.interestDim) }
            }
            let encodeOnly = Double(tokens.count) / (monotonicSeconds() - t0)
            print("encode only:     \(fixed(encodeOnly, 1)) users/s (mean n \(fixed(meanN, 1)) events)")

            // (b) The backfill: select → sequence → encode → quantize → write, into a fresh store.
            let storePath = freshDatabase(work + "/bench-embeddings.db")
            let store = try EmbeddingStore(path: storePath)
            let version = try store.ensureVersion("bench", identity: checkpoint.identity, interests: config.interests, interestDim: config.interestDim)
            var o = EncodeOptions(kind: .backfill, historyStore: historyStore, embeddingStore: storePath, checkpoint: "", catalog: catalog)
            o.threads = threads
            o.windowUsers = windowUsers
            let r = try EncodeStage(options: o).encode(model, version: version, history: history, store: store, runID: 1, from: 0,
                                                       firstBatch: 0, stop: StopFlag(), hooks: RunHooks(), log: { logLine($0) })
            let endToEnd = Double(r.encoded) / r.seconds
            print("backfill:        \(fixed(endToEnd, 1)) users/s, \(fixed(Double(r.counts.written) / r.seconds, 1)) rows written/s "
                  + "(stages busy: select+sequence \(fixed(r.selectSeconds, 2)) s, encode \(fixed(r.encodeSeconds, 2)) s, write \(fixed(r.writeSeconds, 2)) s of \(fixed(r.seconds, 2)) s)")
            let writeRate = Double(r.counts.written) / r.writeSeconds
            print("write stage:     \(fixed(writeRate, 1)) rows/s")

            // (c) A raw insert of the same rows: prepared statement, sorted keys, one transaction per window, same pragmas.
            let rows = try store.rows(version: "bench")
            let rawPath = freshDatabase(work + "/bench-raw.db")
            let raw = try Database(path: rawPath)
            try raw.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            try raw.execute("""
                CREATE TABLE t(user_id INTEGER PRIMARY KEY, codes BLOB NOT NULL, scales BLOB NOT NULL, n_events INTEGER NOT NULL,
                    as_of INTEGER, history_version INTEGER NOT NULL, computed_at INTEGER NOT NULL, run_id INTEGER NOT NULL)
                """)
            let ins = try raw.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            let blobs = rows.map { r in (r.codes.map { UInt8(bitPattern: $0) }, r.scales.flatMap { s in withUnsafeBytes(of: s.bitPattern.littleEndian) { Array($0) } }) }
            t0 = monotonicSeconds()
            for start in stride(from: 0, to: rows.count, by: windowUsers) {
                try raw.transaction {
                    for i in start..<min(rows.count, start + windowUsers) {
                        let r = rows[i]
                        try ins.run([.int(Int64(bitPattern: r.userID)), .blob(blobs[i].0), .blob(blobs[i].1), .int(Int64(r.nEvents)),
                                     r.asOf.map { .int($0) } ?? .null, .int(r.historyVersion), .int(r.computedAt), .int(r.runID)])
                    }
                }
            }
            let rawRate = Double(rows.count) / (monotonicSeconds() - t0)
            print("raw insert:      \(fixed(rawRate, 1)) rows/s")

            // (d) The write stage alone: the same rows through the store's upsert (tombstone and
            // failure checks, the upsert rule, the progress row), same windows, nothing else running.
            let alonePath = freshDatabase(work + "/bench-write.db")
            let alone = try EmbeddingStore(path: alonePath)
            let av = try alone.ensureVersion("bench", identity: checkpoint.identity, interests: config.interests, interestDim: config.interestDim)
            t0 = monotonicSeconds()
            for (batch, start) in stride(from: 0, to: rows.count, by: windowUsers).enumerated() {
                let window = Array(rows[start..<min(rows.count, start + windowUsers)])
                try alone.database.transaction {
                    let c = try alone.upsert(window, into: av)
                    try alone.recordBatch(runID: 1, batch: batch, nextUser: window.last!.userID &+ 1, selected: window.count, written: c.written, failed: 0)
                }
            }
            let aloneRate = Double(rows.count) / (monotonicSeconds() - t0)
            print("write stage alone: \(fixed(aloneRate, 1)) rows/s")
            print("ratios: write stage alone / raw insert = \(fixed(aloneRate / rawRate, 2)) (target ≥ 0.50; in the run, sharing the cores with encoding: \(fixed(writeRate / rawRate, 2))); "
                  + "backfill / encode only = \(fixed(endToEnd / encodeOnly, 2)) (target ≥ 0.85)")
        }

        /// `path`, with any SQLite database there (and its WAL and shared-memory files) removed.
        func freshDatabase(_ path: String) -> String {
            for suffix in ["", "-wal", "-shm"] { try? Files.remove(path + suffix) }
            return path
        }
    }
}
