import Events
import Store
import Support
#if canImport(Glibc)
import Glibc
#endif

/// How one ingest run is set up.
public struct IngestOptions: Sendable {
    public var historyStore: String
    /// Settings to create the store with, or to check an existing store against (nil: use the store's).
    public var settings: HistorySettings?
    /// Event log files or directories (searched recursively for `*.jsonl[.lz4]` / `*.ndjson[.lz4]`).
    public var inputs: [String]
    /// User-features files, ingested after the logs.
    public var featureFiles: [String] = []
    /// Where quarantine files go.
    public var quarantineDirectory: String
    /// A file with a larger share of bad lines is rejected whole.
    public var maxBadFraction: Double = 0.02
    /// Seconds to wait for the history store's lock before giving up.
    public var lockTimeout: Double = 60
    /// Events parsed per append to the store (bounds memory).
    public var batchEvents: Int = 1 << 20
    /// Name recorded in the lock file.
    public var pipelineName: String = "ingest"
    /// Exit 3 when the run ingests no new log file (a nightly whose day's file did not arrive).
    public var requireNewFiles = false
    /// `--shard k/n`: store only users with fmix(user) mod n == k. Every shard reads whole files (so
    /// a file's bad fraction is the same on each); a bad line is quarantined by its user's shard, or
    /// by shard 0 when it has no parsable user_id.
    public var shard: Shard = .all
    /// Set when this ingest continues an interrupted run: `inputs` and `featureFiles` are the files
    /// that run recorded, each with the content digest it took in (absent: the file was rejected).
    public var resumed: ResumedInputs?
    /// Test hooks (the `ingest-batch` point).
    public var hooks = RunHooks()

    public init(historyStore: String, settings: HistorySettings?, inputs: [String], quarantineDirectory: String? = nil) {
        self.historyStore = historyStore
        self.settings = settings
        self.inputs = inputs
        self.quarantineDirectory = quarantineDirectory ?? Files.parentDirectory(historyStore) + "/quarantine"
    }
}

/// The inputs an interrupted run recorded, for its resume: a file whose recorded content the
/// history store holds counts as already ingested without being opened — it may have been
/// deleted by log retention, touched, or re-delivered with other content since (the new content
/// is the next run's). A recorded file that is gone and was not taken in is reported rejected.
public struct ResumedInputs: Sendable {
    /// Path → the content digest the interrupted run recorded for it.
    public var digests: [String: Digest32] = [:]
    public init(digests: [String: Digest32]) { self.digests = digests }
}

/// What happened to one input file.
public enum FileOutcome: Sendable, Equatable {
    case ingested
    /// The same content (sha256) was ingested before, or the file is unchanged since then.
    case alreadyIngested
    /// The whole file was rejected (corrupt or truncated LZ4, too many bad lines, unreadable), and
    /// why, without the path (the report names the file).
    case rejected(String)
}

/// One input file's result.
public struct FileReport: Sendable {
    public var path: String
    public var outcome: FileOutcome
    public var summary: ReadSummary?
    public var counts = AppendCounts()
    /// E.g. a path re-delivered with different content.
    public var warning: String?
    public var quarantineFile: String?
    /// Records this process quarantined from the file: all its bad lines unsharded, a shard's
    /// share of them (its users', plus those without a user on shard 0) when sharded.
    public var quarantined = 0
}

/// The result of an ingest run.
public struct IngestReport: Sendable {
    public var files: [FileReport] = []
    public var features: [FeatureIngestReport] = []
    public var seconds = 0.0
    /// A signal stopped the ingest: the file it was reading was rolled back, and that file and
    /// those after it are not in `files` (the next run ingests them).
    public var interrupted = false

    public var ingestedFiles: Int { files.filter { $0.outcome == .ingested }.count }
    public var skippedFiles: Int { files.filter { $0.outcome == .alreadyIngested }.count }
    public var rejectedFiles: Int {
        files.filter { if case .rejected = $0.outcome { return true } else { return false } }.count
            + features.filter { $0.rejected != nil }.count
    }
    /// Records this run wrote to quarantine: event lines (a shard counts only its own share) and
    /// feature records; a file skipped as already ingested adds none.
    public var quarantinedRecords: Int { files.reduce(0) { $0 + $1.quarantined } + features.reduce(0) { $0 + $1.rejections.count } }
    public var newEvents: Int { files.reduce(0) { $0 + $1.counts.newEvents } }
    public var duplicates: Int { files.reduce(0) { $0 + $1.counts.duplicates } }
    public var decompressedBytes: Int { files.reduce(0) { $0 + ($1.summary?.decompressedBytes ?? 0) } }
    /// Checksum of the valid events read from the ingested files.
    public var checksum: UInt64 { files.filter { $0.outcome == .ingested }.reduce(0) { $0 &+ ($1.summary?.checksum ?? 0) } }
}

