using FileTransfer;
using Ferry.Examples;

// file-transfer serve [--bind HOST:PORT] [--dir DIR]
// file-transfer send FILE [--server HOST:PORT] [--chunk BYTES]
if (!CommandLine.TryParse("file-transfer", TransferCommandLine.Usage, args, TransferCommandLine.Parse, out var command, out var exitCode))
    return exitCode;
using var shutdown = new Shutdown();
try
{
    if (command.Serve is { } serve)
    {
        try
        {
            Directory.CreateDirectory(serve.Directory);   // the server would too, but its error would not name --dir
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"file-transfer: --dir '{serve.Directory}' cannot be used: {e.Message}");
            return 1;
        }
        await using var server = await FileTransferServer.StartAsync(serve, shutdown.Token);
        server.Stage.Disconnected += (_, e) => Console.WriteLine($"{e.ConnectionId} closed: {e.ReasonName}");
        Console.WriteLine($"file-transfer: receiving on {server.LocalEndPoint} into {Path.GetFullPath(serve.Directory)}; Ctrl+C stops");
        await shutdown.WaitAsync();
        return 0;
    }
    var send = command.Send!;
    if (Directory.Exists(send.Path))
    {
        Console.Error.WriteLine($"file-transfer: '{send.Path}' is a directory; send a file");
        return 1;
    }
    Console.WriteLine($"file-transfer: sending {send.Path} to {send.Server}; Ctrl+C stops, sending it again resumes");
    var progress = new Progress<long>(bytes => Console.Write($"\r{bytes:N0} bytes acknowledged"));
    var result = await FileSender.SendAsync(send, progress, shutdown.Token);
    Console.WriteLine($"\nsent {result.Bytes:N0} bytes, SHA-256 {result.Sha256}, over {result.Connections} connection(s), resumed at [{string.Join(", ", result.ResumedAt)}]");
    return 0;
}
catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested)
{
    // Ctrl+C while sending: what the server holds stays, and the next send of the same file resumes from there.
    Console.Error.WriteLine("\nfile-transfer: stopped; send the same file again to resume");
    return 130;
}
catch (Exception e) when (e is TransferFailedException or IOException or UnauthorizedAccessException or ArgumentException)
{
    Console.Error.WriteLine($"file-transfer: {e.Message}");
    return 1;
}
