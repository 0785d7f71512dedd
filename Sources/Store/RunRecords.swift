#if canImport(Glibc)
import Glibc
#endif
import Support

/// A row of the `runs` table: one pipeline run, its inputs and checkpoint, counts and status.
public struct RunRecord: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case running, interrupted, ok, failed
        /// Refused at the start because another process held the pipeline's lock.
        case locked
    }
    public var runID: Int64
    public var pipeline: String
    public var shard: String
    public var modelVersion: String
    public var checkpointIdentity: String
    /// The run's input files, one line each (`RunInputs` in the Pipeline module writes them); stored
    /// once per distinct line in `input_files` and once per distinct list in `input_sets`.
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

/// How a run ended, as `finishRun` records it (totals over every segment of a resumed run).
public struct RunOutcome: Sendable {
    public var status: RunRecord.Status
    public var exitCode: Int32
    public var selected = 0, written = 0, failed = 0
    public var filesIngested = 0, filesSkipped = 0, filesRejected = 0, quarantined = 0
    /// Busy seconds of this process's segment (added to those of earlier segments).
    public var seconds = 0.0
    public var drift = ReencodeDrift()
    public var message: String?

    public init(status: RunRecord.Status, exitCode: Int32) {
        self.status = status
        self.exitCode = exitCode
    }
}

/// One line of `llatte runs`.
public struct RunSummary: Sendable {
    public var runID: Int64
    public var pipeline: String, shard: String, modelVersion: String, checkpointIdentity: String, cpuKernel: String, llatteVersion: String
    public var status: String
    public var exitCode: Int64?
    public var started: Int64, finished: Int64?
    public var seconds: Double
    public var encoded: Int64, written: Int64, failed: Int64
    public var filesIngested: Int64, filesSkipped: Int64, filesRejected: Int64, quarantined: Int64
    public var message: String?
}

extension EmbeddingStore {
    /// The latest run of a pipeline on a shard that did not finish (status running — its process
    /// died, since the caller holds the pipeline's lock — or interrupted), if any. Attempts that
    /// never began encoding (`recordAttempt`: locked, failed or stopped before) are not runs to resume.
    public func unfinishedRun(pipeline: String, shard: String) throws(StoreError) -> RunRecord? {
        let s = try db.prepare("""
            SELECT run_id, pipeline, shard, model_version, checkpoint_identity, inputs, input_set, catalog_sha256, cpu_kernel, status, started
            FROM runs WHERE pipeline = ? AND shard = ? AND status != 'locked' AND checkpoint_identity != '' ORDER BY run_id DESC LIMIT 1
            """)
        try s.bind([.text(pipeline), .text(shard)])
        guard try s.step() else { return nil }
        let status = RunRecord.Status(rawValue: s.text(9)) ?? .failed
        guard status == .running || status == .interrupted else { return nil }
        let inputs = s.isNull(6) ? s.text(5) : try inputList(s.int64(6))
        return RunRecord(runID: s.int64(0), pipeline: s.text(1), shard: s.text(2), modelVersion: s.text(3), checkpointIdentity: s.text(4),
                         inputs: inputs, catalogSHA256: s.text(7), cpuKernel: s.text(8), status: status, started: s.int64(10))
    }

    /// Starts a run record (status running) and returns its id.
    public func beginRun(_ r: RunRecord) throws(StoreError) -> Int64 {
        let id = (try db.scalarInt("SELECT coalesce(max(run_id), 0) + 1 FROM runs")) ?? 1
        let set = try storeInputList(r.inputs)
        try db.prepare("""
            INSERT INTO runs(run_id, pipeline, shard, model_version, checkpoint_identity, input_set, catalog_sha256, cpu_kernel, status,
                             llatte_version, host, pid, started)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)
            """).run([.int(id), .text(r.pipeline), .text(r.shard), .text(r.modelVersion), .text(r.checkpointIdentity), .int(set),
                      .text(r.catalogSHA256), .text(r.cpuKernel), .text(llatteVersion), .text(LockHolder.hostName()), .int(Int64(getpid())),
                      .int(r.started)])
        return id
    }

