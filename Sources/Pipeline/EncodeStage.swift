import Model
import Store
import Support
import Tensor

/// How the select → sequence → encode → quantize → write stages of one pipeline run are set up.
public struct EncodeOptions: Sendable {
    public var kind: PipelineKind
    public var historyStore: String
    public var embeddingStore: String
    public var checkpoint: String
    public var catalog: String
    /// Worker threads; each runs single-threaded OpenBLAS.
    public var threads: Int = 2
    /// Users per window: selected, encoded and committed together (bounds memory; one transaction).
    public var windowUsers: Int = 512
    /// Nightly only: also re-encode users whose history grew by at least this many events (0: off).
    public var staleAfterEvents: Int64 = 0
    /// Seconds to wait for this pipeline's lock on the embedding store (0: refuse at once).
    public var lockTimeout: Double = 0
    /// `--shard k/n`: only users with fmix(user) mod n == k.
    public var shard: Shard = .all

    public init(kind: PipelineKind, historyStore: String, embeddingStore: String, checkpoint: String, catalog: String) {
        self.kind = kind
        self.historyStore = historyStore
        self.embeddingStore = embeddingStore
        self.checkpoint = checkpoint
        self.catalog = catalog
    }
}

/// A shard of the user space: user u belongs to shard fmix(u) mod count (DESIGN section 8).
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int
    public static let all = Shard(index: 0, count: 1)
    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count)
        self.index = index
        self.count = count
    }
    /// Parses `k/n` (0-based).
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, k >= 0, k < n else { return nil }
        self.init(index: k, count: n)
    }
    @inline(__always) public func owns(_ user: UInt64) -> Bool { count == 1 || fmix64(user) % UInt64(count) == UInt64(index) }
    public var description: String { "\(index)/\(count)" }
}

/// What the encode stages did.
public struct EncodeReport: Sendable {
    public var modelVersion = ""
    public var considered = 0
    public var selected = 0
    public var encoded = 0
    public var counts = WriteCounts()
    /// Users whose encoding failed (non-finite output), recorded and skipped until their history grows.
    public var failed = 0
    public var windows = 0
    public var seconds = 0.0
    public var status: VersionStatus = .building
}

/// Why the encode stages could not run.
public enum EncodeError: Error, CustomStringConvertible {
    case checkpoint(CheckpointError)
    case locked(LockError)
    case refused(String)
    case store(StoreError)
    case other(String)

    public var description: String {
        switch self {
        case let .checkpoint(e): return e.description
        case let .locked(e): return e.description
        case let .refused(m): return m
        case let .store(e): return e.description
        case let .other(m): return m
        }
    }
}

/// Select → sequence → encode → quantize → write for one pipeline (DESIGN sections 5 and 6).
///
/// Users are visited in ascending user-id windows; in each window the trigger policy selects who
/// to encode, their histories are tokenized, encoded on the worker threads, quantized and written
/// in one transaction in key order, under the upsert rule. The checkpoint (with its self-test)
/// and the catalog are checked before any store is touched.
public struct EncodeStage {
    public let options: EncodeOptions

    public init(options: EncodeOptions) { self.options = options }

    /// The trigger policy: whether a candidate is encoded, given its stored row (or recorded failure).
    public static func selects(_ kind: PipelineKind, _ c: Candidate, stored: (historyVersion: Int64, failed: Bool)?,
                               staleAfterEvents: Int64) -> Bool {
        guard let stored else { return true }                       // new to the store
        if stored.failed { return c.historyVersion > stored.historyVersion }   // failed: until the history grows
        switch kind {
        case .backfill:
            return stored.historyVersion < c.historyVersion
        case .refresh:
            return c.lastConversionVersion > stored.historyVersion
        case .nightly:
            return c.lastConversionVersion > stored.historyVersion
                || (staleAfterEvents > 0 && c.historyVersion - stored.historyVersion >= staleAfterEvents)
        }
    }

