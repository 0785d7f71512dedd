import ArgumentParser
import Pipeline
import Store
import Support

/// `llatte run pipelines/<name>.yaml`: one scheduled job (backfill, nightly or refresh).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline file (pipelines/backfill.yaml, nightly.yaml, refresh.yaml).",
        discussion: """
            Stages: ingest → select → sequence → encode → quantize → write. A file without the \
            embedding_store/checkpoint keys stops after ingest. Keys are documented in docs/pipelines.md.
            Exit codes: 0 ok, 1 failure, 3 some files or users rejected, 4 store locked.
            """)

    @Argument(help: "Pipeline YAML file.")
    var pipeline: String

    @Flag(name: .customLong("quiet"), help: "Print only the summary line.")
    var quiet = false

    func run() throws {
        let config: PipelineConfig
        do { config = try PipelineConfig.load(pipeline) } catch {
            throw exitWith(.failure, "llatte run: \(error)")
        }
        let log: (String) -> Void = quiet ? { (_: String) in } : { logLine($0) }
        if let catalogPath = config.catalog {
            do {
                let c = try Catalog(path: catalogPath)
                log("catalog \(catalogPath): \(try c.count()) items from semantic model \(c.semanticModel) (d_sem \(c.dSem))")
            } catch {
                throw exitWith(.failure, "llatte run: \(error)")
            }
        }
        let report: IngestReport
        do { report = try Ingestor(options: config.ingestOptions).run(log: log) } catch let e {
            switch e {
            case .locked: throw exitWith(.locked, "llatte run: \(e)")
            default: throw exitWith(.failure, "llatte run: \(e)")
            }
        }
        print(summaryLine(report))
        guard let encodeOptions = config.encodeOptions else {
            log("\(config.kind.rawValue): no embedding_store/checkpoint in \(pipeline): stopped after the ingest stage")
            if report.rejectedFiles > 0 { throw exitWith(.partialFailure) }
            return
        }
        let encoded: EncodeReport
        do { encoded = try EncodeStage(options: encodeOptions).run(log: log) } catch let e {
            switch e {
            case .locked: throw exitWith(.locked, "llatte run: \(e)")
            default: throw exitWith(.failure, "llatte run: \(e)")
            }
        }
        print(encodeSummaryLine(encoded))
        if report.rejectedFiles > 0 || encoded.failed > 0 { throw exitWith(.partialFailure) }
    }
}

func encodeSummaryLine(_ r: EncodeReport) -> String {
    "encode: model_version=\(r.modelVersion) status=\(r.status.rawValue) users considered=\(r.considered) selected=\(r.selected) "
        + "encoded=\(r.encoded) failed=\(r.failed) rows written=\(r.counts.written) kept_newer=\(r.counts.keptNewer) "
        + "forgotten=\(r.counts.tombstoned) windows=\(r.windows) seconds=\(fixed(r.seconds, 2)) "
        + "users/s=\(fixed(Double(r.encoded) / max(r.seconds, 1e-9), 1))"
}
