#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable, reusable byte buffer with appenders for hand-written JSON Lines.
///
/// The generator writes gigabytes of JSON; building a `String` per event would cost more than the
/// simulation itself. Numbers are formatted straight into the buffer, and the buffer keeps its
/// capacity across `removeAll()` so a worker allocates only while its output grows.
final class ByteBuffer {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private(set) var capacity: Int
    /// Lines completed with `endLine()` since the last `removeAll()`.
    private(set) var lines = 0

    init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    var isEmpty: Bool { count == 0 }

    func removeAll() {
        count = 0
        lines = 0
    }

    /// Drops everything after `newCount` bytes (used to cut a line short on purpose).
    func truncate(to newCount: Int) {
        precondition(newCount <= count)
        count = newCount
    }

    /// Drops the first `n` bytes, moving the rest to the front (`lines` is the caller's business).
    func removeFirst(_ n: Int, lines removedLines: Int) {
        precondition(n <= count)
        memmove(base, base + n, count - n)
        count -= n
        lines -= removedLines
    }

    /// Makes room for `n` more bytes.
    @inline(__always)
    func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private func grow(_ needed: Int) {
        var c = capacity
        while c < needed { c *= 2 }
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        p.update(from: base, count: count)
        base.deallocate()
        base = p
        capacity = c
    }

    @inline(__always)
    func byte(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    /// Appends `\n` and counts the line.
    @inline(__always)
    func endLine() {
        byte(0x0A)
        lines += 1
    }

    @inline(__always)
    func append(_ p: UnsafeRawBufferPointer) {
        guard p.count > 0 else { return }
        reserve(p.count)
        memcpy(base + count, p.baseAddress!, p.count)
        count += p.count
    }

    @inline(__always)
    func append(_ s: StaticString) {
        append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    @inline(__always)
    func append(_ a: [UInt8]) { a.withUnsafeBytes { append($0) } }

    /// Appends another buffer's bytes and line count.
    func append(_ other: ByteBuffer) {
        append(other.bytes)
        lines += other.lines
    }

    /// Repeats the line at `from..<from + n` (its `\n` included) of this buffer at its end.
    func appendLineCopy(from: Int, count n: Int) {
        reserve(n)
        memcpy(base + count, base + from, n)
        count += n
        lines += 1
    }

    /// Appends one complete line (its `\n` included) from elsewhere.
    func appendLine(_ p: UnsafeRawBufferPointer) {
        append(p)
        lines += 1
    }

    /// Decimal digits of an unsigned integer.
    @inline(__always)
    func uint(_ v: UInt64) {
        reserve(20)
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, filled from the end
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { t in
            var x = v
            repeat {
                n += 1
                t[24 - n] = UInt8(truncatingIfNeeded: 0x30 &+ x % 10)
                x /= 10
            } while x != 0
            memcpy(base + count, t.baseAddress! + 24 - n, n)
        }
        count += n
    }

    @inline(__always)
    func int(_ v: Int64) {
        if v < 0 {
            byte(0x2D)
            uint(v.magnitude)
        } else {
            uint(UInt64(v))
        }
    }

    /// `x` with exactly `decimals` digits after the point (rounded half away from zero); `x` must be
    /// finite and |x| · 10^decimals below 9e18. Used for metadata and truth values, where a fixed
    /// spelling keeps files byte-stable and the parsed f64 is the nearest double to the text.
    func fixed(_ x: Double, decimals: Int) {
        precondition(x.isFinite && decimals >= 0 && decimals <= 12)
        var scale: UInt64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (x.magnitude * Double(scale)).rounded()
        precondition(scaled < 9e18, "value too large for fixed formatting")
        let v = UInt64(scaled)
        if x < 0 && v != 0 { byte(0x2D) }
        uint(v / scale)
        if decimals > 0 {
            byte(0x2E)
            reserve(decimals)
            var frac = v % scale
            for i in stride(from: decimals - 1, through: 0, by: -1) {
                base[count + i] = UInt8(truncatingIfNeeded: 0x30 &+ frac % 10)
                frac /= 10
            }
            count += decimals
        }
    }

    /// A JSON string of a literal that needs no escaping (vocabulary entries).
    @inline(__always)
    func quoted(_ s: StaticString) {
        byte(0x22)
        append(s)
        byte(0x22)
    }

    /// A JSON string of UTF-8 bytes that need no escaping.
    @inline(__always)
    func quoted(_ b: [UInt8]) {
        byte(0x22)
        append(b)
        byte(0x22)
    }

    /// A copy of the contents (tests, small files).
    func toArray() -> [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
