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
            Stages: ingest → select → sequence → encode → quantize → write. This version runs the ingest \
            stage (event logs and user features into the history store) and checks the item catalog; the \
            encode and write stages arrive with the encoder. Keys are documented in docs/pipelines.md.
            Exit codes: 0 ok, 1 failure, 3 some files rejected, 4 store locked.
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
        log("\(config.kind.rawValue): stopped after the ingest stage (this build has no encoder yet: select, encode and write come with it)")
        if report.rejectedFiles > 0 { throw exitWith(.partialFailure) }
    }
}
