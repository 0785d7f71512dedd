/// An error about one file or directory: lets a caller that knows where the path came from (a
/// pipeline file's key) say so in its message.
public protocol PathError: Error, CustomStringConvertible {
    /// The file or directory the error concerns, spelled as it was given; nil when it concerns none.
    var concernedPath: String? { get }
}

extension FileError: PathError {
    public var concernedPath: String? { path }
}

extension LockError: PathError {
    public var concernedPath: String? {
        switch self {
        case let .timedOut(path, _, _): return path
        case let .io(e): return e.path
        }
    }
}
