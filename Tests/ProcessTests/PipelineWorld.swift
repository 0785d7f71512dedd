import Foundation
import Store
import Support
import TestSupport

/// A small deterministic world for process-level pipeline tests: event logs, features, a catalog
/// for the `small` golden checkpoint, and backfill/refresh/nightly pipeline files.
struct PipelineWorld {
    let dir: TempDirectory
    let users: Int

    init(users: Int = 40, windowUsers: Int = 4, days: Int = 2) throws {
        dir = TempDirectory()
        self.users = users
        let items: [UInt64] = (0..<12).map { 1000 + UInt64($0) }
        let w = try CatalogWriter(path: dir.file("catalog.db"), semanticModel: "golden-sem-v1", dSem: 8)
        try w.add(items.map { id in CatalogItem(itemID: id, text: nil, vector: (0..<8).map { Float($0 % 3) / 4 - Float(id % 7) / 9 }) })
        try w.close()
        for day in 0..<days { writeDay(day) }
        dir.writeLines("users.jsonl", (0..<users).filter { $0 % 3 != 0 }.map { "{\"user_id\":\(PipelineWorld.userID($0)),\"country\":\"BR\",\"log_account_age_days\":\($0 % 9).5}" })
        for kind in ["backfill", "refresh", "nightly"] { writePipeline(kind, out: "out", windowUsers: windowUsers) }
    }

    /// A pipeline file whose stores live under `out` (shards get their own). `checkpoint` nil
    /// leaves the key out (nightly and refresh then follow the active version).
    func writePipeline(_ kind: String, out: String, windowUsers: Int = 4, name: String? = nil,
                       checkpoint: String? = Goldens.directory("small"), events: String? = nil, historyStore: String? = nil,
                       features: Bool = true, promote: String? = nil, ingestOnly: Bool = false, batchEvents: Int? = nil) {
            dir.write("\(name ?? kind).yaml", text: """
                pipeline: \(kind)
                history_store: \(historyStore ?? dir.file("\(out)/history.db"))
                \(ingestOnly ? "" : "embedding_store: \(dir.file("\(out)/embeddings.db"))")
                \(ingestOnly ? "" : checkpoint.map { "checkpoint: \($0)" } ?? "")
                \(promote.map { "promote: \($0)" } ?? "")
                inputs:
                  events: [\(events ?? dir.file("logs"))]
                  \(features ? "features: [\(dir.file("users.jsonl"))]" : "")
                  catalog: \(dir.file("catalog.db"))
                history:
                  conversion_types: [purchase]
                  min_ts: 0
                  max_ts: 4000000000
                  retention_cap: 500
                ingest:
                  lock_timeout: 0
                  \(batchEvents.map { "batch_events: \($0)" } ?? "")
                  quarantine_dir: \(dir.file("\(out)/quarantine"))
                \(ingestOnly ? "" : "encode:\n  threads: 2\n  window_users: \(windowUsers)")
                """)
    }

    /// User ids spread over the whole unsigned range, some above 2^63.
    static func userID(_ i: Int) -> UInt64 { i % 4 == 3 ? (1 << 63) + UInt64(i) * 7919 : 10_000 + UInt64(i) * 37 }

    /// One day's log: every user a few events, some purchases.
    func writeDay(_ day: Int, purchasesFor: Set<Int> = []) {
        var lines: [String] = []
        for u in 0..<users {
            let n = 1 + (u * 7 + day * 3) % 9
            for k in 0..<n {
                let ts = 1_790_000_000 + Int64(day) * 86_400 + Int64(u * 60 + k * 5)
                let type = purchasesFor.contains(u) && k == n - 1 ? "purchase" : (k % 3 == 0 ? "impression" : "click")
                lines.append(eventLine(user: PipelineWorld.userID(u), id: "\(day * 1000 + k)", ts: ts, item: 1000 + UInt64((u + k) % 14), type: type))
            }
        }
        dir.writeLines("logs/day\(day).jsonl", lines)
    }

    func run(_ kind: String, env: [String: String] = [:], extra: [String] = [], tag: String = "run") throws -> ChildProcess {
        try ChildProcess(ChildProcess.llatte, ["run", dir.file("\(kind).yaml")] + extra, environment: env,
                         outputPrefix: dir.file("\(tag)-\(UUID().uuidString.prefix(8))"))
    }

    func store() throws -> EmbeddingStore { try EmbeddingStore(path: dir.file("out/embeddings.db"), create: false) }
    func rows() throws -> [EmbeddingRow] { try store().rows(version: "golden-small") }
}

/// Whether two row sets hold the same content (docs/pipelines.md: user_id, codes, scales, n_events, as_of, history_version).
func sameRows(_ a: [EmbeddingRow], _ b: [EmbeddingRow]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.sameContent(as: $1) }
}
