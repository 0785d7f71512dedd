import Store
import Support

/// Prometheus text-format metrics of the last run, for node_exporter's textfile collector:
/// written to a temp file and renamed, so a scrape never sees half a file. The last-success time
/// survives failed runs (it is carried over from the previous file).
public enum Metrics {
    /// Writes the metrics file of a finished (report) or failed (nil) run; problems are logged, not thrown.
    public static func write(config: PipelineConfig, shard: Shard, report: PipelineRunReport?, started: Int64,
                             log: (String) -> Void) {
        guard var path = config.encode?.metricsFile else { return }
        // Shards of one pipeline on one machine each keep their own file.
        if shard.count > 1 { path = (path.hasSuffix(".prom") ? String(path.dropLast(5)) : path) + "_shard\(shard.index)of\(shard.count).prom" }
        let labels = "pipeline=\"\(config.kind.rawValue)\",shard=\"\(shard)\""
        let now = wallClockSeconds()
        let ok = report?.status == .ok
        var lastSuccess = previousValue(path, "llatte_last_success_timestamp_seconds")
        if ok { lastSuccess = Double(now) }
        let e = report?.encode
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: Double) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            lines.append("\(name){\(labels)} \(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value))")
        }
        metric("llatte_last_success_timestamp_seconds", "gauge", "Unix time of the last run that finished ok (0: never).", lastSuccess ?? 0)
        metric("llatte_last_run_timestamp_seconds", "gauge", "Unix time the last run ended.", Double(now))
        metric("llatte_last_run_ok", "gauge", "1 if the last run finished ok, 0 if it failed or was interrupted.", ok ? 1 : 0)
        metric("llatte_run_duration_seconds", "gauge", "Wall time of the last run.", Double(now - started))
        metric("llatte_users_selected", "gauge", "Users the last run selected for encoding.", Double(e?.selected ?? 0))
        metric("llatte_users_encoded", "gauge", "Users the last run encoded.", Double(e?.encoded ?? 0))
        metric("llatte_users_failed", "gauge", "Users whose encoding failed in the last run.", Double(e?.failed ?? 0))
        metric("llatte_rows_written", "gauge", "Embedding rows the last run wrote.", Double(e?.counts.written ?? 0))
        metric("llatte_files_rejected", "gauge", "Input files the last run rejected.", Double(report?.ingest?.rejectedFiles ?? 0))
        metric("llatte_records_quarantined", "gauge", "Records the last run quarantined.", Double(report?.ingest?.quarantinedRecords ?? 0))
        let drift = e?.drift ?? ReencodeDrift()
        metric("llatte_rows_replaced", "gauge", "Rows the last run replaced by a re-encoding (the drift quantiles are over them).", Double(drift.rows))
        let name = "llatte_reencode_cosine"
        lines.append("# HELP \(name) Quantiles of the mean over interests of cos(old row, new row) for the rows the last run replaced (absent when none).")
        lines.append("# TYPE \(name) gauge")
        for p in ReencodeDrift.percentiles {
            guard let v = drift.percentile(p) else { break }
            lines.append("\(name){\(labels),quantile=\"\(Double(p) / 100)\"} \(v)")
        }
        do {
            try Files.makeDirectories(Files.parentDirectory(path))
            try Files.writeAtomically(path, Array((lines.joined(separator: "\n") + "\n").utf8))
        } catch {
            log("warning: metrics file \(path): \(error)")
        }
    }

    /// A metric's value in an existing file, if any.
    static func previousValue(_ path: String, _ name: String) -> Double? {
        guard let bytes = try? Files.readAll(path) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + "{") {
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }
}
