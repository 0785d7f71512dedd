import Yams

/// Environment expansion in pipeline-file values, so one file serves every shard and host:
/// `${NAME}` is the variable's value, `${NAME:-default}` the default when the variable is unset or
/// empty (as in the shell), `$$` a literal `$`; any other `$` stays as written. Only values are
/// expanded: keys and comments are read as written (docs/pipelines.md, "Environment variables").
public enum ConfigExpansion {
    /// Why a value could not be expanded; `variable` is the name concerned, when there is one.
    public struct Failure: Error, Equatable, Sendable {
        public let variable: String?
        public let message: String
    }

    /// `text` with every `${…}` and `$$` replaced from `environment`.
    public static func expand(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.utf8.contains(UInt8(ascii: "$")) else { return text }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            guard b == UInt8(ascii: "$"), i + 1 < bytes.count else { out.append(b); i += 1; continue }
            if bytes[i + 1] == UInt8(ascii: "$") { out.append(b); i += 2; continue }
            guard bytes[i + 1] == UInt8(ascii: "{") else { out.append(b); i += 1; continue }
            guard let close = bytes[(i + 2)...].firstIndex(of: UInt8(ascii: "}")) else {
                throw Failure(variable: nil, message: "\"${\" without a closing \"}\"")
            }
            let inner = bytes[(i + 2)..<close]
            let nameEnd = inner.firstIndex { !isNameByte($0) } ?? close
            let name = String(decoding: inner[inner.startIndex..<nameEnd], as: UTF8.self)
            guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
                throw Failure(variable: nil, message: "\"${\(String(decoding: inner, as: UTF8.self))}\" does not start with a variable name (letters, digits, _)")
            }
            let value = environment[name]
            if nameEnd == close {
                guard let value else {
                    throw Failure(variable: name, message: "environment variable \(name) is not set (write ${\(name):-default} for a default)")
                }
                out += value.utf8
            } else {
                let rest = inner[nameEnd...]
                guard rest.starts(with: ":-".utf8) else {
                    throw Failure(variable: name, message: "\"${\(String(decoding: inner, as: UTF8.self))}\": expected } or :-default after \(name)")
                }
                if let value, !value.isEmpty { out += value.utf8 } else { out += rest.dropFirst(2) }
            }
            i = close + 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "_")
    }

    /// `node` with every scalar value expanded (mapping keys are kept; a value without `$` keeps
    /// its YAML tag); errors name the file, the line, the key and the variable.
    static func expand(_ node: Node, environment: [String: String], file: String, key: String = "") throws(ConfigError) -> Node {
        switch node {
        case .scalar(var s):
            let expanded: String
            do { expanded = try expand(s.string, environment: environment) } catch {
                throw ConfigError(file: file, key: key, line: s.mark?.line, message: error.message)
            }
            if expanded != s.string { s.string = expanded }
            return .scalar(s)
        case .mapping(let m):
            var pairs: [(Node, Node)] = []
            for (k, v) in m {
                let name = k.string ?? "?"
                pairs.append((k, try expand(v, environment: environment, file: file, key: key.isEmpty ? name : "\(key).\(name)")))
            }
            return .mapping(Node.Mapping(pairs, m.tag, m.style, m.mark))
        case .sequence(let q):
            var items: [Node] = []
            for v in q { items.append(try expand(v, environment: environment, file: file, key: key)) }
            return .sequence(Node.Sequence(items, q.tag, q.style, q.mark))
        }
    }
}
