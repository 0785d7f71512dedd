import ArgumentParser
import Pipeline
import Store
import Support

/// `llatte get`: users' stored embeddings.
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print users' stored embeddings (the active model version unless --model-version).",
        discussion: """
            Users come from the arguments and --users-file (one id per line; blank lines and # comments skipped), \
            are read from one snapshot of the store, and are printed in the order given. With --json, one JSON \
            line per user; a user without a row is a line with "found": false. Times in the text output are \
            ISO-8601 UTC; JSON carries unix seconds. Exit codes: 0 every user found, 2 some user has no row, \
            1 the store or version cannot be read.
            """)

    @Argument(help: "User ids (unsigned 64-bit).") var users: [UInt64] = []
    @Option(name: .customLong("users-file"), help: "A file of user ids, one per line.") var usersFile: String?
    @Option(name: .customLong("embedding-store"), help: "Path of the embedding store.") var embeddingStore: String
    @Option(name: .customLong("model-version"), help: "Model version (default: the active one).") var modelVersion: String?
    @Flag(name: .customLong("json"), help: "Print one JSON line per user.") var json = false

    func validate() throws {
        if users.isEmpty && usersFile == nil { throw ValidationError("give user ids, or --users-file") }
    }

    func run() throws {
        var missing = 0
        do {
            let ids = users + (try usersFile.map { try UserIDFile.read($0) } ?? [])
            let store = try EmbeddingStore(readingAt: embeddingStore)
            try store.database.execute("BEGIN")   // one snapshot for every user
            defer { try? store.database.execute("COMMIT") }
            guard let v = try modelVersion.map({ try store.version($0) }) ?? store.activeVersion() else {
                throw exitWith(.failure, "llatte get: \(modelVersion.map { "no model version \($0)" } ?? "no active model version") in \(embeddingStore)")
            }
            for start in stride(from: 0, to: ids.count, by: 1024) {
                let chunk = Array(ids[start..<min(ids.count, start + 1024)])
                for (user, row) in zip(chunk, try store.rows(chunk, version: v.version)) {
                    if row == nil { missing += 1 }
                    print(json ? GetCommand.jsonLine(user, row, v) : GetCommand.text(user, row, v))
                }
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw exitWith(.failure, "llatte get: \(error)")
        }
        if missing > 0 { throw exitWith(.notFound, "llatte get: \(missing) of the users asked for have no row") }
    }

    static func jsonLine(_ user: UInt64, _ row: EmbeddingRow?, _ v: ModelVersionInfo) -> String {
        var w = JSONWriter()
        w.raw("{")
        w.key("user_id", first: true); w.raw(String(user))
        w.key("found"); w.raw(row == nil ? "false" : "true")
        w.key("model_version"); w.string(v.version)
        if let r = row {
            w.key("interests"); w.raw(String(v.interests))
            w.key("interest_dim"); w.raw(String(v.interestDim))
            w.key("codes"); w.raw("[" + r.codes.map { String($0) }.joined(separator: ",") + "]")
            w.key("scales"); w.raw("[" + r.scales.map { "\($0)" }.joined(separator: ",") + "]")
            w.key("n_events"); w.raw(String(r.nEvents))
            w.key("as_of"); w.raw(r.asOf.map { String($0) } ?? "null")
            w.key("history_version"); w.raw(String(r.historyVersion))
            w.key("computed_at"); w.raw(String(r.computedAt))
            w.key("run_id"); w.raw(String(r.runID))
        }
        w.raw("}")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    static func text(_ user: UInt64, _ row: EmbeddingRow?, _ v: ModelVersionInfo) -> String {
        guard let r = row else { return "user \(user)  not found in model version \(v.version)" }
        var lines = ["user \(r.userID)  model_version \(v.version)  n_events \(r.nEvents)  as_of \(r.asOf.map(iso8601UTC) ?? "none")  "
                     + "history_version \(r.historyVersion)  computed_at \(iso8601UTC(r.computedAt))  run \(r.runID)"]
        for k in 0..<v.interests {
            let codes = r.codes[(k * v.interestDim)..<((k + 1) * v.interestDim)].map { String($0) }.joined(separator: " ")
            lines.append("interest \(k)  scale \(r.scales[k])  codes \(codes)")
        }
        return lines.joined(separator: "\n")
    }
}

/// `llatte forget`: remove a user everywhere, for good.
struct ForgetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Delete a user from the history store and every embedding table, and tombstone it so no re-delivered file or running job brings it back.")

    @Argument(help: "User id (unsigned 64-bit).") var user: UInt64
    @Option(name: .customLong("history-store"), help: "Path of the history store.") var historyStore: String
    @Option(name: .customLong("embedding-store"), help: "Path of the embedding store (optional).") var embeddingStore: String?
    @Option(name: .customLong("lock-timeout"), help: "Seconds to wait for the history store's lock.") var lockTimeout = 60.0

    func run() throws {
        do {
            // The embedding store first: its tombstone stops in-flight writes; then the history.
            if let embeddingStore { try EmbeddingStore(path: embeddingStore).forget(user) }
            let lock: FileLock
            do { lock = try FileLock.acquire(path: historyStore + ".lock", holder: LockHolder(pipeline: "forget"), timeout: lockTimeout) } catch {
                throw exitWith(error.isHeld ? .locked : .failure, "llatte forget: \(error)")
            }
            defer { withExtendedLifetime(lock) {} }
            let held = try HistoryStore(path: historyStore, settings: nil).forget(user)
            print("forgot user \(user)\(held ? "" : " (the history store held nothing for it)"); tombstoned")
        } catch let e as ExitCode {
            throw e
        } catch {
            throw exitWith(.failure, "llatte forget: \(error)")
        }
    }
}