/// Why an ingest run could not proceed at all (per-file problems are in the report instead).
public enum IngestError: PathError {
    /// Another process holds the store's lock (a lock file that cannot be used is `.input`).
    case locked(LockError)
    case store(StoreError)
    case input(FileError)

    public var description: String {
        switch self {
        case let .locked(e): return e.description
        case let .store(e): return e.description
        case let .input(e): return e.description
        }
    }

    public var concernedPath: String? {
        switch self {
        case let .locked(e): return e.concernedPath
        case let .store(e): return e.path
        case let .input(e): return e.path
        }
    }
}

/// The ingest stage: event logs → history store, each file wholly or not at all, under the store's lock.
public struct Ingestor {
    public let options: IngestOptions

    public init(options: IngestOptions) { self.options = options }

    /// The event log files of `inputs` (files, or directories searched recursively, in byte order
    /// of their names; dotfiles and `*.tmp` files, still being written, ignored), each file once
    /// however many paths reach it: directories and files are known by (device, inode), so a
    /// symbolic-link loop (`self -> .`) ends and a linked duplicate is read once. Only regular files
    /// are taken; a FIFO, socket or device with a log's name is skipped with a warning, never opened.
    /// Paths are spellings (`PathSpelling`), returned in their canonical form: the ledger's key.
    public static func logFiles(_ inputs: [String], warn: (String) -> Void = { _ in }) throws(FileError) -> [String] {
        var scan = Scan()
        for input in inputs.map(PathSpelling.canonical) {
            guard let id = Files.identity(input) else { throw FileError(path: input, operation: "open", code: 2) }
            if id.isDirectory {
                try scan.directory(input, warn: warn)
            } else {
                scan.file(input, id, warn: warn)
            }
        }
        if scan.files.isEmpty {
            // An empty day is visible: say what was there instead (e.g. `.jsonl.gz` files).
            let found = scan.ignored.isEmpty ? "nothing else" : scan.ignored.prefix(5).joined(separator: ", ") + (scan.ignored.count > 5 ? ", …" : "")
            warn("no event log (*.jsonl, *.jsonl.lz4, *.ndjson, *.ndjson.lz4) in \(inputs.joined(separator: ", ")); found: \(found)")
        }
        return scan.files
    }

    /// A directory walk's state: what it has seen, by (device, inode).
    private struct Scan {
        var files: [String] = []
        /// Other files met, not taken (names up to a few, for the empty-input warning).
        var ignored: [String] = []
        var seen = Set<[UInt64]>()

        mutating func file(_ path: String, _ id: (device: UInt64, inode: UInt64, isDirectory: Bool, isRegular: Bool), warn: (String) -> Void) {
            guard id.isRegular else { warn("skipped \(path): not a regular file (a FIFO, socket or device is never read)"); return }
            if seen.insert([id.device, id.inode]).inserted { files.append(path) }
        }

        mutating func directory(_ dir: String, warn: (String) -> Void) throws(FileError) {
            guard let id = Files.identity(dir), seen.insert([id.device, id.inode]).inserted else { return }
            for name in try Files.list(dir) where !name.hasPrefix(".") && !name.hasSuffix(".tmp") {
                let p = dir.hasSuffix("/") ? dir + name : dir + "/" + name
                guard let id = Files.identity(p) else { continue }   // a dangling link
                if id.isDirectory {
                    try directory(p, warn: warn)
                } else if [".jsonl", ".jsonl.lz4", ".ndjson", ".ndjson.lz4"].contains(where: { name.hasSuffix($0) }) {
                    file(p, id, warn: warn)
                } else if ignored.count < 6 {
                    ignored.append(p)
                }
            }
        }
    }

