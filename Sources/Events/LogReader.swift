import Support
#if canImport(Glibc)
import Glibc
#endif

/// Why an event log file could not be read; the whole file is rejected.
public enum LogReadError: PathError, Sendable {
    case io(FileError)
    /// liblz4 refused a frame (bad magic, bad block, checksum mismatch…).
    case corruptFrame(path: String, message: String)
    /// The file ended inside an LZ4 frame.
    case truncatedFrame(path: String)
    /// One to three bytes follow the last complete frame, at `offset`: too few to begin another.
    case trailingBytes(path: String, offset: Int)
    /// The file starts with another compressor's magic (`format` names it): its lines would
    /// otherwise all be quarantined as garbage.
    case unsupportedCompression(path: String, format: String)

    public var description: String {
        if case .io = self { return "\(path): \(reason)" }
        return "\(path): \(reason); file rejected"
    }

    /// What is wrong, without the path: for a caller whose own message names the file.
    public var reason: String {
        switch self {
        case let .io(e): return e.reason
        case let .corruptFrame(_, message): return "corrupt LZ4 frame (\(message))"
        case .truncatedFrame: return "truncated LZ4 frame (file ends inside a frame)"
        case let .trailingBytes(_, offset): return "trailing bytes after the last frame at offset \(offset)"
        case let .unsupportedCompression(_, format):
            return "compressed with \(format); llatte reads JSONL or LZ4-frame JSONL (decompress it, or recompress it with `lz4`)"
        }
    }

    public var concernedPath: String? { path }

    public var path: String {
        switch self {
        case let .io(e): return e.path
        case let .corruptFrame(p, _), let .truncatedFrame(p), let .trailingBytes(p, _), let .unsupportedCompression(p, _): return p
        }
    }
}

/// Streams the lines of one event log, plain or LZ4-frame compressed (detected by magic), in
/// bounded memory: compressed input is read 1 MiB at a time and decompressed into a fixed window.
///
/// Lines are handed out without their `\n` or trailing `\r`; blank lines are skipped but counted, so
/// line numbers are physical (1-based). A line longer than `maxLineBytes` (not counting its `\r\n`
/// or `\n`) is reported, not buffered.
public final class LogReader {
    public let path: String
    public let maxLineBytes: Int
    /// Whether the file is LZ4-framed (known after the first read).
    public private(set) var isCompressed = false
    /// Decompressed bytes seen so far.
    public private(set) var decompressedBytes = 0
    private let hasher: SHA256Hasher?

    /// A block of content: one maximal LZ4 block (4 MiB), or a read of a plain file.
    private static let blockRoom = 4 << 20
    private static let inputChunk = 64 << 10

    /// - Parameter hashContent: compute the sha256 of the decompressed content (the ingest ledger key).
    public init(path: String, maxLineBytes: Int = 1 << 20, hashContent: Bool) {
        self.path = path
        self.maxLineBytes = maxLineBytes
        self.hasher = hashContent ? SHA256Hasher() : nil
    }

    /// The sha256 of the decompressed content; call after `forEachLine` returned.
    public func contentDigest() -> Digest32? { hasher?.finalize() }

    /// Calls `line(number, bytes)` for each non-blank line and `overlong(number, length)` for lines
    /// past `maxLineBytes`, in file order.
    /// Errors thrown by the closures end the read and are rethrown as they are.
    public func forEachLine(
        _ line: (Int, UnsafeBufferPointer<UInt8>) throws -> Void,
        overlong: (Int, Int) throws -> Void
    ) throws {
        try forEachLine(fast: { _, _, _ in 0 }, line, overlong: overlong)
    }

    /// `forEachLine`, offering each line to `fast(start, available, number)` before its end is
    /// searched for: `available` bytes from `start` (at most `maxLineBytes + 1`) are readable, and
    /// `fast` returns the length of the line it took including its `\n`, or 0 to let the line be
    /// split off and passed to `line` as usual. A taken line never reaches `line`.
    public func forEachLine(
        fast: (UnsafePointer<UInt8>, Int, Int) throws -> Int,
        _ line: (Int, UnsafeBufferPointer<UInt8>) throws -> Void,
        overlong: (Int, Int) throws -> Void
    ) throws {
        let file: InputFile
        do { file = try InputFile(path: path) } catch { throw LogReadError.io(error) }
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: LogReader.inputChunk, alignment: 64)
        defer { input.deallocate() }
        var inCount: Int
        do { inCount = try file.readFully(into: input) } catch { throw LogReadError.io(error) }
        isCompressed = inCount >= 4 && LZ4Magic.isLZ4(UInt32(littleEndian: input.loadUnaligned(as: UInt32.self)))
        if !isCompressed, let format = OtherCompression.format(UnsafeRawBufferPointer(start: input.baseAddress!, count: inCount)) {
            throw LogReadError.unsupportedCompression(path: path, format: format)
        }

