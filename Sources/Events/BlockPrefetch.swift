import Dispatch
import Support
import Synchronization

/// Produces a log's content a block ahead of the parser, on a second thread: decompression, the
/// frame checksums and the content's sha256 run there while the caller splits and parses the
/// block before. Two buffers, each with `room` bytes before its block where the caller puts the
/// partial line carried over from the block before.
final class BlockPrefetch: @unchecked Sendable {
    /// Bytes before each block: room for a carried partial line.
    let room: Int
    /// Bytes a block may fill.
    let blockBytes: Int
    private let buffers: [UnsafeMutableRawPointer]
    /// Per buffer: what the producer put there (a block's length, nil at the end, or the error).
    private let results: UnsafeMutablePointer<Result<Int?, LogReadError>>
    private let free = DispatchSemaphore(value: 2), ready = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
    private let cancelled = Atomic<Bool>(false)
    private var next = 0
    /// Buffers the caller holds, oldest first (at most two: the carry's source and the current block).
    private var held: [Int] = []
    private var finished = false

    /// Starts producing: `produce(dst, capacity)` fills `dst` and returns the count, or nil at the
    /// end; it runs on the second thread only, one call at a time.
    init(room: Int, blockBytes: Int, produce: @escaping (UnsafeMutableRawPointer, Int) throws(LogReadError) -> Int?) {
        self.room = room
        self.blockBytes = blockBytes
        buffers = (0..<2).map { _ in UnsafeMutableRawPointer.allocate(byteCount: room + blockBytes, alignment: 64) }
        results = .allocate(capacity: 2)
        results.initialize(repeating: .success(nil), count: 2)
        // Handed to the second thread, which alone calls it.
        nonisolated(unsafe) let produce = produce
        DispatchQueue.global(qos: .userInitiated).async { self.run(produce) }
    }

    deinit {
        finish()
        buffers.forEach { $0.deallocate() }
        results.deinitialize(count: 2)
        results.deallocate()
    }

    private func run(_ produce: (UnsafeMutableRawPointer, Int) throws(LogReadError) -> Int?) {
        var i = 0
        while true {
            free.wait()
            if cancelled.load(ordering: .acquiring) { break }
            let r: Result<Int?, LogReadError>
            do { r = .success(try produce(buffers[i] + room, blockBytes)) } catch { r = .failure(error) }
            results[i] = r
            ready.signal()
            guard case .success(.some) = r else { break }
            i ^= 1
        }
        done.signal()
    }

    /// The next block: the start of its buffer (its bytes begin at `room`) and its length; nil at the
    /// end of the content. Throws the producer's error where it met it, after the blocks before.
    func nextBlock() throws(LogReadError) -> (buffer: UnsafeMutableRawPointer, count: Int)? {
        ready.wait()
        let i = next
        switch results[i] {
        case let .failure(e): throw e
        case .success(nil): return nil
        case let .success(n?):
            next ^= 1
            held.append(i)
            return (buffers[i], n)
        }
    }

    /// Gives the older held buffer back to the producer, once the carried bytes were copied out of it.
    func releaseOlder() {
        guard held.count > 1 else { return }
        held.removeFirst()
        free.signal()
    }

    /// Stops the producer and waits for it (at its next block at the latest).
    func finish() {
        guard !finished else { return }
        finished = true
        cancelled.store(true, ordering: .releasing)
        free.signal()
        free.signal()
        done.wait()
    }
}
