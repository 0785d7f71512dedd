import Foundation
import Model
import Store
import Support

/// A FIFO of bounded capacity between two stage threads: `put` blocks while it is full
/// (back-pressure), `take` blocks while it is empty; `close` ends the stream for both sides.
final class BoundedQueue<T>: @unchecked Sendable {
    private var items: [T] = []
    private var closed = false
    private let capacity: Int
    private let cond = NSCondition()

    init(capacity: Int) { self.capacity = capacity }

    /// False if the queue was closed (the item is dropped).
    @discardableResult
    func put(_ item: T) -> Bool {
        cond.lock(); defer { cond.unlock() }
        while items.count >= capacity && !closed { cond.wait() }
        if closed { return false }
        items.append(item)
        cond.broadcast()
        return true
    }

    /// Nil once the queue is closed and drained.
    func take() -> T? {
        cond.lock(); defer { cond.unlock() }
        while items.isEmpty && !closed { cond.wait() }
        if items.isEmpty { return nil }
        let x = items.removeFirst()
        cond.broadcast()
        return x
    }

    func close() {
        cond.lock(); defer { cond.unlock() }
        closed = true
        cond.broadcast()
    }
}

/// One window on its way through the stages.
struct WindowWork: @unchecked Sendable {
    var batch: Int
    /// The unsigned user id the next window starts at.
    var next: UInt64
    var considered: Int
    var tokens: [TokenizedUser]
    var versions: [Int64]
    var rows: [EmbeddingRow] = []
    var failures: [(userID: UInt64, historyVersion: Int64, reason: String)] = []
}

/// The three stages of `EncodeStage.encode`, with their shared counters and first error.
final class WindowPipeline: @unchecked Sendable {
    let stage: EncodeStage
    /// The trigger policy of this pass.
    let selecting: PipelineKind
    let model: PreparedModel
    let version: ModelVersionInfo
    let history: HistoryStore
    let store: EmbeddingStore
    let runID: Int64
    let hooks: RunHooks
    let stop: StopFlag
    let progress: @Sendable (EncodeProgress) -> Void
    let log: @Sendable (String) -> Void
    let total: Int
    let began: Double

    private let lock = NSLock()
    private var report = EncodeReport()
    private var firstError: Error?
    private var considered = 0

    init(stage: EncodeStage, selecting: PipelineKind, model: PreparedModel, version: ModelVersionInfo, history: HistoryStore, store: EmbeddingStore, runID: Int64,
         hooks: RunHooks, stop: StopFlag, progress: @escaping @Sendable (EncodeProgress) -> Void, log: @escaping @Sendable (String) -> Void,
         total: Int, began: Double) {
        self.stage = stage
        self.selecting = selecting
        self.model = model
        self.version = version
        self.history = history
        self.store = store
        self.runID = runID
        self.hooks = hooks
        self.stop = stop
        self.progress = progress
        self.log = log
        self.total = total
        self.began = began
    }

    private func fail(_ e: Error) {
        lock.lock(); defer { lock.unlock() }
        if firstError == nil { firstError = e }
    }
    private var failed: Bool { lock.lock(); defer { lock.unlock() }; return firstError != nil }

    func run(from start: UInt64, firstBatch: Int) throws(EncodeError) -> EncodeReport {
        let toEncode = BoundedQueue<WindowWork>(capacity: 2)
        let toWrite = BoundedQueue<WindowWork>(capacity: 2)
        let selected = DispatchSemaphore(value: 0), written = DispatchSemaphore(value: 0)
        let selector = Thread { [self] in
            do { try select(from: start, firstBatch: firstBatch, into: toEncode) } catch { fail(error) }
            toEncode.close()
            selected.signal()
        }
        let writer = Thread { [self] in
            while let w = toWrite.take() {
                if failed { continue }
                do { try write(w) } catch { fail(error); toEncode.close() }
            }
            written.signal()
        }
        selector.start()
        writer.start()
        let encoder = Encoder(checkpoint: model.checkpoint, precision: stage.options.precision)
        let c = model.checkpoint.config
        while var w = toEncode.take() {
            if failed { continue }
            let t0 = monotonicSeconds()
            let zs = encoder.encode(w.tokens, threads: stage.options.threads)
            let now = wallClockSeconds()
            for (i, t) in w.tokens.enumerated() {
                do {
                    let q = try quantize(zs[i], interests: c.interests, interestDim: c.interestDim)
                    w.rows.append(EmbeddingRow(userID: t.userID, codes: q.codes, scales: q.scales, nEvents: t.n, asOf: t.asOf,
                                               historyVersion: w.versions[i], computedAt: now, runID: runID))
                } catch {
                    w.failures.append((t.userID, w.versions[i], "\(error)"))
                }
            }
            w.rows.sort { Int64(bitPattern: $0.userID) < Int64(bitPattern: $1.userID) }
            lock.lock(); report.encoded += w.tokens.count; report.encodeSeconds += monotonicSeconds() - t0; lock.unlock()
            w.tokens = []
            toWrite.put(w)
        }
        toWrite.close()
        selected.wait()
        written.wait()
        // The pass's threads are gone; what their malloc arenas kept goes back to the system
        // (a backfill runs up to three passes).
        releaseFreedMemory()
        if let e = firstError {
            if let e = e as? EncodeError { throw e }
            if let e = e as? StoreError { throw .store(e) }
            throw .other("\(e)")
        }
        return report
    }

