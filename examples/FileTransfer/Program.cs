using FileTransfer;
using Ferry.Examples;

// file-transfer serve [--bind HOST:PORT] [--dir DIR]
// file-transfer send FILE [--server HOST:PORT] [--chunk BYTES]
using var shutdown = new Shutdown();
const string Usage = "usage: file-transfer serve [--bind HOST:PORT] [--dir DIR] | file-transfer send FILE [--server HOST:PORT] [--chunk BYTES]";
try
{
    switch (args)
    {
        case ["serve", .. var rest] when Options(rest, "--bind", "--dir") is { } o:
            var serverOptions = new FileServerOptions();
            await using (var server = await FileTransferServer.StartAsync(serverOptions with
            {
                Bind = o.GetValueOrDefault("--bind", serverOptions.Bind),
                Directory = o.GetValueOrDefault("--dir", serverOptions.Directory),
            }, shutdown.Token))
            {
                server.Stage.Disconnected += (_, e) => Console.WriteLine($"{e.ConnectionId} closed: {e.ReasonName}");
                Console.WriteLine($"file-transfer: receiving on {server.LocalEndPoint} into {Path.GetFullPath(o.GetValueOrDefault("--dir", serverOptions.Directory))}; Ctrl+C stops");
                await shutdown.WaitAsync();
            }
            return 0;
        case ["send", var path, .. var rest] when Options(rest, "--server", "--chunk") is { } o:
            var progress = new Progress<long>(bytes => Console.Write($"\r{bytes:N0} bytes acknowledged"));
            var result = await FileSender.SendAsync(new SendOptions
            {
                Server = o.GetValueOrDefault("--server", "127.0.0.1:9200"),
                Path = path,
                ChunkSize = o.TryGetValue("--chunk", out var chunk) ? int.Parse(chunk) : 64 * 1024,
            }, progress, shutdown.Token);
            Console.WriteLine($"\nsent {result.Bytes:N0} bytes, SHA-256 {result.Sha256}, over {result.Connections} connection(s), resumed at [{string.Join(", ", result.ResumedAt)}]");
            return 0;
        default:
            Console.Error.WriteLine($"file-transfer: unexpected '{string.Join(' ', args)}'; {Usage}");
            return 2;
    }
}
catch (Exception e) when (e is TransferFailedException or IOException or FormatException or ArgumentException)
{
    Console.Error.WriteLine($"file-transfer: {e.Message}");
    return 1;
}

static Dictionary<string, string>? Options(string[] rest, params string[] allowed)
{
    var options = new Dictionary<string, string>();
    for (var i = 0; i < rest.Length; i += 2)
    {
        if (!allowed.Contains(rest[i]) || i + 1 >= rest.Length)
            return null;
        options[rest[i]] = rest[i + 1];
    }
    return options;
}
