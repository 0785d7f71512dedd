import ArgumentParser
import Pipeline
import Store
import Support

/// `llatte get`: one user's stored embedding.
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print one user's stored embedding (the active model version unless --model-version).")

    @Argument(help: "User id (unsigned 64-bit).") var user: UInt64
    @Option(name: .customLong("embedding-store"), help: "Path of the embedding store.") var embeddingStore: String
    @Option(name: .customLong("model-version"), help: "Model version (default: the active one).") var modelVersion: String?
    @Flag(name: .customLong("json"), help: "Print JSON.") var json = false

    func run() throws {
        do {
            let store = try EmbeddingStore(path: embeddingStore, create: false)
            guard let v = try modelVersion.map({ try store.version($0) }) ?? store.activeVersion() else {
                throw exitWith(.failure, "llatte get: \(modelVersion.map { "no model version \($0)" } ?? "no active model version") in \(embeddingStore)")
            }
            guard let r = try store.row(user, version: v.version) else {
                throw exitWith(.failure, "llatte get: user \(user) has no row in model version \(v.version)")
            }
            if json {
                var w = JSONWriter()
                w.raw("{")
                w.key("user_id", first: true); w.raw(String(r.userID))
                w.key("model_version"); w.string(v.version)
                w.key("interests"); w.raw(String(v.interests))
                w.key("interest_dim"); w.raw(String(v.interestDim))
                w.key("codes"); w.raw("[" + r.codes.map { String($0) }.joined(separator: ",") + "]")
                w.key("scales"); w.raw("[" + r.scales.map { "\($0)" }.joined(separator: ",") + "]")
                w.key("n_events"); w.raw(String(r.nEvents))
                w.key("as_of"); w.raw(r.asOf.map { String($0) } ?? "null")
                w.key("history_version"); w.raw(String(r.historyVersion))
                w.key("computed_at"); w.raw(String(r.computedAt))
                w.key("run_id"); w.raw(String(r.runID))
                w.raw("}")
                print(String(decoding: w.bytes, as: UTF8.self))
            } else {
                print("user \(r.userID)  model_version \(v.version)  n_events \(r.nEvents)  as_of \(r.asOf.map(String.init) ?? "none")  history_version \(r.historyVersion)  computed_at \(r.computedAt)  run \(r.runID)")
                for k in 0..<v.interests {
                    let codes = r.codes[(k * v.interestDim)..<((k + 1) * v.interestDim)].map { String($0) }.joined(separator: " ")
                    print("interest \(k)  scale \(r.scales[k])  codes \(codes)")
                }
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw exitWith(.failure, "llatte get: \(error)")
        }
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
                throw exitWith(.locked, "llatte forget: \(error)")
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
        abstract: "List, promote or drop model versions of an embedding store.",
        subcommands: [List.self, Promote.self, Drop.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List model versions with status, coverage and checkpoint identity.")
        @Option(name: .customLong("embedding-store")) var embeddingStore: String
        func run() throws {
            do {
                for v in try EmbeddingStore(path: embeddingStore, create: false).versions() {
                    print("\(v.version)  \(v.status.rawValue)  coverage \(v.coverage)  \(v.interests)×\(v.interestDim)  identity \(v.identity)  table \(v.table)")
                }
            } catch { throw exitWith(.failure, "llatte model list: \(error)") }
        }
    }

    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a version active (the previously active one is retired).")
        @Argument var version: String
        @Option(name: .customLong("embedding-store")) var embeddingStore: String
        func run() throws {
            do { try EmbeddingStore(path: embeddingStore, create: false).promote(version) } catch {
                throw exitWith(.failure, "llatte model promote: \(error)")
            }
            print("model version \(version) is active")
        }
    }

    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop a version: DROP TABLE of its rows, and its model_versions entry.")
        @Argument var version: String
        @Option(name: .customLong("embedding-store")) var embeddingStore: String
        func run() throws {
            do { try EmbeddingStore(path: embeddingStore, create: false).drop(version) } catch {
                throw exitWith(.failure, "llatte model drop: \(error)")
            }
            print("model version \(version) dropped")
        }
    }
}

/// `llatte merge`: shard embedding stores into one.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge shard embedding stores (from --shard k/n runs) into one store.",
        discussion: "Rows follow the upsert rule, so merging is idempotent and order-free. With --promote, the versions become active (a sharded backfill leaves them building).")

    @Option(name: .customLong("into"), help: "The merged embedding store (created if missing).") var into: String
    @Flag(name: .customLong("promote"), help: "Make each merged version active.") var promote = false
    @Argument(help: "Shard embedding stores.") var shards: [String]

    func run() throws {
        do {
            let out = try EmbeddingStore(path: into)
            var total = 0
            for s in shards { total += try out.merge(from: try EmbeddingStore(path: s, create: false)) }
            if promote { for v in try out.versions() { try out.promote(v.version) } }
            print("merge: shards=\(shards.count) rows written=\(total) into \(into)")
        } catch {
            throw exitWith(.failure, "llatte merge: \(error)")
        }
    }
}
