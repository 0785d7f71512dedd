#if canImport(Glibc)
import Glibc
#endif
import Support

/// The benchmark workload of the encoder: the bench config with random weights and users whose
/// histories have exactly n events, already tokenized (the timed region is tokens → int8 codes).
public enum EncoderBench {
    /// the bench config (docs/performance.md) at a given n_max.
    public static func config(nMax: Int) -> ModelConfig {
        ModelConfig(modelVersion: "bench", semanticModel: "bench-sem", d: 256, layers: 4, heads: 8, dHead: 32, rQ: 128, rKV: 128,
                    ffn: 704, queryTokens: 8, interests: 4, interestDim: 64, dSem: 64, itemBuckets: 262_144, nTime: 64,
                    loraRank: 64, loraHidden: 512, nMax: nMax,
                    types: ["impression", "click", "like", "comment", "share", "save", "add_to_cart", "purchase", "lead", "app_install"].map { Array($0.utf8) },
                    surfaces: ["feed", "reels", "stories", "marketplace", "search", "video"].map { Array($0.utf8) },
                    features: [FeatureSpec(name: Array("country".utf8), kind: .categorical, vocab: ["US", "BR", "IN", "ID", "JP", "GB"].map { Array($0.utf8) }),
                               FeatureSpec(name: Array("log_account_age_days".utf8), kind: .dense, vocab: [])])
    }

    /// A checkpoint of `config` with random weights (gains near 1, linears ~ ±1/√in, embeddings ~ ±0.02).
    public static func randomCheckpoint(_ config: ModelConfig, seed: UInt64) -> Checkpoint {
        let table = tensorTable(config)
        let total = table.reduce(0) { $0 + $1.shape.reduce(1, *) }
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
        var offsets: [String: Int] = [:]
        var rng = SplitMix(seed)
        var at = 0
        for (name, shape) in table {
            offsets[name] = at
            let count = shape.reduce(1, *)
            let amplitude: Float = name.hasSuffix("norm") ? 0.1
                : (name.hasPrefix("embed.") && name != "embed.sem" && name != "embed.meta") || name == "query.pos" ? 0.02
                : 1.7 / Float(shape.last!).squareRoot()
            let base: Float = name.hasSuffix("norm") ? 1 : 0
            for i in 0..<count { storage[at + i] = base + amplitude * rng.uniform() }
            at += count
        }
        return Checkpoint(directory: "(random)", config: config, weights: Weights(storage: storage, offsets: offsets),
                          identity: "random-\(seed)", dtypes: ["F32"])
    }

    /// `count` users with exactly n events each (random items, types, ages, metadata; 10% of items missing from the catalog).
    public static func users(_ c: ModelConfig, n: Int, count: Int, seed: UInt64) -> [TokenizedUser] {
        var rng = SplitMix(seed)
        return (0..<count).map { u in
            var t = TokenizedUser(userID: UInt64(u), asOf: 1_790_900_000, n: n, itemBucket: [], typeIndex: [], surfaceIndex: [], timeBucket: [],
                                  sem: (0..<(n * c.dSem)).map { _ in rng.uniform() }, semMissing: (0..<n).map { _ in rng.next() % 10 == 0 },
                                  meta: (0..<(2 * n)).map { _ in 4 * abs(rng.uniform()) }, f: [Float](repeating: 0, count: c.dF))
            for k in 0..<n {
                t.itemBucket.append(Int32(rng.next() % UInt64(c.itemBuckets)))
                t.typeIndex.append(Int32(rng.next() % UInt64(c.types.count + 1)))
                t.surfaceIndex.append(Int32(rng.next() % UInt64(c.surfaces.count + 1)))
                t.timeBucket.append(Int32(min(c.nTime - 1, (n - k).bitWidth - (n - k).leadingZeroBitCount + 4)))
            }
            // One-hot and numeric user features at the bench config's positions (those past a smaller d_F left out).
            let hot = Int(rng.next() % 7), numeric = 3 * abs(rng.uniform())
            for (i, v) in [(hot, Float(1)), (7, numeric), (8 + 13, 1), (8 + 24 + 2, 1)] where i < c.dF { t.f[i] = v }
            return t
        }
    }

    /// FLOPs of one user with n events (multiply-adds count 2).
    ///
    /// nominal: what a dense implementation computes — every layer on all T = n + Q rows, each row
    /// attending over all T keys (a mask zeroes the rest): per layer 2·T·(d·r_q + r_q·hd + d·r_kv +
    /// 2·r_kv·hd + hd·d + 3·d·ffn) + 4·T²·hd, plus the embedding and head products.
    /// executed: what this engine computes — sequence rows attend over n keys, query rows over T,
    /// and the last layer computes q, attention, W_o and the MLP for the Q query rows only, attending
    /// in latent space (no k, v for the sequence rows) when that is cheaper.
    public static func flops(_ c: ModelConfig, n: Int) -> (nominal: Double, executed: Double) {
        let t = Double(n + c.queryTokens), q = Double(c.queryTokens), nn = Double(n)
        let d = Double(c.d), hd = Double(c.hd), rq = Double(c.rQ), rkv = Double(c.rKV), ffn = Double(c.ffn)
        let kvPerRow = 2 * (d * rkv + 2 * rkv * hd)
        let restPerRow = 2 * (d * rq + rq * hd + hd * d + 3 * d * ffn)
        let embed = 2 * nn * Double(c.dSem) * d + 2 * Double(c.dF) * d
        let head = 2 * (q * d * Double(c.loraRank) + 2 * Double(c.loraRank) * Double(c.loraHidden) + Double(c.loraRank) * Double(c.outputWidth))
        let layers = Double(c.layers)
        let nominal = embed + head + layers * (t * (kvPerRow + restPerRow) + 4 * t * t * hd)
        let fullLayer = t * (kvPerRow + restPerRow) + 4 * hd * (nn * nn + q * t)
        // The last layer attends in latent space when hd > H·Q (Encoder.attendsInLatentSpace): c_kv for
        // every row, q̃ = q·W_uk and o = ō·W_uvᵀ for the query rows, scores and ō over r_kv per head.
        let h = Double(c.heads)
        let lastLayer = Encoder.attendsInLatentSpace(c)
            ? t * 2 * d * rkv + q * restPerRow + 4 * q * hd * rkv + 4 * h * q * t * rkv
            : t * kvPerRow + q * restPerRow + 4 * hd * q * t
        let executed = embed + head + (layers - 1) * fullLayer + lastLayer
        return (nominal, executed)
    }

    /// Peak resident set size of this process (VmHWM), in bytes.
    public static func peakRSS() -> Int {
        guard let bytes = try? Files.readAll("/proc/self/status") else { return 0 }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return 0
    }
}

/// A small deterministic generator for bench inputs.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return fmix64(state)
    }
    /// Uniform in [−1, 1).
    mutating func uniform() -> Float { Float(Int64(bitPattern: next()) >> 40) / Float(1 << 23) }
}
