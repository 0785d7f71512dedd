#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An I/O failure with the path (its spelling, see `PathSpelling`) and the OS's reason.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let operation: String
    public let code: Int32
    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    /// A directory given where a file is expected (`open` of it refused with EISDIR).
    public static func directoryGiven(_ path: String) -> FileError { FileError(path: path, operation: "open", code: EISDIR) }

    /// What failed and why, without the path: for a caller whose own message already names it.
    public var reason: String {
        if code == EISDIR && operation == "open" { return "is a directory, where a file is expected" }
        return "\(operation) failed: \(String(cString: strerror(code)))"
    }
    public var description: String { "\(path): \(reason)" }
}

/// A file opened for reading, read in caller-sized chunks so memory stays bounded whatever its size.
public final class InputFile {
    /// The file's path, spelled (`PathSpelling`).
    public let path: String
    private let fd: Int32

    public init(path: String) throws(FileError) {
        self.path = path
        let fd = open(PathSpelling.cString(path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
        // A directory opens for reading; it is refused here, saying so, not at the first read.
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw .directoryGiven(path)
        }
        self.fd = fd
        #if os(Linux)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
    }

    deinit { close(fd) }

    /// Reads up to `buffer.count` bytes; returns 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(FileError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw FileError(path: path, operation: "read", code: errno)
        }
    }

    /// Reads until `buffer` is full or the file ends; returns the count read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(FileError) -> Int {
        var total = 0
        while total < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// The file's size in bytes.
    public func size() throws(FileError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(path: path, operation: "fstat", code: errno) }
        return Int(st.st_size)
    }
}

/// Whole-file helpers for small files (configs, fixtures), and the file system calls llatte makes
/// by path; event logs are never read whole. Every path in and out is a spelling (`PathSpelling`).
public enum Files {
    /// Reads a whole file; for small files only.
    public static func readAll(_ path: String) throws(FileError) -> [UInt8] {
        let f = try InputFile(path: path)
        var out: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { chunk.deallocate() }
        while true {
            let n = try f.read(into: chunk)
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Writes `bytes` to `path` atomically: a temp file beside it, fsync, then rename.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(FileError) {
        // A unique temp name per call (mkstemp), so concurrent writers of one path never share it.
        var template = PathSpelling.cString(path + ".tmp.XXXXXX")
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let tmp = template.withUnsafeBufferPointer { PathSpelling.spell(cString: $0.baseAddress!) }
        guard fd >= 0 else { throw FileError(path: tmp, operation: "open", code: errno) }
        fchmod(fd, 0o644)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                close(fd); unlink(template)
                throw FileError(path: tmp, operation: "write", code: e)
            }
            off += n
        }
        if fsync(fd) != 0 {
            let e = errno
            close(fd); unlink(template)
            throw FileError(path: tmp, operation: "fsync", code: e)
        }
        close(fd)
        guard rename(template, PathSpelling.cString(path)) == 0 else {
            let e = errno
            unlink(template)
            throw FileError(path: path, operation: "rename", code: e)
        }
    }

    /// Size and modification time (ns since the epoch) of a file.
    public static func status(_ path: String) throws(FileError) -> (size: Int64, mtimeNs: Int64) {
        var st = stat()
        guard stat(PathSpelling.cString(path), &st) == 0 else { throw FileError(path: path, operation: "stat", code: errno) }
        return (Int64(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }

    /// What a path leads to (symbolic links followed): its device and inode, which name it
    /// whatever path reached it, and its kind; nil when it cannot be stat'ed.
    public static func identity(_ path: String) -> (device: UInt64, inode: UInt64, isDirectory: Bool, isRegular: Bool)? {
        var st = stat()
        guard stat(PathSpelling.cString(path), &st) == 0 else { return nil }
        let kind = st.st_mode & S_IFMT
        return (UInt64(st.st_dev), UInt64(st.st_ino), kind == S_IFDIR, kind == S_IFREG)
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(PathSpelling.cString(path), &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(PathSpelling.cString(path), &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates a directory and its parents; succeeds if it exists.
    public static func makeDirectories(_ path: String) throws(FileError) {
        if path.isEmpty || isDirectory(path) { return }
        let parent = parentDirectory(path)
        if parent != path { try makeDirectories(parent) }
        if mkdir(PathSpelling.cString(path), 0o755) != 0 && errno != EEXIST {
            throw FileError(path: path, operation: "mkdir", code: errno)
        }
    }

    /// The canonical absolute path of an existing file or directory (symlinks resolved).
    public static func absolutePath(_ path: String) throws(FileError) -> String {
        guard let p = realpath(PathSpelling.cString(path), nil) else { throw FileError(path: path, operation: "realpath", code: errno) }
        defer { free(p) }
        return PathSpelling.spell(cString: p)
    }

    /// The directory part of a path ("." for a bare name).
    public static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Names in a directory (no "." or ".."), sorted by their bytes, each spelled.
    public static func list(_ dir: String) throws(FileError) -> [String] {
        guard let d = opendir(PathSpelling.cString(dir)) else { throw FileError(path: dir, operation: "opendir", code: errno) }
        defer { closedir(d) }
        var names: [[UInt8]] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) }
            }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }.map(PathSpelling.spell)
    }

    /// Removes a file (not a directory).
    public static func remove(_ path: String) throws(FileError) {
        guard unlink(PathSpelling.cString(path)) == 0 else { throw FileError(path: path, operation: "unlink", code: errno) }
    }
}

/// Monotonic seconds, for durations and rates.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Wall-clock unix seconds, for records that say when something happened (never for results).
public func wallClockSeconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec)
}

/// Unix time in seconds with the fraction (latency reports).
public func wallClockSecondsPrecise() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
