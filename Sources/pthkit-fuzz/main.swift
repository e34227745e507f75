import Foundation

// pthkit-fuzz: feeds mutated fixtures to one parser. See Scripts/fuzz.sh, which builds and runs it.
//
// Built normally it is a deterministic mutation driver. Built with `-sanitize=fuzzer` and
// `-DPTHKIT_LIBFUZZER`, the same targets run under libFuzzer (coverage-guided; the target is named by
// PTHKIT_FUZZ_TARGET, every argument goes to libFuzzer).

#if PTHKIT_LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

nonisolated(unsafe) var libFuzzerTarget = FuzzTarget.pickle
let name = ProcessInfo.processInfo.environment["PTHKIT_FUZZ_TARGET"] ?? ""
guard let chosen = FuzzTarget(rawValue: name) else {
    FileHandle.standardError.write(Data("PTHKIT_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue))\n".utf8))
    exit(2)
}
libFuzzerTarget = chosen
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    libFuzzerTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
})
#else
do {
    let options = try DriverOptions(parsing: Array(CommandLine.arguments.dropFirst()))
    try MutationDriver(options: options).run()
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(2)
}
#endif
