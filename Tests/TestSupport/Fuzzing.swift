#if canImport(Glibc)
import Glibc
#endif
import Support

// MARK: - Generator

/// SplitMix64, the seeded generator of the fuzz tests: one per input, derived from the campaign's
/// seed, name and the input's iteration number, so any input reproduces on its own.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (n > 0).
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0, "below(\(n))")
        return Int(next() % UInt64(n))
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) * 0x1p-53 < p }

    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

// MARK: - Mutations

/// Seeded byte mutations: bits flipped, bytes overwritten, runs inserted, removed and duplicated,
/// chunks spliced in from another input, tokens inserted or put in place of a number, truncation.
public struct ByteMutator: Sendable {
    /// Byte strings worth inserting whole (punctuation, keys, edge-case numbers, bad UTF-8…).
    public var tokens: [[UInt8]]

    public init(tokens: [[UInt8]]) { self.tokens = tokens }

    /// Tokens for JSON text: structure, escapes, line ends, numbers at the edges of the integer
    /// types, non-finite and non-integral numbers, invalid UTF-8 and the event log's keys.
    public static let json = ByteMutator(tokens: [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u0000", "\\ud800", "\\udc00\\ud800", "\\u00e9", "\\n", "\u{e9}", "\u{FEFF}",
        "\n", "\r\n", "\r", " ", "\t", "null", "true", "false", "-", "0", "-0", "-1", "00", "1e3", "1.0", "1.5", "1e-400", "1e999",
        "-1e999", "0.0000001", "255", "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "18446744073709551615", "18446744073709551616", "123456789012345678901234567890",
        "\"event_id\":", "\"ts\":", "\"user_id\":", "\"item_id\":", "\"type\":", "\"surface\":", "\"dwell_ms\":", "\"value\":",
        "\"\":", "{}", "[]", "\"\"",
    ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x00], [0x80]])

    /// Bytes that matter to parsers and framing, for overwrites.
    static let interesting: [UInt8] = [0x00, 0x01, 0x0A, 0x0D, 0x20, 0x22, 0x2C, 0x3A, 0x5C, 0x7B, 0x7D, 0x7F, 0x80, 0xC3, 0xFF]

    /// Applies `count` random mutations to `bytes`; returns their names in order (for failure
    /// messages). `donor` supplies spliced chunks.
    @discardableResult
    public func mutate(_ bytes: inout [UInt8], count: Int, rng: inout SplitMix64, donor: [UInt8] = []) -> [String] {
        var applied: [String] = []
        for _ in 0..<count {
            let op = rng.below(11)
            let at = bytes.isEmpty ? 0 : rng.below(bytes.count)
            switch op {
            case 0 where !bytes.isEmpty:
                bytes[at] ^= 1 << UInt8(rng.below(8))
                applied.append("flip@\(at)")
            case 1 where !bytes.isEmpty:
                bytes[at] = rng.chance(0.5) ? rng.pick(ByteMutator.interesting) : UInt8(truncatingIfNeeded: rng.next())
                applied.append("set@\(at)")
            case 2:
                let n = 1 + rng.below(rng.chance(0.9) ? 8 : 300)
                let run = rng.chance(0.5) ? [UInt8](repeating: rng.pick(ByteMutator.interesting), count: n)
                    : (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                bytes.insert(contentsOf: run, at: at)
                applied.append("insert\(n)@\(at)")
            case 3 where !bytes.isEmpty:
                let n = 1 + rng.below(min(bytes.count - at, rng.chance(0.8) ? 8 : 256))
                bytes.removeSubrange(at..<at + n)
                applied.append("remove\(n)@\(at)")
            case 4 where !bytes.isEmpty:
                let n = 1 + rng.below(min(bytes.count - at, 512))
                let chunk = Array(bytes[at..<at + n])
                let to = rng.below(bytes.count + 1)
                bytes.insert(contentsOf: chunk, at: to)
                applied.append("duplicate\(n)@\(at)→\(to)")
            case 5 where !donor.isEmpty:
                let from = rng.below(donor.count)
                let n = 1 + rng.below(min(donor.count - from, 1024))
                let end = rng.chance(0.5) ? at : min(bytes.count, at + rng.below(n + 1))
                bytes.replaceSubrange(at..<end, with: donor[from..<from + n])
                applied.append("splice\(n)@\(at)")
            case 6:
                bytes.removeSubrange(rng.below(bytes.count + 1)...)
                applied.append("truncate@\(bytes.count)")
            case 7, 8:
                bytes.insert(contentsOf: rng.pick(tokens), at: at)
                applied.append("token@\(at)")
            case 9 where !bytes.isEmpty:
                // The number (or other token) at `at`, replaced by a token.
                var end = at
                while end < bytes.count, end - at < 32, ![0x2C, 0x7D, 0x5D, 0x0A, 0x3A].contains(bytes[end]) { end += 1 }
                bytes.replaceSubrange(at..<end, with: rng.pick(tokens))
                applied.append("replace@\(at)")
            case 10 where !bytes.isEmpty:
                // Adjacent bytes swapped, or a byte incremented: small shifts that keep the length.
                if at + 1 < bytes.count && rng.chance(0.5) { bytes.swapAt(at, at + 1) } else { bytes[at] &+= 1 }
                applied.append("nudge@\(at)")
            default:
                bytes.insert(contentsOf: rng.pick(tokens), at: at)
                applied.append("token@\(at)")
            }
        }
        return applied
    }
}

