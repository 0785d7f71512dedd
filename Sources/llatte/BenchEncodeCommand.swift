import ArgumentParser
import Dispatch
import Foundation
import Model
import Support
import Tensor

extension Encoder.Precision: ExpressibleByArgument {}

extension BenchCommand {
    /// The encoder on the bench config with random weights, beside the BLAS ceiling.
    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the encoder (tokenized users → int8 codes) on the bench config at each n; print users/s, GFLOP/s, peak RSS and the cblas_sgemm ceiling.")

        @Option(name: .customLong("n"), help: "History lengths, comma-separated.") var lengths = "256,1024,4096"
        @Option(name: .customLong("threads"), help: "Worker threads (each runs single-threaded kernels).") var threads = 2
        @Option(name: .customLong("seconds"), help: "Minimum timed seconds per n.") var seconds = 6.0
        @Option(name: .customLong("repeat"), help: "Timed runs per n; the best is reported.") var repeats = 3
        @Option(name: .customLong("precision"),
                help: "Linear layers in fp32 or bf16 (AVX-512 BF16 CPUs); bf16 is timed beside fp32 and its cosine to fp32 checked.")
        var precision: Encoder.Precision = .fp32

        func run() throws {
            if let reason = precision.unsupportedReason { throw exitWith(.usage, "bench encode --precision bf16: \(reason)") }
            let ns = lengths.split(separator: ",").compactMap { Int($0) }
            guard !ns.isEmpty, ns.allSatisfy({ $0 > 0 }) else { throw ValidationError("--n: positive integers, comma-separated") }
            print("CPU: \(CPULevel.modelName() ?? "unknown"), \(threads) threads")
            let (peak, lanes) = KernelBench.fmaPeak(threads: threads)
            print("FMA peak: \(fmt(peak)) GFLOP/s on \(threads) threads (12 independent chains of \(lanes)-wide FMAs each, \(Kernels.cpuLevel) build"
                  + (Attention.runs16Lanes ? "; attention on 16-lane AVX-512 vectors" : "") + ")")
            let sgemm = sgemmCeiling(threads: threads)
            print("cblas_sgemm 8192x256x256: \(fmt(sgemm)) GFLOP/s with \(threads) OpenBLAS threads (\(String(format: "%.2f", sgemm / peak)) of the FMA peak)")
            print("kernels (one core, \(Kernels.cpuLevel) build): exp \(fmt(KernelBench.expRate())) G/s; fused attention of one head "
                  + "(d_head 32, 4096 rows x 4096 keys) \(fmt(KernelBench.attentionRate(n: 4096))) GFLOP/s")
            print("FLOP formulas (per user, T = n + Q): nominal = embed + head + L·[T·(2(d·r_kv + 2·r_kv·hd) + 2(d·r_q + r_q·hd + hd·d + 3·d·ffn)) + 4·T²·hd];")
            print("  executed = embed + head + (L−1)·[T·(kv + rest) + 4·hd·(n² + Q·T)] + [T·2·d·r_kv + Q·rest + 4·Q·hd·r_kv + 4·H·Q·T·r_kv]  (sequence rows attend n keys; last layer: query rows only, attending in latent space)")
            for n in ns {
                let config = EncoderBench.config(nMax: n)
                let checkpoint = EncoderBench.randomCheckpoint(config, seed: 42)
                let flops = EncoderBench.flops(config, n: n)
                // About 2·10¹⁰ FLOP a call, in whole rounds of the workers: a batch of 3 on 2 workers
                // would leave one idle for a third of the time.
                let rounds = max(1, Int((2e10 / flops.executed / Double(threads)).rounded(.up)))
                let batch = threads * rounds
                let users = EncoderBench.users(config, n: n, count: batch, seed: UInt64(n))
                let encoder = Encoder(checkpoint: checkpoint)
                // Parity: the fused path against the plain twins on a sample, so speed never comes from a wrong answer.
                let sample = Array(users.prefix(2))
                let fast = encoder.encode(sample, threads: threads), plain = Encoder(checkpoint: checkpoint, plainKernels: true).encode(sample, threads: 1)
                var worst: Float = 0
                for (a, b) in zip(fast, plain) {
                    let m = b.reduce(Float(0)) { max($0, abs($1)) }
                    worst = max(worst, zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) } / max(m, 1e-30))
                }
                guard worst <= 1e-4 else { throw exitWith(.failure, "bench encode: fused and plain paths differ by \(worst) (relative) at n = \(n)") }
                func usersPerSecond(_ encoder: Encoder) throws -> Double {
                    var best = Double.infinity
                    for _ in 0..<max(1, repeats) {
                        var done = 0
                        let t0 = monotonicSeconds()
                        repeat {
                            let zs = encoder.encode(users, threads: threads)
                            for z in zs { _ = try quantize(z, interests: config.interests, interestDim: config.interestDim) }
                            done += users.count
                        } while monotonicSeconds() - t0 < seconds / Double(max(1, repeats))
                        best = min(best, (monotonicSeconds() - t0) / Double(done))
                    }
                    return 1 / best
                }
                // The fp32 figures always: GFLOP/s and the share of the FMA peak are fp32's. With
                // --precision bf16, bf16 is timed after fp32 in this process and its embeddings checked against fp32's.
                let rate = try usersPerSecond(encoder)
                var bf16Note = ""
                if precision == .bf16 {
                    let bf16 = Encoder(checkpoint: checkpoint, precision: .bf16)
                    let check = Array(users.prefix(16))
                    let cosine = Quality.worstInterestCosine(bf16.encode(check, threads: threads), encoder.encode(check, threads: threads),
                                                             interests: config.interests, interestDim: config.interestDim)
                    let needed = Encoder.Precision.bf16MinimumCosine
                    guard cosine >= needed else { throw exitWith(.failure, "bench encode: bf16 embeddings at cosine \(cosine) to fp32 (< \(needed)) at n = \(n)") }
                    let bf16Rate = try usersPerSecond(bf16)
                    let selfCheck = Encoder.bf16SelfCheck(checkpoint, threads: threads)
                    bf16Note = " bf16_users/s=\(fmt(bf16Rate)) bf16_vs_fp32=\(String(format: "%.2f", bf16Rate / rate)) "
                        + "bf16_worst_interest_cosine_vs_fp32=\(String(format: "%.6f", cosine)) bf16_self_check=\(String(format: "%.6f", selfCheck))"
                }
                print("n=\(n): users/s=\(fmt(rate)) nominal_GFLOP/s=\(fmt(flops.nominal * rate / 1e9)) executed_GFLOP/s=\(fmt(flops.executed * rate / 1e9)) "
                      + "executed_vs_sgemm=\(String(format: "%.2f", flops.executed * rate / 1e9 / sgemm)) "
                      + "executed_vs_fma_peak=\(String(format: "%.2f", flops.executed * rate / 1e9 / peak)) "
                      + "GFLOP/user nominal=\(fmt(flops.nominal / 1e9)) executed=\(fmt(flops.executed / 1e9)) peak_RSS_MB=\(EncoderBench.peakRSS() / 1_000_000) "
                      + "batch=\(batch) threads=\(threads) parity_vs_plain=\(worst)" + bf16Note)
            }
        }

        /// GFLOP/s of an 8192×256×256 product with OpenBLAS's own `threads` threads (best of 5 × 10).
        func sgemmCeiling(threads: Int) -> Double {
            let m = 8192, k = 256, nn = 256
            let flop = 2.0 * Double(m * k * nn)
            func buffers() -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
                let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k), b = UnsafeMutablePointer<Float>.allocate(capacity: nn * k)
                let c = UnsafeMutablePointer<Float>.allocate(capacity: m * nn)
                for i in 0..<(m * k) { a[i] = Float(i % 7) * 0.1 }
                for i in 0..<(nn * k) { b[i] = Float(i % 5) * 0.1 }
                return (a, b, c)
            }
            func time(_ reps: Int, _ body: () -> Void) -> Double {
                var best = Double.infinity
                for _ in 0..<5 {
                    let t0 = monotonicSeconds()
                    for _ in 0..<reps { body() }
                    best = min(best, (monotonicSeconds() - t0) / Double(reps))
                }
                return best
            }
            let (a, b, c) = buffers()
            defer { a.deallocate(); b.deallocate(); c.deallocate() }
            BLASThreads.set(threads)
            let tBLAS = time(10) { Gemm.nt(m: m, n: nn, k: k, a: a, lda: k, b: b, ldb: k, c: c, ldc: nn) }
            BLASThreads.set(1)
            return flop / tBLAS / 1e9
        }

        /// Three significant digits (0.733, 6.91, 37.5, 56.3).
        func fmt(_ x: Double) -> String {
            let digits = x >= 100 ? 0 : x >= 10 ? 1 : x >= 1 ? 2 : 3
            return String(format: "%.\(digits)f", x)
        }
    }
}
