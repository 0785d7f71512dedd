/// The `key: value` lines `llatte run FILE --check` prints (pipeline, shard and each resolved path), by key.
public func checkOutputKeys(_ stdout: String) -> [String: String] {
    var keys: [String: String] = [:]
    for line in stdout.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        keys[String(line[..<colon])] = String(line[line.index(colon, offsetBy: 2)...])
    }
    return keys
}