// MARK: - Campaigns

/// How much to fuzz, from the environment: `LLATTE_FUZZ_SEED` (default 1), `LLATTE_FUZZ_ITER`
/// (inputs per campaign; default: each campaign's own, sized so `swift test` stays quick) and
/// `LLATTE_FUZZ_ONLY` (run that one iteration, to reproduce a failure).
public struct FuzzSettings: Sendable {
    public var seed: UInt64
    public var iterations: Int?
    public var only: Int?

    public init(seed: UInt64 = 1, iterations: Int? = nil, only: Int? = nil) {
        self.seed = seed
        self.iterations = iterations
        self.only = only
    }

    public static var environment: FuzzSettings {
        let env = { (k: String) -> String? in getenv(k).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        return FuzzSettings(seed: env("LLATTE_FUZZ_SEED").flatMap { UInt64($0) } ?? 1,
                            iterations: env("LLATTE_FUZZ_ITER").flatMap { Int($0) },
                            only: env("LLATTE_FUZZ_ONLY").flatMap { Int($0) })
    }
}

/// What one fuzz input did: an outcome name (for the summary's counts), the lines it held, finer
/// counts of its parts (e.g. the files of one input, by outcome), and the properties it broke
/// (empty when it passed).
public struct FuzzResult: Sendable {
    public var outcome: String
    public var lines = 0
    public var tallies: [String: Int] = [:]
    public var failures: [String] = []

    public init(outcome: String, lines: Int = 0, tallies: [String: Int] = [:], failures: [String] = []) {
        self.outcome = outcome
        self.lines = lines
        self.tallies = tallies
        self.failures = failures
    }
}

/// A finished campaign: inputs run, inputs over the time limit, inputs that broke a property,
/// outcome counts, and the first 50 failure messages, each naming its seed and iteration.
public struct FuzzReport: Sendable {
    public var name: String
    public var seed: UInt64
    public var inputs = 0
    public var hangs = 0
    public var failedInputs = 0
    public var lines = 0
    public var outcomes: [String: Int] = [:]
    /// The inputs' tallies, summed.
    public var tallies: [String: Int] = [:]
    public var failures: [String] = []
    public var seconds = 0.0

    /// Inputs whose outcome is `name`.
    public func count(_ name: String) -> Int { outcomes[name, default: 0] }

