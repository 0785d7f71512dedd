import Support

/// docs/checkpoint.md's parity bounds for one user against the reference.
public enum Parity {
    /// |z − z_ref| ≤ 1e-4 · max|z_ref|.
    public static let relativeTolerance: Float = 1e-4
    /// Codes may differ by 1 only where z_ref/scale_ref is this close to a half.
    public static let halfWindow: Float = 0.0127

    /// Every way `z` (and its quantization) misses the expected values; empty when it holds.
    public static func violations(_ e: ExpectedEmbedding, z: [Float], quantized q: QuantizedEmbedding, interestDim: Int) -> [String] {
        var out: [String] = []
        guard z.count == e.z.count, q.codes.count == e.codes.count, q.scales.count == e.scales.count else {
            return ["user \(e.userID): output has \(z.count) values, expected \(e.z.count)"]
        }
        let maxRef = e.z.reduce(Float(0)) { max($0, abs($1)) }
        let tol = relativeTolerance * maxRef
        var worst: Float = 0, worstAt = 0
        for i in z.indices where !(abs(z[i] - e.z[i]) <= worst) {
            worst = abs(z[i] - e.z[i])
            worstAt = i
        }
        if !(worst <= tol) {
            out.append("user \(e.userID): |z − z_ref| = \(worst) at \(worstAt) (z \(z[worstAt]), ref \(e.z[worstAt])) exceeds \(tol)")
        }
        for i in q.codes.indices where q.codes[i] != e.codes[i] {
            let k = i / interestDim
            let ratio = e.scales[k] == 0 ? 0 : e.z[i] / e.scales[k]
            let frac = ratio - ratio.rounded(.down)
            if abs(Int(q.codes[i]) - Int(e.codes[i])) > 1 || !(abs(frac - 0.5) <= halfWindow) {
                out.append("user \(e.userID): code \(i) is \(q.codes[i]), reference \(e.codes[i]) (z_ref/scale \(ratio))")
                break
            }
        }
        let deq = q.dequantized(interestDim: interestDim)
        for i in deq.indices where !(abs(deq[i] - z[i]) <= q.scales[i / interestDim] / 2 * (1 + 1e-6)) {
            out.append("user \(e.userID): dequantized value \(i) is \(deq[i]), more than scale/2 from \(z[i])")
            break
        }
        return out
    }
}

/// The outcome of running a case set through tokenizer, encoder and quantization.
public struct CaseReport: Sendable {
    public var users = 0
    /// Largest |z − z_ref| / max|z_ref| over users.
    public var worstRelativeError: Float = 0
    public var codeDifferences = 0
    public var failures: [String] = []
    public var passed: Bool { failures.isEmpty }
}

/// Runs a checkpoint on case sets: the load-time self-test of `selftest.json` (docs/checkpoint.md)
/// and the parity goldens.
public enum SelfTest {
    /// Tokenizes and encodes every expected user of `cases` from its raw events and compares.
    public static func run(_ checkpoint: Checkpoint, cases: CaseSet, file: String, threads: Int = 1,
                           plainKernels: Bool = false) throws(CheckpointError) -> CaseReport {
        let c = checkpoint.config
        guard cases.semanticModel == c.semanticModel, cases.dSem == c.dSem else {
            throw CheckpointError(file: file, "cases use semantic model \(cases.semanticModel) (d_sem \(cases.dSem)), the checkpoint \(c.semanticModel) (d_sem \(c.dSem))")
        }
        let histories = try CaseHistories(cases, file: file)
        let vectors = InMemoryVectors(semanticModel: cases.semanticModel, dSem: cases.dSem, rows: cases.catalog)
        let parser = histories.parser
        let tokenizer = Tokenizer(config: c, vectors: vectors, typeBytes: { parser.types.bytes($0) },
                                  surfaceBytes: { parser.surfaces.bytes($0) })
        var users: [TokenizedUser] = []
        for e in cases.expected {
            do {
                users.append(try tokenizer.tokenize(userID: e.userID, events: histories.events[e.userID] ?? [],
                                                    features: histories.features[e.userID]))
            } catch {
                throw CheckpointError(file: file, "\(error)")
            }
        }
        let zs = Encoder(checkpoint: checkpoint, plainKernels: plainKernels).encode(users, threads: threads)
        return compare(cases.expected, users: users, zs: zs, config: c)
    }

    /// Compares encoder outputs with the expected embeddings, user by user.
    public static func compare(_ expected: [ExpectedEmbedding], users: [TokenizedUser], zs: [[Float]], config c: ModelConfig) -> CaseReport {
        var report = CaseReport()
        for (i, e) in expected.enumerated() {
            report.users += 1
            let u = users[i]
            if u.n != e.nEvents || u.asOf != e.asOf {
                report.failures.append("user \(e.userID): n_events \(u.n), as_of \(u.asOf.map(String.init) ?? "null"); expected \(e.nEvents), \(e.asOf.map(String.init) ?? "null")")
                continue
            }
            let q: QuantizedEmbedding
            do { q = try quantize(zs[i], interests: c.interests, interestDim: c.interestDim) } catch {
                report.failures.append("user \(e.userID): \(error)")
                continue
            }
            let maxRef = e.z.reduce(Float(0)) { max($0, abs($1)) }
            let err = zip(zs[i], e.z).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            report.worstRelativeError = max(report.worstRelativeError, maxRef > 0 ? err / maxRef : err)
            report.codeDifferences += zip(q.codes, e.codes).filter { $0 != $1 }.count
            report.failures += Parity.violations(e, z: zs[i], quantized: q, interestDim: c.interestDim)
        }
        return report
    }
}

extension Checkpoint {
    /// Loads a checkpoint and runs its `selftest.json` (docs/checkpoint.md): a checkpoint whose
    /// self-test is missing or fails is refused before it can encode anything.
    public static func loadVerified(directory: String, threads: Int = 1) throws(CheckpointError) -> (Checkpoint, CaseReport) {
        let checkpoint = try Checkpoint(directory: directory)
        let path = directory + "/selftest.json"
        guard Files.exists(path) else { throw CheckpointError(file: path, "missing: every checkpoint carries its self-test cases") }
        let cases = try CaseSet.load(path)
        // A self-test must exercise both paths of the model: the sequence tokens (a user with
        // events) and the query tokens alone (a user without); an empty one proves nothing.
        if cases.expected.isEmpty { throw CheckpointError(file: path, "expected holds no case: a self-test needs a user with events and a user without") }
        if !cases.expected.contains(where: { $0.nEvents > 0 }) { throw CheckpointError(file: path, "expected has no case of a user with events") }
        if !cases.expected.contains(where: { $0.nEvents == 0 }) { throw CheckpointError(file: path, "expected has no case of a user without events") }
        let report = try SelfTest.run(checkpoint, cases: cases, file: path, threads: threads)
        guard report.passed else {
            throw CheckpointError(file: path, "self-test failed on \(report.failures.count) check(s): " + report.failures.prefix(3).joined(separator: "; "))
        }
        return (checkpoint, report)
    }
}
