import Dispatch
import Foundation
import TensorAVX512

/// Single-core rates of the attention kernels, for `llatte bench encode` (measured inside this
/// module so the kernels are inlined as the encoder inlines them).
public enum KernelBench {
    /// The attention's softmax exponential (`exp2NonPositive`) on one core, in G values/s (best of 5 over a 4,096-value L1-resident
    /// buffer); at long histories the scores' exponentials are a fifth of attention's work.
    public static func expRate() -> Double {
        let count = 4096
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buf.deallocate() }
        for i in 0..<count { buf[i] = -Float(i % 1000) * 0.01 }
        var best = Double.infinity
        var sink = SIMD8<Float>()
        let reps = 4000
        for _ in 0..<5 {
            let t0 = monotonicSeconds()
            for _ in 0..<reps {
                var i = 0
                while i < count {
                    sink += Kernels.exp2NonPositive(Kernels.load(buf + i))
                    i += 8
                }
            }
            best = min(best, (monotonicSeconds() - t0) / Double(reps * count))
        }
        if sink.sum() == -1 { print(sink) }   // keeps the loop
        return 1 / best / 1e9
    }

    /// The fused attention of one head (d_head 32) on one core, n query rows over n keys, in GFLOP/s
    /// (4·n²·d_head per call, best of 3).
    public static func attentionRate(n: Int, dHead: Int = 32) -> Double {
        var state: UInt32 = 7
        func next() -> Float { state = state &* 1_664_525 &+ 1_013_904_223; return Float(state >> 8) / Float(1 << 23) - 1 }
        let q = (0..<(n * dHead)).map { _ in next() }
        let k = (0..<(n * dHead)).map { _ in next() }
        let v = (0..<(n * dHead)).map { _ in next() }
        let kp = UnsafeMutablePointer<Float>.allocate(capacity: Attention.packedKeyCount(keys: n, dHead: dHead))
        let vp = UnsafeMutablePointer<Float>.allocate(capacity: Attention.packedKeyCount(keys: n, dHead: dHead))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Attention.scratchCount(dHead: dHead))
        let o = UnsafeMutablePointer<Float>.allocate(capacity: n * dHead)
        defer { kp.deallocate(); vp.deallocate(); scratch.deallocate(); o.deallocate() }
        Attention.packKeys(keys: n, dHead: dHead, k: k, ldk: dHead, into: kp)
        Attention.packValues(keys: n, dHead: dHead, v: v, ldv: dHead, into: vp)
        var best = Double.infinity
        for _ in 0..<3 {
            let t0 = monotonicSeconds()
            Attention.forward(rows: n, keys: n, dHead: dHead, scale: 1 / Float(dHead).squareRoot(), q: q, ldq: dHead,
                              kp: kp, vp: vp, o: o, ldo: dHead, scratch: scratch)
            best = min(best, monotonicSeconds() - t0)
        }
        return 4 * Double(n) * Double(n) * Double(dHead) / best / 1e9
    }


    /// The machine's FMA peak in GFLOP/s, and the vector width that reached it: on each of `threads`
    /// threads at once, 12 independent chains of 8-wide fused multiply-adds (enough in flight to fill
    /// two FMA pipes of 4-cycle latency), registers only, best of 5 runs of about 0.2 s; where the
    /// encoder also runs 16-lane code (`Attention.runs16Lanes`), the same with 16-wide ones, and the
    /// higher of the two (on AVX-512 CPUs with two 512-bit FMA pipes it doubles). The encoder's
    /// executed GFLOP/s are measured against it. Built without FMA (the portable build) it measures
    /// separate multiplies and adds, the best that build can do.
    public static func fmaPeak(threads: Int) -> (gflops: Double, lanes: Int) {
        let reps = 120_000_000
        @Sendable func chains() -> Double {
            let x = V(repeating: 0.999_999), y = V(repeating: 1e-7)
            var a0 = V(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
            var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
            for _ in 0..<reps {
                a0 = Kernels.fma(y, a0, x); a1 = Kernels.fma(y, a1, x); a2 = Kernels.fma(y, a2, x); a3 = Kernels.fma(y, a3, x)
                a4 = Kernels.fma(y, a4, x); a5 = Kernels.fma(y, a5, x); a6 = Kernels.fma(y, a6, x); a7 = Kernels.fma(y, a7, x)
                a8 = Kernels.fma(y, a8, x); a9 = Kernels.fma(y, a9, x); a10 = Kernels.fma(y, a10, x); a11 = Kernels.fma(y, a11, x)
            }
            return Double((a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum())
        }
        var best = Double.infinity
        for _ in 0..<5 {
            best = min(best, concurrently(threads: threads) { _ in
                if chains() == -1 { print("unreachable") }   // keeps the chains
            })
        }
        let eight = Double(threads * reps * 12 * 8 * 2) / best / 1e9
        guard Attention.runs16Lanes else { return (eight, 8) }
        var best16 = Double.infinity
        for _ in 0..<5 {
            best16 = min(best16, concurrently(threads: threads) { _ in
                if Attention16.fmaChains(reps / 2) == -1 { print("unreachable") }
            })
        }
        let sixteen = Double(threads * (reps / 2) * 12 * 16 * 2) / best16 / 1e9
        return sixteen > eight ? (sixteen, 16) : (eight, 8)
    }

    /// Runs `body(i)` for i in 0..<threads, each on a thread of its own, all released together, and
    /// returns the seconds from the release until the last one finished. `concurrentPerform` may run
    /// the iterations one after another on the calling thread when no pool thread is free, and a
    /// peak measured that way reads as a fraction of the machine's.
    public static func concurrently(threads: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
        let ready = DispatchGroup(), done = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        for i in 0..<threads {
            ready.enter()
            done.enter()
            Thread {
                ready.leave()
                go.wait()
                body(i)
                done.leave()
            }.start()
        }
        ready.wait()
        let t0 = monotonicSeconds()
        for _ in 0..<threads { go.signal() }
        done.wait()
        return monotonicSeconds() - t0
    }

    typealias V = Kernels.V

    static func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