/// `llatte model`: list, promote and drop model versions of an embedding store.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "List, compare, promote or drop model versions of an embedding store; show their status log.",
        subcommands: [List.self, Log.self, Promote.self, Drop.self, Compare.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List model versions with status, coverage, completed shards and checkpoint.")
        @Option(name: .customLong("embedding-store")) var embeddingStore: String
        @Flag(name: .customLong("json"), help: "Print one JSON line per version (times as unix seconds).") var json = false
        func run() throws {
            do {
                let store = try EmbeddingStore(readingAt: embeddingStore)
                for v in try store.versions() {
                    let shards = try store.builds(v.version).map(\.shard)
                    if json {
                        var w = JSONWriter()
                        w.raw("{")
                        w.key("version", first: true); w.string(v.version)
                        w.key("status"); w.string(v.status.rawValue)
                        w.key("coverage"); w.raw(String(v.coverage))
                        w.key("interests"); w.raw(String(v.interests))
                        w.key("interest_dim"); w.raw(String(v.interestDim))
                        w.key("built_shards"); w.raw("[" + shards.map { "\"\($0)\"" }.joined(separator: ",") + "]")
                        w.key("identity"); w.string(v.identity)
                        w.key("table"); w.string(v.table)
                        w.key("checkpoint"); if let c = v.checkpointPath { w.string(c) } else { w.raw("null") }
                        w.key("created"); w.raw(String(v.created))
                        w.key("updated"); w.raw(String(v.updated))
                        w.raw("}")
                        print(String(decoding: w.bytes, as: UTF8.self))
                    } else {
                        print("\(v.version)  \(v.status.rawValue)  coverage \(v.coverage)  \(v.interests)×\(v.interestDim)  built \(shards.isEmpty ? "-" : shards.joined(separator: ","))  "
                              + "updated \(iso8601UTC(v.updated))  identity \(v.identity.prefix(16))…  table \(v.table)  checkpoint \(v.checkpointPath ?? "-")")
                    }
                }
            } catch { throw exitWith(.failure, "llatte model list: \(error)") }
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the status changes of model versions (promotions, forced ones, drops), oldest first.")
        @Argument(help: "Only this version.") var version: String?
        @Option(name: .customLong("embedding-store")) var embeddingStore: String
        func run() throws {
            do {
                for e in try EmbeddingStore(readingAt: embeddingStore).statusLog(version: version) {
                    print("\(iso8601UTC(e.at))  \(e.version)  \(e.from ?? "-") -> \(e.to)\(e.forced ? "  FORCED" : "")  by \(e.by)\(e.reason.map { "  (\($0))" } ?? "")")
                }
            } catch { throw exitWith(.failure, "llatte model log: \(error)") }
        }
    }

    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a version active (the active one is retired), if the promotion guard passes.",
            discussion: """
                The guard (docs/operations.md): every shard's backfill of the version completed, none rejected an input \
                file, failed users within --max-failed-fraction, it holds at least --min-coverage of the users the active \
                version serves (of its candidates when none is active), and it reflects every conversion and new user \
                of the given history stores (checked holding their locks). --force promotes anyway and is recorded in \
                version_log. Exit codes: 0 promoted, 3 refused by the guard, 1 error, 4 a history store is locked.
                """)
        @Argument var version: String
        @Option(name: .customLong("embedding-store")) var embeddingStore: String
        @Option(name: .customLong("history-store"), help: "History store the version was built from (repeat for each shard's).")
        var historyStores: [String] = []
        @OptionGroup var guardOptions: GuardOptions
        func run() throws {
            let store: EmbeddingStore
            do { store = try EmbeddingStore(path: embeddingStore, create: false) } catch { throw exitWith(.failure, "llatte model promote: \(error)") }
            try guardedPromote(store, version, historyStores: historyStores, guardOptions, command: "llatte model promote")
        }
    }

    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop a version: DROP TABLE of its rows, and its model_versions entry.",
            discussion: "Refused, unless --force, for the active version, a version a live run is writing, and a version the latest nightly or refresh run wrote (its pipeline file still names it).")
        @Argument var version: String
        @Option(name: .customLong("embedding-store")) var embeddingStore: String
        @Flag(name: .customLong("force"), help: "Drop even the active version or one a pipeline still uses (recorded).") var force = false
        func run() throws {
            do {
                let store = try EmbeddingStore(path: embeddingStore, create: false)
                let refusals = try store.dropRefusals(version)
                if !refusals.isEmpty && !force {
                    throw exitWith(.failure, "llatte model drop: refused: " + refusals.joined(separator: "; ") + " (--force drops it anyway)")
                }
                let r = try store.drop(version, by: "llatte model drop\(force ? " --force" : "")", forced: force && !refusals.isEmpty)
                print("model version \(version) dropped: \(r.rows) rows, \(r.bytes) bytes of pages freed for reuse")
            } catch let e as ExitCode {
                throw e
            } catch {
                throw exitWith(.failure, "llatte model drop: \(error)")
            }
        }
    }
}

