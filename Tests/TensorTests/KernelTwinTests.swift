import Foundation
import Tensor
import Testing

/// Each fused SIMD kernel against its plain twin, on widths that exercise vector bodies and tails.
@Suite struct KernelTwinTests {
    struct Rand {
        var s: UInt64
        mutating func next() -> Float {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    @Test(arguments: [1, 7, 8, 15, 16, 33, 256])
    func rmsNormMatchesItsTwin(width: Int) {
        var r = Rand(s: UInt64(width))
        let rows = 5
        let x = (0..<(rows * width)).map { _ in r.next() * 3 }
        let g = (0..<width).map { _ in 1 + r.next() / 2 }
        var fused = [Float](repeating: 0, count: rows * width), plain = fused
        Kernels.rmsNorm(rows: rows, width: width, x: x, ldx: width, gain: g, out: &fused, ldo: width)
        Kernels.rmsNormPlain(rows: rows, width: width, x: x, ldx: width, gain: g, out: &plain, ldo: width)
        for i in fused.indices { #expect(abs(fused[i] - plain[i]) <= 4e-6 * max(1, abs(plain[i])), "\(i)") }
        // In place gives the same as out of place.
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in
            Kernels.rmsNorm(rows: rows, width: width, x: p.baseAddress!, ldx: width, gain: g, out: p.baseAddress!, ldo: width)
        }
        #expect(inPlace == fused)
    }

    @Test(arguments: [1, 8, 13, 704])
    func siluGateMatchesItsTwin(count: Int) {
        var r = Rand(s: 99 + UInt64(count))
        let gate = (0..<count).map { _ in r.next() * 12 }
        let up = (0..<count).map { _ in r.next() * 2 }
        var fused = gate, plain = gate
        Kernels.siluGate(count: count, gate: &fused, up: up)
        Kernels.siluGatePlain(count: count, gate: &plain, up: up)
        for i in 0..<count { #expect(abs(fused[i] - plain[i]) <= 2e-6 * max(1, abs(plain[i])), "\(i): \(gate[i])") }
    }

    @Test(arguments: [1, 3, 8, 9, 64, 1031])
    func softmaxMatchesItsTwin(width: Int) {
        var r = Rand(s: 7 + UInt64(width))
        let rows = 3
        let s = (0..<(rows * width)).map { _ in r.next() * 30 }
        var fused = s, plain = s
        Kernels.softmaxRows(rows: rows, width: width, s: &fused, lds: width)
        Kernels.softmaxRowsPlain(rows: rows, width: width, s: &plain, lds: width)
        for i in fused.indices { #expect(abs(fused[i] - plain[i]) <= 2e-6 * max(1e-3, plain[i]), "\(i)") }
        for row in 0..<rows {
            let sum = fused[(row * width)..<((row + 1) * width)].reduce(0, +)
            #expect(abs(sum - 1) < 1e-5)
        }
    }

    /// The largest |kernel(x) − reference(x)| / reference(x) over x = from, from + step, … below `below`.
    func worstRelativeError(from: Float, below: Float, step: Float,
                            _ kernel: (SIMD8<Float>) -> SIMD8<Float>, _ reference: (Double) -> Double) -> Double {
        var worst: Double = 0
        var x = from
        while x < below {
            let ref = reference(Double(x))
            worst = max(worst, abs(Double(kernel(SIMD8<Float>(repeating: x))[0]) - ref) / ref)
            x += step
        }
        return worst
    }

    @Test func expIsAccurateAcrossTheRangeAndHandlesTheEdges() {
        let worst = worstRelativeError(from: -87, below: 88, step: 0.01, Kernels.exp, Foundation.exp)
        #expect(worst < 4e-7, "worst relative error \(worst)")
        let edges = Kernels.exp(SIMD8<Float>(-.infinity, -1000, -88, 0, 89, .infinity, .nan, 1))
        #expect(edges[0] == 0 && edges[1] == 0 && edges[2] < 1e-38)
        #expect(edges[3] == 1 && edges[4] == .infinity && edges[5] == .infinity && edges[6].isNaN)
        #expect(abs(edges[7] - Float(M_E)) <= Float(M_E).ulp)
    }

    @Test func exp2NonPositiveIsAccurateAndHandlesTheEdges() {
        let worst = worstRelativeError(from: -126, below: 0, step: 0.0037, Kernels.exp2NonPositive, Foundation.exp2)
        #expect(worst < 3e-7, "worst relative error \(worst)")
        let edges = Kernels.exp2NonPositive(SIMD8<Float>(-.infinity, -1000, -127, 0, -0.0, .nan, -1, -125.5))
        #expect(edges[0] == 0 && edges[1] == 0 && edges[2] == 0)
        #expect(abs(edges[3] - 1) <= 2e-7 && abs(edges[4] - 1) <= 2e-7 && edges[5].isNaN)
        #expect(abs(edges[6] - 0.5) <= 2e-7)
        #expect(edges[7] > 0)
    }

    @Test func exp2IsAccurateOverTheWholeRangeAndSaturates() {
        let worst = worstRelativeError(from: -126, below: 127.5, step: 0.0113, Kernels.exp2, Foundation.exp2)
        #expect(worst < 3e-7, "worst relative error \(worst)")
        let edges = Kernels.exp2(SIMD8<Float>(-.infinity, -127, 128, 1000, .infinity, .nan, 3, 0))
        #expect(edges[0] == 0 && edges[1] == 0)
        #expect(edges[2] == .infinity && edges[3] == .infinity && edges[4] == .infinity && edges[5].isNaN)
        #expect(abs(edges[6] - 8) <= 8 * 2e-7 && abs(edges[7] - 1) <= 2e-7)
    }
}
