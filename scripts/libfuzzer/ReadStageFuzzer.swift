#if canImport(Glibc)
import Glibc
#endif
import Events
import Support

/// libFuzzer's entry point for the read stage: the input is an event log file. It is read twice,
/// under the default line limit and a 96-byte one, and each read is checked against the plain twin
/// (`ReadStageCheck`, Tests/TestSupport/ReferenceLog.swift); a disagreement stops the run like a
/// crash, so libFuzzer keeps the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func readStageFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let path = ReadStageFuzzer.path
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    precondition(fd >= 0, "open \(path): errno \(errno)")
    var off = 0
    while off < size {
        let n = write(fd, data + off, size - off)
        precondition(n > 0, "write \(path): errno \(errno)")
        off += n
    }
    close(fd)
    for limit in [1 << 20, 96] {
        let check = ReadStageCheck(file: bytes, path: path, rules: ReadStageFuzzer.rules, maxLineBytes: limit, batchSize: 7)
        if !check.failures.isEmpty {
            fatalError("line limit \(limit): " + check.failures.prefix(3).joined(separator: "; "))
        }
    }
    return 0
}

/// Where the input is written (RAM-backed, one file per process, removed at exit) and the bounds
/// it is read under.
enum ReadStageFuzzer {
    static let path: String = {
        atexit { unlink(ReadStageFuzzer.path) }
        return "\(Files.isDirectory("/dev/shm") ? "/dev/shm" : "/tmp")/llatte-libfuzzer-\(getpid()).jsonl"
    }()
    static let rules = ValidationRules(minTs: 0, maxTs: 2_000_000_000)
}
