import ArgumentParser
import Pipeline
import Store
import Support

extension ModelCommand {
    /// `llatte model compare V1 V2`: the drift report between two model versions of a store.
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report how the embeddings of one model version differ from another's (before readers switch).",
            discussion: """
                For each user with rows in both versions, each interest k is dequantized (code × scale) and compared: \
                aligned cosine cos(V1 k, V2 k); best-match cosine, the best cos(V1 k, V2 k′) over V2's interests \
                (a retrained model may permute them); norm ratio |V2 k| / |V1 k|. Two zero vectors have cosine 1, one zero \
                vector cosine 0; cosines are clamped to [−1, 1]; a norm ratio is not counted when V1's vector is zero \
                unless both are (then 1); identical rows give exactly 1. Percentiles are nearest-rank (the p-th of n values \
                is the value of rank ⌈p·n/100⌉), within 1e-4 for cosines and 0.07 % for ratios, exact when all values are equal. \
                The versions are read in user order, in memory that does not grow with the number of users; both must \
                have the same K × D. Prints a table; with --json, JSON instead; with --html FILE, writes a self-contained \
                page and prints where (on stderr when --json is given too).
                """)

        @Argument(help: "The version readers use now.") var v1: String
        @Argument(help: "The version to compare with it.") var v2: String
        @Option(name: .customLong("embedding-store"), help: "Path of the embedding store (opened read-only).") var embeddingStore: String
        @Flag(name: .customLong("json"), help: "Print JSON instead of the table.") var json = false
        @Option(name: .customLong("html"), help: "Write an HTML report to this file.") var html: String?
        @Option(name: .customLong("top"), help: "Users that moved most to list.") var top = 20

        func validate() throws {
            if top < 0 { throw ValidationError("--top must be 0 or more") }
        }

        func run() throws {
            guard Files.exists(embeddingStore) else { throw exitWith(.failure, "llatte model compare: no embedding store at \(embeddingStore)") }
            let comparison: VersionComparison
            do {
                comparison = try VersionComparison.compare(try EmbeddingStore(readingAt: embeddingStore), v1, v2, top: top)
            } catch {
                throw exitWith(.failure, "llatte model compare: \(error)")
            }
            if let html {
                do { try Files.writeAtomically(html, Array(DriftReport.html(comparison).utf8)) } catch {
                    throw exitWith(.failure, "llatte model compare: \(error)")
                }
            }
            let wrote = html.map { "drift report \(v1) → \(v2) written to \($0)" }
            if json {
                print(DriftReport.json(comparison))
                if let wrote { logLine(wrote) }
            } else if let wrote {
                print(wrote)
            } else {
                print(DriftReport.text(comparison), terminator: "")
            }
        }
    }
}