    /// Records a run that ended before it began its work — refused by the lock, or failed while
    /// checking its checkpoint, catalog or inputs — so `llatte runs` shows every attempt.
    public func recordAttempt(pipeline: String, shard: String, modelVersion: String, status: RunRecord.Status, exitCode: Int32,
                              started: Int64, message: String) throws(StoreError) -> Int64 {
        let id = (try db.scalarInt("SELECT coalesce(max(run_id), 0) + 1 FROM runs")) ?? 1
        try db.prepare("""
            INSERT INTO runs(run_id, pipeline, shard, model_version, checkpoint_identity, catalog_sha256, cpu_kernel, status, exit_code,
                             llatte_version, host, pid, started, finished, message)
            VALUES (?, ?, ?, ?, '', '', '', ?, ?, ?, ?, ?, ?, ?, ?)
            """).run([.int(id), .text(pipeline), .text(shard), .text(modelVersion), .text(status.rawValue), .int(Int64(exitCode)),
                      .text(llatteVersion), .text(LockHolder.hostName()), .int(Int64(getpid())), .int(started), .int(wallClockSeconds()),
                      .text(message)])
        return id
    }

    /// Marks a resumed run as running again under this process (and this llatte).
    public func resumeRun(_ runID: Int64) throws(StoreError) {
        try db.prepare("UPDATE runs SET status = 'running', pid = ?, host = ?, llatte_version = ? WHERE run_id = ?")
            .run([.int(Int64(getpid())), .text(LockHolder.hostName()), .text(llatteVersion), .int(runID)])
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

    /// Moves every commit from the `-wal` into the main file and empties the `-wal`, so a store at
    /// rest is whole in its main file (a copy of that file alone holds the last run, docs/store.md)
    /// whether or not the process closes its connection before it exits. Best effort: a reader
    /// in the middle of a read leaves the rest to the next checkpoint.
    public func checkpointWAL() {
        try? db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Ends a run (or one segment of it): counts, exit code and busy seconds added to those of
    /// earlier segments, then its status — written last, so `ok` means everything before it
    /// committed. `drift` holds the cos(old, new) quantiles of the rows this segment replaced.
    public func finishRun(_ runID: Int64, _ o: RunOutcome) throws(StoreError) {
        let q: [SQLValue] = ReencodeDrift.percentiles.map { p in o.drift.percentile(p).map { .double($0) } ?? .null }
        try db.prepare("""
            UPDATE runs SET selected = ?, written = ?, failed_users = ?, files_ingested = ?, files_skipped = ?, files_rejected = ?,
                records_quarantined = ?, seconds = seconds + ?, finished = ?, message = ?, exit_code = ?, replaced_rows = ?,
                cos_p1 = ?, cos_p5 = ?, cos_p50 = ?, cos_p95 = ?, cos_p99 = ? WHERE run_id = ?
            """).run([.int(Int64(o.selected)), .int(Int64(o.written)), .int(Int64(o.failed)), .int(Int64(o.filesIngested)),
                      .int(Int64(o.filesSkipped)), .int(Int64(o.filesRejected)), .int(Int64(o.quarantined)), .double(o.seconds),
                      .int(wallClockSeconds()), o.message.map { .text($0) } ?? .null, .int(Int64(o.exitCode)), .int(Int64(o.drift.rows))]
                     + q + [.int(runID)])
        try db.prepare("UPDATE runs SET status = ? WHERE run_id = ?").run([.text(o.status.rawValue), .int(runID)])
    }

    /// Busy seconds recorded for a run so far (earlier segments of a resumed run).
    public func runSeconds(_ runID: Int64) throws(StoreError) -> Double {
        let s = try db.prepare("SELECT seconds FROM runs WHERE run_id = ?")
        try s.bind([.int(runID)])
        return try s.step() ? s.double(0) : 0
    }

    // MARK: History

    /// The latest runs, newest first (of one pipeline when given).
    public func runHistory(pipeline: String?, last: Int) throws(StoreError) -> [RunSummary] {
        // A reader does not migrate: a store of format 1 or 2 lacks the columns format 3 added.
        let added = format >= 3 ? "llatte_version, exit_code" : "'' AS llatte_version, NULL AS exit_code"
        let files = format >= 3 ? "files_ingested, files_skipped" : "0, 0"
        let s = try db.prepare("""
            SELECT run_id, pipeline, shard, model_version, checkpoint_identity, cpu_kernel, \(added), status, started,
                   finished, seconds, selected, written, failed_users, \(files), files_rejected, records_quarantined, message
            FROM runs \(pipeline == nil ? "" : "WHERE pipeline = ?1") ORDER BY run_id DESC LIMIT \(max(0, last))
            """)
        if let pipeline { try s.bind([.text(pipeline)]) }
        var out: [RunSummary] = []
        while try s.step() {
            out.append(RunSummary(runID: s.int64(0), pipeline: s.text(1), shard: s.text(2), modelVersion: s.text(3), checkpointIdentity: s.text(4),
                                  cpuKernel: s.text(5), llatteVersion: s.text(6), status: s.text(8), exitCode: s.isNull(7) ? nil : s.int64(7),
                                  started: s.int64(9), finished: s.isNull(10) ? nil : s.int64(10), seconds: s.double(11),
                                  encoded: s.int64(12), written: s.int64(13), failed: s.int64(14), filesIngested: s.int64(15),
                                  filesSkipped: s.int64(16), filesRejected: s.int64(17), quarantined: s.int64(18),
                                  message: s.isNull(19) ? nil : s.text(19)))
        }
        return out
    }

    /// Deletes the records of runs that finished before `before` (unix seconds; running and
    /// interrupted runs are kept, they may be resumed), their progress rows, and the input lists
    /// and files no remaining run refers to. Returns the runs deleted.
    public func pruneRuns(finishedBefore before: Int64) throws -> Int {
        try db.transaction { () throws -> Int in
            try db.prepare("""
                DELETE FROM run_progress WHERE run_id IN
                    (SELECT run_id FROM runs WHERE finished < ? AND status NOT IN ('running', 'interrupted'))
                """).run([.int(before)])
            try db.prepare("DELETE FROM runs WHERE finished < ? AND status NOT IN ('running', 'interrupted')").run([.int(before)])
            let pruned = db.changes
            guard pruned > 0 else { return 0 }
            try db.execute("DELETE FROM input_sets WHERE set_id NOT IN (SELECT input_set FROM runs WHERE input_set IS NOT NULL)")
            var kept = Set<Int64>()
            let sets = try db.prepare("SELECT file_ids FROM input_sets")
            while try sets.step() { kept.formUnion(EmbeddingStore.unpackIDs(sets.blob(0))) }
            let files = try db.prepare("SELECT file_id FROM input_files")
            var unused: [Int64] = []
            while try files.step() {
                if !kept.contains(files.int64(0)) { unused.append(files.int64(0)) }
            }
            let delete = try db.prepare("DELETE FROM input_files WHERE file_id = ?")
            for id in unused { try delete.run([.int(id)]) }
            return pruned
        }
    }

    // MARK: Input lists

    /// Stores an input list once: each line in `input_files` (once per distinct line), the list as
    /// packed little-endian file ids in `input_sets` (once per distinct list). Returns the set id.
    func storeInputList(_ text: String) throws(StoreError) -> Int64 {
        let find = try db.prepare("SELECT file_id FROM input_files WHERE line = ?")
        let add = try db.prepare("INSERT INTO input_files(line) VALUES (?)")
        var ids: [Int64] = []
        for line in text.split(separator: "\n") {
            try find.bind([.text(String(line))])
            if try find.step() {
                ids.append(find.int64(0))
            } else {
                try add.run([.text(String(line))])
                ids.append(try db.scalarInt("SELECT last_insert_rowid()") ?? 0)
            }
            find.reset()
        }
        var packed: [UInt8] = []
        packed.reserveCapacity(8 * ids.count)
        for id in ids { withUnsafeBytes(of: id.littleEndian) { packed.append(contentsOf: $0) } }
        let digest = SHA256Hasher.digest(packed).hex
        if let set = try db.scalarInt("SELECT set_id FROM input_sets WHERE digest = ?", [.text(digest)]) { return set }
        try db.prepare("INSERT INTO input_sets(digest, file_ids) VALUES (?, ?)").run([.text(digest), .blob(packed)])
        return try db.scalarInt("SELECT last_insert_rowid()") ?? 0
    }

    /// The input list of a set, as `storeInputList` was given it.
    func inputList(_ set: Int64) throws(StoreError) -> String {
        let s = try db.prepare("SELECT file_ids FROM input_sets WHERE set_id = ?")
        try s.bind([.int(set)])
        guard try s.step() else { throw StoreError(path: path, message: "run input list \(set) is missing") }
        let ids = EmbeddingStore.unpackIDs(s.blob(0))
        let line = try db.prepare("SELECT line FROM input_files WHERE file_id = ?")
        var out = ""
        for id in ids {
            try line.bind([.int(id)])
            guard try line.step() else { throw StoreError(path: path, message: "run input file \(id) is missing") }
            out += line.text(0) + "\n"
            line.reset()
        }
        return out
    }

    static func unpackIDs(_ blob: UnsafeRawBufferPointer) -> [Int64] {
        (0..<(blob.count / 8)).map { Int64(littleEndian: blob.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
    }
}
