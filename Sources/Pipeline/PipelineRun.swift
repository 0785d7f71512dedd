import Model
import Store
import Support
import Tensor

/// What one pipeline run (`llatte run`) is asked to do.
public struct PipelineRunOptions: Sendable {
    /// The ingest stage; nil to encode what the history store already holds.
    public var ingest: IngestOptions?
    public var encode: EncodeOptions
    /// Abandon an interrupted run instead of resuming it.
    public var fresh = false
    public var hooks = RunHooks()

    public init(ingest: IngestOptions?, encode: EncodeOptions) {
        self.ingest = ingest
        self.encode = encode
    }
}

/// What a pipeline run did.
public struct PipelineRunReport: Sendable {
    public var ingest: IngestReport?
    public var encode = EncodeReport()
    public var runID: Int64 = 0
    /// This run continued an interrupted one.
    public var resumed = false
    public var status: RunRecord.Status = .running
    /// Totals over the whole run, including batches committed before a resume.
    public var selected = 0, written = 0, failed = 0
    /// A backfill's promotion decision (nil for nightly and refresh).
    public var promotion: PromotionOutcome?
    /// Busy seconds over the whole run (every segment of a resumed one).
    public var seconds = 0.0
    /// The active version's coverage and embedding age when the run ended (nil: none active).
    public var health: ServingHealth?
    /// Users with events or features in the history store (of the run's shard) at its end.
    public var usersWithHistory: Int64 = 0
    /// `ingest.require_new_files` was set and the run ingested no new log file.
    public var missingNewFiles = false

    /// The documented exit code of a run that returned: interrupted (5), partial failure (3: a file
    /// or user rejected, or a backfill's promotion refused), else success.
    public var exitStatus: ExitStatus {
        if status == .interrupted { return .interrupted }
        if (ingest?.rejectedFiles ?? 0) > 0 || failed > 0 || missingNewFiles { return .partialFailure }
        if case .refused = promotion { return .partialFailure }
        return .success
    }
}

/// What a completed backfill did with its version.
public enum PromotionOutcome: Sendable {
    /// The guard passed and the version is active now.
    case promoted
    /// The version was already the active one (a backfill rerun).
    case alreadyActive
    /// Not promoted, by design: `promote: never`, or one shard of a sharded backfill.
    case held(String)
    /// The guard failed: the version stays `ready` (or `building`); the run exits 3.
    case refused(PromotionCheck)

    /// One line for the operator.
    public func line(_ version: String) -> String {
        switch self {
        case .promoted: return "promote: model version \(version) is active"
        case .alreadyActive: return "promote: model version \(version) was already active"
        case let .held(why): return "promote: model version \(version) not promoted: \(why)"
        case let .refused(c): return "promote: model version \(version) not promoted: " + c.problems.joined(separator: "; ")
        }
    }
}

/// Why a pipeline run stopped before doing its work.
public enum PipelineRunError: PathError {
    case ingest(IngestError)
    case encode(EncodeError)

    public var description: String {
        switch self {
        case let .ingest(e): return e.description
        case let .encode(e): return e.description
        }
    }

    public var concernedPath: String? {
        switch self {
        case let .ingest(e): return e.concernedPath
        case let .encode(e): return e.concernedPath
        }
    }

    /// The documented exit code of a run that threw.
    public var exitStatus: ExitStatus { isLocked ? .locked : .failure }

    /// Another live process holds a lock this run needs (exit code 4); a lock file that cannot
    /// be opened or locked is a failure (exit code 1), not "locked".
    public var isLocked: Bool {
        switch self {
        case let .ingest(.locked(e)), let .encode(.locked(e)): return e.isHeld
        default: return false
        }
    }
}

/// One scheduled job end to end (docs/pipelines.md): check the checkpoint and catalog, take
/// the pipeline's lock, resume an interrupted run (same inputs and checkpoint only) or start one,
/// ingest, then select → sequence → encode → quantize → write in committed batches, and mark the
/// run `ok` last.
public struct PipelineRun {
    public let options: PipelineRunOptions

