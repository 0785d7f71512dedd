import ArgumentParser
import Pipeline
import Store
import Support

/// `llatte ingest`: event logs (and user features) into a history store.
struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest event logs (.jsonl, .jsonl.lz4; files or directories) and user features into a history store.",
        discussion: """
            Each file is ingested wholly or not at all, in one transaction with its ledger row; a file whose \
            content (sha256) was ingested before is skipped. Bad lines go to the quarantine directory with \
            file, line and reason code. Creating a store needs --conversion-types, --min-ts and --max-ts \
            (and optionally --retention-cap); on an existing store, settings given must equal the recorded ones. \
            SIGINT/SIGTERM stop at the next batch or file boundary: files done are kept, the file being read is rolled back.
            Exit codes: 0 ok, 1 failure (also a lock file that cannot be opened), 3 some files rejected, \
            4 another process holds the store's lock, 5 stopped by a signal (rerun to go on).
            """)

    @Option(name: .customLong("history-store"), help: "Path of the history store (SQLite).")
    var historyStore: String

    @Option(name: .customLong("conversion-types"), help: "Comma-separated event types that count as conversions.")
    var conversionTypes: String?

    @Option(name: .customLong("min-ts"), help: "Smallest accepted ts (unix seconds).")
    var minTs: Int64?

    @Option(name: .customLong("max-ts"), help: "Largest accepted ts (unix seconds).")
    var maxTs: Int64?

    @Option(name: .customLong("retention-cap"), help: "Events kept per user (latest first; default 4096 when creating a store; on an existing one it must match).")
    var retentionCapOption: Int?

    @Option(name: .customLong("features"), help: "A user-features file (JSON Lines) to ingest as a new snapshot; repeatable.")
    var features: [String] = []

    @Option(name: .customLong("quarantine-dir"), help: "Where quarantine files go (default: quarantine/ beside the store).")
    var quarantineDir: String?

    @Option(name: .customLong("max-bad-fraction"), help: "Reject a file whose share of bad lines exceeds this.")
    var maxBadFraction: Double = 0.02

    @Option(name: .customLong("lock-timeout"), help: "Seconds to wait for the store's lock.")
    var lockTimeout: Double = 60

    @Flag(name: .customLong("quiet"), help: "Print only the summary line.")
    var quiet = false

    @Argument(help: "Event log files or directories.")
    var inputs: [String] = []

    func run() throws {
        var settings: HistorySettings?
        let given = [conversionTypes != nil, minTs != nil, maxTs != nil]
        if given.contains(true) {
            guard let conversionTypes, let minTs, let maxTs else {
                throw ValidationError("--conversion-types, --min-ts and --max-ts go together")
            }
            settings = HistorySettings(conversionTypes: conversionTypes.split(separator: ",").map(String.init),
                                       minTs: minTs, maxTs: maxTs, retentionCap: retentionCapOption ?? 4096)
        } else if let cap = retentionCapOption {
            // Alone, it can only be checked against an existing store: never ignored.
            guard Files.exists(historyStore) else {
                throw ValidationError("--retention-cap creates a store only with --conversion-types, --min-ts and --max-ts")
            }
            let recorded: Int
            do { recorded = try HistoryStore(readingAt: historyStore).settings.retentionCap } catch {
                throw exitWith(.failure, "llatte ingest: \(error)")
            }
            if recorded != cap {
                throw exitWith(.failure, "llatte ingest: \(historyStore): settings differ from the store's: retention_cap: store=\(recorded) given=\(cap)")
            }
        }
        var options = IngestOptions(historyStore: historyStore, settings: settings, inputs: inputs, quarantineDirectory: quarantineDir)
        options.featureFiles = features
        options.maxBadFraction = maxBadFraction
        options.lockTimeout = lockTimeout
        options.hooks = RunHooks.fromEnvironment()
        let signals = StopSignals(command: "llatte ingest")
        defer { withExtendedLifetime(signals) {} }
        let report: IngestReport
        do {
            report = try Ingestor(options: options).run(stop: signals.flag, log: quiet ? { _ in } : logLine)
        } catch let e {
            switch e {
            case let .locked(l) where l.isHeld: throw exitWith(.locked, "llatte ingest: \(e)")
            default: throw exitWith(.failure, "llatte ingest: \(e)")
            }
        }
        print(summaryLine(report))
        if report.interrupted { throw exitWith(.interrupted) }
        if report.rejectedFiles > 0 { throw exitWith(.partialFailure) }
    }
}

/// The one-line summary of an ingest, parseable under cron.
func summaryLine(_ r: IngestReport) -> String {
    let mb = Double(r.decompressedBytes) / 1e6
    let secs = max(r.seconds, 1e-9)
    return "ingest: files ingested=\(r.ingestedFiles) skipped=\(r.skippedFiles) rejected=\(r.rejectedFiles) "
        + "new_events=\(r.newEvents) duplicates=\(r.duplicates) quarantined=\(r.quarantinedRecords) "
        + "feature_snapshots=\(r.features.filter { $0.snapshot != nil }.count) "
        + "seconds=\(fixed(r.seconds, 2)) MB/s=\(fixed(mb / secs, 1))" + (r.interrupted ? " status=interrupted" : "")
}