    /// Runs the ingest; `log` receives one human-readable line per notable event. A raised `stop`
    /// ends it at the next file boundary, or inside a file within 16 Ki lines or 256 users of a
    /// batch, rolling that file back (each file is ingested wholly or not at all).
    public func run(stop: StopFlag = StopFlag(), log: (String) -> Void = { _ in }) throws(IngestError) -> IngestReport {
        let start = monotonicSeconds()
        let files: [String]
        if options.resumed != nil {
            files = options.inputs   // the files the interrupted run listed, whatever became of them
        } else {
            do { files = try Ingestor.logFiles(options.inputs, warn: { log("warning: \($0)") }) } catch { throw .input(error) }
        }
        do { try Files.makeDirectories(Files.parentDirectory(options.historyStore)) } catch { throw .input(error) }
        let lock: FileLock
        do {
            lock = try FileLock.acquire(path: options.historyStore + ".lock", holder: LockHolder(pipeline: options.pipelineName),
                                        timeout: options.lockTimeout)
        } catch {
            if case let .io(e) = error { throw .input(e) }
            throw .locked(error)
        }
        defer { withExtendedLifetime(lock) {} }
        let store: HistoryStore
        do { store = try HistoryStore(path: options.historyStore, settings: options.settings) } catch { throw .store(error) }

        var report = IngestReport()
        let stale = QuarantineSink.removeStaleTempFiles(in: options.quarantineDirectory)
        if stale > 0 { log("removed \(stale) quarantine temp file(s) left by killed ingests") }
        let parser = EventParser(rules: ValidationRules(minTs: store.settings.minTs, maxTs: store.settings.maxTs))
        // The whole batch reserved once, up front: the reservation is address space, and only the
        // pages events are written to become resident. Measured on 200,000-user backfills, peak RSS
        // 71–72 MB when the batch grew from 64 Ki events, 64–66 MB reserved (docs/performance.md).
        let batch = EventBatch(capacity: options.batchEvents)
        var batches = 0
        for (n, file) in files.enumerated() {
            guard !stop.isRaised, let r = try ingestFile(file, store: store, parser: parser, batch: batch, batches: &batches, stop: stop) else {
                log("ingest stopped by a signal: \(n) of \(files.count) event logs done; \(file) and those after it are left for the next run")
                report.interrupted = true
                report.seconds = monotonicSeconds() - start
                return report
            }
            switch r.outcome {
            case .ingested:
                log("ingested \(file): \(r.counts.newEvents) new events, \(r.counts.duplicates) duplicates, \(r.quarantined) quarantined")
            case .alreadyIngested: log("skipped \(file): already ingested")
            case let .rejected(why): log("rejected \(file): \(why)")
            }
            if let w = r.warning { log("warning: \(w)") }
            report.files.append(r)
        }
        for file in options.featureFiles {
            if stop.isRaised {
                log("ingest stopped by a signal: features \(file) and those after it are left for the next run")
                report.interrupted = true
                break
            }
            do {
                if let resumed = options.resumed {
                    if let d = resumed.digests[file], try store.hasFeatureSnapshot(d) {
                        log("skipped features \(file): already ingested")
                        report.features.append(FeatureIngestReport(path: file, digest: d))
                        continue
                    }
                    if !Files.exists(file) {
                        let why = "gone since the interrupted run, which did not take it in"
                        log("rejected features \(file): \(why)")
                        report.features.append(FeatureIngestReport(path: file, digest: SHA256Hasher.digest([]), rejected: why))
                        continue
                    }
                }
                let f = try store.ingestFeatures(path: file, maxBadFraction: options.maxBadFraction)
                if let snap = f.snapshot {
                    log("ingested features \(file): snapshot \(snap), \(f.users) users, \(f.rejections.count) quarantined")
                } else if let why = f.rejected {
                    log("rejected features \(file): \(why)")
                } else {
                    log("skipped features \(file): already ingested")
                }
                if !f.rejections.isEmpty {
                    let sink = QuarantineSink(directory: options.quarantineDirectory, file: file)
                    do {
                        for rej in f.rejections { try sink.add(rej) }
                        try sink.finish(digest: f.digest)
                    } catch { throw IngestError.input(error) }
                }
                report.features.append(f)
                releaseFreedMemory()
            } catch let e as StoreError {
                throw .store(e)
            } catch let e as LogReadError {
                log("rejected features \(file): \(e.reason)")
                report.features.append(FeatureIngestReport(path: file, digest: SHA256Hasher.digest([]), rejected: e.reason))
            } catch {
                throw .store(StoreError(path: file, message: "\(error)"))
            }
        }
        report.seconds = monotonicSeconds() - start
        return report
    }