    public init(options: PipelineRunOptions) { self.options = options }

    /// Runs the job; a run that fails is recorded as `failed` (or `locked`) with its error and exit
    /// code in an existing embedding store before the error is thrown.
    public func run(stop: StopFlag = StopFlag(), progress: @escaping @Sendable (EncodeProgress) -> Void = { _ in },
                    log: @escaping @Sendable (String) -> Void = { _ in }) throws(PipelineRunError) -> PipelineRunReport {
        let started = monotonicSeconds(), startedWall = wallClockSeconds()
        var begun: (store: EmbeddingStore, runID: Int64)?
        do {
            let report = try execute(started: started, startedWall: startedWall, begun: &begun, stop: stop, progress: progress, log: log)
            begun?.store.checkpointWAL()
            return report
        } catch {
            recordFailure(error, begun: begun, started: started, startedWall: startedWall, log: log)
            throw error
        }
    }

    /// Best effort (the failure may be a full disk): the run's record ends `failed`, or, for a run
    /// that never began, an attempt is recorded — never creating a store to say so.
    private func recordFailure(_ error: PipelineRunError, begun: (store: EmbeddingStore, runID: Int64)?, started: Double, startedWall: Int64,
                               log: (String) -> Void) {
        let enc = options.encode
        do {
            if let (store, runID) = begun {
                let p = try store.progress(runID: runID)
                var o = RunOutcome(status: .failed, exitCode: error.exitStatus.rawValue)
                (o.selected, o.written, o.failed) = (p.selected, p.written, p.failed)
                o.seconds = monotonicSeconds() - started
                o.message = error.description
                try store.finishRun(runID, o)
            } else if Files.exists(enc.embeddingStore) {
                _ = try EmbeddingStore(path: enc.embeddingStore, create: false)
                    .recordAttempt(pipeline: enc.kind.rawValue, shard: enc.shard.description, modelVersion: "", status: error.isLocked ? .locked : .failed,
                                   exitCode: error.exitStatus.rawValue, started: startedWall, message: error.description)
            }
        } catch {
            log("warning: the failed run is not recorded: \(error)")
        }
    }

