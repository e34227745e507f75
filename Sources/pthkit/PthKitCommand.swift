import ArgumentParser
import Foundation
import PthKit

struct PthKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pthkit",
        abstract: "Read PyTorch checkpoints and run torchvision models without Python.",
        subcommands: [
            InspectCommand.self, LoadCheckCommand.self, ModelsCommand.self, RunCommand.self, CompareCommand.self,
            SummaryCommand.self, BenchCommand.self, ClassifyCommand.self, PreprocessCommand.self, ConvertCommand.self,
            FineTuneHeadCommand.self,
        ]
    )
}

/// Exit codes as the README promises: 0 success, 1 a failure while working (the error printed as one
/// `error: ...` line), 2 a usage error.
@main
enum Main {
    static func main() {
        var command: ParsableCommand
        do {
            command = try PthKitCommand.parseAsRoot()
        } catch {
            let code = PthKitCommand.exitCode(for: error)
            if code == .success {
                print(PthKitCommand.fullMessage(for: error))
                exit(0)
            }
            FileHandle.standardError.write(Data((PthKitCommand.fullMessage(for: error) + "\n").utf8))
            exit(2)
        }
        do {
            try command.run()
        } catch let exitCode as ExitCode {
            exit(exitCode.rawValue)
        } catch {
            // `pthkit SUBCOMMAND --help` and `pthkit help SUBCOMMAND` arrive here, thrown from run().
            if PthKitCommand.exitCode(for: error) == .success {
                print(PthKitCommand.fullMessage(for: error))
                exit(0)
            }
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(1)
        }
    }
}
