import ArgumentParser
import Foundation
import Dispatch
import Pipeline
import Store
import Support
#if canImport(Glibc)
import Glibc
#endif

/// `llatte run pipelines/<name>.yaml`: one scheduled job (backfill, nightly or refresh).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline file (pipelines/backfill.yaml, nightly.yaml, refresh.yaml).",
        discussion: """
            Stages: ingest → select → sequence → encode → quantize → write. A file without the \
            embedding_store/checkpoint keys stops after ingest. A backfill that completes promotes its \
            version only if the guard passes (docs/operations.md); otherwise it says why and exits 3. \
            Nightly and refresh without a checkpoint key follow the active version. An interrupted or killed run is resumed \
            by the next run of the same pipeline (same inputs and checkpoint), unless --fresh. \
            SIGINT/SIGTERM stop at the next batch or file boundary (exit 5). Keys are documented in docs/pipelines.md.
            Exit codes: 0 ok, 1 failure, 3 some files or users rejected or the version not promoted, 4 locked, 5 interrupted (resumable).
            """)

    @Argument(help: "Pipeline YAML file.")
    var pipeline: String

    @Flag(name: .customLong("quiet"), help: "Print only the summary lines.")
    var quiet = false

    @Flag(name: .customLong("fresh"), help: "Abandon an interrupted run of this pipeline instead of resuming it.")
    var fresh = false

    @Option(name: .customLong("shard"), help: "Run shard k of n (0-based, k/n): users with fmix(user_id) mod n == k; `scheduler`: k and n from the Slurm array or Kubernetes Indexed Job (docs/scale-out.md).")
    var shard: String?

    @Flag(name: .customLong("check"), help: "Read and check the pipeline file (environment expanded, --shard applied), print the paths it resolves to, and exit without running.")
    var check = false

    @Flag(name: .customLong("promote"), help: "Backfill only: promote the version when it completes and the guard passes, whatever the file's promote.mode.")
    var promote = false

    @Flag(name: .customLong("follow"), help: "Refresh only: keep running, refreshing converters as new log files are renamed into the input directories.")
    var follow = false

    @Option(name: .customLong("poll-interval"), help: "With --follow: seconds between looks at the input directories (default 2).")
    var pollIntervalOption: Double?

    var pollInterval: Double { pollIntervalOption ?? 2 }

    func validate() throws {
        if pollIntervalOption != nil && !follow { throw ValidationError("--poll-interval applies with --follow only") }
        if let p = pollIntervalOption, !(p > 0 && p.isFinite) { throw ValidationError("--poll-interval must be a positive number of seconds") }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        var parsedShard = Shard.all
        if shard == "scheduler" {
            do { parsedShard = try Shard.fromScheduler(environment) } catch {
                throw exitWith(.usage, "llatte run: --shard scheduler: \(error)")
            }
        } else if let shard {
            guard let s = Shard(shard) else { throw exitWith(.usage, "llatte run: --shard \(shard): expected k/n with 0 ≤ k < n, or scheduler") }
            parsedShard = s
        }
        let config: PipelineConfig
        do { config = try PipelineConfig.load(pipeline, environment: parsedShard.expansionEnvironment(environment)) } catch {
            throw exitWith(.failure, "llatte run: \(error)")
        }
        if check {
            print("pipeline: \(config.kind.rawValue)")
            print("shard: \(parsedShard)")
            for (key, path) in config.pathKeys {
                print("\(key): \(key == "metrics_file" ? Metrics.path(config: config, shard: parsedShard) ?? path : path)")
            }
            return
        }
        let quiet = self.quiet
        let log: @Sendable (String) -> Void = { if !quiet { logLine($0) } }
        let signals = StopSignals(command: "llatte run")
        let stop = signals.flag
        guard var encode = config.encodeOptions else {
            try withExtendedLifetime(signals) { try ingestOnly(config, shard: parsedShard, stop: stop, log: log) }
            return
        }
        encode.shard = parsedShard
        if promote {
            guard config.kind == .backfill else { throw exitWith(.usage, "llatte run: --promote applies to backfill pipelines") }
            encode.promote = .auto
            encode.promoteRequested = true
        }
        var options = PipelineRunOptions(ingest: config.ingestOptions, encode: encode)
        options.ingest?.shard = parsedShard
        options.fresh = fresh
        options.hooks = RunHooks.fromEnvironment()

        defer { withExtendedLifetime(signals) {} }

        if follow {
            guard config.kind == .refresh else { throw exitWith(.usage, "llatte run: --follow applies to refresh pipelines") }
            try followLoop(config, options, parsedShard, stop: stop, log: log)
            return
        }
        let report = try runOnce(config, options, parsedShard, stop: stop, log: log)
        if let ingest = report.ingest { print(summaryLine(ingest)) }
        print(encodeSummaryLine(report))
        if let p = report.promotion { print(p.line(report.encode.modelVersion)) }
        if report.exitStatus != .success { throw exitWith(report.exitStatus) }
    }

    /// One pipeline run with progress display and metrics.
    private func runOnce(_ config: PipelineConfig, _ options: PipelineRunOptions, _ shard: Shard, stop: StopFlag,
                         log: @escaping @Sendable (String) -> Void) throws -> PipelineRunReport {
        let display = ProgressDisplay(label: config.kind.rawValue, quiet: quiet)
        let started = wallClockSeconds()
        let report: PipelineRunReport
        do {
            report = try PipelineRun(options: options).run(stop: stop, progress: { display.update($0) },
                                                           log: { line in display.finish(); log(line) })
        } catch let e {
            display.finish()
            Metrics.write(config: config, shard: shard, end: e.isLocked ? .locked : .failed, started: started, log: log)
            throw exitWith(e.exitStatus, "llatte run: \(config.message(for: e))")
        }
        display.finish()
        Metrics.write(config: config, shard: shard, end: .finished(report), started: started, log: log)
        return report
    }

    /// `--follow`: refresh now, then each time new log files appear (a file counts once it has its
    /// final name: `*.tmp` and dotfiles are ignored, so writers rename into place), until a signal.
    /// Reports, per cycle, the latency from noticing the files to their converters' stored rows.
    private func followLoop(_ config: PipelineConfig, _ options: PipelineRunOptions, _ shard: Shard, stop: StopFlag,
                            log: @escaping @Sendable (String) -> Void) throws {
        var seen = Set((try? Ingestor.logFiles(config.eventInputs)) ?? [])
        var report = try runOnce(config, options, shard, stop: stop, log: log)
        print(encodeSummaryLine(report))
        fflush(nil)
        log("refresh --follow: watching \(config.eventInputs.joined(separator: ", ")) every \(pollInterval) s")
        while !stop.isRaised {
            usleep(UInt32(max(0.01, pollInterval) * 1e6))
            guard let files = try? Ingestor.logFiles(config.eventInputs) else { continue }
            let arrived = Set(files).subtracting(seen)
            if arrived.isEmpty { continue }
            let noticed = monotonicSeconds()
            // The newest file's last write (its content was complete then; the rename keeps it).
            let written = arrived.compactMap { try? Files.status($0).mtimeNs }.max().map { Double($0) / 1e9 }
            report = try runOnce(config, options, shard, stop: stop, log: log)
            let fromNotice = monotonicSeconds() - noticed
            let fromWrite = written.map { wallClockSecondsPrecise() - $0 }
            seen.formUnion(arrived)
            print(encodeSummaryLine(report))
            print("follow: files=\(arrived.count) refreshed=\(report.encode.counts.written) conversion_to_embedding_seconds=\(fixed(fromWrite ?? fromNotice, 3)) "
                  + "(from file written; \(fixed(fromNotice, 3)) from noticed)")
            fflush(nil)   // a long-running follower reports each cycle as it ends, also into a pipe or file
            if report.status == .interrupted { throw exitWith(.interrupted) }
        }
    }

    private func ingestOnly(_ config: PipelineConfig, shard: Shard, stop: StopFlag, log: (String) -> Void) throws {
        if let catalogPath = config.catalog {
            do {
                let c = try Catalog(path: catalogPath)
                log("catalog \(catalogPath): \(try c.count()) items from semantic model \(c.semanticModel) (d_sem \(c.dSem))")
            } catch {
                throw exitWith(.failure, "llatte run: \(config.message(for: error))")
            }
        }
        var options = config.ingestOptions
        options.shard = shard
        options.hooks = RunHooks.fromEnvironment()
        let report: IngestReport
        do { report = try Ingestor(options: options).run(stop: stop, log: log) } catch let e {
            switch e {
            case .locked: throw exitWith(.locked, "llatte run: \(config.message(for: e))")
            default: throw exitWith(.failure, "llatte run: \(config.message(for: e))")
            }
        }
        print(summaryLine(report))
        if report.interrupted { throw exitWith(.interrupted) }
        log("\(config.kind.rawValue): no embedding_store/checkpoint in \(pipeline): stopped after the ingest stage")
        if report.rejectedFiles > 0 { throw exitWith(.partialFailure) }
        if options.requireNewFiles && report.ingestedFiles == 0 {
            throw exitWith(.partialFailure, "llatte run: no new event log file arrived (ingest.require_new_files)")
        }
    }
}

func encodeSummaryLine(_ r: PipelineRunReport) -> String {
    let e = r.encode
    return "encode: run=\(r.runID)\(r.resumed ? " (resumed)" : "") status=\(r.status.rawValue) model_version=\(e.modelVersion) "
        + "version_status=\(e.status.rawValue) users considered=\(e.considered) selected=\(e.selected) encoded=\(e.encoded) "
        + "failed=\(e.failed) rows written=\(e.counts.written) kept_newer=\(e.counts.keptNewer) forgotten=\(e.counts.tombstoned) "
        + "batches=\(e.windows) seconds=\(fixed(e.seconds, 2)) users/s=\(fixed(Double(e.encoded) / max(e.seconds, 1e-9), 1))"
        + (e.drift.rows == 0 ? "" : " replaced=\(e.drift.rows) cos_old_new p1=\(fixed(e.drift.percentile(1)!, 4)) p50=\(fixed(e.drift.percentile(50)!, 4))")
}
