import Foundation
import Tensor
import Testing

/// The bf16 product against its twin: the fp32 product (`Gemm.nt`) of the same operands rounded to
/// bf16, over every micro-kernel height, partial panels, odd k and strided operands. Runs where the
/// CPU has AVX-512 BF16; everywhere, the CPU check agrees with the flags the kernel reports.
@Suite struct BF16GemmTests {
    @Test func theCPUCheckAgreesWithTheKernelsFlags() throws {
        #if os(Linux) && arch(x86_64)
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            Issue.record("no flags line in /proc/cpuinfo")
            return
        }
        let flags = Set(line.split(separator: " ").map(String.init))
        let expected = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"].allSatisfy(flags.contains)
        #expect(BF16Gemm.isSupported == expected)
        #else
        #expect(!BF16Gemm.isSupported)
        #endif
    }

    @Test(arguments: [false, true])
    func matchesTheFP32ProductOfRoundedOperands(accumulate: Bool) throws {
        try #require(BF16Gemm.isSupported, "this CPU has no AVX-512 BF16: the kernel cannot run here")
        var compared = 0
        for (m, n, k) in [(1, 1, 1), (2, 16, 3), (5, 33, 7), (6, 32, 64), (7, 40, 33), (13, 176, 129), (97, 64, 256),
                          (103, 256, 704)] {
            var r = KernelTwinTests.Rand(s: UInt64(m * 10_000 + n * 100 + k))
            let lda = k + 3, ldw = k + 1, ldc = n + 5
            let a = (0..<(m * lda)).map { _ in r.next() }
            let w = (0..<(n * ldw)).map { _ in r.next() }
            let c0 = (0..<(m * ldc)).map { _ in r.next() }
            var fused = c0, plain = c0
            let bw = w.withUnsafeBufferPointer { BF16Weight($0.baseAddress!, n: n, k: k, ldw: ldw) }
            a.withUnsafeBufferPointer { ab in
                BF16Gemm.linear(m: m, a: ab.baseAddress!, lda: lda, w: bw, accumulate: accumulate, c: &fused, ldc: ldc)
            }
            Gemm.nt(m: m, n: n, k: k, a: a.map(BF16Gemm.rounded), lda: lda, b: w.map(BF16Gemm.rounded), ldb: ldw,
                    beta: accumulate ? 1 : 0, c: &plain, ldc: ldc)
            for row in 0..<m {
                for j in 0..<ldc {
                    let i = row * ldc + j
                    if j < n {
                        let bound = Float(k) * 1.2e-7 * (Float(k) + abs(c0[i]))
                        #expect(abs(fused[i] - plain[i]) <= bound, "m \(m) n \(n) k \(k) row \(row) col \(j): \(fused[i]) vs \(plain[i])")
                        compared += 1
                    } else {
                        #expect(fused[i] == c0[i], "m \(m) n \(n) k \(k): row \(row) column \(j) past the output was written")
                    }
                }
            }
        }
        #expect(compared == 35_534)
    }

    @Test func roundingIsToNearestEven() {
        #expect(BF16Gemm.rounded(1) == 1)
        #expect(BF16Gemm.rounded(Float(bitPattern: 0x3F80_8000)) == 1)                          // a tie, to even
        #expect(BF16Gemm.rounded(Float(bitPattern: 0x3F81_8000)) == Float(bitPattern: 0x3F82_0000))   // a tie, to even
        #expect(BF16Gemm.rounded(Float(bitPattern: 0x3F80_8001)) == Float(bitPattern: 0x3F81_0000))
        #expect(BF16Gemm.rounded(.nan).isNaN)
    }
}
