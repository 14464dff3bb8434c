import ArgumentParser
import Foundation
import SwitchyardEngine

/// Prints one line to standard error and exits 1: what scripts and people reading a log both want.
func fail(_ command: String, _ message: String) -> ExitCode {
    let line = "yard \(command): error: \(message)\n"
    FileHandle.standardError.write(Data(line.utf8))
    return ExitCode.failure
}

/// Runs `body`, turning any error into one line on standard error and exit status 1.
func runReportingErrors(_ command: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as EngineError {
        throw fail(command, error.message)
    } catch let error as ExitCode {
        throw error
    } catch {
        throw fail(command, "\(error)")
    }
}
