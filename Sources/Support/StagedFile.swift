#if canImport(Glibc)
import Glibc
#endif

/// An output file written under a temporary name beside its final path and renamed into place by
/// `commit()`, so a reader of the final path sees the previous file or the whole new one, never a
/// part. Writes go through a fixed buffer: memory stays bounded whatever the file's size. A file
/// never committed is removed on deinit (a failed export leaves no half-written output behind).
public final class StagedFile {
    /// Where `commit()` puts the file.
    public let path: String
    /// The temporary name it is written under: `path.tmp.XXXXXX` (unique per writer).
    public let tempPath: String
    private var fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    private var committed = false
    /// Bytes written so far, buffered ones included: the offset of the next byte.
    public private(set) var size: Int64 = 0

    /// Creates the temp file (the directory must exist).
    public init(path: String, bufferBytes: Int = 1 << 20) throws(FileError) {
        precondition(bufferBytes >= 64)
        self.path = path
        var template = PathSpelling.cString(path + ".tmp.XXXXXX")
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        tempPath = template.withUnsafeBufferPointer { PathSpelling.spell(cString: $0.baseAddress!) }
        guard fd >= 0 else { throw FileError(path: tempPath, operation: "open", code: errno) }
        fchmod(fd, 0o644)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
        buffer = .allocate(byteCount: bufferBytes, alignment: 16)
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(PathSpelling.cString(tempPath)) }
        buffer.deallocate()
    }

    /// Appends bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(FileError) {
        if bytes.count > buffer.count - buffered {
            try flush()
            if bytes.count > buffer.count { return try writeThrough(bytes) }
        }
        if bytes.count > 0 {
            (buffer.baseAddress! + buffered).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        buffered += bytes.count
        size += Int64(bytes.count)
    }

    public func write(_ bytes: [UInt8]) throws(FileError) {
        var failure: FileError?
        bytes.withUnsafeBytes { b in
            do throws(FileError) { try write(b) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Appends a fixed-width integer, little-endian.
    @inline(__always)
    public func write<T: FixedWidthInteger>(littleEndian value: T) throws(FileError) {
        let n = MemoryLayout<T>.size
        if buffer.count - buffered < n { try flush() }
        buffer.storeBytes(of: value.littleEndian, toByteOffset: buffered, as: T.self)
        buffered += n
        size += Int64(n)
    }

    /// Replaces bytes already written at `offset` (a header patched once the data is known).
    public func overwrite(at offset: Int64, _ bytes: [UInt8]) throws(FileError) {
        precondition(offset >= 0 && offset + Int64(bytes.count) <= size, "overwrite past the end")
        try flush()
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: tempPath, operation: "write", code: errno)
            }
            done += n
        }
    }

    /// Writes what is buffered, fsyncs and closes: the file is complete under its temp name.
    public func finish() throws(FileError) {
        guard fd >= 0 else { return }
        try flush()
        guard fsync(fd) == 0 else { throw FileError(path: tempPath, operation: "fsync", code: errno) }
        close(fd)
        fd = -1
    }

    /// Renames the finished file into place (replacing any file there).
    public func commit() throws(FileError) {
        precondition(fd < 0, "commit before finish")
        guard rename(PathSpelling.cString(tempPath), PathSpelling.cString(path)) == 0 else { throw FileError(path: path, operation: "rename", code: errno) }
        committed = true
    }

    private func flush() throws(FileError) {
        guard buffered > 0 else { return }
        try writeThrough(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]), counted: false)
        buffered = 0
    }

    private func writeThrough(_ bytes: UnsafeRawBufferPointer, counted: Bool = true) throws(FileError) {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: tempPath, operation: "write", code: errno)
            }
            off += n
        }
        if counted { size += Int64(bytes.count) }
    }
}

extension Files {
    /// fsyncs a directory, so the renames into it survive a power loss.
    public static func syncDirectory(_ path: String) throws(FileError) {
        let fd = open(PathSpelling.cString(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync", code: errno) }
    }
}
