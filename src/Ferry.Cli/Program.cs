using System.Text;

// Console.Out flushes on every write call; the JSON writer flushes once per line (or per packet
// group) itself, so stdout gets a plain buffered writer and one write syscall per flush.
var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 64 * 1024) { AutoFlush = false };
try
{
    return await Ferry.Cli.FerryCommand.RunProcessAsync(args, stdout, Console.Error);
}
finally
{
    stdout.Flush();
}
