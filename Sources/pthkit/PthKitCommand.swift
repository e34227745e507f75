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
            FineTuneHeadCommand.self, SoakCommand.self,
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
            FileHandle.standardError.write(Data(ErrorLine.text(for: error).utf8))
            exit(1)
        }
    }
}

/// The `error:` line a failure prints. Errors quote names from files, so the line is escaped to stay
/// one printable line; a failed load_state_dict adds torch's own multi-line text after a first line
/// that says by itself what failed.
enum ErrorLine {
    static func text(for error: any Error) -> String {
        guard let load = error as? LoadStateDictError else {
            return "error: " + SafeText.escaped("\(error)") + "\n"
        }
        let counts = [
            (load.missingKeys.count, "missing"), (load.unexpectedKeys.count, "unexpected"),
            (load.sizeMismatches.count, "size mismatches"),
        ].filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
        let first = "error: load_state_dict failed for \(SafeText.name(load.modelName)): " + counts.joined(separator: ", ")
        let torchText = load.description.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in line.hasPrefix("\t") ? "\t" + SafeText.escaped(String(line.dropFirst())) : SafeText.escaped(String(line)) }
        return ([first] + torchText).joined(separator: "\n") + "\n"
    }
}
