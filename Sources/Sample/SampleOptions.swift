/// Everything that decides what the sample generator writes. Two runs with equal options write
/// byte-identical files (for the same binary and C math library): nothing here or downstream reads the
/// clock, the thread count or a hash-table order.
///
/// Rates are per line (bad lines) or per event (late, duplicate, noise). The noise knobs only change how
/// an event is spelled, never which events exist: they draw from their own random stream.
public struct SampleOptions: Sendable, Equatable {
    /// Directory the data set is written into (created if missing).
    public var outputDirectory: String
    public var users: Int
    public var days: Int
    public var seed: UInt64
    /// Number of catalog-eligible items; `nil` = scaled to the number of users (`SampleOptions.defaultItems`).
    public var items: Int?
    /// Unix seconds at which day 0 starts.
    public var startTs: Int64 = SampleOptions.defaultStartTs
    /// Validation window written into the manifest; `nil` = start − 365 days / end of the last day + 30 days.
    public var minTs: Int64?
    public var maxTs: Int64?
    /// Share of lines that are deliberately bad (every reason code of docs/data.md).
    public var badRate = 0.003
    /// Share of events written into the file of a later day (1–3 days later), keeping their ts.
    public var lateRate = 0.02
    /// Share of events written twice (same bytes; half the repeats land in the next day's file).
    public var duplicateRate = 0.0005
    /// Many users with a handful of events each (memory tests with ~200,000 users).
    public var shortHistory = false
    /// Share of lines whose strings use JSON escapes (`\u0063`, `\/`, `\"`, surrogate pairs).
    public var escapeRate = 0.0
    /// Share of lines whose keys come in a shuffled order.
    public var shuffleKeysRate = 0.0
    /// Share of lines with an unknown field holding nested objects and arrays.
    public var nestedUnknownRate = 0.0
    /// Write `truth/` (latent interests, item popularity, every impression's probabilities).
    public var writeTruth = true
    /// Multiplies every user's impressions per active day (history lengths scale with it; the
    /// heavy tail keeps its shape). The committed sample uses a fraction to stay a few MB.
    public var activityScale = 1.0
    /// Spread (log-normal sigma) of users' events per day: larger makes the heavy tail heavier.
    public var activitySigma = 0.95
    /// Share of users with a periodic interest (`PeriodicInterest`): a category they are in the market for
    /// two days every 2–4 weeks and ignore in between. 0 draws nothing, so the output is unchanged.
    public var periodicShare = 0.0
    /// Share of users with returning categories (`ReturningInterest`): one to three periodic categories
    /// whose market days bring back the same few items, which then convert more often. 0 draws
    /// nothing, so the output is unchanged.
    public var returningShare = 0.0
    /// Write impression truth only for the last this many days (nil: every day). Held-out
    /// evaluation uses the last days, so older impressions' truth is not needed there.
    public var truthImpressionDays: Int?
    /// Uncompressed bytes per LZ4 frame in the event files (frames end at line boundaries).
    public var frameBytes = 16 << 20
    /// Replace the generator's own files in a non-empty output directory instead of refusing.
    public var overwrite = false

    /// 2026-10-01T00:00:00Z.
    public static let defaultStartTs: Int64 = 1_790_812_800
    /// The noise rates of the benchmark data set (`--bench-noise`); the sample uses 0 for all three.
    public static let benchEscapeRate = 0.02
    public static let benchShuffleKeysRate = 0.10
    public static let benchNestedUnknownRate = 0.05

    /// Event ids pack (user index, day, sequence) into 64 bits before mixing; these are the field widths.
    static let userIndexBits = 24
    static let dayBits = 14
    static let sequenceBits = 26

    public init(outputDirectory: String, users: Int, days: Int, seed: UInt64) {
        self.outputDirectory = outputDirectory
        self.users = users
        self.days = days
        self.seed = seed
    }

    /// Items scaled to users: 4 per user, at least 500, at most 100,000 (the catalog stays small enough
    /// to build in a second or two while popular items are still seen by many users).
    public static func defaultItems(users: Int) -> Int { max(500, min(users * 4, 100_000)) }

    public var resolvedItems: Int { items ?? SampleOptions.defaultItems(users: users) }
    public var resolvedMinTs: Int64 { minTs ?? startTs - 365 * 86_400 }
    public var resolvedMaxTs: Int64 { maxTs ?? startTs + Int64(days) * 86_400 + 30 * 86_400 }

    /// Checks ranges; throws a message that names the option to change.
    public func validate() throws(SampleError) {
        func bad(_ m: String) -> SampleError { .invalidOption(m) }
        guard !outputDirectory.isEmpty else { throw bad("--out must name a directory") }
        guard users >= 1, users < 1 << SampleOptions.userIndexBits else {
            throw bad("--users must be in 1...\((1 << SampleOptions.userIndexBits) - 1), got \(users)")
        }
        guard days >= 1, days < 1 << SampleOptions.dayBits else {
            throw bad("--days must be in 1...\((1 << SampleOptions.dayBits) - 1), got \(days)")
        }
        let n = resolvedItems
        guard n >= 100, n <= 50_000_000 else { throw bad("--items must be in 100...50000000, got \(n)") }
        guard startTs >= 0, startTs < 1 << 40 else { throw bad("--start-ts must be in 0..<2^40, got \(startTs)") }
        let end = startTs + Int64(days) * 86_400 - 1
        guard resolvedMinTs >= 0, resolvedMinTs <= startTs else {
            throw bad("--min-ts must be in 0...start-ts (\(startTs)), got \(resolvedMinTs)")
        }
        guard resolvedMaxTs >= end, resolvedMaxTs < 1 << 41 else {
            throw bad("--max-ts must be at least the last second of the last day (\(end)) and below 2^41, got \(resolvedMaxTs)")
        }
        for (name, r, limit) in [("--bad-rate", badRate, 0.5), ("--late-rate", lateRate, 0.5),
                                 ("--duplicate-rate", duplicateRate, 0.5), ("--escape-rate", escapeRate, 1.0),
                                 ("--shuffle-keys-rate", shuffleKeysRate, 1.0),
                                 ("--nested-unknown-rate", nestedUnknownRate, 1.0)] {
            guard r >= 0, r <= limit else { throw bad("\(name) must be in 0...\(limit), got \(r)") }
        }
        guard activityScale > 0, activityScale <= 100 else { throw bad("--activity-scale must be in (0, 100], got \(activityScale)") }
        guard activitySigma >= 0, activitySigma <= 3 else { throw bad("--activity-sigma must be in 0...3, got \(activitySigma)") }
        guard periodicShare >= 0, periodicShare <= 1 else { throw bad("--periodic-share must be in 0...1, got \(periodicShare)") }
        guard returningShare >= 0, returningShare <= 1 else { throw bad("--returning-share must be in 0...1, got \(returningShare)") }
        if let t = truthImpressionDays, t < 1 { throw bad("--truth-impression-days must be at least 1, got \(t)") }
        guard frameBytes >= 1 << 16, frameBytes <= 1 << 30 else {
            throw bad("frame size must be in 64 KiB...1 GiB, got \(frameBytes) bytes")
        }
    }
}

/// Why the generator stopped: a bad option, or an I/O or catalog failure with its context.
public enum SampleError: Error, CustomStringConvertible, Sendable {
    case invalidOption(String)
    case outputNotEmpty(String)
    case io(String)

    public var description: String {
        switch self {
        case let .invalidOption(m): return m
        case let .outputNotEmpty(dir):
            return "\(dir) is not empty; choose an empty directory or pass --overwrite to replace the generator's files in it"
        case let .io(m): return m
        }
    }
}
