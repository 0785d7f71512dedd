#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory: large read-mostly inputs (checkpoint weights) are
/// paged in by the kernel instead of copied into the heap.
public final class MappedFile: @unchecked Sendable {
    /// The file's path, spelled (`PathSpelling`).
    public let path: String
    /// The file's bytes; valid while this object lives.
    public let bytes: UnsafeRawBufferPointer

    public init(path: String) throws(FileError) {
        self.path = path
        let fd = open(PathSpelling.cString(path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(path: path, operation: "fstat", code: errno) }
        // A directory opens too, and would fail only at mmap (ENODEV): refused here, saying so.
        guard (st.st_mode & S_IFMT) != S_IFDIR else { throw .directoryGiven(path) }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw FileError(path: path, operation: "mmap", code: errno) }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
