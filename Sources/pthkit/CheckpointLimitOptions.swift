import ArgumentParser
import PthKit

/// `--view-copy-allowance`, for the commands that read a checkpoint directly.
struct CheckpointLimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "MiB that copied tensor views (slices, transposes, expanded views) may take beyond the file's own storages.",
        valueName: "MiB"))
    var viewCopyAllowance: Int = CheckpointLimits.defaultViewCopyAllowance >> 20

    var limits: CheckpointLimits {
        let (bytes, overflow) = max(0, viewCopyAllowance).multipliedReportingOverflow(by: 1 << 20)
        return CheckpointLimits(viewCopyAllowance: overflow ? Int.max : bytes)
    }
}
