import Model
import Store
import Support
import Yams

/// A configuration problem, naming the file, the key and (when known) the line.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let key: String
    public let line: Int?
    public let message: String

    public var description: String {
        let at = line.map { ":\($0)" } ?? ""
        return "\(file)\(at): \(key.isEmpty ? "" : "\(key): ")\(message)"
    }
}

/// The encode keys of a pipeline file.
public struct EncodeSettings: Sendable {
    public var embeddingStore: String
    /// Nil (nightly and refresh only): follow the active version's recorded checkpoint.
    public var checkpoint: String?
    public var threads: Int
    public var precision: Model.Encoder.Precision
    public var windowUsers: Int
    public var lockTimeout: Double
    public var staleAfterEvents: Int64
    /// Prometheus textfile of the last run's metrics.
    public var metricsFile: String
    /// Nightly only: run records that finished longer ago than this many days are pruned (0: never).
    public var keepRunsDays: Int
    /// Backfill only: whether a complete backfill promotes its version (guarded).
    public var promote: PromoteMode
    public var promotion: PromotionPolicy
}

/// `promote.mode`: whether a backfill that completes makes its version active.
public enum PromoteMode: String, Sendable, CaseIterable {
    /// Promote when the guard passes; a run whose guard fails exits 3 and says why.
    case auto
    /// Leave the version `ready` for `llatte model promote` or a later `llatte run … --promote`.
    case never
}

/// Which schedule a pipeline file describes.
public enum PipelineKind: String, Sendable, CaseIterable {
    case backfill, nightly, refresh
}

/// A parsed `pipelines/<name>.yaml`. Every key and its default is documented in docs/pipelines.md.
/// Relative paths are taken from the working directory.
public struct PipelineConfig: Sendable {
    public var file: String
    public var kind: PipelineKind
    public var historyStore: String
    public var eventInputs: [String]
    public var featureFiles: [String]
    public var catalog: String?
    public var settings: HistorySettings
    public var maxBadFraction: Double
    public var lockTimeout: Double
    public var quarantineDirectory: String
    public var batchEvents: Int
    /// `ingest.require_new_files`: a run that ingests no new log file exits 3.
    public var requireNewFiles: Bool
    /// The encode stages: absent when the file stops after ingest.
    public var encode: EncodeSettings?