    /// Select + sequence: windows of ascending user ids, the trigger policy, tokenization.
    private func select(from start: UInt64, firstBatch: Int, into out: BoundedQueue<WindowWork>) throws {
        let opts = stage.options
        // Its own connections: SQLite connections are not shared between threads here.
        let reader = try EmbeddingStore(readingAt: store.path)
        let tokenizer = try Tokenizer(config: model.checkpoint.config, store: history, catalog: model.catalog)
        var cursor = start, batch = firstBatch
        while !stop.isRaised && !failed {
            let t0 = monotonicSeconds()
            let window = try history.candidates(from: cursor, limit: opts.windowUsers)
            guard let last = window.last else { break }
            let next: UInt64 = last.userID == .max ? .max : last.userID + 1
            let owned = window.filter { opts.shard.owns($0.userID) }
            var chosen: [Candidate] = []
            if let first = owned.first {
                let stored = try reader.storedVersions(version: version, from: first.userID, through: last.userID)
                chosen = owned.filter { EncodeStage.selects(selecting, $0, stored: stored[$0.userID], staleAfterEvents: opts.staleAfterEvents) }
            }
            // Each user's history and its version come from one read transaction (the window's).
            var w = WindowWork(batch: batch, next: next, considered: owned.count, tokens: [], versions: [])
            w.tokens.reserveCapacity(chosen.count)
            // A window is read in one transaction of each store, not one per statement.
            try history.reading {
                try model.catalog.reading {
                    for c in chosen {
                        let (tokens, version) = try tokenizer.tokenize(userID: c.userID, store: history)
                        w.tokens.append(tokens)
                        w.versions.append(version)
                    }
                }
            }
            lock.lock()
            report.considered += owned.count
            report.selected += chosen.count
            report.selectSeconds += monotonicSeconds() - t0
            lock.unlock()
            if !out.put(w) { return }
            batch += 1
            if window.count < opts.windowUsers || last.userID == .max { return }
            cursor = next
        }
        if stop.isRaised {
            lock.lock(); report.interrupted = true; lock.unlock()
        }
    }

    /// Write: the window's rows, failures and progress row in one transaction, keys in order.
    private func write(_ w: WindowWork) throws {
        let t0 = monotonicSeconds()
        let counts = try store.database.transaction { () throws -> WriteCounts in
            let c = try store.upsert(w.rows, into: version)
            try store.recordFailures(w.failures, version: version.version)
            try store.recordBatch(runID: runID, batch: w.batch, nextUser: w.next, selected: w.rows.count + w.failures.count,
                                  written: c.written, failed: w.failures.count)
            hooks.reached(.midTransaction, batch: w.batch)
            return c
        }
        hooks.reached(.afterCommit, batch: w.batch)
        for f in w.failures { log("user \(f.userID): encoding failed (\(f.reason)); skipped until its history grows") }
        lock.lock()
        report.counts.written += counts.written
        report.counts.keptNewer += counts.keptNewer
        report.counts.tombstoned += counts.tombstoned
        report.drift.add(counts.replacedCosines)
        report.failed += w.failures.count
        report.windows += 1
        report.writeSeconds += monotonicSeconds() - t0
        considered += w.considered
        let p = EncodeProgress(considered: considered, total: total, selected: report.selected, encoded: report.encoded,
                               written: report.counts.written, seconds: monotonicSeconds() - began)
        lock.unlock()
        progress(p)
        if (w.batch + 1) % 8 == 0 {
            try hooks.checkpointWAL(store.database, batch: w.batch + 1)
            // The stages' threads each allocate from their own malloc arena; their freed pages go
            // back to the system here, so the resident size does not drift with the windows done.
            releaseFreedMemory()
        }
    }
}
