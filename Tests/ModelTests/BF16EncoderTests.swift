import Model
import Support
import Tensor
import Testing
import TestSupport

/// The bf16 linear layers against fp32, on the committed goldens' weights, the shipped sample
/// checkpoint and the bench config: the self-check's verdict holds beyond its own users.
@Suite(.enabled(if: BF16Gemm.isSupported, "needs a CPU with AVX-512 BF16"))
struct BF16EncoderTests {
    static func checkpoints() throws -> [(String, Checkpoint)] {
        var out: [(String, Checkpoint)] = try ["small", "shapes", "tiny4096", "bf16"].map { ($0, try Checkpoint(directory: Goldens.directory($0))) }
        var root = #filePath
        for _ in 0..<3 { root = Files.parentDirectory(root) }
        out.append(("sample", try Checkpoint(directory: root + "/sample-data/checkpoint")))
        out.append(("bench", EncoderBench.randomCheckpoint(EncoderBench.config(nMax: 512), seed: 3)))
        return out
    }

    /// A checkpoint the bf16 self-check accepts keeps cosine 0.9999 on users beyond the check's
    /// (longer histories, other seeds); the check refuses some (the tiny goldens at short histories).
    @Test func whatTheSelfCheckAcceptsStaysWithinCosine0_9999OfFP32() throws {
        var accepted: [String] = [], refused: [String] = []
        for (name, checkpoint) in try BF16EncoderTests.checkpoints() {
            let check = Encoder.bf16SelfCheck(checkpoint, threads: 2)
            guard check >= Encoder.Precision.bf16MinimumCosine else {
                refused.append(name)
                continue
            }
            accepted.append(name)
            let c = checkpoint.config
            for n in Set([1, 3, 9, 33, 100, min(256, c.nMax), c.nMax]).sorted() {
                let users = EncoderBench.users(c, n: n, count: 24, seed: 77 &+ UInt64(n))
                let fp32 = Encoder(checkpoint: checkpoint).encode(users, threads: 2)
                let bf16 = Encoder(checkpoint: checkpoint, precision: .bf16).encode(users, threads: 2)
                let cosine = Quality.worstInterestCosine(bf16, fp32, interests: c.interests, interestDim: c.interestDim)
                #expect(cosine >= Encoder.Precision.bf16MinimumCosine, "\(name) n \(n): worst cosine \(cosine) (self-check \(check))")
                #expect(bf16 != fp32, "\(name) n \(n): bf16 equals fp32 bit for bit: was the bf16 path used?")
            }
        }
        #expect(accepted.contains("sample"), "accepted \(accepted), refused \(refused)")
        #expect(refused.contains("small"), "accepted \(accepted), refused \(refused)")
    }

    @Test func aUsersBitsDoNotDependOnTheBatchOrThreads() throws {
        let checkpoint = EncoderBench.randomCheckpoint(EncoderBench.config(nMax: 300), seed: 4)
        let users = (0..<6).map { EncoderBench.users(checkpoint.config, n: 50 * ($0 + 1), count: 1, seed: UInt64($0))[0] }
        let encoder = Encoder(checkpoint: checkpoint, precision: .bf16)
        let together = encoder.encode(users, threads: 2)
        for (i, u) in users.enumerated() { #expect(encoder.encode([u], threads: 1)[0] == together[i], "user \(i)") }
    }
}