    private func execute(started: Double, startedWall: Int64, begun: inout (store: EmbeddingStore, runID: Int64)?, stop: StopFlag,
                         progress: @escaping @Sendable (EncodeProgress) -> Void,
                         log: @escaping @Sendable (String) -> Void) throws(PipelineRunError) -> PipelineRunReport {
        let enc = options.encode
        let stage = EncodeStage(options: enc)
        var report = PipelineRunReport()
        do {
            let model = try stage.prepare(log: log)
            let lock = try stage.lock()
            defer { withExtendedLifetime(lock) {} }
            options.hooks.holdAfterLock()
            let store: EmbeddingStore
            do { store = try EmbeddingStore(path: enc.embeddingStore) } catch { throw EncodeError.store(error) }

            // Resume or start.
            var resume = try wrap { try store.unfinishedRun(pipeline: enc.kind.rawValue, shard: enc.shard.description) }
            if let r = resume {
                if options.fresh {
                    try wrap { try store.abandonRun(r.runID, reason: "abandoned by --fresh") }
                    log("abandoned interrupted run \(r.runID) (--fresh)")
                    resume = nil
                } else if r.checkpointIdentity != model.checkpoint.identity {
                    throw EncodeError.refused("run \(r.runID) of \(enc.kind.rawValue) was interrupted with checkpoint \(r.checkpointIdentity.prefix(16))…; "
                                              + "this is \(model.checkpoint.identity.prefix(16))…: finish it with that checkpoint, or pass --fresh")
                }
            }
            let version = try stage.version(model, in: store)

            // Ingest: a resumed run takes only the files it started with, as they were then (known
            // by content, so a file deleted or touched since is not needed); later arrivals wait
            // for the next run.
            var ingestOptions = options.ingest
            if let r = resume, ingestOptions != nil {
                let recorded = RunInputs.parse(r.inputs)
                ingestOptions!.inputs = recorded.events
                ingestOptions!.featureFiles = recorded.features
                ingestOptions!.resumed = ResumedInputs(digests: recorded.digests)
            }
            ingestOptions?.hooks = options.hooks
            var inputs = ""
            if let io = ingestOptions {
                let ingested: IngestReport
                do { ingested = try Ingestor(options: io).run(stop: stop, log: log) } catch { throw PipelineRunError.ingest(error) }
                report.ingest = ingested
                if ingested.interrupted {
                    // Nothing was encoded: the files ingested so far are kept, and the next run
                    // (a new one, or the interrupted run it resumes) goes on from there.
                    report.status = .interrupted
                    report.resumed = resume != nil
                    report.runID = resume?.runID ?? 0
                    if resume == nil {
                        report.runID = try wrap {
                            try store.recordAttempt(pipeline: enc.kind.rawValue, shard: enc.shard.description, modelVersion: model.checkpoint.config.modelVersion,
                                                    status: .interrupted, exitCode: ExitStatus.interrupted.rawValue, started: startedWall,
                                                    message: "stopped by a signal during the ingest stage (\(ingested.ingestedFiles) files ingested)")
                        }
                    }
                    report.seconds = monotonicSeconds() - started
                    return report
                }
                if io.requireNewFiles && ingested.ingestedFiles == 0 {
                    report.missingNewFiles = true
                    log("no new event log file arrived (ingest.require_new_files): the run goes on and exits 3")
                }
                inputs = try RunInputs.describe(ingested, historyStore: enc.historyStore)
            }
            let catalogLine = "catalog\t\(enc.catalog)\t\(model.catalogSHA256)"
            inputs += catalogLine + "\n"
            if let r = resume, let before = RunInputs.catalogLine(r.inputs), before != catalogLine {
                // Rows already written were made with the recorded catalog; mixing catalogs in one run is refused.
                throw EncodeError.refused("run \(r.runID) of \(enc.kind.rawValue) was interrupted with catalog \(before.split(separator: "\t").dropFirst().joined(separator: " sha256 ")); "
                                          + "it is \(enc.catalog) sha256 \(model.catalogSHA256) now: restore that catalog to resume, or pass --fresh to start over")
            }
            let runID: Int64
            if let r = resume {
                runID = r.runID
                try wrap { try store.resumeRun(runID) }
                report.resumed = true
            } else {
                runID = try wrap {
                    try store.beginRun(RunRecord(runID: 0, pipeline: enc.kind.rawValue, shard: enc.shard.description,
                                                 modelVersion: model.checkpoint.config.modelVersion, checkpointIdentity: model.checkpoint.identity,
                                                 inputs: inputs, catalogSHA256: model.catalogSHA256, cpuKernel: CPUKernel.id(enc.precision),
                                                 status: .running, started: wallClockSeconds()))
                }
            }
            report.runID = runID
            begun = (store, runID)
            let before = try wrap { try store.progress(runID: runID) }
            if report.resumed { log("resuming run \(runID) after \(before.batches) committed batches") }

            let history: HistoryStore
            do { history = try HistoryStore(path: enc.historyStore, settings: nil) } catch { throw EncodeError.store(error) }
            report.encode = try stage.encode(model, version: version, history: history, store: store, runID: runID,
                                             from: before.nextUser ?? 0, firstBatch: before.batches, stop: stop,
                                             hooks: options.hooks, progress: progress, log: log)
            let rejected = report.ingest?.rejectedFiles ?? 0
            if report.encode.interrupted { return try finish(report, store, history, runID, started, status: .interrupted, message: "stopped by a signal") }
            if enc.kind == .backfill {
                let build = VersionBuild(version: version.version, shard: enc.shard.description, runID: runID,
                                         candidates: try wrap { try stage.candidateCount(history) }, filesRejected: Int64(rejected),
                                         completedAt: wallClockSeconds())
                try wrap { try store.recordBuild(build, by: "backfill run \(runID)") }
                report.promotion = try promote(model, version: version, history: history, store: store, runID: runID,
                                               report: &report, stop: stop, log: log)
                if report.encode.interrupted { return try finish(report, store, history, runID, started, status: .interrupted, message: "stopped by a signal") }
            }
            try wrap { try store.updateCoverage(version.version) }
            report.encode.status = try wrap { try store.version(version.version)?.status ?? .building }
            var message: String?
            if case .refused = report.promotion { message = report.promotion?.line(version.version) }
            let done = try finish(report, store, history, runID, started, status: .ok, message: message)
            if enc.kind == .nightly && enc.keepRunsDays > 0 {
                let pruned = try wrap { try store.pruneRuns(finishedBefore: wallClockSeconds() - Int64(enc.keepRunsDays) * 86_400) }
                if pruned > 0 { log("pruned \(pruned) run records older than \(enc.keepRunsDays) days") }
            }
            return done
        } catch let e as PipelineRunError {
            throw e
        } catch let e as EncodeError {
            throw .encode(e)
        } catch let e as StoreError {
            throw .encode(.store(e))
        } catch let e as FileError {
            throw .encode(.file(e))
        } catch {
            throw .encode(.other("\(error)"))
        }
    }