/// The promotion guard's options, shared by `model promote` and `merge --promote`.
struct GuardOptions: ParsableArguments {
    @Option(name: .customLong("min-coverage"), help: "Share of the active version's users the version must hold.") var minCoverage = PromotionPolicy().minCoverage
    @Option(name: .customLong("max-failed-fraction"), help: "Largest share of candidates whose encoding may have failed.") var maxFailedFraction = PromotionPolicy().maxFailedFraction
    @Flag(name: .customLong("force"), help: "Promote even if the guard fails (recorded in version_log with the guard's findings).") var force = false

    var policy: PromotionPolicy {
        var p = PromotionPolicy()
        p.minCoverage = minCoverage
        p.maxFailedFraction = maxFailedFraction
        return p
    }
}

/// Applies the promotion guard holding every history store's lock, promotes when it passes (or
/// with --force), and prints the outcome; exits 3 when the guard refuses.
func guardedPromote(_ store: EmbeddingStore, _ version: String, historyStores: [String], _ options: GuardOptions, command: String) throws {
    var locks: [FileLock] = []
    defer { withExtendedLifetime(locks) {} }
    do {
        var histories: [HistoryStore] = []
        for h in historyStores {
            do { locks.append(try FileLock.acquire(path: h + ".lock", holder: LockHolder(pipeline: "promote"), timeout: 60)) } catch {
                throw exitWith(error.isHeld ? .locked : .failure, "\(command): \(error)")
            }
            histories.append(try HistoryStore(path: h, settings: nil))
        }
        let check = try store.promotionCheck(version, policy: options.policy, history: histories)
        if !check.passed && !options.force {
            throw exitWith(.partialFailure, "\(command): model version \(version) not promoted: " + check.problems.joined(separator: "; ") + " (--force promotes anyway)")
        }
        let forced = !check.passed
        try store.activate(version, forced: forced, by: command + (options.force ? " --force" : ""),
                           reason: forced ? "forced past: " + check.problems.joined(separator: "; ") : nil)
        print("model version \(version) is active\(forced ? " (forced past the guard: \(check.problems.count) problem\(check.problems.count == 1 ? "" : "s"), recorded)" : "")")
    } catch let e as ExitCode {
        throw e
    } catch {
        throw exitWith(.failure, "\(command): \(error)")
    }
}

