import ArgumentParser
import Sample
import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `llatte sample`: writes a deterministic, realistic data set (event logs, catalog, user features,
/// ground truth, manifest). Thin over `Sample.SampleGenerator`; docs/data-sample.md describes the data.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate a deterministic, realistic sample data set (logs, catalog, user features, truth).",
        discussion: """
            Same options give byte-identical files. Writes events/YYYY-MM-DD.jsonl.lz4 (day partitions \
            with ~2% late events, a few exact duplicates and ~0.3% bad lines covering every quarantine \
            reason), catalog.db, users.jsonl, truth/ and manifest.json. For benchmarks add --bench-noise \
            (escape \(SampleOptions.benchEscapeRate), shuffled keys \(SampleOptions.benchShuffleKeysRate), \
            nested unknown fields \(SampleOptions.benchNestedUnknownRate)) and usually --no-truth.
            """)

    @Option(help: "Output directory; created if missing, must be empty unless --overwrite.")
    var out: String

    @Option(help: "Number of users.")
    var users: Int = 2000

    @Option(help: "Number of days (one event file per day).")
    var days: Int = 30

    @Option(help: "Random seed.")
    var seed: UInt64 = 7

    @Option(help: "Number of items (default: 4 per user, 500...100000).")
    var items: Int?

    @Option(help: "Unix seconds at which day 0 starts; 1790812800 is 2026-10-01T00:00:00Z.")
    var startTs: Int64 = SampleOptions.defaultStartTs

    @Option(help: "Lowest valid ts, recorded in the manifest (default: start - 365 days).")
    var minTs: Int64?

    @Option(help: "Highest valid ts, recorded in the manifest (default: end of the last day + 30 days).")
    var maxTs: Int64?

    @Option(help: "Share of bad lines.")
    var badRate: Double = 0.003

    @Option(help: "Share of events written 1-3 days late into a later day's file.")
    var lateRate: Double = 0.02

    @Option(help: "Share of events repeated exactly (same user_id and event_id).")
    var duplicateRate: Double = 0.0005

    @Flag(help: "Many users with only a handful of events each (memory tests, e.g. --users 200000).")
    var shortHistory = false

    @Option(help: "Share of lines whose strings use JSON escapes (default 0; --bench-noise: \(SampleOptions.benchEscapeRate)).")
    var escapeRate: Double?

    @Option(help: "Share of lines with shuffled key order (default 0; --bench-noise: \(SampleOptions.benchShuffleKeysRate)).")
    var shuffleKeysRate: Double?

    @Option(help: "Share of lines with a nested unknown field (default 0; --bench-noise: \(SampleOptions.benchNestedUnknownRate)).")
    var nestedUnknownRate: Double?

    @Flag(help: "Use the benchmark's noise rates for the three options above unless given.")
    var benchNoise = false

    @Flag(help: "Do not write truth/ (faster; for benchmarks).")
    var noTruth = false

    @Option(help: "Multiplier on every user's activity (history lengths scale with it).")
    var activityScale: Double = 1.0

    @Option(help: "Log-normal spread of users' activity; larger makes the heavy tail heavier.")
    var activitySigma: Double = 0.95

    @Option(help: "Share of users who are in the market for one extra category two days every 2-4 weeks (long-range behaviour; default 0: none).")
    var periodicShare: Double = 0

    @Option(help: "Share of users who return to 1-3 categories every 2-4 weeks for the same few items, which then convert more often (long-range behaviour; default 0: none).")
    var returningShare: Double = 0

    @Option(help: "Write impression truth only for the last this many days (default: all).")
    var truthImpressionDays: Int?

    @Option(help: "Uncompressed MiB per LZ4 frame.")
    var frameMib: Int = 16

    @Flag(help: "Replace the generator's files in a non-empty output directory.")
    var overwrite = false

    @Flag(help: "Print only the summary line.")
    var quiet = false

    func run() throws {
        var o = SampleOptions(outputDirectory: out, users: users, days: days, seed: seed)
        o.items = items
        o.startTs = startTs
        o.minTs = minTs
        o.maxTs = maxTs
        o.badRate = badRate
        o.lateRate = lateRate
        o.duplicateRate = duplicateRate
        o.shortHistory = shortHistory
        o.escapeRate = escapeRate ?? (benchNoise ? SampleOptions.benchEscapeRate : 0)
        o.shuffleKeysRate = shuffleKeysRate ?? (benchNoise ? SampleOptions.benchShuffleKeysRate : 0)
        o.nestedUnknownRate = nestedUnknownRate ?? (benchNoise ? SampleOptions.benchNestedUnknownRate : 0)
        o.writeTruth = !noTruth
        o.activityScale = activityScale
        o.activitySigma = activitySigma
        o.periodicShare = periodicShare
        o.returningShare = returningShare
        o.truthImpressionDays = truthImpressionDays
        o.frameBytes = frameMib << 20
        o.overwrite = overwrite
        do {
            try o.validate()
        } catch {
            throw ValidationError(error.description)
        }

        let showProgress = !quiet && isatty(2) != 0
        let start = monotonicSeconds()
        let manifest = try SampleGenerator(options: o).run { p in
            guard showProgress else { return }
            let line = "\rday \(p.day)/\(p.days)  \(p.eventLines) events  \(p.uncompressedBytes >> 20) MiB"
            SampleCommand.writeStderr(line)
        }
        if showProgress { SampleCommand.writeStderr("\n") }
        let seconds = monotonicSeconds() - start
        let c = manifest.counts
        let raw = manifest.eventFiles.reduce(0) { $0 + $1.uncompressedBytes }
        let packed = manifest.eventFiles.reduce(0) { $0 + $1.compressedBytes }
        let mb = Double(raw) / 1e6
        print("""
            sample: \(out): \(manifest.eventFiles.count) event files, \(c.distinctEvents) events \
            (\(c.lateEvents) late, \(c.duplicates) duplicates, \(c.badLines) bad lines), \
            \(fmt(mb)) MB (\(fmt(Double(packed) / 1e6)) MB lz4); \(o.users) users, \
            \(manifest.itemsInCatalog)/\(o.resolvedItems) items in catalog; \
            \(fmt(seconds)) s, \(fmt(mb / max(seconds, 1e-9))) MB/s
            """)
    }

    /// Progress goes straight to fd 2 (the C `stderr` global is not concurrency-safe in Swift 6).
    private static func writeStderr(_ s: String) {
        let bytes = Array(s.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    private func fmt(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        return String(r)
    }
}