    /// Ingests one file in one transaction with its ledger row; nil when `stop` was raised while
    /// reading it (the transaction is rolled back).
    func ingestFile(_ file: String, store: HistoryStore, parser: EventParser, batch: EventBatch, batches: inout Int,
                    stop: StopFlag) throws(IngestError) -> FileReport? {
        var report = FileReport(path: file, outcome: .ingested)
        if let resumed = options.resumed {
            do {
                if let d = resumed.digests[file], try store.ledgerEntry(d) != nil {
                    report.outcome = .alreadyIngested
                    return report
                }
            } catch { throw .store(error) }
            if !Files.exists(file) {
                report.outcome = .rejected("gone since the interrupted run, which did not take it in")
                return report
            }
        }
        let status: (size: Int64, mtimeNs: Int64)
        do { status = try Files.status(file) } catch {
            report.outcome = .rejected(error.reason)
            return report
        }
        do {
            if try store.ledgerEntry(path: file, fileSize: status.size, mtimeNs: status.mtimeNs) != nil {
                report.outcome = .alreadyIngested
                return report
            }
        } catch { throw .store(error) }

        let sink = QuarantineSink(directory: options.quarantineDirectory, file: file)
        let shard = options.shard
        let owned = EventBatch()
        let seq: Int64
        do { seq = try store.beginFile() } catch { throw .store(error) }
        var counts = AppendCounts()
        let summary: ReadSummary
        let hooks = options.hooks
        do {
            summary = try readEventLog(path: file, parser: parser, batch: batch, batchSize: options.batchEvents, hashContent: true,
                                       shouldStop: { stop.isRaised },
                                       onBatch: { b in
                                           if stop.isRaised { throw ReadInterrupted(path: file, line: 0) }
                                           var part = b
                                           if shard != .all {
                                               owned.removeAll()
                                               for e in b.events where shard.owns(e.userID) { owned.append(e, from: b) }
                                               part = owned
                                           }
                                           let c = try store.append(part, vocabulary: parser.vocabulary, ingestSeq: seq, shouldStop: { stop.isRaised })
                                           if c.stopped { throw ReadInterrupted(path: file, line: 0) }
                                           hooks.reached(.ingestBatch, batch: batches)
                                           batches += 1
                                           counts.newEvents += c.newEvents
                                           counts.duplicates += c.duplicates
                                           counts.tombstoned += c.tombstoned
                                           counts.usersTouched += c.usersTouched
                                           releaseFreedMemory()
                                       },
                                       onReject: { r in
                                           // Each record once over all shards: its user's shard, or shard 0 without a user.
                                           if r.userID.map(shard.owns) ?? (shard.index == 0) { try sink.add(r) }
                                       })
        } catch let e as LogReadError {
            store.rollbackFile()
            sink.discard()
            batch.removeAll()
            report.outcome = .rejected(e.reason)
            return report
        } catch is ReadInterrupted {
            store.rollbackFile()
            sink.discard()
            batch.removeAll()
            return nil
        } catch let e as StoreError {
            store.rollbackFile()
            throw .store(e)
        } catch let e as FileError {
            store.rollbackFile()
            throw .input(e)
        } catch {
            store.rollbackFile()
            throw .store(StoreError(path: file, message: "\(error)"))
        }
        report.summary = summary
        let digest = summary.digest!
        do {
            if try store.ledgerEntry(digest) != nil {
                store.rollbackFile()
                sink.discard()
                // Touched or copied: remember this size and time, so later runs need not read it.
                try store.recordSighting(path: file, fileSize: status.size, mtimeNs: status.mtimeNs, digest: digest)
                report.outcome = .alreadyIngested
                return report
            }
            let earlier = try store.ledgerEntries(path: file)
            if !earlier.isEmpty {
                report.warning = "\(file) was ingested before with different content (sha256 \(earlier.last!.digest.hex.prefix(16))…, now \(digest.hex.prefix(16))…); ingesting again, duplicates are dropped"
            }
        } catch {
            store.rollbackFile()
            throw .store(error)
        }
        report.quarantined = sink.count
        do { report.quarantineFile = try sink.finish(digest: digest) } catch {
            store.rollbackFile()
            throw .input(error)
        }
        if summary.badFraction > options.maxBadFraction {
            store.rollbackFile()
            report.outcome = .rejected("\(summary.rejected) of \(summary.lines) lines bad (\(formatFraction(summary.badFraction)) > limit \(options.maxBadFraction))")
            return report
        }
        do {
            try store.commitFile(LedgerEntry(digest: digest, path: file, ingestSeq: seq, lines: summary.lines, events: summary.events,
                                             newEvents: counts.newEvents, duplicates: counts.duplicates, quarantined: summary.rejected,
                                             ingestedAt: wallClockSeconds(), fileSize: status.size, mtimeNs: status.mtimeNs))
        } catch {
            store.rollbackFile()
            throw .store(error)
        }
        report.counts = counts
        return report
    }
}

func formatFraction(_ x: Double) -> String {
    let pct = (x * 10000).rounded() / 100
    return "\(pct)%"
}
