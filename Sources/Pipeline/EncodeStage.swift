import Model
import Store
import Support
import Tensor

/// How the select → sequence → encode → quantize → write stages of one pipeline run are set up.
public struct EncodeOptions: Sendable {
    public var kind: PipelineKind
    public var historyStore: String
    public var embeddingStore: String
    /// The checkpoint directory; nil (nightly and refresh) to follow the active version's.
    public var checkpoint: String?
    public var catalog: String
    /// Worker threads; each runs single-threaded kernels.
    public var threads: Int = 2
    /// The linear layers' arithmetic (`encode.precision`): fp32, or bf16 on CPUs with AVX-512 BF16.
    public var precision: Model.Encoder.Precision = .fp32
    /// Users per window: selected, encoded and committed together (bounds memory; one transaction).
    public var windowUsers: Int = 512
    /// Nightly only: also re-encode users whose history grew by at least this many events (0: off).
    public var staleAfterEvents: Int64 = 0
    /// Seconds to wait for this pipeline's lock on the embedding store (0: refuse at once).
    public var lockTimeout: Double = 0
    /// `--shard k/n`: only users with fmix(user) mod n == k.
    public var shard: Shard = .all
    /// Backfill only: promote the version when it completes and the guard passes.
    public var promote: PromoteMode = .auto
    /// `llatte run … --promote`: asked for on the command line, so it may also promote a version
    /// that was active before (a rollback); `promote: auto` alone never rolls back.
    public var promoteRequested = false
    public var promotion = PromotionPolicy()
    /// Nightly only: prune run records that finished more than this many days ago (0: never).
    public var keepRunsDays = 90
    /// Backfill only: seconds to wait for the history store's lock before the final catch-up.
    public var historyLockTimeout: Double = 60

    public init(kind: PipelineKind, historyStore: String, embeddingStore: String, checkpoint: String?, catalog: String) {
        self.kind = kind
        self.historyStore = historyStore
        self.embeddingStore = embeddingStore
        self.checkpoint = checkpoint
        self.catalog = catalog
    }
}

/// A shard of the user space: user u belongs to shard fmix(u) mod count (docs/pipelines.md, Scale-out).
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
    /// Busy seconds of each stage (they overlap, so they may sum to more than `seconds`).
    public var selectSeconds = 0.0, encodeSeconds = 0.0, writeSeconds = 0.0
    /// How far re-encoding moved the rows it replaced (a backfill's catch-up passes not included).
    public var drift = ReencodeDrift()
    /// Candidate users in the history store when the pass began (all shards).
    public var candidates = 0

    /// Adds a later pass of the same run (a backfill's catch-up, which considers the same users again).
    mutating func add(_ o: EncodeReport) {
        selected += o.selected; encoded += o.encoded
        counts.written += o.counts.written; counts.keptNewer += o.counts.keptNewer; counts.tombstoned += o.counts.tombstoned
        failed += o.failed; windows += o.windows; seconds += o.seconds
        interrupted = interrupted || o.interrupted
        selectSeconds += o.selectSeconds; encodeSeconds += o.encodeSeconds; writeSeconds += o.writeSeconds
    }
}

/// Why the encode stages could not run.
public enum EncodeError: PathError {
    case checkpoint(CheckpointError)
    /// A lock was not taken: held by another process (`isHeld`: exit code 4), or its file unusable (exit code 1).
    case locked(LockError)
    case refused(String)
    case store(StoreError)
    /// A file or directory the stages need could not be made or used.
    case file(FileError)
    case other(String)

    public var description: String {
        switch self {
        case let .checkpoint(e): return e.description
        case let .locked(e): return e.description
        case let .refused(m): return m
        case let .store(e): return e.description
        case let .file(e): return e.description
        case let .other(m): return m
        }
    }

    public var concernedPath: String? {
        switch self {
        case let .checkpoint(e): return e.file
        case let .locked(e): return e.concernedPath
        case let .store(e): return e.path
        case let .file(e): return e.path
        case .refused, .other: return nil
        }
    }
}