    /// One line: `fuzz <name>: seed S, N inputs, crashes 0, hangs H, failures F, L lines; outcomes: a n, …; T s`
    /// (F: inputs that broke a property).
    /// Crashes are 0 by construction: a crash ends the process, after the crash reporter printed
    /// the input in flight.
    public var summary: String {
        func list(_ d: [String: Int]) -> String { d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
        return "fuzz \(name): seed \(seed), \(inputs) inputs, crashes 0, hangs \(hangs), failures \(failedInputs), "
            + "\(lines) lines; outcomes: \(list(outcomes))" + (tallies.isEmpty ? "" : "; \(list(tallies))")
            + "; \(String(format: "%.1f", seconds)) s"
    }
}

/// A seeded mutation-fuzzing campaign: runs `body` on iterations 0..<n, each with its own
/// generator (a function of seed, campaign name and iteration, nothing else), and collects a report.
///
/// No crash: while an input runs, its seed and iteration are held where the crash reporter (a
/// signal handler) prints them if the process dies. No hang: an input slower than `slowSeconds`
/// is a failure; one still running after `hangSeconds` makes the watchdog print it and abort.
public struct FuzzCampaign {
    public let name: String
    public let settings: FuzzSettings
    public var slowSeconds = 5.0
    public var hangSeconds = 120.0

    public init(_ name: String, settings: FuzzSettings = .environment) {
        self.name = name
        self.settings = settings
    }

    /// The command that reruns one input.
    public func reproduce(_ iteration: Int) -> String {
        "LLATTE_FUZZ_SEED=\(settings.seed) LLATTE_FUZZ_ONLY=\(iteration) swift test --filter \(name)"
    }

    /// Runs `defaultIterations` inputs, or `LLATTE_FUZZ_ITER` × `share` of them when that is set.
    public func run(defaultIterations: Int, share: Double = 1, _ body: (Int, inout SplitMix64) throws -> FuzzResult) -> FuzzReport {
        let n = settings.iterations.map { max(1, Int((Double($0) * share).rounded())) } ?? defaultIterations
        let iterations = settings.only.map { $0..<($0 + 1) } ?? 0..<n
        var report = FuzzReport(name: name, seed: settings.seed)
        let nameHash = Array(name.utf8).withUnsafeBytes { fnv1a($0) }
        let slot = InFlight.shared.claim()
        defer { InFlight.shared.release(slot) }
        let start = monotonicSeconds()
        for i in iterations {
            var rng = SplitMix64(seed: fmix64(settings.seed ^ nameHash) &+ fmix64(UInt64(i) &+ 0x5EED))
            InFlight.shared.begin(slot, "fuzz \(name): seed \(settings.seed) iteration \(i); rerun it alone with: \(reproduce(i))",
                                  hangSeconds: hangSeconds)
            let t0 = monotonicSeconds()
            var result: FuzzResult
            do { result = try body(i, &rng) } catch {
                result = FuzzResult(outcome: "harness error", failures: ["the harness threw \(error)"])
            }
            let elapsed = monotonicSeconds() - t0
            InFlight.shared.end(slot)
            if elapsed > slowSeconds {
                report.hangs += 1
                result.failures.append("took \(String(format: "%.1f", elapsed)) s (limit \(slowSeconds) s): a hang")
            }
            report.inputs += 1
            report.lines += result.lines
            report.outcomes[result.outcome, default: 0] += 1
            report.tallies.merge(result.tallies, uniquingKeysWith: +)
            if !result.failures.isEmpty { report.failedInputs += 1 }
            for f in result.failures where report.failures.count < 50 {
                report.failures.append("fuzz \(name) seed \(settings.seed) iteration \(i): \(f) — rerun: \(reproduce(i))")
            }
        }
        report.seconds = monotonicSeconds() - start
        return report
    }
}

// MARK: - Crash reporter and watchdog

/// The inputs in flight, one slot per running campaign, in memory a signal handler may read: on a
/// crash (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT) their messages are written to stderr
/// before the previous handler runs; a watchdog thread aborts the process, naming the input, when
/// one runs past its hang limit.
final class InFlight: @unchecked Sendable {
    static let shared = InFlight()
    static let slots = 8, messageBytes = 512

