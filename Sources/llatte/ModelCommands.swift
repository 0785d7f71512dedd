import ArgumentParser
import Model
import Pipeline
import Store
import Support

/// `llatte verify`: load a checkpoint, check it, run its self-test.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a checkpoint (config, every tensor's name, shape and dtype, finite weights) and run its selftest.json.",
        discussion: "Exits 0 when the self-test passes, 1 otherwise. With --catalog, also checks the catalog's semantic model.")

    @Argument(help: "Checkpoint directory (config.json, model.safetensors, selftest.json).")
    var checkpoint: String

    @Option(name: .customLong("catalog"), help: "Item catalog whose semantic model must be the checkpoint's.")
    var catalog: String?

    @Option(name: .customLong("threads"), help: "Worker threads.")
    var threads = 1

    func run() throws {
        let (ck, report): (Checkpoint, CaseReport)
        do { (ck, report) = try Checkpoint.loadVerified(directory: checkpoint, threads: threads) } catch {
            throw exitWith(.failure, "llatte verify: \(error)")
        }
        let c = ck.config
        if let catalog {
            let opened: Catalog
            do { opened = try Catalog(path: catalog) } catch { throw exitWith(.failure, "llatte verify: \(error)") }
            do { try Tokenizer.checkSemanticModel(c, opened) } catch {
                throw exitWith(.failure, "llatte verify: \(catalog): \(error.message)")
            }
        }
        print("checkpoint      \(checkpoint)")
        print("model_version   \(c.modelVersion)   identity \(ck.identity)")
        print("semantic model  \(c.semanticModel) (d_sem \(c.dSem))\(catalog.map { ", matches \($0)" } ?? "")")
        print("sizes           d \(c.d), layers \(c.layers), heads \(c.heads)×\(c.dHead), r_q \(c.rQ), r_kv \(c.rKV), ffn \(c.ffn), Q \(c.queryTokens), K \(c.interests)×D \(c.interestDim), n_max \(c.nMax)")
        print("weights         \(ck.dtypes.joined(separator: ", ")) → f32, \(ck.weights.byteCount / 1_000_000) MB")
        print("self-test       passed: \(report.users) users, worst |z − z_ref| / max|z_ref| = \(report.worstRelativeError), codes differing by 1 at a half: \(report.codeDifferences)")
    }
}

/// `llatte encode`: embeddings of users from a history store, printed as JSON lines.
struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode users of a history store with a checkpoint and print their int8 embeddings as JSON lines.",
        discussion: """
            Each line: user_id, n_events, as_of, history_version, codes (K×D, interest-major), scales (K), \
            and with --float the f32 embedding z. The checkpoint's self-test runs first.
            """)

    @Option(name: .customLong("checkpoint"), help: "Checkpoint directory.")
    var checkpoint: String
    @Option(name: .customLong("history-store"), help: "History store to read users from.")
    var historyStore: String
    @Option(name: .customLong("catalog"), help: "Item catalog (its semantic model must be the checkpoint's).")
    var catalog: String
    @Option(name: .customLong("user"), help: "A user to encode (repeatable).")
    var users: [UInt64] = []
    @Flag(name: .customLong("all"), help: "Encode every user with events or features.")
    var all = false
    @Option(name: .customLong("threads"), help: "Worker threads (each runs single-threaded OpenBLAS).")
    var threads = 1
    @Flag(name: .customLong("float"), help: "Also print the unquantized embedding.")
    var float = false

    func validate() throws {
        if !users.isEmpty != all { return }
        throw ValidationError("give --user (one or more) or --all")
    }

    func run() throws {
        do {
            let (ck, _) = try Checkpoint.loadVerified(directory: checkpoint, threads: threads)
            let store = try HistoryStore(readingAt: historyStore)
            let tokenizer = try Tokenizer(config: ck.config, store: store, catalog: try Catalog(path: catalog))
            let ids = all ? try store.userIDsWithEventsOrFeatures() : users
            if !all {   // an unknown user is an error up front, not an empty answer
                let unknown = try users.filter { try store.userState($0) == nil && store.features($0) == nil }
                if !unknown.isEmpty {
                    throw exitWith(.failure, "llatte encode: \(unknown.count == 1 ? "user" : "users") \(unknown.map(String.init).joined(separator: ", ")) "
                                   + "\(unknown.count == 1 ? "has" : "have") neither events nor features in \(historyStore)")
                }
            }
            let encoder = Encoder(checkpoint: ck)
            let c = ck.config
            // Bounded memory: a window of users at a time.
            for start in stride(from: 0, to: ids.count, by: 1024) {
                let window = Array(ids[start..<min(ids.count, start + 1024)])
                var tokens: [TokenizedUser] = []
                var versions: [Int64] = []
                for u in window {
                    let (t, version) = try tokenizer.tokenize(userID: u, store: store)
                    tokens.append(t)
                    versions.append(version)
                }
                let zs = encoder.encode(tokens, threads: threads)
                for (i, u) in tokens.enumerated() {
                    var w = JSONWriter()
                    w.raw("{")
                    w.key("user_id", first: true); w.raw(String(u.userID))
                    w.key("n_events"); w.raw(String(u.n))
                    w.key("as_of"); w.raw(u.asOf.map { String($0) } ?? "null")
                    w.key("history_version"); w.raw(String(versions[i]))
                    do {
                        let q = try quantize(zs[i], interests: c.interests, interestDim: c.interestDim)
                        w.key("codes"); w.raw("[" + q.codes.map { String($0) }.joined(separator: ",") + "]")
                        w.key("scales"); w.raw("[" + q.scales.map { "\($0)" }.joined(separator: ",") + "]")
                    } catch {
                        w.key("error"); w.string("\(error)")
                    }
                    if float { w.key("z"); w.raw("[" + zs[i].map { "\($0)" }.joined(separator: ",") + "]") }
                    w.raw("}")
                    print(String(decoding: w.bytes, as: UTF8.self))
                }
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw exitWith(.failure, "llatte encode: \(error)")
        }
    }
}