    /// Ends the run record (totals over every committed batch, then the status, last).
    private func finish(_ report: PipelineRunReport, _ store: EmbeddingStore, _ history: HistoryStore, _ runID: Int64, _ started: Double,
                        status: RunRecord.Status, message: String?) throws(EncodeError) -> PipelineRunReport {
        var report = report
        report.usersWithHistory = try wrap {
            options.encode.shard == .all ? Int64(report.encode.candidates) : try EncodeStage(options: options.encode).candidateCount(history)
        }
        report.health = try wrap { try store.servingHealth(candidates: report.usersWithHistory, now: wallClockSeconds(), seed: UInt64(runID)) }
        let after = try wrap { try store.progress(runID: runID) }
        report.selected = after.selected
        report.written = after.written
        report.failed = after.failed
        report.status = status
        var o = RunOutcome(status: status, exitCode: report.exitStatus.rawValue)
        (o.selected, o.written, o.failed) = (after.selected, after.written, after.failed)
        o.filesIngested = report.ingest?.ingestedFiles ?? 0
        o.filesSkipped = report.ingest?.skippedFiles ?? 0
        o.filesRejected = report.ingest?.rejectedFiles ?? 0
        o.quarantined = report.ingest?.quarantinedRecords ?? 0
        o.seconds = monotonicSeconds() - started
        o.drift = report.encode.drift
        o.message = message
        try wrap { try store.finishRun(runID, o) }
        report.seconds = try wrap { try store.runSeconds(runID) }
        return report
    }

    /// A completed backfill's promotion (docs/operations.md). An unsharded backfill with
    /// `promote: auto` first catches up with what was ingested while it ran — a second pass over
    /// every user (the backfill's own trigger), then, holding the history store's lock so no
    /// ingest can slip in, a pass over converters and new users — and then applies the guard and
    /// promotes while still holding that lock: no conversion ingested before the promotion is
    /// missing from the version it promotes.
    private func promote(_ model: PreparedModel, version: ModelVersionInfo, history: HistoryStore, store: EmbeddingStore, runID: Int64,
                         report: inout PipelineRunReport, stop: StopFlag, log: @escaping @Sendable (String) -> Void) throws(EncodeError) -> PromotionOutcome {
        let enc = options.encode
        let stage = EncodeStage(options: enc)
        guard enc.shard == .all else {
            return .held("shard \(enc.shard) of a sharded backfill; merge every shard's store with llatte merge --promote")
        }
        if try wrap({ try store.version(version.version)?.status }) == .active { return .alreadyActive }
        guard enc.promote == .auto else { return .held("promote: never (promote it with llatte run … --promote, or llatte model promote)") }
        if !enc.promoteRequested, try wrap({ try store.statusLog(version: version.version).contains { $0.to == VersionStatus.active.rawValue } }) {
            return .held("it was active before and a backfill does not roll back on its own: llatte run … --promote to make it active again")
        }
        // Catch up on what arrived during the main pass, without holding up ingest.
        func pass(_ selecting: PipelineKind) throws(EncodeError) {
            let before = try wrap { try store.progress(runID: runID) }
            let r = try stage.encode(model, version: version, history: history, store: store, runID: runID, from: 0, firstBatch: before.batches,
                                     selecting: selecting, stop: stop, hooks: options.hooks, log: log)
            report.encode.add(r)
            if r.selected > 0 { log("catch-up (\(selecting.rawValue) trigger): \(r.selected) users re-encoded into \(version.version)") }
        }
        try pass(.backfill)
        if report.encode.interrupted { return .held("interrupted") }
        let lock: FileLock
        do {
            lock = try FileLock.acquire(path: enc.historyStore + ".lock", holder: LockHolder(pipeline: "backfill-promote"), timeout: enc.historyLockTimeout)
        } catch { throw .locked(error) }
        return try withExtendedLifetime(lock) { () throws(EncodeError) -> PromotionOutcome in
            try pass(.refresh)
            if report.encode.interrupted { return .held("interrupted") }
            let check = try wrap { try store.promotionCheck(version.version, policy: enc.promotion, history: [history]) }
            guard check.passed else { return .refused(check) }
            try wrap { try store.activate(version.version, forced: false, by: "backfill run \(runID)", reason: nil) }
            return .promoted
        }
    }

