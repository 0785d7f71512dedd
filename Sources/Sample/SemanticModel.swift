import Support

/// The fictional semantic model `llatte-sample-sem-v1`: maps an item's content to a unit vector of
/// d_sem = 64 floats, the way a text/image encoder would.
///
/// vector = normalize(centroid(category) + 0.6 · normalize(Σ word vectors of the text) + 0.45 · noise(item))
///
/// Word vectors and centroids depend only on the words and the category name, never on `--seed`: one
/// model id must mean one mapping, so catalogs from different seeds are from the same semantic model.
/// Items of a category cluster around its centroid; items sharing words (a colour, a noun) are closer
/// still, so the vectors carry both the category and the finer text signal a model can learn.
struct SemanticModel: Sendable {
    static let id = "llatte-sample-sem-v1"
    static let dimension = 64
    /// Fixed key of the model's own random streams ("llattev1").
    private static let modelKey: UInt64 = 0x6C6C_6174_7465_7631

    /// [categories][64], unit length.
    let centroids: [[Double]]

    init() {
        centroids = SampleVocabulary.categories.map { SemanticModel.unitVector(key: fnv1aString("category:" + $0.name)) }
    }

    /// The sum of the word vectors of a phrase ("knife set" = v(knife) + v(set)), unnormalized.
    static func phraseVector(_ phrase: String) -> [Double] {
        var v = [Double](repeating: 0, count: dimension)
        for word in phrase.split(separator: " ") {
            let w = unitVector(key: fnv1aString("word:" + word))
            for k in 0..<dimension { v[k] += w[k] }
        }
        return v
    }

    /// The item's vector from its category, the summed vectors of its text's phrases, and its id.
    func vector(category: Int, textVector: [Double], itemID: UInt64) -> [Float] {
        var t = textVector
        normalize(&t)
        let noise = SemanticModel.unitVector(key: fmix64(itemID ^ SemanticModel.modelKey))
        let c = centroids[category]
        var v = [Double](repeating: 0, count: SemanticModel.dimension)
        for k in 0..<SemanticModel.dimension { v[k] = c[k] + 0.6 * t[k] + 0.45 * noise[k] }
        normalize(&v)
        return v.map { Float($0) }
    }

    /// A pseudo-random direction, uniform on the sphere, fixed by `key`.
    static func unitVector(key: UInt64) -> [Double] {
        var rng = SampleRandom(seed: modelKey, .wordVector, key)
        var v = (0..<dimension).map { _ in rng.normal() }
        normalize(&v)
        return v
    }
}

private func normalize(_ v: inout [Double]) {
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    if n > 0 { for k in v.indices { v[k] /= n } }
}

/// FNV-1a of a string's UTF-8 bytes (a stable key for word and category names).
func fnv1aString(_ s: String) -> UInt64 {
    var bytes = Array(s.utf8)
    return bytes.withUnsafeMutableBytes { fnv1a(UnsafeRawBufferPointer($0)) }
}
