import Dispatch

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


    static func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
