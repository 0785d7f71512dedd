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
}

/// Why a pipeline run stopped before doing its work.
public enum PipelineRunError: Error, CustomStringConvertible {
    case ingest(IngestError)
    case encode(EncodeError)

    public var description: String {
        switch self {
        case let .ingest(e): return e.description
        case let .encode(e): return e.description
        }
    }
    public var isLocked: Bool {
        switch self {
        case .ingest(.locked), .encode(.locked): return true
        default: return false
        }
    }
}

/// One scheduled job end to end (DESIGN sections 5 and 8): check the checkpoint and catalog, take
/// the pipeline's lock, resume an interrupted run (same inputs and checkpoint only) or start one,
/// ingest, then select → sequence → encode → quantize → write in committed batches, and mark the
/// run `ok` last.
public struct PipelineRun {
    public let options: PipelineRunOptions

    public init(options: PipelineRunOptions) { self.options = options }

    public func run(stop: StopFlag = StopFlag(), progress: @escaping @Sendable (EncodeProgress) -> Void = { _ in },
                    log: @escaping @Sendable (String) -> Void = { _ in }) throws(PipelineRunError) -> PipelineRunReport {
        let started = monotonicSeconds()
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

            // Ingest: a resumed run takes only the files it started with; later arrivals wait for the next run.
            var ingestOptions = options.ingest
            if let r = resume, ingestOptions != nil {
                let recorded = RunInputs.parse(r.inputs)
                ingestOptions!.inputs = recorded.events
                ingestOptions!.featureFiles = recorded.features
            }
            var inputs = ""
            if let io = ingestOptions {
                let ingested: IngestReport
                do { ingested = try Ingestor(options: io).run(log: log) } catch { throw PipelineRunError.ingest(error) }
                report.ingest = ingested
                inputs = try RunInputs.describe(ingested, historyStore: enc.historyStore)
            }
            inputs += "catalog\t\(enc.catalog)\t\(model.catalogSHA256)\n"
            if let r = resume, r.inputs != inputs {
                throw EncodeError.refused("run \(r.runID) of \(enc.kind.rawValue) was interrupted with other inputs (a file or the catalog changed since); pass --fresh to start over")
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
                                                 inputs: inputs, catalogSHA256: model.catalogSHA256, cpuKernel: CPUKernel.id,
                                                 status: .running, started: wallClockSeconds()))
                }
            }
            report.runID = runID
            let before = try wrap { try store.progress(runID: runID) }
            if report.resumed { log("resuming run \(runID) after \(before.batches) committed batches") }

            let history: HistoryStore
            do { history = try HistoryStore(path: enc.historyStore, settings: nil) } catch { throw EncodeError.store(error) }
            report.encode = try stage.encode(model, version: version, history: history, store: store, runID: runID,
                                             from: before.nextUser ?? 0, firstBatch: before.batches, stop: stop,
                                             hooks: options.hooks, progress: progress, log: log)
            let after = try wrap { try store.progress(runID: runID) }
            report.selected = after.selected
            report.written = after.written
            report.failed = after.failed
            let seconds = monotonicSeconds() - started
            let rejected = report.ingest?.rejectedFiles ?? 0, quarantined = report.ingest?.quarantinedRecords ?? 0
            if report.encode.interrupted {
                try wrap {
                    try store.finishRun(runID, status: .interrupted, selected: after.selected, written: after.written, failed: after.failed,
                                        filesRejected: rejected, quarantined: quarantined, seconds: seconds, message: "stopped by a signal")
                }
                report.status = .interrupted
                return report
            }
            try wrap {
                if enc.kind == .backfill && enc.shard == .all {
                    try store.promote(version.version)
                    log("model version \(version.version) is active")
                } else {
                    try store.updateCoverage(version.version)
                }
                report.encode.status = try store.version(version.version)?.status ?? .building
                try store.finishRun(runID, status: .ok, selected: after.selected, written: after.written, failed: after.failed,
                                    filesRejected: rejected, quarantined: quarantined, seconds: seconds)
            }
            report.status = .ok
            return report
        } catch let e as PipelineRunError {
            throw e
        } catch let e as EncodeError {
            throw .encode(e)
        } catch {
            throw .encode(.other("\(error)"))
        }
    }

    private func wrap<T>(_ body: () throws -> T) throws(EncodeError) -> T {
        do { return try body() } catch let e as EncodeError {
            throw e
        } catch let e as StoreError {
            throw .store(e)
        } catch {
            throw .other("\(error)")
        }
    }
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

    static func parse(_ text: String) -> (events: [String], features: [String]) {
        var events: [String] = [], features: [String] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count >= 2 else { continue }
            if f[0] == "events" { events.append(String(f[1])) } else if f[0] == "features" { features.append(String(f[1])) }
        }
        return (events, features)
    }
}

/// The CPU kernel family recorded per run: bit-identical rows are promised for the same binary on
/// the same kernel family (DESIGN section 8).
public enum CPUKernel {
    public static var id: String {
        #if arch(x86_64)
        let arch = "x86_64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "other"
        #endif
        return "\(arch)/openblas-\(BLASThreads.coreName)/swift-simd8-\(Kernels.cpuLevel)"
    }
}