    /// Per slot: in use, running, start time and hang limit (seconds), message length, message.
    private let used = UnsafeMutablePointer<Int32>.allocate(capacity: slots)
    private let running = UnsafeMutablePointer<Int32>.allocate(capacity: slots)
    private let started = UnsafeMutablePointer<Double>.allocate(capacity: slots)
    private let limit = UnsafeMutablePointer<Double>.allocate(capacity: slots)
    private let length = UnsafeMutablePointer<Int>.allocate(capacity: slots)
    private let text = UnsafeMutablePointer<UInt8>.allocate(capacity: slots * messageBytes)
    private var lock = pthread_mutex_t()

    private init() {
        used.initialize(repeating: 0, count: InFlight.slots)
        running.initialize(repeating: 0, count: InFlight.slots)
        started.initialize(repeating: 0, count: InFlight.slots)
        limit.initialize(repeating: 0, count: InFlight.slots)
        length.initialize(repeating: 0, count: InFlight.slots)
        pthread_mutex_init(&lock, nil)
        installCrashReporter()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { _ in InFlight.shared.watch(); return nil }, nil)
        precondition(rc == 0, "pthread_create: \(rc)")
        pthread_detach(thread)
    }

    func claim() -> Int {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard let k = (0..<InFlight.slots).first(where: { used[$0] == 0 }) else { preconditionFailure("more than \(InFlight.slots) fuzz campaigns at once") }
        used[k] = 1
        return k
    }

    func release(_ k: Int) {
        pthread_mutex_lock(&lock)
        used[k] = 0
        running[k] = 0
        pthread_mutex_unlock(&lock)
    }

    func begin(_ k: Int, _ message: String, hangSeconds: Double) {
        let bytes = Array(message.utf8.prefix(InFlight.messageBytes - 1)) + [0x0A]
        pthread_mutex_lock(&lock)
        bytes.withUnsafeBufferPointer { (text + k * InFlight.messageBytes).update(from: $0.baseAddress!, count: $0.count) }
        length[k] = bytes.count
        started[k] = monotonicSeconds()
        limit[k] = hangSeconds
        running[k] = 1
        pthread_mutex_unlock(&lock)
    }

    func end(_ k: Int) {
        pthread_mutex_lock(&lock)
        running[k] = 0
        pthread_mutex_unlock(&lock)
    }

    /// Writes every running input's message to stderr; async-signal-safe (no lock, no allocation).
    func report(prefix: StaticString) {
        for k in 0..<InFlight.slots where running[k] != 0 {
            _ = write(2, prefix.utf8Start, prefix.utf8CodeUnitCount)
            _ = write(2, text + k * InFlight.messageBytes, length[k])
        }
    }

    private func watch() {
        while true {
            sleep(1)
            pthread_mutex_lock(&lock)
            let now = monotonicSeconds()
            let hung = (0..<InFlight.slots).first { running[$0] != 0 && now - started[$0] > limit[$0] }
            pthread_mutex_unlock(&lock)
            if let k = hung {
                let prefix: StaticString = "fuzz hang: this input ran past its time limit: "
                _ = write(2, prefix.utf8Start, prefix.utf8CodeUnitCount)
                _ = write(2, text + k * InFlight.messageBytes, length[k])
                abort()
            }
        }
    }
}

/// The handlers that were installed before the crash reporter, restored when it has spoken.
nonisolated(unsafe) private var previousActions = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)

private func installCrashReporter() {
    for sig in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT] {
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = { sig, _, _ in
            InFlight.shared.report(prefix: "fuzz crash: the process died while this input ran: ")
            // Put the previous handler back and return: the faulting instruction runs again (abort
            // raises again) and the previous handler, or the default action, takes over.
            sigaction(sig, previousActions + Int(sig), nil)
        }
        action.sa_flags = SA_SIGINFO | SA_ONSTACK
        sigemptyset(&action.sa_mask)
        sigaction(sig, &action, previousActions + Int(sig))
    }
}
