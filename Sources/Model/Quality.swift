/// How close two encodings of the same users are.
public enum Quality {
    /// The smallest cosine between matching interest vectors of `a` and `b` (each z is K·D), over
    /// every user and interest; 1 for identical directions. A pair with a zero vector counts as 1
    /// only when both are zero.
    public static func worstInterestCosine(_ a: [[Float]], _ b: [[Float]], interests: Int, interestDim: Int) -> Double {
        precondition(a.count == b.count)
        var worst = 1.0
        for (x, y) in zip(a, b) {
            for k in 0..<interests {
                var dot = 0.0, nx = 0.0, ny = 0.0
                for j in (k * interestDim)..<((k + 1) * interestDim) {
                    let u = Double(x[j]), v = Double(y[j])
                    dot += u * v; nx += u * u; ny += v * v
                }
                let cosine = nx == 0 && ny == 0 ? 1 : dot / (nx.squareRoot() * ny.squareRoot())
                worst = min(worst, cosine.isNaN ? -1 : cosine)
            }
        }
        return worst
    }
}