    public func run(log: (String) -> Void = { _ in }) throws(EncodeError) -> EncodeReport {
        let start = monotonicSeconds()
        var report = EncodeReport()
        // 1. The checkpoint and catalog, before any store is touched.
        let checkpoint: Checkpoint
        do {
            let (ck, selftest) = try Checkpoint.loadVerified(directory: options.checkpoint, threads: options.threads)
            checkpoint = ck
            log("checkpoint \(options.checkpoint): \(ck.config.modelVersion), identity \(ck.identity.prefix(16))…, self-test passed (\(selftest.users) users)")
        } catch { throw .checkpoint(error) }
        let config = checkpoint.config
        report.modelVersion = config.modelVersion
        let catalog: Catalog
        do {
            catalog = try Catalog(path: options.catalog)
            try Tokenizer.checkSemanticModel(config, catalog)
        } catch let e as CheckpointError {
            throw .checkpoint(e)
        } catch {
            throw .other("\(error)")
        }

        // 2. This pipeline's lock on the embedding store: one run of a pipeline per store at a time.
        do { try Files.makeDirectories(Files.parentDirectory(options.embeddingStore)) } catch { throw .other("\(error)") }
        let lock: FileLock
        do {
            lock = try FileLock.acquire(path: options.embeddingStore + ".\(options.kind.rawValue).lock",
                                        holder: LockHolder(pipeline: options.kind.rawValue), timeout: options.lockTimeout)
        } catch { throw .locked(error) }
        defer { withExtendedLifetime(lock) {} }

        do {
            let history = try HistoryStore(path: options.historyStore, settings: nil)
            let store = try EmbeddingStore(path: options.embeddingStore)
            let version: ModelVersionInfo
            switch options.kind {
            case .backfill:
                version = try store.ensureVersion(config.modelVersion, identity: checkpoint.identity,
                                                  interests: config.interests, interestDim: config.interestDim)
            case .nightly, .refresh:
                guard let v = try store.version(config.modelVersion) else {
                    throw EncodeError.refused("model version \(config.modelVersion) is not in \(options.embeddingStore): run the backfill first")
                }
                guard v.identity == checkpoint.identity else {
                    throw EncodeError.refused("model version \(config.modelVersion) belongs to another checkpoint (\(v.identity.prefix(16))…)")
                }
                guard v.status == .active else {
                    throw EncodeError.refused("model version \(config.modelVersion) is \(v.status.rawValue), not active: \(options.kind.rawValue) writes only to the active version")
                }
                version = v
            }
            let tokenizer = try Tokenizer(config: config, store: history, catalog: catalog)
            let encoder = Encoder(checkpoint: checkpoint)
            let runID = wallClockSeconds()

            // 3. Windows of ascending user ids.
            var cursor: UInt64 = 0
            var done = false
            while !done {
                let window = try history.candidates(from: cursor, limit: options.windowUsers)
                if window.count < options.windowUsers { done = true }
                guard let last = window.last else { break }
                if last.userID == .max { done = true } else { cursor = last.userID + 1 }
                let owned = window.filter { options.shard.owns($0.userID) }
                report.considered += owned.count
                guard let first = owned.first else { continue }
                let stored = try store.storedVersions(version: version, from: first.userID, through: last.userID)
                let chosen = owned.filter {
                    EncodeStage.selects(options.kind, $0, stored: stored[$0.userID], staleAfterEvents: options.staleAfterEvents)
                }
                if chosen.isEmpty { continue }
                report.selected += chosen.count

                // Sequence: the history and its version come from one read transaction per user.
                var tokens: [TokenizedUser] = []
                var versions: [Int64] = []
                tokens.reserveCapacity(chosen.count)
                for c in chosen {
                    let h = try history.history(c.userID)
                    tokens.append(try tokenizer.tokenize(userID: c.userID, events: h?.events ?? [], features: try history.features(c.userID)))
                    versions.append(h?.state.historyVersion ?? 0)
                }
                // Encode + quantize.
                let zs = encoder.encode(tokens, threads: options.threads)
                report.encoded += tokens.count
                var rows: [EmbeddingRow] = []
                var failures: [(userID: UInt64, historyVersion: Int64, reason: String)] = []
                let now = wallClockSeconds()
                for (i, t) in tokens.enumerated() {
                    do {
                        let q = try quantize(zs[i], interests: config.interests, interestDim: config.interestDim)
                        rows.append(EmbeddingRow(userID: t.userID, codes: q.codes, scales: q.scales, nEvents: t.n, asOf: t.asOf,
                                                 historyVersion: versions[i], computedAt: now, runID: runID))
                    } catch {
                        failures.append((t.userID, versions[i], "\(error)"))
                    }
                }
                // Write: one transaction, keys in order.
                rows.sort { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }
                let counts = try store.database.transaction { () throws -> WriteCounts in
                    let c = try store.upsert(rows, into: version)
                    try store.recordFailures(failures, version: version.version)
                    return c
                }
                report.counts.written += counts.written
                report.counts.keptNewer += counts.keptNewer
                report.counts.tombstoned += counts.tombstoned
                report.failed += failures.count
                report.windows += 1
                for f in failures { log("user \(f.userID): encoding failed (\(f.reason)); skipped until its history grows") }
            }
            if options.kind == .backfill && options.shard == .all {
                try store.promote(version.version)
                log("model version \(version.version) is active")
            } else {
                try store.updateCoverage(version.version)
            }
            report.status = try store.version(version.version)?.status ?? .building
        } catch let e as EncodeError {
            throw e
        } catch let e as StoreError {
            throw .store(e)
        } catch {
            throw .other("\(error)")
        }
        report.seconds = monotonicSeconds() - start
        return report
    }
}