        // The content, a block at a time from the second thread: read (plain) or decoded (LZ4),
        // and hashed there.
        let produce: (UnsafeMutableRawPointer, Int) throws(LogReadError) -> Int?
        let path = self.path, hasher = self.hasher
        if isCompressed {
            let frames = try LZ4FrameDecoder(file: file, path: path, prefix: UnsafeRawBufferPointer(start: input.baseAddress!, count: inCount))
            produce = { dst, capacity throws(LogReadError) in
                let n = try frames.next(into: dst, capacity: capacity)
                if let n { hasher?.update(UnsafeRawBufferPointer(start: dst, count: n)) }
                return n
            }
        } else {
            // The bytes already read go first (`input` outlives the producer: `finish` runs before it is freed).
            var pending = inCount
            produce = { dst, capacity throws(LogReadError) in
                var n = pending
                if n > 0 { dst.copyMemory(from: input.baseAddress!, byteCount: n) }
                pending = 0
                do throws(FileError) { n += try file.readFully(into: UnsafeMutableRawBufferPointer(start: dst + n, count: capacity - n)) }
                catch { throw LogReadError.io(error) }
                if n == 0 { return nil }
                hasher?.update(UnsafeRawBufferPointer(start: dst, count: n))
                return n
            }
        }
        let blocks = BlockPrefetch(room: maxLineBytes + 1, blockBytes: LogReader.blockRoom, produce: produce)
        defer { blocks.finish() }

        // Each block is split with the partial line carried from the block before put just ahead of it.
        var splitter = LineSplitter(maxLineBytes: maxLineBytes)
        var carried: UnsafeMutableRawPointer?
        var carry = 0
        while let (buffer, n) = try blocks.nextBlock() {
            let start = buffer + (blocks.room - carry)
            if carry > 0 { memmove(start, carried!, carry) }
            blocks.releaseOlder()
            decompressedBytes += n
            carry = try splitter.consume(UnsafeMutableRawBufferPointer(start: start, count: carry + n), filled: carry + n, atEnd: false,
                                         fast: fast, line: line, overlong: overlong)
            carried = start
        }
        let last = carried ?? input.baseAddress!
        _ = try splitter.consume(UnsafeMutableRawBufferPointer(start: last, count: carry), filled: carry, atEnd: true,
                                 fast: fast, line: line, overlong: overlong)
    }
}

/// Splits a window of bytes into lines and carries the unfinished last line to the window's start.
struct LineSplitter {
    let maxLineBytes: Int
    var lineNumber = 0
    /// Skipping the rest of an overlong line until its newline.
    var skipping = false
    var skippedLength = 0

    init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    /// Emits every complete line in `window[0..<filled]`; returns the new fill (the carried tail).
    /// Each line is offered to `fast` first.
    @inline(__always)
    mutating func consume(
        _ window: UnsafeMutableRawBufferPointer, filled: Int, atEnd: Bool,
        fast: (UnsafePointer<UInt8>, Int, Int) throws -> Int,
        line: (Int, UnsafeBufferPointer<UInt8>) throws -> Void, overlong: (Int, Int) throws -> Void
    ) rethrows -> Int {
        let base = window.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var start = 0
        while start < filled {
            if !skipping {
                let took = try fast(base + start, min(filled &- start, maxLineBytes &+ 1), lineNumber &+ 1)
                if took > 0 {
                    lineNumber &+= 1
                    start &+= took
                    continue
                }
            }
            guard let nl = memchr(base + start, 0x0A, filled - start) else { break }
            let end = base.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            try finishLine(base + start, end - start, line, overlong)
            start = end + 1
        }
        var tail = filled - start
        if atEnd {
            if skipping || tail > 0 { try finishLine(base + start, tail, line, overlong) }
            return 0
        }
        if skipping || tooLong(base + start, tail) {
            // Drop the unfinished overlong line's bytes; remember its length so far.
            if !skipping { skipping = true; skippedLength = 0 }
            skippedLength += tail
            tail = 0
        } else if start > 0 && tail > 0 {
            memmove(base, base + start, tail)
        }
        return tail
    }

    /// Hands the line of `n` bytes at `p` (its terminator excluded) to `line`, or to `overlong` when it
    /// is past the limit or ends a line being skipped.
    @inline(__always)
    private mutating func finishLine(
        _ p: UnsafePointer<UInt8>, _ n: Int, _ line: (Int, UnsafeBufferPointer<UInt8>) throws -> Void, _ overlong: (Int, Int) throws -> Void
    ) rethrows {
        lineNumber += 1
        if skipping {
            try overlong(lineNumber, skippedLength + n)
            skipping = false
            skippedLength = 0
        } else if tooLong(p, n) {
            try overlong(lineNumber, n)
        } else {
            try emit(p, n, line)
        }
    }

    /// Whether `n` bytes of a line are past the limit, which applies to the line without its
    /// terminator: a CR before the LF (or at the end of the file) does not count.
    @inline(__always)
    private func tooLong(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        n > maxLineBytes && !(n == maxLineBytes &+ 1 && p[n &- 1] == 0x0D)
    }

    @inline(__always)
    private func emit(_ p: UnsafePointer<UInt8>, _ n: Int, _ line: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        var count = n
        if count > 0 && p[count - 1] == 0x0D { count -= 1 }
        // Blank (whitespace-only) lines are skipped.
        var k = 0
        while k < count {
            let c = p[k]
            if c != 0x20 && c != 0x09 && c != 0x0D { break }
            k += 1
        }
        if k == count { return }
        try line(lineNumber, UnsafeBufferPointer(start: p, count: count))
    }
}
