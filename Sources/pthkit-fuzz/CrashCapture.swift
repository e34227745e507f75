import Foundation
import Synchronization

/// Keeps the input being run where a signal handler can reach it, so that a crash (a trap, an
/// abort, a failed allocation) or a hang leaves the input behind as a file to turn into a regression
/// fixture. Only async-signal-safe calls (open, write, _exit) happen in the handler.
enum CrashCapture {
    static let capacity = 4 << 20
    nonisolated(unsafe) static var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    nonisolated(unsafe) static var path: UnsafeMutablePointer<CChar>?
    static let length = Atomic<Int>(0)
    /// Start of the current input in nanoseconds of the monotonic clock, 0 between inputs.
    static let started = Atomic<UInt64>(0)

    static func install(savingTo file: URL, timeoutSeconds: Double) {
        path = strdup(file.path)
        for number in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE] {
            signal(number, handler)
        }
        let limit = UInt64(timeoutSeconds * 1e9)
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: 0.05)
                let start = started.load(ordering: .relaxed)
                if start != 0, DispatchTime.now().uptimeNanoseconds - start > limit {
                    saveAndExit(message: "timeout: an input ran longer than the limit\n", status: 70)
                }
            }
        }
    }

    static func begin(_ input: [UInt8]) {
        let count = min(input.count, capacity)
        input.withUnsafeBytes { source in
            if let base = source.baseAddress, count > 0 { buffer.copyMemory(from: base, byteCount: count) }
        }
        length.store(count, ordering: .relaxed)
        started.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
    }

    static func end() {
        started.store(0, ordering: .relaxed)
    }

    static let handler: @convention(c) (Int32) -> Void = { number in
        saveAndExit(message: "crash: signal while running an input\n", status: 128 + number)
    }

    static func saveAndExit(message: StaticString, status: Int32) -> Never {
        _ = message.withUTF8Buffer { write(2, $0.baseAddress, $0.count) }
        if let path {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if descriptor >= 0 {
                _ = write(descriptor, buffer, length.load(ordering: .relaxed))
                close(descriptor)
            }
        }
        _exit(status)
    }
}
