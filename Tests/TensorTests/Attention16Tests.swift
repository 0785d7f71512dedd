import Foundation
import Tensor
import TensorAVX512
import Testing

/// The 16-lane attention kernel (AVX-512) against the 8-lane one: the same bits for every output,
/// over the head widths it covers, partial row groups, odd panel counts, several key blocks and
/// scores sharp enough that weights underflow. Runs where the CPU has AVX-512 in the x86-64-v3
/// build; everywhere, the CPU check agrees with the flags the kernel is compiled for.
@Suite struct Attention16Tests {
    @Test func theCPUCheckAgreesWithTheKernelsFlags() throws {
        #if os(Linux) && arch(x86_64)
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try #require(info.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(line.split(separator: " ").map(String.init))
        let avx512 = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        #expect(Attention.runs16Lanes == (avx512 && Kernels.cpuLevel == "x86-64-v3"))
        #else
        #expect(!Attention.runs16Lanes)
        #endif
    }

    @Test func coversTheHeadWidthsOfOneOrTwoWholeVectors() {
        #expect((1...64).filter { Attention16.handles(dHead: $0) } == Array(9...16) + Array(25...32))
    }

    @Test(.enabled(if: Attention.runs16Lanes, "needs AVX-512 and the x86-64-v3 build"), arguments: [12, 16, 30, 32])
    func sameBitsAsThe8LaneKernel(dHead: Int) {
        #expect(Attention.uses16Lanes(dHead: dHead))
        var compared = 0
        for (rows, keys, spread) in [(1, 1, Float(3)), (3, 15, 3), (4, 16, 3), (5, 17, 3), (6, 31, 3), (7, 32, 3), (8, 33, 3),
                                     (64, 128, 3), (67, 129, 3), (65, 144, 3), (130, 300, 3), (9, 260, 12), (33, 1000, 30),
                                     (10, Attention.keyBlock + 1, 3), (21, 2 * Attention.keyBlock + 45, 12)] {
            let c = AttentionTests.Case(rows: rows, keys: keys, dHead: dHead, seed: UInt64(dHead * 7919 + keys), spread: spread)
            let eight = c.fused(lanes16: false), sixteen = c.fused()
            #expect(eight.map(\.bitPattern) == sixteen.map(\.bitPattern), "dHead \(dHead) rows \(rows) keys \(keys)")
            compared += rows * dHead
        }
        #expect(compared > 4_000)
    }
}