/// `llatte merge`: shard embedding stores into one.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge shard embedding stores (from --shard k/n runs) into one store.",
        discussion: """
            Rows follow the upsert rule, so merging is idempotent and order-free; each shard's completed backfill is \
            recorded, and a version whose shards are all merged becomes ready. Rows are merged in windows of \
            --window-rows keys, one transaction each (memory does not grow with the stores): a killed merge run again \
            with the same arguments continues after its last committed window. A new version stays building or ready \
            while it is merged, so readers never see it half merged; a version active in the merged store (a sharded \
            nightly's) takes the shards' newer rows as a nightly run would, each user's row whole, and is skipped when \
            they hold none. With --promote, the merged version becomes \
            active if the promotion guard passes (a merge of k of n shards never does without --force); give each \
            shard's history store with --history-store so the guard can check it is current. Exit codes: 0 merged \
            (and promoted), 1 error, 3 refused by the guard, 4 another merge into the store is running.
            """)

    @Option(name: .customLong("into"), help: "The merged embedding store (created if missing).") var into: String
    @Flag(name: .customLong("promote"), help: "Make the merged version active if the guard passes.") var promote = false
    @Option(name: .customLong("history-store"), help: "With --promote: a shard's history store (repeat for each).") var historyStores: [String] = []
    @Option(name: .customLong("window-rows"), help: "Rows per transaction.") var windowRows = MergeOptions().windowRows
    @OptionGroup var guardOptions: GuardOptions
    @Argument(help: "Shard embedding stores.") var shards: [String]

    func validate() throws {
        if windowRows < 1 { throw ValidationError("--window-rows must be at least 1") }
    }

    func run() throws {
        let lock: FileLock
        do { lock = try FileLock.acquire(path: into + ".merge.lock", holder: LockHolder(pipeline: "merge"), timeout: 0) } catch {
            throw exitWith(error.isHeld ? .locked : .failure, "llatte merge: \(error)")
        }
        defer { withExtendedLifetime(lock) {} }
        let out: EmbeddingStore
        var merged = Set<String>()
        do {
            out = try EmbeddingStore(path: into)
            let hooks = RunHooks.fromEnvironment()
            var options = MergeOptions()
            options.windowRows = windowRows
            var windowsBefore = 0
            options.beforeCommit = { hooks.reached(.mergeWindow, batch: windowsBefore + $0) }
            var total = MergeCounts()
            let t0 = monotonicSeconds()
            for s in shards {
                let shard = try EmbeddingStore(readingAt: s)
                merged.formUnion(try shard.versions().map(\.version))
                let c = try out.merge(from: shard, options: options)
                windowsBefore += c.windows
                total += c
            }
            try out.clearMergeProgress(sources: shards)
            let seconds = monotonicSeconds() - t0
            let resumed = total.versionsResumed + total.versionsAlreadyMerged > 0
                ? " resumed: \(total.versionsAlreadyMerged) shard version\(total.versionsAlreadyMerged == 1 ? "" : "s") already merged, \(total.versionsResumed) continued" : ""
            let skipped = total.versionsActiveAndCurrent > 0
                ? " skipped: \(total.versionsActiveAndCurrent) shard version\(total.versionsActiveAndCurrent == 1 ? "" : "s") active here and already as current" : ""
            let refreshed = total.versionsActiveRefreshed > 0
                ? " refreshed: \(total.versionsActiveRefreshed) shard version\(total.versionsActiveRefreshed == 1 ? "" : "s") active here, with newer rows" : ""
            print("merge: shards=\(shards.count) rows read=\(total.read) written=\(total.written) windows=\(total.windows) seconds=\(fixed(seconds, 2)) "
                  + "rows/s=\(Int((Double(total.read) / max(seconds, 1e-9)).rounded())) into \(into)\(resumed)\(skipped)\(refreshed)")
        } catch {
            throw exitWith(.failure, "llatte merge: \(error)")
        }
        guard promote else { return }
        guard merged.count == 1, let version = merged.first else {
            throw exitWith(.usage, "llatte merge: --promote needs shard stores holding one model version, not \(merged.count) (\(merged.sorted().joined(separator: ", "))); promote one with llatte model promote")
        }
        try guardedPromote(out, version, historyStores: historyStores, guardOptions, command: "llatte merge --promote")
    }
}