    /// Reads and validates a pipeline file; unknown keys are errors so typos do not pass silently.
    /// Values are expanded from `environment` first (`ConfigExpansion`): `${NAME}`, `${NAME:-default}`.
    public static func load(_ path: String, environment: [String: String] = [:]) throws(ConfigError) -> PipelineConfig {
        let text: String
        do { text = String(decoding: try Files.readAll(path), as: UTF8.self) } catch {
            throw ConfigError(file: path, key: "", line: nil, message: error.reason)
        }
        let root: Node
        do {
            guard let n = try Yams.compose(yaml: text) else { throw ConfigError(file: path, key: "", line: nil, message: "empty file") }
            root = try ConfigExpansion.expand(n, environment: environment, file: path)
        } catch let e as ConfigError {
            throw e
        } catch {
            throw ConfigError(file: path, key: "", line: nil, message: "not YAML: \(error)")
        }
        let r = Reader(file: path)
        let top = try r.mapping(root, "", allowed: ["pipeline", "history_store", "inputs", "history", "ingest",
                                                    "embedding_store", "checkpoint", "encode", "select", "metrics_file", "promote", "runs"])
        let kindName = try r.string(top, "pipeline", required: true)!
        guard let kind = PipelineKind(rawValue: kindName) else {
            throw r.error(top["pipeline"], "pipeline", "must be one of \(PipelineKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let historyStore = try r.string(top, "history_store", required: true)!
        let inputs = try r.mapping(top["inputs"], "inputs", allowed: ["events", "features", "catalog"], required: true)
        let events = try r.strings(inputs, "inputs.events", key: "events", required: true)
        let features = try r.strings(inputs, "inputs.features", key: "features", required: false)
        let catalog = try r.string(inputs, "catalog", prefix: "inputs.")
        let hist = try r.mapping(top["history"], "history", allowed: ["conversion_types", "min_ts", "max_ts", "retention_cap"], required: true)
        let settings = HistorySettings(
            conversionTypes: try r.strings(hist, "history.conversion_types", key: "conversion_types", required: true, scalarAllowed: false),
            minTs: try r.int(hist, "min_ts", prefix: "history.", required: true)!,
            maxTs: try r.int(hist, "max_ts", prefix: "history.", required: true)!,
            retentionCap: Int(try r.int(hist, "retention_cap", prefix: "history.", required: false) ?? 4096))
        if let problem = settings.validationError() { throw r.error(top["history"], "history", problem) }
        let ingest = try r.mapping(top["ingest"], "ingest", allowed: ["max_bad_fraction", "lock_timeout", "quarantine_dir", "batch_events", "require_new_files"], required: false)
        let maxBad = try r.double(ingest, "max_bad_fraction", prefix: "ingest.") ?? 0.02
        guard maxBad >= 0 && maxBad <= 1 else { throw r.error(ingest?["max_bad_fraction"], "ingest.max_bad_fraction", "must lie in [0, 1]") }
        let lockTimeout = try r.double(ingest, "lock_timeout", prefix: "ingest.") ?? 60
        guard lockTimeout >= 0 else { throw r.error(ingest?["lock_timeout"], "ingest.lock_timeout", "must be ≥ 0 seconds") }
        let quarantine = try r.string(ingest, "quarantine_dir", prefix: "ingest.") ?? Files.parentDirectory(historyStore) + "/quarantine"
        let batch = Int(try r.int(ingest, "batch_events", prefix: "ingest.", required: false) ?? 1 << 20)
        guard batch >= 1 else { throw r.error(ingest?["batch_events"], "ingest.batch_events", "must be ≥ 1") }
        var requireNew = false
        if let n = ingest?["require_new_files"] {
            guard let b = n.bool else { throw r.error(n, "ingest.require_new_files", "must be true or false") }
            requireNew = b
        }
        var encode: EncodeSettings?
        let embeddingStore = try r.string(top, "embedding_store")
        let checkpoint = try r.string(top, "checkpoint")
        let enc = try r.mapping(top["encode"], "encode", allowed: ["threads", "precision", "window_users", "lock_timeout"], required: false)
        let sel = try r.mapping(top["select"], "select", allowed: ["stale_after_events"], required: false)
        let (promote, promotion) = try promoteSettings(top["promote"], kind: kind, r)
        if embeddingStore != nil || checkpoint != nil || enc != nil || sel != nil || top["promote"] != nil {
            guard let embeddingStore else { throw ConfigError(file: path, key: "embedding_store", line: nil, message: "required with checkpoint/encode/promote keys") }
            guard checkpoint != nil || kind != .backfill else {
                throw ConfigError(file: path, key: "checkpoint", line: nil, message: "required for a backfill (nightly and refresh without it follow the active version)")
            }
            guard catalog != nil else { throw ConfigError(file: path, key: "inputs.catalog", line: nil, message: "required to encode") }
            let threads = Int(try r.int(enc, "threads", prefix: "encode.", required: false) ?? 2)
            guard threads >= 1 && threads <= 1024 else { throw r.error(enc?["threads"], "encode.threads", "must be in 1...1024") }
            var precision = Model.Encoder.Precision.fp32
            if let p = enc?["precision"] {
                guard let s = p.string, let v = Model.Encoder.Precision(rawValue: s) else { throw r.error(p, "encode.precision", "must be fp32 or bf16") }
                if let reason = v.unsupportedReason { throw r.error(p, "encode.precision", reason) }
                precision = v
            }
            let window = Int(try r.int(enc, "window_users", prefix: "encode.", required: false) ?? 512)
            guard window >= 1 else { throw r.error(enc?["window_users"], "encode.window_users", "must be ≥ 1") }
            let encLock = try r.double(enc, "lock_timeout", prefix: "encode.") ?? 0
            guard encLock >= 0 else { throw r.error(enc?["lock_timeout"], "encode.lock_timeout", "must be ≥ 0 seconds") }
            let stale = try r.int(sel, "stale_after_events", prefix: "select.", required: false) ?? 0
            guard stale >= 0 else { throw r.error(sel?["stale_after_events"], "select.stale_after_events", "must be ≥ 0") }
            if stale > 0 && kind != .nightly {
                throw r.error(sel?["stale_after_events"], "select.stale_after_events", "applies to nightly pipelines only")
            }
            let runs = try r.mapping(top["runs"], "runs", allowed: ["keep_days"], required: false)
            let keep = try r.int(runs, "keep_days", prefix: "runs.", required: false) ?? 90
            guard keep >= 0 else { throw r.error(runs?["keep_days"], "runs.keep_days", "must be ≥ 0 (0: keep every run record)") }
            if runs != nil && kind != .nightly { throw r.error(top["runs"], "runs", "applies to nightly pipelines only (the nightly prunes run records)") }
            let metrics = try r.string(top, "metrics_file") ?? Files.parentDirectory(embeddingStore) + "/llatte_\(kind.rawValue).prom"
            encode = EncodeSettings(embeddingStore: embeddingStore, checkpoint: checkpoint, threads: threads, precision: precision, windowUsers: window,
                                    lockTimeout: encLock, staleAfterEvents: stale, metricsFile: metrics, keepRunsDays: Int(keep),
                                    promote: promote, promotion: promotion)
        }
        return PipelineConfig(file: path, kind: kind, historyStore: historyStore, eventInputs: events, featureFiles: features,
                              catalog: catalog, settings: settings, maxBadFraction: maxBad, lockTimeout: lockTimeout,
                              quarantineDirectory: quarantine, batchEvents: batch, requireNewFiles: requireNew, encode: encode)
    }

    /// `promote: auto | never`, or a mapping with `mode`, `min_coverage` and `max_failed_fraction`.
    static func promoteSettings(_ node: Node?, kind: PipelineKind, _ r: Reader) throws(ConfigError) -> (PromoteMode, PromotionPolicy) {
        var policy = PromotionPolicy()
        guard let node else { return (.auto, policy) }
        guard kind == .backfill else { throw r.error(node, "promote", "applies to backfill pipelines only (nightly and refresh write the active version)") }
        func mode(_ n: Node?) throws(ConfigError) -> PromoteMode {
            guard let n else { return .auto }
            guard let s = n.string, let m = PromoteMode(rawValue: s) else { throw r.error(n, "promote.mode", "must be auto or never") }
            return m
        }
        if case .scalar = node { return (try mode(node), policy) }
        let m = try r.mapping(node, "promote", allowed: ["mode", "min_coverage", "max_failed_fraction"])
        for (key, keyPath) in [("min_coverage", \PromotionPolicy.minCoverage), ("max_failed_fraction", \PromotionPolicy.maxFailedFraction)] {
            guard let v = try r.double(m, key, prefix: "promote.") else { continue }
            guard v >= 0 && v <= 1 else { throw r.error(m[key], "promote.\(key)", "must lie in [0, 1]") }
            policy[keyPath: keyPath] = v
        }
        return (try mode(m["mode"]), policy)
    }

    /// The ingest stage's options for this pipeline.
    public var ingestOptions: IngestOptions {
        var o = IngestOptions(historyStore: historyStore, settings: settings, inputs: eventInputs, quarantineDirectory: quarantineDirectory)
        o.featureFiles = featureFiles
        o.maxBadFraction = maxBadFraction
        o.lockTimeout = lockTimeout
        o.batchEvents = batchEvents
        o.pipelineName = kind.rawValue
        o.requireNewFiles = requireNewFiles
        return o
    }

    /// The encode stages' options for this pipeline (nil when the file has no encode keys).
    public var encodeOptions: EncodeOptions? {
        guard let e = encode, let catalog else { return nil }
        var o = EncodeOptions(kind: kind, historyStore: historyStore, embeddingStore: e.embeddingStore, checkpoint: e.checkpoint, catalog: catalog)
        o.threads = e.threads
        o.precision = e.precision
        o.windowUsers = e.windowUsers
        o.lockTimeout = e.lockTimeout
        o.staleAfterEvents = e.staleAfterEvents
        o.promote = e.promote
        o.promotion = e.promotion
        o.historyLockTimeout = lockTimeout
        o.keepRunsDays = e.keepRunsDays
        return o
    }

    /// Typed access to YAML nodes with errors that name the key and line.
    struct Reader {
        let file: String

        func error(_ node: Node?, _ key: String, _ message: String) -> ConfigError {
            ConfigError(file: file, key: key, line: node?.mark.map { $0.line }, message: message)
        }

        func mapping(_ node: Node?, _ key: String, allowed: Set<String>, required: Bool = true) throws(ConfigError) -> Node.Mapping? {
            guard let node else {
                if required { throw ConfigError(file: file, key: key, line: nil, message: "required key is missing") }
                return nil
            }
            guard let m = node.mapping else { throw error(node, key, "must be a mapping") }
            var seen: [String: Int] = [:]
            for k in m.keys {
                let full = key.isEmpty ? (k.string ?? "?") : "\(key).\(k.string ?? "?")"
                guard let name = k.string, allowed.contains(name) else {
                    throw error(k, full, "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
                }
                // YAML lets a repeated key silently replace the first: a typo-sized mistake.
                if let first = seen[name] {
                    throw error(k, full, "given twice (lines \(first) and \(k.mark.map { String($0.line) } ?? "?")); keep one")
                }
                seen[name] = k.mark?.line ?? 0
            }
            return m
        }

        func mapping(_ node: Node, _ key: String, allowed: Set<String>) throws(ConfigError) -> Node.Mapping {
            try mapping(Optional(node), key, allowed: allowed, required: true)!
        }

        func string(_ m: Node.Mapping?, _ key: String, prefix: String = "", required: Bool = false) throws(ConfigError) -> String? {
            guard let n = m?[key] else {
                if required { throw ConfigError(file: file, key: prefix + key, line: nil, message: "required key is missing") }
                return nil
            }
            guard case .scalar = n, let s = n.string, !s.isEmpty else { throw error(n, prefix + key, "must be a non-empty string") }
            return s
        }

        /// A list of strings; a single string too when `scalarAllowed` (paths), never for a key whose
        /// value is fixed in a store for good, where `purchase` for `[purchase]` is likely a mistake.
        func strings(_ m: Node.Mapping?, _ full: String, key: String, required: Bool, scalarAllowed: Bool = true) throws(ConfigError) -> [String] {
            guard let n = m?[key] else {
                if required { throw ConfigError(file: file, key: full, line: nil, message: "required key is missing") }
                return []
            }
            if case .scalar = n, let s = n.string {
                guard scalarAllowed else { throw error(n, full, "must be a list (write [\(s)])") }
                return [s]
            }
            guard let seq = n.sequence else { throw error(n, full, "must be a string or a list of strings") }
            var out: [String] = []
            for item in seq {
                guard case .scalar = item, let s = item.string, !s.isEmpty else { throw error(item, full, "must hold only strings") }
                out.append(s)
            }
            if required && out.isEmpty { throw error(n, full, "must not be empty") }
            return out
        }

        func int(_ m: Node.Mapping?, _ key: String, prefix: String, required: Bool) throws(ConfigError) -> Int64? {
            guard let n = m?[key] else {
                if required { throw ConfigError(file: file, key: prefix + key, line: nil, message: "required key is missing") }
                return nil
            }
            guard let s = n.string, let v = Int64(s) else { throw error(n, prefix + key, "must be an integer") }
            return v
        }

        func double(_ m: Node.Mapping?, _ key: String, prefix: String) throws(ConfigError) -> Double? {
            guard let n = m?[key] else { return nil }
            guard let s = n.string, let v = Double(s), v.isFinite else { throw error(n, prefix + key, "must be a number") }
            return v
        }
    }
}

// MARK: - Errors about the file's paths

extension PipelineConfig {
    /// Every path this file gives, with its key, in the order of docs/pipelines.md's table; the
    /// quarantine directory and metrics file under their keys also when they are defaults.
    public var pathKeys: [(key: String, path: String)] {
        var out: [(key: String, path: String)] = [("history_store", historyStore)]
        if let e = encode {
            out.append(("embedding_store", e.embeddingStore))
            if let c = e.checkpoint { out.append(("checkpoint", c)) }
        }
        out += eventInputs.map { ("inputs.events", $0) } + featureFiles.map { ("inputs.features", $0) }
        if let catalog { out.append(("inputs.catalog", catalog)) }
        out.append(("ingest.quarantine_dir", quarantineDirectory))
        if let e = encode { out.append(("metrics_file", e.metricsFile)) }
        return out
    }

    /// The key of the path an error concerns: the key whose path is it, holds it (a file in a
    /// checkpoint or input directory) or lies beside it under its name (`history.db.lock`,
    /// `embeddings.db-wal`), the most specific first; failing those, every key whose path lies
    /// under it (a directory that could not be made), joined by ", ". Nil when none.
    public func key(concerning path: String) -> String? {
        func trimmed(_ p: String) -> String { p.count > 1 && p.hasSuffix("/") ? String(p.dropLast()) : p }
        let target = trimmed(path)
        var best: (key: String, length: Int)?
        var below: [String] = []
        for (key, given) in pathKeys {
            let p = trimmed(given)
            let owns = target == p || (target.hasPrefix(p) && ["/", ".", "-"].contains(target.dropFirst(p.count).first))
            if owns, p.count > (best?.length ?? -1) { best = (key, p.count) }
            if p.hasPrefix(target + "/"), !below.contains(key) { below.append(key) }
        }
        return best?.key ?? (below.isEmpty ? nil : below.joined(separator: ", "))
    }

    /// `error`'s message, prefixed with this file and the key of the path it concerns when the
    /// path came from this file (docs/pipelines.md): `pipelines/x.yaml: checkpoint: ck/config.json: …`.
    public func message(for error: some Error) -> String {
        guard let e = error as? any PathError, let path = e.concernedPath, let key = key(concerning: path) else { return "\(error)" }
        return "\(file): \(key): \(error)"
    }
}
