import Foundation
import Model
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// A committed golden: a checkpoint with the reference's expected embeddings for raw events.
struct Golden {
    let name: String
    let checkpoint: Checkpoint
    let cases: CaseSet
    let casesPath: String

    static let names = ["small", "shapes", "tiny4096", "bf16"]

    static func directory(_ name: String) -> String { Goldens.directory(name) }

    init(_ name: String) throws {
        self.name = name
        checkpoint = try Checkpoint(directory: Golden.directory(name))
        casesPath = Golden.directory(name) + "/selftest.json"
        cases = try CaseSet.load(casesPath)
    }
}

/// Parity with the PyTorch reference (docs/checkpoint.md) on goldens written from raw events.
@Suite struct GoldenParityTests {
    @Test(arguments: Golden.names)
    func rawEventsInMemoryMatchTheReference(name: String) throws {
        let g = try Golden(name)
        let report = try SelfTest.run(g.checkpoint, cases: g.cases, file: g.casesPath, threads: 2)
        #expect(report.users == g.cases.expected.count && report.users >= 5)
        #expect(report.failures.isEmpty, "\(name): \(report.failures.prefix(5))")
        #expect(report.worstRelativeError < Parity.relativeTolerance)
    }

    @Test(arguments: Golden.names)
    func plainKernelTwinsMatchTheReferenceToo(name: String) throws {
        let g = try Golden(name)
        let report = try SelfTest.run(g.checkpoint, cases: g.cases, file: g.casesPath, plainKernels: true)
        #expect(report.failures.isEmpty, "\(name): \(report.failures.prefix(5))")
    }

    /// The production path: the lines ingested as a log file into a history store, features into
    /// its snapshot, catalog rows into a catalog file; histories read back, tokenized, encoded.
    @Test(arguments: ["small", "bf16", "tiny4096"])
    func rawEventsThroughTheHistoryStoreMatchTheReference(name: String) throws {
        let g = try Golden(name)
        let dir = TempDirectory()
        let log = dir.writeLines("logs/cases.jsonl.lz4", g.cases.eventLines.map { String(decoding: $0, as: UTF8.self) }, lz4: true)
        let features = dir.writeLines("users.jsonl", g.cases.featureLines.map { String(decoding: $0, as: UTF8.self) })
        var o = IngestOptions(historyStore: dir.file("history.db"),
                              settings: HistorySettings(conversionTypes: ["purchase"], minTs: 0, maxTs: 1 << 40, retentionCap: 8192),
                              inputs: [log], quarantineDirectory: dir.file("q"))
        o.featureFiles = [features]
        let ingest = try Ingestor(options: o).run()
        #expect(ingest.quarantinedRecords == 0 && ingest.ingestedFiles == 1)
        let writer = try CatalogWriter(path: dir.file("catalog.db"), semanticModel: g.cases.semanticModel, dSem: g.cases.dSem)
        try writer.add(g.cases.catalog.map { CatalogItem(itemID: $0.key, text: nil, vector: $0.value) })
        try writer.close()

        let store = try HistoryStore(path: dir.file("history.db"), settings: nil)
        let tokenizer = try Tokenizer(config: g.checkpoint.config, store: store, catalog: try Catalog(path: dir.file("catalog.db")))
        let users = try g.cases.expected.map { try tokenizer.tokenize(userID: $0.userID, store: store).tokens }
        let zs = Encoder(checkpoint: g.checkpoint).encode(users, threads: 2)
        let report = SelfTest.compare(g.cases.expected, users: users, zs: zs, config: g.checkpoint.config)
        #expect(report.failures.isEmpty, "\(name): \(report.failures.prefix(5))")
    }
}

/// Determinism (docs/pipelines.md): a user's embedding does not depend on the batch or the threads.
@Suite struct BatchInvarianceTests {
    @Test(arguments: ["small", "shapes"])
    func aUserIsBitIdenticalAloneInAMixedBatchAndOnOneOrTwoThreads(name: String) throws {
        let g = try Golden(name)
        let h = try CaseHistories(g.cases, file: g.casesPath)
        let vectors = InMemoryVectors(semanticModel: g.cases.semanticModel, dSem: g.cases.dSem, rows: g.cases.catalog)
        let tok = Tokenizer(config: g.checkpoint.config, vectors: vectors, typeBytes: { h.parser.types.bytes($0) },
                            surfaceBytes: { h.parser.surfaces.bytes($0) })
        let users = try g.cases.expected.map { try tok.tokenize(userID: $0.userID, events: h.events[$0.userID] ?? [], features: h.features[$0.userID]) }
        #expect(users.contains { $0.n == 0 } && Set(users.map(\.n)).count > 4)
        let enc = Encoder(checkpoint: g.checkpoint)
        let batch1 = enc.encode(users, threads: 1)
        let batch2 = enc.encode(users.reversed(), threads: 2).reversed() as [[Float]]
        for (i, u) in users.enumerated() {
            let alone = enc.encode([u], threads: 1)[0]
            let pair = enc.encode([users[(i + 3) % users.count], u], threads: 2)[1]
            let bits = alone.map(\.bitPattern)
            #expect(batch1[i].map(\.bitPattern) == bits, "user \(u.userID) (n \(u.n)) in a batch on 1 thread")
            #expect(batch2[i].map(\.bitPattern) == bits, "user \(u.userID) (n \(u.n)) in a reversed batch on 2 threads")
            #expect(pair.map(\.bitPattern) == bits, "user \(u.userID) (n \(u.n)) beside another user")
        }
    }
}
