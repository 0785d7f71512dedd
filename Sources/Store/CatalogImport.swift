import Events
import Support

/// Reads catalog items from JSON Lines (plain or LZ4): `{"item_id": U, "text": "…" | null, "vector": [floats]}`.
public enum CatalogImport {
    /// A line that is not a valid item.
    public struct LineError: Error, CustomStringConvertible {
        public let file: String
        public let line: Int
        public let message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    public static func read(_ file: String, dSem: Int) throws -> [CatalogItem] {
        var items: [CatalogItem] = []
        var failure: LineError?
        try LogReader(path: file, hashContent: false).forEachLine({ number, line in
            guard failure == nil else { return }
            do {
                items.append(try parse(line, dSem: dSem))
            } catch {
                failure = LineError(file: file, line: number, message: "\(error)")
            }
        }, overlong: { number, _ in failure = failure ?? LineError(file: file, line: number, message: "line too long") })
        if let failure { throw failure }
        return items
    }

    static func parse(_ line: UnsafeBufferPointer<UInt8>, dSem: Int) throws -> CatalogItem {
        struct Bad: Error, CustomStringConvertible { let description: String }
        let v = try JSONValue.parse(line)
        guard case .object = v else { throw Bad(description: "not an object") }
        guard let id = v["item_id"]?.numberValue?.uint64 else { throw Bad(description: "item_id must be an unsigned 64-bit integer") }
        var text: String?
        if let t = v["text"], t != .null {
            guard let s = t.stringValue else { throw Bad(description: "text must be a string or null") }
            text = s
        }
        guard let arr = v["vector"]?.arrayValue else { throw Bad(description: "vector must be an array of numbers") }
        guard arr.count == dSem else { throw Bad(description: "vector has \(arr.count) values, expected d_sem = \(dSem)") }
        var vec: [Float] = []
        vec.reserveCapacity(dSem)
        for x in arr {
            guard let n = x.numberValue else { throw Bad(description: "vector must hold numbers only") }
            let f = Float(n.double)
            guard f.isFinite else { throw Bad(description: "vector holds a non-finite value") }
            vec.append(f)
        }
        return CatalogItem(itemID: id, text: text, vector: vec)
    }
}
