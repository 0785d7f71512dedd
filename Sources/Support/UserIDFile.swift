/// A file of user ids, one unsigned decimal per line (`--users-file` of `get` and `export`):
/// blank lines and lines starting with `#` are skipped; anything else is an error naming the line.
public enum UserIDFile {
    /// A line that is not an unsigned 64-bit decimal.
    public struct BadLine: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let line: Int
        public let text: String
        public var description: String { "\(path):\(line): not a user id (an unsigned 64-bit decimal): \(text.prefix(80))" }
    }

    /// The ids in file order (duplicates kept).
    public static func read(_ path: String) throws -> [UInt64] {
        let text = String(decoding: try Files.readAll(path), as: UTF8.self)
        var ids: [UInt64] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let id = UInt64(line) else { throw BadLine(path: path, line: i + 1, text: String(line)) }
            ids.append(id)
        }
        return ids
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return s
    }
}
