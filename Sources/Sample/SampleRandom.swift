import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The generator's pseudo-random numbers: xoshiro256** seeded through splitmix64, plus the few
/// distributions the simulation needs.
///
/// Every random decision is drawn from a stream keyed by what it is about (`Stream`, user, day), never
/// from a shared sequence, so users can be simulated in any order or in parallel and still give the same
/// bytes, and a knob that only affects one stream (noise, bad lines) leaves the others untouched.
struct SampleRandom {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// What a stream is about; part of its key. The raw values are part of the data's identity:
    /// changing one changes every file generated from it.
    enum Stream: UInt64 {
        case userProfile = 1, behaviour = 2, delivery = 3, noise = 4, item = 5, wordVector = 7, world = 9, periodic = 10, returning = 11
    }

    /// A stream keyed by (seed, stream, a, b); `fmix64` between parts so nearby keys give unrelated streams.
    init(seed: UInt64, _ stream: Stream, _ a: UInt64 = 0, _ b: UInt64 = 0) {
        var k = fmix64(seed &+ 0x9E37_79B9_7F4A_7C15)
        k = fmix64(k ^ (stream.rawValue &* 0xD6E8_FEB8_6659_FD93))
        k = fmix64((k ^ a) &+ 0x2545_F491_4F6C_DD1D)
        k = fmix64((k ^ b) &+ 0x632B_E59B_D9B4_E019)
        self.init(key: k)
    }

    /// Fills the state from splitmix64 of `key` (never all zero).
    init(key: UInt64) {
        var x = key
        func next() -> UInt64 {
            x = x &+ 0x9E37_79B9_7F4A_7C15
            return fmix64(x)
        }
        s0 = next(); s1 = next(); s2 = next(); s3 = next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    @inline(__always)
    mutating func uniformPositive() -> Double { Double((next() >> 11) + 1) * 0x1p-53 }

    /// Uniform integer in 0..<n (multiply-high; the bias is below 2^-40 for the n used here).
    @inline(__always)
    mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }

    @inline(__always)
    mutating func chance(_ p: Double) -> Bool { p > 0 && uniform() < p }

    /// Standard normal (Box–Muller; one value per call keeps the stream position simple).
    @inline(__always)
    mutating func normal() -> Double {
        let u = uniformPositive(), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    mutating func exponential(mean: Double) -> Double { -log(uniformPositive()) * mean }

    /// exp(N(log median, sigma²)).
    mutating func logNormal(median: Double, sigma: Double) -> Double { median * exp(sigma * normal()) }

    /// Gamma(shape, 1) by Marsaglia–Tsang; shapes below 1 use the U^(1/shape) boost.
    mutating func gamma(shape: Double) -> Double {
        if shape < 1 { return gamma(shape: shape + 1) * pow(uniformPositive(), 1 / shape) }
        let d = shape - 1.0 / 3.0, c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double, v: Double
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniformPositive()
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    mutating func beta(_ a: Double, _ b: Double) -> Double {
        let x = gamma(shape: a), y = gamma(shape: b)
        return x / (x + y)
    }

    /// Poisson(lambda): Knuth's product method for small means, a rounded normal above 30 (the
    /// simulation needs counts, not an exact tail).
    mutating func poisson(_ lambda: Double) -> Int {
        if lambda <= 0 { return 0 }
        if lambda < 30 {
            let limit = exp(-lambda)
            var k = 0
            var p = uniform()
            while p > limit {
                k += 1
                p *= uniform()
            }
            return k
        }
        return max(0, Int((lambda + lambda.squareRoot() * normal()).rounded()))
    }

    /// A random index by linear scan over small non-negative weights that sum to `total`.
    mutating func pick(_ weights: UnsafeBufferPointer<Double>, total: Double) -> Int {
        var u = uniform() * total
        for i in 0..<weights.count {
            u -= weights[i]
            if u < 0 { return i }
        }
        return weights.count - 1
    }
}

/// The logistic function, for the probabilities of the funnel.
@inline(__always)
func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
