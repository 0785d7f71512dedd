/// A NumPy `.npy` file (format version 1.0) written row by row, for an array whose leading
/// dimension is known only once the last row is written: `[rows, rowShape...]`, C order.
///
/// Layout: the magic `\x93NUMPY`, version bytes 1 0, the header length (u16 little-endian), then
/// a Python dict literal (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`) padded
/// with spaces and ended by `\n` so that the data starts at a multiple of 64 bytes. The header is
/// sized for a 21-digit leading dimension (what NumPy itself reserves to let a writer grow that
/// axis in place) and rewritten with the real row count by `finish()`, so the rows stream straight
/// to the file and nothing is held in memory. Written under a temp name; `commit()` renames it.
public final class NpyWriter {
    /// The element types written, as NumPy spells them (little-endian).
    public enum DType: String, Sendable, CaseIterable {
        case int8 = "|i1", int32 = "<i4", int64 = "<i8", uint64 = "<u8", float32 = "<f4"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .int8: 1
            case .int32, .float32: 4
            case .int64, .uint64: 8
            }
        }
    }

    public let dtype: DType
    /// The shape of one row (empty for a vector of scalars).
    public let rowShape: [Int]
    public var path: String { file.path }
    private let file: StagedFile
    private let headerBytes: Int
    private let rowBytes: Int64

    /// Starts the file at `path` (under a temp name until `commit()`).
    public init(path: String, dtype: DType, rowShape: [Int] = []) throws(FileError) {
        precondition(rowShape.allSatisfy { $0 >= 0 })
        self.dtype = dtype
        self.rowShape = rowShape
        rowBytes = Int64(rowShape.reduce(dtype.size, *))
        file = try StagedFile(path: path)
        // The header with a one-digit leading dimension, plus room for growthDigits - 1 more.
        let dictBytes = NpyWriter.dictionary(dtype: dtype, shape: [0] + rowShape).count + NpyWriter.growthDigits - 1
        headerBytes = NpyWriter.paddedLength(dictBytes: dictBytes)
        try file.write(NpyWriter.header(dtype: dtype, shape: [0] + rowShape, totalBytes: headerBytes))
    }

    /// Digits reserved for the leading dimension (NumPy's `GROWTH_AXIS_MAX_DIGITS`).
    static let growthDigits = 21

    /// Rows written so far.
    public var rows: Int {
        let data = file.size - Int64(headerBytes)
        return rowBytes == 0 ? 0 : Int(data / rowBytes)
    }

    /// Appends one element; `T` must be the dtype's width (Int8 for int8, UInt64 for uint64, …).
    @inline(__always)
    public func append<T: FixedWidthInteger>(_ value: T) throws(FileError) {
        precondition(MemoryLayout<T>.size == dtype.size && dtype != .float32, "\(T.self) is not \(dtype.rawValue)")
        try file.write(littleEndian: value)
    }

    /// Appends one float32 element.
    @inline(__always)
    public func append(_ value: Float) throws(FileError) {
        precondition(dtype == .float32, "Float is not \(dtype.rawValue)")
        try file.write(littleEndian: value.bitPattern)
    }

    /// Appends elements already laid out as the dtype's little-endian bytes (a whole number of
    /// elements; rows may be split across calls).
    public func append(raw bytes: UnsafeRawBufferPointer) throws(FileError) {
        precondition(bytes.count % dtype.size == 0, "\(bytes.count) bytes are not whole \(dtype.rawValue) elements")
        try file.write(bytes)
    }

    /// Writes the real shape into the header, flushes and fsyncs; the file stays under its temp
    /// name until `commit()`. Returns the row count.
    @discardableResult
    public func finish() throws(FileError) -> Int {
        let data = file.size - Int64(headerBytes)
        precondition(rowBytes == 0 || data % rowBytes == 0, "\(path): \(data) data bytes are not whole rows of \(rowBytes)")
        let n = rows
        try file.overwrite(at: 0, NpyWriter.header(dtype: dtype, shape: [n] + rowShape, totalBytes: headerBytes))
        try file.finish()
        return n
    }

    /// Renames the finished file into place.
    public func commit() throws(FileError) { try file.commit() }

    /// The header for an array of `shape`: magic, version 1.0, length, the dict padded with spaces
    /// and a final `\n` to `totalBytes` (a multiple of 64), or to the next multiple of 64 when nil.
    public static func header(dtype: DType, shape: [Int], totalBytes: Int? = nil) -> [UInt8] {
        let dict = dictionary(dtype: dtype, shape: shape)
        let total = totalBytes ?? paddedLength(dictBytes: dict.count)
        precondition(total % 64 == 0 && total >= preamble + dict.count + 1 && total - preamble <= Int(UInt16.max))
        let headerLength = UInt16(total - preamble)
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)]
        out += dict
        out += [UInt8](repeating: 0x20, count: total - preamble - dict.count - 1)
        out.append(0x0A)
        return out
    }

    /// Magic (6 bytes), version (2), header length (2).
    private static let preamble = 10

    /// The header's Python dict literal, as NumPy writes it.
    private static func dictionary(dtype: DType, shape: [Int]) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        return Array("{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(dims), }".utf8)
    }

    /// Preamble + dict + `\n`, rounded up to a multiple of 64.
    private static func paddedLength(dictBytes: Int) -> Int { (preamble + dictBytes + 1 + 63) / 64 * 64 }
}
