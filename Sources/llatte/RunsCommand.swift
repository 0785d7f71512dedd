import ArgumentParser
import Pipeline
import Store
import Support

/// `llatte runs`: the run history of an embedding store.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List the latest pipeline runs of an embedding store, newest first.",
        discussion: """
            One line per run: id, pipeline and shard, start and end (ISO-8601 UTC), busy seconds, status (running, \
            interrupted, ok, failed, locked), exit code, users encoded / rows written / users failed, input files \
            ingested / skipped / rejected, records quarantined, model version, llatte version, checkpoint identity, \
            CPU kernel, and the message of a failed or unpromoted run. --json prints one JSON object per line \
            (times as unix seconds). Records older than the nightly's runs.keep_days are pruned.
            """)

    @Option(name: .customLong("embedding-store"), help: "Path of the embedding store.") var embeddingStore: String
    @Option(name: .customLong("pipeline"), help: "Only runs of this pipeline (backfill, nightly, refresh).") var pipeline: String?
    @Option(name: .customLong("last"), help: "How many runs.") var last = 20
    @Flag(name: .customLong("json"), help: "One JSON object per line.") var json = false

    func validate() throws {
        if last < 0 { throw ValidationError("--last must be 0 or more") }
        if let pipeline, PipelineKind(rawValue: pipeline) == nil {
            throw ValidationError("--pipeline must be one of \(PipelineKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        let runs: [RunSummary]
        do { runs = try EmbeddingStore(readingAt: embeddingStore).runHistory(pipeline: pipeline, last: last) } catch {
            throw exitWith(.failure, "llatte runs: \(error)")
        }
        for r in runs { print(json ? RunsCommand.jsonLine(r) : RunsCommand.text(r)) }
    }

    static func text(_ r: RunSummary) -> String {
        let end = r.finished.map(iso8601UTC) ?? "-"
        return "run \(r.runID)  \(r.pipeline) \(r.shard)  \(iso8601UTC(r.started)) → \(end)  \(fixed(r.seconds, 1)) s  \(r.status)"
            + "  exit \(r.exitCode.map(String.init) ?? "-")  users \(r.encoded) encoded, \(r.written) written, \(r.failed) failed"
            + "  files \(r.filesIngested) ingested, \(r.filesSkipped) skipped, \(r.filesRejected) rejected, \(r.quarantined) records quarantined"
            + "  model \(r.modelVersion.isEmpty ? "-" : r.modelVersion)  llatte \(r.llatteVersion.isEmpty ? "-" : r.llatteVersion)"
            + "  checkpoint \(r.checkpointIdentity.isEmpty ? "-" : String(r.checkpointIdentity.prefix(16)) + "…")  kernel \(r.cpuKernel.isEmpty ? "-" : r.cpuKernel)"
            + (r.message.map { "  (\($0))" } ?? "")
    }

    static func jsonLine(_ r: RunSummary) -> String {
        var w = JSONWriter()
        w.raw("{")
        w.key("run_id", first: true); w.raw(String(r.runID))
        w.key("pipeline"); w.string(r.pipeline)
        w.key("shard"); w.string(r.shard)
        w.key("status"); w.string(r.status)
        w.key("exit_code"); w.raw(r.exitCode.map(String.init) ?? "null")
        w.key("started"); w.raw(String(r.started))
        w.key("finished"); w.raw(r.finished.map(String.init) ?? "null")
        w.key("seconds"); w.raw(String(r.seconds))
        w.key("users_encoded"); w.raw(String(r.encoded))
        w.key("rows_written"); w.raw(String(r.written))
        w.key("users_failed"); w.raw(String(r.failed))
        w.key("files_ingested"); w.raw(String(r.filesIngested))
        w.key("files_skipped"); w.raw(String(r.filesSkipped))
        w.key("files_rejected"); w.raw(String(r.filesRejected))
        w.key("records_quarantined"); w.raw(String(r.quarantined))
        w.key("model_version"); w.string(r.modelVersion)
        w.key("llatte_version"); w.string(r.llatteVersion)
        w.key("checkpoint_identity"); w.string(r.checkpointIdentity)
        w.key("cpu_kernel"); w.string(r.cpuKernel)
        w.key("message"); if let m = r.message { w.string(m) } else { w.raw("null") }
        w.raw("}")
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
