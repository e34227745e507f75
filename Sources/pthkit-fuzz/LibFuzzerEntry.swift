#if PTHKIT_LIBFUZZER
import Foundation

// libFuzzer's entry point. SwiftPM gives an executable's main.swift an entry point of its own name,
// so the process main the linker keeps is libFuzzer's, which calls this for every input; main.swift
// calls LLVMFuzzerRunDriver with the same function for toolchains where the Swift main wins.

/// The target named by PTHKIT_FUZZ_TARGET (a global outside main.swift, so it is initialized on
/// first use whichever main runs).
let libFuzzerTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["PTHKIT_FUZZ_TARGET"] ?? ""
    guard let chosen = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("PTHKIT_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue))\n".utf8))
        exit(2)
    }
    return chosen
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    libFuzzerTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#endif
