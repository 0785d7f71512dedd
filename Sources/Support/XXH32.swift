/// Streaming XXH32 (the 32-bit xxHash of the LZ4 frame format's header, block and content checksums).
///
/// Written from the published algorithm description. Why our own: the frame checksums are part of
/// reading every log, and the distribution's liblz4 builds its XXH32 for plain SSE2, where the
/// vectorised 32-bit multiply becomes a chain of shifts and adds (measured at ~0.4 ns a byte on Zen 1,
/// a seventh of the read stage). Four scalar lanes with `imul` ran at about a third of that. One
/// vector of four lanes (`pmulld` on x86-64-v3) leaves the scalar multiplier to the parser running
/// alongside: read stage 388 → 395–397 MB/s (two builds run one after the other; the hash alone
/// was not timed).
public struct XXH32: Sendable {
    @usableFromInline static let p1: UInt32 = 0x9E37_79B1
    @usableFromInline static let p2: UInt32 = 0x85EB_CA77
    @usableFromInline static let p3: UInt32 = 0xC2B2_AE3D
    @usableFromInline static let p4: UInt32 = 0x27D4_EB2F
    @usableFromInline static let p5: UInt32 = 0x1656_67B1

    /// The four lane accumulators, one vector.
    @usableFromInline var lanes: SIMD4<UInt32>
    @usableFromInline let seed: UInt32
    /// Bytes absorbed so far (the digest mixes in their count modulo 2^32).
    @usableFromInline var total: UInt64 = 0
    /// A partial stripe (fewer than 16 bytes) waiting for more input.
    @usableFromInline var pending: (UInt64, UInt64) = (0, 0)
    @usableFromInline var pendingCount = 0

    public init(seed: UInt32 = 0) {
        self.seed = seed
        lanes = SIMD4(seed &+ XXH32.p1 &+ XXH32.p2, seed &+ XXH32.p2, seed, seed &- XXH32.p1)
    }

    /// Absorbs whole 16-byte stripes from `p`; returns how many bytes it consumed (a multiple of 16).
    /// The four lanes are independent chains: one vector round per stripe (`pmulld` on x86-64-v3).
    @inlinable @inline(__always)
    mutating func stripes(_ p: UnsafeRawPointer, _ count: Int) -> Int {
        var acc = lanes
        let p1 = SIMD4<UInt32>(repeating: XXH32.p1), p2 = SIMD4<UInt32>(repeating: XXH32.p2)
        var i = 0
        while i &+ 16 <= count {
            let x = SIMD4<UInt32>(littleEndianWords: p.loadUnaligned(fromByteOffset: i, as: SIMD4<UInt32>.self))
            let a = acc &+ x &* p2
            acc = ((a &<< 13) | (a &>> 19)) &* p1
            i &+= 16
        }
        lanes = acc
        return i
    }

    /// Absorbs `count` bytes at `p`. Always inlined, so the stripes compile for the calling module's
    /// CPU level (the read stage's hash runs in Events, built for x86-64-v3 where the machine has it).
    @inlinable @inline(__always)
    public mutating func update(_ p: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        total &+= UInt64(count)
        var at = 0
        if pendingCount > 0 {
            // Top up the partial stripe first.
            let take = min(16 &- pendingCount, count)
            withUnsafeMutableBytes(of: &pending) { buf in
                (buf.baseAddress! + pendingCount).copyMemory(from: p, byteCount: take)
            }
            pendingCount &+= take
            at = take
            guard pendingCount == 16 else { return }
            withUnsafeBytes(of: pending) { buf in _ = stripes(buf.baseAddress!, 16) }
            pendingCount = 0
        }
        at &+= stripes(p + at, count &- at)
        let rest = count &- at
        if rest > 0 {
            withUnsafeMutableBytes(of: &pending) { buf in buf.baseAddress!.copyMemory(from: p + at, byteCount: rest) }
            pendingCount = rest
        }
    }

    /// Absorbs the bytes of `b`.
    @inlinable
    public mutating func update(_ b: UnsafeRawBufferPointer) {
        if let base = b.baseAddress { update(base, count: b.count) }
    }

    /// The digest of everything absorbed so far (the state is left as it is).
    public func digest() -> UInt32 {
        var acc: UInt32
        if total >= 16 {
            let (v1, v2, v3, v4) = (lanes[0], lanes[1], lanes[2], lanes[3])
            acc = ((v1 << 1) | (v1 >> 31)) &+ ((v2 << 7) | (v2 >> 25)) &+ ((v3 << 12) | (v3 >> 20)) &+ ((v4 << 18) | (v4 >> 14))
        } else {
            acc = seed &+ XXH32.p5
        }
        acc &+= UInt32(truncatingIfNeeded: total)
        withUnsafeBytes(of: pending) { buf in
            var i = 0
            while i &+ 4 <= pendingCount {
                let lane = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                acc = acc &+ lane &* XXH32.p3
                acc = ((acc << 17) | (acc >> 15)) &* XXH32.p4
                i &+= 4
            }
            while i < pendingCount {
                acc = acc &+ UInt32(buf[i]) &* XXH32.p5
                acc = ((acc << 11) | (acc >> 21)) &* XXH32.p1
                i &+= 1
            }
        }
        acc ^= acc >> 15
        acc = acc &* XXH32.p2
        acc ^= acc >> 13
        acc = acc &* XXH32.p3
        acc ^= acc >> 16
        return acc
    }

    /// The XXH32 of one buffer.
    public static func hash(_ b: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var h = XXH32(seed: seed)
        h.update(b)
        return h.digest()
    }

    public static func hash(_ b: [UInt8], seed: UInt32 = 0) -> UInt32 {
        b.withUnsafeBytes { hash($0, seed: seed) }
    }
}

extension SIMD4 where Scalar == UInt32 {
    /// Four little-endian words as loaded from memory (a no-op on little-endian machines).
    @inlinable @inline(__always)
    init(littleEndianWords w: SIMD4<UInt32>) {
        #if _endian(little)
        self = w
        #else
        self.init(w[0].byteSwapped, w[1].byteSwapped, w[2].byteSwapped, w[3].byteSwapped)
        #endif
    }
}