extension EncodeError {
    /// Runs `body`, passing an `EncodeError` through and mapping store errors to `.store` and
    /// anything else to `.other`.
    static func mapping<T>(_ body: () throws -> T) throws(EncodeError) -> T {
        do { return try body() } catch let e as EncodeError {
            throw e
        } catch let e as StoreError {
            throw .store(e)
        } catch let e as FileError {
            throw .file(e)
        } catch {
            throw .other("\(error)")
        }
    }
}

/// Select → sequence → encode → quantize → write for one pipeline (docs/pipelines.md).
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

    /// The checkpoint directory this run uses: the pipeline's, or (when it names none) the one the
    /// active version's backfill recorded — so nightly and refresh follow a promotion.
    public func checkpointDirectory() throws(EncodeError) -> String {
        if let c = options.checkpoint { return c }
        let none = "no active model version in \(options.embeddingStore) to follow: run a backfill first, or name a checkpoint in the pipeline file"
        guard Files.exists(options.embeddingStore) else { throw .refused(none) }
        return try EncodeError.mapping {
            let store = try EmbeddingStore(readingAt: options.embeddingStore)
            guard try store.storedFormatVersion() ?? 0 >= 2 else {
                throw EncodeError.refused("\(options.embeddingStore) was written by an older llatte, which recorded no checkpoint per version: name the checkpoint in the pipeline file")
            }
            guard let active = try store.activeVersion() else { throw EncodeError.refused(none) }
            guard let path = active.checkpointPath else {
                throw EncodeError.refused("the active version \(active.version) has no recorded checkpoint directory (its backfill predates it): name its checkpoint in the pipeline file")
            }
            return path
        }
    }

    /// Candidate users of this run's shard in the history store (a backfill's build records it).
    public func candidateCount(_ history: HistoryStore) throws(StoreError) -> Int64 {
        if options.shard == .all { return Int64(try history.candidateCount()) }
        var n: Int64 = 0, cursor: UInt64 = 0
        while true {
            let window = try history.candidates(from: cursor, limit: 4096)
            guard let last = window.last else { break }
            n += Int64(window.count { options.shard.owns($0.userID) })
            if window.count < 4096 || last.userID == .max { break }
            cursor = last.userID + 1
        }
        return n
    }

    /// Loads the checkpoint (its self-test must pass) and checks the catalog, before any store is written.
    public func prepare(log: (String) -> Void) throws(EncodeError) -> PreparedModel {
        let checkpoint: Checkpoint
        let directory = try checkpointDirectory()
        do {
            let (ck, selftest) = try Checkpoint.loadVerified(directory: directory, threads: options.threads)
            checkpoint = ck
            let following = options.checkpoint == nil ? " (the active version's)" : ""
            log("checkpoint \(directory)\(following): \(ck.config.modelVersion), identity \(ck.identity.prefix(16))…, self-test passed (\(selftest.users) users)")
        } catch { throw .checkpoint(error) }
        if let reason = options.precision.unsupportedReason { throw .refused("encode.precision \(options.precision.rawValue): \(reason)") }
        if options.precision == .bf16 {
            let cosine = Model.Encoder.bf16SelfCheck(checkpoint, threads: options.threads)
            let needed = Model.Encoder.Precision.bf16MinimumCosine
            guard cosine >= needed else {
                throw .refused("encode.precision bf16: with bf16 linear layers this checkpoint's embeddings reach cosine "
                               + "\(cosine) to fp32 on the bf16 self-check (at least \(needed) needed); encode it in fp32")
            }
            log("bf16 linear layers: worst cosine to fp32 on the bf16 self-check \(cosine)")
        }
        do {
            let catalog = try Catalog(path: options.catalog)
            try Tokenizer.checkSemanticModel(checkpoint.config, catalog)
            return PreparedModel(checkpoint: checkpoint, catalog: catalog, catalogSHA256: try catalog.contentHash().hex)
        } catch let e as CheckpointError {
            throw .checkpoint(e)
        } catch let e as StoreError {
            throw .store(e)
        } catch {
            throw .other("\(error)")
        }
    }

    /// This pipeline's lock on the embedding store: one run of a pipeline per store at a time
    /// (different pipelines may overlap; the upsert rule keeps them safe).
    public func lock() throws(EncodeError) -> FileLock {
        do { try Files.makeDirectories(Files.parentDirectory(options.embeddingStore)) } catch { throw .file(error) }
        do {
            return try FileLock.acquire(path: options.embeddingStore + ".\(options.kind.rawValue).lock",
                                        holder: LockHolder(pipeline: options.kind.rawValue), timeout: options.lockTimeout)
        } catch { throw .locked(error) }
    }

    /// The model version this run writes: backfill creates it (building); nightly and refresh
    /// require it to exist for this checkpoint and be active.
    public func version(_ m: PreparedModel, in store: EmbeddingStore) throws(EncodeError) -> ModelVersionInfo {
        let config = m.checkpoint.config
        return try EncodeError.mapping {
            switch options.kind {
            case .backfill:
                return try store.ensureVersion(config.modelVersion, identity: m.checkpoint.identity,
                                               interests: config.interests, interestDim: config.interestDim,
                                               checkpointPath: try Files.absolutePath(m.checkpoint.directory))
            case .nightly, .refresh:
                guard let v = try store.version(config.modelVersion) else {
                    throw EncodeError.refused("model version \(config.modelVersion) is not in \(options.embeddingStore): run the backfill first")
                }
                guard v.identity == m.checkpoint.identity else {
                    throw EncodeError.refused("model version \(config.modelVersion) belongs to another checkpoint (\(v.identity.prefix(16))…)")
                }
                guard v.status == .active else {
                    let active = try store.activeVersion()
                    let now = active.map { a in "\(a.version) is active\(a.checkpointPath.map { ", checkpoint \($0)" } ?? "")" } ?? "no version is active"
                    throw EncodeError.refused("model version \(config.modelVersion) is \(v.status.rawValue), not active (\(now)): \(options.kind.rawValue) writes only to the active version; "
                                              + "point this pipeline's checkpoint at the active version's, or remove the key to follow the active version")
                }
                return v
            }
        }
    }

    /// The window loop from `start` (an unsigned user id) as three overlapping stages joined by
    /// bounded queues (back-pressure: at most two windows wait between stages, so memory does not
    /// grow with the user count): select + sequence on one thread, encode + quantize on the worker
    /// threads, write on a third — each window in one transaction with its progress row, in window
    /// order. When `stop` is raised no new window is selected; those in flight are finished.
    /// `selecting` is the trigger policy (the pipeline's own unless a backfill's catch-up asks for refresh's).
    public func encode(_ m: PreparedModel, version: ModelVersionInfo, history: HistoryStore, store: EmbeddingStore,
                       runID: Int64, from start: UInt64, firstBatch: Int, selecting: PipelineKind? = nil, stop: StopFlag, hooks: RunHooks,
                       progress: @escaping @Sendable (EncodeProgress) -> Void = { _ in },
                       log: @escaping @Sendable (String) -> Void) throws(EncodeError) -> EncodeReport {
        let began = monotonicSeconds()
        let config = m.checkpoint.config
        let total: Int
        do { total = try history.candidateCount() } catch { throw .store(error) }
        let pipeline = WindowPipeline(stage: self, selecting: selecting ?? options.kind, model: m, version: version, history: history, store: store, runID: runID,
                                      hooks: hooks, stop: stop, progress: progress, log: log, total: total, began: began)
        var report = try pipeline.run(from: start, firstBatch: firstBatch)
        report.modelVersion = config.modelVersion
        report.candidates = total
        report.seconds = monotonicSeconds() - began
        return report
    }
}

/// Where a run is, for progress displays: users considered of the total, selected, written.
public struct EncodeProgress: Sendable {
    public var considered: Int
    public var total: Int
    public var selected: Int
    public var encoded: Int
    public var written: Int
    public var seconds: Double
}

/// A checkpoint whose self-test passed and the catalog checked against it.
public struct PreparedModel {
    public let checkpoint: Checkpoint
    public let catalog: Catalog
    public let catalogSHA256: String

    /// For benchmarks that build their checkpoint in memory; pipelines use `EncodeStage.prepare`.
    public init(checkpoint: Checkpoint, catalog: Catalog, catalogSHA256: String) {
        self.checkpoint = checkpoint
        self.catalog = catalog
        self.catalogSHA256 = catalogSHA256
    }
}
