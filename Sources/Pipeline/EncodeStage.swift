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
    /// Stopped by a signal before all windows were done.
    public var interrupted = false
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

    /// Loads the checkpoint (its self-test must pass) and checks the catalog, before any store is touched.
    public func prepare(log: (String) -> Void) throws(EncodeError) -> PreparedModel {
        let checkpoint: Checkpoint
        do {
            let (ck, selftest) = try Checkpoint.loadVerified(directory: options.checkpoint, threads: options.threads)
            checkpoint = ck
            log("checkpoint \(options.checkpoint): \(ck.config.modelVersion), identity \(ck.identity.prefix(16))…, self-test passed (\(selftest.users) users)")
        } catch { throw .checkpoint(error) }
        do {
            let catalog = try Catalog(path: options.catalog)
            try Tokenizer.checkSemanticModel(checkpoint.config, catalog)
            return PreparedModel(checkpoint: checkpoint, catalog: catalog, catalogSHA256: try catalog.contentHash().hex)
        } catch let e as CheckpointError {
            throw .checkpoint(e)
        } catch {
            throw .other("\(error)")
        }
    }

    /// This pipeline's lock on the embedding store: one run of a pipeline per store at a time
    /// (different pipelines may overlap; the upsert rule keeps them safe).
    public func lock() throws(EncodeError) -> FileLock {
        do { try Files.makeDirectories(Files.parentDirectory(options.embeddingStore)) } catch { throw .other("\(error)") }
        do {
            return try FileLock.acquire(path: options.embeddingStore + ".\(options.kind.rawValue).lock",
                                        holder: LockHolder(pipeline: options.kind.rawValue), timeout: options.lockTimeout)
        } catch { throw .locked(error) }
    }

    /// The model version this run writes: backfill creates it (building); nightly and refresh
    /// require it to exist for this checkpoint and be active.
    public func version(_ m: PreparedModel, in store: EmbeddingStore) throws(EncodeError) -> ModelVersionInfo {
        let config = m.checkpoint.config
        do {
            switch options.kind {
            case .backfill:
                return try store.ensureVersion(config.modelVersion, identity: m.checkpoint.identity,
                                               interests: config.interests, interestDim: config.interestDim)
            case .nightly, .refresh:
                guard let v = try store.version(config.modelVersion) else {
                    throw EncodeError.refused("model version \(config.modelVersion) is not in \(options.embeddingStore): run the backfill first")
                }
                guard v.identity == m.checkpoint.identity else {
                    throw EncodeError.refused("model version \(config.modelVersion) belongs to another checkpoint (\(v.identity.prefix(16))…)")
                }
                guard v.status == .active else {
                    throw EncodeError.refused("model version \(config.modelVersion) is \(v.status.rawValue), not active: \(options.kind.rawValue) writes only to the active version")
                }
                return v
            }
        } catch let e as EncodeError {
            throw e
        } catch let e as StoreError {
            throw .store(e)
        } catch {
            throw .other("\(error)")
        }
    }

    /// The window loop from `start` (an unsigned user id): select, sequence, encode, quantize and
    /// write each window in one transaction together with its progress row. Stops after the
    /// current window when `stop` is raised (the report says so).
    public func encode(_ m: PreparedModel, version: ModelVersionInfo, history: HistoryStore, store: EmbeddingStore,
                       runID: Int64, from start: UInt64, firstBatch: Int, stop: StopFlag, hooks: RunHooks,
                       log: (String) -> Void) throws(EncodeError) -> EncodeReport {
        let began = monotonicSeconds()
        var report = EncodeReport()
        let config = m.checkpoint.config
        report.modelVersion = config.modelVersion
        do {
            let tokenizer = try Tokenizer(config: config, store: history, catalog: m.catalog)
            let encoder = Encoder(checkpoint: m.checkpoint)
            var cursor = start
            var batch = firstBatch
            var done = false
            while !done {
                if stop.isRaised {
                    report.interrupted = true
                    break
                }
                let window = try history.candidates(from: cursor, limit: options.windowUsers)
                if window.count < options.windowUsers { done = true }
                guard let last = window.last else { break }
                let next: UInt64
                if last.userID == .max { done = true; next = .max } else { next = last.userID + 1 }
                let owned = window.filter { options.shard.owns($0.userID) }
                report.considered += owned.count
                var chosen: [Candidate] = []
                if let first = owned.first {
                    let stored = try store.storedVersions(version: version, from: first.userID, through: last.userID)
                    chosen = owned.filter {
                        EncodeStage.selects(options.kind, $0, stored: stored[$0.userID], staleAfterEvents: options.staleAfterEvents)
                    }
                }
                report.selected += chosen.count

                // Sequence: each user's history and its version come from one read transaction.
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
                // Write: one transaction with the progress row, keys in order.
                rows.sort { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }
                let counts = try store.database.transaction { () throws -> WriteCounts in
                    let c = try store.upsert(rows, into: version)
                    try store.recordFailures(failures, version: version.version)
                    try store.recordBatch(runID: runID, batch: batch, nextUser: next, selected: chosen.count, written: c.written, failed: failures.count)
                    hooks.reached(.midTransaction, batch: batch)
                    return c
                }
                hooks.reached(.afterCommit, batch: batch)
                batch += 1
                report.counts.written += counts.written
                report.counts.keptNewer += counts.keptNewer
                report.counts.tombstoned += counts.tombstoned
                report.failed += failures.count
                report.windows += 1
                for f in failures { log("user \(f.userID): encoding failed (\(f.reason)); skipped until its history grows") }
                if batch % 8 == 0 { try hooks.checkpointWAL(store.database, batch: batch) }
                cursor = next
            }
        } catch let e as EncodeError {
            throw e
        } catch let e as StoreError {
            throw .store(e)
        } catch {
            throw .other("\(error)")
        }
        report.seconds = monotonicSeconds() - began
        return report
    }
}

/// A checkpoint whose self-test passed and the catalog checked against it.
public struct PreparedModel {
    public let checkpoint: Checkpoint
    public let catalog: Catalog
    public let catalogSHA256: String
}
