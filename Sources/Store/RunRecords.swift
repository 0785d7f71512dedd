#if canImport(Glibc)
import Glibc
#endif
import Support

/// A row of the `runs` table: one pipeline run, its inputs and checkpoint, counts and status.
public struct RunRecord: Sendable, Equatable {
    public enum Status: String, Sendable { case running, interrupted, ok, failed }
    public var runID: Int64
    public var pipeline: String
    public var shard: String
    public var modelVersion: String
    public var checkpointIdentity: String
    /// The run's input files, one `path<TAB>size<TAB>mtime_ns<TAB>sha256` line each (sorted by path).
    public var inputs: String
    public var catalogSHA256: String
    public var cpuKernel: String
    public var status: Status
    public var started: Int64

    public init(runID: Int64, pipeline: String, shard: String, modelVersion: String, checkpointIdentity: String, inputs: String,
                catalogSHA256: String, cpuKernel: String, status: Status, started: Int64) {
        self.runID = runID
        self.pipeline = pipeline
        self.shard = shard
        self.modelVersion = modelVersion
        self.checkpointIdentity = checkpointIdentity
        self.inputs = inputs
        self.catalogSHA256 = catalogSHA256
        self.cpuKernel = cpuKernel
        self.status = status
        self.started = started
    }
}

/// The position a run has committed up to: the next unsigned user id to consider, and totals.
public struct RunProgress: Sendable, Equatable {
    public var batches: Int
    /// Nil when the run has committed no batch.
    public var nextUser: UInt64?
    public var selected: Int
    public var written: Int
    public var failed: Int
}

extension EmbeddingStore {
    /// The latest run of a pipeline on a shard that did not finish (status running — its process
    /// died, since the caller holds the pipeline's lock — or interrupted), if any.
    public func unfinishedRun(pipeline: String, shard: String) throws(StoreError) -> RunRecord? {
        let s = try db.prepare("""
            SELECT run_id, pipeline, shard, model_version, checkpoint_identity, inputs, catalog_sha256, cpu_kernel, status, started
            FROM runs WHERE pipeline = ? AND shard = ? ORDER BY run_id DESC LIMIT 1
            """)
        try s.bind([.text(pipeline), .text(shard)])
        guard try s.step() else { return nil }
        let status = RunRecord.Status(rawValue: s.text(8)) ?? .failed
        guard status == .running || status == .interrupted else { return nil }
        return RunRecord(runID: s.int64(0), pipeline: s.text(1), shard: s.text(2), modelVersion: s.text(3), checkpointIdentity: s.text(4),
                         inputs: s.text(5), catalogSHA256: s.text(6), cpuKernel: s.text(7), status: status, started: s.int64(9))
    }

    /// Starts a run record (status running) and returns its id.
    public func beginRun(_ r: RunRecord) throws(StoreError) -> Int64 {
        let id = (try db.scalarInt("SELECT coalesce(max(run_id), 0) + 1 FROM runs")) ?? 1
        try db.prepare("""
            INSERT INTO runs(run_id, pipeline, shard, model_version, checkpoint_identity, inputs, catalog_sha256, cpu_kernel, status, host, pid, started)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)
            """).run([.int(id), .text(r.pipeline), .text(r.shard), .text(r.modelVersion), .text(r.checkpointIdentity), .text(r.inputs),
                      .text(r.catalogSHA256), .text(r.cpuKernel), .text(LockHolder.hostName()), .int(Int64(getpid())), .int(r.started)])
        return id
    }

    /// Marks a resumed run as running again under this process.
    public func resumeRun(_ runID: Int64) throws(StoreError) {
        try db.prepare("UPDATE runs SET status = 'running', pid = ?, host = ? WHERE run_id = ?")
            .run([.int(Int64(getpid())), .text(LockHolder.hostName()), .int(runID)])
    }

    /// Abandons an unfinished run (`--fresh`).
    public func abandonRun(_ runID: Int64, reason: String) throws(StoreError) {
        try db.prepare("UPDATE runs SET status = 'failed', finished = ?, message = ? WHERE run_id = ?")
            .run([.int(wallClockSeconds()), .text(reason), .int(runID)])
    }

    /// Records one committed batch; call inside the transaction that writes its rows.
    public func recordBatch(runID: Int64, batch: Int, nextUser: UInt64, selected: Int, written: Int, failed: Int) throws(StoreError) {
        try db.prepare("INSERT INTO run_progress(run_id, batch, next_user, selected, written, failed_users, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .run([.int(runID), .int(Int64(batch)), .text(String(nextUser)), .int(Int64(selected)), .int(Int64(written)), .int(Int64(failed)),
                  .int(wallClockSeconds())])
    }

    /// How far a run got.
    public func progress(runID: Int64) throws(StoreError) -> RunProgress {
        let s = try db.prepare("""
            SELECT count(*), coalesce(sum(selected), 0), coalesce(sum(written), 0), coalesce(sum(failed_users), 0),
                   (SELECT next_user FROM run_progress WHERE run_id = ?1 ORDER BY batch DESC LIMIT 1)
            FROM run_progress WHERE run_id = ?1
            """)
        try s.bind([.int(runID)])
        _ = try s.step()
        return RunProgress(batches: Int(s.int64(0)), nextUser: s.isNull(4) ? nil : UInt64(s.text(4)),
                           selected: Int(s.int64(1)), written: Int(s.int64(2)), failed: Int(s.int64(3)))
    }

    /// Ends a run: counts, then its status — written last, so `ok` means everything before it committed.
    /// `drift` holds the cos(old, new) quantiles of the rows this process replaced.
    public func finishRun(_ runID: Int64, status: RunRecord.Status, selected: Int, written: Int, failed: Int, filesRejected: Int,
                          quarantined: Int, seconds: Double, drift: ReencodeDrift = ReencodeDrift(), message: String? = nil) throws(StoreError) {
        let q: [SQLValue] = ReencodeDrift.percentiles.map { p in drift.percentile(p).map { .double($0) } ?? .null }
        try db.prepare("""
            UPDATE runs SET selected = ?, written = ?, failed_users = ?, files_rejected = ?, records_quarantined = ?, seconds = ?,
                finished = ?, message = ?, replaced_rows = ?, cos_p1 = ?, cos_p5 = ?, cos_p50 = ?, cos_p95 = ?, cos_p99 = ? WHERE run_id = ?
            """).run([.int(Int64(selected)), .int(Int64(written)), .int(Int64(failed)), .int(Int64(filesRejected)), .int(Int64(quarantined)),
                      .double(seconds), .int(wallClockSeconds()), message.map { .text($0) } ?? .null, .int(Int64(drift.rows))] + q + [.int(runID)])
        try db.prepare("UPDATE runs SET status = ? WHERE run_id = ?").run([.text(status.rawValue), .int(runID)])
    }
}
