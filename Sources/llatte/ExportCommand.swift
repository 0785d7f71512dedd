#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Pipeline
import Store
import Support

extension ExportFormat: ExpressibleByArgument {}

/// `llatte export`: a model version's embeddings out of the store, for a training job or a serving store.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model version's embeddings to .npy files or JSON lines (docs/store.md, Exporting).",
        discussion: """
            Rows are read from one snapshot of the store (a run writing meanwhile is not seen half-way) and \
            written in ascending unsigned user id order, streaming. npy: user_ids.npy, codes.npy and scales.npy \
            (or embeddings.npy with --dequantize), as_of.npy (-1: no events), history_version.npy, n_events.npy; \
            jsonl: embeddings.jsonl; both: meta.json, written last. Files are renamed into place at the end. \
            Exit codes: 0 done, 2 some users of --users-file have no row (the others were exported; meta.json and \
            stderr list them), 1 error.
            """)

    @Option(name: .customLong("embedding-store"), help: "Path of the embedding store (opened read-only).") var embeddingStore: String
    @Option(name: .customLong("model-version"), help: "Model version (default: the active one).") var modelVersion: String?
    @Option(name: .customLong("users-file"), help: "Only these users: one unsigned decimal id a line; blank lines and # comments skipped.")
    var usersFile: String?
    @Option(name: .customLong("out"), help: "Output directory (created if missing).") var out: String
    @Option(name: .customLong("format"), help: "npy or jsonl.") var format: ExportFormat
    @Flag(name: .customLong("dequantize"), help: "Write code × scale as float32 instead of codes and scales.") var dequantize = false

    func run() throws {
        var request = ExportRequest(directory: out, format: format, exportedAt: iso8601UTC(wallClockSeconds()))
        request.version = modelVersion
        request.usersFile = usersFile
        request.dequantize = dequantize
        request.hooks = ExportCommand.hooksFromEnvironment()
        let summary: ExportSummary
        do {
            summary = try EmbeddingStore(readingAt: embeddingStore).export(request)
        } catch {
            throw exitWith(.failure, "llatte export: \(error)")
        }
        print("export: model_version=\(summary.version.version) format=\(format.rawValue)\(dequantize ? " dequantized" : "") rows=\(summary.rows)"
              + (summary.requested.map { " requested=\($0) missing=\(summary.missing.count)" } ?? "")
              + " seconds=\(fixed(summary.seconds, 3)) rows/s=\(fixed(Double(summary.rows) / max(summary.seconds, 1e-9), 0)) out=\(out)")
        if !summary.missing.isEmpty {
            let shown = summary.missing.prefix(20).map(String.init).joined(separator: ", ")
            throw exitWith(.notFound, "llatte export: \(summary.missing.count) of \(summary.requested ?? 0) users in \(usersFile ?? "") have no row in "
                           + "model version \(summary.version.version): \(shown)\(summary.missing.count > 20 ? ", … (all in meta.json)" : "")")
        }
    }

    /// The export's test hook (`ExportHooks`), from `LLATTE_TEST_*` variables.
    static func hooksFromEnvironment() -> ExportHooks {
        func env(_ k: String) -> String? { getenv(k).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        var h = ExportHooks()
        h.pauseAfterRows = env("LLATTE_TEST_EXPORT_PAUSE_AFTER").flatMap { Int($0) }
        h.holdWhileExists = env("LLATTE_TEST_HOLD")
        h.markerDirectory = env("LLATTE_TEST_MARKERS")
        return h
    }
}
