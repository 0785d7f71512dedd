import Store
import Support

/// How a run ended, for its metrics file.
public enum RunEnd: Sendable {
    /// It returned (ok, interrupted, or done with rejected files, failed users or a refused promotion).
    case finished(PipelineRunReport)
    /// It failed (exit 1).
    case failed
    /// Another process held the pipeline's lock (exit 4): the holder's metrics stay as they are.
    case locked
}

/// Prometheus text-format metrics of the last run, for node_exporter's textfile collector:
/// written to a temp file and renamed, so a scrape never sees half a file. The last-success time
/// and the count of lock refusals survive later runs (carried over from the previous file).
public enum Metrics {
    /// The metrics file a run of `shard` writes: shards of one pipeline on one machine each keep
    /// their own file (`_shard<k>of<n>` added). Nil when the pipeline does not encode.
    public static func path(config: PipelineConfig, shard: Shard) -> String? {
        guard let path = config.encode?.metricsFile else { return nil }
        guard shard.count > 1 else { return path }
        return (path.hasSuffix(".prom") ? String(path.dropLast(5)) : path) + "_shard\(shard.index)of\(shard.count).prom"
    }

    /// Writes the metrics file of a run; problems are logged, not thrown.
    public static func write(config: PipelineConfig, shard: Shard, end: RunEnd, started: Int64, log: (String) -> Void) {
        guard let path = path(config: config, shard: shard) else { return }
        let labels = "pipeline=\"\(config.kind.rawValue)\",shard=\"\(shard)\""
        let previous = (try? Files.readAll(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let now = wallClockSeconds()
        var text = TextFile(labels: labels)
        let lockedTotal = (value(previous, "llatte_runs_locked_total") ?? 0) + (isLocked(end) ? 1 : 0)
        if case .locked = end {
            // The holder is healthy: keep what the last real run reported, count the refusal.
            text.lines = previous.split(separator: "\n").map(String.init).filter { !concerns($0, "llatte_runs_locked_total") && !concerns($0, "llatte_last_locked_timestamp_seconds") }
            text.add("llatte_last_locked_timestamp_seconds", "gauge", "Unix time of the last run refused because another process held the pipeline's lock.", Double(now))
        } else {
            let report: PipelineRunReport? = if case let .finished(r) = end { r } else { nil }
            let ok = report?.status == .ok
            let lastSuccess = ok ? Double(now) : value(previous, "llatte_last_success_timestamp_seconds") ?? 0
            text.add("llatte_last_success_timestamp_seconds", "gauge", "Unix time of the last run that finished ok (0: never).", lastSuccess)
            text.add("llatte_last_run_timestamp_seconds", "gauge", "Unix time the last run ended.", Double(now))
            text.add("llatte_last_run_ok", "gauge", "1 if the last run finished ok, 0 if it failed or was interrupted (lock refusals leave it alone).", ok ? 1 : 0)
            text.add("llatte_last_run_exit_code", "gauge", "Exit code of the last run (see the README's table).",
                     Double(report?.exitStatus.rawValue ?? ExitStatus.failure.rawValue))
            text.add("llatte_run_duration_seconds", "gauge", "Busy time of the last run, over every segment of a resumed run.",
                     report.map { $0.seconds } ?? Double(now - started))
            text.add("llatte_users_selected", "gauge", "Users the last run selected and encoded (whole run).", Double(report?.selected ?? 0))
            text.add("llatte_users_encoded", "gauge", "Users the last run encoded (whole run).", Double(report?.selected ?? 0))
            text.add("llatte_users_failed", "gauge", "Users whose encoding failed in the last run (whole run).", Double(report?.failed ?? 0))
            text.add("llatte_rows_written", "gauge", "Embedding rows the last run wrote (whole run).", Double(report?.written ?? 0))
            text.add("llatte_files_ingested", "gauge", "New input files the last run ingested (0: nothing new arrived).", Double(report?.ingest?.ingestedFiles ?? 0))
            text.add("llatte_files_rejected", "gauge", "Input files the last run rejected.", Double(report?.ingest?.rejectedFiles ?? 0))
            text.add("llatte_records_quarantined", "gauge", "Records the last run quarantined (this shard's share).", Double(report?.ingest?.quarantinedRecords ?? 0))
            let drift = report?.encode.drift ?? ReencodeDrift()
            text.add("llatte_rows_replaced", "gauge", "Rows the last run replaced by a re-encoding (the drift quantiles are over them).", Double(drift.rows))
            text.add("llatte_reencode_cosine", "gauge",
                     "Quantiles of the mean over interests of cos(old row, new row) for the rows the last run replaced (absent when none).",
                     ReencodeDrift.percentiles.compactMap { p in drift.percentile(p).map { ("\(Double(p) / 100)", $0) } })
            if let t = value(previous, "llatte_last_locked_timestamp_seconds") {
                text.add("llatte_last_locked_timestamp_seconds", "gauge", "Unix time of the last run refused because another process held the pipeline's lock.", t)
            }
            if let report {
                text.add("llatte_users_with_history", "gauge", "Users with events or features in the history store (this shard's).", Double(report.usersWithHistory))
            }
            if let h = report?.health {
                let version = "version=\"\(h.version)\""
                text.add("llatte_active_version_rows", "gauge", "Users with a row in the active version.", [(nil, Double(h.rows))], extra: version)
                text.add("llatte_active_version_coverage_ratio", "gauge", "Users with a row in the active version / users with history.",
                         [(nil, h.coverage)], extra: version)
                text.add("llatte_embedding_age_seconds", "gauge", "Quantiles of now - as_of over the active version's rows with events (sampled above 8,192 rows).",
                         [("0.5", h.ageP50), ("0.99", h.ageP99)].compactMap { q, v in v.map { (q, $0) } }, extra: version)
            }
        }
        text.add("llatte_runs_locked_total", "counter", "Runs refused because another process held the pipeline's lock.", lockedTotal)
        do {
            try Files.makeDirectories(Files.parentDirectory(path))
            try Files.writeAtomically(path, Array((text.lines.joined(separator: "\n") + "\n").utf8))
        } catch {
            log("warning: metrics file not written: \(error)")
        }
    }

    private static func isLocked(_ end: RunEnd) -> Bool { if case .locked = end { return true } else { return false } }

    /// Whether a line of a textfile is about metric `name` (its sample or its HELP/TYPE line).
    private static func concerns(_ line: String, _ name: String) -> Bool {
        line.hasPrefix(name + "{") || line.hasPrefix(name + " ") || line.hasPrefix("# HELP \(name) ") || line.hasPrefix("# TYPE \(name) ")
    }

    /// A metric's value in a previous file's text, if any.
    static func value(_ text: String, _ name: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") {
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    /// The lines of a textfile being built, each metric with its HELP and TYPE.
    struct TextFile {
        let labels: String
        var lines: [String] = []

        mutating func add(_ name: String, _ type: String, _ help: String, _ value: Double) { add(name, type, help, [(nil, value)]) }

        /// One sample per (quantile, value); `quantile` nil for a plain gauge. No sample: only HELP/TYPE.
        mutating func add(_ name: String, _ type: String, _ help: String, _ samples: [(String?, Double)], extra: String? = nil) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for (q, v) in samples {
                let labelSet = [labels, extra, q.map { "quantile=\"\($0)\"" }].compactMap { $0 }.joined(separator: ",")
                lines.append("\(name){\(labelSet)} \(Metrics.format(v))")
            }
        }
    }

    static func format(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) }
}