    private func wrap<T>(_ body: () throws -> T) throws(EncodeError) -> T { try EncodeError.mapping(body) }
}

/// The input list a run records, so a resume can prove it sees the same inputs: one line per
/// file, `kind<TAB>path<TAB>size<TAB>mtime_ns<TAB>sha256` (sha256 "-" when the file was rejected).
enum RunInputs {
    static func describe(_ report: IngestReport, historyStore: String) throws -> String {
        let store = try HistoryStore(path: historyStore, settings: nil)
        var lines: [String] = []
        for r in report.files {
            let st = (try? Files.status(r.path)) ?? (size: -1, mtimeNs: -1)
            let sha = try r.summary?.digest?.hex ?? store.ledgerEntry(path: r.path, fileSize: st.size, mtimeNs: st.mtimeNs)?.digest.hex ?? "-"
            lines.append("events\t\(r.path)\t\(st.size)\t\(st.mtimeNs)\t\(sha)")
        }
        for f in report.features {
            let st = (try? Files.status(f.path)) ?? (size: -1, mtimeNs: -1)
            lines.append("features\t\(f.path)\t\(st.size)\t\(st.mtimeNs)\t\(f.digest.hex)")
        }
        return lines.map { $0 + "\n" }.joined()
    }

    /// The recorded event and feature files, in order, and the content digest of each that has one.
    static func parse(_ text: String) -> (events: [String], features: [String], digests: [String: Digest32]) {
        var events: [String] = [], features: [String] = [], digests: [String: Digest32] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count >= 2 else { continue }
            if f[0] == "events" { events.append(String(f[1])) } else if f[0] == "features" { features.append(String(f[1])) } else { continue }
            if f.count >= 5, let d = Digest32(hex: f[4]) { digests[String(f[1])] = d }
        }
        return (events, features, digests)
    }

    /// The recorded `catalog<TAB>path<TAB>sha256` line.
    static func catalogLine(_ text: String) -> String? {
        text.split(separator: "\n").last { $0.hasPrefix("catalog\t") }.map(String.init)
    }
}

/// The CPU kernel family recorded per run: bit-identical rows are promised for the same binary on
/// the same kernel family (docs/pipelines.md, Scale-out).
public enum CPUKernel {
    /// Architecture, OpenBLAS core and SIMD kernel family, and `/bf16` when the linear layers ran in bf16.
    public static func id(_ precision: Model.Encoder.Precision = .fp32) -> String {
        #if arch(x86_64)
        let arch = "x86_64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "other"
        #endif
        return "\(arch)/openblas-\(BLASThreads.coreName)/swift-simd8-\(Kernels.cpuLevel)" + (precision == .bf16 ? "/bf16" : "")
    }
}
